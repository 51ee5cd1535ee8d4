//! Multi-Region keys: one server serving two regions of one account, one SDK client per region.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    KeySpec, KeyState, KeyUsageType, MacAlgorithmSpec, MultiRegionKeyType, Tag,
};

use crate::harness::{TestServer, code};

const US: &str = "us-east-1";
const EU: &str = "eu-west-1";

async fn start(dir: &std::path::Path) -> (TestServer, aws_sdk_kms::Client, aws_sdk_kms::Client) {
    let server = TestServer::start_with(dir, |o| {
        o.regions = vec![US.to_string(), EU.to_string()];
    })
    .await;
    let us = server.client_as(&server.access_key_id, &server.secret_access_key, US);
    let eu = server.client_as(&server.access_key_id, &server.secret_access_key, EU);
    (server, us, eu)
}

fn arn(region: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:000000000000:key/{id}")
}

async fn create_mrk(kms: &aws_sdk_kms::Client) -> String {
    let out = kms.create_key().multi_region(true).send().await.unwrap();
    out.key_metadata().unwrap().key_id().to_string()
}

async fn replicate(kms: &aws_sdk_kms::Client, id: &str, region: &str) {
    kms.replicate_key()
        .key_id(id)
        .replica_region(region)
        .send()
        .await
        .unwrap();
}

