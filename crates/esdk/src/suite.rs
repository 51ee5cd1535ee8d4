//! The eleven algorithm suites of the message format.

use trent_crypto::envelope::{EcdsaCurve, HashAlgorithm};

/// An algorithm suite, identified on the wire by its two-byte ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlgorithmSuite {
    /// 0x0014: AES-128-GCM, data key used directly.
    Aes128GcmIv12Tag16NoKdf,
    /// 0x0046: AES-192-GCM, data key used directly.
    Aes192GcmIv12Tag16NoKdf,
    /// 0x0078: AES-256-GCM, data key used directly.
    Aes256GcmIv12Tag16NoKdf,
    /// 0x0114: AES-128-GCM, HKDF-SHA-256.
    Aes128GcmIv12Tag16HkdfSha256,
    /// 0x0146: AES-192-GCM, HKDF-SHA-256.
    Aes192GcmIv12Tag16HkdfSha256,
    /// 0x0178: AES-256-GCM, HKDF-SHA-256.
    Aes256GcmIv12Tag16HkdfSha256,
    /// 0x0214: AES-128-GCM, HKDF-SHA-256, ECDSA P-256.
    Aes128GcmIv12Tag16HkdfSha256EcdsaP256,
    /// 0x0346: AES-192-GCM, HKDF-SHA-384, ECDSA P-384.
    Aes192GcmIv12Tag16HkdfSha384EcdsaP384,
    /// 0x0378: AES-256-GCM, HKDF-SHA-384, ECDSA P-384.
    Aes256GcmIv12Tag16HkdfSha384EcdsaP384,
    /// 0x0478: AES-256-GCM, HKDF-SHA-512, key commitment (message format v2).
    Aes256GcmHkdfSha512CommitKey,
    /// 0x0578: AES-256-GCM, HKDF-SHA-512, key commitment, ECDSA P-384 (message format v2).
    Aes256GcmHkdfSha512CommitKeyEcdsaP384,
}

/// How the data key becomes the content encryption key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kdf {
    /// The data key is the encryption key.
    Identity,
    /// HKDF with no salt and `suiteId ‖ messageId` as info (message format v1).
    Hkdf(HashAlgorithm),
    /// HKDF-SHA-512 with the message ID as salt, deriving an encryption and a commitment key
    /// (message format v2).
    CommittingHkdfSha512,
}

impl AlgorithmSuite {
    /// Every suite, in ID order.
    pub const ALL: [AlgorithmSuite; 11] = [
        Self::Aes128GcmIv12Tag16NoKdf,
        Self::Aes192GcmIv12Tag16NoKdf,
        Self::Aes256GcmIv12Tag16NoKdf,
        Self::Aes128GcmIv12Tag16HkdfSha256,
        Self::Aes192GcmIv12Tag16HkdfSha256,
        Self::Aes256GcmIv12Tag16HkdfSha256,
        Self::Aes128GcmIv12Tag16HkdfSha256EcdsaP256,
        Self::Aes192GcmIv12Tag16HkdfSha384EcdsaP384,
        Self::Aes256GcmIv12Tag16HkdfSha384EcdsaP384,
        Self::Aes256GcmHkdfSha512CommitKey,
        Self::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
    ];

    /// The suite with this wire ID, if it is an ESDK message suite (the MPL's DBE and S3EC IDs
    /// are not).
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }

    /// The wire ID.
    pub fn id(self) -> u16 {
        match self {
            Self::Aes128GcmIv12Tag16NoKdf => 0x0014,
            Self::Aes192GcmIv12Tag16NoKdf => 0x0046,
            Self::Aes256GcmIv12Tag16NoKdf => 0x0078,
            Self::Aes128GcmIv12Tag16HkdfSha256 => 0x0114,
            Self::Aes192GcmIv12Tag16HkdfSha256 => 0x0146,
            Self::Aes256GcmIv12Tag16HkdfSha256 => 0x0178,
            Self::Aes128GcmIv12Tag16HkdfSha256EcdsaP256 => 0x0214,
            Self::Aes192GcmIv12Tag16HkdfSha384EcdsaP384 => 0x0346,
            Self::Aes256GcmIv12Tag16HkdfSha384EcdsaP384 => 0x0378,
            Self::Aes256GcmHkdfSha512CommitKey => 0x0478,
            Self::Aes256GcmHkdfSha512CommitKeyEcdsaP384 => 0x0578,
        }
    }

    /// The message format version this suite is written with (1 or 2).
    pub fn message_format_version(self) -> u8 {
        if self.is_committing() { 2 } else { 1 }
    }

    /// Length in bytes of the data key and of the AES key (16, 24 or 32).
    pub fn key_len(self) -> usize {
        match self.id() & 0xff {
            0x14 => 16,
            0x46 => 24,
            _ => 32,
        }
    }

    pub fn kdf(self) -> Kdf {
        match self.id() >> 8 {
            0x00 => Kdf::Identity,
            0x01 | 0x02 => Kdf::Hkdf(HashAlgorithm::Sha256),
            0x03 => Kdf::Hkdf(HashAlgorithm::Sha384),
            _ => Kdf::CommittingHkdfSha512,
        }
    }

    /// Whether the suite commits to its key (0x0478 and 0x0578 only).
    pub fn is_committing(self) -> bool {
        self.kdf() == Kdf::CommittingHkdfSha512
    }

    /// The footer signature's curve, for signed suites.
    pub fn signature(self) -> Option<EcdsaCurve> {
        match self.id() {
            0x0214 => Some(EcdsaCurve::P256),
            0x0346 | 0x0378 | 0x0578 => Some(EcdsaCurve::P384),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_table_matches_the_specification() {
        let rows: Vec<(u16, usize, Kdf, bool, Option<EcdsaCurve>, u8)> = AlgorithmSuite::ALL
            .iter()
            .map(|s| {
                (
                    s.id(),
                    s.key_len(),
                    s.kdf(),
                    s.is_committing(),
                    s.signature(),
                    s.message_format_version(),
                )
            })
            .collect();
        use EcdsaCurve::*;
        use HashAlgorithm::*;
        use Kdf::*;
        assert_eq!(
            rows,
            vec![
                (0x0014, 16, Identity, false, None, 1),
                (0x0046, 24, Identity, false, None, 1),
                (0x0078, 32, Identity, false, None, 1),
                (0x0114, 16, Hkdf(Sha256), false, None, 1),
                (0x0146, 24, Hkdf(Sha256), false, None, 1),
                (0x0178, 32, Hkdf(Sha256), false, None, 1),
                (0x0214, 16, Hkdf(Sha256), false, Some(P256), 1),
                (0x0346, 24, Hkdf(Sha384), false, Some(P384), 1),
                (0x0378, 32, Hkdf(Sha384), false, Some(P384), 1),
                (0x0478, 32, CommittingHkdfSha512, true, None, 2),
                (0x0578, 32, CommittingHkdfSha512, true, Some(P384), 2),
            ]
        );
        for s in AlgorithmSuite::ALL {
            assert_eq!(AlgorithmSuite::from_id(s.id()), Some(s));
        }
        for id in [0x6700, 0x6701, 0x0070, 0x0074, 0x0000, 0x0015] {
            assert_eq!(AlgorithmSuite::from_id(id), None);
        }
    }
}
