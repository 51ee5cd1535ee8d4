//! EnableKey: Disabled (or Enabled) → Enabled.

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
            &crate::authz::Access::new("EnableKey"),
        )
        .await?;
    kms.update_key(&key, |r| set_enabled(r, &key.arn, KeyState::Enabled))
        .await?;
    Ok(super::Empty {})
}

/// Shared by EnableKey and DisableKey: only Enabled and Disabled keys may switch.
pub(crate) fn set_enabled(
    r: &mut trent_store::KeyRecord,
    arn: &str,
    to: KeyState,
) -> Result<(), KmsError> {
    match KeyState::parse(&r.state)? {
        KeyState::Enabled | KeyState::Disabled => {
            r.state = to.as_str().to_string();
            Ok(())
        }
        other => Err(match other.invalid_state_error(arn) {
            KmsError::Disabled(a) => KmsError::InvalidState(format!("{a} is disabled.")),
            e => e,
        }),
    }
}
