//! VerifyMac: checks an HMAC tag in constant time; a mismatch is KMSInvalidMacException, never
//! `MacValid: false`.

use serde::{Deserialize, Serialize};
use trent_crypto::SecretBytes;
use trent_wire::Validator;

use super::generate_mac::{mac_algorithm_for, validate};
use crate::model;
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    #[serde(default, with = "model::secret_blob")]
    message: Option<SecretBytes>,
    key_id: Option<String>,
    mac_algorithm: Option<String>,
    #[serde(default, with = "trent_wire::blob::option")]
    mac: Option<Vec<u8>>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    key_id: String,
    mac_valid: bool,
    mac_algorithm: &'static str,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    validate(
        &mut v,
        &req.message,
        &req.key_id,
        &req.mac_algorithm,
        req.grant_tokens.as_ref(),
    );
    v.required("mac", &req.mac);
    v.secret_length("mac", req.mac.as_ref().map(Vec::len), 1, 6144);
    v.finish()?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Allowed,
            &crate::authz::Access::new("VerifyMac").with(
                "kms:MacAlgorithm",
                req.mac_algorithm.as_deref().unwrap_or_default(),
            ),
        )
        .await?;
    let alg = mac_algorithm_for(&key, req.mac_algorithm.as_deref().unwrap_or_default())?;
    super::dry_run(req.dry_run)?;
    let message = req
        .message
        .ok_or(KmsError::Internal("validated message missing"))?;
    let tag = req.mac.unwrap_or_default();
    if !trent_crypto::verify_mac(alg, key.current_secret()?, message.expose_secret(), &tag) {
        return Err(KmsError::InvalidMac);
    }
    kms.note_usage(&key, "VerifyMac", caller);
    Ok(Response {
        key_id: key.arn.clone(),
        mac_valid: true,
        mac_algorithm: alg.kms_name(),
    })
}
