//! Authorization of KMS requests, as AWS documents it for KMS:
//!
//! - An explicit `Deny` in the key policy or in the caller's IAM policies always wins.
//! - Otherwise an `Allow` must come from the key policy naming the caller (or `*`), or from the
//!   key policy naming the caller's *account* — which delegates to IAM, so an IAM policy must
//!   allow too — or from a grant on the key.
//! - A caller from another account needs both: the key policy allowing it (or its account) and
//!   its own IAM policies allowing it (its account root needs none), and only for the
//!   operations AWS allows across accounts.
//! - Operations without a key (CreateKey, ListKeys, …) are governed by IAM policies alone.
//!
//! Everything here runs before any key material is decrypted: a denial costs a policy
//! evaluation and nothing more.

use trent_policy::{
    Because, ContextValue, Decision, Policy, PrincipalMatch, RequestContext, Requester,
    identity_decision,
};
use trent_store::{GrantRecord, KeyRecord};

use crate::{Caller, EncryptionContext, KmsError};

/// Operations a principal of another account may call on a key, by key ARN or alias ARN.
const CROSS_ACCOUNT: &[&str] = &[
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "Sign",
    "Verify",
    "GetPublicKey",
    "DeriveSharedSecret",
    "DescribeKey",
    "GetKeyRotationStatus",
    "CreateGrant",
    "ListGrants",
    "RetireGrant",
    "RevokeGrant",
];

/// Operations that take an encryption context, to which grant constraints apply.
const TAKES_CONTEXT: &[&str] = &[
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
];

/// Whether `action` (an operation name) may be called on another account's key.
pub(crate) fn cross_account(action: &str) -> bool {
    CROSS_ACCOUNT.contains(&action)
}

/// What a request asks of a key: the action and the condition keys that only the operation
/// knows. Keys that come from the key itself (spec, usage, tags, aliases, …) and from the
/// caller are added by [`Kms::authorize`](crate::Kms).
pub(crate) struct Access<'a> {
    /// The operation name as in IAM (`Encrypt`, `ReEncryptFrom`); the action is `kms:<this>`.
    pub action: &'static str,
    pub context: Option<&'a EncryptionContext>,
    pub keys: Vec<(String, ContextValue)>,
    pub multi: Vec<(String, Vec<String>)>,
    /// `kms:ViaService`, for calls made by another Trent service on the caller's behalf.
    pub via_service: Option<String>,
}

impl<'a> Access<'a> {
    pub fn new(action: &'static str) -> Self {
        Access {
            action,
            context: None,
            keys: Vec::new(),
            multi: Vec::new(),
            via_service: None,
        }
    }

    /// The request's encryption context: `kms:EncryptionContext:<key>` and
    /// `kms:EncryptionContextKeys`, and the input of grant constraints.
    pub fn context(mut self, context: &'a EncryptionContext) -> Self {
        self.context = Some(context);
        self
    }

    pub fn with(mut self, key: impl Into<String>, value: impl Into<ContextValue>) -> Self {
        self.keys.push((key.into(), value.into()));
        self
    }

    /// A key whose value the request may leave to a default: given or not, the condition key
    /// carries the value in force.
    pub fn with_opt(self, key: &'static str, value: Option<&str>, default: &str) -> Self {
        let value = value.unwrap_or(default).to_string();
        self.with(key, value)
    }

    pub fn with_multi(mut self, key: impl Into<String>, values: Vec<String>) -> Self {
        self.multi.push((key.into(), values));
        self
    }

    /// Tags a request sets: `aws:RequestTag/<key>` for each and `aws:TagKeys`.
    pub fn request_tags(mut self, tags: &[(String, String)]) -> Self {
        for (k, v) in tags {
            self.keys
                .push((format!("aws:RequestTag/{k}"), v.as_str().into()));
        }
        self.tag_keys(tags.iter().map(|(k, _)| k.clone()).collect())
    }

