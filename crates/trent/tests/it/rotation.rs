//! Key rotation: new material on demand and on schedule, old ciphertexts still decrypt.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{IncludeKeyMaterial, KeyMaterialState, RotationType};

use crate::harness::{TestServer, code};

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

async fn current_material(kms: &aws_sdk_kms::Client, key: &str) -> String {
    let d = kms.describe_key().key_id(key).send().await.unwrap();
    d.key_metadata()
        .unwrap()
        .current_key_material_id()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn on_demand_rotation_keeps_old_ciphertexts_readable() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let key = kms.create_key().send().await.unwrap();
    let id = key.key_metadata().unwrap().key_id().to_string();
    let first_material = current_material(&kms, &id).await;
    let old = encrypt(&kms, &id, b"before rotation").await;

    kms.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    let second_material = current_material(&kms, &id).await;
    assert_ne!(first_material, second_material);
    let new = encrypt(&kms, &id, b"after rotation").await;

    let a = kms
        .decrypt()
        .ciphertext_blob(old.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(a.plaintext().unwrap().as_ref(), b"before rotation");
    assert_eq!(a.key_material_id(), Some(first_material.as_str()));
    let b = kms.decrypt().ciphertext_blob(new).send().await.unwrap();
    assert_eq!(b.plaintext().unwrap().as_ref(), b"after rotation");
    assert_eq!(b.key_material_id(), Some(second_material.as_str()));

    // ReEncrypt to the same key moves a ciphertext onto the current material.
    let moved = kms
        .re_encrypt()
        .ciphertext_blob(old)
        .destination_key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        moved.source_key_material_id(),
        Some(first_material.as_str())
    );
    assert_eq!(
        moved.destination_key_material_id(),
        Some(second_material.as_str())
    );

    let rotations = kms.list_key_rotations().key_id(&id).send().await.unwrap();
    assert_eq!(rotations.rotations().len(), 1);
    let r = &rotations.rotations()[0];
    assert_eq!(r.rotation_type(), Some(&RotationType::OnDemand));
    assert_eq!(r.key_material_id(), Some(second_material.as_str()));
    assert_eq!(r.key_material_state(), Some(&KeyMaterialState::Current));
    let all = kms
        .list_key_rotations()
        .key_id(&id)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await
        .unwrap();
    assert_eq!(all.rotations().len(), 2);
    assert_eq!(
        all.rotations()[0].key_material_state(),
        Some(&KeyMaterialState::NonCurrent)
    );

    // On-demand rotation does not turn on automatic rotation.
    let status = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(!status.key_rotation_enabled());

    // 25 on-demand rotations per key, then LimitExceededException.
    for _ in 0..24 {
        kms.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    }
    let err = kms
        .rotate_key_on_demand()
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "LimitExceededException");
    let mut seen = 0;
    let mut marker = None;
    loop {
        let page = kms
            .list_key_rotations()
            .key_id(&id)
            .limit(10)
            .set_marker(marker)
            .send()
            .await
            .unwrap();
        seen += page.rotations().len();
        if !page.truncated() {
            break;
        }
        marker = page.next_marker().map(str::to_string);
    }
    assert_eq!(seen, 25);
    // Every ciphertext ever made still decrypts.
    let again = kms
        .decrypt()
        .ciphertext_blob(encrypt(&kms, &id, b"x").await)
        .send()
        .await;
    assert!(again.is_ok());

    // A disabled key does not rotate.
    let other = kms.create_key().send().await.unwrap();
    let other_id = other.key_metadata().unwrap().key_id().to_string();
    kms.disable_key().key_id(&other_id).send().await.unwrap();
    let err = kms
        .rotate_key_on_demand()
        .key_id(&other_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DisabledException");
    let err = kms
        .enable_key_rotation()
        .key_id(&other_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DisabledException");
    server.stop().await;
}

#[tokio::test]
async fn automatic_rotation_follows_the_period_on_the_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let key = kms.create_key().send().await.unwrap();
    let id = key.key_metadata().unwrap().key_id().to_string();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_string();

    for bad in [89, 2561] {
        let err = kms
            .enable_key_rotation()
            .key_id(&id)
            .rotation_period_in_days(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "ValidationException", "{bad}");
    }
    kms.enable_key_rotation()
        .key_id(&id)
        .rotation_period_in_days(90)
        .send()
        .await
        .unwrap();
    let status = kms
        .get_key_rotation_status()
        .key_id(&arn)
        .send()
        .await
        .unwrap();
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(90));
    assert_eq!(status.key_id(), Some(arn.as_str()));
    let next = status.next_rotation_date().unwrap().secs();
    use trent_store::clock::Clock as _;
    let now = server.clock.now_ms() / 1000;
    assert!(
        (next - now - 90 * 86_400).abs() <= 2,
        "next {next} now {now}"
    );

    let m0 = current_material(&kms, &id).await;
    let blob0 = encrypt(&kms, &id, b"generation 0").await;

    // Not yet due.
    server.clock.advance_days(89);
    trent_server::scheduler::tick(&server.state).await;
    assert_eq!(current_material(&kms, &id).await, m0);

    // Due: rotated once, and the next date moves on by a period.
    server.clock.advance_days(2);
    trent_server::scheduler::tick(&server.state).await;
    trent_server::scheduler::tick(&server.state).await;
    let m1 = current_material(&kms, &id).await;
    assert_ne!(m1, m0);
    let rotations = kms.list_key_rotations().key_id(&id).send().await.unwrap();
    assert_eq!(rotations.rotations().len(), 1);
    assert_eq!(
        rotations.rotations()[0].rotation_type(),
        Some(&RotationType::Automatic)
    );
    let status = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(
        status.next_rotation_date().unwrap().secs() > server.clock.now_ms() / 1000 + 89 * 86_400
    );

    // A disabled key waits; enabled again, it rotates at the next run.
    kms.disable_key().key_id(&id).send().await.unwrap();
    server.clock.advance_days(91);
    trent_server::scheduler::tick(&server.state).await;
    assert_eq!(current_material(&kms, &id).await, m1);
    kms.enable_key().key_id(&id).send().await.unwrap();
    trent_server::scheduler::tick(&server.state).await;
    let m2 = current_material(&kms, &id).await;
    assert_ne!(m2, m1);

    // Disabling rotation stops the schedule.
    kms.disable_key_rotation().key_id(&id).send().await.unwrap();
    let status = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(!status.key_rotation_enabled());
    assert!(status.next_rotation_date().is_none());
    server.clock.advance_days(400);
    trent_server::scheduler::tick(&server.state).await;
    assert_eq!(current_material(&kms, &id).await, m2);

    // Through all of it, and across a restart, the first ciphertext decrypts.
    server.stop().await;
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let out = kms.decrypt().ciphertext_blob(blob0).send().await.unwrap();
    assert_eq!(out.plaintext().unwrap().as_ref(), b"generation 0");
    assert_eq!(out.key_material_id(), Some(m0.as_str()));
    server.stop().await;
}