async fn encrypt(kms: &aws_sdk_kms::Client, id: &str, text: &[u8]) -> Blob {
    kms.encrypt()
        .key_id(id)
        .plaintext(Blob::new(text.to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone()
}

async fn decrypt(kms: &aws_sdk_kms::Client, blob: &Blob) -> Vec<u8> {
    kms.decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap()
        .plaintext()
        .unwrap()
        .as_ref()
        .to_vec()
}

async fn describe(kms: &aws_sdk_kms::Client, id: &str) -> aws_sdk_kms::types::KeyMetadata {
    kms.describe_key()
        .key_id(id)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .clone()
}

/// (type, primary region, replica regions) of a key's MultiRegionConfiguration.
fn config(meta: &aws_sdk_kms::types::KeyMetadata) -> (MultiRegionKeyType, String, Vec<String>) {
    let c = meta.multi_region_configuration().unwrap();
    let primary = c.primary_key().unwrap();
    assert_eq!(
        primary.arn().unwrap(),
        arn(primary.region().unwrap(), meta.key_id())
    );
    let replicas = c
        .replica_keys()
        .iter()
        .map(|r| {
            assert_eq!(r.arn().unwrap(), arn(r.region().unwrap(), meta.key_id()));
            r.region().unwrap().to_string()
        })
        .collect();
    (
        c.multi_region_key_type().unwrap().clone(),
        primary.region().unwrap().to_string(),
        replicas,
    )
}

#[tokio::test]
async fn replicas_share_id_and_material_and_decrypt_across_regions() {
    let dir = tempfile::tempdir().unwrap();
    let (server, us, eu) = start(dir.path()).await;

    let created = us
        .create_key()
        .multi_region(true)
        .description("primary")
        .send()
        .await
        .unwrap();
    let meta = created.key_metadata().unwrap();
    let id = meta.key_id().to_string();
    let hex = id.strip_prefix("mrk-").unwrap();
    assert_eq!(hex.len(), 32);
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(meta.multi_region(), Some(true));
    assert_eq!(
        config(meta),
        (MultiRegionKeyType::Primary, US.to_string(), vec![])
    );

    // Before a replica exists, the other region has no key to decrypt with.
    let early = encrypt(&us, &id, b"made before the replica").await;
    let err = eu
        .decrypt()
        .ciphertext_blob(early.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");

    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}"#;
    let tag = Tag::builder()
        .tag_key("team")
        .tag_value("eu")
        .build()
        .unwrap();
    let replica = us
        .replicate_key()
        .key_id(arn(US, &id))
        .replica_region(EU)
        .description("replica")
        .policy(policy)
        .tags(tag.clone())
        .send()
        .await
        .unwrap();
    let rmeta = replica.replica_key_metadata().unwrap();
    assert_eq!(rmeta.key_id(), id);
    assert_eq!(rmeta.arn(), Some(arn(EU, &id).as_str()));
    assert_eq!(rmeta.description(), Some("replica"));
    assert_eq!(rmeta.key_state(), Some(&KeyState::Enabled));
    assert_eq!(rmeta.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(rmeta.multi_region(), Some(true));
    assert_eq!(
        config(rmeta),
        (
            MultiRegionKeyType::Replica,
            US.to_string(),
            vec![EU.to_string()]
        )
    );
    assert_eq!(replica.replica_policy(), Some(policy));
    assert_eq!(replica.replica_tags(), std::slice::from_ref(&tag));

    // DescribeKey from either side shows the whole set; the material is the same.
    let p = describe(&us, &id).await;
    let r = describe(&eu, &id).await;
    assert_eq!(
        config(&p),
        (
            MultiRegionKeyType::Primary,
            US.to_string(),
            vec![EU.to_string()]
        )
    );
    assert_eq!(config(&r).0, MultiRegionKeyType::Replica);
    assert_eq!(config(&r).1, US);
    assert_eq!(p.current_key_material_id(), r.current_key_material_id());
    assert_eq!(p.description(), Some("primary"));
    assert_eq!(r.description(), Some("replica"));

    // us → eu, without and with a KeyId; the answer names the key in the caller's region.
    let out = eu
        .decrypt()
        .ciphertext_blob(early.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.plaintext().unwrap().as_ref(),
        b"made before the replica"
    );
    assert_eq!(out.key_id(), Some(arn(EU, &id).as_str()));
    assert_eq!(out.key_material_id(), p.current_key_material_id());
    for key_id in [id.clone(), arn(EU, &id)] {
        let out = eu
            .decrypt()
            .ciphertext_blob(early.clone())
            .key_id(&key_id)
            .send()
            .await
            .unwrap();
        assert_eq!(
            out.plaintext().unwrap().as_ref(),
            b"made before the replica"
        );
    }
    let other = eu.create_key().send().await.unwrap();
    let other_id = other.key_metadata().unwrap().key_id().to_string();
    let err = eu
        .decrypt()
        .ciphertext_blob(early.clone())
        .key_id(&other_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "IncorrectKeyException");

    // eu → us, with an encryption context that must still match exactly.
    let ctx = |v: &str| {
        Some(std::collections::HashMap::from([(
            "purpose".to_string(),
            v.to_string(),
        )]))
    };
    let from_eu = eu
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"from europe".to_vec()))
        .set_encryption_context(ctx("test"))
        .send()
        .await
        .unwrap();
    assert_eq!(from_eu.key_id(), Some(arn(EU, &id).as_str()));
    let blob = from_eu.ciphertext_blob().unwrap().clone();
    let out = us
        .decrypt()
        .ciphertext_blob(blob.clone())
        .set_encryption_context(ctx("test"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.plaintext().unwrap().as_ref(), b"from europe");
    assert_eq!(out.key_id(), Some(arn(US, &id).as_str()));
    let err = us
        .decrypt()
        .ciphertext_blob(blob.clone())
        .set_encryption_context(ctx("other"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidCiphertextException");
    // A changed byte of the header (the region names are in it) still fails authentication.
    let mut tampered = blob.as_ref().to_vec();
    let at = tampered
        .windows(EU.len())
        .position(|w| w == EU.as_bytes())
        .unwrap();
    tampered[at + EU.len() - 1] = b'2';
    let err = us
        .decrypt()
        .ciphertext_blob(Blob::new(tampered))
        .set_encryption_context(ctx("test"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidCiphertextException");

    // ReEncrypt in eu of a us ciphertext, and a data key made in eu opened in us.
    let moved = eu
        .re_encrypt()
        .ciphertext_blob(early)
        .destination_key_id(&other_id)
        .send()
        .await
        .unwrap();
    assert_eq!(moved.source_key_id(), Some(arn(EU, &id).as_str()));
    assert_eq!(
        decrypt(&eu, moved.ciphertext_blob().unwrap()).await,
        b"made before the replica"
    );
    let dk = eu
        .generate_data_key()
        .key_id(&id)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    assert_eq!(
        decrypt(&us, dk.ciphertext_blob().unwrap()).await,
        dk.plaintext().unwrap().as_ref()
    );

    // Single-Region keys keep refusing ciphertext from another region.
    let single = us.create_key().send().await.unwrap();
    let single_id = single.key_metadata().unwrap().key_id().to_string();
    assert!(!single_id.starts_with("mrk-"));
    assert_eq!(single.key_metadata().unwrap().multi_region(), Some(false));
    assert!(
        single
            .key_metadata()
            .unwrap()
            .multi_region_configuration()
            .is_none()
    );
    let single_blob = encrypt(&us, &single_id, b"stays home").await;
    let err = eu
        .decrypt()
        .ciphertext_blob(single_blob.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    let err = eu
        .decrypt()
        .ciphertext_blob(single_blob.clone())
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "IncorrectKeyException");
    assert_eq!(decrypt(&us, &single_blob).await, b"stays home");

    // Survives a restart.
    server.stop().await;
    let (server, us, eu) = start(dir.path()).await;
    assert_eq!(decrypt(&us, &blob_for(&eu, &id).await).await, b"again");
    assert_eq!(config(&describe(&eu, &id).await).2, vec![EU.to_string()]);
    server.stop().await;
}

async fn blob_for(kms: &aws_sdk_kms::Client, id: &str) -> Blob {
    encrypt(kms, id, b"again").await
}

#[tokio::test]
async fn hmac_multi_region_keys_mac_alike_in_every_region() {
    let dir = tempfile::tempdir().unwrap();
    let (server, us, eu) = start(dir.path()).await;
    let key = us
        .create_key()
        .multi_region(true)
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap();
    let id = key.key_metadata().unwrap().key_id().to_string();
    assert!(id.starts_with("mrk-"));
    let replica = us
        .replicate_key()
        .key_id(&id)
        .replica_region(EU)
        .send()
        .await
        .unwrap();
    let rmeta = replica.replica_key_metadata().unwrap();
    assert_eq!(rmeta.key_spec(), Some(&KeySpec::Hmac256));
    assert_eq!(rmeta.key_usage(), Some(&KeyUsageType::GenerateVerifyMac));
    assert_eq!(
        rmeta.mac_algorithms(),
        std::slice::from_ref(&MacAlgorithmSpec::HmacSha256)
    );
    assert!(replica.replica_tags().is_empty());
    assert!(replica.replica_policy().unwrap().contains("kms:*"));

    let mac = |kms: aws_sdk_kms::Client| {
        let id = id.clone();
        async move {
            kms.generate_mac()
                .key_id(&id)
                .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                .message(Blob::new(b"message".to_vec()))
                .send()
                .await
                .unwrap()
                .mac()
                .unwrap()
                .clone()
        }
    };
    let from_us = mac(us.clone()).await;
    let from_eu = mac(eu.clone()).await;
    assert_eq!(from_us, from_eu);
    let ok = eu
        .verify_mac()
        .key_id(&id)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(b"message".to_vec()))
        .mac(from_us.clone())
        .send()
        .await
        .unwrap();
    assert!(ok.mac_valid());
    let err = eu
        .verify_mac()
        .key_id(&id)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(b"other message".to_vec()))
        .mac(from_us)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidMacException");
    // HMAC keys do not rotate, multi-Region or not.
    let err = us
        .rotate_key_on_demand()
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    server.stop().await;
}

#[tokio::test]
async fn rotation_of_the_primary_reaches_every_replica() {
    let dir = tempfile::tempdir().unwrap();
    let (server, us, eu) = start(dir.path()).await;
    let id = create_mrk(&us).await;
    replicate(&us, &id, EU).await;
    let m0 = describe(&us, &id)
        .await
        .current_key_material_id()
        .unwrap()
        .to_string();
    let old_us = encrypt(&us, &id, b"old us").await;
    let old_eu = encrypt(&eu, &id, b"old eu").await;

    // Rotation is configured and started on the primary only.
    let err = eu
        .rotate_key_on_demand()
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    let err = eu
        .enable_key_rotation()
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    let err = eu
        .disable_key_rotation()
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");

    us.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    let m1 = describe(&us, &id)
        .await
        .current_key_material_id()
        .unwrap()
        .to_string();
    assert_ne!(m1, m0);
    assert_eq!(
        describe(&eu, &id).await.current_key_material_id(),
        Some(m1.as_str())
    );
    let new_eu = encrypt(&eu, &id, b"new eu").await;
    let new_us = encrypt(&us, &id, b"new us").await;
    for kms in [&us, &eu] {
        assert_eq!(decrypt(kms, &old_us).await, b"old us");
        assert_eq!(decrypt(kms, &old_eu).await, b"old eu");
        assert_eq!(decrypt(kms, &new_us).await, b"new us");
        assert_eq!(decrypt(kms, &new_eu).await, b"new eu");
    }
    let out = us.decrypt().ciphertext_blob(new_eu).send().await.unwrap();
    assert_eq!(out.key_material_id(), Some(m1.as_str()));
    let rotations = eu.list_key_rotations().key_id(&id).send().await.unwrap();
    assert_eq!(rotations.rotations().len(), 1);
    assert_eq!(
        rotations.rotations()[0].key_material_id(),
        Some(m1.as_str())
    );

    // Automatic rotation: enabled on the primary, shown on the replica, applied to both.
    us.enable_key_rotation()
        .key_id(&id)
        .rotation_period_in_days(90)
        .send()
        .await
        .unwrap();
    let status = eu
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(90));
    // A disabled replica still receives the shared material.
    eu.disable_key().key_id(&id).send().await.unwrap();
    server.clock.advance_days(91);
    trent_server::scheduler::tick(&server.state).await;
    trent_server::scheduler::tick(&server.state).await;
    let m2 = describe(&us, &id)
        .await
        .current_key_material_id()
        .unwrap()
        .to_string();
    assert_ne!(m2, m1);
    assert_eq!(
        describe(&eu, &id).await.current_key_material_id(),
        Some(m2.as_str())
    );
    let rotations = us.list_key_rotations().key_id(&id).send().await.unwrap();
    assert_eq!(rotations.rotations().len(), 2, "rotated exactly once more");
    eu.enable_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        decrypt(&eu, &encrypt(&us, &id, b"gen 2").await).await,
        b"gen 2"
    );
    assert_eq!(decrypt(&eu, &old_us).await, b"old us");

    us.disable_key_rotation().key_id(&id).send().await.unwrap();
    let status = eu
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(!status.key_rotation_enabled());
    server.stop().await;
}

#[tokio::test]
async fn independent_properties_stay_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let (server, us, eu) = start(dir.path()).await;
    let id = create_mrk(&us).await;
    replicate(&us, &id, EU).await;

    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"eu only","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}"#;
    eu.put_key_policy()
        .key_id(&id)
        .policy_name("default")
        .policy(policy)
        .send()
        .await
        .unwrap();
    let get = |kms: aws_sdk_kms::Client| {
        let id = id.clone();
        async move {
            kms.get_key_policy()
                .key_id(&id)
                .send()
                .await
                .unwrap()
                .policy()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(get(eu.clone()).await, policy);
    assert_ne!(get(us.clone()).await, policy);

    eu.tag_resource()
        .key_id(&id)
        .tags(Tag::builder().tag_key("k").tag_value("v").build().unwrap())
        .send()
        .await
        .unwrap();
    let tags = |kms: aws_sdk_kms::Client| {
        let id = id.clone();
        async move {
            kms.list_resource_tags()
                .key_id(&id)
                .send()
                .await
                .unwrap()
                .tags()
                .len()
        }
    };
    assert_eq!(tags(eu.clone()).await, 1);
    assert_eq!(tags(us.clone()).await, 0);

    eu.update_key_description()
        .key_id(&id)
        .description("eu copy")
        .send()
        .await
        .unwrap();
    assert_eq!(describe(&us, &id).await.description(), Some(""));

    us.create_alias()
        .alias_name("alias/shared-name")
        .target_key_id(&id)
        .send()
        .await
        .unwrap();
    let err = eu
        .describe_key()
        .key_id("alias/shared-name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotFoundException");

    // Disabling one key of the set leaves the others usable.
    let blob = encrypt(&us, &id, b"x").await;
    eu.disable_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        describe(&eu, &id).await.key_state(),
        Some(&KeyState::Disabled)
    );
    assert_eq!(
        describe(&us, &id).await.key_state(),
        Some(&KeyState::Enabled)
    );
    let err = eu
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DisabledException");
    let err = eu
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DisabledException");
    assert_eq!(decrypt(&us, &blob).await, b"x");
    server.stop().await;
}

#[tokio::test]
async fn update_primary_region_swaps_roles() {
    let dir = tempfile::tempdir().unwrap();
    let (server, us, eu) = start(dir.path()).await;
    let id = create_mrk(&us).await;
    replicate(&us, &id, EU).await;
    us.enable_key_rotation().key_id(&id).send().await.unwrap();

    // Errors first.
    let single = us.create_key().send().await.unwrap();
    let single_id = single.key_metadata().unwrap().key_id().to_string();
    let upr = |kms: &aws_sdk_kms::Client, key: &str, region: &str| {
        kms.update_primary_region()
            .key_id(key)
            .primary_region(region)
            .send()
    };
    let err = upr(&us, &single_id, EU).await.unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    let err = upr(&eu, &id, EU).await.unwrap_err();
    assert_eq!(
        code(&err),
        "UnsupportedOperationException",
        "called on a replica"
    );
    let err = upr(&us, &id, US).await.unwrap_err();
    assert_eq!(
        code(&err),
        "UnsupportedOperationException",
        "already primary"
    );
    let err = upr(&us, &id, "ap-south-1").await.unwrap_err();
    assert_eq!(code(&err), "NotFoundException", "no replica there");
    let err = upr(&us, &id, "Not A Region").await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = us
        .update_primary_region()
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    eu.disable_key().key_id(&id).send().await.unwrap();
    let err = upr(&us, &id, EU).await.unwrap_err();
    assert_eq!(
        code(&err),
        "DisabledException",
        "the new primary must be enabled"
    );
    eu.enable_key().key_id(&id).send().await.unwrap();
    us.disable_key().key_id(&id).send().await.unwrap();
    let err = upr(&us, &id, EU).await.unwrap_err();
    assert_eq!(
        code(&err),
        "DisabledException",
        "the old primary must be enabled"
    );
    us.enable_key().key_id(&id).send().await.unwrap();

    upr(&us, &id, EU).await.unwrap();
    assert_eq!(
        config(&describe(&us, &id).await),
        (
            MultiRegionKeyType::Replica,
            EU.to_string(),
            vec![US.to_string()]
        )
    );
    assert_eq!(
        config(&describe(&eu, &id).await),
        (
            MultiRegionKeyType::Primary,
            EU.to_string(),
            vec![US.to_string()]
        )
    );
    // The shared rotation schedule moved with the role; rotation now starts in eu.
    let status = eu
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(status.key_rotation_enabled());
    let err = us
        .rotate_key_on_demand()
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    eu.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    assert_eq!(
        describe(&us, &id).await.current_key_material_id(),
        describe(&eu, &id).await.current_key_material_id()
    );
    // Only the new primary replicates; the old one cannot.
    let err = us
        .replicate_key()
        .key_id(&id)
        .replica_region(EU)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    let err = eu
        .replicate_key()
        .key_id(&id)
        .replica_region(US)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AlreadyExistsException");
    // And back again.
    upr(&eu, &id, US).await.unwrap();
    assert_eq!(config(&describe(&eu, &id).await).1, US);
    server.stop().await;
}

#[tokio::test]
async fn replicate_key_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (server, us, eu) = start(dir.path()).await;
    let rk = |kms: &aws_sdk_kms::Client, key: &str, region: &str| {
        kms.replicate_key()
            .key_id(key)
            .replica_region(region)
            .send()
    };
    let single = us.create_key().send().await.unwrap();
    let single_id = single.key_metadata().unwrap().key_id().to_string();
    let err = rk(&us, &single_id, EU).await.unwrap_err();
    assert_eq!(
        code(&err),
        "UnsupportedOperationException",
        "single-Region key"
    );

    let id = create_mrk(&us).await;
    let err = rk(&us, &id, US).await.unwrap_err();
    assert_eq!(
        code(&err),
        "ValidationException",
        "the primary's own region"
    );
    let err = rk(&us, &id, "ap-south-1").await.unwrap_err();
    assert_eq!(
        code(&err),
        "UnsupportedOperationException",
        "a region not served"
    );
    let err = rk(&us, &id, "eu_west_1").await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = us.replicate_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(
        code(&err),
        "ValidationException",
        "ReplicaRegion is required"
    );
    let err = rk(&us, "alias/nope", EU).await.unwrap_err();
    assert_eq!(code(&err), "NotFoundException", "aliases are refused");
    let err = rk(&us, "arn:aws:s3:::bucket", EU).await.unwrap_err();
    assert_eq!(code(&err), "InvalidArnException");
    let err = us
        .replicate_key()
        .key_id(&id)
        .replica_region(EU)
        .policy("not json")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "MalformedPolicyDocumentException");
    let err = us
        .replicate_key()
        .key_id(&id)
        .replica_region(EU)
        .tags(
            Tag::builder()
                .tag_key("aws:x")
                .tag_value("v")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "TagException");
    // None of the failures left a replica behind.
    assert!(config(&describe(&us, &id).await).2.is_empty());
    let err = eu.describe_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(code(&err), "NotFoundException");

    // A disabled primary may be replicated; the replica's state is its own.
    us.disable_key().key_id(&id).send().await.unwrap();
    let out = rk(&us, &id, EU).await.unwrap();
    assert_eq!(
        out.replica_key_metadata().unwrap().key_state(),
        Some(&KeyState::Enabled)
    );
    let err = rk(&us, &id, EU).await.unwrap_err();
    assert_eq!(code(&err), "AlreadyExistsException");
    let err = rk(&eu, &id, US).await.unwrap_err();
    assert_eq!(
        code(&err),
        "UnsupportedOperationException",
        "a replica is not replicated"
    );

    // A primary pending deletion is not replicated.
    let lonely = create_mrk(&us).await;
    us.schedule_key_deletion()
        .key_id(&lonely)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let err = rk(&us, &lonely, EU).await.unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    server.stop().await;
}

