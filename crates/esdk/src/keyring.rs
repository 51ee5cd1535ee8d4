//! Keyrings that recover the data key on decrypt: raw AES, raw RSA, and the multi-keyring.

use crate::context::{self, EncryptionContext};
use crate::{AlgorithmSuite, Error};
use trent_crypto::SecretBytes;
use trent_crypto::envelope::{AesGcmKey, RsaDecryptingKey};

pub use trent_crypto::envelope::RsaPadding;

/// One encrypted copy of the data key, as stored in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedDataKey {
    pub provider_id: String,
    pub provider_info: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Recovers the plaintext data key from one of a message's encrypted data keys.
pub trait Keyring {
    /// The data key (of `suite.key_len()` bytes) from the first EDK this keyring can decrypt,
    /// or [`Error::NoDecryptableDataKey`].
    fn decrypt_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<SecretBytes, Error>;
}

const AES_TAG_BITS: u32 = 128;
const AES_IV_LEN: usize = 12;

/// The raw AES keyring: data keys wrapped with AES-GCM under a local 128-, 192- or 256-bit
/// key, with the serialized encryption context as AAD.
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    key: AesGcmKey,
}

impl RawAesKeyring {
    /// A keyring for the wrapping key `key` (16, 24 or 32 bytes) named `namespace`/`name`.
    /// Namespaces starting with `aws-kms` are reserved.
    pub fn new(namespace: &str, name: &str, key: &SecretBytes) -> Result<Self, Error> {
        if namespace.starts_with("aws-kms") {
            return Err(Error::InvalidKeyring("namespace starts with aws-kms"));
        }
        let key = AesGcmKey::new(key.expose_secret())
            .map_err(|_| Error::InvalidKeyring("AES wrapping key must be 16, 24 or 32 bytes"))?;
        Ok(RawAesKeyring {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key,
        })
    }

    fn try_edk(
        &self,
        suite: AlgorithmSuite,
        aad: &[u8],
        edk: &EncryptedDataKey,
    ) -> Option<SecretBytes> {
        if edk.provider_id != self.namespace {
            return None;
        }
        // providerInfo = keyName ‖ u32 tagLenBits ‖ u32 ivLen ‖ IV
        let rest = edk.provider_info.strip_prefix(self.name.as_bytes())?;
        let (tag_bits, rest) = rest.split_first_chunk::<4>()?;
        let (iv_len, iv) = rest.split_first_chunk::<4>()?;
        if u32::from_be_bytes(*tag_bits) != AES_TAG_BITS
            || u32::from_be_bytes(*iv_len) != 12
            || iv.len() != AES_IV_LEN
        {
            return None;
        }
        let iv: [u8; AES_IV_LEN] = iv.try_into().ok()?;
        let split = edk.ciphertext.len().checked_sub(16)?;
        let (ct, tag) = edk.ciphertext.split_at_checked(split)?;
        if ct.len() != suite.key_len() {
            return None;
        }
        self.key.open_separate_tag(iv, aad, ct, tag).ok()
    }
}

impl Keyring for RawAesKeyring {
    fn decrypt_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<SecretBytes, Error> {
        let aad = context::serialize(encryption_context)?;
        edks.iter()
            .find_map(|edk| self.try_edk(suite, &aad, edk))
            .ok_or(Error::NoDecryptableDataKey)
    }
}

/// The raw RSA keyring: data keys encrypted to a local RSA key with PKCS#1 v1.5 or OAEP
/// (MGF1 with the OAEP hash). The encryption context is not bound.
pub struct RawRsaKeyring {
    namespace: String,
    name: String,
    padding: RsaPadding,
    key: RsaDecryptingKey,
}

impl RawRsaKeyring {
    /// A keyring for the DER PKCS#8 RSA private key `private_key_pkcs8`.
    pub fn new(
        namespace: &str,
        name: &str,
        private_key_pkcs8: &SecretBytes,
        padding: RsaPadding,
    ) -> Result<Self, Error> {
        if namespace.starts_with("aws-kms") {
            return Err(Error::InvalidKeyring("namespace starts with aws-kms"));
        }
        let key = RsaDecryptingKey::from_pkcs8(private_key_pkcs8)
            .map_err(|_| Error::InvalidKeyring("not a PKCS#8 RSA private key"))?;
        Ok(RawRsaKeyring {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            padding,
            key,
        })
    }
}

impl Keyring for RawRsaKeyring {
    fn decrypt_data_key(
        &self,
        suite: AlgorithmSuite,
        _encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<SecretBytes, Error> {
        edks.iter()
            .filter(|edk| {
                edk.provider_id == self.namespace && edk.provider_info == self.name.as_bytes()
            })
            .filter_map(|edk| self.key.decrypt(self.padding, &edk.ciphertext).ok())
            .find(|key| key.len() == suite.key_len())
            .ok_or(Error::NoDecryptableDataKey)
    }
}

/// Tries a generator keyring, then each child in order; the first data key wins.
#[derive(Default)]
pub struct MultiKeyring {
    keyrings: Vec<Box<dyn Keyring + Send + Sync>>,
}

impl MultiKeyring {
    /// A multi-keyring over `generator` (if any) followed by `children`.
    pub fn new(
        generator: Option<Box<dyn Keyring + Send + Sync>>,
        children: Vec<Box<dyn Keyring + Send + Sync>>,
    ) -> Self {
        MultiKeyring {
            keyrings: generator.into_iter().chain(children).collect(),
        }
    }
}

impl Keyring for MultiKeyring {
    fn decrypt_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<SecretBytes, Error> {
        for keyring in &self.keyrings {
            if let Ok(key) = keyring.decrypt_data_key(suite, encryption_context, edks) {
                return Ok(key);
            }
        }
        Err(Error::NoDecryptableDataKey)
    }
}
