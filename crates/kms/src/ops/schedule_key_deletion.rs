//! ScheduleKeyDeletion: the key becomes PendingDeletion for 7–30 days (default 30); the
//! scheduler deletes it when the window ends. A multi-Region primary key that still has replicas
//! becomes PendingReplicaDeletion instead: it has no deletion date until its last replica is
//! deleted, and then its waiting period starts.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model::{self, KeyState};
use crate::{Aliases, Caller, DAY_MS, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    pending_window_in_days: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_date: Option<f64>,
    key_state: &'static str,
    pending_window_in_days: i64,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.range("pendingWindowInDays", req.pending_window_in_days, 1, 365);
    v.finish()?;
    let days = req.pending_window_in_days.unwrap_or(30);
    if !(7..=30).contains(&days) {
        return Err(trent_wire::ApiError::validation(format!(
            "PendingWindowInDays must be between 7 and 30, not {days}."
        ))
        .into());
    }
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("ScheduleKeyDeletion")
                .with("kms:ScheduleKeyDeletionPendingWindowInDays", days),
        )
        .await?;
    let deletion_ms = kms.now_ms() + days * DAY_MS;
    // The other keys of a multi-Region set are version-checked with this one, so a replica
    // deleted meanwhile is never missed.
    let updated = kms
        .update_key_set(&key, |r, others| match KeyState::parse(&r.state)? {
            KeyState::Enabled
            | KeyState::Disabled
            | KeyState::PendingImport
            | KeyState::Unavailable => {
                if model::is_primary(r) && !others.is_empty() {
                    r.state = KeyState::PendingReplicaDeletion.as_str().to_string();
                    r.deletion_ms = None;
                } else {
                    r.state = KeyState::PendingDeletion.as_str().to_string();
                    r.deletion_ms = Some(deletion_ms);
                }
                r.pending_window_days = Some(days);
                Ok(())
            }
            state @ (KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) => {
                Err(state.invalid_state_error(&key.arn))
            }
        })
        .await?;
    Ok(Response {
        key_id: key.arn.clone(),
        deletion_date: updated.deletion_ms.map(trent_wire::timestamp::from_millis),
        key_state: KeyState::parse(&updated.state)?.as_str(),
        pending_window_in_days: days,
    })
}
