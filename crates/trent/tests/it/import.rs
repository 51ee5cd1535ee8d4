//! Imported key material (Origin EXTERNAL), driven as a user following the AWS guide: the
//! wrapping is done by the openssl command line, the calls by the AWS SDK.

use std::path::Path;
use std::process::Command;

use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{
    AlgorithmSpec, DataKeySpec, ExpirationModelType, ImportType, KeySpec, KeyState, KeyUsageType,
    MacAlgorithmSpec, OriginType, WrappingKeySpec,
};
use trent_store::clock::Clock as _;

use crate::harness::{TestServer, code, message};

const DAY_SECS: i64 = 86_400;

/// Runs openssl; fails the test with its stderr if it fails.
fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random(n: usize) -> Vec<u8> {
    trent_crypto::SecretBytes::random(n)
        .unwrap()
        .expose_secret()
        .to_vec()
}

/// `openssl pkeyutl -encrypt` with RSA-OAEP under the DER wrapping public key, as the AWS guide.
fn oaep(dir: &Path, public_key: &[u8], md: &str, plaintext: &[u8]) -> Vec<u8> {
    let public = dir.join("WrappingPublicKey.bin");
    let input = dir.join("oaep-in.bin");
    let output = dir.join("oaep-out.bin");
    std::fs::write(&public, public_key).unwrap();
    std::fs::write(&input, plaintext).unwrap();
    let oaep_md = format!("rsa_oaep_md:{md}");
    let mgf1_md = format!("rsa_mgf1_md:{md}");
    openssl(&[
        "pkeyutl",
        "-encrypt",
        "-in",
        input.to_str().unwrap(),
        "-out",
        output.to_str().unwrap(),
        "-inkey",
        public.to_str().unwrap(),
        "-keyform",
        "DER",
        "-pubin",
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        &oaep_md,
        "-pkeyopt",
        &mgf1_md,
    ]);
    std::fs::read(&output).unwrap()
}

/// Wraps `material` under `public_key` with the openssl steps of the AWS guide for `alg`.
fn wrap(public_key: &[u8], alg: &AlgorithmSpec, material: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let md = match alg {
        AlgorithmSpec::RsaesOaepSha1 | AlgorithmSpec::RsaAesKeyWrapSha1 => "sha1",
        _ => "sha256",
    };
    match alg {
        AlgorithmSpec::RsaesOaepSha1 | AlgorithmSpec::RsaesOaepSha256 => {
            oaep(dir.path(), public_key, md, material)
        }
        _ => {
            // A fresh AES-256 key wraps the material (RFC 5649); RSA-OAEP wraps the AES key.
            let aes_key = random(32);
            let input = dir.path().join("PlaintextKeyMaterial.bin");
            let output = dir.path().join("key_material_wrapped.bin");
            std::fs::write(&input, material).unwrap();
            openssl(&[
                "enc",
                "-id-aes256-wrap-pad",
                "-K",
                &hex(&aes_key),
                "-iv",
                "A65959A6",
                "-in",
                input.to_str().unwrap(),
                "-out",
                output.to_str().unwrap(),
            ]);
            let mut wrapped = oaep(dir.path(), public_key, md, &aes_key);
            wrapped.extend_from_slice(&std::fs::read(&output).unwrap());
            wrapped
        }
    }
}

async fn create_external(kms: &aws_sdk_kms::Client) -> (String, String) {
    let key = kms
        .create_key()
        .origin(OriginType::External)
        .send()
        .await
        .unwrap();
    let meta = key.key_metadata().unwrap();
    (meta.key_id().to_string(), meta.arn().unwrap().to_string())
}

struct Params {
    public_key: Vec<u8>,
    token: Vec<u8>,
}

async fn parameters(
    kms: &aws_sdk_kms::Client,
    key: &str,
    alg: AlgorithmSpec,
    spec: WrappingKeySpec,
) -> Params {
    let p = kms
        .get_parameters_for_import()
        .key_id(key)
        .wrapping_algorithm(alg)
        .wrapping_key_spec(spec)
        .send()
        .await
        .unwrap();
    Params {
        public_key: p.public_key().unwrap().as_ref().to_vec(),
        token: p.import_token().unwrap().as_ref().to_vec(),
    }
}

