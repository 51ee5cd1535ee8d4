//! DisableKey: Enabled (or Disabled) → Disabled. Cryptographic operations then answer
//! DisabledException.

use serde::Deserialize;
use trent_wire::Validator;

use crate::model::KeyState;
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
            &crate::authz::Access::new("DisableKey"),
        )
        .await?;
    kms.update_key(&key, |r| {
        super::enable_key::set_enabled(r, &key.arn, KeyState::Disabled)
    })
    .await?;
    Ok(super::Empty {})
}
