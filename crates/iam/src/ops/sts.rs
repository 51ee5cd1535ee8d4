//! STS operations: GetCallerIdentity and AssumeRole.
//!
//! AssumeRole follows AWS's evaluation: the role's trust policy is evaluated for `sts:AssumeRole`
//! on the role ARN (with `sts:ExternalId`, `sts:RoleSessionName` and, for session tags,
//! `aws:RequestTag/*` and `aws:TagKeys`, which also need `sts:TagSession`). In the role's own
//! account a trust statement naming the caller (or its role) suffices; one naming only the
//! account also needs an identity-based allow. Across accounts both the trust policy and the
//! caller's identity policies must allow. An explicit deny in either wins. Session policies
//! (`Policy`, `PolicyArns`), MFA, `SourceIdentity` and transitive tags are refused with a
//! clear error rather than ignored.

use trent_policy::{
    ContextValue, Decision, IdentityKind, ParseOptions, Policy, PrincipalMatch, Requester,
};
use trent_store::SessionRecord;
use trent_wire::Validator;
use trent_wire::query::{Params, XmlWriter};

use crate::error::validation;
use crate::names::{self, EXTERNAL_ID_PATTERN, NAME_PATTERN, is_external_id, is_name};
use crate::{Iam, IamError, denied, iso8601, new_access_key};

pub(crate) const ACTIONS: &[&str] = &["GetCallerIdentity", "AssumeRole"];

/// Role chaining (a role session assuming a role) is limited to one hour, as in AWS.
const CHAINED_MAX_SECONDS: i64 = 3600;

type Out = Result<Option<String>, IamError>;

pub(crate) async fn call(iam: &Iam, req: &Requester, action: &str, p: &Params) -> Out {
    match action {
        "GetCallerIdentity" => get_caller_identity(req),
        "AssumeRole" => assume_role(iam, req, p).await,
        other => Err(IamError::InvalidAction(
            other.chars().take(64).collect(),
            "2011-06-15",
        )),
    }
}

/// Needs no permission: AWS answers it even when every action is denied.
fn get_caller_identity(req: &Requester) -> Out {
    let ctx = req.context("sts:GetCallerIdentity", "*");
    let user_id = match ctx.values("aws:userid").first() {
        Some(ContextValue::String(s)) => s.clone(),
        _ => req.account().to_owned(),
    };
    let mut w = XmlWriter::new();
    w.text("UserId", &user_id)
        .text("Account", req.account())
        .text("Arn", req.arn());
    Ok(Some(w.into_string()))
}

/// A role ARN: `arn:aws:iam::<account>:role/<path/>name` → (account, name).
fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path_and_name = resource.strip_prefix("role/")?;
    let name = path_and_name.rsplit('/').next()?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && is_name(name))
        .then_some((account, name))
}

fn unsupported(what: &str) -> IamError {
    IamError::Validation(format!("{what} is not supported by this server."))
}

