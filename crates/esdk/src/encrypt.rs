//! Encryption: the header, framed bodies and the footer signature.
//!
//! [`MessageEncryptor`] builds the header and then seals frames one at a time, so a message can
//! be written with bounded memory; [`encrypt`] does the whole message in memory. Frames are
//! sealed by a [`FrameSealer`], which depends only on the sequence number and can be shared
//! between threads (frame IVs are derived from the sequence number, so the output does not
//! depend on the order frames are sealed in).

use crate::context::{self, EncryptionContext, RESERVED_PREFIX};
use crate::decrypt::{
    ClientConfig, FINAL_FRAME_MARK, FINAL_FRAME_STRING, FRAME_STRING, body_aad, derive_key,
    frame_iv,
};
use crate::header::HeaderFields;
use crate::keyring::Keyring;
use crate::materials::{DefaultMaterialsManager, Materials, MaterialsManager, MaterialsRequest};
use crate::{AlgorithmSuite, Error};
use std::sync::Arc;
use trent_crypto::envelope::{AesGcmKey, EcdsaSigningKey, Hasher};

/// Client settings for encryption.
pub type EncryptConfig = ClientConfig;

/// The frame length written when the caller names none.
pub const DEFAULT_FRAME_LENGTH: u32 = 4096;

/// What the caller supplies besides the plaintext and keyring.
#[derive(Debug, Clone)]
pub struct EncryptRequest {
    /// The caller's encryption context. Keys starting with `aws-crypto-` are refused.
    pub encryption_context: EncryptionContext,
    /// The required-encryption-context CMM's keys: each must be in `encryption_context`; their
    /// pairs are authenticated but not stored in the message, so decrypt must reproduce them.
    pub required_encryption_context_keys: Vec<String>,
    /// The suite; `None` is the commitment policy's default (0x0578 unless commitment is
    /// forbidden).
    pub suite: Option<AlgorithmSuite>,
    /// Plaintext bytes per frame, at least 1.
    pub frame_length: u32,
}

impl Default for EncryptRequest {
    fn default() -> Self {
        EncryptRequest {
            encryption_context: EncryptionContext::new(),
            required_encryption_context_keys: Vec::new(),
            suite: None,
            frame_length: DEFAULT_FRAME_LENGTH,
        }
    }
}

/// An encrypted message.
pub struct Encrypted {
    pub ciphertext: Vec<u8>,
    pub suite: AlgorithmSuite,
    /// The full encryption context: the caller's pairs plus `aws-crypto-public-key` for signed
    /// suites (required pairs included, though they are not stored in the message).
    pub encryption_context: EncryptionContext,
}

/// Encrypts `plaintext` into one complete message.
pub fn encrypt(
    config: &EncryptConfig,
    keyring: &dyn Keyring,
    request: &EncryptRequest,
    plaintext: &[u8],
) -> Result<Encrypted, Error> {
    let mut enc = MessageEncryptor::new(config, keyring, request)?;
    let frame_len = usize::try_from(enc.frame_length())
        .map_err(|_| Error::InvalidRequest("frame length does not fit in memory"))?;
    let frames = plaintext.len() / frame_len.max(1) + 1;
    let mut out =
        Vec::with_capacity(enc.header().len() + plaintext.len() + frames.saturating_mul(36) + 110);
    out.extend_from_slice(enc.header());
    // Every full chunk is a regular frame; what is left (shorter than a frame, possibly empty)
    // is the final frame. A full final frame is valid too, but the Python SDK 3.x (which the
    // official aws-encryption-cli uses) refuses it, and the SDKs themselves never write one.
    let mut rest = plaintext;
    while rest.len() >= frame_len {
        let (frame, tail) = rest.split_at(frame_len);
        enc.seal_frame(frame, &mut out)?;
        rest = tail;
    }
    enc.finish(rest, &mut out)?;
    Ok(Encrypted {
        ciphertext: out,
        suite: enc.suite(),
        encryption_context: enc.encryption_context().clone(),
    })
}

/// Seals the frames of one message. It holds the content key and depends only on the
/// sequence number, so frames may be sealed in any order and on any thread.
pub struct FrameSealer {
    key: AesGcmKey,
    message_id: Vec<u8>,
    frame_length: u32,
}

impl FrameSealer {
    pub fn frame_length(&self) -> u32 {
        self.frame_length
    }

