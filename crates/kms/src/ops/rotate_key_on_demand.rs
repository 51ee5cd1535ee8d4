//! RotateKeyOnDemand: new key material now, without moving the automatic schedule; at most 25
//! per key.

use serde::Deserialize;
use trent_wire::Validator;

use super::enable_key_rotation::check_rotatable;
use crate::{Aliases, Caller, Kms, KmsError, RotationType};

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
            &crate::authz::Access::new("RotateKeyOnDemand"),
        )
        .await?;
    check_rotatable(&key)?;
    kms.rotate(&key, RotationType::OnDemand).await?;
    Ok(super::KeyIdResponse {
        key_id: key.arn.clone(),
    })
}
