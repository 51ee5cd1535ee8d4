//! Encryption and decryption under any ENCRYPT_DECRYPT key: the symmetric blob for
//! SYMMETRIC_DEFAULT keys, plain RSAES-OAEP for RSA keys.
//!
//! RSA ciphertexts are exactly what RSAES-OAEP produces (modulus-sized, no header), so a
//! ciphertext made off-line with the GetPublicKey key decrypts here and ours decrypt anywhere.
//! Such a ciphertext does not name its key, which is why Decrypt needs `KeyId` and
//! `EncryptionAlgorithm` for RSA keys.

use std::sync::Arc;

use trent_crypto::{AsymmetricSpec, EncryptionAlgorithm, SecretBytes};

use crate::authz::Access;
use crate::model::{self, KeyKind};
use crate::{Aliases, Caller, EncryptionContext, Kms, KmsError, LoadedKey, Opened};

/// The cipher an Encrypt/Decrypt call uses: the key's kind and the requested algorithm together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cipher {
    Symmetric,
    Oaep(AsymmetricSpec, EncryptionAlgorithm),
}

impl Cipher {
    /// Checks that `key` is an Enabled ENCRYPT_DECRYPT key and that `algorithm` (the
    /// EncryptionAlgorithm member, SYMMETRIC_DEFAULT when absent) is one it supports.
    pub fn for_key(key: &LoadedKey, algorithm: Option<&str>) -> Result<Self, KmsError> {
        Kms::check_usable(key, model::ENCRYPT_DECRYPT)?;
        let requested = algorithm.unwrap_or(model::SYMMETRIC_DEFAULT);
        match key.kind()? {
            KeyKind::Symmetric if requested == model::SYMMETRIC_DEFAULT => Ok(Cipher::Symmetric),
            KeyKind::Asymmetric(spec) => match EncryptionAlgorithm::from_kms_name(requested) {
                Some(alg) if alg.is_valid_for(spec) => Ok(Cipher::Oaep(spec, alg)),
                _ => Err(incompatible(requested, key)),
            },
            _ => Err(incompatible(requested, key)),
        }
    }

    /// The EncryptionAlgorithm name.
    pub fn name(self) -> &'static str {
        match self {
            Cipher::Symmetric => model::SYMMETRIC_DEFAULT,
            Cipher::Oaep(_, alg) => alg.kms_name(),
        }
    }

    /// Asymmetric encryption takes no encryption context: AWS refuses one rather than ignore it.
    pub fn check_context(self, context: &EncryptionContext) -> Result<(), KmsError> {
        if matches!(self, Cipher::Oaep(..)) && !context.is_empty() {
            return Err(trent_wire::ApiError::validation(
                "EncryptionContext is not supported with asymmetric KMS keys.",
            )
            .into());
        }
        Ok(())
    }
}

fn incompatible(algorithm: &str, key: &LoadedKey) -> KmsError {
    KmsError::InvalidKeyUsage(format!(
        "Algorithm {algorithm} is incompatible with key spec {}.",
        key.record.key_spec
    ))
}

const INVALID: KmsError = KmsError::InvalidCiphertext(
    "The ciphertext is invalid, or was not encrypted under this encryption context.",
);

impl Kms {
    /// Encrypts `plaintext` under `key` with `cipher` (from [`Cipher::for_key`]). Returns the
    /// ciphertext and the id of the key material used.
    pub(crate) fn encrypt_with(
        &self,
        key: &LoadedKey,
        cipher: Cipher,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<(Vec<u8>, String), KmsError> {
        cipher.check_context(context)?;
        match cipher {
            Cipher::Symmetric => self.seal(key, plaintext, context),
            Cipher::Oaep(spec, alg) => {
                let limit = alg.max_plaintext_len(spec).unwrap_or_default();
                if plaintext.len() > limit {
                    return Err(trent_wire::ApiError::validation(format!(
                        "Plaintext is too long: {} with {} accepts at most {limit} bytes.",
                        alg.kms_name(),
                        spec.kms_name()
                    ))
                    .into());
                }
                let public = key.asymmetric_key()?.public_key_der();
                let ciphertext =
                    trent_crypto::asymmetric::oaep_encrypt(spec, public, alg, plaintext)?;
                Ok((ciphertext, key.record.current_material_id.clone()))
            }
        }
    }

    /// Decrypts a ciphertext: a symmetric blob (which names its key, so `key_id` is optional)
    /// or, when `key_id` names an RSA key, an RSAES-OAEP ciphertext with `algorithm`.
    pub(crate) async fn decrypt_any(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        context: &EncryptionContext,
        key_id: Option<&str>,
        algorithm: Option<&str>,
        access: &Access<'_>,
    ) -> Result<(Opened, Cipher), KmsError> {
        if let Some(id) = key_id {
            let key = self.resolve(caller, id, Aliases::Allowed, access).await?;
            if let KeyKind::Asymmetric(_) = key.kind()? {
                let cipher = Cipher::for_key(&key, algorithm)?;
                let opened = self.decrypt_oaep(key, cipher, ciphertext, context)?;
                return Ok((opened, cipher));
            }
        }
        let opened = self
            .open(caller, ciphertext, context, key_id, access)
            .await?;
        let cipher = Cipher::for_key(&opened.key, algorithm)?;
        Ok((opened, cipher))
    }

    fn decrypt_oaep(
        &self,
        key: Arc<LoadedKey>,
        cipher: Cipher,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Opened, KmsError> {
        let Cipher::Oaep(spec, alg) = cipher else {
            return Err(KmsError::Internal(
                "OAEP decryption with a symmetric cipher",
            ));
        };
        cipher.check_context(context)?;
        let material = key.current_material()?;
        let plaintext: SecretBytes =
            trent_crypto::asymmetric::oaep_decrypt(spec, &material.secret, alg, ciphertext)
                .map_err(|e| match e {
                    trent_crypto::Error::InvalidKeyMaterial => KmsError::Crypto(e),
                    _ => INVALID,
                })?;
        let material_id = material.id_hex.clone();
        Ok(Opened {
            key,
            plaintext,
            material_id,
        })
    }
}
