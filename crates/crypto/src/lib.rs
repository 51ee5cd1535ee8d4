//! Trent's cryptography, in one place.
//!
//! This crate is the only user of `aws-lc-rs` in the workspace: every other crate asks it for
//! AEAD, key derivation, MACs, digests and randomness, and (in [`asymmetric`]) the RSA, ECDSA,
//! Ed25519, RSA-OAEP and ECDH operations behind KMS asymmetric keys; [`mac`](mod@mac) holds the HMAC
//! operations behind KMS HMAC keys; [`import`] unwraps key material imported into KMS keys;
//! [`envelope`] holds the suite-parameterised primitives of the Encryption SDK message format.
//! Keeping the backend behind one small API means one place to audit, one place to change
//! algorithms, and one set of secret types.
//!
//! Secret types ([`SecretBytes`], [`Aes256GcmKey`]) have no `Debug`, no `Clone` and no
//! `Serialize`; they zeroize on drop and reveal their bytes only through a named method.

#![forbid(unsafe_code)]

pub mod asymmetric;
pub mod envelope;
pub mod import;
pub mod mac;
pub mod shamir;

pub use asymmetric::{AsymmetricKey, AsymmetricSpec, EncryptionAlgorithm, SigningAlgorithm};
pub use import::WrappingAlgorithm;
pub use mac::{MacAlgorithm, generate_mac_key, mac, verify_mac};

use aws_lc_rs::{aead, constant_time, digest, hkdf, hmac, rand};
use zeroize::Zeroize;

/// Length of an AES-256 key in bytes.
pub const AES_256_KEY_LEN: usize = 32;
/// Length of an AES-GCM nonce in bytes.
pub const GCM_NONCE_LEN: usize = 12;
/// Length of an AES-GCM tag in bytes.
pub const GCM_TAG_LEN: usize = 16;
/// Length of a SHA-256 digest in bytes.
pub const SHA256_LEN: usize = 32;

/// Errors from cryptographic operations. Deliberately uninformative: a failed open says nothing
/// about *why* it failed, so callers cannot build an oracle out of it.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
#[non_exhaustive]
pub enum Error {
    /// Authentication failed, or the input was malformed.
    #[error("cryptographic operation failed")]
    Failed,
    /// A key had the wrong length for its algorithm.
    #[error("invalid key length")]
    InvalidKeyLength,
    /// The system random number generator failed.
    #[error("random number generator failure")]
    Rng,
    /// A caller-supplied input was malformed: a digest of the wrong length, a public key that
    /// does not parse or is of another type, curve or size.
    #[error("invalid input")]
    InvalidInput,
    /// The algorithm cannot be used with keys of this spec.
    #[error("algorithm not compatible with the key")]
    IncompatibleAlgorithm,
    /// The combination is valid in KMS but not supported here (DIGEST mode with Ed25519).
    #[error("unsupported operation")]
    Unsupported,
    /// The plaintext is longer than the key and algorithm allow.
    #[error("plaintext too long")]
    PlaintextTooLong,
    /// Stored private key material does not parse or does not match its key spec.
    #[error("invalid key material")]
    InvalidKeyMaterial,
}

impl From<aws_lc_rs::error::Unspecified> for Error {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        Error::Failed
    }
}

