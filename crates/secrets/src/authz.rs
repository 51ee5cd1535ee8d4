//! Authorization of Secrets Manager requests, as AWS evaluates them:
//!
//! - The action is `secretsmanager:<Operation>` on the secret's ARN (`*` for ListSecrets,
//!   GetRandomPassword and BatchGetSecretValue itself, which also needs GetSecretValue on each
//!   secret it returns).
//! - An explicit `Deny` in the secret's resource policy or in the caller's identity policies
//!   always wins.
//! - Same account: an `Allow` from either is enough. A resource policy that names only the
//!   account (`arn:aws:iam::<account>:root`) delegates to IAM, so an identity policy must allow
//!   too. The account root needs no identity policy.
//! - Another account: the resource policy must allow the caller (or its account) *and* the
//!   caller's own identity policies must allow the request (its root needs none).
//!
//! Authorization runs before any value is decrypted and before a missing secret is reported, so
//! a caller without permission cannot learn whether a name exists.

use trent_policy::{
    AwsIdentity, Because, Decision, ParseOptions, Policy, PrincipalMatch, RequestContext, Requester,
};
use trent_store::SecretRecord;

use crate::{Caller, SecretsError};

/// The context of `action` on `resource`, with the secret's condition keys when it exists.
fn context(
    requester: &Requester,
    action: &str,
    resource: &str,
    secret: Option<&SecretRecord>,
) -> RequestContext {
    let mut ctx = requester.context(action.to_string(), resource.to_string());
    if let Some(s) = secret {
        ctx.insert("secretsmanager:SecretId", s.arn.as_str());
        for (k, v) in &s.tags {
            ctx.insert(&format!("aws:ResourceTag/{k}"), v.as_str());
            ctx.insert(&format!("secretsmanager:ResourceTag/{k}"), v.as_str());
        }
    }
    ctx
}

fn denied(requester: &Requester, action: &str, resource: &str, because: Because) -> SecretsError {
    SecretsError::AccessDenied(trent_policy::denial_message(
        requester, action, resource, because,
    ))
}

/// The stored resource policy of a secret, parsed.
pub(crate) fn resource_policy(secret: &SecretRecord) -> Result<Option<Policy>, SecretsError> {
    secret
        .resource_policy
        .as_deref()
        .map(|p| {
            Policy::parse(p, ParseOptions::RESOURCE)
                .map_err(|_| SecretsError::Internal("a stored resource policy does not parse"))
        })
        .transpose()
}

/// The condition keys only the operation knows (`aws:RequestTag/…`, `secretsmanager:Name`,
/// …), added to the request context.
pub(crate) type RequestKeys<'a> = &'a (dyn Fn(&mut RequestContext) + Sync);

/// No operation-specific keys.
pub(crate) const NO_KEYS: RequestKeys<'static> = &|_| {};

/// `aws:RequestTag/<key>` for each tag a request sets, and `aws:TagKeys`.
pub(crate) fn request_tags(ctx: &mut RequestContext, tags: &[crate::model::Tag]) {
    for t in tags {
        if let Some(k) = &t.key {
            ctx.insert(
                &format!("aws:RequestTag/{k}"),
                t.value.clone().unwrap_or_default(),
            );
        }
    }
    ctx.insert_multi("aws:TagKeys", tags.iter().filter_map(|t| t.key.clone()));
}

/// Decides `secretsmanager:<operation>` on `resource` (the secret's ARN, or `*`).
pub(crate) fn authorize(
    caller: &Caller,
    operation: &str,
    resource: &str,
    secret: Option<&SecretRecord>,
) -> Result<(), SecretsError> {
    authorize_with(caller, operation, resource, secret, NO_KEYS)
}

/// [`authorize`] with the operation's own condition keys.
pub(crate) fn authorize_with(
    caller: &Caller,
    operation: &str,
    resource: &str,
    secret: Option<&SecretRecord>,
    keys: RequestKeys<'_>,
) -> Result<(), SecretsError> {
    let requester = &caller.requester;
    let action = format!("secretsmanager:{operation}");
    let mut ctx = context(requester, &action, resource, secret);
    keys(&mut ctx);
    let policy = match secret {
        Some(s) => resource_policy(s)?,
        None => None,
    };
    let resource_decision = policy
        .as_ref()
        .map_or(Decision::ImplicitDeny, |p| p.evaluate(&ctx));
    if resource_decision.is_explicit_deny() {
        return Err(denied(requester, &action, resource, Because::ResourceDeny));
    }
    let identity = trent_policy::identity_decision(requester, &ctx);
    if identity.is_explicit_deny() {
        return Err(denied(requester, &action, resource, Because::IdentityDeny));
    }
    let owner = secret.map_or(caller.scope.account_id.as_str(), |s| {
        s.scope.account_id.as_str()
    });
    let same_account = requester.account() == owner;
    let identity_allows = identity.is_allow() || requester.is_root();
    let allowed = match (&resource_decision, same_account) {
        (_, true) if identity_allows => true,
        (Decision::Allow(m), true) => m.principal != PrincipalMatch::Account,
        (Decision::Allow(_), false) => identity_allows,
        _ => false,
    };
    if allowed {
        return Ok(());
    }
    let because = if same_account || resource_decision.is_allow() {
        Because::NoIdentityAllow
    } else {
        Because::NoResourceAllow
    };
    Err(denied(requester, &action, resource, because))
}

/// A principal of no account Trent knows, to test whether a policy opens a secret to anyone.
const OUTSIDER: &str = "arn:aws:iam::999999999999:user/anyone";

/// Whether `policy` lets a principal of an unrelated account call any Secrets Manager action
/// on the secret: what `BlockPublicPolicy` refuses.
pub(crate) fn is_public(policy: &Policy, secret: &SecretRecord, now_ms: i64) -> bool {
    let Ok(identity) = AwsIdentity::from_arn(OUTSIDER) else {
        return true;
    };
    let outsider = Requester::new(identity, secret.scope.region.clone(), now_ms);
    crate::ops::OPERATIONS.iter().any(|op| {
        let ctx = context(
            &outsider,
            &format!("secretsmanager:{op}"),
            &secret.arn,
            Some(secret),
        );
        policy.evaluate(&ctx).is_allow()
    })
}
