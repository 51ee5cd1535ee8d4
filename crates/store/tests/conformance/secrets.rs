//! Conformance of the secrets part of the store: secrets and their versions, replication,
//! rotation; revision races between nodes, change notifications and the secret cache.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use trent_store::{
    Change, NewSecretVersion, Scope, SecretRecord, SecretReplicaRecord, SecretRotationRecord,
    SecretVersionRecord, SecretWrite, Store, StoreError,
};

use crate::harness::for_each_store;

fn scope() -> Scope {
    Scope::new("111122223333", "us-east-1")
}

fn secret_in(scope: &Scope, name: &str) -> SecretRecord {
    SecretRecord {
        scope: scope.clone(),
        name: name.to_owned(),
        arn: format!(
            "arn:aws:secretsmanager:{}:{}:secret:{name}-AbCdEf",
            scope.region, scope.account_id
        ),
        description: Some(format!("the {name} secret")),
        kms_key_id: None,
        tags: vec![("team".into(), "db".into()), ("env".into(), "prod".into())],
        resource_policy: None,
        created_ms: 1_000,
        last_changed_ms: 1_000,
        last_accessed_ms: None,
        deleted_ms: None,
        purge_ms: None,
        revision: 1,
        versions: Vec::new(),
    }
}

fn secret(name: &str) -> SecretRecord {
    secret_in(&scope(), name)
}

fn version(id: &str, stages: &[&str], created_ms: i64) -> NewSecretVersion {
    NewSecretVersion {
        record: SecretVersionRecord {
            version_id: id.to_owned(),
            stages: stages.iter().map(|s| (*s).to_owned()).collect(),
            created_ms,
            last_accessed_ms: None,
            kind: "string".into(),
            kms_key_arn: "arn:aws:kms:us-east-1:111122223333:key/k1".into(),
        },
        ciphertext: format!("blob of {id}").into_bytes(),
    }
}

/// A version without a value yet (the AWSPENDING version a rotation starts with).
fn placeholder(id: &str, created_ms: i64) -> NewSecretVersion {
    let mut v = version(id, &["AWSPENDING"], created_ms);
    v.record.kind = "none".into();
    v.ciphertext = Vec::new();
    v
}

/// Creates `name` with one AWSCURRENT version `v1`; returns what the store holds.
async fn create_with_v1(store: &Arc<dyn Store>, name: &str) -> SecretRecord {
    let v1 = version("v1", &["AWSCURRENT"], 1_000);
    store.create_secret(&secret(name), Some(&v1)).await.unwrap();
    store.get_secret(&scope(), name).await.unwrap().unwrap()
}

fn stages_of(secret: &SecretRecord) -> Vec<(String, Vec<String>)> {
    secret
        .versions
        .iter()
        .map(|v| (v.version_id.clone(), v.stages.clone()))
        .collect()
}

fn rotation() -> SecretRotationRecord {
    SecretRotationRecord {
        enabled: true,
        lambda_arn: Some("arn:aws:lambda:us-east-1:111122223333:function:rotate".into()),
        rules: r#"{"AutomaticallyAfterDays":30}"#.into(),
        last_rotated_ms: Some(500),
        window_start_ms: Some(10_000),
        window_end_ms: Some(20_000),
        token: None,
        rotation_token: None,
        step: None,
        state: None,
        attempts: 0,
        last_failure: None,
        last_failure_ms: None,
    }
}

fn replica(region: &str, present: bool) -> SecretReplicaRecord {
    SecretReplicaRecord {
        region: region.to_owned(),
        kms_key_id: (region == "eu-west-1").then(|| "alias/replica".to_owned()),
        status: if present { "InSync" } else { "Failed" }.to_owned(),
        status_message: (!present).then(|| "name taken".to_owned()),
        present,
    }
}

#[tokio::test]
async fn a_secret_is_created_once_and_read_back() {
    for_each_store!("sm_create", |s| {
        let store = &s.store;
        assert_eq!(store.get_secret(&scope(), "db").await.unwrap(), None);
        let v1 = version("v1", &["AWSCURRENT"], 1_000);
        store.create_secret(&secret("db"), Some(&v1)).await.unwrap();
        let got = store.get_secret(&scope(), "db").await.unwrap().unwrap();
        let mut expected = secret("db");
        expected.versions = vec![v1.record.clone()];
        assert_eq!(got, expected);
        assert_eq!(
            store
                .get_secret_ciphertext(&scope(), "db", "v1")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"blob of v1"[..])
        );
        assert_eq!(
            store
                .get_secret_ciphertext(&scope(), "db", "v2")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .get_secret_ciphertext(&scope(), "other", "v1")
                .await
                .unwrap(),
            None
        );

        // The name is taken in the scope, whatever the rest says; nothing of the second try is
        // kept.
        let mut again = secret("db");
        again.arn.push('2');
        let v9 = version("v9", &["AWSCURRENT"], 2_000);
        assert!(matches!(
            store.create_secret(&again, Some(&v9)).await,
            Err(StoreError::AlreadyExists)
        ));
        assert_eq!(
            store.get_secret(&scope(), "db").await.unwrap().unwrap(),
            expected
        );
        // The same name in another region or account is another secret.
        let west = Scope::new("111122223333", "us-west-2");
        store
            .create_secret(&secret_in(&west, "db"), None)
            .await
            .unwrap();
        let other_account = Scope::new("444455556666", "us-east-1");
        store
            .create_secret(&secret_in(&other_account, "db"), None)
            .await
            .unwrap();
        // Without a first version.
        let got = store.get_secret(&west, "db").await.unwrap().unwrap();
        assert_eq!(got, secret_in(&west, "db"));
        assert!(got.versions.is_empty());
        // Optional fields set.
        let mut full = secret("full");
        full.kms_key_id = Some("alias/mine".into());
        full.resource_policy = Some(r#"{"Version":"2012-10-17"}"#.into());
        full.tags = Vec::new();
        full.last_accessed_ms = Some(86_400_000);
        full.deleted_ms = Some(5);
        full.purge_ms = Some(6);
        full.description = None;
        store.create_secret(&full, None).await.unwrap();
        assert_eq!(
            store.get_secret(&scope(), "full").await.unwrap().unwrap(),
            full
        );
    });
}

