//! DeleteImportedKeyMaterial: the key keeps its id, metadata and aliases but loses its material
//! and goes to PendingImport (a key pending deletion stays so) until the same material is
//! imported again.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::import::check_external;
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    key_material_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    key_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    key_material_id: String,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.length("keyMaterialId", req.key_material_id.as_deref(), 64, 64);
    v.finish()?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("DeleteImportedKeyMaterial"),
        )
        .await?;
    check_external(&key)?;
    if let Some(id) = &req.key_material_id
        && *id != key.record.current_material_id
    {
        return Err(KmsError::NotFound(format!(
            "Key material {id} is not associated with {}.",
            key.arn
        )));
    }
    let record = kms
        .delete_imported_material(&key, None)
        .await?
        .ok_or(KmsError::Internal(
            "unconditional material deletion skipped",
        ))?;
    Ok(Response {
        key_id: key.arn.clone(),
        key_material_id: record.current_material_id,
    })
}
