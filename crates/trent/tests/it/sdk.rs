//! KMS through the AWS SDK for Rust, unchanged but for the endpoint URL.

use std::collections::HashSet;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState, Tag};

use crate::harness::{TestServer, code, message};

fn ec(pairs: &[(&str, &str)]) -> Option<std::collections::HashMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[tokio::test]
async fn create_alias_encrypt_decrypt_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();

    let key = kms.create_key().description("demo").send().await.unwrap();
    let meta = key.key_metadata().unwrap();
    let key_id = meta.key_id().to_string();
    let arn = meta.arn().unwrap().to_string();
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert!(meta.enabled());
    assert_eq!(meta.description(), Some("demo"));
    assert_eq!(
        arn,
        format!("arn:aws:kms:us-east-1:000000000000:key/{key_id}")
    );
    kms.create_alias()
        .alias_name("alias/demo")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();

    // Without a context, through the alias.
    let out = kms
        .encrypt()
        .key_id("alias/demo")
        .plaintext(Blob::new(b"attack at dawn".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.key_id(), Some(arn.as_str()));
    let blob = out.ciphertext_blob().unwrap().clone();
    assert!(blob.as_ref().len() <= 6144);
    let plain = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"attack at dawn");
    assert_eq!(
        plain.key_id(),
        Some(arn.as_str()),
        "Decrypt returns the key ARN"
    );
    assert_eq!(plain.key_material_id().map(str::len), Some(64));

    // With a context: exact match needed, order free, case-sensitive.
    let out = kms
        .encrypt()
        .key_id(&arn)
        .plaintext(Blob::new(b"secret".to_vec()))
        .set_encryption_context(ec(&[("app", "web"), ("env", "prod")]))
        .send()
        .await
        .unwrap();
    let blob = out.ciphertext_blob().unwrap().clone();
    let ok = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .set_encryption_context(ec(&[("env", "prod"), ("app", "web")]))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.plaintext().unwrap().as_ref(), b"secret");
    for wrong in [
        None,
        ec(&[("app", "web")]),
        ec(&[("app", "Web"), ("env", "prod")]),
        ec(&[("app", "web"), ("env", "prod"), ("x", "y")]),
    ] {
        let err = kms
            .decrypt()
            .ciphertext_blob(blob.clone())
            .set_encryption_context(wrong.clone())
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidCiphertextException", "{wrong:?}");
    }

    // The canonical encoding is injective: {"ab":"c"} must not open what {"a":"bc"} sealed.
    let sealed = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"x".to_vec()))
        .set_encryption_context(ec(&[("a", "bc")]))
        .send()
        .await
        .unwrap();
    let err = kms
        .decrypt()
        .ciphertext_blob(sealed.ciphertext_blob().unwrap().clone())
        .set_encryption_context(ec(&[("ab", "c")]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidCiphertextException");

    // DescribeKey by id, ARN, alias name and alias ARN.
    for id in [
        key_id.clone(),
        arn.clone(),
        "alias/demo".to_string(),
        "arn:aws:kms:us-east-1:000000000000:alias/demo".to_string(),
    ] {
        let d = kms.describe_key().key_id(&id).send().await.unwrap();
        assert_eq!(d.key_metadata().unwrap().key_id(), key_id, "{id}");
    }
    server.stop().await;
}

#[tokio::test]
async fn decrypt_with_another_key_id_is_incorrect_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let a = kms.create_key().send().await.unwrap();
    let b = kms.create_key().send().await.unwrap();
    let a_id = a.key_metadata().unwrap().key_id();
    let b_id = b.key_metadata().unwrap().key_id();
    let blob = kms
        .encrypt()
        .key_id(a_id)
        .plaintext(Blob::new(b"p".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    let err = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .key_id(b_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "IncorrectKeyException");
    let ok = kms
        .decrypt()
        .ciphertext_blob(blob)
        .key_id(a_id)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.plaintext().unwrap().as_ref(), b"p");
    server.stop().await;
}

#[tokio::test]
async fn every_tampered_byte_is_invalid_ciphertext() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let key = kms.create_key().send().await.unwrap();
    let blob = kms
        .encrypt()
        .key_id(key.key_metadata().unwrap().key_id())
        .plaintext(Blob::new(b"0123456789".to_vec()))
        .set_encryption_context(ec(&[("k", "v")]))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .as_ref()
        .to_vec();
    for i in 0..blob.len() {
        let mut t = blob.clone();
        t[i] ^= 0x40;
        let err = kms
            .decrypt()
            .ciphertext_blob(Blob::new(t))
            .set_encryption_context(ec(&[("k", "v")]))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidCiphertextException", "byte {i}");
    }
    for cut in [0, 1, 10, blob.len() - 1] {
        let err = kms
            .decrypt()
            .ciphertext_blob(Blob::new(blob[..cut.max(1)].to_vec()))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidCiphertextException", "cut at {cut}");
    }
    server.stop().await;
}