#[tokio::test]
async fn a_save_moves_stages_adds_and_drops_versions_at_its_revision() {
    for_each_store!("sm_save", |s| {
        let store = &s.store;
        let mut current = create_with_v1(store, "db").await;
        assert_eq!(current.revision, 1);

        // PutSecretValue: v2 becomes AWSCURRENT, v1 AWSPREVIOUS.
        current.versions[0].stages = vec!["AWSPREVIOUS".into()];
        current.description = Some("changed".into());
        current.tags = vec![("k".into(), "v".into())];
        current.last_changed_ms = 2_000;
        let v2 = version("v2", &["AWSCURRENT"], 2_000);
        let rev = store.save_secret(&current, Some(&v2)).await.unwrap();
        assert_eq!(rev, 2);
        let got = store.get_secret(&scope(), "db").await.unwrap().unwrap();
        assert_eq!(got.revision, 2);
        assert_eq!(got.description.as_deref(), Some("changed"));
        assert_eq!(got.tags, vec![("k".to_string(), "v".to_string())]);
        assert_eq!(got.last_changed_ms, 2_000);
        assert_eq!(
            stages_of(&got),
            vec![
                ("v1".to_string(), vec!["AWSPREVIOUS".to_string()]),
                ("v2".to_string(), vec!["AWSCURRENT".to_string()]),
            ]
        );
        assert_eq!(got.versions[1], v2.record);

        // A writer that read revision 1 is refused, and changes nothing.
        current.description = Some("stale".into());
        assert!(matches!(
            store.save_secret(&current, None).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            store.get_secret(&scope(), "db").await.unwrap().unwrap(),
            got
        );

        // A version id already stored (with a value) is refused, and nothing of the save is
        // kept, not even the revision.
        let mut current = got.clone();
        current.description = Some("dup".into());
        let dup = version("v1", &["AWSCURRENT"], 3_000);
        assert!(matches!(
            store.save_secret(&current, Some(&dup)).await,
            Err(StoreError::AlreadyExists)
        ));
        assert_eq!(
            store.get_secret(&scope(), "db").await.unwrap().unwrap(),
            got
        );

        // Versions no longer listed are dropped with their value; metadata-only save.
        let mut current = got.clone();
        current.versions.retain(|v| v.version_id == "v2");
        assert_eq!(store.save_secret(&current, None).await.unwrap(), 3);
        let got = store.get_secret(&scope(), "db").await.unwrap().unwrap();
        assert_eq!(
            stages_of(&got),
            vec![("v2".to_string(), vec!["AWSCURRENT".to_string()])]
        );
        assert_eq!(
            store
                .get_secret_ciphertext(&scope(), "db", "v1")
                .await
                .unwrap(),
            None
        );
        // A deprecated version (no stages) is kept.
        let mut current = got.clone();
        current.versions[0].stages = Vec::new();
        let v3 = version("v3", &["AWSCURRENT"], 3_000);
        assert_eq!(store.save_secret(&current, Some(&v3)).await.unwrap(), 4);
        let got = store.get_secret(&scope(), "db").await.unwrap().unwrap();
        assert_eq!(
            stages_of(&got),
            vec![
                ("v2".to_string(), Vec::new()),
                ("v3".to_string(), vec!["AWSCURRENT".to_string()]),
            ]
        );

        // A missing secret is a conflict.
        let mut gone = secret("gone");
        gone.revision = 1;
        assert!(matches!(
            store.save_secret(&gone, None).await,
            Err(StoreError::Conflict)
        ));
    });
}

#[tokio::test]
async fn a_placeholder_version_gets_its_value_once() {
    for_each_store!("sm_placeholder", |s| {
        let store = &s.store;
        let current = create_with_v1(store, "db").await;
        let pending = placeholder("p1", 2_000);
        assert_eq!(
            store.save_secret(&current, Some(&pending)).await.unwrap(),
            2
        );
        let current = store.get_secret(&scope(), "db").await.unwrap().unwrap();
        assert_eq!(current.versions[1].kind, "none");
        assert_eq!(
            store
                .get_secret_ciphertext(&scope(), "db", "p1")
                .await
                .unwrap()
                .as_deref(),
            Some(&b""[..])
        );
        // The value arrives (the rotator's PutSecretValue): kind and value set in place, the
        // version keeps its place and creation time.
        let mut value = version("p1", &["AWSPENDING"], 9_999);
        value.record.kms_key_arn = "arn:aws:kms:us-east-1:111122223333:key/k2".into();
        assert_eq!(store.save_secret(&current, Some(&value)).await.unwrap(), 3);
        let got = store.get_secret(&scope(), "db").await.unwrap().unwrap();
        assert_eq!(got.versions.len(), 2);
        assert_eq!(got.versions[1].version_id, "p1");
        assert_eq!(got.versions[1].kind, "string");
        assert_eq!(got.versions[1].created_ms, 2_000);
        assert_eq!(
            got.versions[1].kms_key_arn,
            "arn:aws:kms:us-east-1:111122223333:key/k2"
        );
        assert_eq!(
            store
                .get_secret_ciphertext(&scope(), "db", "p1")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"blob of p1"[..])
        );
        // Only once: a version with a value is not filled again.
        assert!(matches!(
            store.save_secret(&got, Some(&value)).await,
            Err(StoreError::AlreadyExists)
        ));
        assert_eq!(
            store.get_secret(&scope(), "db").await.unwrap().unwrap(),
            got
        );
    });
}

#[tokio::test]
async fn versions_are_listed_oldest_first_then_in_insertion_order() {
    for_each_store!("sm_version_order", |s| {
        let store = &s.store;
        let mut current = create_with_v1(store, "db").await;
        // Same creation time: insertion order, whatever the ids' order.
        for id in ["zz", "aa", "mm"] {
            let v = version(id, &[], 5_000);
            current.revision = store.save_secret(&current, Some(&v)).await.unwrap();
            current = store.get_secret(&scope(), "db").await.unwrap().unwrap();
        }
        // Created earlier, inserted later: comes before.
        let early = version("early", &[], 500);
        store.save_secret(&current, Some(&early)).await.unwrap();
        let ids = |s: &SecretRecord| {
            s.versions
                .iter()
                .map(|v| v.version_id.clone())
                .collect::<Vec<_>>()
        };
        let got = store.get_secret(&scope(), "db").await.unwrap().unwrap();
        assert_eq!(ids(&got), ["early", "v1", "zz", "aa", "mm"]);
        let listed = store.list_secrets(&scope()).await.unwrap();
        assert_eq!(ids(&listed[0]), ["early", "v1", "zz", "aa", "mm"]);
    });
}

