//! Decryption of a whole message held in memory.

use crate::context::{self, EncryptionContext, PUBLIC_KEY_FIELD};
use crate::header::{ContentType, Header};
use crate::keyring::Keyring;
use crate::reader::Reader;
use crate::suite::Kdf;
use crate::{AlgorithmSuite, Error};
use base64::Engine as _;
use std::num::NonZeroU16;
use trent_crypto::envelope::{AesGcmKey, Hasher, ecdsa_verify_prehashed, hkdf};
use trent_crypto::{SecretBytes, constant_time_eq};
use zeroize::Zeroizing;

/// Which suites may be written and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitmentPolicy {
    /// Only committing suites (0x0478, 0x0578) are decrypted. The default.
    #[default]
    RequireEncryptRequireDecrypt,
    /// Any suite is decrypted.
    RequireEncryptAllowDecrypt,
    /// Any suite is decrypted.
    ForbidEncryptAllowDecrypt,
}

impl CommitmentPolicy {
    /// Whether messages may be written with `suite`.
    pub fn allows_encrypt(self, suite: AlgorithmSuite) -> bool {
        match self {
            CommitmentPolicy::RequireEncryptRequireDecrypt
            | CommitmentPolicy::RequireEncryptAllowDecrypt => suite.is_committing(),
            CommitmentPolicy::ForbidEncryptAllowDecrypt => !suite.is_committing(),
        }
    }

    /// The suite written when the caller names none: 0x0578 for the two requiring policies,
    /// 0x0378 (as the Python SDK) when commitment is forbidden.
    pub fn default_suite(self) -> AlgorithmSuite {
        match self {
            CommitmentPolicy::RequireEncryptRequireDecrypt
            | CommitmentPolicy::RequireEncryptAllowDecrypt => {
                AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384
            }
            CommitmentPolicy::ForbidEncryptAllowDecrypt => {
                AlgorithmSuite::Aes256GcmIv12Tag16HkdfSha384EcdsaP384
            }
        }
    }

    fn allows_decrypt(self, suite: AlgorithmSuite) -> bool {
        match self {
            CommitmentPolicy::RequireEncryptRequireDecrypt => suite.is_committing(),
            CommitmentPolicy::RequireEncryptAllowDecrypt
            | CommitmentPolicy::ForbidEncryptAllowDecrypt => true,
        }
    }
}

/// Client settings, shared by encryption and decryption.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientConfig {
    pub commitment_policy: CommitmentPolicy,
    /// Decrypt refuses messages with more encrypted data keys than this, before any keyring is
    /// called; encrypt fails if the keyrings produce more. `None`: no limit.
    pub max_encrypted_data_keys: Option<NonZeroU16>,
}

/// Client settings for decryption.
pub type DecryptConfig = ClientConfig;

/// What the caller supplies besides the message and keyring.
#[derive(Debug, Clone, Default)]
pub struct DecryptRequest {
    /// The reproduced encryption context. Pairs also stored in the header must have equal
    /// values; pairs missing from the header are the required encryption context, which
    /// authenticates the header without being stored in it.
    pub encryption_context: EncryptionContext,
    /// The required-encryption-context CMM's keys: each must be in `encryption_context` and
    /// absent from the header. Empty for the default CMM.
    pub required_encryption_context_keys: Vec<String>,
}

/// A decrypted message.
pub struct Decrypted {
    pub plaintext: SecretBytes,
    pub header: Header,
    /// The full encryption context: the header's plus the required pairs.
    pub encryption_context: EncryptionContext,
}

pub(crate) const FINAL_FRAME_MARK: u32 = 0xFFFF_FFFF;
pub(crate) const MAX_NON_FRAMED_LEN: u64 = (1 << 36) - 32;
pub(crate) const FRAME_STRING: &[u8] = b"AWSKMSEncryptionClient Frame";
pub(crate) const FINAL_FRAME_STRING: &[u8] = b"AWSKMSEncryptionClient Final Frame";
pub(crate) const SINGLE_BLOCK_STRING: &[u8] = b"AWSKMSEncryptionClient Single Block";

