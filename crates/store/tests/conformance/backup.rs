//! Backups: a snapshot of either store restores into either, every table and every sealed
//! value intact (the barrier binds values to their rows, not to a database), and a restore
//! refuses a store that is not empty.

use std::sync::Arc;

use trent_crypto::SecretBytes;
use trent_store::backup;
use trent_store::{
    AccessKeyRecord, AliasRecord, AuditEventRecord, Barrier, KeyMaterial, KeyRecord,
    NewSecretVersion, ParameterRecord, ParameterVersionRecord, Scope, SecretRecord,
    SecretVersionRecord, Store, StoreError, StoreLocation, UserRecord,
};

use crate::harness::{self, for_each_store};

const ACCOUNT: &str = "111122223333";

fn scope() -> Scope {
    Scope::new(ACCOUNT, "us-east-1")
}

fn key(id: &str) -> KeyRecord {
    KeyRecord {
        scope: scope(),
        key_id: id.into(),
        seq: 0,
        description: "backed up".into(),
        key_spec: "SYMMETRIC_DEFAULT".into(),
        key_usage: "ENCRYPT_DECRYPT".into(),
        origin: "AWS_KMS".into(),
        key_manager: "CUSTOMER".into(),
        state: "Enabled".into(),
        created_ms: 1,
        deletion_ms: None,
        pending_window_days: None,
        policy: "{}".into(),
        tags: vec![("team".into(), "blue".into())],
        current_material_id: "m1".into(),
        multi_region: false,
        rotation_period_days: None,
        next_rotation_ms: None,
        version: 1,
        primary_region: None,
        valid_to_ms: None,
        expiration_model: None,
    }
}

/// Something of every area, through the store's own operations.
async fn fill(store: &Arc<dyn Store>) {
    let k = key("k-1");
    let material = KeyMaterial {
        material_id: "m1".into(),
        created_ms: 1,
        rotation_type: None,
        secret: SecretBytes::new(vec![0x5a; 32]),
    };
    store.create_key(&k, Some(&material)).await.unwrap();
    store
        .create_key(&key("k-2"), Some(&material))
        .await
        .unwrap();
    store
        .create_alias(&AliasRecord {
            scope: scope(),
            alias_name: "alias/backed-up".into(),
            key_id: "k-1".into(),
            created_ms: 2,
            updated_ms: 2,
        })
        .await
        .unwrap();
    assert!(
        store
            .put_sealed_meta_once("signing", &SecretBytes::new(b"audit signing key".to_vec()))
            .await
            .unwrap()
    );
    store
        .put_access_key(&AccessKeyRecord {
            access_key_id: "AKIABACKUP0000000001".into(),
            account_id: ACCOUNT.into(),
            principal_arn: format!("arn:aws:iam::{ACCOUNT}:root"),
            user_name: "root".into(),
            status: "Active".into(),
            created_ms: 3,
            secret: SecretBytes::new(b"secret access key".to_vec()),
        })
        .await
        .unwrap();
    store.create_account(ACCOUNT, 3, None).await.unwrap();
    store
        .create_user(&UserRecord {
            account_id: ACCOUNT.into(),
            user_name: "Alice".into(),
            user_id: "AIDABACKUP".into(),
            path: "/".into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/Alice"),
            created_ms: 4,
            tags: Vec::new(),
        })
        .await
        .unwrap();
    let head = ParameterRecord {
        scope: scope(),
        name: "/backup/p".into(),
        tier: "Standard".into(),
        tags: Vec::new(),
        latest_version: 1,
        revision: 0,
        version_count: 0,
        oldest_version: 0,
        policies: "[]".into(),
        policy_due_ms: None,
    };
    let version = ParameterVersionRecord {
        version: 1,
        param_type: "String".into(),
        value: b"parameter value".to_vec(),
        description: None,
        allowed_pattern: None,
        data_type: "text".into(),
        tier: "Standard".into(),
        key_id: None,
        labels: Vec::new(),
        modified_ms: 5,
        modified_user: "root".into(),
        policies: "[]".into(),
    };
    store
        .put_parameter_version(&head, &version, true, None, None, None)
        .await
        .unwrap();
    let secret = SecretRecord {
        scope: scope(),
        name: "backup/s".into(),
        arn: format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:backup/s-AbCdEf"),
        description: None,
        kms_key_id: None,
        tags: Vec::new(),
        resource_policy: None,
        created_ms: 6,
        last_changed_ms: 6,
        last_accessed_ms: None,
        deleted_ms: None,
        purge_ms: None,
        revision: 0,
        versions: vec![SecretVersionRecord {
            version_id: "v1".into(),
            stages: vec!["AWSCURRENT".into()],
            created_ms: 6,
            last_accessed_ms: None,
            kind: "string".into(),
            kms_key_arn: "arn:aws:kms:us-east-1:111122223333:key/k-1".into(),
        }],
    };
    let first = NewSecretVersion {
        record: secret.versions[0].clone(),
        ciphertext: b"kms ciphertext of the value".to_vec(),
    };
    store.create_secret(&secret, Some(&first)).await.unwrap();
    let events: Vec<_> = (1..=3)
        .map(|seq| AuditEventRecord {
            seq,
            account_id: ACCOUNT.into(),
            event_time_ms: seq,
            event_id: format!("e{seq}"),
            event_name: "Encrypt".into(),
            event_source: "kms.amazonaws.com".into(),
            username: None,
            access_key_id: None,
            read_only: false,
            resources: "[]".into(),
            record: "{}".into(),
            prev_hash: vec![u8::try_from(seq - 1).unwrap(); 32],
            hash: vec![u8::try_from(seq).unwrap(); 32],
        })
        .collect();
    store.append_audit_events(&events).await.unwrap();
}

