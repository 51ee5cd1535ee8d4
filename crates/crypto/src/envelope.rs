//! Primitives for envelope-encryption message formats (the AWS Encryption SDK): AES-GCM with
//! 128-, 192- and 256-bit keys, HKDF over SHA-256/384/512 with arbitrary output lengths,
//! incremental SHA-256/384 hashing, ECDSA verification of a prehashed message with a SEC1
//! (compressed or uncompressed) public point and signing with an ephemeral key, and RSA
//! encryption and decryption with PKCS#1 v1.5 or OAEP.
//!
//! These are deliberately separate from the KMS-shaped API in the crate root and in
//! [`asymmetric`](crate::asymmetric): the Encryption SDK chooses key sizes and hashes per
//! algorithm suite, and its RSA keys are not KMS key specs.

use crate::{Error, GCM_NONCE_LEN, GCM_TAG_LEN, SecretBytes};
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
    OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{self, ParsedPublicKey};
use aws_lc_rs::{aead, digest, hkdf};

/// An AES-GCM key of 128, 192 or 256 bits (chosen by the length of the key bytes).
pub struct AesGcmKey(pub(crate) aead::LessSafeKey);

impl AesGcmKey {
    /// A key from 16, 24 or 32 raw bytes.
    pub fn new(key: &[u8]) -> Result<Self, Error> {
        let alg = match key.len() {
            16 => &aead::AES_128_GCM,
            24 => &aead::AES_192_GCM,
            32 => &aead::AES_256_GCM,
            _ => return Err(Error::InvalidKeyLength),
        };
        let unbound = aead::UnboundKey::new(alg, key)?;
        Ok(AesGcmKey(aead::LessSafeKey::new(unbound)))
    }

    /// Encrypts `in_out` in place and returns the tag. The caller guarantees the nonce is never
    /// reused with this key.
    pub fn seal_in_place_separate_tag(
        &self,
        nonce: [u8; GCM_NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; GCM_TAG_LEN], Error> {
        let tag = self.0.seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            in_out,
        )?;
        let mut out = [0u8; GCM_TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts `ciphertext` with its detached `tag` and returns the plaintext as a secret.
    /// Any tampering gives [`Error::Failed`].
    pub fn open_separate_tag(
        &self,
        nonce: [u8; GCM_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
    ) -> Result<SecretBytes, Error> {
        if tag.len() != GCM_TAG_LEN {
            return Err(Error::Failed);
        }
        let mut buf = SecretBytes::new(vec![0; ciphertext.len()]);
        self.0.open_separate_gather(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            ciphertext,
            tag,
            &mut buf.0,
        )?;
        Ok(buf)
    }
}

impl AesGcmKey {
    /// Decrypts `ciphertext_and_tag` (the ciphertext followed by its 16-byte tag) in place and
    /// returns the plaintext in the same allocation, as a secret from the start, so nothing
    /// decrypted is left behind on failure. Any tampering gives [`Error::Failed`].
    pub fn open_in_place(
        &self,
        nonce: [u8; GCM_NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: Vec<u8>,
    ) -> Result<SecretBytes, Error> {
        let mut buf = SecretBytes::new(ciphertext_and_tag);
        let len = self
            .0
            .open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad),
                &mut buf.0,
            )?
            .len();
        buf.0.truncate(len);
        Ok(buf)
    }
}

/// The hash functions of HKDF and of message signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    fn hkdf(self) -> hkdf::Algorithm {
        match self {
            HashAlgorithm::Sha256 => hkdf::HKDF_SHA256,
            HashAlgorithm::Sha384 => hkdf::HKDF_SHA384,
            HashAlgorithm::Sha512 => hkdf::HKDF_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            HashAlgorithm::Sha256 => &digest::SHA256,
            HashAlgorithm::Sha384 => &digest::SHA384,
            HashAlgorithm::Sha512 => &digest::SHA512,
        }
    }

    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        self.digest().output_len()
    }
}

