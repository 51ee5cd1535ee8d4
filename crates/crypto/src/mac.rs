//! HMAC as KMS HMAC keys use it: key specs `HMAC_224` … `HMAC_512`, MAC algorithms
//! `HMAC_SHA_224` … `HMAC_SHA_512`.

use crate::{Error, SecretBytes, constant_time_eq};
use aws_lc_rs::hmac;

/// A KMS `MacAlgorithm`; each belongs to exactly one HMAC key spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacAlgorithm {
    /// `HMAC_SHA_224`, key spec `HMAC_224`
    HmacSha224,
    /// `HMAC_SHA_256`, key spec `HMAC_256`
    HmacSha256,
    /// `HMAC_SHA_384`, key spec `HMAC_384`
    HmacSha384,
    /// `HMAC_SHA_512`, key spec `HMAC_512`
    HmacSha512,
}

impl MacAlgorithm {
    /// Every algorithm.
    pub const ALL: [MacAlgorithm; 4] = [
        MacAlgorithm::HmacSha224,
        MacAlgorithm::HmacSha256,
        MacAlgorithm::HmacSha384,
        MacAlgorithm::HmacSha512,
    ];

    /// The algorithm for a KMS `MacAlgorithm` name, e.g. `"HMAC_SHA_256"`.
    pub fn from_kms_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.kms_name() == name)
    }

    /// The KMS `MacAlgorithm` name.
    pub fn kms_name(self) -> &'static str {
        match self {
            MacAlgorithm::HmacSha224 => "HMAC_SHA_224",
            MacAlgorithm::HmacSha256 => "HMAC_SHA_256",
            MacAlgorithm::HmacSha384 => "HMAC_SHA_384",
            MacAlgorithm::HmacSha512 => "HMAC_SHA_512",
        }
    }

    /// The algorithm of a KMS HMAC `KeySpec`, e.g. `"HMAC_256"`.
    pub fn from_key_spec(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.key_spec() == name)
    }

    /// The KMS `KeySpec` of keys for this algorithm.
    pub fn key_spec(self) -> &'static str {
        match self {
            MacAlgorithm::HmacSha224 => "HMAC_224",
            MacAlgorithm::HmacSha256 => "HMAC_256",
            MacAlgorithm::HmacSha384 => "HMAC_384",
            MacAlgorithm::HmacSha512 => "HMAC_512",
        }
    }

    /// Length of generated keys: the hash output length (28, 32, 48, 64 bytes).
    pub fn key_len(self) -> usize {
        self.tag_len()
    }

    /// Length of the MAC: the hash output length (28, 32, 48, 64 bytes).
    pub fn tag_len(self) -> usize {
        self.aws().digest_algorithm().output_len()
    }

    fn aws(self) -> hmac::Algorithm {
        match self {
            MacAlgorithm::HmacSha224 => hmac::HMAC_SHA224,
            MacAlgorithm::HmacSha256 => hmac::HMAC_SHA256,
            MacAlgorithm::HmacSha384 => hmac::HMAC_SHA384,
            MacAlgorithm::HmacSha512 => hmac::HMAC_SHA512,
        }
    }
}

/// A fresh random key of [`MacAlgorithm::key_len`] bytes.
pub fn generate_mac_key(alg: MacAlgorithm) -> Result<SecretBytes, Error> {
    SecretBytes::random(alg.key_len())
}

/// HMAC of `msg` under `key`. Any key length is accepted (imported KMS HMAC keys vary in length).
pub fn mac(alg: MacAlgorithm, key: &SecretBytes, msg: &[u8]) -> Vec<u8> {
    let k = hmac::Key::new(alg.aws(), key.expose_secret());
    hmac::sign(&k, msg).as_ref().to_vec()
}

