//! ValidateResourcePolicy: whether a policy is well formed and, for a named secret, whether it
//! would keep the secret from being public (the check of BlockPublicPolicy).

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::{Caller, Secrets, SecretsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
    resource_policy: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValidationError {
    check_name: String,
    error_message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    policy_validation_passed: bool,
    validation_errors: Vec<ValidationError>,
}

pub async fn handle(
    secrets: &Secrets,
    caller: &Caller,
    req: Request,
) -> Result<Response, SecretsError> {
    let mut v = Validator::new();
    v.length("secretId", req.secret_id.as_deref(), 1, 2048);
    v.required("resourcePolicy", &req.resource_policy);
    v.length("resourcePolicy", req.resource_policy.as_deref(), 1, 20_480);
    v.finish()?;
    let policy =
        super::put_resource_policy::parse(req.resource_policy.as_deref().unwrap_or_default())?;
    let secret = match req.secret_id.as_deref() {
        Some(id) => Some(secrets.live(caller, id, "ValidateResourcePolicy").await?),
        None => {
            crate::authz::authorize(caller, "ValidateResourcePolicy", "*", None)?;
            None
        }
    };
    let mut errors = Vec::new();
    // Without a secret the check runs against a stand-in ARN of the caller's account.
    let stand_in;
    let target = match &secret {
        Some(s) => s,
        None => {
            stand_in = trent_store::SecretRecord {
                scope: caller.scope.clone(),
                name: "validation".to_string(),
                arn: format!(
                    "{}validation-AAAAAA",
                    crate::model::arn_prefix(&caller.scope)
                ),
                description: None,
                kms_key_id: None,
                tags: Vec::new(),
                resource_policy: None,
                created_ms: 0,
                last_changed_ms: 0,
                last_accessed_ms: None,
                deleted_ms: None,
                purge_ms: None,
                revision: 0,
                versions: Vec::new(),
            };
            &stand_in
        }
    };
    if crate::authz::is_public(&policy, target, secrets.now_ms()) {
        errors.push(ValidationError {
            check_name: "PUBLIC_ACCESS".to_string(),
            error_message: super::put_resource_policy::PUBLIC.to_string(),
        });
    }
    Ok(Response {
        policy_validation_passed: errors.is_empty(),
        validation_errors: errors,
    })
}
