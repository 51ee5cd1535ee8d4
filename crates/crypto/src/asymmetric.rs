//! Asymmetric keys as AWS KMS knows them: RSA (signing and OAEP encryption), ECDSA on the NIST
//! curves and secp256k1, Ed25519, ML-DSA (FIPS 204, pure mode, empty context), and ECDH key
//! agreement on the NIST curves.
//!
//! Private keys travel as unencrypted PKCS#8 v1 DER inside a [`SecretBytes`]; public keys as DER
//! `SubjectPublicKeyInfo`, which is what KMS `GetPublicKey` returns. Every function takes the key
//! spec explicitly and checks that the key material matches it, so a key stored under the wrong
//! spec is refused rather than silently used.
//!
//! Error mapping (for the server):
//! * [`Error::IncompatibleAlgorithm`]: the algorithm is not one KMS offers for the key spec.
//! * [`Error::Unsupported`]: the combination exists in KMS but not here (DIGEST mode with Ed25519).
//! * [`Error::InvalidInput`]: a caller-supplied input is malformed (digest of the wrong length,
//!   public key that does not parse or is for another curve or size).
//! * [`Error::PlaintextTooLong`]: an OAEP plaintext is over the limit for the key and algorithm.
//! * [`Error::InvalidKeyMaterial`]: the *stored* private key does not parse or does not match
//!   its spec (an internal fault, not the caller's).
//! * [`Error::Failed`]: OAEP decryption failed, for whatever reason.

use crate::{Error, SecretBytes};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{
    self, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, Ed25519KeyPair,
    KeyPair as _, ParsedPublicKey, PqdsaKeyPair, PqdsaSigningAlgorithm, PqdsaVerificationAlgorithm,
    RsaEncoding, RsaKeyPair, RsaParameters, VerificationAlgorithm,
};
use aws_lc_rs::{agreement, digest};

/// An asymmetric KMS key spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AsymmetricSpec {
    /// `RSA_2048`
    Rsa2048,
    /// `RSA_3072`
    Rsa3072,
    /// `RSA_4096`
    Rsa4096,
    /// `ECC_NIST_P256`
    EccP256,
    /// `ECC_NIST_P384`
    EccP384,
    /// `ECC_NIST_P521`
    EccP521,
    /// `ECC_SECG_P256K1`
    EccSecp256k1,
    /// `ECC_NIST_EDWARDS25519`
    Ed25519,
    /// `ML_DSA_44`
    MlDsa44,
    /// `ML_DSA_65`
    MlDsa65,
    /// `ML_DSA_87`
    MlDsa87,
}

impl AsymmetricSpec {
    /// Every spec, in KMS documentation order.
    pub const ALL: [AsymmetricSpec; 11] = [
        AsymmetricSpec::Rsa2048,
        AsymmetricSpec::Rsa3072,
        AsymmetricSpec::Rsa4096,
        AsymmetricSpec::EccP256,
        AsymmetricSpec::EccP384,
        AsymmetricSpec::EccP521,
        AsymmetricSpec::EccSecp256k1,
        AsymmetricSpec::Ed25519,
        AsymmetricSpec::MlDsa44,
        AsymmetricSpec::MlDsa65,
        AsymmetricSpec::MlDsa87,
    ];

    /// The pre-quantum specs (RSA and elliptic curves).
    pub const CLASSICAL: [AsymmetricSpec; 8] = [
        AsymmetricSpec::Rsa2048,
        AsymmetricSpec::Rsa3072,
        AsymmetricSpec::Rsa4096,
        AsymmetricSpec::EccP256,
        AsymmetricSpec::EccP384,
        AsymmetricSpec::EccP521,
        AsymmetricSpec::EccSecp256k1,
        AsymmetricSpec::Ed25519,
    ];

    /// The spec for a KMS `KeySpec` name, e.g. `"ECC_NIST_P256"`.
    pub fn from_kms_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.kms_name() == name)
    }

    /// The KMS `KeySpec` name.
    pub fn kms_name(self) -> &'static str {
        match self {
            AsymmetricSpec::Rsa2048 => "RSA_2048",
            AsymmetricSpec::Rsa3072 => "RSA_3072",
            AsymmetricSpec::Rsa4096 => "RSA_4096",
            AsymmetricSpec::EccP256 => "ECC_NIST_P256",
            AsymmetricSpec::EccP384 => "ECC_NIST_P384",
            AsymmetricSpec::EccP521 => "ECC_NIST_P521",
            AsymmetricSpec::EccSecp256k1 => "ECC_SECG_P256K1",
            AsymmetricSpec::Ed25519 => "ECC_NIST_EDWARDS25519",
            AsymmetricSpec::MlDsa44 => "ML_DSA_44",
            AsymmetricSpec::MlDsa65 => "ML_DSA_65",
            AsymmetricSpec::MlDsa87 => "ML_DSA_87",
        }
    }

    /// Whether this is an RSA spec.
    pub fn is_rsa(self) -> bool {
        self.rsa_bits().is_some()
    }

    /// The RSA modulus size in bits, `None` for elliptic-curve specs.
    pub fn rsa_bits(self) -> Option<usize> {
        match self {
            AsymmetricSpec::Rsa2048 => Some(2048),
            AsymmetricSpec::Rsa3072 => Some(3072),
            AsymmetricSpec::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// The signing algorithms KMS offers for this spec (`SigningAlgorithms` in `DescribeKey`).
    pub fn signing_algorithms(self) -> &'static [SigningAlgorithm] {
        use SigningAlgorithm as A;
        match self {
            AsymmetricSpec::Rsa2048 | AsymmetricSpec::Rsa3072 | AsymmetricSpec::Rsa4096 => &[
                A::RsassaPssSha256,
                A::RsassaPssSha384,
                A::RsassaPssSha512,
                A::RsassaPkcs1V15Sha256,
                A::RsassaPkcs1V15Sha384,
                A::RsassaPkcs1V15Sha512,
            ],
            AsymmetricSpec::EccP256 | AsymmetricSpec::EccSecp256k1 => &[A::EcdsaSha256],
            AsymmetricSpec::EccP384 => &[A::EcdsaSha384],
            AsymmetricSpec::EccP521 => &[A::EcdsaSha512],
            AsymmetricSpec::Ed25519 => &[A::Ed25519Sha512],
            AsymmetricSpec::MlDsa44 | AsymmetricSpec::MlDsa65 | AsymmetricSpec::MlDsa87 => {
                &[A::MlDsaShake256]
            }
        }
    }

    /// The encryption algorithms KMS offers for this spec (empty unless RSA).
    pub fn encryption_algorithms(self) -> &'static [EncryptionAlgorithm] {
        if self.is_rsa() {
            &EncryptionAlgorithm::ALL
        } else {
            &[]
        }
    }

    /// Whether KMS allows `KEY_AGREEMENT` (ECDH) for this spec: the NIST curves only.
    pub fn supports_key_agreement(self) -> bool {
        self.ecdh_algorithm().is_some()
    }

    fn rsa_key_size(self) -> Option<rsa::KeySize> {
        match self {
            AsymmetricSpec::Rsa2048 => Some(rsa::KeySize::Rsa2048),
            AsymmetricSpec::Rsa3072 => Some(rsa::KeySize::Rsa3072),
            AsymmetricSpec::Rsa4096 => Some(rsa::KeySize::Rsa4096),
            _ => None,
        }
    }

    fn ecdsa_signing(self) -> Option<&'static EcdsaSigningAlgorithm> {
        match self {
            AsymmetricSpec::EccP256 => Some(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
            AsymmetricSpec::EccP384 => Some(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
            AsymmetricSpec::EccP521 => Some(&signature::ECDSA_P521_SHA512_ASN1_SIGNING),
            AsymmetricSpec::EccSecp256k1 => Some(&signature::ECDSA_P256K1_SHA256_ASN1_SIGNING),
            _ => None,
        }
    }

    fn ecdsa_verification(self) -> Option<&'static EcdsaVerificationAlgorithm> {
        match self {
            AsymmetricSpec::EccP256 => Some(&signature::ECDSA_P256_SHA256_ASN1),
            AsymmetricSpec::EccP384 => Some(&signature::ECDSA_P384_SHA384_ASN1),
            AsymmetricSpec::EccP521 => Some(&signature::ECDSA_P521_SHA512_ASN1),
            AsymmetricSpec::EccSecp256k1 => Some(&signature::ECDSA_P256K1_SHA256_ASN1),
            _ => None,
        }
    }

    fn ml_dsa(
        self,
    ) -> Option<(
        &'static PqdsaSigningAlgorithm,
        &'static PqdsaVerificationAlgorithm,
    )> {
        match self {
            AsymmetricSpec::MlDsa44 => Some((&signature::ML_DSA_44_SIGNING, &signature::ML_DSA_44)),
            AsymmetricSpec::MlDsa65 => Some((&signature::ML_DSA_65_SIGNING, &signature::ML_DSA_65)),
            AsymmetricSpec::MlDsa87 => Some((&signature::ML_DSA_87_SIGNING, &signature::ML_DSA_87)),
            _ => None,
        }
    }

    fn ecdh_algorithm(self) -> Option<&'static agreement::Algorithm> {
        match self {
            AsymmetricSpec::EccP256 => Some(&agreement::ECDH_P256),
            AsymmetricSpec::EccP384 => Some(&agreement::ECDH_P384),
            AsymmetricSpec::EccP521 => Some(&agreement::ECDH_P521),
            _ => None,
        }
    }
}

