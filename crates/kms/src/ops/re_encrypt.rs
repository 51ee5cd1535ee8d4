//! ReEncrypt: decrypts under the source key and encrypts under the destination key without the
//! plaintext ever leaving the service.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use super::encrypt::serde_blob;
use crate::model::{self, validate_grant_tokens};
use crate::{Aliases, Caller, Cipher, EncryptionContext, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    #[serde(default, with = "trent_wire::blob::option")]
    ciphertext_blob: Option<Vec<u8>>,
    source_encryption_context: Option<EncryptionContext>,
    source_key_id: Option<String>,
    destination_key_id: Option<String>,
    destination_encryption_context: Option<EncryptionContext>,
    source_encryption_algorithm: Option<String>,
    destination_encryption_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
    dry_run_modifiers: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(with = "serde_blob")]
    ciphertext_blob: Vec<u8>,
    source_key_id: String,
    key_id: String,
    source_encryption_algorithm: &'static str,
    destination_encryption_algorithm: &'static str,
    source_key_material_id: String,
    destination_key_material_id: String,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    // A dry run with IGNORE_CIPHERTEXT checks only the permissions on the two keys it names: it
    // needs SourceKeyId instead of the ciphertext.
    let permission_only = req.dry_run == Some(true)
        && req
            .dry_run_modifiers
            .as_deref()
            .is_some_and(|m| m.iter().any(|m| m == "IGNORE_CIPHERTEXT"));
    if permission_only {
        v.required("sourceKeyId", &req.source_key_id);
    } else {
        v.required("ciphertextBlob", &req.ciphertext_blob);
    }
    v.secret_length(
        "ciphertextBlob",
        req.ciphertext_blob.as_ref().map(Vec::len),
        1,
        6144,
    );
    super::context_member(
        &mut v,
        "sourceEncryptionContext",
        &req.source_encryption_context,
    );
    super::context_member(
        &mut v,
        "destinationEncryptionContext",
        &req.destination_encryption_context,
    );
    v.length("sourceKeyId", req.source_key_id.as_deref(), 1, 2048);
    super::key_id_member(&mut v, "destinationKeyId", &req.destination_key_id);
    for (member, value) in [
        (
            "sourceEncryptionAlgorithm",
            &req.source_encryption_algorithm,
        ),
        (
            "destinationEncryptionAlgorithm",
            &req.destination_encryption_algorithm,
        ),
    ] {
        v.one_of(member, value.as_deref(), model::ENCRYPTION_ALGORITHMS);
    }
    validate_grant_tokens(&mut v, req.grant_tokens.as_ref());
    super::dry_run_modifiers_member(&mut v, req.dry_run_modifiers.as_deref());
    v.finish()?;
    let destination_input = req.destination_key_id.as_deref().unwrap_or_default();
    let ciphertext = req.ciphertext_blob.unwrap_or_default();
    // kms:ReEncryptOnSameKey compares the key named by the blob (or SourceKeyId) with the
    // destination, both read without touching any key.
    let destination_id = kms
        .key_id_of(caller, destination_input, "ReEncryptTo")
        .await?;
    let source_id = match crate::blob::Blob::parse(&ciphertext) {
        Ok(b) => Some(b.key_id.to_string()),
        Err(_) => match req.source_key_id.as_deref() {
            Some(s) => Some(kms.key_id_of(caller, s, "ReEncryptFrom").await?),
            None => None,
        },
    };
    let same_key = source_id.as_deref() == Some(destination_id.as_str());
    let destination_context = EncryptionContext::from(req.destination_encryption_context);
    let destination = kms
        .resolve(
            caller,
            destination_input,
            Aliases::Allowed,
            &crate::authz::Access::new("ReEncryptTo")
                .context(&destination_context)
                .with_opt(
                    "kms:EncryptionAlgorithm",
                    req.destination_encryption_algorithm.as_deref(),
                    model::SYMMETRIC_DEFAULT,
                )
                .with("kms:ReEncryptOnSameKey", same_key),
        )
        .await?;
    let destination_cipher = Cipher::for_key(
        &destination,
        req.destination_encryption_algorithm.as_deref(),
    )?;
    destination_cipher.check_context(&destination_context)?;
    let source_context = EncryptionContext::from(req.source_encryption_context);
    let source_access = crate::authz::Access::new("ReEncryptFrom")
        .context(&source_context)
        .with_opt(
            "kms:EncryptionAlgorithm",
            req.source_encryption_algorithm.as_deref(),
            model::SYMMETRIC_DEFAULT,
        )
        .with("kms:ReEncryptOnSameKey", same_key);
    if permission_only {
        let source_input = req.source_key_id.as_deref().unwrap_or_default();
        let source = kms
            .resolve(caller, source_input, Aliases::Allowed, &source_access)
            .await?;
        Cipher::for_key(&source, req.source_encryption_algorithm.as_deref())?;
        return Err(KmsError::DryRun);
    }
    let (opened, source_cipher) = kms
        .decrypt_any(
            caller,
            &ciphertext,
            &source_context,
            req.source_key_id.as_deref(),
            req.source_encryption_algorithm.as_deref(),
            &source_access,
        )
        .await?;
    super::dry_run(req.dry_run)?;
    let (ciphertext_blob, destination_material) = kms.encrypt_with(
        &destination,
        destination_cipher,
        opened.plaintext.expose_secret(),
        &destination_context,
    )?;
    kms.note_usage(&opened.key, "ReEncrypt", caller);
    kms.note_usage(&destination, "ReEncrypt", caller);
    Ok(Response {
        ciphertext_blob,
        source_key_id: opened.key.arn.clone(),
        key_id: destination.arn.clone(),
        source_encryption_algorithm: source_cipher.name(),
        destination_encryption_algorithm: destination_cipher.name(),
        source_key_material_id: opened.material_id,
        destination_key_material_id: destination_material,
    })
}