    /// Appends regular frame `seq` (exactly `frame_length` bytes of plaintext) to `out`.
    pub fn seal_regular(&self, seq: u32, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if seq == 0 || seq == FINAL_FRAME_MARK {
            return Err(Error::InvalidRequest("frame sequence number out of range"));
        }
        if u32::try_from(plaintext.len()).ok() != Some(self.frame_length) {
            return Err(Error::Internal("regular frame of the wrong length"));
        }
        out.extend_from_slice(&seq.to_be_bytes());
        let aad = body_aad(
            &self.message_id,
            FRAME_STRING,
            seq,
            u64::from(self.frame_length),
        );
        self.seal_into(seq, &aad, plaintext, out)
    }

    /// Appends final frame `seq` (at most `frame_length` bytes of plaintext) to `out`.
    pub fn seal_final(&self, seq: u32, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if seq == 0 || seq == FINAL_FRAME_MARK {
            return Err(Error::InvalidRequest("frame sequence number out of range"));
        }
        let len = u32::try_from(plaintext.len())
            .ok()
            .filter(|l| *l <= self.frame_length)
            .ok_or(Error::Internal("final frame longer than the frame length"))?;
        out.extend_from_slice(&FINAL_FRAME_MARK.to_be_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
        let aad = body_aad(&self.message_id, FINAL_FRAME_STRING, seq, u64::from(len));
        // The IV comes before the length field.
        let iv = frame_iv(seq);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&len.to_be_bytes());
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self.seal_tail(iv, &aad, out, start)?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    fn seal_into(
        &self,
        seq: u32,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let iv = frame_iv(seq);
        out.extend_from_slice(&iv);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self.seal_tail(iv, aad, out, start)?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    /// Encrypts `out[start..]` in place and returns the tag.
    fn seal_tail(
        &self,
        iv: [u8; 12],
        aad: &[u8],
        out: &mut [u8],
        start: usize,
    ) -> Result<[u8; 16], Error> {
        let tail = out
            .get_mut(start..)
            .ok_or(Error::Internal("frame buffer offset"))?;
        Ok(self.key.seal_in_place_separate_tag(iv, aad, tail)?)
    }
}

/// Writes one message: the header at construction, then frames in order, then the final frame
/// and the footer.
pub struct MessageEncryptor {
    suite: AlgorithmSuite,
    encryption_context: EncryptionContext,
    header: Vec<u8>,
    sealer: Arc<FrameSealer>,
    next_seq: u32,
    signer: Option<(Arc<EcdsaSigningKey>, Hasher)>,
    finished: bool,
}

impl MessageEncryptor {
    /// Checks the request, gets the data key from `keyring`, and builds the header.
    pub fn new(
        config: &EncryptConfig,
        keyring: &dyn Keyring,
        request: &EncryptRequest,
    ) -> Result<Self, Error> {
        Self::with_materials_manager(config, &DefaultMaterialsManager(keyring), request, None)
    }

    /// As [`MessageEncryptor::new`], with the materials from `cmm` (such as the caching
    /// materials manager). `plaintext_length` is the message size if known (a caching manager
    /// needs it to count bytes).
    pub fn with_materials_manager(
        config: &EncryptConfig,
        cmm: &dyn MaterialsManager,
        request: &EncryptRequest,
        plaintext_length: Option<u64>,
    ) -> Result<Self, Error> {
        if let Some(key) = request
            .encryption_context
            .keys()
            .find(|k| k.starts_with(RESERVED_PREFIX))
        {
            return Err(Error::ReservedEncryptionContextKey(key.clone()));
        }
        if request.frame_length == 0 {
            return Err(Error::InvalidRequest("frame length must be at least 1"));
        }
        let suite = request
            .suite
            .unwrap_or_else(|| config.commitment_policy.default_suite());
        if !config.commitment_policy.allows_encrypt(suite) {
            return Err(Error::CommitmentPolicy(suite.id()));
        }
        let mut required_ec = EncryptionContext::new();
        for key in &request.required_encryption_context_keys {
            let value = request
                .encryption_context
                .get(key)
                .ok_or_else(|| Error::RequiredEncryptionContextKey(key.clone()))?;
            required_ec.insert(key.clone(), value.clone());
        }

        let Materials {
            encryption_context: full_ec,
            data_key,
            encrypted_data_keys,
            signing_key,
        } = cmm.encryption_materials(&MaterialsRequest {
            suite,
            encryption_context: &request.encryption_context,
            plaintext_length,
        })?;
        if data_key.len() != suite.key_len() {
            return Err(Error::InvalidKeyring(
                "the data key does not match the algorithm suite",
            ));
        }
        if suite.signature().is_some() != signing_key.is_some() {
            return Err(Error::Internal("signing key does not match the suite"));
        }
        let edk_count = encrypted_data_keys.len();
        if edk_count == 0 {
            return Err(Error::InvalidKeyring(
                "the keyring produced no encrypted data key",
            ));
        }
        if let Some(max) = config.max_encrypted_data_keys
            && edk_count > usize::from(max.get())
        {
            return Err(Error::TooManyEncryptedDataKeysOnEncrypt {
                count: edk_count,
                max: max.get(),
            });
        }

        let mut message_id = vec![
            0u8;
            if suite.message_format_version() == 1 {
                16
            } else {
                32
            }
        ];
        trent_crypto::fill_random(&mut message_id)?;
        let (key, commitment) = derive_key(suite, &message_id, &data_key)?;
        let commitment: Option<[u8; 32]> = match commitment {
            Some(c) => Some(
                c.expose_secret()
                    .try_into()
                    .map_err(|_| Error::Internal("commitment length"))?,
            ),
            None => None,
        };
        let mut stored_ec = full_ec.clone();
        for key in required_ec.keys() {
            stored_ec.remove(key);
        }
        let mut header = HeaderFields {
            suite,
            message_id: &message_id,
            encryption_context: &stored_ec,
            encrypted_data_keys: &encrypted_data_keys,
            frame_length: request.frame_length,
            commitment: commitment.as_ref(),
        }
        .serialize_body()?;
        let mut aad = header.clone();
        aad.extend_from_slice(&context::serialize(&required_ec)?);
        let tag = key.seal_in_place_separate_tag([0u8; 12], &aad, &mut [])?;
        if suite.message_format_version() == 1 {
            header.extend_from_slice(&[0u8; 12]);
        }
        header.extend_from_slice(&tag);

        let signer = signing_key.map(|key| {
            let mut hasher = Hasher::new(key.curve().hash());
            hasher.update(&header);
            (key, hasher)
        });
        Ok(MessageEncryptor {
            suite,
            encryption_context: full_ec,
            header,
            sealer: Arc::new(FrameSealer {
                key,
                message_id,
                frame_length: request.frame_length,
            }),
            next_seq: 1,
            signer,
            finished: false,
        })
    }

    pub fn suite(&self) -> AlgorithmSuite {
        self.suite
    }

    /// The full encryption context (see [`Encrypted::encryption_context`]).
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.encryption_context
    }

    /// The serialized header, authentication tag included: the first bytes of the message.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    pub fn frame_length(&self) -> u32 {
        self.sealer.frame_length
    }