/// What a restored store must give back.
async fn check(store: &Arc<dyn Store>, original: &Arc<dyn Store>) {
    assert_eq!(
        store.get_key(&scope(), "k-1").await.unwrap(),
        original.get_key(&scope(), "k-1").await.unwrap()
    );
    let materials = store.key_materials(&scope(), "k-1").await.unwrap();
    assert_eq!(materials.len(), 1);
    assert_eq!(materials[0].secret.expose_secret(), &[0x5a; 32]);
    let keys: Vec<String> = store
        .list_keys(&scope(), 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    assert_eq!(keys, vec!["k-1", "k-2"]);
    assert_eq!(
        store
            .get_alias(&scope(), "alias/backed-up")
            .await
            .unwrap()
            .unwrap()
            .key_id,
        "k-1"
    );
    assert_eq!(
        store
            .get_sealed_meta("signing")
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        b"audit signing key"
    );
    let access = store
        .get_access_key("AKIABACKUP0000000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(access.secret.expose_secret(), b"secret access key");
    assert!(store.account_exists(ACCOUNT).await.unwrap());
    assert_eq!(
        store
            .get_user(ACCOUNT, "alice")
            .await
            .unwrap()
            .unwrap()
            .user_name,
        "Alice"
    );
    assert_eq!(
        store
            .get_parameter_version(&scope(), "/backup/p", None)
            .await
            .unwrap()
            .unwrap()
            .value,
        b"parameter value"
    );
    assert_eq!(
        store.get_secret(&scope(), "backup/s").await.unwrap(),
        original.get_secret(&scope(), "backup/s").await.unwrap()
    );
    assert_eq!(
        store
            .get_secret_ciphertext(&scope(), "backup/s", "v1")
            .await
            .unwrap()
            .unwrap(),
        b"kms ciphertext of the value"
    );
    assert_eq!(
        store.audit_events(0, 10).await.unwrap(),
        original.audit_events(0, 10).await.unwrap()
    );
    // Sequences continue after the restored rows: a new key sorts after the restored ones.
    store.create_key(&key("k-3"), None).await.unwrap();
    let last = store.list_keys(&scope(), 0, 10).await.unwrap();
    assert_eq!(last.last().unwrap().key_id, "k-3");
}

#[tokio::test]
async fn a_backup_of_either_store_restores_into_either() {
    for_each_store!("backup", |s| {
        fill(&s.store).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trent.backup");
        let taken = backup::backup(&s.location(), &file).await.unwrap();
        assert!(taken.rows() > 10, "{taken:?}");
        // Not the plaintext of any sealed value.
        let raw = std::fs::read(&file).unwrap();
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut text).unwrap();
        for secret in [&b"secret access key"[..], b"audit signing key"] {
            assert!(!text.windows(secret.len()).any(|w| w == secret));
        }
        // A backup never overwrites a file.
        assert!(backup::backup(&s.location(), &file).await.is_err());

        // Into a new embedded store...
        let target_dir = tempfile::tempdir().unwrap();
        let embedded = StoreLocation::Embedded(target_dir.path().to_path_buf());
        let restored = backup::restore(&embedded, &file).await.unwrap();
        assert_eq!(restored, taken);
        let store = embedded
            .open(Barrier::new(s.root()).unwrap())
            .await
            .unwrap();
        check(&store, &s.store).await;
        store.close().await;
        // ... which now refuses another restore.
        assert!(matches!(
            backup::restore(&embedded, &file).await,
            Err(StoreError::AlreadyExists)
        ));

        // Into a new PostgreSQL store.
        if let Some(url) = harness::postgres_url() {
            let (schema, with) = harness::fresh_postgres(&url, "backup_target").await;
            let postgres = StoreLocation::Postgres(with);
            assert_eq!(backup::restore(&postgres, &file).await.unwrap(), taken);
            let store = postgres
                .open(Barrier::new(s.root()).unwrap())
                .await
                .unwrap();
            check(&store, &s.store).await;
            store.close().await;
            assert!(matches!(
                backup::restore(&postgres, &file).await,
                Err(StoreError::AlreadyExists)
            ));
            harness::drop_schema(&url, &schema).await;
        }

        // The wrong root key does not open a restored store.
        let other_dir = tempfile::tempdir().unwrap();
        let other = StoreLocation::Embedded(other_dir.path().to_path_buf());
        backup::restore(&other, &file).await.unwrap();
        let wrong = Barrier::new(&SecretBytes::random(32).unwrap()).unwrap();
        assert!(matches!(
            other.open(wrong).await,
            Err(StoreError::WrongRootKey)
        ));
    });
}

#[tokio::test]
async fn a_damaged_backup_restores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-backup");
    {
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&file).unwrap(),
            flate2::Compression::fast(),
        );
        std::io::Write::write_all(&mut gz, b"{\"format\":\"trent-backup\",\"version\":1}\n{\"table\":\"meta\",\"columns\":[\"name\",\"value\"]}\n[\"x\"]\n").unwrap();
        gz.finish().unwrap();
    }
    let target = tempfile::tempdir().unwrap();
    let location = StoreLocation::Embedded(target.path().to_path_buf());
    assert!(matches!(
        backup::restore(&location, &file).await,
        Err(StoreError::Corrupt(_))
    ));
    // Nothing was loaded: a good restore can follow.
    let root = SecretBytes::random(32).unwrap();
    let store = location.open(Barrier::new(&root).unwrap()).await.unwrap();
    assert!(store.get_meta("x").await.unwrap().is_none());
}