/// A KMS `SigningAlgorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// `RSASSA_PSS_SHA_256` (MGF1 with SHA-256, salt length 32)
    RsassaPssSha256,
    /// `RSASSA_PSS_SHA_384` (MGF1 with SHA-384, salt length 48)
    RsassaPssSha384,
    /// `RSASSA_PSS_SHA_512` (MGF1 with SHA-512, salt length 64)
    RsassaPssSha512,
    /// `RSASSA_PKCS1_V1_5_SHA_256`
    RsassaPkcs1V15Sha256,
    /// `RSASSA_PKCS1_V1_5_SHA_384`
    RsassaPkcs1V15Sha384,
    /// `RSASSA_PKCS1_V1_5_SHA_512`
    RsassaPkcs1V15Sha512,
    /// `ECDSA_SHA_256` (P-256, secp256k1)
    EcdsaSha256,
    /// `ECDSA_SHA_384` (P-384)
    EcdsaSha384,
    /// `ECDSA_SHA_512` (P-521)
    EcdsaSha512,
    /// `ED25519_SHA_512` (pure Ed25519 over the raw message)
    Ed25519Sha512,
    /// `ML_DSA_SHAKE_256` (pure ML-DSA over the raw message, empty context)
    MlDsaShake256,
}

impl SigningAlgorithm {
    /// Every algorithm.
    pub const ALL: [SigningAlgorithm; 11] = [
        SigningAlgorithm::RsassaPssSha256,
        SigningAlgorithm::RsassaPssSha384,
        SigningAlgorithm::RsassaPssSha512,
        SigningAlgorithm::RsassaPkcs1V15Sha256,
        SigningAlgorithm::RsassaPkcs1V15Sha384,
        SigningAlgorithm::RsassaPkcs1V15Sha512,
        SigningAlgorithm::EcdsaSha256,
        SigningAlgorithm::EcdsaSha384,
        SigningAlgorithm::EcdsaSha512,
        SigningAlgorithm::Ed25519Sha512,
        SigningAlgorithm::MlDsaShake256,
    ];

    /// The algorithm for a KMS name, e.g. `"RSASSA_PSS_SHA_256"`.
    pub fn from_kms_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.kms_name() == name)
    }

    /// The KMS name.
    pub fn kms_name(self) -> &'static str {
        match self {
            SigningAlgorithm::RsassaPssSha256 => "RSASSA_PSS_SHA_256",
            SigningAlgorithm::RsassaPssSha384 => "RSASSA_PSS_SHA_384",
            SigningAlgorithm::RsassaPssSha512 => "RSASSA_PSS_SHA_512",
            SigningAlgorithm::RsassaPkcs1V15Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
            SigningAlgorithm::RsassaPkcs1V15Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
            SigningAlgorithm::RsassaPkcs1V15Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
            SigningAlgorithm::EcdsaSha256 => "ECDSA_SHA_256",
            SigningAlgorithm::EcdsaSha384 => "ECDSA_SHA_384",
            SigningAlgorithm::EcdsaSha512 => "ECDSA_SHA_512",
            SigningAlgorithm::Ed25519Sha512 => "ED25519_SHA_512",
            SigningAlgorithm::MlDsaShake256 => "ML_DSA_SHAKE_256",
        }
    }

    /// Whether KMS allows this algorithm with keys of `spec`.
    pub fn is_valid_for(self, spec: AsymmetricSpec) -> bool {
        spec.signing_algorithms().contains(&self)
    }

    /// The length in bytes of the digest a `MessageType=DIGEST` request must carry, or `None` if
    /// the algorithm has no DIGEST mode (`ED25519_SHA_512` signs the raw message only).
    pub fn digest_len(self) -> Option<usize> {
        self.hash().map(digest::Algorithm::output_len)
    }

    /// The hash applied to a RAW message (for Ed25519 the hash is internal to the scheme).
    fn hash(self) -> Option<&'static digest::Algorithm> {
        match self {
            SigningAlgorithm::RsassaPssSha256
            | SigningAlgorithm::RsassaPkcs1V15Sha256
            | SigningAlgorithm::EcdsaSha256 => Some(&digest::SHA256),
            SigningAlgorithm::RsassaPssSha384
            | SigningAlgorithm::RsassaPkcs1V15Sha384
            | SigningAlgorithm::EcdsaSha384 => Some(&digest::SHA384),
            SigningAlgorithm::RsassaPssSha512
            | SigningAlgorithm::RsassaPkcs1V15Sha512
            | SigningAlgorithm::EcdsaSha512 => Some(&digest::SHA512),
            SigningAlgorithm::Ed25519Sha512 | SigningAlgorithm::MlDsaShake256 => None,
        }
    }

    fn rsa_encoding(self) -> Option<&'static dyn RsaEncoding> {
        match self {
            SigningAlgorithm::RsassaPssSha256 => Some(&signature::RSA_PSS_SHA256),
            SigningAlgorithm::RsassaPssSha384 => Some(&signature::RSA_PSS_SHA384),
            SigningAlgorithm::RsassaPssSha512 => Some(&signature::RSA_PSS_SHA512),
            SigningAlgorithm::RsassaPkcs1V15Sha256 => Some(&signature::RSA_PKCS1_SHA256),
            SigningAlgorithm::RsassaPkcs1V15Sha384 => Some(&signature::RSA_PKCS1_SHA384),
            SigningAlgorithm::RsassaPkcs1V15Sha512 => Some(&signature::RSA_PKCS1_SHA512),
            _ => None,
        }
    }

    /// RSA verification parameters. PSS verification expects salt length = digest length, as
    /// KMS signs.
    fn rsa_parameters(self) -> Option<&'static RsaParameters> {
        match self {
            SigningAlgorithm::RsassaPssSha256 => Some(&signature::RSA_PSS_2048_8192_SHA256),
            SigningAlgorithm::RsassaPssSha384 => Some(&signature::RSA_PSS_2048_8192_SHA384),
            SigningAlgorithm::RsassaPssSha512 => Some(&signature::RSA_PSS_2048_8192_SHA512),
            SigningAlgorithm::RsassaPkcs1V15Sha256 => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
            SigningAlgorithm::RsassaPkcs1V15Sha384 => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
            SigningAlgorithm::RsassaPkcs1V15Sha512 => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
            _ => None,
        }
    }
}

/// A KMS `EncryptionAlgorithm` for asymmetric (RSA) keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncryptionAlgorithm {
    /// `RSAES_OAEP_SHA_1` (OAEP with SHA-1 and MGF1-SHA-1, empty label)
    RsaesOaepSha1,
    /// `RSAES_OAEP_SHA_256` (OAEP with SHA-256 and MGF1-SHA-256, empty label)
    RsaesOaepSha256,
}