#[tokio::test]
async fn a_touch_records_the_day_of_access_without_a_new_revision() {
    for_each_store!("sm_touch", |s| {
        let store = &s.store;
        let before = create_with_v1(store, "db").await;
        let day = 86_400_000;
        store.touch_secret(&scope(), "db", "v1", day).await.unwrap();
        let got = store.get_secret(&scope(), "db").await.unwrap().unwrap();
        assert_eq!(got.last_accessed_ms, Some(day));
        assert_eq!(got.versions[0].last_accessed_ms, Some(day));
        assert_eq!(got.revision, before.revision);
        // Never backwards.
        store
            .touch_secret(&scope(), "db", "v1", day - 1)
            .await
            .unwrap();
        let got = store.get_secret(&scope(), "db").await.unwrap().unwrap();
        assert_eq!(got.last_accessed_ms, Some(day));
        assert_eq!(got.versions[0].last_accessed_ms, Some(day));
        // Another version on a later day moves the head and that version only.
        let v2 = version("v2", &["AWSPENDING"], 2_000);
        store.save_secret(&got, Some(&v2)).await.unwrap();
        store
            .touch_secret(&scope(), "db", "v2", 2 * day)
            .await
            .unwrap();
        let got = store.get_secret(&scope(), "db").await.unwrap().unwrap();
        assert_eq!(got.last_accessed_ms, Some(2 * day));
        assert_eq!(got.versions[0].last_accessed_ms, Some(day));
        assert_eq!(got.versions[1].last_accessed_ms, Some(2 * day));
        assert_eq!(got.revision, before.revision + 1);
        // A missing secret or version: nothing to do, no error.
        store
            .touch_secret(&scope(), "nope", "v1", 3 * day)
            .await
            .unwrap();
        store
            .touch_secret(&scope(), "db", "nope", 3 * day)
            .await
            .unwrap();
        let got = store.get_secret(&scope(), "db").await.unwrap().unwrap();
        assert_eq!(got.last_accessed_ms, Some(3 * day));
    });
}

#[tokio::test]
async fn secrets_are_listed_in_byte_order_with_their_versions() {
    for_each_store!("sm_list", |s| {
        let store = &s.store;
        assert!(store.list_secrets(&scope()).await.unwrap().is_empty());
        for (i, name) in ["a_b", "B", "a/b", "A", "a-b", "b"].iter().enumerate() {
            let created = 1_000 + i64::try_from(i).unwrap();
            let v = version(&format!("{name}-v1"), &["AWSCURRENT"], created);
            store.create_secret(&secret(name), Some(&v)).await.unwrap();
        }
        // One without versions, and one in another scope.
        store.create_secret(&secret("a.b"), None).await.unwrap();
        let west = Scope::new("111122223333", "us-west-2");
        store
            .create_secret(&secret_in(&west, "0"), None)
            .await
            .unwrap();
        let listed = store.list_secrets(&scope()).await.unwrap();
        let names: Vec<&str> = listed.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["A", "B", "a-b", "a.b", "a/b", "a_b", "b"]);
        for secret in &listed {
            if secret.name == "a.b" {
                assert!(secret.versions.is_empty());
            } else {
                assert_eq!(secret.versions.len(), 1);
                assert_eq!(secret.versions[0].version_id, format!("{}-v1", secret.name));
            }
            // Listed as read one by one.
            assert_eq!(
                store
                    .get_secret(&scope(), &secret.name)
                    .await
                    .unwrap()
                    .as_ref(),
                Some(secret)
            );
        }
        let listed = store.list_secrets(&west).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "0");
    });
}

#[tokio::test]
async fn a_delete_names_the_revision_and_takes_everything_of_the_secret() {
    for_each_store!("sm_delete", |s| {
        let store = &s.store;
        let current = create_with_v1(store, "db").await;
        store
            .put_secret_rotation(&scope(), "db", &rotation())
            .await
            .unwrap();
        store
            .write_secrets(&[SecretWrite::Replicas {
                scope: &scope(),
                name: "db",
                replicas: &[replica("eu-west-1", true)],
            }])
            .await
            .unwrap();
        assert!(!store.delete_secret(&scope(), "db", 7).await.unwrap());
        assert!(store.get_secret(&scope(), "db").await.unwrap().is_some());
        assert!(
            !store
                .delete_secret(&scope(), "nope", current.revision)
                .await
                .unwrap()
        );
        assert!(
            store
                .delete_secret(&scope(), "db", current.revision)
                .await
                .unwrap()
        );
        assert_eq!(store.get_secret(&scope(), "db").await.unwrap(), None);
        assert_eq!(
            store
                .get_secret_ciphertext(&scope(), "db", "v1")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store.get_secret_rotation(&scope(), "db").await.unwrap(),
            None
        );
        assert!(
            store
                .secret_replicas(&scope(), "db")
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            !store
                .delete_secret(&scope(), "db", current.revision)
                .await
                .unwrap()
        );
        // The name is free again, without what the old secret had.
        store.create_secret(&secret("db"), None).await.unwrap();
        let got = store.get_secret(&scope(), "db").await.unwrap().unwrap();
        assert!(got.versions.is_empty());
        assert_eq!(
            store.get_secret_rotation(&scope(), "db").await.unwrap(),
            None
        );
    });
}