/// Whether `tag` is the HMAC of `msg` under `key`; compared in constant time (the tag length is
/// not secret).
pub fn verify_mac(alg: MacAlgorithm, key: &SecretBytes, msg: &[u8], tag: &[u8]) -> bool {
    constant_time_eq(&mac(alg, key, msg), tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{hex, unhex};
    use std::process::Command;

    #[test]
    fn names_and_lengths() {
        for (alg, name, spec, len) in [
            (MacAlgorithm::HmacSha224, "HMAC_SHA_224", "HMAC_224", 28),
            (MacAlgorithm::HmacSha256, "HMAC_SHA_256", "HMAC_256", 32),
            (MacAlgorithm::HmacSha384, "HMAC_SHA_384", "HMAC_384", 48),
            (MacAlgorithm::HmacSha512, "HMAC_SHA_512", "HMAC_512", 64),
        ] {
            assert_eq!(alg.kms_name(), name);
            assert_eq!(alg.key_spec(), spec);
            assert_eq!(MacAlgorithm::from_kms_name(name), Some(alg));
            assert_eq!(MacAlgorithm::from_key_spec(spec), Some(alg));
            assert_eq!(alg.key_len(), len);
            assert_eq!(alg.tag_len(), len);
            let k1 = generate_mac_key(alg).unwrap();
            let k2 = generate_mac_key(alg).unwrap();
            assert_eq!(k1.len(), len);
            assert_ne!(k1.expose_secret(), k2.expose_secret());
            assert_eq!(mac(alg, &k1, b"m").len(), len);
        }
        assert_eq!(MacAlgorithm::from_kms_name("HMAC_224"), None);
        assert_eq!(MacAlgorithm::from_key_spec("HMAC_SHA_224"), None);
    }

    /// RFC 4231 test cases 1, 2 and 6 (short key, "Jefe", key longer than the block).
    #[test]
    fn rfc4231_vectors() {
        let cases: [(Vec<u8>, &[u8], [&str; 4]); 3] = [
            (
                vec![0x0b; 20],
                b"Hi There",
                [
                    "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22",
                    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                    "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
                    "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
                ],
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?",
                [
                    "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
                    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                    "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
                    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
                ],
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                [
                    "95e9a0db962095adaebe9b2d6f0dbce2d499f112f2d2b7273fa6870e",
                    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                    "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
                    "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
                ],
            ),
        ];
        for (key, data, expected) in cases {
            let key = SecretBytes::new(key);
            for (alg, want) in MacAlgorithm::ALL.into_iter().zip(expected) {
                assert_eq!(hex(&mac(alg, &key, data)), want, "{}", alg.kms_name());
                assert!(verify_mac(alg, &key, data, &unhex(want).unwrap()));
            }
        }
    }

    #[test]
    fn verify_mac_rejects_wrong_tags() {
        for alg in MacAlgorithm::ALL {
            let key = generate_mac_key(alg).unwrap();
            let tag = mac(alg, &key, b"message");
            assert!(verify_mac(alg, &key, b"message", &tag));
            assert!(!verify_mac(alg, &key, b"messagE", &tag));
            assert!(!verify_mac(alg, &key, b"message", &tag[..tag.len() - 1]));
            assert!(!verify_mac(
                alg,
                &key,
                b"message",
                &[tag.clone(), vec![0]].concat()
            ));
            assert!(!verify_mac(alg, &key, b"message", &[]));
            for i in 0..tag.len() {
                let mut bad = tag.clone();
                bad[i] ^= 0x01;
                assert!(!verify_mac(alg, &key, b"message", &bad));
            }
            let other = generate_mac_key(alg).unwrap();
            assert!(!verify_mac(alg, &other, b"message", &tag));
            for other_alg in MacAlgorithm::ALL.into_iter().filter(|a| *a != alg) {
                assert!(!verify_mac(other_alg, &key, b"message", &tag));
            }
        }
    }

    #[test]
    fn interop_openssl_hmac() {
        if !Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            println!("skipping: openssl not found");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let msg_path = dir.path().join("msg");
        let msg: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&msg_path, &msg).unwrap();
        for (alg, md) in MacAlgorithm::ALL
            .into_iter()
            .zip(["-sha224", "-sha256", "-sha384", "-sha512"])
        {
            let key = generate_mac_key(alg).unwrap();
            let out = Command::new("openssl")
                .args(["dgst", md, "-mac", "HMAC", "-macopt"])
                .arg(format!("hexkey:{}", hex(key.expose_secret())))
                .arg("-binary")
                .arg(&msg_path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.stdout, mac(alg, &key, &msg), "{}", alg.kms_name());
        }
    }
}