impl EncryptionAlgorithm {
    /// Every algorithm.
    pub const ALL: [EncryptionAlgorithm; 2] = [
        EncryptionAlgorithm::RsaesOaepSha1,
        EncryptionAlgorithm::RsaesOaepSha256,
    ];

    /// The algorithm for a KMS name, e.g. `"RSAES_OAEP_SHA_256"`.
    pub fn from_kms_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.kms_name() == name)
    }

    /// The KMS name.
    pub fn kms_name(self) -> &'static str {
        match self {
            EncryptionAlgorithm::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            EncryptionAlgorithm::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        }
    }

    /// Whether KMS allows this algorithm with keys of `spec` (any RSA spec).
    pub fn is_valid_for(self, spec: AsymmetricSpec) -> bool {
        spec.is_rsa()
    }

    /// The longest plaintext KMS accepts for this algorithm and spec (k - 2·hLen - 2 bytes:
    /// 214/190 for RSA_2048, 342/318 for RSA_3072, 470/446 for RSA_4096), or `None` if the
    /// algorithm is not valid for the spec.
    pub fn max_plaintext_len(self, spec: AsymmetricSpec) -> Option<usize> {
        let modulus_bytes = spec.rsa_bits()? / 8;
        let hash_len = match self {
            EncryptionAlgorithm::RsaesOaepSha1 => 20,
            EncryptionAlgorithm::RsaesOaepSha256 => 32,
        };
        modulus_bytes.checked_sub(2 * hash_len + 2)
    }

    fn oaep(self) -> &'static OaepAlgorithm {
        match self {
            EncryptionAlgorithm::RsaesOaepSha1 => &OAEP_SHA1_MGF1SHA1,
            EncryptionAlgorithm::RsaesOaepSha256 => &OAEP_SHA256_MGF1SHA256,
        }
    }
}

/// Generates a fresh key pair for `spec` and returns its private key as PKCS#8 v1 DER.
pub fn generate(spec: AsymmetricSpec) -> Result<SecretBytes, Error> {
    if let Some(size) = spec.rsa_key_size() {
        let pair = RsaKeyPair::generate(size)?;
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)?;
        return Ok(SecretBytes::copy_from(der.as_ref()));
    }
    if let Some(alg) = spec.ecdsa_signing() {
        let doc = EcdsaKeyPair::generate(alg)?.to_pkcs8v1()?;
        return Ok(SecretBytes::copy_from(doc.as_ref()));
    }
    if let Some((alg, _)) = spec.ml_dsa() {
        let doc = PqdsaKeyPair::generate(alg)?.to_pkcs8v1()?;
        return Ok(SecretBytes::copy_from(doc.as_ref()));
    }
    let doc = Ed25519KeyPair::generate()?.to_pkcs8v1()?;
    Ok(SecretBytes::copy_from(doc.as_ref()))
}

/// The private key of `spec` in `pkcs8`, parsed; checks that the key really is of that spec.
enum PrivateKey {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    MlDsa(PqdsaKeyPair),
}

impl PrivateKey {
    fn parse(spec: AsymmetricSpec, pkcs8: &SecretBytes) -> Result<Self, Error> {
        let der = pkcs8.expose_secret();
        if let Some(bits) = spec.rsa_bits() {
            let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| Error::InvalidKeyMaterial)?;
            if pair.public_modulus_len() * 8 != bits {
                return Err(Error::InvalidKeyMaterial);
            }
            return Ok(PrivateKey::Rsa(pair));
        }
        if let Some(alg) = spec.ecdsa_signing() {
            let pair = EcdsaKeyPair::from_pkcs8(alg, der).map_err(|_| Error::InvalidKeyMaterial)?;
            return Ok(PrivateKey::Ecdsa(pair));
        }
        if let Some((alg, _)) = spec.ml_dsa() {
            let pair = PqdsaKeyPair::from_pkcs8(alg, der).map_err(|_| Error::InvalidKeyMaterial)?;
            return Ok(PrivateKey::MlDsa(pair));
        }
        let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|_| Error::InvalidKeyMaterial)?;
        Ok(PrivateKey::Ed25519(pair))
    }

    fn public_key_der(&self) -> Result<PublicKeyX509Der<'static>, Error> {
        Ok(match self {
            PrivateKey::Rsa(pair) => pair.public_key().as_der()?,
            PrivateKey::Ecdsa(pair) => pair.public_key().as_der()?,
            PrivateKey::Ed25519(pair) => pair.public_key().as_der()?,
            PrivateKey::MlDsa(pair) => pair.public_key().as_der()?,
        })
    }
}

/// Checks that `pkcs8` holds a private key of `spec` (e.g. for imported key material).
pub fn check_private_key(spec: AsymmetricSpec, pkcs8: &SecretBytes) -> Result<(), Error> {
    PrivateKey::parse(spec, pkcs8).map(|_| ())
}

/// The public key of the private key `pkcs8`, as DER `SubjectPublicKeyInfo` (what KMS
/// `GetPublicKey` returns).
pub fn public_key_der(spec: AsymmetricSpec, pkcs8: &SecretBytes) -> Result<Vec<u8>, Error> {
    let der = PrivateKey::parse(spec, pkcs8)?.public_key_der()?;
    Ok(der.as_ref().to_vec())
}

fn check_signing_algorithm(spec: AsymmetricSpec, alg: SigningAlgorithm) -> Result<(), Error> {
    if alg.is_valid_for(spec) {
        Ok(())
    } else {
        Err(Error::IncompatibleAlgorithm)
    }
}

/// In DIGEST mode, `message` is the digest: it must have exactly the algorithm's hash length.
fn imported_digest(
    alg: SigningAlgorithm,
    message: &[u8],
    digest_mode: bool,
) -> Result<Option<digest::Digest>, Error> {
    if !digest_mode {
        return Ok(None);
    }
    let hash = alg.hash().ok_or(Error::Unsupported)?;
    digest::Digest::import_less_safe(message, hash)
        .map(Some)
        .map_err(|_| Error::InvalidInput)
}

/// A private key parsed once for repeated signing: parsing (and for EC keys, recomputing the
/// public point) costs as much as a signature, so the KMS key cache holds these.
pub struct AsymmetricKey {
    spec: AsymmetricSpec,
    key: PrivateKey,
    public_der: Vec<u8>,
}

impl AsymmetricKey {
    /// Parses `pkcs8`, checking that it holds a key of `spec`.
    pub fn parse(spec: AsymmetricSpec, pkcs8: &SecretBytes) -> Result<Self, Error> {
        let key = PrivateKey::parse(spec, pkcs8)?;
        let public_der = key.public_key_der()?.as_ref().to_vec();
        Ok(AsymmetricKey {
            spec,
            key,
            public_der,
        })
    }

    /// The key spec.
    pub fn spec(&self) -> AsymmetricSpec {
        self.spec
    }

    /// The public key as DER `SubjectPublicKeyInfo`.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    /// Signs `message`; see [`sign`] for the meaning of `digest_mode`.
    pub fn sign(
        &self,
        alg: SigningAlgorithm,
        message: &[u8],
        digest_mode: bool,
    ) -> Result<Vec<u8>, Error> {
        check_signing_algorithm(self.spec, alg)?;
        let digest = imported_digest(alg, message, digest_mode)?;
        match &self.key {
            PrivateKey::Rsa(pair) => {
                let encoding = alg.rsa_encoding().ok_or(Error::IncompatibleAlgorithm)?;
                let mut sig = vec![0u8; pair.public_modulus_len()];
                match &digest {
                    Some(d) => pair.sign_digest(encoding, d, &mut sig)?,
                    None => pair.sign(
                        encoding,
                        &aws_lc_rs::rand::SystemRandom::new(),
                        message,
                        &mut sig,
                    )?,
                }
                Ok(sig)
            }
            PrivateKey::Ecdsa(pair) => {
                let sig = match &digest {
                    Some(d) => pair.sign_digest(d)?,
                    None => pair.sign(&aws_lc_rs::rand::SystemRandom::new(), message)?,
                };
                Ok(sig.as_ref().to_vec())
            }
            PrivateKey::Ed25519(pair) => {
                // `imported_digest` already refused DIGEST mode for Ed25519.
                Ok(pair.try_sign(message)?.as_ref().to_vec())
            }
            PrivateKey::MlDsa(pair) => {
                // `imported_digest` already refused DIGEST mode for ML-DSA.
                let mut sig = vec![0u8; pair.algorithm().signature_len()];
                let len = pair.sign(message, &mut sig)?;
                sig.truncate(len);
                Ok(sig)
            }
        }
    }

