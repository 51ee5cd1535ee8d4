//! EnableKeyRotation: automatic rotation every RotationPeriodInDays (90–2560, default 365).

use serde::Deserialize;
use trent_store::KeyRecord;
use trent_wire::Validator;

use crate::model::{self, KeyState};
use crate::{Aliases, Caller, DAY_MS, Kms, KmsError, LoadedKey};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    rotation_period_in_days: Option<i64>,
}

/// Only symmetric encryption keys with key material generated here rotate.
pub(crate) fn check_rotatable(key: &LoadedKey) -> Result<(), KmsError> {
    if key.record.key_spec != model::SYMMETRIC_DEFAULT || key.record.origin != "AWS_KMS" {
        return Err(KmsError::UnsupportedOperation(format!(
            "{} does not support key rotation: only symmetric encryption keys with origin \
             AWS_KMS rotate.",
            key.arn
        )));
    }
    Ok(())
}

/// Automatic rotation is a shared property of a multi-Region set, configured on its primary.
pub(crate) fn check_not_replica(key: &LoadedKey) -> Result<(), KmsError> {
    if key.record.multi_region && !model::is_primary(&key.record) {
        return Err(crate::not_primary(&key.arn, "configure automatic rotation"));
    }
    Ok(())
}

/// Copies the rotation schedule of a multi-Region primary to the other keys of its set.
pub(crate) fn share_schedule(primary: &KeyRecord, others: &mut [KeyRecord]) {
    for k in others {
        k.rotation_period_days = primary.rotation_period_days;
        k.next_rotation_ms = primary.next_rotation_ms;
    }
}

/// Enable and DisableKeyRotation need an Enabled key.
pub(crate) fn check_enabled(record: &KeyRecord, arn: &str) -> Result<(), KmsError> {
    match KeyState::parse(&record.state)? {
        KeyState::Enabled => Ok(()),
        other => Err(other.invalid_state_error(arn)),
    }
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<super::Empty, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.range(
        "rotationPeriodInDays",
        req.rotation_period_in_days,
        90,
        2560,
    );
    v.finish()?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("EnableKeyRotation").with(
                "kms:RotationPeriodInDays",
                req.rotation_period_in_days.unwrap_or(365),
            ),
        )
        .await?;
    check_rotatable(&key)?;
    check_not_replica(&key)?;
    let period = req.rotation_period_in_days.unwrap_or(365);
    let now = kms.now_ms();
    kms.update_key_set(&key, |r, others| {
        check_enabled(r, &key.arn)?;
        // Again on the committed record: an UpdatePrimaryRegion may have demoted this key.
        if r.multi_region && !model::is_primary(r) {
            return Err(crate::not_primary(&key.arn, "configure automatic rotation"));
        }
        // Changing the period of an enabled schedule re-bases it on today, as AWS does.
        r.rotation_period_days = Some(period);
        r.next_rotation_ms = Some(now + period * DAY_MS);
        share_schedule(r, others);
        Ok(())
    })
    .await?;
    Ok(super::Empty {})
}