/// ImportKeyMaterial with material that does not expire.
async fn import(
    kms: &aws_sdk_kms::Client,
    key: &str,
    token: &[u8],
    wrapped: Vec<u8>,
) -> Result<
    aws_sdk_kms::operation::import_key_material::ImportKeyMaterialOutput,
    aws_sdk_kms::error::SdkError<
        aws_sdk_kms::operation::import_key_material::ImportKeyMaterialError,
    >,
> {
    kms.import_key_material()
        .key_id(key)
        .import_token(Blob::new(token.to_vec()))
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
}

async fn state(kms: &aws_sdk_kms::Client, key: &str) -> KeyState {
    let d = kms.describe_key().key_id(key).send().await.unwrap();
    d.key_metadata().unwrap().key_state().unwrap().clone()
}

async fn encrypt(kms: &aws_sdk_kms::Client, key: &str, text: &[u8]) -> Blob {
    kms.encrypt()
        .key_id(key)
        .plaintext(Blob::new(text.to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn symmetric_key_material_imports_with_every_wrapping_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    for (alg, spec) in [
        (AlgorithmSpec::RsaesOaepSha256, WrappingKeySpec::Rsa2048),
        (AlgorithmSpec::RsaesOaepSha1, WrappingKeySpec::Rsa2048),
        (AlgorithmSpec::RsaAesKeyWrapSha256, WrappingKeySpec::Rsa3072),
        (AlgorithmSpec::RsaAesKeyWrapSha1, WrappingKeySpec::Rsa2048),
    ] {
        let key = kms
            .create_key()
            .origin(OriginType::External)
            .description("imported")
            .send()
            .await
            .unwrap();
        let meta = key.key_metadata().unwrap();
        let id = meta.key_id().to_string();
        let arn = meta.arn().unwrap().to_string();
        assert_eq!(meta.origin(), Some(&OriginType::External));
        assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
        assert!(!meta.enabled());
        assert_eq!(meta.key_spec(), Some(&KeySpec::SymmetricDefault));
        assert!(meta.current_key_material_id().is_none());
        assert!(meta.expiration_model().is_none());

        // No material yet: cryptography is refused as AWS does.
        let err = kms
            .encrypt()
            .key_id(&id)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "KMSInvalidStateException");
        assert_eq!(message(&err), format!("{arn} is pending import."));

        let p = kms
            .get_parameters_for_import()
            .key_id(&id)
            .wrapping_algorithm(alg.clone())
            .wrapping_key_spec(spec.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(p.key_id(), Some(arn.as_str()));
        let valid_to = p.parameters_valid_to().unwrap().secs();
        let now = server.clock.now_ms() / 1000;
        assert!((valid_to - now - DAY_SECS).abs() <= 2, "{valid_to} {now}");
        let public_key = p.public_key().unwrap().as_ref().to_vec();
        let token = p.import_token().unwrap().as_ref().to_vec();

        let material = random(32);
        let out = import(&kms, &id, &token, wrap(&public_key, &alg, &material))
            .await
            .unwrap();
        assert_eq!(out.key_id(), Some(arn.as_str()));
        let material_id = out.key_material_id().unwrap().to_string();
        assert_eq!(material_id.len(), 64);
        assert!(material_id.bytes().all(|b| b.is_ascii_hexdigit()));

        let d = kms.describe_key().key_id(&id).send().await.unwrap();
        let meta = d.key_metadata().unwrap();
        assert_eq!(meta.key_state(), Some(&KeyState::Enabled), "{alg:?}");
        assert!(meta.enabled());
        assert_eq!(meta.current_key_material_id(), Some(material_id.as_str()));
        assert_eq!(
            meta.expiration_model(),
            Some(&ExpirationModelType::KeyMaterialDoesNotExpire)
        );
        assert!(meta.valid_to().is_none());

        let blob = encrypt(&kms, &id, b"imported material works").await;
        let out = kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
        assert_eq!(
            out.plaintext().unwrap().as_ref(),
            b"imported material works"
        );
        assert_eq!(out.key_material_id(), Some(material_id.as_str()));
        let dk = kms
            .generate_data_key()
            .key_id(&id)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await
            .unwrap();
        assert_eq!(dk.plaintext().unwrap().as_ref().len(), 32);
    }
    server.stop().await;
}

#[tokio::test]
async fn reimport_expiry_and_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let (id, arn) = create_external(&kms).await;
    let alg = AlgorithmSpec::RsaesOaepSha256;
    let p = parameters(&kms, &id, alg.clone(), WrappingKeySpec::Rsa2048).await;
    let material = random(32);
    let now_secs = server.clock.now_ms() / 1000;

    // Expiry rules.
    let attempt = |valid_to: Option<i64>, model: Option<ExpirationModelType>| {
        kms.import_key_material()
            .key_id(&id)
            .import_token(Blob::new(p.token.clone()))
            .encrypted_key_material(Blob::new(wrap(&p.public_key, &alg, &material)))
            .set_valid_to(valid_to.map(DateTime::from_secs))
            .set_expiration_model(model)
    };
    for (valid_to, model) in [
        (None, None),
        (None, Some(ExpirationModelType::KeyMaterialExpires)),
        (
            Some(now_secs + DAY_SECS),
            Some(ExpirationModelType::KeyMaterialDoesNotExpire),
        ),
        (Some(now_secs - 60), None),
        (Some(now_secs + 366 * DAY_SECS), None),
    ] {
        let err = attempt(valid_to, model.clone()).send().await.unwrap_err();
        assert_eq!(code(&err), "ValidationException", "{valid_to:?} {model:?}");
    }
    assert_eq!(state(&kms, &id).await, KeyState::PendingImport);

    // Material that is not 256 bits, and bytes that are not wrapped under this key.
    let err = import(&kms, &id, &p.token, wrap(&p.public_key, &alg, &random(31)))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "IncorrectKeyMaterialException");
    let err = import(&kms, &id, &p.token, random(256)).await.unwrap_err();
    assert_eq!(code(&err), "InvalidCiphertextException");
    let err = import(
        &kms,
        &id,
        &p.token,
        wrap(&p.public_key, &AlgorithmSpec::RsaesOaepSha1, &material),
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "InvalidCiphertextException");

    // Imported, expiring in 10 days.
    let out = attempt(Some(now_secs + 10 * DAY_SECS), None)
        .send()
        .await
        .unwrap();
    let material_id = out.key_material_id().unwrap().to_string();
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    let meta = d.key_metadata().unwrap();
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert_eq!(
        meta.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialExpires)
    );
    assert_eq!(meta.valid_to().unwrap().secs(), now_secs + 10 * DAY_SECS);
    let old = encrypt(&kms, &id, b"before expiry").await;

    // Other material is refused, even with a valid token; the token may be used again.
    let err = import(&kms, &id, &p.token, wrap(&p.public_key, &alg, &random(32)))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "IncorrectKeyMaterialException");
    assert!(message(&err).contains(&arn));

    // Not due yet; the token, though, is 9 days old: expired.
    server.clock.advance_days(9);
    let err = import(&kms, &id, &p.token, wrap(&p.public_key, &alg, &material))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ExpiredImportTokenException");
    trent_server::scheduler::tick(&server.state).await;
    assert_eq!(state(&kms, &id).await, KeyState::Enabled);

    // Expired: unusable at once, before the scheduler has run...
    server.clock.advance_days(2);
    let err = kms
        .decrypt()
        .ciphertext_blob(old.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    assert_eq!(state(&kms, &id).await, KeyState::PendingImport);
    // ...and the scheduler deletes the material; the key waits for it again.
    trent_server::scheduler::tick(&server.state).await;
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    let meta = d.key_metadata().unwrap();
    assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
    assert!(meta.valid_to().is_none());
    let err = kms
        .decrypt()
        .ciphertext_blob(old.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");

    // A week after they expire, import parameters are purged: the token is unknown.
    let err = import(&kms, &id, &p.token, wrap(&p.public_key, &alg, &material))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidImportTokenException");

    // Different material is refused after expiry too; the same material restores the key and
    // its old ciphertexts.
    let p2 = parameters(
        &kms,
        &id,
        AlgorithmSpec::RsaAesKeyWrapSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    let err = import(
        &kms,
        &id,
        &p2.token,
        wrap(
            &p2.public_key,
            &AlgorithmSpec::RsaAesKeyWrapSha256,
            &random(32),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "IncorrectKeyMaterialException");
    let out = import(
        &kms,
        &id,
        &p2.token,
        wrap(
            &p2.public_key,
            &AlgorithmSpec::RsaAesKeyWrapSha256,
            &material,
        ),
    )
    .await
    .unwrap();
    assert_eq!(out.key_material_id(), Some(material_id.as_str()));
    assert_eq!(state(&kms, &id).await, KeyState::Enabled);
    let back = kms
        .decrypt()
        .ciphertext_blob(old.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext().unwrap().as_ref(), b"before expiry");

    // ImportType and KeyMaterialId.
    let wrapped = || {
        wrap(
            &p2.public_key,
            &AlgorithmSpec::RsaAesKeyWrapSha256,
            &material,
        )
    };
    let base = || {
        kms.import_key_material()
            .key_id(&id)
            .import_token(Blob::new(p2.token.clone()))
            .encrypted_key_material(Blob::new(wrapped()))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
    };
    base()
        .import_type(ImportType::ExistingKeyMaterial)
        .key_material_id(&material_id)
        .key_material_description("restored")
        .send()
        .await
        .unwrap();
    let err = base()
        .key_material_id("0".repeat(64))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "IncorrectKeyMaterialException");
    let err = base()
        .import_type(ImportType::NewKeyMaterial)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    let err = base()
        .import_type(ImportType::NewKeyMaterial)
        .key_material_id(&material_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");

    // DeleteImportedKeyMaterial.
    let err = kms
        .delete_imported_key_material()
        .key_id(&id)
        .key_material_id("0".repeat(64))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotFoundException");
    let deleted = kms
        .delete_imported_key_material()
        .key_id(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.key_id(), Some(arn.as_str()));
    assert_eq!(deleted.key_material_id(), Some(material_id.as_str()));
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    let meta = d.key_metadata().unwrap();
    assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
    assert!(meta.expiration_model().is_none());
    let err = kms
        .decrypt()
        .ciphertext_blob(old.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(message(&err), format!("{arn} is pending import."));
    let err = kms
        .generate_data_key()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    // Deleting again is harmless; enabling or disabling a key without material is not allowed.
    kms.delete_imported_key_material()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    let err = kms.enable_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");

    // Restored once more, across a restart (the material, and the token's sealed wrapping key).
    server.stop().await;
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    import(
        &kms,
        &id,
        &p2.token,
        wrap(
            &p2.public_key,
            &AlgorithmSpec::RsaAesKeyWrapSha256,
            &material,
        ),
    )
    .await
    .unwrap();
    let back = kms.decrypt().ciphertext_blob(old).send().await.unwrap();
    assert_eq!(back.plaintext().unwrap().as_ref(), b"before expiry");

    // A key pending deletion loses its material but stays pending deletion.
    kms.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let err = kms
        .get_parameters_for_import()
        .key_id(&id)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    assert_eq!(message(&err), format!("{arn} is pending deletion."));
    let err = import(
        &kms,
        &id,
        &p2.token,
        wrap(
            &p2.public_key,
            &AlgorithmSpec::RsaAesKeyWrapSha256,
            &material,
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    kms.delete_imported_key_material()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(state(&kms, &id).await, KeyState::PendingDeletion);
    server.stop().await;
}

#[tokio::test]
async fn tokens_are_bound_to_their_key_and_origin_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let (a, _) = create_external(&kms).await;
    let (b, b_arn) = create_external(&kms).await;
    let alg = AlgorithmSpec::RsaesOaepSha1;
    let pa = parameters(&kms, &a, alg.clone(), WrappingKeySpec::Rsa2048).await;
    let material = random(32);

    // A's token and wrapping key, presented for B.
    let err = import(&kms, &b, &pa.token, wrap(&pa.public_key, &alg, &material))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidImportTokenException");
    assert!(message(&err).contains(&b_arn));
    // Tokens Trent did not issue: garbage, or one bit changed anywhere.
    let err = import(
        &kms,
        &a,
        b"not a token",
        wrap(&pa.public_key, &alg, &material),
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "InvalidImportTokenException");
    for i in [0, 1, pa.token.len() - 1] {
        let mut forged = pa.token.clone();
        forged[i] ^= 1;
        let err = import(&kms, &a, &forged, wrap(&pa.public_key, &alg, &material))
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidImportTokenException", "byte {i}");
    }
    // Another account or region does not know the token.
    let west = server.client_as(
        &server.access_key_id,
        &server.secret_access_key,
        "us-west-2",
    );
    let (w, _) = create_external(&west).await;
    let err = import(&west, &w, &pa.token, wrap(&pa.public_key, &alg, &material))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidImportTokenException");
    import(&kms, &a, &pa.token, wrap(&pa.public_key, &alg, &material))
        .await
        .unwrap();

    // Wrapping algorithms AWS no longer (or nowhere here) offers.
    for (alg, spec) in [
        (AlgorithmSpec::RsaesPkcs1V15, WrappingKeySpec::Rsa2048),
        (AlgorithmSpec::Sm2Pke, WrappingKeySpec::Sm2),
        (AlgorithmSpec::RsaesOaepSha256, WrappingKeySpec::Sm2),
    ] {
        let err = kms
            .get_parameters_for_import()
            .key_id(&b)
            .wrapping_algorithm(alg.clone())
            .wrapping_key_spec(spec)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "UnsupportedOperationException", "{alg:?}");
    }

    // Keys with AWS_KMS material take no imports.
    let own = kms.create_key().send().await.unwrap();
    let own_arn = own.key_metadata().unwrap().arn().unwrap().to_string();
    let err = kms
        .get_parameters_for_import()
        .key_id(&own_arn)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    assert_eq!(
        message(&err),
        format!("{own_arn} origin is AWS_KMS which is not valid for this operation.")
    );
    let err = import(
        &kms,
        &own_arn,
        &pa.token,
        wrap(&pa.public_key, &alg, &material),
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    let err = kms
        .delete_imported_key_material()
        .key_id(&own_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    // Imported keys do not rotate automatically.
    let err = kms
        .enable_key_rotation()
        .key_id(&a)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    server.stop().await;
}

#[tokio::test]
async fn hmac_key_material_imports_and_macs() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let key = kms
        .create_key()
        .origin(OriginType::External)
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap();
    let meta = key.key_metadata().unwrap();
    assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
    let id = meta.key_id().to_string();
    let alg = AlgorithmSpec::RsaAesKeyWrapSha256;
    let p = parameters(&kms, &id, alg.clone(), WrappingKeySpec::Rsa2048).await;

    // HMAC_256 takes 32 to 64 bytes.
    for len in [31, 65] {
        let err = import(&kms, &id, &p.token, wrap(&p.public_key, &alg, &random(len)))
            .await
            .unwrap_err();
        assert_eq!(code(&err), "IncorrectKeyMaterialException", "{len}");
    }
    // ImportType is for symmetric encryption keys only.
    let err = kms
        .import_key_material()
        .key_id(&id)
        .import_token(Blob::new(p.token.clone()))
        .encrypted_key_material(Blob::new(wrap(&p.public_key, &alg, &random(32))))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .import_type(ImportType::NewKeyMaterial)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");

    let material = random(64);
    import(&kms, &id, &p.token, wrap(&p.public_key, &alg, &material))
        .await
        .unwrap();
    let mac = kms
        .generate_mac()
        .key_id(&id)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(b"message".to_vec()))
        .send()
        .await
        .unwrap();
    let expected = trent_crypto::mac(
        trent_crypto::MacAlgorithm::HmacSha256,
        &trent_crypto::SecretBytes::copy_from(&material),
        b"message",
    );
    assert_eq!(mac.mac().unwrap().as_ref(), expected);
    let ok = kms
        .verify_mac()
        .key_id(&id)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(b"message".to_vec()))
        .mac(Blob::new(expected))
        .send()
        .await
        .unwrap();
    assert!(ok.mac_valid());

    // HMAC material cannot change either.
    let err = import(&kms, &id, &p.token, wrap(&p.public_key, &alg, &random(64)))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "IncorrectKeyMaterialException");
    server.stop().await;
}

/// An openssl-generated private key as PKCS#8 DER, and its public key as SPKI DER.
fn openssl_key_pair(dir: &Path, genpkey_args: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let generated = dir.join("generated.pem");
    let private = dir.join("private.der");
    let public = dir.join("public.der");
    let mut args = vec!["genpkey"];
    args.extend_from_slice(genpkey_args);
    args.extend_from_slice(&["-out", generated.to_str().unwrap()]);
    openssl(&args);
    // As the AWS guide does it: PKCS#8, DER, unencrypted.
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        generated.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        private.to_str().unwrap(),
    ]);
    openssl(&[
        "pkey",
        "-inform",
        "DER",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-outform",
        "DER",
        "-out",
        public.to_str().unwrap(),
    ]);
    (
        std::fs::read(&private).unwrap(),
        std::fs::read(&public).unwrap(),
    )
}