#[tokio::test]
async fn a_primary_is_deleted_only_after_its_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let (server, us, eu) = start(dir.path()).await;
    let id = create_mrk(&us).await;
    replicate(&us, &id, EU).await;
    let blob = encrypt(&eu, &id, b"replica made this").await;

    let out = us
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(out.key_state(), Some(&KeyState::PendingReplicaDeletion));
    assert!(out.deletion_date().is_none());
    assert_eq!(out.pending_window_in_days(), Some(7));
    let meta = describe(&us, &id).await;
    assert_eq!(meta.key_state(), Some(&KeyState::PendingReplicaDeletion));
    assert!(!meta.enabled());
    assert!(meta.deletion_date().is_none());
    assert_eq!(meta.pending_deletion_window_in_days(), Some(7));
    let err = us
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    let err = us
        .schedule_key_deletion()
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    let err = us
        .tag_resource()
        .key_id(&id)
        .tags(Tag::builder().tag_key("k").tag_value("v").build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    let err = us.enable_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    // The replica is unaffected meanwhile.
    assert_eq!(decrypt(&eu, &blob).await, b"replica made this");

    // Time passes: the primary waits for its replica, whatever its window.
    server.clock.advance_days(40);
    trent_server::scheduler::tick(&server.state).await;
    assert_eq!(
        describe(&us, &id).await.key_state(),
        Some(&KeyState::PendingReplicaDeletion)
    );

    eu.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(
        describe(&eu, &id).await.key_state(),
        Some(&KeyState::PendingDeletion)
    );
    server.clock.advance_days(6);
    trent_server::scheduler::tick(&server.state).await;
    assert_eq!(
        describe(&us, &id).await.key_state(),
        Some(&KeyState::PendingReplicaDeletion)
    );
    server.clock.advance_days(2);
    trent_server::scheduler::tick(&server.state).await;
    let err = eu.describe_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(code(&err), "NotFoundException", "the replica is deleted");
    let meta = describe(&us, &id).await;
    assert_eq!(meta.key_state(), Some(&KeyState::PendingDeletion));
    assert!(config(&meta).2.is_empty(), "the replica left the set");
    use trent_store::clock::Clock as _;
    let due = meta.deletion_date().unwrap().secs();
    let expected = server.clock.now_ms() / 1000 + 7 * 86_400;
    assert!(
        (due - expected).abs() <= 2,
        "window starts now: {due} {expected}"
    );

    server.clock.advance_days(6);
    trent_server::scheduler::tick(&server.state).await;
    assert_eq!(
        describe(&us, &id).await.key_state(),
        Some(&KeyState::PendingDeletion)
    );
    server.clock.advance_days(2);
    trent_server::scheduler::tick(&server.state).await;
    let err = us.describe_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(code(&err), "NotFoundException", "the primary is deleted");
    server.stop().await;
}

