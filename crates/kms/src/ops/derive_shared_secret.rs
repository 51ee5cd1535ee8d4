//! DeriveSharedSecret: ECDH between a KEY_AGREEMENT key and a peer's public key (DER
//! SubjectPublicKeyInfo on the same curve). The result is the raw shared secret, as AWS
//! returns it: the caller applies its own key derivation function.

use serde::{Deserialize, Serialize};
use trent_crypto::SecretBytes;
use trent_wire::Validator;

use crate::model::{self, validate_grant_tokens};
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    key_agreement_algorithm: Option<String>,
    #[serde(default, with = "trent_wire::blob::option")]
    public_key: Option<Vec<u8>>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
    recipient: Option<serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    key_id: String,
    #[serde(with = "model::secret_blob")]
    shared_secret: SecretBytes,
    key_agreement_algorithm: &'static str,
    key_origin: String,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.required("keyAgreementAlgorithm", &req.key_agreement_algorithm);
    v.one_of(
        "keyAgreementAlgorithm",
        req.key_agreement_algorithm.as_deref(),
        model::KEY_AGREEMENT_ALGORITHMS,
    );
    v.required("publicKey", &req.public_key);
    v.secret_length("publicKey", req.public_key.as_ref().map(Vec::len), 1, 8192);
    validate_grant_tokens(&mut v, req.grant_tokens.as_ref());
    v.finish()?;
    super::refuse_recipient(&req.recipient)?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Allowed,
            &crate::authz::Access::new("DeriveSharedSecret").with(
                "kms:KeyAgreementAlgorithm",
                req.key_agreement_algorithm.as_deref().unwrap_or_default(),
            ),
        )
        .await?;
    Kms::check_usable(&key, model::KEY_AGREEMENT)?;
    let spec = key.kind()?.asymmetric().ok_or(KmsError::Internal(
        "KEY_AGREEMENT key that is not asymmetric",
    ))?;
    super::dry_run(req.dry_run)?;
    let peer = req.public_key.unwrap_or_default();
    let shared_secret = trent_crypto::asymmetric::ecdh(spec, key.current_secret()?, &peer)
        .map_err(|e| match e {
            trent_crypto::Error::InvalidInput | trent_crypto::Error::Failed => {
                KmsError::from(trent_wire::ApiError::validation(format!(
                    "PublicKey must be a DER-encoded SubjectPublicKeyInfo of a point on the \
                     curve of key spec {}.",
                    key.record.key_spec
                )))
            }
            other => KmsError::Crypto(other),
        })?;
    kms.note_usage(&key, "DeriveSharedSecret", caller);
    Ok(Response {
        key_id: key.arn.clone(),
        shared_secret,
        key_agreement_algorithm: model::ECDH,
        key_origin: key.record.origin.clone(),
    })
}
