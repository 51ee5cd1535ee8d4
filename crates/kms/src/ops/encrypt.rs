//! Encrypt: up to 4096 bytes under a symmetric key (bound to an optional encryption context),
//! or RSAES-OAEP under an RSA key.

use serde::{Deserialize, Serialize};
use trent_crypto::SecretBytes;
use trent_wire::Validator;

use crate::model::{self, validate_grant_tokens};
use crate::{Aliases, Caller, Cipher, EncryptionContext, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    #[serde(default, with = "model::secret_blob")]
    plaintext: Option<SecretBytes>,
    encryption_context: Option<EncryptionContext>,
    grant_tokens: Option<Vec<String>>,
    encryption_algorithm: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(with = "serde_blob")]
    ciphertext_blob: Vec<u8>,
    key_id: String,
    encryption_algorithm: &'static str,
}

/// Plain (non-secret) blob members of responses.
pub(crate) mod serde_blob {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&trent_wire::blob::encode(v))
    }
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.required("plaintext", &req.plaintext);
    v.secret_length(
        "plaintext",
        req.plaintext.as_ref().map(SecretBytes::len),
        1,
        4096,
    );
    super::context_member(&mut v, "encryptionContext", &req.encryption_context);
    validate_grant_tokens(&mut v, req.grant_tokens.as_ref());
    v.one_of(
        "encryptionAlgorithm",
        req.encryption_algorithm.as_deref(),
        model::ENCRYPTION_ALGORITHMS,
    );
    v.finish()?;
    let context = EncryptionContext::from(req.encryption_context);
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Allowed,
            &crate::authz::Access::new("Encrypt")
                .context(&context)
                .with_opt(
                    "kms:EncryptionAlgorithm",
                    req.encryption_algorithm.as_deref(),
                    model::SYMMETRIC_DEFAULT,
                ),
        )
        .await?;
    let cipher = Cipher::for_key(&key, req.encryption_algorithm.as_deref())?;
    cipher.check_context(&context)?;
    super::dry_run(req.dry_run)?;
    let plaintext = req
        .plaintext
        .ok_or(KmsError::Internal("validated plaintext missing"))?;
    let (ciphertext_blob, _material) =
        kms.encrypt_with(&key, cipher, plaintext.expose_secret(), &context)?;
    kms.note_usage(&key, "Encrypt", caller);
    Ok(Response {
        ciphertext_blob,
        key_id: key.arn.clone(),
        encryption_algorithm: cipher.name(),
    })
}
