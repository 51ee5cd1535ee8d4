//! GenerateRandom: 1–1024 bytes from the system CSPRNG.

use serde::{Deserialize, Serialize};
use trent_crypto::SecretBytes;
use trent_wire::Validator;

use crate::model;
use crate::{Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    number_of_bytes: Option<i64>,
    custom_key_store_id: Option<String>,
    recipient: Option<serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(with = "model::secret_blob")]
    plaintext: SecretBytes,
}

pub async fn handle(_kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    v.required("numberOfBytes", &req.number_of_bytes);
    v.range("numberOfBytes", req.number_of_bytes, 1, 1024);
    v.length(
        "customKeyStoreId",
        req.custom_key_store_id.as_deref(),
        1,
        64,
    );
    v.finish()?;
    crate::authz::authorize_identity(caller, "GenerateRandom", "*", |_| {})?;
    super::refuse_recipient(&req.recipient)?;
    if req.custom_key_store_id.is_some() {
        return Err(KmsError::UnsupportedOperation(
            "Custom key stores are not supported by this server.".to_string(),
        ));
    }
    let n = req
        .number_of_bytes
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(KmsError::Internal("validated length"))?;
    Ok(Response {
        plaintext: SecretBytes::random(n)?,
    })
}