    /// The frame sealer, for sealing frames elsewhere (in parallel); their bytes must then be
    /// passed to [`MessageEncryptor::append_sealed`] in sequence order.
    pub fn sealer(&self) -> &Arc<FrameSealer> {
        &self.sealer
    }

    /// The sequence number of the next frame.
    pub fn next_sequence_number(&self) -> u32 {
        self.next_seq
    }

    /// Seals the next regular frame (`frame_length` bytes of plaintext) onto `out`.
    pub fn seal_frame(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        self.sealer.seal_regular(self.next_seq, plaintext, out)?;
        let sealed = out
            .get(start..)
            .ok_or(Error::Internal("frame buffer offset"))?;
        self.record(sealed)
    }

    /// Accounts for the next regular frame sealed with [`MessageEncryptor::sealer`]: hashes it
    /// for the signature and advances the sequence number.
    pub fn append_sealed(&mut self, frame: &[u8]) -> Result<(), Error> {
        self.record(frame)
    }

    fn record(&mut self, frame: &[u8]) -> Result<(), Error> {
        if self.finished {
            return Err(Error::Internal("frame after the final frame"));
        }
        if let Some((_, hasher)) = &mut self.signer {
            hasher.update(frame);
        }
        self.next_seq = self
            .next_seq
            .checked_add(1)
            .filter(|s| *s != FINAL_FRAME_MARK)
            .ok_or(Error::InvalidRequest(
                "too many frames: use a larger frame length",
            ))?;
        Ok(())
    }

