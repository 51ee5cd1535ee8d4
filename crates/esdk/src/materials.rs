//! Cryptographic materials managers: where an encryptor gets its data key, encrypted data keys
//! and signing key. [`DefaultMaterialsManager`] asks a keyring every time;
//! [`CachingMaterialsManager`] reuses materials within limits.

use crate::context::{self, EncryptionContext, PUBLIC_KEY_FIELD};
use crate::keyring::{EncryptedDataKey, EncryptionMaterials, Keyring};
use crate::suite::Kdf;
use crate::{AlgorithmSuite, Error};
use base64::Engine as _;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trent_crypto::SecretBytes;
use trent_crypto::envelope::{EcdsaSigningKey, HashAlgorithm, Hasher};

/// What an encryptor asks for.
pub struct MaterialsRequest<'a> {
    pub suite: AlgorithmSuite,
    /// The caller's encryption context (no `aws-crypto-` keys).
    pub encryption_context: &'a EncryptionContext,
    /// The plaintext size, when known.
    pub plaintext_length: Option<u64>,
}

/// Everything needed to write one message's header and footer.
pub struct Materials {
    /// The full encryption context: the caller's plus `aws-crypto-public-key` for signed
    /// suites.
    pub encryption_context: EncryptionContext,
    pub data_key: SecretBytes,
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// For signed suites.
    pub signing_key: Option<Arc<EcdsaSigningKey>>,
}

impl Materials {
    fn duplicate(&self) -> Materials {
        Materials {
            encryption_context: self.encryption_context.clone(),
            data_key: self.data_key.duplicate(),
            encrypted_data_keys: self.encrypted_data_keys.clone(),
            signing_key: self.signing_key.clone(),
        }
    }
}

/// Supplies encryption materials.
pub trait MaterialsManager {
    fn encryption_materials(&self, request: &MaterialsRequest<'_>) -> Result<Materials, Error>;
}

/// The default materials manager: a fresh signing key (signed suites) and data key per
/// message, from the keyring.
pub struct DefaultMaterialsManager<'a>(pub &'a dyn Keyring);

impl MaterialsManager for DefaultMaterialsManager<'_> {
    fn encryption_materials(&self, request: &MaterialsRequest<'_>) -> Result<Materials, Error> {
        let mut full_ec = request.encryption_context.clone();
        let signing_key = match request.suite.signature() {
            Some(curve) => {
                let key = EcdsaSigningKey::generate(curve)?;
                let point = key.compressed_public_point()?;
                full_ec.insert(
                    PUBLIC_KEY_FIELD.to_owned(),
                    base64::engine::general_purpose::STANDARD.encode(point),
                );
                Some(Arc::new(key))
            }
            None => None,
        };
        let mut materials = EncryptionMaterials {
            suite: request.suite,
            encryption_context: full_ec,
            data_key: None,
            encrypted_data_keys: Vec::new(),
        };
        self.0.on_encrypt(&mut materials)?;
        let data_key = materials
            .data_key
            .take()
            .ok_or(Error::InvalidKeyring("the keyring produced no data key"))?;
        Ok(Materials {
            encryption_context: materials.encryption_context,
            data_key,
            encrypted_data_keys: materials.encrypted_data_keys,
            signing_key,
        })
    }
}

/// Limits of a [`CachingMaterialsManager`].
#[derive(Debug, Clone)]
pub struct CacheLimits {
    /// Entries older than this are not used (must be more than zero).
    pub max_age: Duration,
    /// Messages encrypted with one entry.
    pub max_messages: u64,
    /// Plaintext bytes encrypted with one entry. Messages of unknown size, or of this size or
    /// more, bypass the cache.
    pub max_bytes: u64,
    /// Entries kept; the least recently used is evicted.
    pub capacity: NonZeroUsize,
}

struct Entry {
    materials: Materials,
    created: Instant,
    messages: u64,
    bytes: u64,
    last_used: u64,
}

/// Reuses encryption materials (data key, encrypted data keys, signing key) for messages with
/// the same suite and encryption context, within [`CacheLimits`], so that N messages need one
/// keyring call. Entries are shared only within one partition name. Suites without a KDF are
/// never cached. Evicted entries are dropped, which zeroizes their data key.
pub struct CachingMaterialsManager {
    keyring: Box<dyn Keyring + Send + Sync>,
    partition_hash: Vec<u8>,
    limits: CacheLimits,
    entries: Mutex<(HashMap<Vec<u8>, Entry>, u64)>,
}

