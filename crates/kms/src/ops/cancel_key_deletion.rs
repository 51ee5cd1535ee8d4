//! CancelKeyDeletion: PendingDeletion (or PendingReplicaDeletion) → Disabled, as AWS does.

use serde::Deserialize;
use trent_wire::Validator;

use crate::model::KeyState;
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
}

pub async fn handle(
    kms: &Kms,
    caller: &Caller,
    req: Request,
) -> Result<super::KeyIdResponse, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.finish()?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("CancelKeyDeletion"),
        )
        .await?;
    kms.update_key(&key, |r| {
        if !matches!(
            KeyState::parse(&r.state)?,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            return Err(KmsError::InvalidState(format!(
                "{} is not pending deletion.",
                key.arn
            )));
        }
        // A key whose imported material is gone goes back to waiting for it, not to Disabled
        // (from where EnableKey would make a key without material Enabled).
        let without_material = r.origin == crate::import::EXTERNAL && r.expiration_model.is_none();
        r.state = if without_material {
            KeyState::PendingImport
        } else {
            KeyState::Disabled
        }
        .as_str()
        .to_string();
        r.deletion_ms = None;
        r.pending_window_days = None;
        Ok(())
    })
    .await?;
    Ok(super::KeyIdResponse {
        key_id: key.arn.clone(),
    })
}
