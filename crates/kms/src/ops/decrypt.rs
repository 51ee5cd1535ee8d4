//! Decrypt: a symmetric blob names its key, so KeyId is optional (if given it must match); an
//! RSAES-OAEP ciphertext needs KeyId and EncryptionAlgorithm.

use serde::{Deserialize, Serialize};
use trent_crypto::SecretBytes;
use trent_wire::Validator;

use crate::model::{self, validate_grant_tokens};
use crate::{Caller, EncryptionContext, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    #[serde(default, with = "trent_wire::blob::option")]
    ciphertext_blob: Option<Vec<u8>>,
    encryption_context: Option<EncryptionContext>,
    grant_tokens: Option<Vec<String>>,
    key_id: Option<String>,
    encryption_algorithm: Option<String>,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
    dry_run_modifiers: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    key_id: String,
    #[serde(with = "model::secret_blob")]
    plaintext: SecretBytes,
    encryption_algorithm: &'static str,
    key_material_id: String,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    // A dry run with IGNORE_CIPHERTEXT checks only the permission to use the key it names: it
    // needs KeyId instead of the ciphertext.
    let permission_only = req.dry_run == Some(true)
        && req
            .dry_run_modifiers
            .as_deref()
            .is_some_and(|m| m.iter().any(|m| m == "IGNORE_CIPHERTEXT"));
    if permission_only {
        v.required("keyId", &req.key_id);
    } else {
        v.required("ciphertextBlob", &req.ciphertext_blob);
    }
    v.secret_length(
        "ciphertextBlob",
        req.ciphertext_blob.as_ref().map(Vec::len),
        1,
        6144,
    );
    super::context_member(&mut v, "encryptionContext", &req.encryption_context);
    validate_grant_tokens(&mut v, req.grant_tokens.as_ref());
    v.length("keyId", req.key_id.as_deref(), 1, 2048);
    v.one_of(
        "encryptionAlgorithm",
        req.encryption_algorithm.as_deref(),
        model::ENCRYPTION_ALGORITHMS,
    );
    super::dry_run_modifiers_member(&mut v, req.dry_run_modifiers.as_deref());
    v.finish()?;
    super::refuse_recipient(&req.recipient)?;
    let context = EncryptionContext::from(req.encryption_context);
    let access = crate::authz::Access::new("Decrypt")
        .context(&context)
        .with_opt(
            "kms:EncryptionAlgorithm",
            req.encryption_algorithm.as_deref(),
            model::SYMMETRIC_DEFAULT,
        );
    if permission_only {
        // Authorization and the key's state and usage are checked; the ciphertext is not read.
        let key_id = req.key_id.as_deref().unwrap_or_default();
        let key = kms
            .resolve(caller, key_id, crate::Aliases::Allowed, &access)
            .await?;
        crate::Cipher::for_key(&key, req.encryption_algorithm.as_deref())?;
        return Err(KmsError::DryRun);
    }
    let ciphertext = req.ciphertext_blob.unwrap_or_default();
    let (opened, cipher) = kms
        .decrypt_any(
            caller,
            &ciphertext,
            &context,
            req.key_id.as_deref(),
            req.encryption_algorithm.as_deref(),
            &access,
        )
        .await?;
    super::dry_run(req.dry_run)?;
    kms.note_usage(&opened.key, "Decrypt", caller);
    Ok(Response {
        key_id: opened.key.arn.clone(),
        plaintext: opened.plaintext,
        encryption_algorithm: cipher.name(),
        key_material_id: opened.material_id,
    })
}