    /// Verifies `signature` with this key's public half; see [`verify`].
    pub fn verify(
        &self,
        alg: SigningAlgorithm,
        message: &[u8],
        digest_mode: bool,
        signature: &[u8],
    ) -> Result<bool, Error> {
        verify(
            self.spec,
            &self.public_der,
            alg,
            message,
            digest_mode,
            signature,
        )
    }
}

/// Signs with the private key `pkcs8` of `spec`.
///
/// With `digest_mode == false` (KMS `MessageType=RAW`) the message is hashed with the
/// algorithm's hash (Ed25519 signs it directly); with `digest_mode == true` (`DIGEST`) `message`
/// is the already computed digest and must be exactly [`SigningAlgorithm::digest_len`] bytes.
/// ECDSA signatures are DER (`ECDSA-Sig-Value`), RSA signatures are the modulus length.
pub fn sign(
    spec: AsymmetricSpec,
    pkcs8: &SecretBytes,
    alg: SigningAlgorithm,
    message: &[u8],
    digest_mode: bool,
) -> Result<Vec<u8>, Error> {
    check_signing_algorithm(spec, alg)?;
    imported_digest(alg, message, digest_mode)?;
    AsymmetricKey::parse(spec, pkcs8)?.sign(alg, message, digest_mode)
}

/// Parses a DER `SubjectPublicKeyInfo` of `spec` for verification with `valg`. Refuses keys of
/// another type, curve or size, and encodings other than canonical SPKI DER.
fn parse_public_key(
    spec: AsymmetricSpec,
    public_der: &[u8],
    valg: &'static dyn VerificationAlgorithm,
) -> Result<ParsedPublicKey, Error> {
    if let Some(bits) = spec.rsa_bits() {
        let key = PublicEncryptingKey::from_der(public_der).map_err(|_| Error::InvalidInput)?;
        if key.key_size_bits() != bits {
            return Err(Error::InvalidInput);
        }
    }
    let key = ParsedPublicKey::new(valg, public_der).map_err(|_| Error::InvalidInput)?;
    let canonical = key.as_der().map_err(|_| Error::InvalidInput)?;
    if canonical.as_ref() != public_der {
        return Err(Error::InvalidInput);
    }
    Ok(key)
}

/// Verifies `signature` with the public key `public_der` (DER `SubjectPublicKeyInfo`, as from
/// [`public_key_der`]). `Ok(false)` for a signature that does not verify (including one that
/// does not even parse); `Err` only for an incompatible algorithm, a malformed public key, or a
/// digest of the wrong length in DIGEST mode.
pub fn verify(
    spec: AsymmetricSpec,
    public_der: &[u8],
    alg: SigningAlgorithm,
    message: &[u8],
    digest_mode: bool,
    signature: &[u8],
) -> Result<bool, Error> {
    check_signing_algorithm(spec, alg)?;
    let digest = imported_digest(alg, message, digest_mode)?;
    let valg: &'static dyn VerificationAlgorithm = if spec.is_rsa() {
        alg.rsa_parameters().ok_or(Error::IncompatibleAlgorithm)?
    } else if let Some(ecdsa) = spec.ecdsa_verification() {
        ecdsa
    } else if let Some((_, ml_dsa)) = spec.ml_dsa() {
        ml_dsa
    } else {
        &signature::ED25519
    };
    let key = parse_public_key(spec, public_der, valg)?;
    let result = match &digest {
        Some(d) => key.verify_digest_sig(d, signature),
        None => key.verify_sig(message, signature),
    };
    Ok(result.is_ok())
}

fn oaep_limit(spec: AsymmetricSpec, alg: EncryptionAlgorithm) -> Result<usize, Error> {
    alg.max_plaintext_len(spec)
        .ok_or(Error::IncompatibleAlgorithm)
}

/// RSAES-OAEP encryption (empty label) with the public key `public_der` (DER
/// `SubjectPublicKeyInfo`). Plaintexts over [`EncryptionAlgorithm::max_plaintext_len`] give
/// [`Error::PlaintextTooLong`].
pub fn oaep_encrypt(
    spec: AsymmetricSpec,
    public_der: &[u8],
    alg: EncryptionAlgorithm,
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
    let limit = oaep_limit(spec, alg)?;
    let bits = spec.rsa_bits().ok_or(Error::IncompatibleAlgorithm)?;
    let public = PublicEncryptingKey::from_der(public_der).map_err(|_| Error::InvalidInput)?;
    if public.key_size_bits() != bits {
        return Err(Error::InvalidInput);
    }
    let canonical = public.as_der().map_err(|_| Error::InvalidInput)?;
    if canonical.as_ref() != public_der {
        return Err(Error::InvalidInput);
    }
    if plaintext.len() > limit {
        return Err(Error::PlaintextTooLong);
    }
    let key = OaepPublicEncryptingKey::new(public)?;
    let mut out = vec![0u8; key.ciphertext_size()];
    let len = key.encrypt(alg.oaep(), plaintext, &mut out, None)?.len();
    out.truncate(len);
    Ok(out)
}

/// RSAES-OAEP decryption (empty label) with the private key `pkcs8`. Every failure to decrypt
/// a ciphertext (wrong length, wrong key, bad padding, wrong algorithm) is the same
/// [`Error::Failed`]; the padding check itself is aws-lc's constant-time one.
pub fn oaep_decrypt(
    spec: AsymmetricSpec,
    pkcs8: &SecretBytes,
    alg: EncryptionAlgorithm,
    ciphertext: &[u8],
) -> Result<SecretBytes, Error> {
    oaep_limit(spec, alg)?;
    let bits = spec.rsa_bits().ok_or(Error::IncompatibleAlgorithm)?;
    let private = PrivateDecryptingKey::from_pkcs8(pkcs8.expose_secret())
        .map_err(|_| Error::InvalidKeyMaterial)?;
    if private.key_size_bits() != bits {
        return Err(Error::InvalidKeyMaterial);
    }
    let key = OaepPrivateDecryptingKey::new(private)?;
    let mut out = SecretBytes::new(vec![0u8; key.min_output_size()]);
    let len = key
        .decrypt(alg.oaep(), ciphertext, &mut out.0, None)
        .map_err(|_| Error::Failed)?
        .len();
    out.0.truncate(len);
    Ok(out)
}