/// Decrypts a complete message. No plaintext is returned unless the header, every frame and
/// (for signed suites) the footer signature verify.
pub fn decrypt(
    config: &DecryptConfig,
    keyring: &dyn Keyring,
    request: &DecryptRequest,
    message: &[u8],
) -> Result<Decrypted, Error> {
    let header = Header::parse(message)?;
    let header_bytes = message.get(..header.len).ok_or(Error::Truncated)?;
    let Opened {
        key,
        encryption_context: full_ec,
        verification_key,
    } = open_header(config, keyring, request, &header, header_bytes)?;
    let suite = header.suite;

    let rest = message.get(header.len..).ok_or(Error::Truncated)?;
    let mut r = Reader::new(rest);
    // Capacity for the whole remainder, so the buffer never reallocates (and never leaves an
    // unzeroized copy of plaintext behind).
    let mut plaintext = Zeroizing::new(Vec::with_capacity(rest.len()));
    match header.content_type {
        ContentType::Framed => decrypt_frames(&header, &key, &mut r, &mut plaintext)?,
        ContentType::NonFramed => decrypt_single_block(&header, &key, &mut r, &mut plaintext)?,
    }
    let signed_len = header.len + r.position();

    if let (Some(curve), Some(point)) = (suite.signature(), verification_key) {
        let sig = r.u16_prefixed()?;
        let mut hasher = Hasher::new(curve.hash());
        hasher.update(message.get(..signed_len).ok_or(Error::Truncated)?);
        let digest = hasher.finish();
        let ok = ecdsa_verify_prehashed(curve, &point, &digest, sig)
            .map_err(|_| Error::Malformed("aws-crypto-public-key is not a valid point"))?;
        if !ok {
            return Err(Error::Signature);
        }
    }
    if !r.is_empty() {
        return Err(Error::TrailingBytes);
    }
    Ok(Decrypted {
        plaintext: SecretBytes::new(std::mem::take(&mut *plaintext)),
        header,
        encryption_context: full_ec,
    })
}

/// What a verified header yields: the content key, the full encryption context and (for
/// signed suites) the footer's verification key.
pub(crate) struct Opened {
    pub(crate) key: AesGcmKey,
    pub(crate) encryption_context: EncryptionContext,
    pub(crate) verification_key: Option<Vec<u8>>,
}

/// Checks a parsed header against the settings and request, recovers the data key, and
/// verifies the commitment and header tag. `header_bytes` is the serialized header.
pub(crate) fn open_header(
    config: &DecryptConfig,
    keyring: &dyn Keyring,
    request: &DecryptRequest,
    header: &Header,
    header_bytes: &[u8],
) -> Result<Opened, Error> {
    let suite = header.suite;
    if !config.commitment_policy.allows_decrypt(suite) {
        return Err(Error::CommitmentPolicy(suite.id()));
    }
    if let Some(max) = config.max_encrypted_data_keys
        && header.encrypted_data_keys.len() > usize::from(max.get())
    {
        return Err(Error::TooManyEncryptedDataKeys {
            count: header.encrypted_data_keys.len(),
            max: max.get(),
        });
    }

    // The default CMM's handling of the reproduced context, and the required-EC CMM's check.
    let mut full_ec = header.encryption_context.clone();
    let mut required_ec = EncryptionContext::new();
    for (k, v) in &request.encryption_context {
        match header.encryption_context.get(k) {
            Some(stored) if stored != v => return Err(Error::EncryptionContextMismatch(k.clone())),
            Some(_) => {}
            None => {
                full_ec.insert(k.clone(), v.clone());
                required_ec.insert(k.clone(), v.clone());
            }
        }
    }
    for k in &request.required_encryption_context_keys {
        if !required_ec.contains_key(k) {
            return Err(Error::RequiredEncryptionContextKey(k.clone()));
        }
    }
    let verification_key = match (suite.signature(), full_ec.get(PUBLIC_KEY_FIELD)) {
        (Some(_), Some(b64)) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| Error::Malformed("aws-crypto-public-key is not base64"))?,
        ),
        (Some(_), None) => return Err(Error::Malformed("signed suite without a public key")),
        (None, Some(_)) => return Err(Error::Malformed("unsigned suite with a public key")),
        (None, None) => None,
    };

    let data_key = keyring.decrypt_data_key(suite, &full_ec, &header.encrypted_data_keys)?;
    if data_key.len() != suite.key_len() {
        return Err(Error::NoDecryptableDataKey);
    }
    let (key, commitment) = derive_key(suite, &header.message_id, &data_key)?;
    if let Some(commitment) = commitment {
        let stored = header
            .commitment
            .ok_or(Error::Internal("v2 header without commitment"))?;
        // Checked in constant time, before the header tag.
        if !constant_time_eq(commitment.expose_secret(), &stored) {
            return Err(Error::KeyCommitment);
        }
    }

    let header_body = header_bytes
        .get(..header.body_len)
        .ok_or(Error::Truncated)?;
    let mut aad = header_body.to_vec();
    aad.extend_from_slice(&context::serialize(&required_ec)?);
    key.open_separate_tag(header.auth_iv, &aad, &[], &header.auth_tag)
        .map_err(|_| Error::HeaderAuthentication)?;
    Ok(Opened {
        key,
        encryption_context: full_ec,
        verification_key,
    })
}