#[tokio::test]
async fn asymmetric_private_keys_import_sign_and_decrypt() {
    use aws_sdk_kms::types::{EncryptionAlgorithmSpec, SigningAlgorithmSpec};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let work = tempfile::tempdir().unwrap();

    // An ECC signing key made by openssl, imported under RSA-AES key wrap (a PKCS#8 private
    // key is too long for plain OAEP), then used by KMS and checked with openssl.
    let (private, public) = openssl_key_pair(
        work.path(),
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let key = kms
        .create_key()
        .origin(OriginType::External)
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap();
    let id = key.key_metadata().unwrap().key_id().to_string();
    let alg = AlgorithmSpec::RsaAesKeyWrapSha256;
    let p = parameters(&kms, &id, alg.clone(), WrappingKeySpec::Rsa2048).await;

    // Another curve's key is not this key's material.
    let (p384, _) = openssl_key_pair(
        work.path(),
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    );
    let err = import(&kms, &id, &p.token, wrap(&p.public_key, &alg, &p384))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "IncorrectKeyMaterialException");

    import(&kms, &id, &p.token, wrap(&p.public_key, &alg, &private))
        .await
        .unwrap();
    assert_eq!(state(&kms, &id).await, KeyState::Enabled);
    let got = kms.get_public_key().key_id(&id).send().await.unwrap();
    assert_eq!(got.public_key().unwrap().as_ref(), public.as_slice());
    let message = b"signed by imported material";
    let sig = kms
        .sign()
        .key_id(&id)
        .message(Blob::new(message.to_vec()))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap();
    let msg_path = work.path().join("message");
    let sig_path = work.path().join("sig");
    let pub_path = work.path().join("ec-public.der");
    std::fs::write(&msg_path, message).unwrap();
    std::fs::write(&sig_path, sig.signature().unwrap().as_ref()).unwrap();
    std::fs::write(&pub_path, &public).unwrap();
    openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        pub_path.to_str().unwrap(),
        "-keyform",
        "DER",
        "-signature",
        sig_path.to_str().unwrap(),
        msg_path.to_str().unwrap(),
    ]);

    // An RSA decryption key made by openssl: KMS encrypts, openssl decrypts with its own copy.
    let (rsa_private, _) = openssl_key_pair(
        work.path(),
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    let rsa = kms
        .create_key()
        .origin(OriginType::External)
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .unwrap();
    let rsa_id = rsa.key_metadata().unwrap().key_id().to_string();
    let p = parameters(&kms, &rsa_id, alg.clone(), WrappingKeySpec::Rsa3072).await;
    import(
        &kms,
        &rsa_id,
        &p.token,
        wrap(&p.public_key, &alg, &rsa_private),
    )
    .await
    .unwrap();
    let ct = kms
        .encrypt()
        .key_id(&rsa_id)
        .plaintext(Blob::new(b"for openssl".to_vec()))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .unwrap();
    let key_path = work.path().join("rsa-private.der");
    let ct_path = work.path().join("ct");
    let pt_path = work.path().join("pt");
    std::fs::write(&key_path, &rsa_private).unwrap();
    std::fs::write(&ct_path, ct.ciphertext_blob().unwrap().as_ref()).unwrap();
    openssl(&[
        "pkeyutl",
        "-decrypt",
        "-inkey",
        key_path.to_str().unwrap(),
        "-keyform",
        "DER",
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
        "-in",
        ct_path.to_str().unwrap(),
        "-out",
        pt_path.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&pt_path).unwrap(), b"for openssl");
    server.stop().await;
}

