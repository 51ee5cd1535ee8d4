//! Imported key material: keys with Origin `EXTERNAL`.
//!
//! Such a key is created without material, in `PendingImport`. GetParametersForImport issues an
//! RSA wrapping key and an import token; ImportKeyMaterial unwraps the caller's material with the
//! token's private key, checks it against the key spec and installs it; DeleteImportedKeyMaterial
//! and expiry take it away again. The operations live in `ops/`; what they share is here.
//!
//! Identity of material: its id is HMAC-SHA-256 keyed with the material itself over the key's
//! identity. It is deterministic, so re-importing the same material gives the same id (and old
//! ciphertexts, whose blobs name that id, decrypt again), and importing other material gives
//! another id, which is how "not the key's material" is detected even after the material was
//! deleted. Being keyed by the material, the id reveals nothing about it.

use trent_crypto::{AsymmetricSpec, MacAlgorithm, SecretBytes};
use trent_store::{KeyMaterial, KeyRecord, Scope, StoreError};

use crate::model::{self, KeyMetadata, KeyState};
use crate::{DAY_MS, Kms, KmsError, LoadedKey, UPDATE_RETRIES};

/// The origin of keys for imported material.
pub(crate) const EXTERNAL: &str = "EXTERNAL";
/// How long import parameters stay valid.
pub(crate) const PARAMETERS_VALID_MS: i64 = DAY_MS;
/// Import parameters are kept this long after they expire, so that a late ImportKeyMaterial
/// hears `ExpiredImportTokenException` rather than `InvalidImportTokenException`; then purged.
const PARAMETERS_KEPT_AFTER_EXPIRY_MS: i64 = 7 * DAY_MS;
/// The latest expiry ImportKeyMaterial accepts, counted from the request.
pub(crate) const MAX_VALID_TO_MS: i64 = 365 * DAY_MS;

pub(crate) const KEY_MATERIAL_EXPIRES: &str = "KEY_MATERIAL_EXPIRES";
pub(crate) const KEY_MATERIAL_DOES_NOT_EXPIRE: &str = "KEY_MATERIAL_DOES_NOT_EXPIRE";

const MATERIAL_ID_INFO: &[u8] = b"trent kms imported key material id v1";

/// What material a key spec takes when it is imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MaterialKind {
    /// 256 bits, raw.
    Symmetric,
    /// A raw HMAC key of the lengths AWS accepts for the spec.
    Hmac(MacAlgorithm),
    /// A PKCS#8 private key of the spec.
    Asymmetric(AsymmetricSpec),
}

impl MaterialKind {
    pub fn of(key_spec: &str) -> Option<Self> {
        if key_spec == model::SYMMETRIC_DEFAULT {
            return Some(MaterialKind::Symmetric);
        }
        if let Some(alg) = MacAlgorithm::from_key_spec(key_spec) {
            return Some(MaterialKind::Hmac(alg));
        }
        AsymmetricSpec::from_kms_name(key_spec).map(MaterialKind::Asymmetric)
    }

    /// Checks unwrapped material against the key spec. The message names the rule, never the
    /// material.
    pub fn check(self, arn: &str, material: &SecretBytes) -> Result<(), KmsError> {
        let (min, max) = match self {
            MaterialKind::Symmetric => (32, 32),
            MaterialKind::Hmac(alg) => hmac_material_lengths(alg),
            MaterialKind::Asymmetric(spec) => {
                return trent_crypto::asymmetric::check_private_key(spec, material).map_err(|_| {
                    KmsError::IncorrectKeyMaterial(format!(
                        "The imported key material is not a PKCS#8 private key of key spec {} \
                             as {arn} requires.",
                        spec.kms_name()
                    ))
                });
            }
        };
        if (min..=max).contains(&material.len()) {
            return Ok(());
        }
        Err(KmsError::IncorrectKeyMaterial(if min == max {
            format!("The imported key material for {arn} must be {min} bytes long.")
        } else {
            format!("The imported key material for {arn} must be {min} to {max} bytes long.")
        }))
    }
}