/// The content encryption key for `suite`, and the key commitment for committing suites.
pub(crate) fn derive_key(
    suite: AlgorithmSuite,
    message_id: &[u8],
    data_key: &SecretBytes,
) -> Result<(AesGcmKey, Option<SecretBytes>), Error> {
    let suite_id = suite.id().to_be_bytes();
    let (enc_key, commitment) = match suite.kdf() {
        Kdf::Identity => (data_key.duplicate(), None),
        Kdf::Hkdf(hash) => (
            hkdf(
                hash,
                &[],
                data_key.expose_secret(),
                &[&suite_id, message_id],
                suite.key_len(),
            )?,
            None,
        ),
        Kdf::CommittingHkdfSha512 => {
            let hash = trent_crypto::envelope::HashAlgorithm::Sha512;
            let commit = hkdf(
                hash,
                message_id,
                data_key.expose_secret(),
                &[b"COMMITKEY"],
                32,
            )?;
            let enc = hkdf(
                hash,
                message_id,
                data_key.expose_secret(),
                &[&suite_id, b"DERIVEKEY"],
                suite.key_len(),
            )?;
            (enc, Some(commit))
        }
    };
    Ok((AesGcmKey::new(enc_key.expose_secret())?, commitment))
}

/// The IV of frame `seq`: eight zero bytes and the big-endian sequence number.
pub(crate) fn frame_iv(seq: u32) -> [u8; 12] {
    let [a, b, c, d] = seq.to_be_bytes();
    [0, 0, 0, 0, 0, 0, 0, 0, a, b, c, d]
}

pub(crate) fn body_aad(message_id: &[u8], content: &[u8], seq: u32, len: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(message_id.len() + content.len() + 12);
    aad.extend_from_slice(message_id);
    aad.extend_from_slice(content);
    aad.extend_from_slice(&seq.to_be_bytes());
    aad.extend_from_slice(&len.to_be_bytes());
    aad
}

fn open_into(
    key: &AesGcmKey,
    iv: [u8; 12],
    aad: &[u8],
    ct: &[u8],
    tag: &[u8],
    seq: u32,
    out: &mut Zeroizing<Vec<u8>>,
) -> Result<(), Error> {
    let pt = key
        .open_separate_tag(iv, aad, ct, tag)
        .map_err(|_| Error::BodyAuthentication { sequence: seq })?;
    out.extend_from_slice(pt.expose_secret());
    Ok(())
}

fn decrypt_frames(
    header: &Header,
    key: &AesGcmKey,
    r: &mut Reader<'_>,
    out: &mut Zeroizing<Vec<u8>>,
) -> Result<(), Error> {
    let frame_len = header.frame_length;
    let mut expected: u32 = 1;
    loop {
        let first = r.u32()?;
        if first == FINAL_FRAME_MARK {
            let seq = r.u32()?;
            if seq != expected {
                return Err(Error::Malformed("final frame out of sequence"));
            }
            let iv = r.array::<12>()?;
            let len = r.u32()?;
            if len > frame_len {
                return Err(Error::Malformed("final frame longer than the frame length"));
            }
            let ct = r.take(usize::try_from(len).map_err(|_| Error::Truncated)?)?;
            let tag = r.take(16)?;
            let aad = body_aad(&header.message_id, FINAL_FRAME_STRING, seq, u64::from(len));
            return open_into(key, iv, &aad, ct, tag, seq, out);
        }
        if first != expected {
            return Err(Error::Malformed("frame out of sequence"));
        }
        let iv = r.array::<12>()?;
        let ct = r.take(usize::try_from(frame_len).map_err(|_| Error::Truncated)?)?;
        let tag = r.take(16)?;
        let aad = body_aad(
            &header.message_id,
            FRAME_STRING,
            first,
            u64::from(frame_len),
        );
        open_into(key, iv, &aad, ct, tag, first, out)?;
        expected = expected
            .checked_add(1)
            .filter(|s| *s != FINAL_FRAME_MARK)
            .ok_or(Error::Malformed("too many frames"))?;
    }
}