#[tokio::test]
async fn disable_enable_and_deletion_states() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let key = kms.create_key().send().await.unwrap();
    let id = key.key_metadata().unwrap().key_id().to_string();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    let encrypt = || {
        kms.encrypt()
            .key_id(&id)
            .plaintext(Blob::new(b"p".to_vec()))
            .send()
    };
    let blob = encrypt().await.unwrap().ciphertext_blob().unwrap().clone();

    kms.disable_key().key_id(&id).send().await.unwrap();
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        d.key_metadata().unwrap().key_state(),
        Some(&KeyState::Disabled)
    );
    assert!(!d.key_metadata().unwrap().enabled());
    let err = encrypt().await.unwrap_err();
    assert_eq!(code(&err), "DisabledException");
    assert_eq!(message(&err), format!("{arn} is disabled."));
    let err = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DisabledException");
    let err = kms
        .generate_data_key()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DisabledException");

    kms.enable_key().key_id(&id).send().await.unwrap();
    encrypt().await.unwrap();

    // Schedule deletion: default window 30 days, crypto refused, management partly refused.
    let s = kms
        .schedule_key_deletion()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(s.pending_window_in_days(), Some(30));
    assert_eq!(s.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(s.key_id(), Some(arn.as_str()));
    let err = encrypt().await.unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    assert_eq!(message(&err), format!("{arn} is pending deletion."));
    let err = kms.enable_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    let err = kms
        .schedule_key_deletion()
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    let meta = d.key_metadata().unwrap();
    assert_eq!(meta.pending_deletion_window_in_days(), Some(30));
    assert!(meta.deletion_date().is_some());

    // Cancel: back to Disabled, not Enabled.
    let c = kms.cancel_key_deletion().key_id(&id).send().await.unwrap();
    assert_eq!(c.key_id(), Some(arn.as_str()));
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        d.key_metadata().unwrap().key_state(),
        Some(&KeyState::Disabled)
    );
    assert!(d.key_metadata().unwrap().deletion_date().is_none());
    let err = kms
        .cancel_key_deletion()
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");

    // Window bounds.
    for days in [6, 31] {
        let err = kms
            .schedule_key_deletion()
            .key_id(&id)
            .pending_window_in_days(days)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "ValidationException", "{days}");
    }
    server.stop().await;
}