/// The key lengths AWS accepts for imported HMAC material: from the hash output length up to the
/// hash block size.
fn hmac_material_lengths(alg: MacAlgorithm) -> (usize, usize) {
    match alg {
        MacAlgorithm::HmacSha224 => (28, 64),
        MacAlgorithm::HmacSha256 => (32, 64),
        MacAlgorithm::HmacSha384 => (48, 128),
        MacAlgorithm::HmacSha512 => (64, 128),
    }
}

/// The material id of `material` imported into the key `key_id` (64 hex digits).
pub(crate) fn material_id(scope: &Scope, key_id: &str, material: &SecretBytes) -> String {
    let mut data = Vec::with_capacity(MATERIAL_ID_INFO.len() + 64 + key_id.len());
    data.extend_from_slice(MATERIAL_ID_INFO);
    // The keys of a multi-Region set share their material and its id, so the region only
    // counts for single-Region keys.
    let region = if key_id.starts_with("mrk-") {
        ""
    } else {
        scope.region.as_str()
    };
    for part in [scope.account_id.as_str(), region, key_id] {
        // Length-prefixed, so the encoding is injective.
        data.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        data.extend_from_slice(part.as_bytes());
    }
    trent_crypto::hex(&trent_crypto::hmac_sha256(material.expose_secret(), &data))
}

/// Import operations answer UnsupportedOperationException for keys of another origin.
pub(crate) fn check_external(key: &LoadedKey) -> Result<(), KmsError> {
    if key.record.origin == EXTERNAL {
        Ok(())
    } else {
        Err(KmsError::UnsupportedOperation(format!(
            "{} origin is {} which is not valid for this operation.",
            key.arn, key.record.origin
        )))
    }
}

/// CreateKey with Origin EXTERNAL: the key as CreateKey built it, but without material and in
/// PendingImport.
pub(crate) async fn create_external_key(
    kms: &Kms,
    mut record: KeyRecord,
) -> Result<KeyMetadata, KmsError> {
    if MaterialKind::of(&record.key_spec).is_none() {
        return Err(KmsError::UnsupportedOperation(format!(
            "KeySpec {} does not support imported key material.",
            record.key_spec
        )));
    }
    record.state = KeyState::PendingImport.as_str().to_string();
    record.current_material_id = String::new();
    record.valid_to_ms = None;
    record.expiration_model = None;
    kms.store().create_key(&record, None).await?;
    kms.key_metadata(&record).await
}

impl Kms {
    /// Deletes imported material whose expiry has come, moving its key to PendingImport (keys
    /// pending deletion stay so), and purges long-expired import parameters. Returns how many
    /// keys lost their material.
    pub async fn expire_imported_material(&self) -> Result<usize, KmsError> {
        let now = self.now_ms();
        self.store
            .delete_import_parameters_before(now.saturating_sub(PARAMETERS_KEPT_AFTER_EXPIRY_MS))
            .await?;
        let due = self.store.keys_with_expired_material(now).await?;
        let mut expired = 0;
        for (scope, key_id) in &due {
            let Some(key) = self.load(scope, key_id).await? else {
                continue;
            };
            // One key that cannot be handled must not keep the others' material alive.
            match self.delete_imported_material(&key, Some(now)).await {
                Ok(Some(_)) => {
                    expired += 1;
                    tracing::info!(key_arn = %key.arn, "deleted imported key material at its expiry");
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(key_arn = %key.arn, error = %e, "could not delete expired imported key material");
                }
            }
        }
        Ok(expired)
    }

