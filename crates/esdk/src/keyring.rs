//! Keyrings: raw AES, raw RSA, and the multi-keyring. On encrypt a keyring generates and/or
//! wraps the data key; on decrypt it recovers the data key from one encrypted data key.

use crate::context::{self, EncryptionContext};
use crate::{AlgorithmSuite, Error};
use trent_crypto::SecretBytes;
use trent_crypto::envelope::{AesGcmKey, RsaDecryptingKey, RsaEncryptingKey};

pub use trent_crypto::envelope::RsaPadding;

/// One encrypted copy of the data key, as stored in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedDataKey {
    pub provider_id: String,
    pub provider_info: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// What a keyring works on when a message is encrypted.
pub struct EncryptionMaterials {
    pub suite: AlgorithmSuite,
    /// The full encryption context: the caller's pairs (required ones included) plus
    /// `aws-crypto-public-key` for signed suites.
    pub encryption_context: EncryptionContext,
    /// The plaintext data key, once a keyring has generated it.
    pub data_key: Option<SecretBytes>,
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
}

impl EncryptionMaterials {
    /// The data key, generating a random one of the suite's length if none exists yet.
    pub fn data_key_or_generate(&mut self) -> Result<&SecretBytes, Error> {
        if self.data_key.is_none() {
            self.data_key = Some(SecretBytes::random(self.suite.key_len())?);
        }
        self.data_key
            .as_ref()
            .ok_or(Error::Internal("data key missing after generation"))
    }
}

/// Generates and wraps data keys (encrypt) and recovers them (decrypt).
pub trait Keyring {
    /// Adds this keyring's encrypted copy of the data key to `materials`, generating the data
    /// key first if there is none. Keyrings that only decrypt refuse.
    fn on_encrypt(&self, materials: &mut EncryptionMaterials) -> Result<(), Error> {
        let _ = materials;
        Err(Error::InvalidKeyring("this keyring cannot encrypt"))
    }

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
        check_namespace(namespace)?;
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
    fn on_encrypt(&self, materials: &mut EncryptionMaterials) -> Result<(), Error> {
        let aad = context::serialize(&materials.encryption_context)?;
        let iv: [u8; AES_IV_LEN] = trent_crypto::random_array()?;
        let mut ciphertext = materials.data_key_or_generate()?.expose_secret().to_vec();
        let tag = self
            .key
            .seal_in_place_separate_tag(iv, &aad, &mut ciphertext)?;
        ciphertext.extend_from_slice(&tag);
        let mut provider_info = self.name.as_bytes().to_vec();
        provider_info.extend_from_slice(&AES_TAG_BITS.to_be_bytes());
        provider_info.extend_from_slice(&12u32.to_be_bytes());
        provider_info.extend_from_slice(&iv);
        materials.encrypted_data_keys.push(EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info,
            ciphertext,
        });
        Ok(())
    }

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
    public: RsaEncryptingKey,
    private: Option<RsaDecryptingKey>,
}

impl RawRsaKeyring {
    /// A keyring for the DER PKCS#8 RSA private key `private_key_pkcs8`: it encrypts with
    /// the key's public half and decrypts.
    pub fn new(
        namespace: &str,
        name: &str,
        private_key_pkcs8: &SecretBytes,
        padding: RsaPadding,
    ) -> Result<Self, Error> {
        check_namespace(namespace)?;
        let private = RsaDecryptingKey::from_pkcs8(private_key_pkcs8)
            .map_err(|_| Error::InvalidKeyring("not a PKCS#8 RSA private key"))?;
        let public = RsaEncryptingKey::from_private_pkcs8(private_key_pkcs8)
            .map_err(|_| Error::InvalidKeyring("not a PKCS#8 RSA private key"))?;
        Ok(RawRsaKeyring {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            padding,
            public,
            private: Some(private),
        })
    }

    /// An encrypt-only keyring for the DER X.509 SubjectPublicKeyInfo RSA public key
    /// `public_key_der`.
    pub fn public_only(
        namespace: &str,
        name: &str,
        public_key_der: &[u8],
        padding: RsaPadding,
    ) -> Result<Self, Error> {
        check_namespace(namespace)?;
        let public = RsaEncryptingKey::from_spki_der(public_key_der)
            .map_err(|_| Error::InvalidKeyring("not a DER SubjectPublicKeyInfo RSA public key"))?;
        Ok(RawRsaKeyring {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            padding,
            public,
            private: None,
        })
    }
}

fn check_namespace(namespace: &str) -> Result<(), Error> {
    if namespace.starts_with("aws-kms") {
        return Err(Error::InvalidKeyring("namespace starts with aws-kms"));
    }
    Ok(())
}

impl Keyring for RawRsaKeyring {
    fn on_encrypt(&self, materials: &mut EncryptionMaterials) -> Result<(), Error> {
        let padding = self.padding;
        let ciphertext = self
            .public
            .encrypt(padding, materials.data_key_or_generate()?.expose_secret())
            .map_err(|_| Error::InvalidKeyring("RSA key too small for the data key"))?;
        materials.encrypted_data_keys.push(EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info: self.name.as_bytes().to_vec(),
            ciphertext,
        });
        Ok(())
    }

    fn decrypt_data_key(
        &self,
        suite: AlgorithmSuite,
        _encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<SecretBytes, Error> {
        let Some(key) = &self.private else {
            return Err(Error::NoDecryptableDataKey);
        };
        edks.iter()
            .filter(|edk| {
                edk.provider_id == self.namespace && edk.provider_info == self.name.as_bytes()
            })
            .filter_map(|edk| key.decrypt(self.padding, &edk.ciphertext).ok())
            .find(|key| key.len() == suite.key_len())
            .ok_or(Error::NoDecryptableDataKey)
    }
}

