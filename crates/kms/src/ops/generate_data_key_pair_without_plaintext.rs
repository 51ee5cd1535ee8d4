//! GenerateDataKeyPairWithoutPlaintext: as GenerateDataKeyPair, returning the private key only
//! encrypted.

use serde::{Deserialize, Serialize};

use super::encrypt::serde_blob;
use super::generate_data_key_pair::{self, generate};
use crate::{Caller, EncryptionContext, Kms, KmsError};

/// The input shape: GenerateDataKeyPair's without `Recipient`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    encryption_context: Option<EncryptionContext>,
    key_id: Option<String>,
    key_pair_spec: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(with = "serde_blob")]
    private_key_ciphertext_blob: Vec<u8>,
    #[serde(with = "serde_blob")]
    public_key: Vec<u8>,
    key_id: String,
    key_pair_spec: &'static str,
    key_material_id: String,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let pair = generate(
        kms,
        caller,
        generate_data_key_pair::Request {
            encryption_context: req.encryption_context,
            key_id: req.key_id,
            key_pair_spec: req.key_pair_spec,
            grant_tokens: req.grant_tokens,
            recipient: None,
            dry_run: req.dry_run,
        },
        "GenerateDataKeyPairWithoutPlaintext",
    )
    .await?;
    Ok(Response {
        private_key_ciphertext_blob: pair.private_key_ciphertext_blob,
        public_key: pair.public_key,
        key_id: pair.key_arn,
        key_pair_spec: pair.spec.kms_name(),
        key_material_id: pair.material_id,
    })
}