    /// Deletes a key's imported material: the key goes to PendingImport unless it is pending
    /// deletion. With `expired_at`, only if the stored expiry is at or before it (the expiry job;
    /// a re-import may have moved it). Returns the updated record, or `None` if nothing was due.
    pub(crate) async fn delete_imported_material(
        &self,
        key: &LoadedKey,
        expired_at: Option<i64>,
    ) -> Result<Option<KeyRecord>, KmsError> {
        let scope = &key.record.scope;
        for _ in 0..UPDATE_RETRIES {
            let mut record = self.committed_record(key).await?;
            if let Some(at) = expired_at
                && record.valid_to_ms.is_none_or(|t| t > at)
            {
                return Ok(None);
            }
            match KeyState::parse(&record.state)? {
                KeyState::Enabled | KeyState::Disabled => {
                    record.state = KeyState::PendingImport.as_str().to_string();
                }
                KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => {}
                // No material to delete.
                KeyState::PendingImport => return Ok(Some(record)),
                other => return Err(other.invalid_state_error(&key.arn)),
            }
            record.valid_to_ms = None;
            record.expiration_model = None;
            match self.store.delete_key_materials(&record).await {
                Ok(version) => {
                    record.version = version;
                    self.forget_key(scope, &key.record.key_id);
                    return Ok(Some(record));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(KmsError::Internal("too many concurrent updates to one key"))
    }

    /// Installs imported material. `change` sees the freshest stored record, makes the state and
    /// identity checks against it and sets the new fields.
    pub(crate) async fn install_imported_material(
        &self,
        key: &LoadedKey,
        material: &KeyMaterial,
        mut change: impl FnMut(&mut KeyRecord) -> Result<(), KmsError>,
    ) -> Result<KeyRecord, KmsError> {
        let scope = &key.record.scope;
        for _ in 0..UPDATE_RETRIES {
            let mut record = self.committed_record(key).await?;
            change(&mut record)?;
            match self.store.put_imported_material(&record, material).await {
                Ok(version) => {
                    record.version = version;
                    self.forget_key(scope, &key.record.key_id);
                    return Ok(record);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(KmsError::Internal("too many concurrent updates to one key"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn material_ids_are_deterministic_per_key_and_material() {
        let scope = Scope::new("111122223333", "us-east-1");
        let m = SecretBytes::copy_from(&[1u8; 32]);
        let id = material_id(&scope, "k1", &m);
        assert_eq!(id.len(), 64);
        assert_eq!(
            id,
            material_id(&scope, "k1", &SecretBytes::copy_from(&[1u8; 32]))
        );
        assert_ne!(id, material_id(&scope, "k2", &m));
        assert_ne!(
            id,
            material_id(&Scope::new("111122223333", "us-west-2"), "k1", &m)
        );
        assert_ne!(
            id,
            material_id(&scope, "k1", &SecretBytes::copy_from(&[2u8; 32]))
        );
    }

    #[test]
    fn material_checks_follow_the_key_spec() {
        let arn = "arn";
        let sym = MaterialKind::of("SYMMETRIC_DEFAULT").unwrap();
        assert!(sym.check(arn, &SecretBytes::copy_from(&[0u8; 32])).is_ok());
        for bad in [16, 31, 33, 64] {
            assert!(matches!(
                sym.check(arn, &SecretBytes::copy_from(&vec![0u8; bad])),
                Err(KmsError::IncorrectKeyMaterial(_))
            ));
        }
        for (spec, min, max) in [
            ("HMAC_224", 28, 64),
            ("HMAC_256", 32, 64),
            ("HMAC_384", 48, 128),
            ("HMAC_512", 64, 128),
        ] {
            let kind = MaterialKind::of(spec).unwrap();
            for len in [min, max] {
                assert!(
                    kind.check(arn, &SecretBytes::copy_from(&vec![0u8; len]))
                        .is_ok()
                );
            }
            for len in [min - 1, max + 1] {
                assert!(
                    kind.check(arn, &SecretBytes::copy_from(&vec![0u8; len]))
                        .is_err(),
                    "{spec} {len}"
                );
            }
        }
        let ec = MaterialKind::of("ECC_NIST_P256").unwrap();
        let p256 = trent_crypto::asymmetric::generate(AsymmetricSpec::EccP256).unwrap();
        assert!(ec.check(arn, &p256).is_ok());
        let p384 = trent_crypto::asymmetric::generate(AsymmetricSpec::EccP384).unwrap();
        assert!(ec.check(arn, &p384).is_err());
        assert!(ec.check(arn, &SecretBytes::copy_from(&[0u8; 32])).is_err());
        assert!(MaterialKind::of("SM2").is_none());
    }
}