#[tokio::test]
async fn secrets_due_for_purge_come_in_purge_order_across_scopes() {
    for_each_store!("sm_purge", |s| {
        let store = &s.store;
        let west = Scope::new("444455556666", "us-west-2");
        for (scope, name, purge) in [
            (scope(), "late", Some(3_000)),
            (west.clone(), "first", Some(1_000)),
            (scope(), "second", Some(2_000)),
            (scope(), "kept", None),
            (west.clone(), "future", Some(9_000)),
        ] {
            let mut secret = secret_in(&scope, name);
            secret.deleted_ms = purge.map(|p| p - 500);
            secret.purge_ms = purge;
            store.create_secret(&secret, None).await.unwrap();
        }
        assert_eq!(
            store.secrets_due_for_purge(3_000, 10).await.unwrap(),
            vec![
                (west.clone(), "first".to_string()),
                (scope(), "second".to_string()),
                (scope(), "late".to_string()),
            ]
        );
        assert_eq!(
            store.secrets_due_for_purge(3_000, 2).await.unwrap(),
            vec![
                (west.clone(), "first".to_string()),
                (scope(), "second".to_string()),
            ]
        );
        assert!(
            store
                .secrets_due_for_purge(999, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .secrets_due_for_purge(i64::MAX, 10)
                .await
                .unwrap()
                .len(),
            4
        );
    });
}

#[tokio::test]
async fn replication_writes_primary_and_replicas_together() {
    for_each_store!("sm_replication", |s| {
        let store = &s.store;
        let primary = secret("db");
        let east = scope();
        let eu = Scope::new("111122223333", "eu-west-1");
        let ap = Scope::new("111122223333", "ap-south-1");
        let replica_eu = secret_in(&eu, "db");
        let v1 = [version("v1", &["AWSCURRENT"], 1_000)];
        let replicas = [
            replica("us-west-2", false),
            replica("eu-west-1", true),
            replica("ap-south-1", true),
        ];
        let replica_ap = secret_in(&ap, "db");
        store
            .write_secrets(&[
                SecretWrite::Create {
                    secret: &primary,
                    versions: &v1,
                },
                SecretWrite::Create {
                    secret: &replica_eu,
                    versions: &v1,
                },
                SecretWrite::Create {
                    secret: &replica_ap,
                    versions: &[],
                },
                SecretWrite::Replicas {
                    scope: &east,
                    name: "db",
                    replicas: &replicas,
                },
            ])
            .await
            .unwrap();
        // Region order (byte order).
        let listed = store.secret_replicas(&east, "db").await.unwrap();
        assert_eq!(
            listed,
            vec![
                replica("ap-south-1", true),
                replica("eu-west-1", true),
                replica("us-west-2", false),
            ]
        );
        assert!(store.secret_replicas(&eu, "db").await.unwrap().is_empty());
        assert!(store.secret_replicas(&east, "x").await.unwrap().is_empty());
        // A replica knows its primary; a primary or a failed replica has none.
        assert_eq!(
            store.secret_primary_region(&eu, "db").await.unwrap(),
            Some("us-east-1".to_string())
        );
        assert_eq!(
            store.secret_primary_region(&ap, "db").await.unwrap(),
            Some("us-east-1".to_string())
        );
        assert_eq!(
            store.secret_primary_region(&east, "db").await.unwrap(),
            None
        );
        let west = Scope::new("111122223333", "us-west-2");
        assert_eq!(
            store.secret_primary_region(&west, "db").await.unwrap(),
            None
        );
        assert_eq!(
            store
                .get_secret(&eu, "db")
                .await
                .unwrap()
                .unwrap()
                .versions
                .len(),
            1
        );
        // Every secret taking part: the primary under its own region, the replicas under it.
        store.create_secret(&secret("alone"), None).await.unwrap();
        let mut regions = store.secret_primary_regions(&east).await.unwrap();
        regions.sort();
        assert_eq!(regions, vec![("db".to_string(), "us-east-1".to_string())]);
        let mut regions = store.secret_primary_regions(&eu).await.unwrap();
        regions.sort();
        assert_eq!(regions, vec![("db".to_string(), "us-east-1".to_string())]);
        assert!(
            store
                .secret_primary_regions(&west)
                .await
                .unwrap()
                .is_empty()
        );

        // A save of the primary and its replica, a replica dropped, the list replaced.
        let mut p = store.get_secret(&east, "db").await.unwrap().unwrap();
        let mut r = store.get_secret(&ap, "db").await.unwrap().unwrap();
        p.description = Some("new".into());
        r.description = Some("new".into());
        let v2 = [version("v2", &["AWSCURRENT"], 2_000)];
        let eu_revision = store.get_secret(&eu, "db").await.unwrap().unwrap().revision;
        let fewer = [replica("ap-south-1", true)];
        store
            .write_secrets(&[
                SecretWrite::Save {
                    secret: &p,
                    versions: &v2,
                },
                SecretWrite::Save {
                    secret: &r,
                    versions: &v2,
                },
                SecretWrite::Delete {
                    scope: &eu,
                    name: "db",
                    revision: eu_revision,
                },
                SecretWrite::Replicas {
                    scope: &east,
                    name: "db",
                    replicas: &fewer,
                },
            ])
            .await
            .unwrap();
        let p2 = store.get_secret(&east, "db").await.unwrap().unwrap();
        assert_eq!(p2.revision, p.revision + 1);
        assert_eq!(p2.description.as_deref(), Some("new"));
        assert_eq!(p2.versions.len(), 2);
        let r2 = store.get_secret(&ap, "db").await.unwrap().unwrap();
        assert_eq!(r2.revision, r.revision + 1);
        assert_eq!(r2.versions.len(), 1);
        assert_eq!(store.get_secret(&eu, "db").await.unwrap(), None);
        assert_eq!(
            store.secret_replicas(&east, "db").await.unwrap(),
            vec![replica("ap-south-1", true)]
        );
        assert_eq!(store.secret_primary_region(&eu, "db").await.unwrap(), None);
        // No replicas left: the primary no longer takes part.
        store
            .write_secrets(&[SecretWrite::Replicas {
                scope: &east,
                name: "db",
                replicas: &[],
            }])
            .await
            .unwrap();
        assert!(
            store
                .secret_primary_regions(&east)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.secret_primary_regions(&ap).await.unwrap().is_empty());
        // An empty list of writes is nothing.
        store.write_secrets(&[]).await.unwrap();
    });
}

#[tokio::test]
async fn a_failed_write_of_a_list_leaves_nothing() {
    for_each_store!("sm_write_atomic", |s| {
        let store = &s.store;
        let a = create_with_v1(store, "a").await;
        let b = create_with_v1(store, "b").await;
        let replicas = [replica("eu-west-1", true)];
        let v2 = [version("v2", &["AWSCURRENT"], 2_000)];
        let mut stale_b = b.clone();
        stale_b.revision = b.revision - 1;
        let new = secret("new");
        // The conflict comes last: the writes before it are undone.
        let result = store
            .write_secrets(&[
                SecretWrite::Create {
                    secret: &new,
                    versions: &v2,
                },
                SecretWrite::Save {
                    secret: &a,
                    versions: &v2,
                },
                SecretWrite::Replicas {
                    scope: &scope(),
                    name: "a",
                    replicas: &replicas,
                },
                SecretWrite::Save {
                    secret: &stale_b,
                    versions: &v2,
                },
            ])
            .await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_eq!(store.get_secret(&scope(), "a").await.unwrap().unwrap(), a);
        assert_eq!(store.get_secret(&scope(), "b").await.unwrap().unwrap(), b);
        assert_eq!(store.get_secret(&scope(), "new").await.unwrap(), None);
        assert!(
            store
                .secret_replicas(&scope(), "a")
                .await
                .unwrap()
                .is_empty()
        );
        // A delete at a stale revision is a conflict too.
        let result = store
            .write_secrets(&[
                SecretWrite::Save {
                    secret: &a,
                    versions: &v2,
                },
                SecretWrite::Delete {
                    scope: &scope(),
                    name: "b",
                    revision: b.revision + 5,
                },
            ])
            .await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_eq!(store.get_secret(&scope(), "a").await.unwrap().unwrap(), a);
        // A name taken: AlreadyExists, and the save before it undone.
        let result = store
            .write_secrets(&[
                SecretWrite::Save {
                    secret: &a,
                    versions: &v2,
                },
                SecretWrite::Create {
                    secret: &b,
                    versions: &[],
                },
            ])
            .await;
        assert!(
            matches!(result, Err(StoreError::AlreadyExists)),
            "{result:?}"
        );
        assert_eq!(store.get_secret(&scope(), "a").await.unwrap().unwrap(), a);
        assert_eq!(
            store
                .get_secret_ciphertext(&scope(), "a", "v2")
                .await
                .unwrap(),
            None
        );
        // And the same list without the failing write goes through.
        store
            .write_secrets(&[SecretWrite::Save {
                secret: &a,
                versions: &v2,
            }])
            .await
            .unwrap();
        assert_eq!(
            store
                .get_secret(&scope(), "a")
                .await
                .unwrap()
                .unwrap()
                .revision,
            a.revision + 1
        );
    });
}

#[tokio::test]
async fn rotation_records_are_kept_per_secret_and_come_due() {
    for_each_store!("sm_rotation", |s| {
        let store = &s.store;
        assert_eq!(
            store.get_secret_rotation(&scope(), "db").await.unwrap(),
            None
        );
        // Only for an existing secret.
        assert!(matches!(
            store.put_secret_rotation(&scope(), "db", &rotation()).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            store.get_secret_rotation(&scope(), "db").await.unwrap(),
            None
        );
        for name in ["db", "off", "later", "running", "failed", "early"] {
            store.create_secret(&secret(name), None).await.unwrap();
        }
        store
            .put_secret_rotation(&scope(), "db", &rotation())
            .await
            .unwrap();
        assert_eq!(
            store.get_secret_rotation(&scope(), "db").await.unwrap(),
            Some(rotation())
        );
        // Replaced whole.
        let mut progress = rotation();
        progress.token = Some("tok".into());
        progress.rotation_token = Some("rt".into());
        progress.step = Some("setSecret".into());
        progress.state = Some("running".into());
        progress.attempts = 2;
        progress.last_failure = Some("testSecret: timeout".into());
        progress.last_failure_ms = Some(11_000);
        progress.window_start_ms = None;
        progress.window_end_ms = None;
        store
            .put_secret_rotation(&scope(), "running", &progress)
            .await
            .unwrap();
        assert_eq!(
            store
                .get_secret_rotation(&scope(), "running")
                .await
                .unwrap(),
            Some(progress.clone())
        );
        let mut off = rotation();
        off.enabled = false;
        off.window_start_ms = Some(1);
        store
            .put_secret_rotation(&scope(), "off", &off)
            .await
            .unwrap();
        let mut later = rotation();
        later.window_start_ms = Some(50_000);
        store
            .put_secret_rotation(&scope(), "later", &later)
            .await
            .unwrap();
        let mut failed = rotation();
        failed.state = Some("failed".into());
        failed.window_start_ms = Some(12_000);
        store
            .put_secret_rotation(&scope(), "failed", &failed)
            .await
            .unwrap();
        let mut early = rotation();
        early.window_start_ms = Some(5_000);
        store
            .put_secret_rotation(&scope(), "early", &early)
            .await
            .unwrap();
        let due = |names: &[&str]| -> Vec<(Scope, String)> {
            names.iter().map(|n| (scope(), (*n).to_string())).collect()
        };
        // Window order; the running one without a window first.
        assert_eq!(
            store.secret_rotations_due(20_000, 10).await.unwrap(),
            due(&["running", "early", "db", "failed"])
        );
        assert_eq!(
            store.secret_rotations_due(20_000, 2).await.unwrap(),
            due(&["running", "early"])
        );
        assert_eq!(
            store.secret_rotations_due(9_999, 10).await.unwrap(),
            due(&["running", "early"])
        );
        // Going back to rest: no longer due.
        let mut done = progress.clone();
        done.state = None;
        done.window_start_ms = Some(90_000);
        store
            .put_secret_rotation(&scope(), "running", &done)
            .await
            .unwrap();
        assert_eq!(
            store.secret_rotations_due(20_000, 10).await.unwrap(),
            due(&["early", "db", "failed"])
        );
        assert_eq!(
            store
                .get_secret_rotation(&scope(), "running")
                .await
                .unwrap(),
            Some(done)
        );
        // The secret's revision is not the rotation's business.
        assert_eq!(
            store
                .get_secret(&scope(), "db")
                .await
                .unwrap()
                .unwrap()
                .revision,
            1
        );
    });
}

#[tokio::test]
async fn everything_survives_a_restart() {
    for_each_store!("sm_restart", |s| {
        let store = &s.store;
        let current = create_with_v1(store, "db").await;
        let v2 = version("v2", &["AWSPENDING"], 2_000);
        store.save_secret(&current, Some(&v2)).await.unwrap();
        store
            .touch_secret(&scope(), "db", "v1", 86_400_000)
            .await
            .unwrap();
        store
            .put_secret_rotation(&scope(), "db", &rotation())
            .await
            .unwrap();
        let eu = Scope::new("111122223333", "eu-west-1");
        let replica_eu = secret_in(&eu, "db");
        store
            .write_secrets(&[
                SecretWrite::Create {
                    secret: &replica_eu,
                    versions: &[],
                },
                SecretWrite::Replicas {
                    scope: &scope(),
                    name: "db",
                    replicas: &[replica("eu-west-1", true)],
                },
            ])
            .await
            .unwrap();
        for name in ["b", "a/b", "A"] {
            store.create_secret(&secret(name), None).await.unwrap();
        }
        let before = store.list_secrets(&scope()).await.unwrap();
        let secret_before = store.get_secret(&scope(), "db").await.unwrap();
        store.close().await;

        let reopened = s.reopen().await;
        assert_eq!(reopened.list_secrets(&scope()).await.unwrap(), before);
        assert_eq!(
            reopened.get_secret(&scope(), "db").await.unwrap(),
            secret_before
        );
        for id in ["v1", "v2"] {
            assert_eq!(
                reopened
                    .get_secret_ciphertext(&scope(), "db", id)
                    .await
                    .unwrap(),
                Some(format!("blob of {id}").into_bytes())
            );
        }
        assert_eq!(
            reopened.get_secret_rotation(&scope(), "db").await.unwrap(),
            Some(rotation())
        );
        assert_eq!(
            reopened.secret_replicas(&scope(), "db").await.unwrap(),
            vec![replica("eu-west-1", true)]
        );
        assert_eq!(
            reopened.secret_primary_region(&eu, "db").await.unwrap(),
            Some("us-east-1".to_string())
        );
        reopened.close().await;
    });
}

// --- concurrency ---

#[tokio::test]
async fn two_nodes_saving_the_same_revision_one_wins() {
    for_each_store!("sm_save_race", |s| {
        let first = create_with_v1(&s.store, "db").await;
        let a = s.reopen().await;
        let b = s.reopen().await;
        let mut current = first;
        for round in 0..5 {
            let mut tasks = Vec::new();
            for (i, store) in [a.clone(), b.clone()].into_iter().enumerate() {
                let mut mine = current.clone();
                mine.description = Some(format!("round {round} by {i}"));
                tasks.push(tokio::spawn(async move {
                    let v = version(&format!("r{round}-{i}"), &["AWSCURRENT"], 2_000 + round);
                    store.save_secret(&mine, Some(&v)).await
                }));
            }
            let mut won = Vec::new();
            for (i, t) in tasks.into_iter().enumerate() {
                match t.await.unwrap() {
                    Ok(rev) => {
                        assert_eq!(rev, current.revision + 1);
                        won.push(i);
                    }
                    Err(StoreError::Conflict) => {}
                    Err(e) => panic!("{e:?}"),
                }
            }
            assert_eq!(won.len(), 1, "round {round}");
            let winner = won[0];
            current = fresh(&s.store, "db").await;
            assert_eq!(
                current.description,
                Some(format!("round {round} by {winner}"))
            );
            let loser = 1 - winner;
            assert!(
                !current
                    .versions
                    .iter()
                    .any(|v| v.version_id == format!("r{round}-{loser}"))
            );
        }
        a.close().await;
        b.close().await;
    });
}

/// The current record through `store`. PostgreSQL nodes share one database and keep their
/// caches coherent through notifications, so `get_secret` is eventually fresh. An embedded
/// store is served by one process only: a second handle's cache never hears of the first's
/// writes, so a read-check-write loop there reads through the uncached list.
async fn read_current(store: &Arc<dyn Store>, shared: bool, name: &str) -> SecretRecord {
    if shared {
        store.get_secret(&scope(), name).await.unwrap().unwrap()
    } else {
        fresh(store, name).await
    }
}

/// The secret as stored now, whatever any cache holds (the list is not cached).
async fn fresh(store: &Arc<dyn Store>, name: &str) -> SecretRecord {
    store
        .list_secrets(&scope())
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap()
}

#[tokio::test]
async fn concurrent_writers_with_retries_lose_no_version() {
    const WRITERS: usize = 4;
    const WRITES: usize = 5;
    for_each_store!("sm_no_lost_version", |s| {
        let first = create_with_v1(&s.store, "db").await;
        let shared = s.is_postgres();
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let store = s.reopen().await;
            tasks.push(tokio::spawn(async move {
                let mut conflicts = 0u32;
                for m in 0..WRITES {
                    let id = format!("w{w}-{m}");
                    loop {
                        let mut current = read_current(&store, shared, "db").await;
                        // PutSecretValue: the new version takes AWSCURRENT.
                        for v in &mut current.versions {
                            v.stages.retain(|s| s != "AWSCURRENT");
                        }
                        let v = version(&id, &["AWSCURRENT"], 2_000);
                        match store.save_secret(&current, Some(&v)).await {
                            Ok(_) => break,
                            Err(StoreError::Conflict) => {
                                conflicts += 1;
                                assert!(conflicts < 10_000, "no progress");
                                tokio::time::sleep(Duration::from_millis(2)).await;
                            }
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                }
                store.close().await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let other = s.reopen().await;
        let last = other.get_secret(&scope(), "db").await.unwrap().unwrap();
        let total = i64::try_from(WRITERS * WRITES).unwrap();
        assert_eq!(last.revision, first.revision + total);
        let mut ids: Vec<String> = last.versions.iter().map(|v| v.version_id.clone()).collect();
        assert_eq!(ids.len(), WRITERS * WRITES + 1);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), WRITERS * WRITES + 1);
        // Exactly one AWSCURRENT: no two writers moved it from the same state.
        let current: Vec<_> = last
            .versions
            .iter()
            .filter(|v| v.stages.iter().any(|s| s == "AWSCURRENT"))
            .collect();
        assert_eq!(current.len(), 1);
        other.close().await;
    });
}

#[tokio::test]
async fn racing_creates_of_one_name_make_one_secret() {
    for_each_store!("sm_create_race", |s| {
        let mut tasks = Vec::new();
        for i in 0..6 {
            let store = s.reopen().await;
            tasks.push(tokio::spawn(async move {
                let mut mine = secret("db");
                mine.arn = format!("{}-{i}", mine.arn);
                mine.description = Some(format!("by {i}"));
                let v = version(&format!("v-{i}"), &["AWSCURRENT"], 1_000);
                let result = store.create_secret(&mine, Some(&v)).await;
                store.close().await;
                result
            }));
        }
        let mut winners = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(()) => winners.push(i),
                Err(StoreError::AlreadyExists) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(winners.len(), 1);
        let got = fresh(&s.store, "db").await;
        assert_eq!(got.description, Some(format!("by {}", winners[0])));
        assert_eq!(got.versions.len(), 1);
        assert_eq!(got.versions[0].version_id, format!("v-{}", winners[0]));
    });
}

#[tokio::test]
async fn racing_lists_of_writes_apply_whole_or_not_at_all() {
    for_each_store!("sm_write_race", |s| {
        // Two nodes replicate a change of the same primary and replica at the same revisions:
        // one list applies whole, the other not at all.
        let east = scope();
        let eu = Scope::new("111122223333", "eu-west-1");
        let v1 = [version("v1", &["AWSCURRENT"], 1_000)];
        let primary = secret("db");
        let replica_eu = secret_in(&eu, "db");
        s.store
            .write_secrets(&[
                SecretWrite::Create {
                    secret: &primary,
                    versions: &v1,
                },
                SecretWrite::Create {
                    secret: &replica_eu,
                    versions: &v1,
                },
            ])
            .await
            .unwrap();
        let p = s.store.get_secret(&east, "db").await.unwrap().unwrap();
        let r = s.store.get_secret(&eu, "db").await.unwrap().unwrap();
        let mut tasks = Vec::new();
        for i in 0..2 {
            let store = s.reopen().await;
            let (mut p, mut r) = (p.clone(), r.clone());
            p.description = Some(format!("by {i}"));
            r.description = Some(format!("by {i}"));
            tasks.push(tokio::spawn(async move {
                let v = [version(&format!("v2-{i}"), &["AWSCURRENT"], 2_000)];
                let result = store
                    .write_secrets(&[
                        SecretWrite::Save {
                            secret: &p,
                            versions: &v,
                        },
                        SecretWrite::Save {
                            secret: &r,
                            versions: &v,
                        },
                    ])
                    .await;
                store.close().await;
                result
            }));
        }
        let mut winners = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(()) => winners.push(i),
                Err(StoreError::Conflict) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(winners.len(), 1);
        let reader = s.reopen().await;
        for scope in [&east, &eu] {
            let got = reader.get_secret(scope, "db").await.unwrap().unwrap();
            assert_eq!(got.revision, 2);
            assert_eq!(got.description, Some(format!("by {}", winners[0])));
            let ids: Vec<_> = got.versions.iter().map(|v| v.version_id.as_str()).collect();
            assert_eq!(ids, ["v1".to_string(), format!("v2-{}", winners[0])]);
        }
        reader.close().await;
    });
}

// --- notifications and the cache of another node (PostgreSQL) ---

/// An account of its own for a test that listens to notifications: the channel is shared by
/// every schema of the database, so by every test running at the same time.
fn own_account() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "9{:05}{:06}",
        std::process::id() % 100_000,
        nanos % 1_000_000
    )
}

/// The changes `other` receives, once its listener listens (a write committed before would
/// not be heard): `writer` writes probe secrets, in an account of their own, until `other`
/// hears of one.
async fn listening(
    writer: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
    account: &str,
) -> broadcast::Receiver<Change> {
    let mut rx = other.subscribe_changes().unwrap();
    let probe = Scope::new(format!("{account}-probe"), "us-east-1");
    for i in 0..50 {
        writer
            .create_secret(&secret_in(&probe, &format!("p{i}")), None)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
        while let Ok(received) = tokio::time::timeout_at(deadline, rx.recv()).await {
            if matches!(&received, Ok(Change::Secret { scope, .. }) if *scope == probe) {
                return rx;
            }
        }
    }
    panic!("the other node never listened");
}

/// The next change of a secret of `account`, within 5 s (other changes are other tests').
async fn next_change(rx: &mut broadcast::Receiver<Change>, account: &str) -> Change {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(change @ Change::Secret { .. })) if mine(&change, account) => return change,
            Ok(Ok(_)) => {}
            other => panic!("no change notified: {other:?}"),
        }
    }
}

