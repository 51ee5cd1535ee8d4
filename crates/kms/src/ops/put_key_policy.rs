//! PutKeyPolicy: replaces the key's `default` policy after validating it.

use serde::Deserialize;
use trent_wire::Validator;

use super::get_key_policy::{check_policy_name, policy_name};
use crate::model;
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    policy_name: Option<String>,
    policy: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<super::Empty, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    policy_name(&mut v, req.policy_name.as_deref());
    v.required("policy", &req.policy);
    v.length("policy", req.policy.as_deref(), 1, 131_072);
    v.finish()?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("PutKeyPolicy").with(
                "kms:BypassPolicyLockoutSafetyCheck",
                req.bypass_policy_lockout_safety_check == Some(true),
            ),
        )
        .await?;
    check_policy_name(req.policy_name.as_deref())?;
    let policy = req.policy.unwrap_or_default();
    let parsed = model::validate_policy(&policy)?;
    if req.bypass_policy_lockout_safety_check != Some(true)
        && !crate::authz::passes_lockout_check(caller, &parsed, &key.arn)
    {
        return Err(model::lockout_refused());
    }
    kms.update_key(&key, |r| {
        r.policy.clone_from(&policy);
        Ok(())
    })
    .await?;
    Ok(super::Empty {})
}