#[tokio::test]
async fn deleting_a_replica_leaves_the_primary_and_its_ciphertexts() {
    let dir = tempfile::tempdir().unwrap();
    let (server, us, eu) = start(dir.path()).await;
    let id = create_mrk(&us).await;
    replicate(&us, &id, EU).await;
    let blob = encrypt(&eu, &id, b"from the replica").await;
    eu.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let err = eu
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");
    // A replica pending deletion still occupies its region.
    let err = us
        .replicate_key()
        .key_id(&id)
        .replica_region(EU)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AlreadyExistsException");
    server.clock.advance_days(8);
    trent_server::scheduler::tick(&server.state).await;
    let meta = describe(&us, &id).await;
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert!(config(&meta).2.is_empty());
    assert_eq!(decrypt(&us, &blob).await, b"from the replica");
    let err = eu
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    // The region can have a replica again, with the same material.
    replicate(&us, &id, EU).await;
    assert_eq!(decrypt(&eu, &blob).await, b"from the replica");

    // CancelKeyDeletion of a primary waiting for its replicas → Disabled.
    us.schedule_key_deletion().key_id(&id).send().await.unwrap();
    us.cancel_key_deletion().key_id(&id).send().await.unwrap();
    let meta = describe(&us, &id).await;
    assert_eq!(meta.key_state(), Some(&KeyState::Disabled));
    assert!(meta.pending_deletion_window_in_days().is_none());
    server.stop().await;
}

#[tokio::test]
async fn asymmetric_multi_region_keys_share_their_key_pair() {
    use aws_sdk_kms::types::SigningAlgorithmSpec;
    let dir = tempfile::tempdir().unwrap();
    let (server, us, eu) = start(dir.path()).await;
    let id = us
        .create_key()
        .multi_region(true)
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    replicate(&us, &id, EU).await;
    let public_us = us.get_public_key().key_id(&id).send().await.unwrap();
    let public_eu = eu.get_public_key().key_id(&id).send().await.unwrap();
    assert_eq!(public_us.public_key(), public_eu.public_key());
    let message = Blob::new(b"signed in one region, verified in the other".to_vec());
    let sig = eu
        .sign()
        .key_id(&id)
        .message(message.clone())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap();
    let ok = us
        .verify()
        .key_id(&id)
        .message(message)
        .signature(sig.signature().unwrap().clone())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap();
    assert!(ok.signature_valid());
    // Asymmetric keys do not rotate, in either region.
    let err = us
        .enable_key_rotation()
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "UnsupportedOperationException");
    server.stop().await;
}