struct OutLen(usize);

impl hkdf::KeyType for OutLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF (RFC 5869) extract-then-expand: `len` bytes from `ikm` with `salt` (empty means
/// HashLen zero bytes) and the concatenation of `info`.
pub fn hkdf(
    hash: HashAlgorithm,
    salt: &[u8],
    ikm: &[u8],
    info: &[&[u8]],
    len: usize,
) -> Result<SecretBytes, Error> {
    let prk = hkdf::Salt::new(hash.hkdf(), salt).extract(ikm);
    let okm = prk.expand(info, OutLen(len))?;
    let mut out = SecretBytes::new(vec![0u8; len]);
    okm.fill(&mut out.0)?;
    Ok(out)
}

/// An incremental hash (for signatures over a whole message).
pub struct Hasher(digest::Context);

impl Hasher {
    pub fn new(hash: HashAlgorithm) -> Self {
        Hasher(digest::Context::new(hash.digest()))
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything passed to [`Hasher::update`].
    pub fn finish(self) -> Vec<u8> {
        self.0.finish().as_ref().to_vec()
    }
}

/// Curves for ECDSA verification of a prehashed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcdsaCurve {
    /// P-256 with SHA-256.
    P256,
    /// P-384 with SHA-384.
    P384,
}

impl EcdsaCurve {
    /// The hash the signature is computed over.
    pub fn hash(self) -> HashAlgorithm {
        match self {
            EcdsaCurve::P256 => HashAlgorithm::Sha256,
            EcdsaCurve::P384 => HashAlgorithm::Sha384,
        }
    }

    /// Length of a SEC1 compressed point on this curve.
    pub fn compressed_point_len(self) -> usize {
        match self {
            EcdsaCurve::P256 => 33,
            EcdsaCurve::P384 => 49,
        }
    }
}

/// Verifies a DER `ECDSA-Sig-Value` over an already computed `digest` (of [`EcdsaCurve::hash`])
/// with a SEC1 public point (compressed or uncompressed). `Ok(false)` for a signature that does
/// not verify or does not parse; `Err(InvalidInput)` for a malformed point or digest.
pub fn ecdsa_verify_prehashed(
    curve: EcdsaCurve,
    public_point: &[u8],
    digest: &[u8],
    der_signature: &[u8],
) -> Result<bool, Error> {
    // Only SEC1 points: a leading 02/03 (compressed) or 04 (uncompressed), never an SPKI.
    match public_point.first() {
        Some(0x02..=0x04) => {}
        _ => return Err(Error::InvalidInput),
    }
    let alg: &'static signature::EcdsaVerificationAlgorithm = match curve {
        EcdsaCurve::P256 => &signature::ECDSA_P256_SHA256_ASN1,
        EcdsaCurve::P384 => &signature::ECDSA_P384_SHA384_ASN1,
    };
    let key = ParsedPublicKey::new(alg, public_point).map_err(|_| Error::InvalidInput)?;
    let digest = digest::Digest::import_less_safe(digest, curve.hash().digest())
        .map_err(|_| Error::InvalidInput)?;
    Ok(key.verify_digest_sig(&digest, der_signature).is_ok())
}

/// An ephemeral ECDSA signing key for a message footer: generated per message, never stored.
pub struct EcdsaSigningKey {
    curve: EcdsaCurve,
    pair: signature::EcdsaKeyPair,
}

