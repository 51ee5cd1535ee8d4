//! Wrapping and unwrapping key material for KMS `ImportKeyMaterial`.
//!
//! `GetParametersForImport` hands out the public half of a fresh RSA key pair (the wrapping
//! key); the caller encrypts their key material under it with one of four wrapping algorithms:
//!
//! * `RSAES_OAEP_SHA_1`, `RSAES_OAEP_SHA_256`: RSA-OAEP of the material itself (MGF1 with the same
//!   hash, empty label), as `openssl pkeyutl -encrypt -pkeyopt rsa_padding_mode:oaep` makes it.
//! * `RSA_AES_KEY_WRAP_SHA_1`, `RSA_AES_KEY_WRAP_SHA_256` (PKCS #11 `CKM_RSA_AES_KEY_WRAP`): the
//!   caller draws an ephemeral AES-256 key, wraps the material under it with AES key wrap with
//!   padding (RFC 5649, `openssl enc -id-aes256-wrap-pad`), and sends
//!   `RSA-OAEP(AES key) ‖ AES-KWP(material)`; the OAEP part is exactly one modulus long.
//!
//! `RSAES_PKCS1_V1_5` is not offered: AWS withdrew it in October 2023, and PKCS #1 v1.5
//! decryption is the classic padding oracle.
//!
//! Every failure to unwrap — wrong length, wrong key, bad OAEP padding, a KWP integrity check
//! that fails — is the same [`Error::Failed`], so the answer says nothing about where it failed.

use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded as _};

use crate::asymmetric::{self, AsymmetricSpec, EncryptionAlgorithm};
use crate::{AES_256_KEY_LEN, Error, SecretBytes};

/// A KMS wrapping algorithm (`AlgorithmSpec` in `GetParametersForImport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WrappingAlgorithm {
    /// `RSAES_OAEP_SHA_1`
    RsaesOaepSha1,
    /// `RSAES_OAEP_SHA_256`
    RsaesOaepSha256,
    /// `RSA_AES_KEY_WRAP_SHA_1`
    RsaAesKeyWrapSha1,
    /// `RSA_AES_KEY_WRAP_SHA_256`
    RsaAesKeyWrapSha256,
}

impl WrappingAlgorithm {
    /// Every algorithm offered.
    pub const ALL: [WrappingAlgorithm; 4] = [
        WrappingAlgorithm::RsaesOaepSha1,
        WrappingAlgorithm::RsaesOaepSha256,
        WrappingAlgorithm::RsaAesKeyWrapSha1,
        WrappingAlgorithm::RsaAesKeyWrapSha256,
    ];

    /// The algorithm for a KMS name, e.g. `"RSA_AES_KEY_WRAP_SHA_256"`.
    pub fn from_kms_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.kms_name() == name)
    }

    /// The KMS name.
    pub fn kms_name(self) -> &'static str {
        match self {
            WrappingAlgorithm::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            WrappingAlgorithm::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
            WrappingAlgorithm::RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
            WrappingAlgorithm::RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
        }
    }

    /// Whether the material is AES-wrapped under an RSA-wrapped ephemeral key.
    pub fn is_rsa_aes(self) -> bool {
        matches!(
            self,
            WrappingAlgorithm::RsaAesKeyWrapSha1 | WrappingAlgorithm::RsaAesKeyWrapSha256
        )
    }

    /// The OAEP variant used for the RSA step.
    fn oaep(self) -> EncryptionAlgorithm {
        match self {
            WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaAesKeyWrapSha1 => {
                EncryptionAlgorithm::RsaesOaepSha1
            }
            WrappingAlgorithm::RsaesOaepSha256 | WrappingAlgorithm::RsaAesKeyWrapSha256 => {
                EncryptionAlgorithm::RsaesOaepSha256
            }
        }
    }
}

/// A fresh RSA wrapping key pair of `spec` (an RSA spec): the private key as PKCS#8 v1 DER and
/// the public key as DER `SubjectPublicKeyInfo`, which is what `GetParametersForImport` returns.
pub fn generate_wrapping_key(spec: AsymmetricSpec) -> Result<(SecretBytes, Vec<u8>), Error> {
    if !spec.is_rsa() {
        return Err(Error::IncompatibleAlgorithm);
    }
    let private = asymmetric::generate(spec)?;
    let public = asymmetric::public_key_der(spec, &private)?;
    Ok((private, public))
}