    /// Seals the final frame (at most `frame_length` bytes, possibly none) and, for signed
    /// suites, the footer, onto `out`.
    pub fn finish(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.finished {
            return Err(Error::Internal("message already finished"));
        }
        let start = out.len();
        self.sealer.seal_final(self.next_seq, plaintext, out)?;
        self.finished = true;
        if let Some((key, mut hasher)) = self.signer.take() {
            hasher.update(
                out.get(start..)
                    .ok_or(Error::Internal("frame buffer offset"))?,
            );
            let signature = key.sign_prehashed(&hasher.finish())?;
            let len =
                u16::try_from(signature.len()).map_err(|_| Error::Internal("signature length"))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&signature);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::context::PUBLIC_KEY_FIELD;
    use crate::keyring::{MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding};
    use crate::{CommitmentPolicy, DecryptRequest, Header, decrypt};
    use std::num::NonZeroU16;
    use trent_crypto::SecretBytes;

    fn aes(name: &str, byte: u8) -> RawAesKeyring {
        RawAesKeyring::new("ns", name, &SecretBytes::copy_from(&[byte; 32])).unwrap()
    }

    fn allow() -> ClientConfig {
        ClientConfig {
            commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
            max_encrypted_data_keys: None,
        }
    }

    fn forbid() -> ClientConfig {
        ClientConfig {
            commitment_policy: CommitmentPolicy::ForbidEncryptAllowDecrypt,
            max_encrypted_data_keys: None,
        }
    }

    fn ec(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    fn req(suite: AlgorithmSuite, frame_length: u32) -> EncryptRequest {
        EncryptRequest {
            encryption_context: ec(&[("purpose", "test")]),
            suite: Some(suite),
            frame_length,
            ..Default::default()
        }
    }

    #[test]
    fn every_suite_round_trips_at_the_frame_edges() {
        let k = aes("k", 1);
        for suite in AlgorithmSuite::ALL {
            let config = if suite.is_committing() {
                allow()
            } else {
                forbid()
            };
            for frame in [1u32, 7, 64] {
                let f = frame as usize;
                for len in [0, 1, f.saturating_sub(1), f, f + 1, 3 * f, 3 * f + 2] {
                    let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
                    let m = encrypt(&config, &k, &req(suite, frame), &pt).unwrap();
                    let h = Header::parse(&m.ciphertext).unwrap();
                    assert_eq!(h.suite, suite);
                    assert_eq!(h.frame_length, frame);
                    let out =
                        decrypt(&config, &k, &DecryptRequest::default(), &m.ciphertext).unwrap();
                    assert_eq!(out.plaintext.expose_secret(), pt.as_slice());
                    assert_eq!(out.encryption_context, m.encryption_context);
                    assert_eq!(
                        m.encryption_context.contains_key(PUBLIC_KEY_FIELD),
                        suite.signature().is_some()
                    );
                }
            }
        }
    }

    /// Plaintext of a whole number of frames ends with an empty final frame, as the SDKs write
    /// it (the Python SDK 3.x refuses a full one).
    #[test]
    fn whole_frames_end_with_an_empty_final_frame() {
        let k = aes("k", 1);
        let suite = AlgorithmSuite::from_id(0x0478).unwrap();
        for (len, frames) in [(21usize, 3u32), (7, 1)] {
            let pt = vec![7u8; len];
            let m = encrypt(&allow(), &k, &req(suite, 7), &pt)
                .unwrap()
                .ciphertext;
            let n = m.len();
            // FFFFFFFF, seq, IV (12), content length, tag (16): the last 40 bytes.
            assert_eq!(m[n - 40..n - 36], [0xff; 4]);
            assert_eq!(m[n - 36..n - 32], (frames + 1).to_be_bytes());
            assert_eq!(m[n - 20..n - 16], 0u32.to_be_bytes());
        }
    }

    #[test]
    fn defaults_and_commitment_policies() {
        let k = aes("k", 1);
        let m = encrypt(
            &ClientConfig::default(),
            &k,
            &EncryptRequest::default(),
            b"x",
        )
        .unwrap();
        assert_eq!(m.suite.id(), 0x0578);
        let h = Header::parse(&m.ciphertext).unwrap();
        assert_eq!((h.version, h.frame_length), (2, 4096));
        assert_eq!(forbid().commitment_policy.default_suite().id(), 0x0378);
        for suite in AlgorithmSuite::ALL {
            let r = req(suite, 10);
            let required = encrypt(&ClientConfig::default(), &k, &r, b"x");
            let forbidden = encrypt(&forbid(), &k, &r, b"x");
            assert_eq!(required.is_ok(), suite.is_committing());
            assert_eq!(forbidden.is_ok(), !suite.is_committing());
            let err = if suite.is_committing() {
                forbidden.err()
            } else {
                required.err()
            };
            assert!(matches!(err, Some(Error::CommitmentPolicy(id)) if id == suite.id()));
        }
    }

    #[test]
    fn bad_requests_are_refused() {
        let k = aes("k", 1);
        let reserved = EncryptRequest {
            encryption_context: ec(&[("aws-crypto-public-key", "x")]),
            ..Default::default()
        };
        assert!(matches!(
            encrypt(&allow(), &k, &reserved, b"x"),
            Err(Error::ReservedEncryptionContextKey(key)) if key == "aws-crypto-public-key"
        ));
        let zero = EncryptRequest {
            frame_length: 0,
            ..Default::default()
        };
        assert!(matches!(
            encrypt(&allow(), &k, &zero, b"x"),
            Err(Error::InvalidRequest(_))
        ));
        let huge_ec = EncryptRequest {
            encryption_context: ec(&[("k", &"v".repeat(70_000))]),
            ..Default::default()
        };
        assert!(encrypt(&allow(), &k, &huge_ec, b"x").is_err());
        let missing_required = EncryptRequest {
            required_encryption_context_keys: vec!["tenant".into()],
            ..Default::default()
        };
        assert!(matches!(
            encrypt(&allow(), &k, &missing_required, b"x"),
            Err(Error::RequiredEncryptionContextKey(key)) if key == "tenant"
        ));
        // A decrypt-only keyring cannot encrypt; an empty multi-keyring neither.
        let empty = MultiKeyring::new(None, vec![]);
        assert!(encrypt(&allow(), &empty, &EncryptRequest::default(), b"x").is_err());
    }

    #[test]
    fn max_encrypted_data_keys_on_encrypt() {
        let multi = MultiKeyring::new(Some(Box::new(aes("a", 1))), vec![Box::new(aes("b", 2))]);
        let one = ClientConfig {
            max_encrypted_data_keys: NonZeroU16::new(1),
            ..allow()
        };
        assert!(matches!(
            encrypt(&one, &multi, &EncryptRequest::default(), b"x"),
            Err(Error::TooManyEncryptedDataKeysOnEncrypt { count: 2, max: 1 })
        ));
        let two = ClientConfig {
            max_encrypted_data_keys: NonZeroU16::new(2),
            ..allow()
        };
        let m = encrypt(&two, &multi, &EncryptRequest::default(), b"x").unwrap();
        assert_eq!(
            Header::parse(&m.ciphertext)
                .unwrap()
                .encrypted_data_keys
                .len(),
            2
        );
        // Each wrapping key alone opens the message.
        for k in [aes("a", 1), aes("b", 2)] {
            let out = decrypt(&two, &k, &DecryptRequest::default(), &m.ciphertext).unwrap();
            assert_eq!(out.plaintext.expose_secret(), b"x");
        }
        assert!(matches!(
            decrypt(
                &two,
                &aes("a", 3),
                &DecryptRequest::default(),
                &m.ciphertext
            ),
            Err(Error::NoDecryptableDataKey)
        ));
    }

    #[test]
    fn raw_rsa_every_padding_and_public_only() {
        let pkcs8 =
            trent_crypto::asymmetric::generate(trent_crypto::AsymmetricSpec::Rsa2048).unwrap();
        for padding in [
            RsaPadding::Pkcs1,
            RsaPadding::OaepSha1,
            RsaPadding::OaepSha256,
            RsaPadding::OaepSha384,
            RsaPadding::OaepSha512,
        ] {
            let k = RawRsaKeyring::new("ns", "rsa", &pkcs8, padding).unwrap();
            let m = encrypt(&allow(), &k, &EncryptRequest::default(), b"secret").unwrap();
            let out = decrypt(&allow(), &k, &DecryptRequest::default(), &m.ciphertext).unwrap();
            assert_eq!(out.plaintext.expose_secret(), b"secret");
        }
        let public =
            trent_crypto::asymmetric::public_key_der(trent_crypto::AsymmetricSpec::Rsa2048, &pkcs8)
                .unwrap();
        let enc_only =
            RawRsaKeyring::public_only("ns", "rsa", &public, RsaPadding::OaepSha256).unwrap();
        let m = encrypt(&allow(), &enc_only, &EncryptRequest::default(), b"s").unwrap();
        assert!(matches!(
            decrypt(
                &allow(),
                &enc_only,
                &DecryptRequest::default(),
                &m.ciphertext
            ),
            Err(Error::NoDecryptableDataKey)
        ));
        let k = RawRsaKeyring::new("ns", "rsa", &pkcs8, RsaPadding::OaepSha256).unwrap();
        let out = decrypt(&allow(), &k, &DecryptRequest::default(), &m.ciphertext).unwrap();
        assert_eq!(out.plaintext.expose_secret(), b"s");
        assert!(RawRsaKeyring::public_only("ns", "rsa", b"junk", RsaPadding::Pkcs1).is_err());
    }

    #[test]
    fn required_encryption_context_is_authenticated_but_not_stored() {
        let k = aes("k", 1);
        let r = EncryptRequest {
            encryption_context: ec(&[("tenant", "a"), ("stored", "s")]),
            required_encryption_context_keys: vec!["tenant".into()],
            ..Default::default()
        };
        let m = encrypt(&allow(), &k, &r, b"data").unwrap();
        let h = Header::parse(&m.ciphertext).unwrap();
        assert!(!h.encryption_context.contains_key("tenant"));
        assert_eq!(h.encryption_context.get("stored").unwrap(), "s");
        let good = DecryptRequest {
            encryption_context: ec(&[("tenant", "a")]),
            required_encryption_context_keys: vec!["tenant".into()],
        };
        let out = decrypt(&allow(), &k, &good, &m.ciphertext).unwrap();
        assert_eq!(out.plaintext.expose_secret(), b"data");
        assert_eq!(out.encryption_context.get("tenant").unwrap(), "a");
        for bad in [
            DecryptRequest::default(),
            DecryptRequest {
                encryption_context: ec(&[("tenant", "b")]),
                ..Default::default()
            },
        ] {
            assert!(decrypt(&allow(), &k, &bad, &m.ciphertext).is_err());
        }
    }

    #[test]
    fn tampering_fails() {
        let k = aes("k", 1);
        for suite in [
            AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
            AlgorithmSuite::Aes256GcmHkdfSha512CommitKey,
        ] {
            let pt: Vec<u8> = (0..40u8).collect();
            let m = encrypt(&allow(), &k, &req(suite, 16), &pt)
                .unwrap()
                .ciphertext;
            let ok = |t: &[u8]| decrypt(&allow(), &k, &DecryptRequest::default(), t).is_ok();
            assert!(ok(&m));
            for i in 0..m.len() {
                let mut t = m.clone();
                t[i] ^= 0x01;
                assert!(!ok(&t), "flip at {i}");
            }
            for len in 0..m.len() {
                assert!(!ok(&m[..len]), "truncated to {len}");
            }
            // Swap the two regular frames (each 4 + 12 + 16 + 16 bytes).
            let h = Header::parse(&m).unwrap();
            let body = h.len;
            let mut swapped = m.clone();
            swapped[body..body + 48].copy_from_slice(&m[body + 48..body + 96]);
            swapped[body + 48..body + 96].copy_from_slice(&m[body..body + 48]);
            assert!(!ok(&swapped));
            // The same frames with their sequence numbers restored still fail: the IV and AAD
            // bind the position.
            swapped[body..body + 4].copy_from_slice(&1u32.to_be_bytes());
            swapped[body + 48..body + 52].copy_from_slice(&2u32.to_be_bytes());
            assert!(!ok(&swapped));
            let wrong_ec = DecryptRequest {
                encryption_context: ec(&[("purpose", "other")]),
                ..Default::default()
            };
            assert!(matches!(
                decrypt(&allow(), &k, &wrong_ec, &m),
                Err(Error::EncryptionContextMismatch(_))
            ));
        }
    }
}
