//! DisableKeyRotation: stops automatic rotation; existing material is kept.

use serde::Deserialize;
use trent_wire::Validator;

use super::enable_key_rotation::{
    check_enabled, check_not_replica, check_rotatable, share_schedule,
};
use crate::model;
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<super::Empty, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.finish()?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("DisableKeyRotation"),
        )
        .await?;
    check_rotatable(&key)?;
    check_not_replica(&key)?;
    kms.update_key_set(&key, |r, others| {
        check_enabled(r, &key.arn)?;
        // Again on the committed record: an UpdatePrimaryRegion may have demoted this key.
        if r.multi_region && !model::is_primary(r) {
            return Err(crate::not_primary(&key.arn, "configure automatic rotation"));
        }
        r.rotation_period_days = None;
        r.next_rotation_ms = None;
        share_schedule(r, others);
        Ok(())
    })
    .await?;
    Ok(super::Empty {})
}
