//! UpdateKeyDescription.

use serde::Deserialize;
use trent_wire::Validator;

use crate::model::KeyState;
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    description: Option<String>,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<super::Empty, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.required("description", &req.description);
    v.length("description", req.description.as_deref(), 0, 8192);
    v.finish()?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("UpdateKeyDescription"),
        )
        .await?;
    let description = req.description.unwrap_or_default();
    kms.update_key(&key, |r| {
        let state = KeyState::parse(&r.state)?;
        if state.is_pending_deletion() {
            return Err(state.invalid_state_error(&key.arn));
        }
        r.description.clone_from(&description);
        Ok(())
    })
    .await?;
    Ok(super::Empty {})
}