async fn assume_role(iam: &Iam, req: &Requester, p: &Params) -> Out {
    let role_arn = p.get("RoleArn");
    let session_name = p.get("RoleSessionName");
    let external_id = p.get("ExternalId");
    let duration = p.get("DurationSeconds");
    let mut v = Validator::new();
    v.required("roleArn", &role_arn);
    v.length("roleArn", role_arn, 20, 2048);
    v.required("roleSessionName", &session_name);
    v.length("roleSessionName", session_name, 2, 64);
    v.pattern("roleSessionName", session_name, NAME_PATTERN, is_name);
    v.length("externalId", external_id, 2, 1224);
    v.pattern(
        "externalId",
        external_id,
        EXTERNAL_ID_PATTERN,
        is_external_id,
    );
    let duration = match duration {
        None => 3600,
        Some(s) => s.parse::<i64>().map_err(|_| {
            IamError::Validation(format!(
                "Invalid value for parameter DurationSeconds: {}",
                s.chars().take(32).collect::<String>()
            ))
        })?,
    };
    v.range("durationSeconds", Some(duration), 900, 43200);
    validation(v.finish())?;
    if p.get("Policy").is_some() || p.get("PolicyArns.member.1.arn").is_some() {
        return Err(unsupported("Session policies (Policy, PolicyArns)"));
    }
    if p.get("SerialNumber").is_some() || p.get("TokenCode").is_some() {
        return Err(unsupported("MFA (SerialNumber, TokenCode)"));
    }
    if p.get("SourceIdentity").is_some() {
        return Err(unsupported("SourceIdentity"));
    }
    if p.get("TransitiveTagKeys.member.1").is_some() {
        return Err(unsupported("TransitiveTagKeys"));
    }
    let tags = names::tags(
        p.struct_list("Tags", &["Key", "Value"])
            .map_err(|e| IamError::Validation(e.message))?,
    )?;
    let role_arn = role_arn.unwrap_or_default();
    let session_name = session_name.unwrap_or_default();

    let not_authorized = || {
        IamError::AccessDenied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            req.arn()
        ))
    };
    // An ARN that names no role of ours is answered like a trust policy that does not allow
    // the caller, so callers cannot probe for roles in other accounts.
    let Some((account, name)) = parse_role_arn(role_arn) else {
        return Err(IamError::Validation(format!(
            "{} is invalid",
            role_arn.chars().take(256).collect::<String>()
        )));
    };
    let role = iam
        .store()
        .get_role(account, name)
        .await?
        .filter(|r| r.arn == role_arn)
        .ok_or_else(not_authorized)?;
    let trust = Policy::parse(&role.trust_policy, ParseOptions::TRUST).map_err(|e| {
        tracing::error!(role = %role.arn, error = %e, "a stored trust policy does not parse");
        IamError::Internal("stored trust policy")
    })?;

    let chained = matches!(req.identity().kind(), IdentityKind::AssumedRole { .. });
    if chained && duration > CHAINED_MAX_SECONDS {
        return Err(IamError::Validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.".to_owned(),
        ));
    }
    if duration > role.max_session_duration {
        return Err(IamError::Validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                .to_owned(),
        ));
    }

    let mut actions = vec!["sts:AssumeRole"];
    if !tags.is_empty() {
        actions.push("sts:TagSession");
    }
    let same_account = req.account() == account;
    for action in actions {
        let mut ctx = req.context(action, role_arn);
        if let Some(id) = external_id {
            ctx.insert("sts:ExternalId", id);
        }
        ctx.insert("sts:RoleSessionName", session_name);
        for (k, val) in &tags {
            ctx.insert(&format!("aws:RequestTag/{k}"), val.as_str());
        }
        if !tags.is_empty() {
            ctx.insert_multi("aws:TagKeys", tags.iter().map(|(k, _)| k.as_str()));
        }
        let trust_decision = trust.evaluate(&ctx);
        let identity_decision = if req.is_root() {
            // The root has every permission in its own account.
            Decision::Allow(trent_policy::Matched {
                policy: 0,
                statement: 0,
                sid: None,
                principal: PrincipalMatch::Caller,
            })
        } else {
            let policies: Vec<&Policy> = req.policies().iter().collect();
            trent_policy::evaluate(&policies, &ctx)
        };
        if identity_decision.is_explicit_deny() {
            return Err(denied(req, action, role_arn, true));
        }
        let trusted = match &trust_decision {
            Decision::Allow(m) => Some(m.principal),
            _ => None,
        };
        let allowed = match trusted {
            None => false,
            // Same account: a statement naming the caller is enough on its own.
            Some(
                PrincipalMatch::Caller | PrincipalMatch::Wildcard | PrincipalMatch::NotPrincipal,
            ) if same_account => true,
            // Naming only the account delegates to IAM; across accounts both sides must allow.
            Some(_) => identity_decision.is_allow(),
        };
        if !allowed {
            if trusted.is_some() {
                return Err(denied(req, action, role_arn, false));
            }
            return Err(not_authorized());
        }
    }

    let (access_key_id, secret) = new_access_key("ASIA")?;
    let token_bytes = trent_crypto::SecretBytes::random(96)?;
    let token = {
        use base64::Engine as _;
        trent_crypto::SecretBytes::new(
            base64::engine::general_purpose::STANDARD
                .encode(token_bytes.expose_secret())
                .into_bytes(),
        )
    };
    let now = iam.now_ms();
    let expires_ms = now + duration * 1000;
    let session = SessionRecord {
        access_key_id: access_key_id.clone(),
        account_id: account.to_owned(),
        role_name: role.role_name.clone(),
        session_name: session_name.to_owned(),
        token_sha256: trent_crypto::sha256(token.expose_secret()),
        secret: secret.duplicate(),
        created_ms: now,
        expires_ms,
        session_tags: tags,
        source_arn: req.arn().to_owned(),
    };
    iam.store().create_session(&session).await?;
    iam.invalidate();

    // Borrowed, not copied: a String copy of the secret would be dropped without zeroizing.
    fn text(s: &trent_crypto::SecretBytes) -> Result<&str, IamError> {
        std::str::from_utf8(s.expose_secret())
            .map_err(|_| IamError::Internal("credential alphabet"))
    }
    let (secret_text, token_text) = (text(&secret)?, text(&token)?);
    let mut w = XmlWriter::new();
    w.open("Credentials")
        .text("AccessKeyId", &access_key_id)
        .text("SecretAccessKey", secret_text)
        .text("SessionToken", token_text)
        .text("Expiration", &iso8601(expires_ms))
        .close("Credentials")
        .open("AssumedRoleUser")
        .text("AssumedRoleId", &format!("{}:{session_name}", role.role_id))
        .text(
            "Arn",
            &format!(
                "arn:aws:sts::{account}:assumed-role/{}/{session_name}",
                role.role_name
            ),
        )
        .close("AssumedRoleUser");
    Ok(Some(w.into_string()))
}