#[tokio::test]
async fn multi_region_replicas_of_imported_keys_need_the_same_material() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |o| {
        o.regions = vec!["us-east-1".to_string(), "eu-west-1".to_string()];
    })
    .await;
    let us = server.client_as(
        &server.access_key_id,
        &server.secret_access_key,
        "us-east-1",
    );
    let eu = server.client_as(
        &server.access_key_id,
        &server.secret_access_key,
        "eu-west-1",
    );
    let key = us
        .create_key()
        .origin(OriginType::External)
        .multi_region(true)
        .send()
        .await
        .unwrap();
    let meta = key.key_metadata().unwrap();
    let id = meta.key_id().to_string();
    assert!(id.starts_with("mrk-"));
    assert!(meta.multi_region_configuration().is_some());
    // The primary's material comes first: replicas must match its id.
    let err = us
        .replicate_key()
        .key_id(&id)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    let material = random(32);
    let alg = AlgorithmSpec::RsaesOaepSha256;
    let p = parameters(&us, &id, alg.clone(), WrappingKeySpec::Rsa2048).await;
    import(&us, &id, &p.token, wrap(&p.public_key, &alg, &material))
        .await
        .unwrap();
    let blob = encrypt(&us, &id, b"across regions").await;

    // The replica starts without material.
    us.replicate_key()
        .key_id(&id)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();
    assert_eq!(state(&eu, &id).await, KeyState::PendingImport);
    let err = eu
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");

    // Only the primary's material is accepted; then ciphertexts cross regions.
    let p = parameters(&eu, &id, alg.clone(), WrappingKeySpec::Rsa2048).await;
    let err = import(&eu, &id, &p.token, wrap(&p.public_key, &alg, &random(32)))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "IncorrectKeyMaterialException");
    import(&eu, &id, &p.token, wrap(&p.public_key, &alg, &material))
        .await
        .unwrap();
    assert_eq!(state(&eu, &id).await, KeyState::Enabled);
    let out = eu.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(out.plaintext().unwrap().as_ref(), b"across regions");
    let back = encrypt(&eu, &id, b"and back").await;
    let out = us.decrypt().ciphertext_blob(back).send().await.unwrap();
    assert_eq!(out.plaintext().unwrap().as_ref(), b"and back");
    server.stop().await;
}

#[tokio::test]
async fn cancelled_deletion_of_a_key_without_material_waits_for_import() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let (id, _) = create_external(&kms).await;
    kms.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    kms.cancel_key_deletion().key_id(&id).send().await.unwrap();
    // Not Disabled: EnableKey must not make a key without material usable.
    assert_eq!(state(&kms, &id).await, KeyState::PendingImport);
    let err = kms.enable_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    let err = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");

    // With material, a cancelled deletion leaves the key Disabled as for any key.
    let alg = AlgorithmSpec::RsaesOaepSha256;
    let p = parameters(&kms, &id, alg.clone(), WrappingKeySpec::Rsa2048).await;
    import(&kms, &id, &p.token, wrap(&p.public_key, &alg, &random(32)))
        .await
        .unwrap();
    kms.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    kms.cancel_key_deletion().key_id(&id).send().await.unwrap();
    assert_eq!(state(&kms, &id).await, KeyState::Disabled);
    server.stop().await;
}
