//! Property tests: random plaintexts, frame lengths, contexts and suites round-trip, and any
//! single flipped byte of the message is detected.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use proptest::prelude::*;
use trent_crypto::SecretBytes;
use trent_esdk::keyring::RawAesKeyring;
use trent_esdk::{
    AlgorithmSuite, ClientConfig, CommitmentPolicy, DecryptRequest, EncryptRequest,
    EncryptionContext, decrypt, encrypt,
};

fn keyring() -> RawAesKeyring {
    RawAesKeyring::new("prop", "key", &SecretBytes::copy_from(&[42; 32])).unwrap()
}

fn config_for(suite: AlgorithmSuite) -> ClientConfig {
    ClientConfig {
        commitment_policy: if suite.is_committing() {
            CommitmentPolicy::RequireEncryptRequireDecrypt
        } else {
            CommitmentPolicy::ForbidEncryptAllowDecrypt
        },
        max_encrypted_data_keys: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trips(
        plaintext in proptest::collection::vec(any::<u8>(), 0..2000),
        frame_length in 1u32..300,
        suite_index in 0usize..11,
        context in proptest::collection::btree_map("[a-z]{1,8}", "[ -~]{0,16}", 0..4),
    ) {
        let suite = AlgorithmSuite::ALL[suite_index];
        let config = config_for(suite);
        let k = keyring();
        let request = EncryptRequest {
            encryption_context: context.clone(),
            suite: Some(suite),
            frame_length,
            ..Default::default()
        };
        let m = encrypt(&config, &k, &request, &plaintext).unwrap();
        let out = decrypt(&config, &k, &DecryptRequest::default(), &m.ciphertext).unwrap();
        prop_assert_eq!(out.plaintext.expose_secret(), plaintext.as_slice());
        let mut stored: EncryptionContext = out.encryption_context.clone();
        stored.remove("aws-crypto-public-key");
        prop_assert_eq!(stored, context);
    }

    #[test]
    fn any_flipped_byte_is_detected(
        plaintext in proptest::collection::vec(any::<u8>(), 0..300),
        frame_length in 1u32..100,
        signed in any::<bool>(),
        position in any::<proptest::sample::Index>(),
        bit in 0u8..8,
    ) {
        let suite = if signed {
            AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384
        } else {
            AlgorithmSuite::Aes256GcmHkdfSha512CommitKey
        };
        let config = config_for(suite);
        let k = keyring();
        let request = EncryptRequest { suite: Some(suite), frame_length, ..Default::default() };
        let mut m = encrypt(&config, &k, &request, &plaintext).unwrap().ciphertext;
        let i = position.index(m.len());
        m[i] ^= 1 << bit;
        prop_assert!(decrypt(&config, &k, &DecryptRequest::default(), &m).is_err());
    }
}
