//! GetKeyLastUsage and DryRun on the cryptographic operations.

use aws_sdk_kms::operation::RequestId as _;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeyPairSpec, KeyAgreementAlgorithmSpec, KeySpec, KeyUsageType, MacAlgorithmSpec,
    SigningAlgorithmSpec,
};
use trent_store::Scope;
use trent_store::clock::Clock as _;

use crate::harness::{TestServer, code};

async fn create(kms: &aws_sdk_kms::Client, spec: KeySpec, usage: KeyUsageType) -> String {
    kms.create_key()
        .key_spec(spec)
        .key_usage(usage)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string()
}

#[tokio::test]
async fn last_usage_follows_successful_crypto_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let sym = create(
        &kms,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;
    let other = create(
        &kms,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;

    // Never used: an empty KeyLastUsage; tracking starts at creation for a key made after the
    // deployment began tracking.
    let fresh = kms.get_key_last_usage().key_id(&sym).send().await.unwrap();
    let described = kms.describe_key().key_id(&sym).send().await.unwrap();
    let created = described.key_metadata().unwrap().creation_date().unwrap();
    assert!(fresh.key_id().unwrap().ends_with(&sym));
    let usage = fresh.key_last_usage().unwrap();
    assert!(usage.operation().is_none() && usage.timestamp().is_none());
    assert!(usage.kms_request_id().is_none());
    assert_eq!(fresh.key_creation_date(), Some(created));
    assert_eq!(fresh.tracking_start_date(), Some(created));

    server.clock.advance_ms(5_000);
    let enc = kms
        .encrypt()
        .key_id(&sym)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap();
    let request_id = enc.request_id().unwrap().to_string();
    let after = kms.get_key_last_usage().key_id(&sym).send().await.unwrap();
    let usage = after.key_last_usage().unwrap();
    assert_eq!(usage.operation().map(|o| o.as_str()), Some("Encrypt"));
    assert_eq!(usage.kms_request_id(), Some(request_id.as_str()));
    assert_eq!(
        usage.timestamp().unwrap().secs(),
        server.clock.now_ms() / 1000
    );

    // A failed operation is not a use.
    let err = kms
        .decrypt()
        .ciphertext_blob(enc.ciphertext_blob().unwrap().clone())
        .encryption_context("k", "v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidCiphertextException");
    let still = kms.get_key_last_usage().key_id(&sym).send().await.unwrap();
    assert_eq!(
        still
            .key_last_usage()
            .unwrap()
            .operation()
            .map(|o| o.as_str()),
        Some("Encrypt")
    );

    // ReEncrypt uses both keys.
    kms.re_encrypt()
        .ciphertext_blob(enc.ciphertext_blob().unwrap().clone())
        .destination_key_id(&other)
        .send()
        .await
        .unwrap();
    for id in [&sym, &other] {
        let u = kms.get_key_last_usage().key_id(id).send().await.unwrap();
        assert_eq!(
            u.key_last_usage().unwrap().operation().map(|o| o.as_str()),
            Some("ReEncrypt")
        );
    }

    // The scheduler writes the notes to the store.
    let scope = Scope::new("000000000000", "us-east-1");
    assert!(
        server
            .state
            .store
            .key_usage(&scope, &sym)
            .await
            .unwrap()
            .is_none()
    );
    trent_server::scheduler::tick(&server.state).await;
    let stored = server
        .state
        .store
        .key_usage(&scope, &sym)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.operation, "ReEncrypt");

    // Aliases are refused, unknown keys are not found.
    kms.create_alias()
        .alias_name("alias/used")
        .target_key_id(&sym)
        .send()
        .await
        .unwrap();
    let err = kms
        .get_key_last_usage()
        .key_id("alias/used")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotFoundException");
    let err = kms
        .get_key_last_usage()
        .key_id("0b0f1a2e-0000-4000-8000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotFoundException");

    // Usage noted after the last tick is flushed at shutdown and read back after a restart.
    kms.generate_data_key()
        .key_id(&other)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    server.stop().await;
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let u = kms
        .get_key_last_usage()
        .key_id(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(
        u.key_last_usage().unwrap().operation().map(|o| o.as_str()),
        Some("GenerateDataKey")
    );
    // The deployment's tracking start did not move with the restart.
    assert_eq!(u.tracking_start_date(), Some(created));
    server.stop().await;
}

#[tokio::test]
async fn dry_run_checks_everything_and_uses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let sym = create(
        &kms,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;
    let signer = create(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let agree = create(&kms, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let mac = create(&kms, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    let msg = || Blob::new(b"dry".to_vec());

    let sig = kms
        .sign()
        .key_id(&signer)
        .message(msg())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap();
    let tag = kms
        .generate_mac()
        .key_id(&mac)
        .message(msg())
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap();
    let peer = kms
        .get_public_key()
        .key_id(&agree)
        .send()
        .await
        .unwrap()
        .public_key()
        .unwrap()
        .clone();
    // Reset the usage notes so that a dry run which recorded usage would show.
    let fresh_sign = create(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let fresh_mac = create(&kms, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;

    let dry = |r: Result<(), String>| assert_eq!(r.unwrap_err(), "DryRunOperationException");
    dry(kms
        .sign()
        .key_id(&fresh_sign)
        .message(msg())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .dry_run(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e)));
    dry(kms
        .verify()
        .key_id(&signer)
        .message(msg())
        .signature(sig.signature().unwrap().clone())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .dry_run(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e)));
    dry(kms
        .generate_mac()
        .key_id(&fresh_mac)
        .message(msg())
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .dry_run(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e)));
    dry(kms
        .verify_mac()
        .key_id(&mac)
        .message(msg())
        .mac(tag.mac().unwrap().clone())
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .dry_run(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e)));
    dry(kms
        .generate_data_key_pair()
        .key_id(&sym)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .dry_run(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e)));
    dry(kms
        .generate_data_key_pair_without_plaintext()
        .key_id(&sym)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .dry_run(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e)));
    dry(kms
        .derive_shared_secret()
        .key_id(&agree)
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(peer.clone())
        .dry_run(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e)));
    dry(kms
        .encrypt()
        .key_id(&sym)
        .plaintext(msg())
        .dry_run(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e)));

    // A dry run that would fail reports the failure, not DryRunOperationException.
    let err = kms
        .sign()
        .key_id(&sym)
        .message(msg())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidKeyUsageException");
    let err = kms
        .verify()
        .key_id(&signer)
        .message(msg())
        .message_type(aws_sdk_kms::types::MessageType::Digest)
        .signature(sig.signature().unwrap().clone())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");

    // Dry runs are not uses.
    for id in [&fresh_sign, &fresh_mac, &sym] {
        let u = kms.get_key_last_usage().key_id(id).send().await.unwrap();
        assert!(u.key_last_usage().unwrap().operation().is_none(), "{id}");
    }
    server.stop().await;
}
