//! GenerateMac: an HMAC tag of up to 4096 bytes of message under an HMAC key.

use serde::{Deserialize, Serialize};
use trent_crypto::{MacAlgorithm, SecretBytes};
use trent_wire::Validator;

use super::encrypt::serde_blob;
use crate::model::{self, validate_grant_tokens};
use crate::{Aliases, Caller, Kms, KmsError, LoadedKey};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    #[serde(default, with = "model::secret_blob")]
    message: Option<SecretBytes>,
    key_id: Option<String>,
    mac_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(with = "serde_blob")]
    mac: Vec<u8>,
    mac_algorithm: &'static str,
    key_id: String,
}

/// Validation shared with VerifyMac.
pub(crate) fn validate(
    v: &mut Validator,
    message: &Option<SecretBytes>,
    key_id: &Option<String>,
    mac_algorithm: &Option<String>,
    grant_tokens: Option<&Vec<String>>,
) {
    v.required("message", message);
    v.secret_length("message", message.as_ref().map(SecretBytes::len), 1, 4096);
    super::key_id_member(v, "keyId", key_id);
    v.required("macAlgorithm", mac_algorithm);
    v.one_of(
        "macAlgorithm",
        mac_algorithm.as_deref(),
        model::MAC_ALGORITHMS,
    );
    validate_grant_tokens(v, grant_tokens);
}

/// The key must be an Enabled HMAC key whose spec matches the requested algorithm.
pub(crate) fn mac_algorithm_for(
    key: &LoadedKey,
    requested: &str,
) -> Result<MacAlgorithm, KmsError> {
    Kms::check_usable(key, model::GENERATE_VERIFY_MAC)?;
    match MacAlgorithm::from_key_spec(&key.record.key_spec) {
        Some(alg) if alg.kms_name() == requested => Ok(alg),
        _ => Err(KmsError::InvalidKeyUsage(format!(
            "{requested} is not a valid MAC algorithm for {} whose key spec is {}.",
            key.arn, key.record.key_spec
        ))),
    }
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
    v.finish()?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Allowed,
            &crate::authz::Access::new("GenerateMac").with(
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
    let mac = trent_crypto::mac(alg, key.current_secret()?, message.expose_secret());
    kms.note_usage(&key, "GenerateMac", caller);
    Ok(Response {
        mac,
        mac_algorithm: alg.kms_name(),
        key_id: key.arn.clone(),
    })
}
