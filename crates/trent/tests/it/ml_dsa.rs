//! ML-DSA (FIPS 204) signing keys: ML_DSA_44/65/87 with ML_DSA_SHAKE_256 over RAW messages.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use trent_crypto::{AsymmetricSpec, SigningAlgorithm};

use crate::harness::{TestServer, code};

#[tokio::test]
async fn ml_dsa_keys_sign_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let specs = [
        (KeySpec::MlDsa44, AsymmetricSpec::MlDsa44),
        (KeySpec::MlDsa65, AsymmetricSpec::MlDsa65),
        (KeySpec::MlDsa87, AsymmetricSpec::MlDsa87),
    ];
    let message = Blob::new(b"post-quantum Trent".to_vec());
    for (spec, local) in specs {
        let meta = kms
            .create_key()
            .key_spec(spec.clone())
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap();
        assert_eq!(
            meta.signing_algorithms(),
            &[SigningAlgorithmSpec::MlDsaShake256]
        );
        assert!(meta.encryption_algorithms().is_empty());
        let id = meta.key_id().to_string();
        let public = kms.get_public_key().key_id(&id).send().await.unwrap();
        assert_eq!(public.key_spec(), Some(&spec));
        let public_der = public.public_key().unwrap().as_ref().to_vec();

        let signed = kms
            .sign()
            .key_id(&id)
            .message(message.clone())
            .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
            .send()
            .await
            .unwrap();
        let signature = signed.signature().unwrap().clone();
        // Verifiable with the public key alone.
        assert!(
            trent_crypto::asymmetric::verify(
                local,
                &public_der,
                SigningAlgorithm::MlDsaShake256,
                message.as_ref(),
                false,
                signature.as_ref(),
            )
            .unwrap()
        );
        let verified = kms
            .verify()
            .key_id(&id)
            .message(message.clone())
            .signature(signature.clone())
            .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
            .send()
            .await
            .unwrap();
        assert!(verified.signature_valid());
        let err = kms
            .verify()
            .key_id(&id)
            .message(Blob::new(b"another message".to_vec()))
            .signature(signature.clone())
            .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "KMSInvalidSignatureException");

        // DIGEST has no meaning for ML-DSA; EXTERNAL_MU is not implemented here.
        let err = kms
            .sign()
            .key_id(&id)
            .message(Blob::new(vec![0u8; 64]))
            .message_type(MessageType::Digest)
            .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "ValidationException");
        let err = kms
            .sign()
            .key_id(&id)
            .message(Blob::new(vec![0u8; 64]))
            .message_type(MessageType::ExternalMu)
            .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "UnsupportedOperationException");
        let err = kms
            .sign()
            .key_id(&id)
            .message(message.clone())
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidKeyUsageException");
    }
    // ML-DSA keys sign only.
    let err = kms
        .create_key()
        .key_spec(KeySpec::MlDsa65)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    server.stop().await;
}