#[tokio::test]
async fn scheduler_deletes_keys_when_the_window_ends() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let key = kms.create_key().send().await.unwrap();
    let id = key.key_metadata().unwrap().key_id().to_string();
    let keep = kms.create_key().send().await.unwrap();
    let keep_id = keep.key_metadata().unwrap().key_id().to_string();
    kms.create_alias()
        .alias_name("alias/doomed")
        .target_key_id(&id)
        .send()
        .await
        .unwrap();
    let blob = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"p".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    kms.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();

    // One day short: still there.
    server.clock.advance_days(6);
    trent_server::scheduler::tick(&server.state).await;
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        d.key_metadata().unwrap().key_state(),
        Some(&KeyState::PendingDeletion)
    );

    // Past the window: gone, with its alias; its ciphertexts are unrecoverable.
    server.clock.advance_days(1);
    server.clock.advance_ms(1000);
    trent_server::scheduler::tick(&server.state).await;
    let err = kms.describe_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(code(&err), "NotFoundException");
    let err = kms
        .describe_key()
        .key_id("alias/doomed")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotFoundException");
    let err = kms
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    // The other key is untouched.
    kms.describe_key().key_id(&keep_id).send().await.unwrap();
    let listed = kms.list_keys().send().await.unwrap();
    assert_eq!(listed.keys().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn tags_and_descriptions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let tag = |k: &str, v: &str| Tag::builder().tag_key(k).tag_value(v).build().unwrap();
    let key = kms
        .create_key()
        .tags(tag("team", "payments"))
        .send()
        .await
        .unwrap();
    let id = key.key_metadata().unwrap().key_id().to_string();
    kms.tag_resource()
        .key_id(&id)
        .tags(tag("env", "prod"))
        .tags(tag("team", "billing"))
        .send()
        .await
        .unwrap();
    let tags = kms.list_resource_tags().key_id(&id).send().await.unwrap();
    let mut got: Vec<(String, String)> = tags
        .tags()
        .iter()
        .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("env".to_string(), "prod".to_string()),
            ("team".to_string(), "billing".to_string())
        ]
    );
    kms.untag_resource()
        .key_id(&id)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = kms.list_resource_tags().key_id(&id).send().await.unwrap();
    assert_eq!(tags.tags().len(), 1);
    let err = kms
        .tag_resource()
        .key_id(&id)
        .tags(tag("aws:reserved", "x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "TagException");

    // Paging through tags.
    for i in 0..7 {
        kms.tag_resource()
            .key_id(&id)
            .tags(tag(&format!("k{i}"), "v"))
            .send()
            .await
            .unwrap();
    }
    let mut seen = 0;
    let mut marker = None;
    loop {
        let page = kms
            .list_resource_tags()
            .key_id(&id)
            .limit(3)
            .set_marker(marker)
            .send()
            .await
            .unwrap();
        seen += page.tags().len();
        if !page.truncated() {
            break;
        }
        marker = page.next_marker().map(str::to_string);
    }
    assert_eq!(seen, 8);

    kms.update_key_description()
        .key_id(&id)
        .description("new words")
        .send()
        .await
        .unwrap();
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    assert_eq!(d.key_metadata().unwrap().description(), Some("new words"));
    server.stop().await;
}

#[tokio::test]
async fn aliases_rules() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let a = kms.create_key().send().await.unwrap();
    let b = kms.create_key().send().await.unwrap();
    let a_id = a.key_metadata().unwrap().key_id().to_string();
    let b_id = b.key_metadata().unwrap().key_id().to_string();

    kms.create_alias()
        .alias_name("alias/app")
        .target_key_id(&a_id)
        .send()
        .await
        .unwrap();
    let err = kms
        .create_alias()
        .alias_name("alias/app")
        .target_key_id(&b_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AlreadyExistsException");
    let err = kms
        .create_alias()
        .alias_name("alias/aws/mine")
        .target_key_id(&a_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidAliasNameException");
    let err = kms
        .create_alias()
        .alias_name("noprefix")
        .target_key_id(&a_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidAliasNameException");

    // Moving the alias changes what it encrypts under.
    kms.update_alias()
        .alias_name("alias/app")
        .target_key_id(&b_id)
        .send()
        .await
        .unwrap();
    let out = kms
        .encrypt()
        .key_id("alias/app")
        .plaintext(Blob::new(b"p".to_vec()))
        .send()
        .await
        .unwrap();
    assert!(out.key_id().unwrap().ends_with(&b_id));

    kms.create_alias()
        .alias_name("alias/other")
        .target_key_id(&a_id)
        .send()
        .await
        .unwrap();
    let all = kms.list_aliases().send().await.unwrap();
    assert_eq!(all.aliases().len(), 2);
    let of_a = kms.list_aliases().key_id(&a_id).send().await.unwrap();
    assert_eq!(of_a.aliases().len(), 1);
    assert_eq!(of_a.aliases()[0].alias_name(), Some("alias/other"));

    kms.delete_alias()
        .alias_name("alias/app")
        .send()
        .await
        .unwrap();
    let err = kms
        .delete_alias()
        .alias_name("alias/app")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotFoundException");
    let err = kms
        .encrypt()
        .key_id("alias/app")
        .plaintext(Blob::new(b"p".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotFoundException");
    server.stop().await;
}

#[tokio::test]
async fn data_keys_reencrypt_and_random() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let a = kms.create_key().send().await.unwrap();
    let b = kms.create_key().send().await.unwrap();
    let a_id = a.key_metadata().unwrap().key_id().to_string();
    let b_arn = b.key_metadata().unwrap().arn().unwrap().to_string();

    let dk = kms
        .generate_data_key()
        .key_id(&a_id)
        .key_spec(DataKeySpec::Aes256)
        .set_encryption_context(ec(&[("purpose", "file")]))
        .send()
        .await
        .unwrap();
    assert_eq!(dk.plaintext().unwrap().as_ref().len(), 32);
    let back = kms
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob().unwrap().clone())
        .set_encryption_context(ec(&[("purpose", "file")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        back.plaintext().unwrap().as_ref(),
        dk.plaintext().unwrap().as_ref()
    );

    let dk16 = kms
        .generate_data_key()
        .key_id(&a_id)
        .key_spec(DataKeySpec::Aes128)
        .send()
        .await
        .unwrap();
    assert_eq!(dk16.plaintext().unwrap().as_ref().len(), 16);
    let n = kms
        .generate_data_key()
        .key_id(&a_id)
        .number_of_bytes(1024)
        .send()
        .await
        .unwrap();
    assert_eq!(n.plaintext().unwrap().as_ref().len(), 1024);
    for bad in [
        kms.generate_data_key()
            .key_id(&a_id)
            .send()
            .await
            .unwrap_err(),
        kms.generate_data_key()
            .key_id(&a_id)
            .number_of_bytes(16)
            .key_spec(DataKeySpec::Aes128)
            .send()
            .await
            .unwrap_err(),
    ] {
        assert_eq!(code(&bad), "ValidationException");
    }

    let wp = kms
        .generate_data_key_without_plaintext()
        .key_id(&a_id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    let opened = kms
        .decrypt()
        .ciphertext_blob(wp.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref().len(), 32);

    // ReEncrypt from a (with context) to b (with another context).
    let re = kms
        .re_encrypt()
        .ciphertext_blob(dk.ciphertext_blob().unwrap().clone())
        .set_source_encryption_context(ec(&[("purpose", "file")]))
        .destination_key_id(&b_arn)
        .set_destination_encryption_context(ec(&[("purpose", "moved")]))
        .send()
        .await
        .unwrap();
    assert_eq!(re.key_id(), Some(b_arn.as_str()));
    assert!(re.source_key_id().unwrap().ends_with(&a_id));
    let moved = kms
        .decrypt()
        .ciphertext_blob(re.ciphertext_blob().unwrap().clone())
        .set_encryption_context(ec(&[("purpose", "moved")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        moved.plaintext().unwrap().as_ref(),
        dk.plaintext().unwrap().as_ref()
    );
    assert_eq!(moved.key_id(), Some(b_arn.as_str()));

    let r = kms
        .generate_random()
        .number_of_bytes(64)
        .send()
        .await
        .unwrap();
    assert_eq!(r.plaintext().unwrap().as_ref().len(), 64);
    let r2 = kms
        .generate_random()
        .number_of_bytes(64)
        .send()
        .await
        .unwrap();
    assert_ne!(
        r.plaintext().unwrap().as_ref(),
        r2.plaintext().unwrap().as_ref()
    );

    // Plaintext limits.
    let err = kms
        .encrypt()
        .key_id(&a_id)
        .plaintext(Blob::new(vec![0u8; 4097]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let max = kms
        .encrypt()
        .key_id(&a_id)
        .plaintext(Blob::new(vec![7u8; 4096]))
        .send()
        .await
        .unwrap();
    assert!(max.ciphertext_blob().unwrap().as_ref().len() <= 6144);
    server.stop().await;
}

#[tokio::test]
async fn list_keys_paginates_over_150_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let mut created = Vec::new();
    for _ in 0..150 {
        let k = kms.create_key().send().await.unwrap();
        created.push(k.key_metadata().unwrap().key_id().to_string());
    }
    let mut seen = Vec::new();
    let mut marker = None;
    let mut pages = 0;
    loop {
        let page = kms
            .list_keys()
            .limit(40)
            .set_marker(marker)
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(page.keys().len() <= 40);
        seen.extend(page.keys().iter().map(|k| k.key_id().unwrap().to_string()));
        if !page.truncated() {
            assert!(page.next_marker().is_none());
            break;
        }
        marker = page.next_marker().map(str::to_string);
    }
    assert_eq!(pages, 4);
    assert_eq!(seen, created, "every key once, in creation order");
    // The SDK's own paginator agrees.
    let via_paginator: Vec<_> = kms
        .list_keys()
        .limit(100)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(via_paginator.len(), 150);
    let unique: HashSet<_> = via_paginator.iter().map(|k| k.key_id().unwrap()).collect();
    assert_eq!(unique.len(), 150);
    let err = kms
        .list_keys()
        .marker("not-a-marker")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidMarkerException");
    server.stop().await;
}

#[tokio::test]
async fn state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let key = kms
        .create_key()
        .description("durable")
        .send()
        .await
        .unwrap();
    let id = key.key_metadata().unwrap().key_id().to_string();
    kms.create_alias()
        .alias_name("alias/durable")
        .target_key_id(&id)
        .send()
        .await
        .unwrap();
    let blob = kms
        .encrypt()
        .key_id("alias/durable")
        .plaintext(Blob::new(b"still here".to_vec()))
        .set_encryption_context(ec(&[("a", "b")]))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    kms.disable_key().key_id(&id).send().await.unwrap();
    let creds = (
        server.access_key_id.clone(),
        server.secret_access_key.clone(),
    );
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    assert_eq!(
        (
            server.access_key_id.clone(),
            server.secret_access_key.clone()
        ),
        creds
    );
    let kms = server.client();
    let d = kms
        .describe_key()
        .key_id("alias/durable")
        .send()
        .await
        .unwrap();
    assert_eq!(d.key_metadata().unwrap().description(), Some("durable"));
    assert_eq!(
        d.key_metadata().unwrap().key_state(),
        Some(&KeyState::Disabled)
    );
    kms.enable_key().key_id(&id).send().await.unwrap();
    let plain = kms
        .decrypt()
        .ciphertext_blob(blob)
        .set_encryption_context(ec(&[("a", "b")]))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"still here");
    server.stop().await;
}

#[tokio::test]
async fn authentication_failures() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;

    // A known access key with the wrong secret: the signature does not match.
    let wrong_secret = server.client_as(&server.access_key_id, "not-the-secret", "us-east-1");
    let err = wrong_secret.list_keys().send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidSignatureException");

    // An access key Trent never issued.
    let stranger = server.client_as("AKIAIOSFODNN7EXAMPLE", "whatever", "us-east-1");
    let err = stranger.list_keys().send().await.unwrap_err();
    assert_eq!(code(&err), "UnrecognizedClientException");

    // The server's clock 20 minutes ahead of the client's: outside the 15-minute window.
    let client = server.client_with_system_time();
    server.clock.advance_ms(20 * 60 * 1000);
    let err = client.list_keys().send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidSignatureException");
    assert!(
        message(&err).starts_with("Signature expired"),
        "{}",
        message(&err)
    );
    // 20 minutes behind.
    server.clock.advance_ms(-40 * 60 * 1000);
    let err = client.list_keys().send().await.unwrap_err();
    assert!(
        message(&err).starts_with("Signature not yet current"),
        "{}",
        message(&err)
    );
    // Back in sync.
    server.clock.advance_ms(20 * 60 * 1000);
    client.list_keys().send().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn state_is_partitioned_by_region() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let east = server.client();
    let west = server.client_as(
        &server.access_key_id,
        &server.secret_access_key,
        "us-west-2",
    );
    let key = east.create_key().send().await.unwrap();
    let id = key.key_metadata().unwrap().key_id().to_string();
    let blob = east
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"p".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    assert_eq!(west.list_keys().send().await.unwrap().keys().len(), 0);
    let err = west.describe_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(code(&err), "NotFoundException");
    let err = west
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    server.stop().await;
}

#[tokio::test]
async fn dev_mode_accepts_any_credentials_as_root() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |o| {
        o.dev = true;
        o.account_id = "123456789012".to_string();
    })
    .await;
    assert!(!dir.path().join("root-credentials").exists());
    let kms = server.client_as("test", "test", "eu-central-1");
    let key = kms.create_key().send().await.unwrap();
    assert_eq!(
        key.key_metadata().unwrap().aws_account_id(),
        Some("123456789012")
    );
    assert!(
        key.key_metadata()
            .unwrap()
            .arn()
            .unwrap()
            .starts_with("arn:aws:kms:eu-central-1:123456789012:key/")
    );
    server.stop().await;
}

#[tokio::test]
async fn key_policies_are_stored_and_returned() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}"#;
    let key = kms.create_key().policy(policy).send().await.unwrap();
    let id = key.key_metadata().unwrap().key_id().to_string();
    let got = kms.get_key_policy().key_id(&id).send().await.unwrap();
    assert_eq!(got.policy(), Some(policy));
    assert_eq!(got.policy_name(), Some("default"));

    let plain = kms.create_key().send().await.unwrap();
    let default = kms
        .get_key_policy()
        .key_id(plain.key_metadata().unwrap().key_id())
        .policy_name("default")
        .send()
        .await
        .unwrap();
    assert!(
        default
            .policy()
            .unwrap()
            .contains("arn:aws:iam::000000000000:root")
    );

    let err = kms
        .create_key()
        .policy("{not json")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "MalformedPolicyDocumentException");
    // The policy language is checked, and the message names the problem.
    let cases = [
        (
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}"#,
            "Effect",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"kms:CallerAccount":"1"}}}]}"#,
            "StringEqualz",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
            "Principal",
        ),
    ];
    for (policy, named) in cases {
        let err = kms
            .put_key_policy()
            .key_id(&id)
            .policy(policy)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "MalformedPolicyDocumentException", "{policy}");
        assert!(message(&err).contains(named), "{}", message(&err));
    }
    let names = kms.list_key_policies().key_id(&id).send().await.unwrap();
    assert_eq!(names.policy_names(), ["default"]);
    kms.put_key_policy()
        .key_id(&id)
        .policy(default.policy().unwrap())
        .send()
        .await
        .unwrap();
    let got = kms.get_key_policy().key_id(&id).send().await.unwrap();
    assert_eq!(got.policy(), default.policy());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let creates: Vec<_> = (0..24)
        .map(|_| {
            let kms = kms.clone();
            tokio::spawn(async move { kms.create_key().send().await })
        })
        .collect();
    let mut ids = HashSet::new();
    for c in creates {
        let key = c.await.unwrap().unwrap();
        ids.insert(key.key_metadata().unwrap().key_id().to_string());
    }
    assert_eq!(ids.len(), 24);
    let listed = kms.list_keys().send().await.unwrap();
    assert_eq!(listed.keys().len(), 24);

    // Concurrent read-modify-writes of one key: every tag lands.
    let id = ids.iter().next().unwrap().clone();
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let kms = kms.clone();
            let id = id.clone();
            tokio::spawn(async move {
                kms.tag_resource()
                    .key_id(id)
                    .tags(
                        Tag::builder()
                            .tag_key(format!("k{i}"))
                            .tag_value("v")
                            .build()
                            .unwrap(),
                    )
                    .send()
                    .await
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap().unwrap();
    }
    let tags = kms.list_resource_tags().key_id(&id).send().await.unwrap();
    assert_eq!(tags.tags().len(), 16);
    server.stop().await;
}
