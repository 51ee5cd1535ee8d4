//! GetParametersForImport: a fresh RSA wrapping key and an import token for a key with Origin
//! EXTERNAL, valid for 24 hours.
//!
//! The token is `0x01 ‖ token id (16) ‖ secret (32)`. The store keeps, under the token id, the
//! key it is for, the SHA-256 of the secret and the wrapping private key (sealed by the barrier);
//! ImportKeyMaterial compares the secret's hash in constant time. A token is therefore bound to
//! one key and cannot be forged, and the private key never leaves the server.

use serde::{Deserialize, Serialize};
use trent_crypto::{AsymmetricSpec, SecretBytes, WrappingAlgorithm};
use trent_store::{ImportParameters, StoreError};
use trent_wire::Validator;

use super::encrypt::serde_blob;
use crate::import::{PARAMETERS_VALID_MS, check_external};
use crate::model::{self, KeyState};
use crate::{Aliases, Caller, Kms, KmsError};

pub(crate) const TOKEN_VERSION: u8 = 1;
pub(crate) const TOKEN_ID_LEN: usize = 16;
pub(crate) const TOKEN_SECRET_LEN: usize = 32;
pub(crate) const TOKEN_LEN: usize = 1 + TOKEN_ID_LEN + TOKEN_SECRET_LEN;

const ALGORITHM_SPECS: &[&str] = &[
    "RSAES_PKCS1_V1_5",
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "RSA_AES_KEY_WRAP_SHA_1",
    "RSA_AES_KEY_WRAP_SHA_256",
    "SM2PKE",
];
const WRAPPING_KEY_SPECS: &[&str] = &["RSA_2048", "RSA_3072", "RSA_4096", "SM2"];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    wrapping_algorithm: Option<String>,
    wrapping_key_spec: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    key_id: String,
    /// Holds a secret (the token's last 32 bytes): zeroized once the response is written.
    #[serde(with = "model::secret_blob")]
    import_token: SecretBytes,
    #[serde(with = "serde_blob")]
    public_key: Vec<u8>,
    parameters_valid_to: f64,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.required("wrappingAlgorithm", &req.wrapping_algorithm);
    v.one_of(
        "wrappingAlgorithm",
        req.wrapping_algorithm.as_deref(),
        ALGORITHM_SPECS,
    );
    v.required("wrappingKeySpec", &req.wrapping_key_spec);
    v.one_of(
        "wrappingKeySpec",
        req.wrapping_key_spec.as_deref(),
        WRAPPING_KEY_SPECS,
    );
    v.finish()?;
    let algorithm_name = req.wrapping_algorithm.as_deref().unwrap_or_default();
    let spec_name = req.wrapping_key_spec.as_deref().unwrap_or_default();
    if algorithm_name == "RSAES_PKCS1_V1_5" {
        return Err(KmsError::UnsupportedOperation(
            "The RSAES_PKCS1_V1_5 wrapping algorithm is no longer supported. Use \
             RSAES_OAEP_SHA_256, RSAES_OAEP_SHA_1, RSA_AES_KEY_WRAP_SHA_256 or \
             RSA_AES_KEY_WRAP_SHA_1."
                .to_string(),
        ));
    }
    let (Some(algorithm), Some(wrapping_spec)) = (
        WrappingAlgorithm::from_kms_name(algorithm_name),
        AsymmetricSpec::from_kms_name(spec_name).filter(|s| s.is_rsa()),
    ) else {
        // SM2PKE and SM2 wrapping keys exist only in AWS's China Regions.
        return Err(KmsError::UnsupportedOperation(format!(
            "Wrapping algorithm {algorithm_name} with wrapping key spec {spec_name} is not \
             supported in this region."
        )));
    };
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("GetParametersForImport")
                .with("kms:WrappingAlgorithm", algorithm_name)
                .with("kms:WrappingKeySpec", spec_name),
        )
        .await?;
    check_external(&key)?;
    match key.state()? {
        // Waiting for material, or re-importing it (to change its expiry, or after deletion).
        KeyState::PendingImport | KeyState::Enabled | KeyState::Disabled => {}
        other => return Err(other.invalid_state_error(&key.arn)),
    }

    // RSA key generation takes a while (RSA_4096 most of all); keep it off the async workers.
    let (private_key, public_key) = tokio::task::spawn_blocking(move || {
        trent_crypto::import::generate_wrapping_key(wrapping_spec)
    })
    .await
    .map_err(|_| KmsError::Internal("wrapping key generation did not finish"))??;

    let now = kms.now_ms();
    let valid_to_ms = now.saturating_add(PARAMETERS_VALID_MS);
    for _ in 0..3 {
        let token_id: [u8; TOKEN_ID_LEN] = trent_crypto::random_array()?;
        let secret = SecretBytes::random(TOKEN_SECRET_LEN)?;
        let params = ImportParameters {
            scope: caller.scope.clone(),
            token_id: trent_crypto::hex(&token_id),
            key_id: key.record.key_id.clone(),
            token_check: trent_crypto::sha256(secret.expose_secret()).to_vec(),
            wrapping_algorithm: algorithm.kms_name().to_string(),
            wrapping_key_spec: wrapping_spec.kms_name().to_string(),
            created_ms: now,
            valid_to_ms,
            private_key: private_key.duplicate(),
        };
        match kms.store().put_import_parameters(&params).await {
            Ok(()) => {}
            // 128 random bits collided: draw again.
            Err(StoreError::AlreadyExists) => continue,
            Err(e) => return Err(e.into()),
        }
        let mut import_token = Vec::with_capacity(TOKEN_LEN);
        import_token.push(TOKEN_VERSION);
        import_token.extend_from_slice(&token_id);
        import_token.extend_from_slice(secret.expose_secret());
        return Ok(Response {
            key_id: key.arn.clone(),
            import_token: SecretBytes::new(import_token),
            public_key,
            parameters_valid_to: trent_wire::timestamp::from_millis(valid_to_ms),
        });
    }
    Err(KmsError::Internal("could not draw a fresh import token id"))
}
