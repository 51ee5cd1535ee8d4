//! GenerateDataKeyWithoutPlaintext: as GenerateDataKey, returning only the encrypted copy.

use serde::Serialize;

use super::encrypt::serde_blob;
pub use super::generate_data_key::Request;
use super::generate_data_key::generate;
use crate::{Caller, Kms, KmsError};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(with = "serde_blob")]
    ciphertext_blob: Vec<u8>,
    key_id: String,
    key_material_id: String,
}

pub async fn handle(kms: &Kms, caller: &Caller, mut req: Request) -> Result<Response, KmsError> {
    if req.recipient.is_some() {
        // Not a member of this operation's input shape.
        req.recipient = None;
    }
    let dk = generate(kms, caller, req, "GenerateDataKeyWithoutPlaintext").await?;
    kms.note_usage(&dk.key, "GenerateDataKeyWithoutPlaintext", caller);
    Ok(Response {
        ciphertext_blob: dk.ciphertext_blob,
        key_id: dk.key.arn.clone(),
        key_material_id: dk.material_id,
    })
}