/// Secret bytes: key material, plaintexts, data keys. Zeroized on drop.
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`; the caller's copy is the same allocation, so nothing is left behind.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }

    /// Copies `bytes` into a new secret.
    pub fn copy_from(bytes: &[u8]) -> Self {
        SecretBytes(bytes.to_vec())
    }

    /// `len` fresh random bytes.
    pub fn random(len: usize) -> Result<Self, Error> {
        let mut v = vec![0u8; len];
        fill_random(&mut v)?;
        Ok(SecretBytes(v))
    }

    /// The secret bytes. Named so that every use is visible in review.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Duplicates the secret. Explicit rather than `Clone`, so copies are deliberate.
    pub fn duplicate(&self) -> Self {
        SecretBytes(self.0.clone())
    }
}

impl Zeroize for SecretBytes {
    /// Overwrites every byte of the allocation (spare capacity included) and empties it.
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for SecretBytes {}

/// Fills `out` with bytes from the system CSPRNG.
pub fn fill_random(out: &mut [u8]) -> Result<(), Error> {
    rand::fill(out).map_err(|_| Error::Rng)
}

/// An array of `N` random bytes.
pub fn random_array<const N: usize>() -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    fill_random(&mut out)?;
    Ok(out)
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; SHA256_LEN] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; SHA256_LEN];
    out.copy_from_slice(d.as_ref());
    out
}

/// SHA-256 of the concatenation of `parts`, without copying them together.
pub fn sha256_concat(parts: &[&[u8]]) -> [u8; SHA256_LEN] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    let d = ctx.finish();
    let mut out = [0u8; SHA256_LEN];
    out.copy_from_slice(d.as_ref());
    out
}

/// HMAC-SHA-256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; SHA256_LEN] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&k, data);
    let mut out = [0u8; SHA256_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Compares two byte strings in time independent of their contents (lengths are not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// An AES-256-GCM key. The expanded key schedule lives inside aws-lc and is cleared by it.
pub struct Aes256GcmKey(envelope::AesGcmKey);

impl Aes256GcmKey {
    /// A key from 32 raw bytes.
    pub fn new(key: &[u8]) -> Result<Self, Error> {
        if key.len() != AES_256_KEY_LEN {
            return Err(Error::InvalidKeyLength);
        }
        Ok(Aes256GcmKey(envelope::AesGcmKey::new(key)?))
    }

    /// Derives a key with HKDF-SHA-256 (RFC 5869) from input key material, a salt and an info
    /// string, without the derived bytes ever leaving aws-lc.
    pub fn derive_hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[&[u8]]) -> Result<Self, Error> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
        let okm = prk.expand(info, &aead::AES_256_GCM)?;
        Ok(Aes256GcmKey(envelope::AesGcmKey(aead::LessSafeKey::new(
            aead::UnboundKey::from(okm),
        ))))
    }

    /// Encrypts `in_out` in place and appends the 16-byte tag. The caller guarantees the nonce is
    /// never reused with this key.
    pub fn seal_in_place_append_tag(
        &self,
        nonce: [u8; GCM_NONCE_LEN],
        aad: &[u8],
        in_out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.0.0.seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            in_out,
        )?;
        Ok(())
    }

    /// Encrypts `in_out` in place and returns the tag separately.
    pub fn seal_in_place_separate_tag(
        &self,
        nonce: [u8; GCM_NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; GCM_TAG_LEN], Error> {
        self.0.seal_in_place_separate_tag(nonce, aad, in_out)
    }

    /// Decrypts `ciphertext || tag` and returns the plaintext as a secret. Any tampering with the
    /// ciphertext, tag, nonce or AAD gives [`Error::Failed`].
    pub fn open(
        &self,
        nonce: [u8; GCM_NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<SecretBytes, Error> {
        if ciphertext_and_tag.len() < GCM_TAG_LEN {
            return Err(Error::Failed);
        }
        let mut buf = SecretBytes::copy_from(ciphertext_and_tag);
        let plain_len = self
            .0
            .0
            .open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad),
                &mut buf.0,
            )?
            .len();
        buf.0.truncate(plain_len);
        Ok(buf)
    }
}

/// Lower-case hexadecimal encoding.
pub fn hex(bytes: &[u8]) -> String {
    fn digit(n: u8) -> char {
        char::from(if n < 10 { b'0' + n } else { b'a' + n - 10 })
    }
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(digit(b >> 4));
        s.push(digit(b & 0x0f));
    }
    s
}

/// Decodes lower- or upper-case hexadecimal. `None` for odd lengths or non-hex characters.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn sha256_of_parts_is_sha256_of_their_concatenation() {
        assert_eq!(sha256_concat(&[b"ab", b"", b"c"]), sha256(b"abc"));
        assert_eq!(sha256_concat(&[]), sha256(b""));
    }

    #[test]
    fn hmac_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn gcm_round_trip_and_tamper() {
        let key = Aes256GcmKey::new(&[7u8; 32]).unwrap();
        let nonce = [1u8; 12];
        let mut buf = b"attack at dawn".to_vec();
        key.seal_in_place_append_tag(nonce, b"aad", &mut buf)
            .unwrap();
        assert_eq!(
            key.open(nonce, b"aad", &buf).unwrap().expose_secret(),
            b"attack at dawn"
        );
        assert_eq!(key.open(nonce, b"aaD", &buf).err(), Some(Error::Failed));
        for i in 0..buf.len() {
            let mut t = buf.clone();
            t[i] ^= 0x01;
            assert!(key.open(nonce, b"aad", &t).is_err(), "byte {i}");
        }
        assert!(key.open(nonce, b"aad", &buf[..10]).is_err());
    }

    #[test]
    fn hkdf_derivation_depends_on_every_input() {
        let seal = |k: Aes256GcmKey| {
            let mut b = vec![0u8; 16];
            k.seal_in_place_append_tag([0; 12], b"", &mut b).unwrap();
            b
        };
        let base = seal(Aes256GcmKey::derive_hkdf_sha256(b"ikm", b"salt", &[b"info"]).unwrap());
        let same = seal(Aes256GcmKey::derive_hkdf_sha256(b"ikm", b"salt", &[b"info"]).unwrap());
        assert_eq!(base, same);
        for (ikm, salt, info) in [
            (&b"ikM"[..], &b"salt"[..], &b"info"[..]),
            (b"ikm", b"salT", b"info"),
            (b"ikm", b"salt", b"infO"),
        ] {
            let other = seal(Aes256GcmKey::derive_hkdf_sha256(ikm, salt, &[info]).unwrap());
            assert_ne!(base, other);
        }
    }

    #[test]
    fn hex_round_trip() {
        let data = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&data), "0001abff");
        assert_eq!(unhex("0001ABff").unwrap(), data);
        assert!(unhex("abc").is_none());
        assert!(unhex("zz").is_none());
    }

    fn assert_zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}

    #[test]
    fn secret_bytes_zeroize_on_drop() {
        assert_zeroize_on_drop::<SecretBytes>();
        // Drop runs this same zeroize: the bytes are overwritten and the buffer emptied.
        let mut s = SecretBytes::copy_from(b"root key material");
        s.zeroize();
        assert!(s.is_empty());
        assert_eq!(s.expose_secret(), b"");
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
