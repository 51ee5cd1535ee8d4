//! GetKeyPolicy: a key has one policy, named `default`.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    policy_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    policy: String,
    policy_name: &'static str,
}

/// Validates a PolicyName member; only `default` exists.
pub(crate) fn policy_name(v: &mut Validator, name: Option<&str>) {
    v.length("policyName", name, 1, 128);
    v.pattern("policyName", name, "[\\w]+", |s| {
        s.chars().all(|c| c.is_alphanumeric() || c == '_')
    });
}

pub(crate) fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    match name {
        None | Some("default") => Ok(()),
        Some(_) => Err(KmsError::NotFound("No such policy exists".to_string())),
    }
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    policy_name(&mut v, req.policy_name.as_deref());
    v.finish()?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("GetKeyPolicy"),
        )
        .await?;
    check_policy_name(req.policy_name.as_deref())?;
    Ok(Response {
        policy: key.record.policy.clone(),
        policy_name: "default",
    })
}