impl EcdsaSigningKey {
    /// A fresh random key on `curve`.
    pub fn generate(curve: EcdsaCurve) -> Result<Self, Error> {
        let alg: &'static signature::EcdsaSigningAlgorithm = match curve {
            EcdsaCurve::P256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            EcdsaCurve::P384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        };
        Ok(EcdsaSigningKey {
            curve,
            pair: signature::EcdsaKeyPair::generate(alg)?,
        })
    }

    pub fn curve(&self) -> EcdsaCurve {
        self.curve
    }

    /// The public key as a SEC1 compressed point.
    pub fn compressed_public_point(&self) -> Result<Vec<u8>, Error> {
        use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
        use aws_lc_rs::signature::KeyPair as _;
        let point: EcPublicKeyCompressedBin<'static> = self.pair.public_key().as_be_bytes()?;
        Ok(point.as_ref().to_vec())
    }

    /// A DER `ECDSA-Sig-Value` over an already computed `digest` of [`EcdsaCurve::hash`].
    pub fn sign_prehashed(&self, digest: &[u8]) -> Result<Vec<u8>, Error> {
        let digest = digest::Digest::import_less_safe(digest, self.curve.hash().digest())
            .map_err(|_| Error::InvalidInput)?;
        Ok(self.pair.sign_digest(&digest)?.as_ref().to_vec())
    }
}

/// RSA encryption paddings (OAEP uses MGF1 with the same hash and an empty label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaPadding {
    Pkcs1,
    OaepSha1,
    OaepSha256,
    OaepSha384,
    OaepSha512,
}

impl RsaPadding {
    fn oaep(self) -> Option<&'static OaepAlgorithm> {
        match self {
            RsaPadding::Pkcs1 => None,
            RsaPadding::OaepSha1 => Some(&OAEP_SHA1_MGF1SHA1),
            RsaPadding::OaepSha256 => Some(&OAEP_SHA256_MGF1SHA256),
            RsaPadding::OaepSha384 => Some(&OAEP_SHA384_MGF1SHA384),
            RsaPadding::OaepSha512 => Some(&OAEP_SHA512_MGF1SHA512),
        }
    }
}

/// An RSA public key for encrypting data keys.
pub struct RsaEncryptingKey {
    oaep: OaepPublicEncryptingKey,
    pkcs1: Pkcs1PublicEncryptingKey,
}

impl RsaEncryptingKey {
    /// Parses a DER X.509 `SubjectPublicKeyInfo` RSA public key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        let parse = || PublicEncryptingKey::from_der(der).map_err(|_| Error::InvalidKeyMaterial);
        Ok(RsaEncryptingKey {
            oaep: OaepPublicEncryptingKey::new(parse()?)?,
            pkcs1: Pkcs1PublicEncryptingKey::new(parse()?)?,
        })
    }

    /// The public half of a DER PKCS#8 RSA private key.
    pub fn from_private_pkcs8(pkcs8: &SecretBytes) -> Result<Self, Error> {
        let parse = || {
            PrivateDecryptingKey::from_pkcs8(pkcs8.expose_secret())
                .map(|k| k.public_key())
                .map_err(|_| Error::InvalidKeyMaterial)
        };
        Ok(RsaEncryptingKey {
            oaep: OaepPublicEncryptingKey::new(parse()?)?,
            pkcs1: Pkcs1PublicEncryptingKey::new(parse()?)?,
        })
    }

    /// Encrypts `plaintext` (randomized padding).
    pub fn encrypt(&self, padding: RsaPadding, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let len = match padding.oaep() {
            Some(alg) => {
                let mut out = vec![0u8; self.oaep.ciphertext_size()];
                let n = self.oaep.encrypt(alg, plaintext, &mut out, None)?.len();
                out.truncate(n);
                return Ok(out);
            }
            None => self.pkcs1.ciphertext_size(),
        };
        let mut out = vec![0u8; len];
        let n = self.pkcs1.encrypt(plaintext, &mut out)?.len();
        out.truncate(n);
        Ok(out)
    }
}

/// An RSA private key (any size aws-lc accepts) parsed once for decryption.
pub struct RsaDecryptingKey {
    oaep: OaepPrivateDecryptingKey,
    pkcs1: Pkcs1PrivateDecryptingKey,
}