fn sha512(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Hasher::new(HashAlgorithm::Sha512);
    for p in parts {
        h.update(p);
    }
    h.finish()
}

impl CachingMaterialsManager {
    /// A caching manager over `keyring` in partition `partition` (a random one if `None`).
    pub fn new(
        keyring: Box<dyn Keyring + Send + Sync>,
        partition: Option<&str>,
        limits: CacheLimits,
    ) -> Result<Self, Error> {
        if limits.max_age.is_zero() {
            return Err(Error::InvalidRequest(
                "the cache's maximum age must be positive",
            ));
        }
        if limits.max_messages == 0 {
            return Err(Error::InvalidRequest(
                "the cache's message limit must be positive",
            ));
        }
        let partition = match partition {
            Some(p) => p.as_bytes().to_vec(),
            None => trent_crypto::random_array::<16>()?.to_vec(),
        };
        Ok(CachingMaterialsManager {
            keyring,
            partition_hash: sha512(&[&partition]),
            limits,
            entries: Mutex::new((HashMap::new(), 0)),
        })
    }

    /// The number of entries held (expired ones included until they are looked up).
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.0.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl MaterialsManager for CachingMaterialsManager {
    fn encryption_materials(&self, request: &MaterialsRequest<'_>) -> Result<Materials, Error> {
        let fresh = || DefaultMaterialsManager(self.keyring.as_ref()).encryption_materials(request);
        let len = match request.plaintext_length {
            Some(len) if len < self.limits.max_bytes => len,
            _ => return fresh(),
        };
        if request.suite.kdf() == Kdf::Identity {
            return fresh();
        }
        let ec_hash = sha512(&[&context::serialize(request.encryption_context)?]);
        let id = sha512(&[
            &self.partition_hash,
            &[1u8],
            &request.suite.id().to_be_bytes(),
            &ec_hash,
        ]);
        {
            let mut guard = self
                .entries
                .lock()
                .map_err(|_| Error::Internal("materials cache lock poisoned"))?;
            let (entries, tick) = &mut *guard;
            *tick += 1;
            let now = *tick;
            if let Some(entry) = entries.get_mut(&id) {
                let usable = entry.created.elapsed() < self.limits.max_age
                    && entry.messages < self.limits.max_messages
                    && entry
                        .bytes
                        .checked_add(len)
                        .is_some_and(|b| b <= self.limits.max_bytes);
                if usable {
                    entry.messages += 1;
                    entry.bytes += len;
                    entry.last_used = now;
                    return Ok(entry.materials.duplicate());
                }
                // Past a limit: evicted (dropping it zeroizes the data key).
                entries.remove(&id);
            }
        }
        let materials = fresh()?;
        let mut guard = self
            .entries
            .lock()
            .map_err(|_| Error::Internal("materials cache lock poisoned"))?;
        let (entries, tick) = &mut *guard;
        entries.retain(|_, e| e.created.elapsed() < self.limits.max_age);
        while entries.len() >= self.limits.capacity.get() {
            let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            entries.remove(&oldest);
        }
        entries.insert(
            id,
            Entry {
                materials: materials.duplicate(),
                created: Instant::now(),
                messages: 1,
                bytes: len,
                last_used: *tick,
            },
        );
        Ok(materials)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::keyring::RawAesKeyring;
    use crate::{ClientConfig, DecryptRequest, EncryptRequest, MessageEncryptor, decrypt};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A raw AES keyring that counts data keys generated.
    struct Counting(RawAesKeyring, Arc<AtomicUsize>);

    impl Keyring for Counting {
        fn on_encrypt(&self, m: &mut EncryptionMaterials) -> Result<(), Error> {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.on_encrypt(m)
        }
        fn decrypt_data_key(
            &self,
            s: AlgorithmSuite,
            ec: &EncryptionContext,
            e: &[EncryptedDataKey],
        ) -> Result<SecretBytes, Error> {
            self.0.decrypt_data_key(s, ec, e)
        }
    }

    fn aes() -> RawAesKeyring {
        RawAesKeyring::new("ns", "k", &SecretBytes::copy_from(&[1; 32])).unwrap()
    }

    fn cmm(
        limits: CacheLimits,
        partition: Option<&str>,
    ) -> (CachingMaterialsManager, Arc<AtomicUsize>) {
        let n = Arc::new(AtomicUsize::new(0));
        let c =
            CachingMaterialsManager::new(Box::new(Counting(aes(), n.clone())), partition, limits)
                .unwrap();
        (c, n)
    }

    fn limits() -> CacheLimits {
        CacheLimits {
            max_age: Duration::from_secs(60),
            max_messages: 3,
            max_bytes: 1000,
            capacity: NonZeroUsize::new(2).unwrap(),
        }
    }

    fn encrypt_with(
        c: &CachingMaterialsManager,
        ec: &[(&str, &str)],
        pt: &[u8],
        suite: u16,
    ) -> Vec<u8> {
        let request = EncryptRequest {
            encryption_context: ec.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect(),
            suite: AlgorithmSuite::from_id(suite),
            ..Default::default()
        };
        let config = ClientConfig {
            commitment_policy: if suite >= 0x0478 {
                crate::CommitmentPolicy::RequireEncryptRequireDecrypt
            } else {
                crate::CommitmentPolicy::ForbidEncryptAllowDecrypt
            },
            max_encrypted_data_keys: None,
        };
        let mut enc =
            MessageEncryptor::with_materials_manager(&config, c, &request, Some(pt.len() as u64))
                .unwrap();
        let mut out = enc.header().to_vec();
        enc.finish(pt, &mut out).unwrap();
        let back = decrypt(&config, &aes(), &DecryptRequest::default(), &out).unwrap();
        assert_eq!(back.plaintext.expose_secret(), pt);
        out
    }

    #[test]
    fn message_and_byte_limits_context_and_partition() {
        let (c, n) = cmm(limits(), Some("p"));
        for _ in 0..3 {
            encrypt_with(&c, &[("a", "1")], b"hello", 0x0578);
        }
        assert_eq!(n.load(Ordering::SeqCst), 1, "three messages, one data key");
        encrypt_with(&c, &[("a", "1")], b"hello", 0x0578);
        assert_eq!(
            n.load(Ordering::SeqCst),
            2,
            "the message limit starts a new entry"
        );
        // Another context or suite is another entry.
        encrypt_with(&c, &[("a", "2")], b"hello", 0x0578);
        encrypt_with(&c, &[("a", "1")], b"hello", 0x0478);
        assert_eq!(n.load(Ordering::SeqCst), 4);
        // Capacity 2: the least recently used entry was evicted.
        assert_eq!(c.len(), 2);
        // Bytes: 600 + 600 > 1000 needs a new key; messages >= the limit bypass the cache.
        let (c, n) = cmm(limits(), None);
        encrypt_with(&c, &[], &[0; 600], 0x0478);
        encrypt_with(&c, &[], &[0; 300], 0x0478);
        assert_eq!(n.load(Ordering::SeqCst), 1);
        encrypt_with(&c, &[], &[0; 600], 0x0478);
        assert_eq!(n.load(Ordering::SeqCst), 2);
        encrypt_with(&c, &[], &[0; 1000], 0x0478);
        encrypt_with(&c, &[], &[0; 1000], 0x0478);
        assert_eq!(n.load(Ordering::SeqCst), 4);
        // Identity-KDF suites are never cached.
        let (c, n) = cmm(limits(), None);
        encrypt_with(&c, &[], b"x", 0x0078);
        encrypt_with(&c, &[], b"x", 0x0078);
        assert_eq!(n.load(Ordering::SeqCst), 2);
        assert!(c.is_empty());
    }

    #[test]
    fn max_age_expires_entries() {
        let (c, n) = cmm(
            CacheLimits {
                max_age: Duration::from_millis(50),
                ..limits()
            },
            None,
        );
        let first = encrypt_with(&c, &[], b"x", 0x0578);
        let second = encrypt_with(&c, &[], b"x", 0x0578);
        assert_eq!(n.load(Ordering::SeqCst), 1);
        // The same signing key: the same aws-crypto-public-key in both headers.
        let ec = |m: &[u8]| crate::Header::parse(m).unwrap().encryption_context;
        assert_eq!(ec(&first), ec(&second));
        std::thread::sleep(Duration::from_millis(80));
        let third = encrypt_with(&c, &[], b"x", 0x0578);
        assert_eq!(n.load(Ordering::SeqCst), 2);
        assert_ne!(ec(&first), ec(&third));
        assert!(
            CachingMaterialsManager::new(
                Box::new(aes()),
                None,
                CacheLimits {
                    max_age: Duration::ZERO,
                    ..limits()
                }
            )
            .is_err()
        );
    }
}
