//! GenerateDataKeyPair: a fresh RSA, ECC or Ed25519 key pair for use outside the service. The
//! private key (PKCS#8 DER) is returned in plaintext and encrypted under a symmetric KMS key;
//! the public key is DER SubjectPublicKeyInfo.

use serde::{Deserialize, Serialize};
use trent_crypto::{AsymmetricSpec, SecretBytes};
use trent_wire::Validator;

use super::encrypt::serde_blob;
use crate::model::{self, KeyKind, validate_grant_tokens};
use crate::{Aliases, Caller, EncryptionContext, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub(crate) encryption_context: Option<EncryptionContext>,
    pub(crate) key_id: Option<String>,
    pub(crate) key_pair_spec: Option<String>,
    pub(crate) grant_tokens: Option<Vec<String>>,
    pub(crate) recipient: Option<serde_json::Value>,
    pub(crate) dry_run: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(with = "serde_blob")]
    private_key_ciphertext_blob: Vec<u8>,
    #[serde(with = "model::secret_blob")]
    private_key_plaintext: SecretBytes,
    #[serde(with = "serde_blob")]
    public_key: Vec<u8>,
    key_id: String,
    key_pair_spec: &'static str,
    key_material_id: String,
}

/// A generated pair, its private key sealed under the KMS key.
pub(crate) struct DataKeyPair {
    pub private_key: SecretBytes,
    pub private_key_ciphertext_blob: Vec<u8>,
    pub public_key: Vec<u8>,
    pub key_arn: String,
    pub spec: AsymmetricSpec,
    pub material_id: String,
}

/// Shared by GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext.
pub(crate) async fn generate(
    kms: &Kms,
    caller: &Caller,
    req: Request,
    operation: &'static str,
) -> Result<DataKeyPair, KmsError> {
    let mut v = Validator::new();
    super::context_member(&mut v, "encryptionContext", &req.encryption_context);
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.required("keyPairSpec", &req.key_pair_spec);
    v.one_of(
        "keyPairSpec",
        req.key_pair_spec.as_deref(),
        model::DATA_KEY_PAIR_SPECS,
    );
    validate_grant_tokens(&mut v, req.grant_tokens.as_ref());
    v.finish()?;
    super::refuse_recipient(&req.recipient)?;
    let spec_name = req.key_pair_spec.as_deref().unwrap_or_default();
    let Some(spec) = AsymmetricSpec::from_kms_name(spec_name) else {
        return Err(KmsError::UnsupportedOperation(format!(
            "KeyPairSpec {spec_name} is not supported by this server."
        )));
    };
    let context = EncryptionContext::from(req.encryption_context);
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Allowed,
            &crate::authz::Access::new(operation)
                .context(&context)
                .with("kms:DataKeyPairSpec", spec_name),
        )
        .await?;
    Kms::check_encrypt_usable(&key)?;
    super::dry_run(req.dry_run)?;
    let private_key = super::create_key::generate_material(KeyKind::Asymmetric(spec)).await?;
    let public_key = trent_crypto::asymmetric::public_key_der(spec, &private_key)?;
    let (private_key_ciphertext_blob, material_id) =
        kms.seal(&key, private_key.expose_secret(), &context)?;
    kms.note_usage(&key, operation, caller);
    Ok(DataKeyPair {
        private_key,
        private_key_ciphertext_blob,
        public_key,
        key_arn: key.arn.clone(),
        spec,
        material_id,
    })
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let pair = generate(kms, caller, req, "GenerateDataKeyPair").await?;
    Ok(Response {
        private_key_ciphertext_blob: pair.private_key_ciphertext_blob,
        private_key_plaintext: pair.private_key,
        public_key: pair.public_key,
        key_id: pair.key_arn,
        key_pair_spec: pair.spec.kms_name(),
        key_material_id: pair.material_id,
    })
}
