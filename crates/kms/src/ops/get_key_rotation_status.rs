//! GetKeyRotationStatus: whether automatic rotation is on, its period and next date.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use super::enable_key_rotation::check_rotatable;
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    key_rotation_enabled: bool,
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_period_in_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_rotation_date: Option<f64>,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.finish()?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("GetKeyRotationStatus"),
        )
        .await?;
    check_rotatable(&key)?;
    // Rotations are atomic here, so OnDemandRotationStartDate (set only while an on-demand
    // rotation is in progress) never appears.
    Ok(Response {
        key_rotation_enabled: key.record.rotation_period_days.is_some(),
        key_id: key.arn.clone(),
        rotation_period_in_days: key.record.rotation_period_days,
        next_rotation_date: key
            .record
            .next_rotation_ms
            .map(trent_wire::timestamp::from_millis),
    })
}
