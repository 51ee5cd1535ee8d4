//! GetKeyLastUsage: the last successful cryptographic operation with a key, and since when
//! usage has been tracked.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    key_id: String,
    key_last_usage: KeyLastUsage,
    tracking_start_date: f64,
    key_creation_date: f64,
}

/// Empty (`{}`) when the key has not been used since tracking began. `CloudTrailEventId`
/// joins when the audit trail records events.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyLastUsage {
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_request_id: Option<String>,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    use trent_wire::timestamp::from_millis;
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.finish()?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("GetKeyLastUsage"),
        )
        .await?;
    let r = &key.record;
    let usage = kms.last_usage(&r.scope, &r.key_id).await?;
    let tracking_start = kms.tracking_start_ms().await?.max(r.created_ms);
    Ok(Response {
        key_id: key.arn.clone(),
        key_last_usage: KeyLastUsage {
            operation: usage.as_ref().map(|u| u.operation.clone()),
            timestamp: usage.as_ref().map(|u| from_millis(u.used_ms)),
            kms_request_id: usage.map(|u| u.request_id),
        },
        tracking_start_date: from_millis(tracking_start),
        key_creation_date: from_millis(r.created_ms),
    })
}