/// Unwraps `wrapped` with the wrapping private key `pkcs8` (of RSA spec `spec`) as `alg`
/// prescribes. Any failure is [`Error::Failed`] (or [`Error::InvalidKeyMaterial`] if `pkcs8`
/// itself is not a key of `spec`).
pub fn unwrap_key_material(
    spec: AsymmetricSpec,
    pkcs8: &SecretBytes,
    alg: WrappingAlgorithm,
    wrapped: &[u8],
) -> Result<SecretBytes, Error> {
    if !alg.is_rsa_aes() {
        return asymmetric::oaep_decrypt(spec, pkcs8, alg.oaep(), wrapped);
    }
    let modulus_len = spec.rsa_bits().ok_or(Error::IncompatibleAlgorithm)? / 8;
    let (rsa_part, kwp_part) = wrapped.split_at_checked(modulus_len).ok_or(Error::Failed)?;
    let aes_key = asymmetric::oaep_decrypt(spec, pkcs8, alg.oaep(), rsa_part)?;
    if aes_key.len() != AES_256_KEY_LEN {
        return Err(Error::Failed);
    }
    // The key-encryption key keeps its own copy, zeroized when it drops.
    let kek = AesKek::new(&AES_256, aes_key.expose_secret()).map_err(|_| Error::Failed)?;
    let mut out = SecretBytes::new(vec![0u8; kwp_part.len()]);
    let len = kek
        .unwrap_with_padding(kwp_part, &mut out.0)
        .map_err(|_| Error::Failed)?
        .len();
    out.0.truncate(len);
    Ok(out)
}

