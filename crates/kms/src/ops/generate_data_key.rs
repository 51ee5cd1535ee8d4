//! GenerateDataKey: a fresh data key, returned in plaintext and encrypted under the KMS key.

use serde::{Deserialize, Serialize};
use trent_crypto::SecretBytes;
use trent_wire::Validator;

use super::encrypt::serde_blob;
use crate::model::{self, validate_grant_tokens};
use crate::{Aliases, Caller, EncryptionContext, Kms, KmsError, LoadedKey};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub(crate) key_id: Option<String>,
    pub(crate) encryption_context: Option<EncryptionContext>,
    pub(crate) number_of_bytes: Option<i64>,
    pub(crate) key_spec: Option<String>,
    pub(crate) grant_tokens: Option<Vec<String>>,
    pub(crate) recipient: Option<serde_json::Value>,
    pub(crate) dry_run: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(with = "serde_blob")]
    ciphertext_blob: Vec<u8>,
    #[serde(with = "model::secret_blob")]
    plaintext: SecretBytes,
    key_id: String,
    key_material_id: String,
}

/// A generated data key: the plaintext, its blob, the key and the material that sealed it.
pub(crate) struct DataKey {
    pub plaintext: SecretBytes,
    pub ciphertext_blob: Vec<u8>,
    pub key: std::sync::Arc<LoadedKey>,
    pub material_id: String,
}

/// Shared by GenerateDataKey and GenerateDataKeyWithoutPlaintext.
pub(crate) async fn generate(
    kms: &Kms,
    caller: &Caller,
    req: Request,
    action: &'static str,
) -> Result<DataKey, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    super::context_member(&mut v, "encryptionContext", &req.encryption_context);
    v.range("numberOfBytes", req.number_of_bytes, 1, 1024);
    v.one_of("keySpec", req.key_spec.as_deref(), model::DATA_KEY_SPECS);
    validate_grant_tokens(&mut v, req.grant_tokens.as_ref());
    v.finish()?;
    super::refuse_recipient(&req.recipient)?;
    let len = match (req.key_spec.as_deref(), req.number_of_bytes) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(trent_wire::ApiError::validation(
                "Please specify either number of bytes or key spec.",
            )
            .into());
        }
        (Some("AES_128"), None) => 16,
        (Some(_), None) => 32,
        (None, Some(n)) => {
            usize::try_from(n).map_err(|_| KmsError::Internal("validated length"))?
        }
    };
    let context = EncryptionContext::from(req.encryption_context);
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Allowed,
            &crate::authz::Access::new(action).context(&context),
        )
        .await?;
    Kms::check_encrypt_usable(&key)?;
    super::dry_run(req.dry_run)?;
    let plaintext = SecretBytes::random(len)?;
    let (ciphertext_blob, material_id) = kms.seal(&key, plaintext.expose_secret(), &context)?;
    Ok(DataKey {
        plaintext,
        ciphertext_blob,
        key,
        material_id,
    })
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let dk = generate(kms, caller, req, "GenerateDataKey").await?;
    kms.note_usage(&dk.key, "GenerateDataKey", caller);
    Ok(Response {
        ciphertext_blob: dk.ciphertext_blob,
        plaintext: dk.plaintext,
        key_id: dk.key.arn.clone(),
        key_material_id: dk.material_id,
    })
}