    /// `aws:TagKeys`: the tag keys a request names.
    pub fn tag_keys(mut self, keys: Vec<String>) -> Self {
        self.multi.push(("aws:TagKeys".into(), keys));
        self
    }

    pub fn via(mut self, service: &str, region: &str) -> Self {
        self.via_service = Some(format!("{service}.{region}.amazonaws.com"));
        self
    }

    pub fn iam_action(&self) -> String {
        format!("kms:{}", self.action)
    }
}

/// A grant as authorization reads it.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub record: GrantRecord,
    pub constraints: Constraints,
}

/// Parsed GrantConstraints. Keys are matched without case, values with.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Constraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<std::collections::BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<std::collections::BTreeMap<String, String>>,
}

impl Constraints {
    pub fn is_empty(&self) -> bool {
        self.encryption_context_equals.is_none() && self.encryption_context_subset.is_none()
    }

    /// Whether a request with `context` satisfies these constraints.
    pub fn hold(&self, context: &EncryptionContext) -> bool {
        let find = |key: &str| {
            context
                .0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        };
        if let Some(equals) = &self.encryption_context_equals
            && (equals.len() != context.0.len()
                || !equals.iter().all(|(k, v)| find(k) == Some(v.as_str())))
        {
            return false;
        }
        if let Some(subset) = &self.encryption_context_subset
            && !subset.iter().all(|(k, v)| find(k) == Some(v.as_str()))
        {
            return false;
        }
        true
    }

    /// Whether every request these constraints allow is also allowed by `other`: a grant made
    /// through a grant's CreateGrant permission must be at least as strict as that grant.
    pub fn at_least_as_strict_as(&self, other: &Constraints) -> bool {
        let lower = |m: &std::collections::BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| (k.to_lowercase(), v.clone()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let mine_eq = self.encryption_context_equals.as_ref().map(lower);
        let mine_sub = self.encryption_context_subset.as_ref().map(lower);
        if let Some(theirs) = other.encryption_context_equals.as_ref().map(lower)
            && mine_eq.as_ref() != Some(&theirs)
        {
            return false;
        }
        if let Some(theirs) = other.encryption_context_subset.as_ref().map(lower) {
            // Every pair they require must be required by us, either way.
            let required = mine_eq.as_ref().or(mine_sub.as_ref());
            let Some(required) = required else {
                return false;
            };
            if !theirs.iter().all(|(k, v)| required.get(k) == Some(v)) {
                return false;
            }
        }
        true
    }
}

/// What authorization needs of a key, kept with the cached key so that a check costs no
/// store access.
#[derive(Debug)]
pub(crate) struct KeyAuthz {
    pub policy: Policy,
    pub grants: Vec<Grant>,
}

impl KeyAuthz {
    pub fn new(record: &KeyRecord, grants: Vec<GrantRecord>) -> Result<Self, KmsError> {
        let policy = Policy::parse(&record.policy, trent_policy::ParseOptions::KEY_POLICY)
            .map_err(|_| KmsError::Internal("a stored key policy does not parse"))?;
        let grants = grants
            .into_iter()
            .map(|record| {
                let constraints = match &record.constraints {
                    Some(json) => serde_json::from_str(json)
                        .map_err(|_| KmsError::Internal("stored grant constraints"))?,
                    None => Constraints::default(),
                };
                Ok(Grant {
                    record,
                    constraints,
                })
            })
            .collect::<Result<Vec<_>, KmsError>>()?;
        Ok(KeyAuthz { policy, grants })
    }
}

/// A key as authorization sees it.
pub(crate) struct KeyView<'a> {
    pub record: &'a KeyRecord,
    pub arn: &'a str,
    pub authz: &'a KeyAuthz,
    /// The alias names pointing at the key, when a policy asks about `kms:ResourceAliases`.
    pub aliases: Option<Vec<String>>,
}