fn mine(change: &Change, account: &str) -> bool {
    matches!(change, Change::Secret { scope, .. } if scope.account_id == account)
}

fn changed(scope: &Scope, name: &str) -> Change {
    Change::Secret {
        scope: scope.clone(),
        name: name.to_owned(),
    }
}

#[tokio::test]
async fn every_secret_write_notifies_the_other_nodes() {
    for_each_store!("sm_notify", |s| {
        if s.is_postgres() {
            let store = &s.store;
            let other = s.reopen().await;
            let acct = own_account();
            let mut rx = listening(store, &other, &acct).await;
            let east = Scope::new(acct.as_str(), "us-east-1");
            let eu = Scope::new(acct.as_str(), "eu-west-1");
            let v1 = version("v1", &["AWSCURRENT"], 1_000);

            store
                .create_secret(&secret_in(&east, "db"), Some(&v1))
                .await
                .unwrap();
            assert_eq!(next_change(&mut rx, &acct).await, changed(&east, "db"));
            let current = store.get_secret(&east, "db").await.unwrap().unwrap();
            let v2 = version("v2", &["AWSCURRENT"], 2_000);
            let rev = store.save_secret(&current, Some(&v2)).await.unwrap();
            assert_eq!(next_change(&mut rx, &acct).await, changed(&east, "db"));
            store
                .touch_secret(&east, "db", "v2", 86_400_000)
                .await
                .unwrap();
            assert_eq!(next_change(&mut rx, &acct).await, changed(&east, "db"));
            // A touch that changes nothing tells nobody: the next change is the rotation's.
            store
                .touch_secret(&east, "db", "v2", 86_400_000)
                .await
                .unwrap();
            store
                .put_secret_rotation(&east, "db", &rotation())
                .await
                .unwrap();
            assert_eq!(next_change(&mut rx, &acct).await, changed(&east, "db"));

            // Every secret of a list.
            let replica_eu = secret_in(&eu, "db");
            let mut p = store.get_secret(&east, "db").await.unwrap().unwrap();
            assert_eq!(p.revision, rev);
            p.description = Some("replicated".into());
            store
                .write_secrets(&[
                    SecretWrite::Save {
                        secret: &p,
                        versions: &[],
                    },
                    SecretWrite::Create {
                        secret: &replica_eu,
                        versions: &[],
                    },
                    SecretWrite::Replicas {
                        scope: &east,
                        name: "db",
                        replicas: &[replica("eu-west-1", true)],
                    },
                ])
                .await
                .unwrap();
            // Notifications of one transaction come once each, in order.
            assert_eq!(next_change(&mut rx, &acct).await, changed(&east, "db"));
            assert_eq!(next_change(&mut rx, &acct).await, changed(&eu, "db"));
            store
                .write_secrets(&[SecretWrite::Delete {
                    scope: &eu,
                    name: "db",
                    revision: replica_eu.revision,
                }])
                .await
                .unwrap();
            assert_eq!(next_change(&mut rx, &acct).await, changed(&eu, "db"));
            // A delete that did nothing tells nobody; one that did, does.
            assert!(!store.delete_secret(&east, "db", 99).await.unwrap());
            assert!(store.delete_secret(&east, "db", rev + 1).await.unwrap());
            assert_eq!(next_change(&mut rx, &acct).await, changed(&east, "db"));
            // A failed write tells nobody.
            store
                .create_secret(&secret_in(&east, "b"), Some(&v1))
                .await
                .unwrap();
            assert_eq!(next_change(&mut rx, &acct).await, changed(&east, "b"));
            let b = store.get_secret(&east, "b").await.unwrap().unwrap();
            let mut stale = b.clone();
            stale.revision = 0;
            assert!(store.save_secret(&stale, None).await.is_err());
            assert!(store.create_secret(&b, None).await.is_err());
            store.save_secret(&b, None).await.unwrap();
            assert_eq!(next_change(&mut rx, &acct).await, changed(&east, "b"));
            // Nothing more.
            let quiet = tokio::time::Instant::now() + Duration::from_millis(300);
            while let Ok(change) = tokio::time::timeout_at(quiet, rx.recv()).await {
                let change = change.unwrap();
                assert!(!mine(&change, &acct), "{change:?}");
            }
            other.close().await;
        }
    });
}