impl RsaDecryptingKey {
    /// Parses a DER PKCS#8 RSA private key.
    pub fn from_pkcs8(pkcs8: &SecretBytes) -> Result<Self, Error> {
        let parse = || {
            PrivateDecryptingKey::from_pkcs8(pkcs8.expose_secret())
                .map_err(|_| Error::InvalidKeyMaterial)
        };
        Ok(RsaDecryptingKey {
            oaep: OaepPrivateDecryptingKey::new(parse()?)?,
            pkcs1: Pkcs1PrivateDecryptingKey::new(parse()?)?,
        })
    }

    /// Modulus size in bits.
    pub fn key_size_bits(&self) -> usize {
        self.oaep.key_size_bits()
    }

    /// Decrypts `ciphertext`. Every failure is the same [`Error::Failed`].
    pub fn decrypt(&self, padding: RsaPadding, ciphertext: &[u8]) -> Result<SecretBytes, Error> {
        let mut out;
        let len = match padding.oaep() {
            Some(alg) => {
                out = SecretBytes::new(vec![0u8; self.oaep.min_output_size()]);
                self.oaep
                    .decrypt(alg, ciphertext, &mut out.0, None)
                    .map_err(|_| Error::Failed)?
                    .len()
            }
            None => {
                out = SecretBytes::new(vec![0u8; self.pkcs1.min_output_size()]);
                self.pkcs1
                    .decrypt(ciphertext, &mut out.0)
                    .map_err(|_| Error::Failed)?
                    .len()
            }
        };
        out.0.truncate(len);
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::unhex;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey, PublicEncryptingKey};
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair};

    #[test]
    fn aes_gcm_all_sizes_round_trip_and_detect_tampering() {
        for len in [16, 24, 32] {
            let key = AesGcmKey::new(&vec![7u8; len]).unwrap();
            let mut buf = b"hello world".to_vec();
            let tag = key
                .seal_in_place_separate_tag([1; 12], b"aad", &mut buf)
                .unwrap();
            let pt = key.open_separate_tag([1; 12], b"aad", &buf, &tag).unwrap();
            let joined = [buf.as_slice(), tag.as_slice()].concat();
            let in_place = key.open_in_place([1; 12], b"aad", joined.clone()).unwrap();
            assert_eq!(in_place.expose_secret(), pt.expose_secret());
            assert!(key.open_in_place([1; 12], b"aaD", joined.clone()).is_err());
            assert!(
                key.open_in_place([1; 12], b"aad", joined[1..].to_vec())
                    .is_err()
            );
            assert!(
                key.open_in_place([1; 12], b"aad", tag[..15].to_vec())
                    .is_err()
            );
            assert_eq!(pt.expose_secret(), b"hello world");
            assert!(key.open_separate_tag([1; 12], b"aaD", &buf, &tag).is_err());
            assert!(key.open_separate_tag([2; 12], b"aad", &buf, &tag).is_err());
            assert!(
                key.open_separate_tag([1; 12], b"aad", &buf, &tag[..15])
                    .is_err()
            );
        }
        assert!(AesGcmKey::new(&[0; 20]).is_err());
    }

    #[test]
    fn aes_128_gcm_known_answer() {
        // NIST GCM test case 3 (AES-128), McGrew & Viega.
        let key = AesGcmKey::new(&unhex("feffe9928665731c6d6a8f9467308308").unwrap()).unwrap();
        let nonce: [u8; 12] = unhex("cafebabefacedbaddecaf888")
            .unwrap()
            .try_into()
            .unwrap();
        let pt = unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255").unwrap();
        let ct = unhex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985").unwrap();
        let tag = unhex("4d5c2af327cd64a62cf35abd2ba6fab4").unwrap();
        let out = key.open_separate_tag(nonce, b"", &ct, &tag).unwrap();
        assert_eq!(out.expose_secret(), pt.as_slice());
    }

    #[test]
    fn hkdf_rfc5869_case_1_and_other_hashes() {
        let ikm = [0x0bu8; 22];
        let salt = unhex("000102030405060708090a0b0c").unwrap();
        let info = unhex("f0f1f2f3f4f5f6f7f8f9").unwrap();
        let okm = hkdf(HashAlgorithm::Sha256, &salt, &ikm, &[&info], 42).unwrap();
        assert_eq!(
            crate::hex(okm.expose_secret()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
        // Split info is the same as concatenated info; hashes differ from each other.
        let a = hkdf(HashAlgorithm::Sha512, b"s", b"k", &[b"ab", b"c"], 32).unwrap();
        let b = hkdf(HashAlgorithm::Sha512, b"s", b"k", &[b"abc"], 32).unwrap();
        let c = hkdf(HashAlgorithm::Sha384, b"s", b"k", &[b"abc"], 32).unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        assert_ne!(a.expose_secret(), c.expose_secret());
        // Empty salt equals HashLen zero bytes.
        let d = hkdf(HashAlgorithm::Sha384, &[], b"k", &[b"i"], 24).unwrap();
        let e = hkdf(HashAlgorithm::Sha384, &[0; 48], b"k", &[b"i"], 24).unwrap();
        assert_eq!(d.expose_secret(), e.expose_secret());
        assert_eq!(d.len(), 24);
    }

    #[test]
    fn ecdsa_prehashed_with_compressed_and_uncompressed_points() {
        let rng = SystemRandom::new();
        for (curve, sign_alg) in [
            (EcdsaCurve::P256, &signature::ECDSA_P256_SHA256_ASN1_SIGNING),
            (EcdsaCurve::P384, &signature::ECDSA_P384_SHA384_ASN1_SIGNING),
        ] {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(sign_alg, &rng).unwrap();
            let pair = EcdsaKeyPair::from_pkcs8(sign_alg, pkcs8.as_ref()).unwrap();
            let msg = b"header and body";
            let sig = pair.sign(&rng, msg).unwrap();
            let mut h = Hasher::new(curve.hash());
            h.update(b"header ");
            h.update(b"and body");
            let digest = h.finish();
            let uncompressed = pair.public_key().as_ref().to_vec();
            let x_len = (uncompressed.len() - 1) / 2;
            let y_odd = uncompressed[uncompressed.len() - 1] & 1 == 1;
            let mut compressed = vec![if y_odd { 3 } else { 2 }];
            compressed.extend_from_slice(&uncompressed[1..=x_len]);
            assert_eq!(compressed.len(), curve.compressed_point_len());
            for point in [&compressed, &uncompressed] {
                assert!(ecdsa_verify_prehashed(curve, point, &digest, sig.as_ref()).unwrap());
                let mut bad = digest.clone();
                bad[0] ^= 1;
                assert!(!ecdsa_verify_prehashed(curve, point, &bad, sig.as_ref()).unwrap());
                assert!(!ecdsa_verify_prehashed(curve, point, &digest, b"\x30\x00").unwrap());
            }
            let mut wrong_parity = compressed.clone();
            wrong_parity[0] ^= 1;
            assert!(
                !ecdsa_verify_prehashed(curve, &wrong_parity, &digest, sig.as_ref())
                    .unwrap_or(false)
            );
            assert!(ecdsa_verify_prehashed(curve, &[5; 33], &digest, sig.as_ref()).is_err());
            assert!(
                ecdsa_verify_prehashed(curve, &compressed, &digest[1..], sig.as_ref()).is_err()
            );
        }
    }

    #[test]
    fn rsa_pkcs1_and_oaep_decrypt() {
        let pkcs8 = crate::asymmetric::generate(crate::AsymmetricSpec::Rsa2048).unwrap();
        let key = RsaDecryptingKey::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(key.key_size_bits(), 2048);
        let private = PrivateDecryptingKey::from_pkcs8(pkcs8.expose_secret()).unwrap();
        let public: PublicEncryptingKey = private.public_key();
        let msg = [9u8; 32];
        let mut ct = vec![0u8; 256];
        let pk = Pkcs1PublicEncryptingKey::new(public.clone()).unwrap();
        pk.encrypt(&msg, &mut ct).unwrap();
        assert_eq!(
            key.decrypt(RsaPadding::Pkcs1, &ct).unwrap().expose_secret(),
            &msg
        );
        assert!(key.decrypt(RsaPadding::OaepSha1, &ct).is_err());
        let ok = OaepPublicEncryptingKey::new(public).unwrap();
        for p in [
            RsaPadding::OaepSha1,
            RsaPadding::OaepSha256,
            RsaPadding::OaepSha384,
            RsaPadding::OaepSha512,
        ] {
            let mut ct = vec![0u8; 256];
            ok.encrypt(p.oaep().unwrap(), &msg, &mut ct, None).unwrap();
            assert_eq!(key.decrypt(p, &ct).unwrap().expose_secret(), &msg);
            let other = if p == RsaPadding::OaepSha1 {
                RsaPadding::OaepSha256
            } else {
                RsaPadding::OaepSha1
            };
            assert!(key.decrypt(other, &ct).is_err());
        }
        assert!(RsaDecryptingKey::from_pkcs8(&SecretBytes::copy_from(b"junk")).is_err());
    }

    #[test]
    fn ephemeral_ecdsa_signing_verifies_with_its_compressed_point() {
        for curve in [EcdsaCurve::P256, EcdsaCurve::P384] {
            let key = EcdsaSigningKey::generate(curve).unwrap();
            assert_eq!(key.curve(), curve);
            let point = key.compressed_public_point().unwrap();
            assert_eq!(point.len(), curve.compressed_point_len());
            assert!(matches!(point[0], 2 | 3));
            let mut h = Hasher::new(curve.hash());
            h.update(b"message");
            let digest = h.finish();
            let sig = key.sign_prehashed(&digest).unwrap();
            assert!(ecdsa_verify_prehashed(curve, &point, &digest, &sig).unwrap());
            let other = EcdsaSigningKey::generate(curve).unwrap();
            let other_point = other.compressed_public_point().unwrap();
            assert!(!ecdsa_verify_prehashed(curve, &other_point, &digest, &sig).unwrap());
            assert!(key.sign_prehashed(&digest[1..]).is_err());
        }
    }

    #[test]
    fn rsa_encrypt_round_trips_with_every_padding() {
        use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
        let pkcs8 = crate::asymmetric::generate(crate::AsymmetricSpec::Rsa2048).unwrap();
        let private = RsaDecryptingKey::from_pkcs8(&pkcs8).unwrap();
        let spki: PublicKeyX509Der<'static> =
            PrivateDecryptingKey::from_pkcs8(pkcs8.expose_secret())
                .unwrap()
                .public_key()
                .as_der()
                .unwrap();
        let from_private = RsaEncryptingKey::from_private_pkcs8(&pkcs8).unwrap();
        let from_spki = RsaEncryptingKey::from_spki_der(spki.as_ref()).unwrap();
        for key in [&from_private, &from_spki] {
            for p in [
                RsaPadding::Pkcs1,
                RsaPadding::OaepSha1,
                RsaPadding::OaepSha256,
                RsaPadding::OaepSha384,
                RsaPadding::OaepSha512,
            ] {
                let ct = key.encrypt(p, &[4u8; 32]).unwrap();
                assert_eq!(ct.len(), 256);
                assert_eq!(private.decrypt(p, &ct).unwrap().expose_secret(), &[4u8; 32]);
                assert_ne!(
                    ct,
                    key.encrypt(p, &[4u8; 32]).unwrap(),
                    "padding is randomized"
                );
            }
        }
        assert!(RsaEncryptingKey::from_spki_der(b"junk").is_err());
        assert!(RsaEncryptingKey::from_private_pkcs8(&SecretBytes::copy_from(b"junk")).is_err());
    }
}