fn denied(requester: &Requester, action: &str, resource: &str, because: Because) -> KmsError {
    KmsError::AccessDenied(trent_policy::denial_message(
        requester, action, resource, because,
    ))
}

/// Authorizes an action that has no key (CreateKey, ListKeys, ListAliases, GenerateRandom, the
/// alias side of alias operations): IAM policies alone decide.
pub(crate) fn authorize_identity(
    caller: &Caller,
    action: &'static str,
    resource: &str,
    add: impl FnOnce(&mut RequestContext),
) -> Result<(), KmsError> {
    let requester = &caller.requester;
    let iam_action = format!("kms:{action}");
    let mut ctx = requester.context(iam_action.as_str(), resource);
    ctx.insert("kms:CallerAccount", requester.account());
    add(&mut ctx);
    trent_policy::authorize_identity_only(requester, &ctx)
        .map_err(|because| denied(requester, &iam_action, resource, because))
}

/// The full request context for `access` on `key`.
pub(crate) fn key_context(
    caller: &Caller,
    key: &KeyView<'_>,
    access: &Access<'_>,
    request_alias: Option<&str>,
) -> RequestContext {
    let requester = &caller.requester;
    let record = key.record;
    let mut ctx = requester.context(access.iam_action(), key.arn);
    ctx.insert("kms:CallerAccount", requester.account());
    ctx.insert("kms:KeySpec", record.key_spec.as_str());
    ctx.insert("kms:KeyUsage", record.key_usage.as_str());
    ctx.insert("kms:KeyOrigin", record.origin.as_str());
    ctx.insert("kms:MultiRegion", record.multi_region);
    if record.multi_region {
        let primary = record.primary_region.as_deref() == Some(record.scope.region.as_str());
        ctx.insert(
            "kms:MultiRegionKeyType",
            if primary { "PRIMARY" } else { "REPLICA" },
        );
        if let Some(p) = &record.primary_region {
            ctx.insert("kms:PrimaryRegion", p.as_str());
        }
    }
    for (k, v) in &record.tags {
        ctx.insert(&format!("aws:ResourceTag/{k}"), v.as_str());
    }
    if let Some(aliases) = &key.aliases {
        ctx.insert_multi("kms:ResourceAliases", aliases.iter().map(String::as_str));
    }
    if let Some(alias) = request_alias {
        ctx.insert("kms:RequestAlias", alias);
    }
    if let Some(context) = access.context {
        for (k, v) in &context.0 {
            ctx.insert(&format!("kms:EncryptionContext:{k}"), v.as_str());
        }
        ctx.insert_multi(
            "kms:EncryptionContextKeys",
            context.0.keys().map(String::as_str),
        );
    }
    if let Some(via) = &access.via_service {
        ctx.insert("kms:ViaService", via.as_str());
    }
    for (k, v) in &access.keys {
        ctx.insert(k, v.clone());
    }
    for (k, values) in &access.multi {
        ctx.insert_multi(k, values.iter().map(String::as_str));
    }
    ctx
}

/// Whether a policy in play asks about `kms:ResourceAliases` (worth a store read then).
pub(crate) fn wants_aliases(caller: &Caller, authz: &KeyAuthz) -> bool {
    const KEY: &str = "kms:ResourceAliases";
    authz.policy.uses_condition_key(KEY)
        || caller
            .requester
            .policies()
            .iter()
            .any(|p| p.uses_condition_key(KEY))
}