fn decrypt_single_block(
    header: &Header,
    key: &AesGcmKey,
    r: &mut Reader<'_>,
    out: &mut Zeroizing<Vec<u8>>,
) -> Result<(), Error> {
    let iv = r.array::<12>()?;
    let len = r.u64()?;
    if len > MAX_NON_FRAMED_LEN {
        return Err(Error::Malformed("non-framed content too long"));
    }
    let ct = r.take(usize::try_from(len).map_err(|_| Error::Truncated)?)?;
    let tag = r.take(16)?;
    let aad = body_aad(&header.message_id, SINGLE_BLOCK_STRING, 1, len);
    open_into(key, iv, &aad, ct, tag, 1, out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::keyring::EncryptedDataKey;
    use std::cell::Cell;

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    /// From python-decrypt-oracle: suite 0x0378 (signed, P-384), framed, EC {key1,key2}, the
    /// all-zero data key.
    const V1_SIGNED: &str = "AYADeK1U7YUCrsA1r5jO/OsP3wAAdwADABVhd3MtY3J5cHRvLXB1YmxpYy1rZXkAREF2SnducmNOQ0ZoVXhWQU9wNGloRDdDWVZFRmovelVwbllnZjZOcGUrSGJNTzFQdmNOZ0ZvZTEzcjBCVmVPUDY2UT09AARrZXkxAAR2YWwxAARrZXkyAAR2YWwyAAEABG51bGwABG51bGwAAAIAAAAADAAAEAAAAAAAAAAAAAAAAAA0bpAoQQExEnGxSoEdJWTK/////wAAAAEAAAAAAAAAAAAAAAEAAABAC63zfdYXfdWveLvX9ZjoZfWe4vz5YJ6rLN+WtmpITjMX39gLRDwpuPQaQLanToTec4jtg4Ae2bPVf0gpO3PDq35T2PSOE4dXrTPyCXWTCWsAZzBlAjBa2m4QR9gNGGxi11NuILl8hmw3WcjK97iU7p3ly6NciiCXuoAvc48k5+UQIaI5cBQCMQC7k7At9aIy6MVI+BOM9r+/naA8WHseErRWpMSLKwBGgK0nCq0+jewPrtn93ALfN7I=";
    const V1_SIGNED_PLAINTEXT: &str =
        "OPMRI6TDNbycvrCdtev3am4ekTVLFcU1bPMsr/NwRWCMZs7ckLpRrwwXDkkFpJe/lzPnEhMNY967iKSgC0mK0g==";

    /// From python-commitment (test 43, Java ESDK): suite 0x0578, non-framed, plaintext
    /// "testing12", the data key given.
    const V2_SIGNED: &str = "AgV48AP2Janq1bcZ1DrZJtaJNM24UZD9UX7R2/yP+4OzLuMAXwABABVhd3MtY3J5cHRvLXB1YmxpYy1rZXkAREF4UWphQ1NXQzkzSWJZV3ZLbFhNUWlybFEyZVBBeUlRcUJ6am1zK1NtZVo4d0txazJyS1lPVHJMOFFqWVVzMVR3Zz09AAEAB2F3cy1rbXMAS2Fybjphd3M6a21zOnVzLXdlc3QtMjo2NTg5NTY2MDA4MzM6a2V5L2IzNTM3ZWYxLWQ4ZGMtNDc4MC05ZjVhLTU1Nzc2Y2JiMmY3ZgCnAQEBAHhA84wnXjEJdBbBBylRUFcZZK2j7xwh6UyLoL28nQ+0FAAAAH4wfAYJKoZIhvcNAQcGoG8wbQIBADBoBgkqhkiG9w0BBwEwHgYJYIZIAWUDBAEuMBEEDDD5mSvuYzwT9/eJ9QIBEIA7vnyXsGXnLURceBmqLlK8soxg/cIstDKW1XCI0OfGY4yhYjjr0l9XwAu0clOYrJdpwJNjYAz8uIpnXs0BAAAAANDc3n2TAsoULoixfm5jipiQ2qABoB2KBteVpJ1xvjgRidbCTV7O5ggCOjqfRt8YcgAAAAAAAAAAAAAAAQAAAAAAAAAJ7o9NINW0Q1jdL6PfMKn+f6izn2bU5QJOcQBnMGUCMBF6eRMvcIRQ+7kb/dxKaFem2GFa0vnpoBclaik6SWH1/J+qSyIwskpIG8yrWvkjDwIxAOSeqMPZX2uZbbExbyWZUE1/rC1f4JqA0wFTkWPTEIkfu9YCo2ZhdZrVm1xeqjmr0g==";
    const V2_DATA_KEY: &str = "xhOuDy6HPNHtVzACWDor5m2KyT69vFGsv3wRP0OMJG0=";

    /// Returns a fixed data key and counts its calls.
    struct Fixed(Vec<u8>, Cell<usize>);

    impl Keyring for Fixed {
        fn decrypt_data_key(
            &self,
            _: AlgorithmSuite,
            _: &EncryptionContext,
            _: &[EncryptedDataKey],
        ) -> Result<SecretBytes, Error> {
            self.1.set(self.1.get() + 1);
            Ok(SecretBytes::copy_from(&self.0))
        }
    }

    fn v1() -> (Vec<u8>, Fixed) {
        (b64(V1_SIGNED), Fixed(vec![0; 32], Cell::new(0)))
    }

    fn v2() -> (Vec<u8>, Fixed) {
        (b64(V2_SIGNED), Fixed(b64(V2_DATA_KEY), Cell::new(0)))
    }

    fn allow() -> DecryptConfig {
        DecryptConfig {
            commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
            max_encrypted_data_keys: None,
        }
    }

    fn run(
        config: &DecryptConfig,
        k: &Fixed,
        req: &DecryptRequest,
        m: &[u8],
    ) -> Result<Vec<u8>, Error> {
        decrypt(config, k, req, m).map(|d| d.plaintext.expose_secret().to_vec())
    }

    #[test]
    fn fixtures_decrypt() {
        let (m, k) = v1();
        let out = decrypt(&allow(), &k, &DecryptRequest::default(), &m).unwrap();
        assert_eq!(out.plaintext.expose_secret(), b64(V1_SIGNED_PLAINTEXT));
        assert_eq!(out.header.suite.id(), 0x0378);
        assert_eq!(out.header.frame_length, 4096);
        assert_eq!(
            out.encryption_context.get("key1").map(String::as_str),
            Some("val1")
        );
        let (m, k) = v2();
        let out = run(
            &DecryptConfig::default(),
            &k,
            &DecryptRequest::default(),
            &m,
        )
        .unwrap();
        assert_eq!(out, b"testing12");
    }

    #[test]
    fn commitment_policies() {
        let (m, k) = v1();
        let req = DecryptRequest::default();
        assert!(matches!(
            run(&DecryptConfig::default(), &k, &req, &m),
            Err(Error::CommitmentPolicy(0x0378))
        ));
        assert_eq!(k.1.get(), 0, "the keyring is not consulted");
        for policy in [
            CommitmentPolicy::RequireEncryptAllowDecrypt,
            CommitmentPolicy::ForbidEncryptAllowDecrypt,
        ] {
            let config = DecryptConfig {
                commitment_policy: policy,
                max_encrypted_data_keys: None,
            };
            assert!(run(&config, &k, &req, &m).is_ok());
        }
        let (m, k) = v2();
        for policy in [
            CommitmentPolicy::RequireEncryptRequireDecrypt,
            CommitmentPolicy::RequireEncryptAllowDecrypt,
            CommitmentPolicy::ForbidEncryptAllowDecrypt,
        ] {
            let config = DecryptConfig {
                commitment_policy: policy,
                max_encrypted_data_keys: None,
            };
            assert!(run(&config, &k, &req, &m).is_ok());
        }
    }

    #[test]
    fn max_encrypted_data_keys_is_checked_before_the_keyring() {
        let (m, k) = v1();
        let one = DecryptConfig {
            max_encrypted_data_keys: NonZeroU16::new(1),
            ..allow()
        };
        assert!(run(&one, &k, &DecryptRequest::default(), &m).is_ok());
        // Splice in a second EDK (a copy of the first: "null", "null", empty ciphertext).
        let count_at = 1 + 1 + 2 + 16 + 2 + header_ec_len(&m);
        let edk = m[count_at + 2..count_at + 2 + 14].to_vec();
        assert_eq!(edk, b"\x00\x04null\x00\x04null\x00\x00");
        let mut two = m.clone();
        two[count_at + 1] = 2;
        two.splice(count_at + 2..count_at + 2, edk);
        assert_eq!(Header::parse(&two).unwrap().encrypted_data_keys.len(), 2);
        let k2 = Fixed(vec![0; 32], Cell::new(0));
        assert!(matches!(
            run(&one, &k2, &DecryptRequest::default(), &two),
            Err(Error::TooManyEncryptedDataKeys { count: 2, max: 1 })
        ));
        assert_eq!(k2.1.get(), 0, "the keyring is not consulted");
        // Within the limit the message gets as far as the header tag (which the splice broke).
        let two_ok = DecryptConfig {
            max_encrypted_data_keys: NonZeroU16::new(2),
            ..allow()
        };
        assert!(matches!(
            run(&two_ok, &k2, &DecryptRequest::default(), &two),
            Err(Error::HeaderAuthentication)
        ));
        assert_eq!(k2.1.get(), 1);
    }

    fn header_ec_len(m: &[u8]) -> usize {
        usize::from(u16::from_be_bytes([m[20], m[21]]))
    }

    #[test]
    fn wrong_data_key_fails_header_auth_or_commitment() {
        let (m, _) = v1();
        let k = Fixed(vec![1; 32], Cell::new(0));
        assert!(matches!(
            run(&allow(), &k, &DecryptRequest::default(), &m),
            Err(Error::HeaderAuthentication)
        ));
        let (m, _) = v2();
        let k = Fixed(vec![1; 32], Cell::new(0));
        assert!(matches!(
            run(&allow(), &k, &DecryptRequest::default(), &m),
            Err(Error::KeyCommitment)
        ));
        let k = Fixed(vec![0; 16], Cell::new(0));
        assert!(matches!(
            run(&allow(), &k, &DecryptRequest::default(), &m),
            Err(Error::NoDecryptableDataKey)
        ));
    }

    #[test]
    fn reproduced_and_required_encryption_context() {
        let (m, k) = v1();
        let ec = |pairs: &[(&str, &str)]| -> EncryptionContext {
            pairs
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect()
        };
        let ok = DecryptRequest {
            encryption_context: ec(&[("key1", "val1")]),
            ..Default::default()
        };
        assert!(run(&allow(), &k, &ok, &m).is_ok());
        let wrong = DecryptRequest {
            encryption_context: ec(&[("key1", "other")]),
            ..Default::default()
        };
        assert!(
            matches!(run(&allow(), &k, &wrong, &m), Err(Error::EncryptionContextMismatch(key)) if key == "key1")
        );
        // A reproduced pair the header does not store becomes required context: the tag fails.
        let extra = DecryptRequest {
            encryption_context: ec(&[("key3", "v")]),
            ..Default::default()
        };
        assert!(matches!(
            run(&allow(), &k, &extra, &m),
            Err(Error::HeaderAuthentication)
        ));
        // Required keys must be reproduced and must not be stored in the header.
        let stored = DecryptRequest {
            encryption_context: ec(&[("key1", "val1")]),
            required_encryption_context_keys: vec!["key1".to_owned()],
        };
        assert!(matches!(
            run(&allow(), &k, &stored, &m),
            Err(Error::RequiredEncryptionContextKey(_))
        ));
        let missing = DecryptRequest {
            required_encryption_context_keys: vec!["key3".to_owned()],
            ..Default::default()
        };
        assert!(matches!(
            run(&allow(), &k, &missing, &m),
            Err(Error::RequiredEncryptionContextKey(_))
        ));
    }

    #[test]
    fn every_flipped_bit_truncation_and_extension_fails() {
        for (m, k) in [v1(), v2()] {
            let req = DecryptRequest::default();
            for i in 0..m.len() {
                for bit in [0x01u8, 0x80] {
                    let mut t = m.clone();
                    t[i] ^= bit;
                    assert!(run(&allow(), &k, &req, &t).is_err(), "flip at {i}");
                }
            }
            for len in 0..m.len() {
                assert!(
                    run(&allow(), &k, &req, &m[..len]).is_err(),
                    "truncated to {len}"
                );
            }
            let mut longer = m.clone();
            longer.push(0);
            assert!(matches!(
                run(&allow(), &k, &req, &longer),
                Err(Error::TrailingBytes)
            ));
        }
    }
}