/// On encrypt the generator (if any) makes the data key and every child wraps it too; on
/// decrypt the generator, then each child in order, is tried and the first data key wins.
#[derive(Default)]
pub struct MultiKeyring {
    has_generator: bool,
    keyrings: Vec<Box<dyn Keyring + Send + Sync>>,
}

impl MultiKeyring {
    /// A multi-keyring over `generator` (if any) followed by `children`.
    pub fn new(
        generator: Option<Box<dyn Keyring + Send + Sync>>,
        children: Vec<Box<dyn Keyring + Send + Sync>>,
    ) -> Self {
        MultiKeyring {
            has_generator: generator.is_some(),
            keyrings: generator.into_iter().chain(children).collect(),
        }
    }
}

impl Keyring for MultiKeyring {
    fn on_encrypt(&self, materials: &mut EncryptionMaterials) -> Result<(), Error> {
        if self.has_generator && materials.data_key.is_some() {
            return Err(Error::InvalidKeyring(
                "a multi-keyring with a generator was given an existing data key",
            ));
        }
        if !self.has_generator && materials.data_key.is_none() {
            return Err(Error::InvalidKeyring(
                "a multi-keyring without a generator needs an existing data key",
            ));
        }
        // Every keyring must succeed: a message some wrapping key cannot open is an error.
        for keyring in &self.keyrings {
            keyring.on_encrypt(materials)?;
        }
        Ok(())
    }

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SUITE: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;

    /// An EDK as the raw AES keyring writes it, made with the crypto primitives directly.
    fn aes_edk(
        wrapping: &[u8],
        name: &str,
        ec: &EncryptionContext,
        data_key: &[u8],
    ) -> EncryptedDataKey {
        let iv = [7u8; 12];
        let mut ct = data_key.to_vec();
        let tag = AesGcmKey::new(wrapping)
            .unwrap()
            .seal_in_place_separate_tag(iv, &context::serialize(ec).unwrap(), &mut ct)
            .unwrap();
        ct.extend_from_slice(&tag);
        let mut info = name.as_bytes().to_vec();
        info.extend_from_slice(&128u32.to_be_bytes());
        info.extend_from_slice(&12u32.to_be_bytes());
        info.extend_from_slice(&iv);
        EncryptedDataKey {
            provider_id: "ns".into(),
            provider_info: info,
            ciphertext: ct,
        }
    }

    #[test]
    fn raw_aes_unwraps_with_every_key_size_and_binds_the_context() {
        let ec: EncryptionContext = [("a".to_owned(), "b".to_owned())].into();
        for len in [16, 24, 32] {
            let wrapping = vec![3u8; len];
            let keyring =
                RawAesKeyring::new("ns", "k", &SecretBytes::copy_from(&wrapping)).unwrap();
            let edk = aes_edk(&wrapping, "k", &ec, &[9; 32]);
            assert_eq!(edk.ciphertext.len(), 48);
            let got = keyring
                .decrypt_data_key(SUITE, &ec, std::slice::from_ref(&edk))
                .unwrap();
            assert_eq!(got.expose_secret(), &[9; 32]);
            let other_ec = EncryptionContext::new();
            assert!(
                keyring
                    .decrypt_data_key(SUITE, &other_ec, std::slice::from_ref(&edk))
                    .is_err()
            );
            let other_name = aes_edk(&wrapping, "k2", &ec, &[9; 32]);
            assert!(keyring.decrypt_data_key(SUITE, &ec, &[other_name]).is_err());
            let short = aes_edk(&wrapping, "k", &ec, &[9; 16]);
            assert!(keyring.decrypt_data_key(SUITE, &ec, &[short]).is_err());
        }
    }

    #[test]
    fn raw_keyrings_refuse_bad_configuration() {
        let key = SecretBytes::copy_from(&[0; 32]);
        assert!(RawAesKeyring::new("aws-kms", "k", &key).is_err());
        assert!(RawAesKeyring::new("aws-kms-x", "k", &key).is_err());
        assert!(RawAesKeyring::new("ns", "k", &SecretBytes::copy_from(&[0; 20])).is_err());
        assert!(RawRsaKeyring::new("ns", "k", &key, RsaPadding::Pkcs1).is_err());
    }

    #[test]
    fn multi_keyring_takes_the_first_success() {
        let ec = EncryptionContext::new();
        let a = vec![1u8; 32];
        let b = vec![2u8; 32];
        let ka = RawAesKeyring::new("ns", "a", &SecretBytes::copy_from(&a)).unwrap();
        let kb = RawAesKeyring::new("ns", "b", &SecretBytes::copy_from(&b)).unwrap();
        let multi = MultiKeyring::new(Some(Box::new(ka)), vec![Box::new(kb)]);
        let edk = aes_edk(&b, "b", &ec, &[5; 32]);
        let got = multi.decrypt_data_key(SUITE, &ec, &[edk]).unwrap();
        assert_eq!(got.expose_secret(), &[5; 32]);
        let none = MultiKeyring::new(None, vec![]);
        assert!(matches!(
            none.decrypt_data_key(SUITE, &ec, &[]),
            Err(Error::NoDecryptableDataKey)
        ));
    }
}
