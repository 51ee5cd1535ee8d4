//! Sign: an RSA, ECDSA or Ed25519 signature of a message (RAW) or of its digest (DIGEST) under
//! a SIGN_VERIFY key. Signatures are standard (ECDSA in DER), verifiable with the public key.

use serde::{Deserialize, Serialize};
use trent_crypto::{AsymmetricSpec, SecretBytes, SigningAlgorithm};
use trent_wire::Validator;

use super::encrypt::serde_blob;
use crate::model::{self, validate_grant_tokens};
use crate::{Aliases, Caller, Kms, KmsError, LoadedKey};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    #[serde(default, with = "model::secret_blob")]
    message: Option<SecretBytes>,
    message_type: Option<String>,
    grant_tokens: Option<Vec<String>>,
    signing_algorithm: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    key_id: String,
    #[serde(with = "serde_blob")]
    signature: Vec<u8>,
    signing_algorithm: &'static str,
}

/// Validation shared with Verify.
pub(crate) fn validate(
    v: &mut Validator,
    key_id: &Option<String>,
    message: &Option<SecretBytes>,
    message_type: Option<&str>,
    signing_algorithm: &Option<String>,
    grant_tokens: Option<&Vec<String>>,
) {
    super::key_id_member(v, "keyId", key_id);
    v.required("message", message);
    v.secret_length("message", message.as_ref().map(SecretBytes::len), 1, 4096);
    v.one_of("messageType", message_type, model::MESSAGE_TYPES);
    v.required("signingAlgorithm", signing_algorithm);
    v.one_of(
        "signingAlgorithm",
        signing_algorithm.as_deref(),
        model::SIGNING_ALGORITHMS,
    );
    validate_grant_tokens(v, grant_tokens);
}

/// Checks the key (Enabled, SIGN_VERIFY), the algorithm against its spec, and the message
/// type and digest length. Returns the spec, the algorithm and whether the message is a digest.
pub(crate) fn signing_parameters(
    key: &LoadedKey,
    algorithm: &str,
    message_type: Option<&str>,
    message_len: usize,
) -> Result<(AsymmetricSpec, SigningAlgorithm, bool), KmsError> {
    Kms::check_usable(key, model::SIGN_VERIFY)?;
    let spec = key
        .kind()?
        .asymmetric()
        .ok_or(KmsError::Internal("SIGN_VERIFY key that is not asymmetric"))?;
    if algorithm == "ED25519_PH_SHA_512" && spec == AsymmetricSpec::Ed25519 {
        // AWS offers HashEdDSA for Ed25519 keys; the cryptographic library here has only
        // pure Ed25519.
        return Err(KmsError::UnsupportedOperation(
            "ED25519_PH_SHA_512 is not supported by this server; use ED25519_SHA_512 with \
             MessageType RAW."
                .to_string(),
        ));
    }
    let alg = SigningAlgorithm::from_kms_name(algorithm)
        .filter(|a| a.is_valid_for(spec))
        .ok_or_else(|| {
            KmsError::InvalidKeyUsage(format!(
                "Algorithm {algorithm} is incompatible with key spec {}.",
                key.record.key_spec
            ))
        })?;
    let digest_mode = match message_type.unwrap_or("RAW") {
        "RAW" => false,
        "DIGEST" => {
            let Some(len) = alg.digest_len() else {
                return Err(trent_wire::ApiError::validation(format!(
                    "MessageType DIGEST is not supported for algorithm {algorithm}."
                ))
                .into());
            };
            if message_len != len {
                return Err(trent_wire::ApiError::validation(format!(
                    "Digest is invalid length for algorithm {algorithm}."
                ))
                .into());
            }
            true
        }
        "EXTERNAL_MU" if alg == SigningAlgorithm::MlDsaShake256 => {
            return Err(KmsError::UnsupportedOperation(
                "MessageType EXTERNAL_MU is not supported by this server; sign the RAW message."
                    .to_string(),
            ));
        }
        other => {
            return Err(trent_wire::ApiError::validation(format!(
                "MessageType {other} is not supported for algorithm {algorithm}."
            ))
            .into());
        }
    };
    Ok((spec, alg, digest_mode))
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
    v.finish()?;
    let message = req
        .message
        .ok_or(KmsError::Internal("validated message missing"))?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Allowed,
            &crate::authz::Access::new("Sign")
                .with(
                    "kms:SigningAlgorithm",
                    req.signing_algorithm.as_deref().unwrap_or_default(),
                )
                .with_opt("kms:MessageType", req.message_type.as_deref(), "RAW"),
        )
        .await?;
    let (spec, alg, digest_mode) = signing_parameters(
        &key,
        req.signing_algorithm.as_deref().unwrap_or_default(),
        req.message_type.as_deref(),
        message.len(),
    )?;
    super::dry_run(req.dry_run)?;
    let signature = if spec.is_rsa() {
        // An RSA signature takes the better part of a millisecond: off the request threads, so
        // the requests queued behind it on this worker do not wait for it.
        let signer = std::sync::Arc::clone(&key);
        crate::heavy::run("signing task failed", move || {
            signer
                .asymmetric_key()?
                .sign(alg, message.expose_secret(), digest_mode)
                .map_err(KmsError::from)
        })
        .await?
    } else {
        key.asymmetric_key()?
            .sign(alg, message.expose_secret(), digest_mode)?
    };
    kms.note_usage(&key, "Sign", caller);
    Ok(Response {
        key_id: key.arn.clone(),
        signature,
        signing_algorithm: alg.kms_name(),
    })
}