/// Decides `access` on `key` for the caller.
pub(crate) fn authorize_key(
    caller: &Caller,
    key: &KeyView<'_>,
    access: &Access<'_>,
    request_alias: Option<&str>,
) -> Result<(), KmsError> {
    match policy_decision(caller, key, access, request_alias) {
        Ok(()) => Ok(()),
        Err(PolicyDenial::Explicit(e)) => Err(e),
        Err(PolicyDenial::NotAllowed(e)) => {
            if grant_allows(&caller.requester, key, access) {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// Whether the key policy and IAM policies allow `access` without help from a grant (for
/// CreateGrant, whose grant-based path may not widen the grant it relies on).
pub(crate) fn policies_allow(caller: &Caller, key: &crate::LoadedKey, access: &Access<'_>) -> bool {
    let view = KeyView {
        record: &key.record,
        arn: &key.arn,
        authz: &key.authz,
        aliases: None,
    };
    policy_decision(caller, &view, access, None).is_ok()
}

enum PolicyDenial {
    /// An explicit deny: nothing can allow the request.
    Explicit(KmsError),
    /// No policy allows it; a grant still may.
    NotAllowed(KmsError),
}

fn policy_decision(
    caller: &Caller,
    key: &KeyView<'_>,
    access: &Access<'_>,
    request_alias: Option<&str>,
) -> Result<(), PolicyDenial> {
    let requester = &caller.requester;
    let ctx = key_context(caller, key, access, request_alias);
    let action = ctx.action().to_string();
    let same_account = requester.account() == key.record.scope.account_id;

    let resource = key.authz.policy.evaluate(&ctx);
    if resource.is_explicit_deny() {
        return Err(PolicyDenial::Explicit(denied(
            requester,
            &action,
            key.arn,
            Because::ResourceDeny,
        )));
    }
    let identity = identity_decision(requester, &ctx);
    if identity.is_explicit_deny() {
        return Err(PolicyDenial::Explicit(denied(
            requester,
            &action,
            key.arn,
            Because::IdentityDeny,
        )));
    }
    // An account root's own IAM standing is total within its account, and it is the account
    // an external key policy names.
    let identity_allows = identity.is_allow() || requester.is_root();
    let because = match (&resource, same_account) {
        (Decision::Allow(m), true) if m.principal != PrincipalMatch::Account => return Ok(()),
        (Decision::Allow(_), true) if identity_allows => return Ok(()),
        (Decision::Allow(_), false) if identity_allows => return Ok(()),
        (Decision::Allow(_), _) => Because::NoIdentityAllow,
        _ => Because::NoResourceAllow,
    };
    Err(PolicyDenial::NotAllowed(denied(
        requester, &action, key.arn, because,
    )))
}

/// Whether the caller is (or, for a role session, acts as) `principal`.
pub(crate) fn is_principal(requester: &Requester, principal: &str) -> bool {
    principal == requester.arn() || requester.identity().role_arn() == Some(principal)
}

fn grant_allows(requester: &Requester, key: &KeyView<'_>, access: &Access<'_>) -> bool {
    let empty = EncryptionContext::default();
    key.authz.grants.iter().any(|g| {
        is_principal(requester, &g.record.grantee_principal)
            && g.record.operations.iter().any(|op| op == access.action)
            && (!TAKES_CONTEXT.contains(&access.action)
                || !crate::model::KeyKind::from_spec(&key.record.key_spec)
                    .is_some_and(|k| matches!(k, crate::model::KeyKind::Symmetric))
                || g.constraints.hold(access.context.unwrap_or(&empty)))
    })
}

/// The lockout safety check: `policy` must let the caller call PutKeyPolicy on the key
/// afterwards (directly, or by delegation to an IAM policy that allows it).
pub(crate) fn passes_lockout_check(caller: &Caller, policy: &Policy, key_arn: &str) -> bool {
    let requester = &caller.requester;
    let mut ctx = requester.context("kms:PutKeyPolicy", key_arn);
    ctx.insert("kms:CallerAccount", requester.account());
    let identity = identity_decision(requester, &ctx);
    if identity.is_explicit_deny() {
        return false;
    }
    match policy.evaluate(&ctx) {
        Decision::Allow(m) if m.principal != PrincipalMatch::Account => true,
        Decision::Allow(_) => identity.is_allow() || requester.is_root(),
        _ => false,
    }
}