/// Wraps `material` under the wrapping public key `public_der` (DER `SubjectPublicKeyInfo` of RSA
/// spec `spec`) as a client following the AWS guide would. For clients and tests; the server
/// only unwraps.
pub fn wrap_key_material(
    spec: AsymmetricSpec,
    public_der: &[u8],
    alg: WrappingAlgorithm,
    material: &[u8],
) -> Result<Vec<u8>, Error> {
    if !alg.is_rsa_aes() {
        return asymmetric::oaep_encrypt(spec, public_der, alg.oaep(), material);
    }
    let aes_key = SecretBytes::random(AES_256_KEY_LEN)?;
    let mut out = asymmetric::oaep_encrypt(spec, public_der, alg.oaep(), aes_key.expose_secret())?;
    let kek = AesKek::new(&AES_256, aes_key.expose_secret()).map_err(|_| Error::Failed)?;
    // RFC 5649: the input padded to a multiple of 8, plus one 8-byte block.
    let mut buf = vec![0u8; material.len().div_ceil(8) * 8 + 8];
    let len = kek
        .wrap_with_padding(material, &mut buf)
        .map_err(|_| Error::Failed)?
        .len();
    buf.truncate(len);
    out.extend_from_slice(&buf);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::hex;
    use std::process::Command;
    use std::sync::OnceLock;

    /// One wrapping key per RSA size per test binary: generation is slow in debug builds.
    static KEYS: [OnceLock<(SecretBytes, Vec<u8>)>; 3] = [const { OnceLock::new() }; 3];

    const RSA: [AsymmetricSpec; 3] = [
        AsymmetricSpec::Rsa2048,
        AsymmetricSpec::Rsa3072,
        AsymmetricSpec::Rsa4096,
    ];

    fn key(spec: AsymmetricSpec) -> &'static (SecretBytes, Vec<u8>) {
        let i = RSA.iter().position(|s| *s == spec).unwrap();
        KEYS[i].get_or_init(|| generate_wrapping_key(spec).unwrap())
    }

    #[test]
    fn names_round_trip() {
        for alg in WrappingAlgorithm::ALL {
            assert_eq!(WrappingAlgorithm::from_kms_name(alg.kms_name()), Some(alg));
        }
        assert_eq!(WrappingAlgorithm::from_kms_name("RSAES_PKCS1_V1_5"), None);
        assert_eq!(WrappingAlgorithm::from_kms_name("SM2PKE"), None);
    }

    #[test]
    fn wrapping_keys_are_rsa_only() {
        assert_eq!(
            generate_wrapping_key(AsymmetricSpec::EccP256).err(),
            Some(Error::IncompatibleAlgorithm)
        );
    }

    #[test]
    fn round_trip_and_failures() {
        let spec = AsymmetricSpec::Rsa2048;
        let (private, public) = key(spec);
        let material: Vec<u8> = (0u8..32).collect();
        for alg in WrappingAlgorithm::ALL {
            let wrapped = wrap_key_material(spec, public, alg, &material).unwrap();
            let expected_len = if alg.is_rsa_aes() { 256 + 40 } else { 256 };
            assert_eq!(wrapped.len(), expected_len, "{}", alg.kms_name());
            let out = unwrap_key_material(spec, private, alg, &wrapped).unwrap();
            assert_eq!(out.expose_secret(), material, "{}", alg.kms_name());

            // The other algorithms do not open it.
            for other in WrappingAlgorithm::ALL.into_iter().filter(|o| *o != alg) {
                assert_eq!(
                    unwrap_key_material(spec, private, other, &wrapped).err(),
                    Some(Error::Failed),
                    "{} as {}",
                    alg.kms_name(),
                    other.kms_name()
                );
            }
            // A flipped bit anywhere, or a truncation, fails.
            for i in [0, 100, 255, wrapped.len() - 1] {
                let mut bad = wrapped.clone();
                bad[i] ^= 0x40;
                assert_eq!(
                    unwrap_key_material(spec, private, alg, &bad).err(),
                    Some(Error::Failed),
                    "{} byte {i}",
                    alg.kms_name()
                );
            }
            for len in [0, 1, 255, wrapped.len() - 1] {
                assert_eq!(
                    unwrap_key_material(spec, private, alg, &wrapped[..len]).err(),
                    Some(Error::Failed),
                    "{} truncated to {len}",
                    alg.kms_name()
                );
            }
        }
        // Another wrapping key does not open it.
        let (other_private, _) = generate_wrapping_key(spec).unwrap();
        let wrapped =
            wrap_key_material(spec, public, WrappingAlgorithm::RsaesOaepSha256, &material).unwrap();
        assert!(
            unwrap_key_material(
                spec,
                &other_private,
                WrappingAlgorithm::RsaesOaepSha256,
                &wrapped
            )
            .is_err()
        );
        // RSA-AES wraps material too long for OAEP (a PKCS#8 RSA key, say).
        let long = vec![7u8; 1300];
        let wrapped =
            wrap_key_material(spec, public, WrappingAlgorithm::RsaAesKeyWrapSha256, &long).unwrap();
        assert_eq!(
            unwrap_key_material(
                spec,
                private,
                WrappingAlgorithm::RsaAesKeyWrapSha256,
                &wrapped
            )
            .unwrap()
            .expose_secret(),
            long
        );
        assert_eq!(
            wrap_key_material(spec, public, WrappingAlgorithm::RsaesOaepSha256, &long).err(),
            Some(Error::PlaintextTooLong)
        );
    }

    // ---- Interoperability with the openssl command-line tool, as the AWS guide uses it ----

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

    fn openssl(args: &[&str]) {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn md(alg: WrappingAlgorithm) -> &'static str {
        match alg.oaep() {
            EncryptionAlgorithm::RsaesOaepSha1 => "sha1",
            EncryptionAlgorithm::RsaesOaepSha256 => "sha256",
        }
    }

    /// `openssl pkeyutl -encrypt` with OAEP, as in the AWS guide.
    fn openssl_oaep_encrypt(
        dir: &std::path::Path,
        public: &[u8],
        alg: WrappingAlgorithm,
        pt: &[u8],
    ) -> Vec<u8> {
        let pub_file = dir.join("wrapping.der");
        let pt_file = dir.join("pt.bin");
        let ct_file = dir.join("ct.bin");
        std::fs::write(&pub_file, public).unwrap();
        std::fs::write(&pt_file, pt).unwrap();
        let oaep_md = format!("rsa_oaep_md:{}", md(alg));
        let mgf1_md = format!("rsa_mgf1_md:{}", md(alg));
        openssl(&[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            pub_file.to_str().unwrap(),
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            &oaep_md,
            "-pkeyopt",
            &mgf1_md,
            "-in",
            pt_file.to_str().unwrap(),
            "-out",
            ct_file.to_str().unwrap(),
        ]);
        std::fs::read(&ct_file).unwrap()
    }

    #[test]
    fn interop_openssl_wraps_we_unwrap() {
        if !openssl_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        for spec in RSA {
            let (private, public) = key(spec);
            for alg in WrappingAlgorithm::ALL {
                let material = SecretBytes::random(32).unwrap();
                let wrapped = if alg.is_rsa_aes() {
                    // The AWS guide: a random AES-256 key, `openssl enc -id-aes256-wrap-pad`
                    // with the RFC 5649 IV, then OAEP of the AES key, concatenated.
                    let aes = SecretBytes::random(32).unwrap();
                    let m_file = dir.path().join("material.bin");
                    let w_file = dir.path().join("kwp.bin");
                    std::fs::write(&m_file, material.expose_secret()).unwrap();
                    openssl(&[
                        "enc",
                        "-id-aes256-wrap-pad",
                        "-K",
                        &hex(aes.expose_secret()),
                        "-iv",
                        "A65959A6",
                        "-in",
                        m_file.to_str().unwrap(),
                        "-out",
                        w_file.to_str().unwrap(),
                    ]);
                    let mut out =
                        openssl_oaep_encrypt(dir.path(), public, alg, aes.expose_secret());
                    out.extend_from_slice(&std::fs::read(&w_file).unwrap());
                    out
                } else {
                    openssl_oaep_encrypt(dir.path(), public, alg, material.expose_secret())
                };
                let out = unwrap_key_material(spec, private, alg, &wrapped).unwrap();
                assert_eq!(
                    out.expose_secret(),
                    material.expose_secret(),
                    "{} {}",
                    spec.kms_name(),
                    alg.kms_name()
                );
            }
        }
    }

    #[test]
    fn interop_we_wrap_openssl_unwraps() {
        if !openssl_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let spec = AsymmetricSpec::Rsa2048;
        let (private, public) = key(spec);
        let key_file = dir.path().join("wrapping.p8");
        std::fs::write(&key_file, private.expose_secret()).unwrap();
        for alg in WrappingAlgorithm::ALL {
            let material: Vec<u8> = (0u8..45).collect();
            let wrapped = wrap_key_material(spec, public, alg, &material).unwrap();
            let (rsa_part, kwp_part) = if alg.is_rsa_aes() {
                wrapped.split_at(256)
            } else {
                (&wrapped[..], &[][..])
            };
            let ct = dir.path().join("ct.bin");
            let pt = dir.path().join("pt.bin");
            std::fs::write(&ct, rsa_part).unwrap();
            let oaep_md = format!("rsa_oaep_md:{}", md(alg));
            let mgf1_md = format!("rsa_mgf1_md:{}", md(alg));
            openssl(&[
                "pkeyutl",
                "-decrypt",
                "-keyform",
                "DER",
                "-inkey",
                key_file.to_str().unwrap(),
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                &oaep_md,
                "-pkeyopt",
                &mgf1_md,
                "-in",
                ct.to_str().unwrap(),
                "-out",
                pt.to_str().unwrap(),
            ]);
            let rsa_plain = std::fs::read(&pt).unwrap();
            if !alg.is_rsa_aes() {
                assert_eq!(rsa_plain, material, "{}", alg.kms_name());
                continue;
            }
            assert_eq!(rsa_plain.len(), 32);
            std::fs::write(&ct, kwp_part).unwrap();
            openssl(&[
                "enc",
                "-d",
                "-id-aes256-wrap-pad",
                "-K",
                &hex(&rsa_plain),
                "-iv",
                "A65959A6",
                "-in",
                ct.to_str().unwrap(),
                "-out",
                pt.to_str().unwrap(),
            ]);
            assert_eq!(std::fs::read(&pt).unwrap(), material, "{}", alg.kms_name());
        }
    }
}
