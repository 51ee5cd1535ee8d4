//! Verify: checks a signature with the key's public half. A signature that does not verify is
//! KMSInvalidSignatureException, never `SignatureValid: false`.

use serde::{Deserialize, Serialize};
use trent_crypto::SecretBytes;
use trent_wire::Validator;

use super::sign::{signing_parameters, validate};
use crate::model;
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    #[serde(default, with = "model::secret_blob")]
    message: Option<SecretBytes>,
    message_type: Option<String>,
    #[serde(default, with = "trent_wire::blob::option")]
    signature: Option<Vec<u8>>,
    signing_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    key_id: String,
    signature_valid: bool,
    signing_algorithm: &'static str,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    validate(
        &mut v,
        &req.key_id,
        &req.message,
        req.message_type.as_deref(),
        &req.signing_algorithm,
        req.grant_tokens.as_ref(),
    );
    v.required("signature", &req.signature);
    v.secret_length("signature", req.signature.as_ref().map(Vec::len), 1, 6144);
    v.finish()?;
    let message = req
        .message
        .ok_or(KmsError::Internal("validated message missing"))?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Allowed,
            &crate::authz::Access::new("Verify")
                .with(
                    "kms:SigningAlgorithm",
                    req.signing_algorithm.as_deref().unwrap_or_default(),
                )
                .with_opt("kms:MessageType", req.message_type.as_deref(), "RAW"),
        )
        .await?;
    let (_, alg, digest_mode) = signing_parameters(
        &key,
        req.signing_algorithm.as_deref().unwrap_or_default(),
        req.message_type.as_deref(),
        message.len(),
    )?;
    super::dry_run(req.dry_run)?;
    let signature = req.signature.unwrap_or_default();
    let valid =
        key.asymmetric_key()?
            .verify(alg, message.expose_secret(), digest_mode, &signature)?;
    if !valid {
        return Err(KmsError::InvalidSignature);
    }
    kms.note_usage(&key, "Verify", caller);
    Ok(Response {
        key_id: key.arn.clone(),
        signature_valid: true,
        signing_algorithm: alg.kms_name(),
    })
}