/// Polls `check` for up to 5 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still stale"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_node_does_not_serve_a_secret_another_node_changed() {
    for_each_store!("sm_cache_coherence", |s| {
        // The writer's own cache, on every store.
        // An account of its own: the other tests' notifications must not do the work.
        let sc = Scope::new(own_account(), "us-east-1");
        let store = &s.store;
        let v1 = version("v1", &["AWSCURRENT"], 1_000);
        store
            .create_secret(&secret_in(&sc, "db"), Some(&v1))
            .await
            .unwrap();
        let first = store.get_secret(&sc, "db").await.unwrap().unwrap();
        assert_eq!(store.get_secret(&sc, "db").await.unwrap().unwrap(), first);
        let pending = placeholder("p1", 2_000);
        store.save_secret(&first, Some(&pending)).await.unwrap();
        let second = store.get_secret(&sc, "db").await.unwrap().unwrap();
        assert_eq!(second.revision, first.revision + 1);
        assert_eq!(
            store.get_secret_ciphertext(&sc, "db", "p1").await.unwrap(),
            Some(Vec::new())
        );

        if s.is_postgres() {
            // Another node, its cache filled with what it read.
            let other = s.reopen().await;
            let _rx = listening(store, &other, &sc.account_id).await;
            assert_eq!(other.get_secret(&sc, "db").await.unwrap().unwrap(), second);
            assert_eq!(
                other.get_secret_ciphertext(&sc, "db", "p1").await.unwrap(),
                Some(Vec::new())
            );
            // The value of the placeholder arrives through this node.
            let value = version("p1", &["AWSPENDING"], 2_000);
            store.save_secret(&second, Some(&value)).await.unwrap();
            let third = store.get_secret(&sc, "db").await.unwrap().unwrap();
            eventually("secret", || {
                let other = other.clone();
                let sc = sc.clone();
                let third = third.clone();
                async move { other.get_secret(&sc, "db").await.unwrap() == Some(third) }
            })
            .await;
            eventually("ciphertext", || {
                let other = other.clone();
                let sc = sc.clone();
                async move {
                    other
                        .get_secret_ciphertext(&sc, "db", "p1")
                        .await
                        .unwrap()
                        .as_deref()
                        == Some(&b"blob of p1"[..])
                }
            })
            .await;
            // A touch and a delete too.
            store
                .touch_secret(&sc, "db", "v1", 86_400_000)
                .await
                .unwrap();
            eventually("touch", || {
                let other = other.clone();
                let sc = sc.clone();
                async move {
                    other
                        .get_secret(&sc, "db")
                        .await
                        .unwrap()
                        .and_then(|s| s.last_accessed_ms)
                        == Some(86_400_000)
                }
            })
            .await;
            let latest = store.get_secret(&sc, "db").await.unwrap().unwrap();
            assert!(
                store
                    .delete_secret(&sc, "db", latest.revision)
                    .await
                    .unwrap()
            );
            eventually("delete", || {
                let other = other.clone();
                let sc = sc.clone();
                async move {
                    other.get_secret(&sc, "db").await.unwrap().is_none()
                        && other
                            .get_secret_ciphertext(&sc, "db", "p1")
                            .await
                            .unwrap()
                            .is_none()
                }
            })
            .await;
            other.close().await;
        }
    });
}