/// ECDH (KMS `DeriveSharedSecret`, `KeyAgreementAlgorithm=ECDH`) between the private key
/// `pkcs8` and the peer's public key, a DER `SubjectPublicKeyInfo` on the same curve. Returns the
/// raw shared secret: the x-coordinate of the shared point, as KMS does (no KDF).
pub fn ecdh(
    spec: AsymmetricSpec,
    pkcs8: &SecretBytes,
    peer_public_der: &[u8],
) -> Result<SecretBytes, Error> {
    let alg = spec.ecdh_algorithm().ok_or(Error::IncompatibleAlgorithm)?;
    let private = agreement::PrivateKey::from_private_key_der(alg, pkcs8.expose_secret())
        .map_err(|_| Error::InvalidKeyMaterial)?;
    let peer = agreement::ParsedPublicKey::try_from(&agreement::UnparsedPublicKey::new(
        alg,
        peer_public_der,
    ))
    .map_err(|_| Error::InvalidInput)?;
    if peer.format() != agreement::ParsedPublicKeyFormat::X509 {
        return Err(Error::InvalidInput);
    }
    agreement::agree(&private, peer, Error::Failed, |secret| {
        Ok(SecretBytes::copy_from(secret))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::sync::OnceLock;

    /// One key per spec per test binary: RSA generation is slow in debug builds.
    static KEYS: [OnceLock<SecretBytes>; 11] = [const { OnceLock::new() }; 11];

    fn key(spec: AsymmetricSpec) -> &'static SecretBytes {
        let i = AsymmetricSpec::ALL.iter().position(|s| *s == spec).unwrap();
        KEYS[i].get_or_init(|| generate(spec).unwrap())
    }

    fn public(spec: AsymmetricSpec) -> Vec<u8> {
        public_key_der(spec, key(spec)).unwrap()
    }

    fn hash(alg: SigningAlgorithm, msg: &[u8]) -> Vec<u8> {
        digest::digest(alg.hash().unwrap(), msg).as_ref().to_vec()
    }

    const MSG: &[u8] = b"Trent signs what Alice and Bob agree on.";

    const RSA: [AsymmetricSpec; 3] = [
        AsymmetricSpec::Rsa2048,
        AsymmetricSpec::Rsa3072,
        AsymmetricSpec::Rsa4096,
    ];
    const NIST: [AsymmetricSpec; 3] = [
        AsymmetricSpec::EccP256,
        AsymmetricSpec::EccP384,
        AsymmetricSpec::EccP521,
    ];

    #[test]
    fn names_round_trip() {
        for s in AsymmetricSpec::ALL {
            assert_eq!(AsymmetricSpec::from_kms_name(s.kms_name()), Some(s));
        }
        for a in SigningAlgorithm::ALL {
            assert_eq!(SigningAlgorithm::from_kms_name(a.kms_name()), Some(a));
        }
        for a in EncryptionAlgorithm::ALL {
            assert_eq!(EncryptionAlgorithm::from_kms_name(a.kms_name()), Some(a));
        }
        assert_eq!(AsymmetricSpec::from_kms_name("SYMMETRIC_DEFAULT"), None);
        assert_eq!(AsymmetricSpec::from_kms_name("rsa_2048"), None);
        assert_eq!(SigningAlgorithm::from_kms_name("ED25519_PH_SHA_512"), None);
        assert_eq!(
            EncryptionAlgorithm::from_kms_name("SYMMETRIC_DEFAULT"),
            None
        );
    }

    /// The KMS compatibility table, spelled out by name so a typo in the code cannot hide.
    fn kms_table(spec: &str) -> &'static [&'static str] {
        const RSA_SIGN: &[&str] = &[
            "RSASSA_PSS_SHA_256",
            "RSASSA_PSS_SHA_384",
            "RSASSA_PSS_SHA_512",
            "RSASSA_PKCS1_V1_5_SHA_256",
            "RSASSA_PKCS1_V1_5_SHA_384",
            "RSASSA_PKCS1_V1_5_SHA_512",
        ];
        match spec {
            "RSA_2048" | "RSA_3072" | "RSA_4096" => RSA_SIGN,
            "ECC_NIST_P256" | "ECC_SECG_P256K1" => &["ECDSA_SHA_256"],
            "ECC_NIST_P384" => &["ECDSA_SHA_384"],
            "ECC_NIST_P521" => &["ECDSA_SHA_512"],
            "ECC_NIST_EDWARDS25519" => &["ED25519_SHA_512"],
            other => panic!("no table entry for {other}"),
        }
    }

    #[test]
    fn ml_dsa_signs_raw_messages_only() {
        let specs = [
            AsymmetricSpec::MlDsa44,
            AsymmetricSpec::MlDsa65,
            AsymmetricSpec::MlDsa87,
        ];
        // FIPS 204 signature sizes.
        let sizes = [2420, 3309, 4627];
        for (spec, size) in specs.into_iter().zip(sizes) {
            let alg = SigningAlgorithm::MlDsaShake256;
            assert_eq!(spec.signing_algorithms(), &[alg]);
            assert!(spec.encryption_algorithms().is_empty());
            assert!(!spec.supports_key_agreement());
            let handle = AsymmetricKey::parse(spec, key(spec)).unwrap();
            let sig = handle.sign(alg, MSG, false).unwrap();
            assert_eq!(sig.len(), size);
            assert!(verify(spec, &public(spec), alg, MSG, false, &sig).unwrap());
            assert!(!verify(spec, &public(spec), alg, b"other", false, &sig).unwrap());
            let mut bad = sig.clone();
            bad[10] ^= 1;
            assert!(!verify(spec, &public(spec), alg, MSG, false, &bad).unwrap());
            assert_eq!(
                handle.sign(alg, &[0u8; 64], true).err(),
                Some(Error::Unsupported)
            );
            for other in SigningAlgorithm::ALL.into_iter().filter(|a| *a != alg) {
                assert_eq!(
                    handle.sign(other, MSG, false).err(),
                    Some(Error::IncompatibleAlgorithm)
                );
            }
        }
        // A public key of another parameter set is refused, not mis-verified.
        let sig = sign(
            AsymmetricSpec::MlDsa44,
            key(AsymmetricSpec::MlDsa44),
            SigningAlgorithm::MlDsaShake256,
            MSG,
            false,
        )
        .unwrap();
        assert_eq!(
            verify(
                AsymmetricSpec::MlDsa44,
                &public(AsymmetricSpec::MlDsa65),
                SigningAlgorithm::MlDsaShake256,
                MSG,
                false,
                &sig
            )
            .err(),
            Some(Error::InvalidInput)
        );
    }

    #[test]
    fn incompatible_pairs_are_refused() {
        let mut refused = 0;
        for spec in AsymmetricSpec::CLASSICAL {
            let allowed = kms_table(spec.kms_name());
            let names: Vec<_> = spec
                .signing_algorithms()
                .iter()
                .map(|a| a.kms_name())
                .collect();
            assert_eq!(names, allowed, "{}", spec.kms_name());
            let pkcs8 = key(spec);
            let pubkey = public(spec);
            for alg in SigningAlgorithm::ALL {
                let ok = allowed.contains(&alg.kms_name());
                assert_eq!(alg.is_valid_for(spec), ok);
                if ok {
                    continue;
                }
                refused += 1;
                for digest_mode in [false, true] {
                    let msg = if digest_mode { &[0u8; 32][..] } else { MSG };
                    assert_eq!(
                        sign(spec, pkcs8, alg, msg, digest_mode).err(),
                        Some(Error::IncompatibleAlgorithm),
                        "{} {}",
                        spec.kms_name(),
                        alg.kms_name()
                    );
                    assert_eq!(
                        verify(spec, &pubkey, alg, msg, digest_mode, &[0u8; 64]).err(),
                        Some(Error::IncompatibleAlgorithm)
                    );
                }
            }
            for alg in EncryptionAlgorithm::ALL {
                assert_eq!(alg.is_valid_for(spec), spec.is_rsa());
                assert_eq!(spec.encryption_algorithms().contains(&alg), spec.is_rsa());
                if !spec.is_rsa() {
                    refused += 1;
                    assert_eq!(alg.max_plaintext_len(spec), None);
                    assert_eq!(
                        oaep_encrypt(spec, &pubkey, alg, b"x").err(),
                        Some(Error::IncompatibleAlgorithm)
                    );
                    assert_eq!(
                        oaep_decrypt(spec, pkcs8, alg, &[0u8; 64]).err(),
                        Some(Error::IncompatibleAlgorithm)
                    );
                }
            }
            let agrees = NIST.contains(&spec);
            assert_eq!(spec.supports_key_agreement(), agrees);
            if !agrees {
                refused += 1;
                assert_eq!(
                    ecdh(spec, pkcs8, &pubkey).err(),
                    Some(Error::IncompatibleAlgorithm)
                );
            }
        }
        // 3 RSA × 5 + 4 ECC × 10 + 1 Ed25519 × 10 signing; 5 × 2 encryption; 5 key agreement.
        assert_eq!(refused, 15 + 40 + 10 + 10 + 5);
    }

    fn round_trip(spec: AsymmetricSpec) {
        let pkcs8 = key(spec);
        let pubkey = public(spec);
        for &alg in spec.signing_algorithms() {
            let name = format!("{} {}", spec.kms_name(), alg.kms_name());
            let sig = sign(spec, pkcs8, alg, MSG, false).unwrap();
            if let Some(bits) = spec.rsa_bits() {
                assert_eq!(sig.len(), bits / 8, "{name}");
            }
            if spec.ecdsa_signing().is_some() {
                assert_eq!(sig[0], 0x30, "{name}: ECDSA signatures are DER sequences");
            }
            assert!(
                verify(spec, &pubkey, alg, MSG, false, &sig).unwrap(),
                "{name}"
            );
            for i in [0, sig.len() / 2, sig.len() - 1] {
                let mut bad = sig.clone();
                bad[i] ^= 0x01;
                assert!(
                    !verify(spec, &pubkey, alg, MSG, false, &bad).unwrap(),
                    "{name} byte {i}"
                );
            }
            assert!(!verify(spec, &pubkey, alg, b"other message", false, &sig).unwrap());
            assert!(!verify(spec, &pubkey, alg, MSG, false, &sig[..sig.len() - 1]).unwrap());
            assert!(!verify(spec, &pubkey, alg, MSG, false, &[]).unwrap());

            let Some(len) = alg.digest_len() else {
                // Ed25519: DIGEST mode is not available.
                assert_eq!(spec, AsymmetricSpec::Ed25519);
                let d = digest::digest(&digest::SHA512, MSG);
                assert_eq!(
                    sign(spec, pkcs8, alg, d.as_ref(), true).err(),
                    Some(Error::Unsupported)
                );
                assert_eq!(
                    verify(spec, &pubkey, alg, d.as_ref(), true, &sig).err(),
                    Some(Error::Unsupported)
                );
                continue;
            };
            let d = hash(alg, MSG);
            assert_eq!(d.len(), len);
            // DIGEST signatures verify as RAW signatures of the message, and vice versa.
            let dsig = sign(spec, pkcs8, alg, &d, true).unwrap();
            assert!(
                verify(spec, &pubkey, alg, MSG, false, &dsig).unwrap(),
                "{name}"
            );
            assert!(
                verify(spec, &pubkey, alg, &d, true, &dsig).unwrap(),
                "{name}"
            );
            assert!(
                verify(spec, &pubkey, alg, &d, true, &sig).unwrap(),
                "{name}"
            );
            let mut bad = d.clone();
            bad[0] ^= 0x80;
            assert!(
                !verify(spec, &pubkey, alg, &bad, true, &sig).unwrap(),
                "{name}"
            );
            // A wrong-length digest is a validation error, for sign and verify alike.
            for wrong in [0, len - 1, len + 1, 64 + 1] {
                let w = vec![7u8; wrong];
                assert_eq!(
                    sign(spec, pkcs8, alg, &w, true).err(),
                    Some(Error::InvalidInput),
                    "{name} {wrong}"
                );
                assert_eq!(
                    verify(spec, &pubkey, alg, &w, true, &sig).err(),
                    Some(Error::InvalidInput)
                );
            }
        }
        // A signature by another key of the same spec does not verify.
        let other = generate_cheap_or_reuse(spec);
        if let Some(other) = other {
            let alg = spec.signing_algorithms()[0];
            let sig = sign(spec, &other, alg, MSG, false).unwrap();
            assert!(!verify(spec, &pubkey, alg, MSG, false, &sig).unwrap());
        }
    }

    /// A second key for elliptic-curve specs (cheap); `None` for RSA (slow to generate).
    fn generate_cheap_or_reuse(spec: AsymmetricSpec) -> Option<SecretBytes> {
        (!spec.is_rsa()).then(|| generate(spec).unwrap())
    }

    #[test]
    fn round_trip_rsa_2048() {
        round_trip(AsymmetricSpec::Rsa2048);
    }

    #[test]
    fn round_trip_rsa_3072() {
        round_trip(AsymmetricSpec::Rsa3072);
    }

    #[test]
    fn round_trip_rsa_4096() {
        round_trip(AsymmetricSpec::Rsa4096);
    }

    #[test]
    fn round_trip_ecc_and_ed25519() {
        for spec in [
            AsymmetricSpec::EccP256,
            AsymmetricSpec::EccP384,
            AsymmetricSpec::EccP521,
            AsymmetricSpec::EccSecp256k1,
            AsymmetricSpec::Ed25519,
        ] {
            round_trip(spec);
        }
    }

    #[test]
    fn ed25519_signatures_are_deterministic_and_64_bytes() {
        let spec = AsymmetricSpec::Ed25519;
        let alg = SigningAlgorithm::Ed25519Sha512;
        let a = sign(spec, key(spec), alg, MSG, false).unwrap();
        let b = sign(spec, key(spec), alg, MSG, false).unwrap();
        assert_eq!(a.len(), 64);
        assert_eq!(a, b);
    }

    #[test]
    fn keys_must_match_their_spec() {
        use AsymmetricSpec as S;
        for (actual, claimed) in [
            (S::Rsa2048, S::Rsa3072),
            (S::Rsa4096, S::Rsa2048),
            (S::EccP256, S::EccP384),
            (S::EccP256, S::EccSecp256k1),
            (S::EccSecp256k1, S::EccP256),
            (S::EccP521, S::Rsa2048),
            (S::Ed25519, S::EccP256),
            (S::EccP256, S::Ed25519),
            (S::Rsa2048, S::Ed25519),
        ] {
            let what = format!("{} as {}", actual.kms_name(), claimed.kms_name());
            let pkcs8 = key(actual);
            assert_eq!(
                public_key_der(claimed, pkcs8).err(),
                Some(Error::InvalidKeyMaterial),
                "{what}"
            );
            assert_eq!(
                check_private_key(claimed, pkcs8).err(),
                Some(Error::InvalidKeyMaterial)
            );
            let alg = claimed.signing_algorithms()[0];
            assert_eq!(
                sign(claimed, pkcs8, alg, MSG, false).err(),
                Some(Error::InvalidKeyMaterial),
                "{what}"
            );
            let sig = sign(actual, pkcs8, actual.signing_algorithms()[0], MSG, false).unwrap();
            assert_eq!(
                verify(claimed, &public(actual), alg, MSG, false, &sig).err(),
                Some(Error::InvalidInput),
                "{what}"
            );
        }
        for spec in AsymmetricSpec::ALL {
            check_private_key(spec, key(spec)).unwrap();
            let garbage = SecretBytes::copy_from(&[0x30, 0x03, 0x02, 0x01, 0x00]);
            assert_eq!(
                public_key_der(spec, &garbage).err(),
                Some(Error::InvalidKeyMaterial)
            );
            let alg = spec.signing_algorithms()[0];
            for bad_pub in [&b""[..], b"\x30\x00", &public(spec)[1..]] {
                assert_eq!(
                    verify(spec, bad_pub, alg, MSG, false, &[0u8; 8]).err(),
                    Some(Error::InvalidInput)
                );
            }
        }
        // A raw SEC1 point or raw Ed25519 key is not SPKI and is refused.
        for spec in [S::EccP256, S::Ed25519] {
            let spki = public(spec);
            let raw = if spec == S::EccP256 {
                spki[spki.len() - 65..].to_vec()
            } else {
                spki[spki.len() - 32..].to_vec()
            };
            let alg = spec.signing_algorithms()[0];
            let sig = sign(spec, key(spec), alg, MSG, false).unwrap();
            assert!(verify(spec, &spki, alg, MSG, false, &sig).unwrap());
            assert_eq!(
                verify(spec, &raw, alg, MSG, false, &sig).err(),
                Some(Error::InvalidInput)
            );
        }
    }

    #[test]
    fn generated_keys_are_pkcs8_v1_and_fresh() {
        for spec in [AsymmetricSpec::EccP256, AsymmetricSpec::Ed25519] {
            let a = generate(spec).unwrap();
            let b = generate(spec).unwrap();
            assert_ne!(a.expose_secret(), b.expose_secret());
            // PrivateKeyInfo ::= SEQUENCE { version INTEGER (0), ... }
            let der = a.expose_secret();
            assert_eq!(der[0], 0x30);
            let body = if der[1] & 0x80 == 0 {
                2
            } else {
                2 + usize::from(der[1] & 0x7f)
            };
            assert_eq!(
                &der[body..body + 3],
                &[0x02, 0x01, 0x00],
                "{}",
                spec.kms_name()
            );
        }
        let der = key(AsymmetricSpec::Rsa2048).expose_secret();
        assert_eq!(&der[4..7], &[0x02, 0x01, 0x00]);
    }

    #[test]
    fn oaep_limits_match_kms() {
        use AsymmetricSpec as S;
        use EncryptionAlgorithm as E;
        for (spec, sha1, sha256) in [
            (S::Rsa2048, 214, 190),
            (S::Rsa3072, 342, 318),
            (S::Rsa4096, 470, 446),
        ] {
            assert_eq!(E::RsaesOaepSha1.max_plaintext_len(spec), Some(sha1));
            assert_eq!(E::RsaesOaepSha256.max_plaintext_len(spec), Some(sha256));
        }
    }

    #[test]
    fn oaep_round_trip_limits_and_failures() {
        for spec in RSA {
            let pkcs8 = key(spec);
            let pubkey = public(spec);
            for alg in EncryptionAlgorithm::ALL {
                let max = alg.max_plaintext_len(spec).unwrap();
                for len in [0, 1, max] {
                    let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
                    let ct = oaep_encrypt(spec, &pubkey, alg, &pt).unwrap();
                    assert_eq!(ct.len(), spec.rsa_bits().unwrap() / 8);
                    let again = oaep_encrypt(spec, &pubkey, alg, &pt).unwrap();
                    assert_ne!(ct, again, "OAEP is randomized");
                    assert_eq!(
                        oaep_decrypt(spec, pkcs8, alg, &ct).unwrap().expose_secret(),
                        pt
                    );
                }
                assert_eq!(
                    oaep_encrypt(spec, &pubkey, alg, &vec![0u8; max + 1]).err(),
                    Some(Error::PlaintextTooLong)
                );
                let ct = oaep_encrypt(spec, &pubkey, alg, b"secret").unwrap();
                let other_alg = if alg == EncryptionAlgorithm::RsaesOaepSha1 {
                    EncryptionAlgorithm::RsaesOaepSha256
                } else {
                    EncryptionAlgorithm::RsaesOaepSha1
                };
                let mut failures = vec![
                    oaep_decrypt(spec, pkcs8, other_alg, &ct).err(),
                    oaep_decrypt(spec, pkcs8, alg, &ct[1..]).err(),
                    oaep_decrypt(spec, pkcs8, alg, &[]).err(),
                    oaep_decrypt(spec, pkcs8, alg, &[ct.clone(), vec![0]].concat()).err(),
                    oaep_decrypt(spec, pkcs8, alg, &vec![0xff; ct.len()]).err(),
                ];
                for i in [0, ct.len() / 2, ct.len() - 1] {
                    let mut bad = ct.clone();
                    bad[i] ^= 0x01;
                    failures.push(oaep_decrypt(spec, pkcs8, alg, &bad).err());
                }
                for other_spec in RSA.into_iter().filter(|s| *s != spec) {
                    let foreign = oaep_encrypt(other_spec, &public(other_spec), alg, b"x").unwrap();
                    failures.push(oaep_decrypt(spec, pkcs8, alg, &foreign).err());
                }
                for f in failures {
                    assert_eq!(
                        f,
                        Some(Error::Failed),
                        "{} {}",
                        spec.kms_name(),
                        alg.kms_name()
                    );
                }
            }
            // Public keys of the wrong size or type are refused.
            let wrong = public(if spec == AsymmetricSpec::Rsa2048 {
                AsymmetricSpec::Rsa3072
            } else {
                AsymmetricSpec::Rsa2048
            });
            let alg = EncryptionAlgorithm::RsaesOaepSha256;
            assert_eq!(
                oaep_encrypt(spec, &wrong, alg, b"x").err(),
                Some(Error::InvalidInput)
            );
            let ec = public(AsymmetricSpec::EccP256);
            assert_eq!(
                oaep_encrypt(spec, &ec, alg, b"x").err(),
                Some(Error::InvalidInput)
            );
            assert_eq!(
                oaep_decrypt(spec, key(AsymmetricSpec::EccP256), alg, &[0u8; 256]).err(),
                Some(Error::InvalidKeyMaterial)
            );
        }
    }

    #[test]
    fn ecdh_agrees_and_checks_peer_keys() {
        for (spec, len) in NIST.into_iter().zip([32, 48, 66]) {
            let a = key(spec);
            let b = generate(spec).unwrap();
            let pub_a = public(spec);
            let pub_b = public_key_der(spec, &b).unwrap();
            let ab = ecdh(spec, a, &pub_b).unwrap();
            let ba = ecdh(spec, &b, &pub_a).unwrap();
            assert_eq!(ab.len(), len);
            assert_eq!(ab.expose_secret(), ba.expose_secret());
            let c = generate(spec).unwrap();
            let ac = ecdh(spec, a, &public_key_der(spec, &c).unwrap()).unwrap();
            assert_ne!(ab.expose_secret(), ac.expose_secret());
            // Peer keys: other curves, raw points and garbage are refused.
            for other in NIST.into_iter().filter(|s| *s != spec) {
                assert_eq!(
                    ecdh(spec, a, &public(other)).err(),
                    Some(Error::InvalidInput)
                );
            }
            let raw_point = pub_b[pub_b.len() - (1 + 2 * len)..].to_vec();
            assert_eq!(raw_point[0], 0x04);
            for bad in [&raw_point[..], b"", b"\x30\x00", &pub_b[..pub_b.len() - 1]] {
                assert_eq!(ecdh(spec, a, bad).err(), Some(Error::InvalidInput));
            }
            let k1 = public(AsymmetricSpec::EccSecp256k1);
            assert_eq!(ecdh(spec, a, &k1).err(), Some(Error::InvalidInput));
        }
    }

    // ---- Interoperability with the openssl command-line tool ----

    fn openssl_available() -> bool {
        let found = Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            println!("skipping: openssl not found");
        }
        found
    }

    /// Runs openssl; panics with its stderr if it fails.
    fn openssl(args: &[&str]) {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Whether openssl exits successfully (for verifications expected to fail).
    fn openssl_succeeds(args: &[&str]) -> bool {
        Command::new("openssl")
            .args(args)
            .output()
            .unwrap()
            .status
            .success()
    }

    struct Dir(tempfile::TempDir);

    impl Dir {
        fn new() -> Self {
            Dir(tempfile::tempdir().unwrap())
        }
        fn file(&self, name: &str, contents: &[u8]) -> String {
            let p = self.0.path().join(name);
            std::fs::write(&p, contents).unwrap();
            p.to_str().unwrap().to_owned()
        }
        fn path(&self, name: &str) -> String {
            self.0.path().join(name).to_str().unwrap().to_owned()
        }
        fn read(&self, name: &str) -> Vec<u8> {
            std::fs::read(self.0.path().join(name)).unwrap()
        }
    }

    fn openssl_hash(alg: SigningAlgorithm) -> &'static str {
        match alg.digest_len() {
            Some(32) => "-sha256",
            Some(48) => "-sha384",
            Some(64) => "-sha512",
            _ => unreachable!(),
        }
    }

    fn pss_opts(alg: SigningAlgorithm, flag: &'static str) -> Vec<&'static str> {
        match alg {
            SigningAlgorithm::RsassaPssSha256
            | SigningAlgorithm::RsassaPssSha384
            | SigningAlgorithm::RsassaPssSha512 => {
                vec![flag, "rsa_padding_mode:pss", flag, "rsa_pss_saltlen:digest"]
            }
            _ => vec![],
        }
    }

    fn interop_signatures(spec: AsymmetricSpec) {
        let dir = Dir::new();
        let pkcs8 = key(spec);
        let pubkey = public(spec);
        let key_file = dir.file("key.der", pkcs8.expose_secret());
        let pub_file = dir.file("pub.der", &pubkey);
        let msg_file = dir.file("msg", MSG);
        // openssl sees the same public key in our private key as we export.
        openssl(&[
            "pkey",
            "-inform",
            "DER",
            "-in",
            &key_file,
            "-pubout",
            "-outform",
            "DER",
            "-out",
            &dir.path("pub2.der"),
        ]);
        assert_eq!(dir.read("pub2.der"), pubkey, "{}", spec.kms_name());

        for &alg in spec.signing_algorithms() {
            let name = format!("{} {}", spec.kms_name(), alg.kms_name());
            let ours = dir.file("ours.sig", &sign(spec, pkcs8, alg, MSG, false).unwrap());
            let theirs = dir.path("theirs.sig");
            if alg == SigningAlgorithm::Ed25519Sha512 {
                let verify_args = [
                    "pkeyutl", "-verify", "-pubin", "-inkey", &pub_file, "-rawin", "-in",
                    &msg_file, "-sigfile", &ours,
                ];
                openssl(&verify_args);
                let bad_msg = dir.file("bad", b"other message");
                let mut bad = verify_args;
                bad[7] = &bad_msg;
                assert!(!openssl_succeeds(&bad), "{name}");
                openssl(&[
                    "pkeyutl", "-sign", "-inkey", &key_file, "-rawin", "-in", &msg_file, "-out",
                    &theirs,
                ]);
                let sig = dir.read("theirs.sig");
                assert!(
                    verify(spec, &pubkey, alg, MSG, false, &sig).unwrap(),
                    "{name}"
                );
                assert!(
                    !verify(spec, &pubkey, alg, b"other", false, &sig).unwrap(),
                    "{name}"
                );
                continue;
            }
            let h = openssl_hash(alg);
            // Our RAW signature verifies with `openssl dgst`.
            let mut args = vec!["dgst", h, "-verify", &pub_file, "-signature", &ours];
            args.extend(pss_opts(alg, "-sigopt"));
            args.push(&msg_file);
            openssl(&args);
            let bad_msg = dir.file("bad", b"other message");
            *args.last_mut().unwrap() = &bad_msg;
            assert!(!openssl_succeeds(&args), "{name}");

            // Our DIGEST-mode signature verifies with `openssl pkeyutl` over the digest.
            let d = hash(alg, MSG);
            let digest_file = dir.file("digest", &d);
            let ours_d = dir.file("ours_d.sig", &sign(spec, pkcs8, alg, &d, true).unwrap());
            let md = format!("digest:{}", &h[1..]);
            let mut args = vec![
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                &pub_file,
                "-in",
                &digest_file,
                "-sigfile",
                &ours_d,
                "-pkeyopt",
                &md,
            ];
            args.extend(pss_opts(alg, "-pkeyopt"));
            openssl(&args);

            // An openssl signature verifies here, in RAW and DIGEST mode.
            let mut args = vec!["dgst", h, "-sign", &key_file, "-out", &theirs];
            args.extend(pss_opts(alg, "-sigopt"));
            args.push(&msg_file);
            openssl(&args);
            let sig = dir.read("theirs.sig");
            assert!(
                verify(spec, &pubkey, alg, MSG, false, &sig).unwrap(),
                "{name}"
            );
            assert!(
                verify(spec, &pubkey, alg, &d, true, &sig).unwrap(),
                "{name}"
            );
            assert!(
                !verify(spec, &pubkey, alg, b"other", false, &sig).unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn interop_openssl_rsa_signatures() {
        if !openssl_available() {
            return;
        }
        for spec in RSA {
            interop_signatures(spec);
        }
    }

    #[test]
    fn interop_openssl_ecc_and_ed25519_signatures() {
        if !openssl_available() {
            return;
        }
        for spec in AsymmetricSpec::CLASSICAL
            .into_iter()
            .filter(|s| !s.is_rsa())
        {
            interop_signatures(spec);
        }
    }

    #[test]
    fn interop_openssl_oaep() {
        if !openssl_available() {
            return;
        }
        let dir = Dir::new();
        for spec in RSA {
            let pkcs8 = key(spec);
            let key_file = dir.file("key.der", pkcs8.expose_secret());
            let pub_file = dir.file("pub.der", &public(spec));
            for alg in EncryptionAlgorithm::ALL {
                let md = match alg {
                    EncryptionAlgorithm::RsaesOaepSha1 => "sha1",
                    EncryptionAlgorithm::RsaesOaepSha256 => "sha256",
                };
                let oaep_md = format!("rsa_oaep_md:{md}");
                let mgf1_md = format!("rsa_mgf1_md:{md}");
                let opts = [
                    "-pkeyopt",
                    "rsa_padding_mode:oaep",
                    "-pkeyopt",
                    &oaep_md,
                    "-pkeyopt",
                    &mgf1_md,
                ];
                let max = alg.max_plaintext_len(spec).unwrap();
                let pt: Vec<u8> = (0..max).map(|i| (i * 7) as u8).collect();

                // Ours → openssl.
                let ct = dir.file(
                    "ours.ct",
                    &oaep_encrypt(spec, &public(spec), alg, &pt).unwrap(),
                );
                let out = dir.path("ours.pt");
                let mut args = vec![
                    "pkeyutl", "-decrypt", "-inkey", &key_file, "-in", &ct, "-out", &out,
                ];
                args.extend(opts);
                openssl(&args);
                assert_eq!(
                    dir.read("ours.pt"),
                    pt,
                    "{} {}",
                    spec.kms_name(),
                    alg.kms_name()
                );

                // openssl → ours.
                let pt_file = dir.file("pt", &pt);
                let theirs = dir.path("theirs.ct");
                let mut args = vec![
                    "pkeyutl", "-encrypt", "-pubin", "-inkey", &pub_file, "-in", &pt_file, "-out",
                    &theirs,
                ];
                args.extend(opts);
                openssl(&args);
                let ct = dir.read("theirs.ct");
                assert_eq!(
                    oaep_decrypt(spec, pkcs8, alg, &ct).unwrap().expose_secret(),
                    pt
                );
            }
        }
    }

    #[test]
    fn interop_openssl_ecdh() {
        if !openssl_available() {
            return;
        }
        let dir = Dir::new();
        for (spec, curve) in NIST.into_iter().zip(["P-256", "P-384", "P-521"]) {
            let ours_key = dir.file("ours.der", key(spec).expose_secret());
            let ours_pub = dir.file("ours_pub.der", &public(spec));
            let peer_key = dir.path("peer.der");
            let paramgen = format!("ec_paramgen_curve:{curve}");
            openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                &paramgen,
                "-outform",
                "DER",
                "-out",
                &peer_key,
            ]);
            let peer_pub = dir.path("peer_pub.der");
            openssl(&[
                "pkey", "-inform", "DER", "-in", &peer_key, "-pubout", "-outform", "DER", "-out",
                &peer_pub,
            ]);
            let peer_pub_der = dir.read("peer_pub.der");

            // openssl, from the peer's side and from ours.
            let theirs = dir.path("theirs.secret");
            openssl(&[
                "pkeyutl", "-derive", "-inkey", &peer_key, "-peerkey", &ours_pub, "-out", &theirs,
            ]);
            let from_ours = dir.path("ours.secret");
            openssl(&[
                "pkeyutl", "-derive", "-inkey", &ours_key, "-peerkey", &peer_pub, "-out",
                &from_ours,
            ]);

            let secret = ecdh(spec, key(spec), &peer_pub_der).unwrap();
            assert_eq!(secret.expose_secret(), dir.read("theirs.secret"), "{curve}");
            assert_eq!(secret.expose_secret(), dir.read("ours.secret"), "{curve}");
        }
    }
}
