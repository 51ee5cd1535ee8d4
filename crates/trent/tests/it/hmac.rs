//! HMAC keys: CreateKey with HMAC specs, GenerateMac and VerifyMac, and the usage checks.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MacAlgorithmSpec};
use trent_store::Scope;

use crate::harness::{TestServer, code};

#[tokio::test]
async fn hmac_keys_generate_and_verify_macs() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let specs = [
        (
            KeySpec::Hmac224,
            MacAlgorithmSpec::HmacSha224,
            trent_crypto::MacAlgorithm::HmacSha224,
        ),
        (
            KeySpec::Hmac256,
            MacAlgorithmSpec::HmacSha256,
            trent_crypto::MacAlgorithm::HmacSha256,
        ),
        (
            KeySpec::Hmac384,
            MacAlgorithmSpec::HmacSha384,
            trent_crypto::MacAlgorithm::HmacSha384,
        ),
        (
            KeySpec::Hmac512,
            MacAlgorithmSpec::HmacSha512,
            trent_crypto::MacAlgorithm::HmacSha512,
        ),
    ];
    for (spec, alg, local) in specs {
        let key = kms
            .create_key()
            .key_spec(spec.clone())
            .key_usage(KeyUsageType::GenerateVerifyMac)
            .send()
            .await
            .unwrap();
        let meta = key.key_metadata().unwrap();
        let id = meta.key_id().to_string();
        assert_eq!(meta.key_spec(), Some(&spec));
        assert_eq!(meta.mac_algorithms(), std::slice::from_ref(&alg));
        assert!(meta.encryption_algorithms().is_empty());

        let mac = kms
            .generate_mac()
            .key_id(&id)
            .mac_algorithm(alg.clone())
            .message(Blob::new(b"message".to_vec()))
            .send()
            .await
            .unwrap();
        let tag = mac.mac().unwrap().as_ref().to_vec();
        assert_eq!(tag.len(), local.tag_len());
        assert_eq!(mac.key_id(), meta.arn());

        // The tag is HMAC of the message under the key's stored material.
        let scope = Scope::new("000000000000", "us-east-1");
        let materials = server.state.store.key_materials(&scope, &id).await.unwrap();
        assert_eq!(materials[0].secret.len(), local.key_len());
        assert_eq!(
            trent_crypto::mac(local, &materials[0].secret, b"message"),
            tag
        );

        let ok = kms
            .verify_mac()
            .key_id(&id)
            .mac_algorithm(alg.clone())
            .message(Blob::new(b"message".to_vec()))
            .mac(Blob::new(tag.clone()))
            .send()
            .await
            .unwrap();
        assert!(ok.mac_valid());
        let mut bad = tag.clone();
        bad[0] ^= 1;
        for (message, mac) in [
            (b"message".to_vec(), bad),
            (b"messagE".to_vec(), tag.clone()),
        ] {
            let err = kms
                .verify_mac()
                .key_id(&id)
                .mac_algorithm(alg.clone())
                .message(Blob::new(message))
                .mac(Blob::new(mac))
                .send()
                .await
                .unwrap_err();
            assert_eq!(code(&err), "KMSInvalidMacException");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn key_usage_is_enforced_between_hmac_and_encryption_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let hmac = kms
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap();
    let hmac_id = hmac.key_metadata().unwrap().key_id().to_string();
    let aes = kms.create_key().send().await.unwrap();
    let aes_id = aes.key_metadata().unwrap().key_id().to_string();

    let err = kms
        .encrypt()
        .key_id(&hmac_id)
        .plaintext(Blob::new(b"p".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidKeyUsageException");
    let err = kms
        .generate_mac()
        .key_id(&aes_id)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(b"m".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidKeyUsageException");
    let err = kms
        .generate_mac()
        .key_id(&hmac_id)
        .mac_algorithm(MacAlgorithmSpec::HmacSha384)
        .message(Blob::new(b"m".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidKeyUsageException");

    // HMAC keys must name their usage, and cannot take another.
    let err = kms
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = kms
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = kms
        .create_key()
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    // HMAC keys do not rotate; disabled ones do not MAC.
    let err = kms
        .enable_key_rotation()
        .key_id(&hmac_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    kms.disable_key().key_id(&hmac_id).send().await.unwrap();
    let err = kms
        .generate_mac()
        .key_id(&hmac_id)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(b"m".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DisabledException");
    server.stop().await;
}
