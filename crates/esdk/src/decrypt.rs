//! Decryption of a whole message held in memory.

use crate::context::{self, EncryptionContext, PUBLIC_KEY_FIELD};
use crate::header::{ContentType, Header};
use crate::keyring::Keyring;
use crate::reader::Reader;
use crate::suite::Kdf;
use crate::{AlgorithmSuite, Error};
use base64::Engine as _;
use trent_crypto::envelope::{AesGcmKey, Hasher, ecdsa_verify_prehashed, hkdf};
use trent_crypto::{SecretBytes, constant_time_eq};
use zeroize::Zeroizing;

/// Which suites may be read (and, once encryption exists, written).
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
    fn allows_decrypt(self, suite: AlgorithmSuite) -> bool {
        match self {
            CommitmentPolicy::RequireEncryptRequireDecrypt => suite.is_committing(),
            CommitmentPolicy::RequireEncryptAllowDecrypt
            | CommitmentPolicy::ForbidEncryptAllowDecrypt => true,
        }
    }
}

/// Client settings for decryption.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecryptConfig {
    pub commitment_policy: CommitmentPolicy,
    /// Refuse messages with more encrypted data keys than this, before any keyring is called.
    /// `None`: no limit.
    pub max_encrypted_data_keys: Option<u16>,
}

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

const FINAL_FRAME_MARK: u32 = 0xFFFF_FFFF;
const MAX_NON_FRAMED_LEN: u64 = (1 << 36) - 32;
const FRAME_STRING: &[u8] = b"AWSKMSEncryptionClient Frame";
const FINAL_FRAME_STRING: &[u8] = b"AWSKMSEncryptionClient Final Frame";
const SINGLE_BLOCK_STRING: &[u8] = b"AWSKMSEncryptionClient Single Block";

/// Decrypts a complete message. No plaintext is returned unless the header, every frame and
/// (for signed suites) the footer signature verify.
pub fn decrypt(
    config: &DecryptConfig,
    keyring: &dyn Keyring,
    request: &DecryptRequest,
    message: &[u8],
) -> Result<Decrypted, Error> {
    let header = Header::parse(message)?;
    let suite = header.suite;
    if !config.commitment_policy.allows_decrypt(suite) {
        return Err(Error::CommitmentPolicy(suite.id()));
    }
    if let Some(max) = config.max_encrypted_data_keys
        && header.encrypted_data_keys.len() > usize::from(max)
    {
        return Err(Error::TooManyEncryptedDataKeys {
            count: header.encrypted_data_keys.len(),
            max,
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
    let key = derive_key(&header, &data_key)?;

    let header_body = message.get(..header.body_len).ok_or(Error::Truncated)?;
    let mut aad = header_body.to_vec();
    aad.extend_from_slice(&context::serialize(&required_ec)?);
    key.open_separate_tag(header.auth_iv, &aad, &[], &header.auth_tag)
        .map_err(|_| Error::HeaderAuthentication)?;

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

fn derive_key(header: &Header, data_key: &SecretBytes) -> Result<AesGcmKey, Error> {
    let suite = header.suite;
    let suite_id = suite.id().to_be_bytes();
    let enc_key = match suite.kdf() {
        Kdf::Identity => data_key.duplicate(),
        Kdf::Hkdf(hash) => hkdf(
            hash,
            &[],
            data_key.expose_secret(),
            &[&suite_id, &header.message_id],
            suite.key_len(),
        )?,
        Kdf::CommittingHkdfSha512 => {
            let hash = trent_crypto::envelope::HashAlgorithm::Sha512;
            let commit = hkdf(
                hash,
                &header.message_id,
                data_key.expose_secret(),
                &[b"COMMITKEY"],
                32,
            )?;
            let stored = header
                .commitment
                .ok_or(Error::Internal("v2 header without commitment"))?;
            // Checked in constant time, before the header tag.
            if !constant_time_eq(commit.expose_secret(), &stored) {
                return Err(Error::KeyCommitment);
            }
            hkdf(
                hash,
                &header.message_id,
                data_key.expose_secret(),
                &[&suite_id, b"DERIVEKEY"],
                suite.key_len(),
            )?
        }
    };
    Ok(AesGcmKey::new(enc_key.expose_secret())?)
}

fn body_aad(message_id: &[u8], content: &[u8], seq: u32, len: u64) -> Vec<u8> {
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
