//! Conformance of the kms part of the store: keys and their materials, usage, import
//! parameters, aliases and grants; their races between nodes, restarts and notifications.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use trent_crypto::SecretBytes;
use trent_store::{
    AliasRecord, Change, GrantRecord, ImportParameters, KeyMaterial, KeyRecord, KeyUsageRecord,
    Scope, Store, StoreError,
};

use crate::harness::for_each_store;

const ACCOUNT: &str = "111122223333";
const MRK: &str = "mrk-0123456789abcdef0123456789abcdef";

fn scope() -> Scope {
    Scope::new(ACCOUNT, "us-east-1")
}

fn key(scope: &Scope, key_id: &str) -> KeyRecord {
    KeyRecord {
        scope: scope.clone(),
        key_id: key_id.to_string(),
        seq: 0,
        description: String::new(),
        key_spec: "SYMMETRIC_DEFAULT".to_string(),
        key_usage: "ENCRYPT_DECRYPT".to_string(),
        origin: "AWS_KMS".to_string(),
        key_manager: "CUSTOMER".to_string(),
        state: "Enabled".to_string(),
        created_ms: 1_000,
        deletion_ms: None,
        pending_window_days: None,
        policy: "{}".to_string(),
        tags: Vec::new(),
        current_material_id: "m1".to_string(),
        multi_region: false,
        rotation_period_days: None,
        next_rotation_ms: None,
        version: 1,
        valid_to_ms: None,
        expiration_model: None,
        primary_region: None,
    }
}

/// A key of a multi-Region set (the ported SQLite test's record).
fn mrk(region: &str, material_id: &str) -> KeyRecord {
    KeyRecord {
        multi_region: true,
        primary_region: Some("us-east-1".to_string()),
        current_material_id: material_id.to_string(),
        created_ms: 1,
        ..key(&Scope::new(ACCOUNT, region), MRK)
    }
}

fn material(id: &str, byte: u8, created_ms: i64) -> KeyMaterial {
    KeyMaterial {
        material_id: id.to_string(),
        created_ms,
        rotation_type: None,
        secret: SecretBytes::new(vec![byte; 32]),
    }
}

fn alias(scope: &Scope, name: &str, key_id: &str) -> AliasRecord {
    AliasRecord {
        scope: scope.clone(),
        alias_name: name.to_string(),
        key_id: key_id.to_string(),
        created_ms: 5,
        updated_ms: 5,
    }
}

fn grant(scope: &Scope, key_id: &str, grant_id: &str, created_ms: i64) -> GrantRecord {
    GrantRecord {
        scope: scope.clone(),
        key_id: key_id.to_string(),
        grant_id: grant_id.to_string(),
        name: Some(format!("name-{grant_id}")),
        grantee_principal: "arn:aws:iam::111122223333:role/grantee".to_string(),
        retiring_principal: Some("arn:aws:iam::111122223333:role/retirer".to_string()),
        operations: vec!["Encrypt".to_string(), "Decrypt".to_string()],
        constraints: Some("{\"EncryptionContextSubset\":{\"a\":\"b\"}}".to_string()),
        issuing_account: ACCOUNT.to_string(),
        created_ms,
        token_hash: format!("token-{key_id}-{grant_id}").into_bytes(),
    }
}

fn import_params(
    scope: &Scope,
    token_id: &str,
    key_id: &str,
    valid_to_ms: i64,
) -> ImportParameters {
    ImportParameters {
        scope: scope.clone(),
        token_id: token_id.to_string(),
        key_id: key_id.to_string(),
        token_check: vec![7; 32],
        wrapping_algorithm: "RSAES_OAEP_SHA_256".to_string(),
        wrapping_key_spec: "RSA_2048".to_string(),
        created_ms: 10,
        valid_to_ms,
        private_key: SecretBytes::new(b"pkcs8 private key".to_vec()),
    }
}

fn usage(scope: &Scope, key_id: &str, operation: &str, used_ms: i64) -> KeyUsageRecord {
    KeyUsageRecord {
        scope: scope.clone(),
        key_id: key_id.to_string(),
        operation: operation.to_string(),
        used_ms,
        request_id: format!("req-{used_ms}"),
    }
}

async fn get(store: &Arc<dyn Store>, scope: &Scope, key_id: &str) -> KeyRecord {
    store.get_key(scope, key_id).await.unwrap().unwrap()
}

fn ids(materials: &[KeyMaterial]) -> Vec<&str> {
    materials.iter().map(|m| m.material_id.as_str()).collect()
}

fn sorted(mut v: Vec<(Scope, String)>) -> Vec<(Scope, String)> {
    v.sort();
    v
}

fn alias_names(aliases: &[AliasRecord]) -> Vec<&str> {
    aliases.iter().map(|a| a.alias_name.as_str()).collect()
}

#[tokio::test]
async fn keys_are_created_versioned_listed_and_deleted() {
    for_each_store!("kms_keys", |s| {
        let store = &s.store;
        let sc = scope();
        let mut k1 = key(&sc, "k1");
        k1.tags = vec![("team".into(), "a/b".into()), ("env".into(), "prod".into())];
        k1.description = "first".into();
        store
            .create_key(&k1, Some(&material("m1", 1, 100)))
            .await
            .unwrap();
        assert!(matches!(
            store.create_key(&k1, None).await,
            Err(StoreError::AlreadyExists)
        ));
        // The failed create left the stored material alone.
        let m = store.key_materials(&sc, "k1").await.unwrap();
        assert_eq!(ids(&m), ["m1"]);
        assert_eq!(m[0].secret.expose_secret(), &[1; 32]);
        assert_eq!(m[0].created_ms, 100);
        assert_eq!(m[0].rotation_type, None);

        let stored = get(store, &sc, "k1").await;
        assert_eq!(
            KeyRecord {
                seq: 0,
                ..stored.clone()
            },
            k1
        );
        assert!(stored.seq > 0);
        assert!(store.get_key(&sc, "nope").await.unwrap().is_none());
        assert!(
            store
                .get_key(&Scope::new(ACCOUNT, "eu-west-1"), "k1")
                .await
                .unwrap()
                .is_none()
        );

        // Version-checked updates of every mutable field.
        let mut next = stored.clone();
        next.description = "changed".into();
        next.state = "PendingDeletion".into();
        next.deletion_ms = Some(9_000);
        next.pending_window_days = Some(7);
        next.policy = "{\"p\":1}".into();
        next.tags = vec![("x".into(), "y".into())];
        next.current_material_id = "m2".into();
        next.rotation_period_days = Some(90);
        next.next_rotation_ms = Some(8_000);
        next.valid_to_ms = Some(7_000);
        next.expiration_model = Some("KEY_MATERIAL_EXPIRES".into());
        next.primary_region = Some("us-east-1".into());
        assert_eq!(store.update_key(&next).await.unwrap(), 2);
        assert_eq!(
            get(store, &sc, "k1").await,
            KeyRecord {
                version: 2,
                ..next.clone()
            }
        );
        assert!(matches!(
            store.update_key(&next).await,
            Err(StoreError::Conflict)
        ));
        assert!(matches!(
            store.update_key(&key(&sc, "missing")).await,
            Err(StoreError::Conflict)
        ));

        // Scheduled work, in any scope, inclusive of now.
        let other = Scope::new("444455556666", "eu-west-1");
        let mut k2 = key(&other, "k2");
        k2.next_rotation_ms = Some(8_000);
        k2.deletion_ms = Some(20_000);
        k2.valid_to_ms = Some(6_999);
        store.create_key(&k2, None).await.unwrap();
        assert_eq!(store.keys_due_for_rotation(7_999).await.unwrap(), vec![]);
        assert_eq!(
            sorted(store.keys_due_for_rotation(8_000).await.unwrap()),
            vec![(sc.clone(), "k1".into()), (other.clone(), "k2".into())]
        );
        assert_eq!(
            store.keys_due_for_deletion(9_000).await.unwrap(),
            vec![(sc.clone(), "k1".into())]
        );
        assert_eq!(
            sorted(store.keys_due_for_deletion(20_000).await.unwrap()),
            vec![(sc.clone(), "k1".into()), (other.clone(), "k2".into())]
        );
        assert_eq!(
            store.keys_with_expired_material(6_999).await.unwrap(),
            vec![(other.clone(), "k2".into())]
        );
        assert_eq!(
            sorted(store.keys_with_expired_material(7_000).await.unwrap()),
            vec![(sc.clone(), "k1".into()), (other.clone(), "k2".into())]
        );

        // related_keys finds single-Region keys only through their multi-Region flag.
        assert!(store.related_keys(ACCOUNT, "k1").await.unwrap().is_empty());

        // Listing pages by creation order, within the scope.
        for id in ["k3", "k4", "k5", "k6"] {
            store.create_key(&key(&sc, id), None).await.unwrap();
        }
        let mut seen = Vec::new();
        let mut after = 0;
        loop {
            let page = store.list_keys(&sc, after, 2).await.unwrap();
            assert!(page.len() <= 2);
            let Some(last) = page.last() else { break };
            after = last.seq;
            seen.extend(page.iter().map(|k| k.key_id.clone()));
        }
        assert_eq!(seen, ["k1", "k3", "k4", "k5", "k6"]);
        let all = store.list_keys(&sc, 0, 100).await.unwrap();
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(
            store
                .list_keys(&other, 0, 100)
                .await
                .unwrap()
                .iter()
                .map(|k| k.key_id.as_str())
                .collect::<Vec<_>>(),
            ["k2"]
        );
        assert!(store.list_keys(&sc, 0, 0).await.unwrap().is_empty());

        // Materials in creation order, then insertion order.
        let k3 = get(store, &sc, "k3").await;
        let mut k3_next = k3.clone();
        k3_next.current_material_id = "z".into();
        assert_eq!(
            store
                .add_key_material(&k3_next, &material("z", 3, 50))
                .await
                .unwrap(),
            2
        );
        let mut k3_next = get(store, &sc, "k3").await;
        k3_next.current_material_id = "a".into();
        let rotated = KeyMaterial {
            rotation_type: Some("ON_DEMAND".into()),
            ..material("a", 4, 50)
        };
        assert_eq!(store.add_key_material(&k3_next, &rotated).await.unwrap(), 3);
        let mut k3_next = get(store, &sc, "k3").await;
        k3_next.current_material_id = "b".into();
        store
            .add_key_material(&k3_next, &material("b", 5, 10))
            .await
            .unwrap();
        let m = store.key_materials(&sc, "k3").await.unwrap();
        assert_eq!(ids(&m), ["b", "z", "a"]);
        assert_eq!(m[2].rotation_type.as_deref(), Some("ON_DEMAND"));
        assert_eq!(m[2].secret.expose_secret(), &[4; 32]);
        // A stale version adds nothing; an existing material id is refused.
        assert!(matches!(
            store
                .add_key_material(&k3_next, &material("c", 6, 60))
                .await,
            Err(StoreError::Conflict)
        ));
        let mut k3_next = get(store, &sc, "k3").await;
        assert!(
            store
                .add_key_material(&k3_next, &material("a", 6, 60))
                .await
                .is_err()
        );
        assert_eq!(store.key_materials(&sc, "k3").await.unwrap().len(), 3);
        assert_eq!(get(store, &sc, "k3").await.version, k3_next.version);
        k3_next.description = "still writable".into();
        store.update_key(&k3_next).await.unwrap();

        // Deleting a key takes everything of it, and nothing of the others.
        store
            .create_alias(&alias(&sc, "alias/k3", "k3"))
            .await
            .unwrap();
        store
            .create_alias(&alias(&sc, "alias/k4", "k4"))
            .await
            .unwrap();
        store
            .create_grant(&grant(&sc, "k3", "g1", 1))
            .await
            .unwrap();
        store
            .create_grant(&grant(&sc, "k4", "g1", 1))
            .await
            .unwrap();
        store
            .put_import_parameters(&import_params(&sc, "t3", "k3", 10_000))
            .await
            .unwrap();
        store
            .record_key_usage(&[usage(&sc, "k3", "Encrypt", 5)])
            .await
            .unwrap();
        store.delete_key(&sc, "k3").await.unwrap();
        assert!(store.get_key(&sc, "k3").await.unwrap().is_none());
        assert!(store.key_materials(&sc, "k3").await.unwrap().is_empty());
        assert!(store.get_alias(&sc, "alias/k3").await.unwrap().is_none());
        assert!(store.key_grants(&sc, "k3").await.unwrap().is_empty());
        assert!(
            store
                .get_import_parameters(&sc, "t3")
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.key_usage(&sc, "k3").await.unwrap().is_none());
        assert!(store.get_alias(&sc, "alias/k4").await.unwrap().is_some());
        assert_eq!(store.key_grants(&sc, "k4").await.unwrap().len(), 1);
        // Deleting what does not exist is not an error.
        store.delete_key(&sc, "k3").await.unwrap();
        // A new key after a deletion still lists after the others.
        store.create_key(&key(&sc, "k0"), None).await.unwrap();
        let all = store.list_keys(&sc, 0, 100).await.unwrap();
        assert_eq!(all.last().unwrap().key_id, "k0");
    });
}

#[tokio::test]
async fn imported_material_is_replaced_and_deleted_with_version_checks() {
    for_each_store!("kms_import_material", |s| {
        let store = &s.store;
        let sc = scope();
        let mut k = key(&sc, "ext");
        k.origin = "EXTERNAL".into();
        k.state = "PendingImport".into();
        k.current_material_id = String::new();
        store.create_key(&k, None).await.unwrap();
        assert!(store.key_materials(&sc, "ext").await.unwrap().is_empty());

        let mut next = get(store, &sc, "ext").await;
        next.state = "Enabled".into();
        next.current_material_id = "imp".into();
        next.valid_to_ms = Some(50_000);
        next.expiration_model = Some("KEY_MATERIAL_EXPIRES".into());
        assert_eq!(
            store
                .put_imported_material(&next, &material("imp", 1, 100))
                .await
                .unwrap(),
            2
        );
        // The same material imported again replaces the stored copy (one row, kept in place).
        next.version = 2;
        assert_eq!(
            store
                .put_imported_material(&next, &material("imp", 2, 999))
                .await
                .unwrap(),
            3
        );
        let m = store.key_materials(&sc, "ext").await.unwrap();
        assert_eq!(ids(&m), ["imp"]);
        assert_eq!(m[0].secret.expose_secret(), &[2; 32]);
        assert_eq!(m[0].created_ms, 100);
        // Stale: nothing changes.
        assert!(matches!(
            store
                .put_imported_material(&next, &material("imp", 3, 100))
                .await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            store.key_materials(&sc, "ext").await.unwrap()[0]
                .secret
                .expose_secret(),
            &[2; 32]
        );

        let mut gone = get(store, &sc, "ext").await;
        gone.state = "PendingImport".into();
        gone.valid_to_ms = None;
        gone.expiration_model = None;
        let mut stale = gone.clone();
        stale.version -= 1;
        assert!(matches!(
            store.delete_key_materials(&stale).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(store.key_materials(&sc, "ext").await.unwrap().len(), 1);
        assert_eq!(store.delete_key_materials(&gone).await.unwrap(), 4);
        assert!(store.key_materials(&sc, "ext").await.unwrap().is_empty());
        let stored = get(store, &sc, "ext").await;
        assert_eq!(stored.state, "PendingImport");
        assert_eq!(stored.valid_to_ms, None);
    });
}

#[tokio::test]
async fn key_usage_keeps_the_latest_entry_of_existing_keys() {
    for_each_store!("kms_usage", |s| {
        let store = &s.store;
        let sc = scope();
        store.create_key(&key(&sc, "k"), None).await.unwrap();
        store.record_key_usage(&[]).await.unwrap();
        assert!(store.key_usage(&sc, "k").await.unwrap().is_none());
        store
            .record_key_usage(&[
                usage(&sc, "k", "Encrypt", 10),
                usage(&sc, "gone", "Decrypt", 10),
            ])
            .await
            .unwrap();
        assert_eq!(
            store.key_usage(&sc, "k").await.unwrap(),
            Some(usage(&sc, "k", "Encrypt", 10))
        );
        assert!(store.key_usage(&sc, "gone").await.unwrap().is_none());
        // Older entries are ignored, equal or newer ones replace.
        store
            .record_key_usage(&[usage(&sc, "k", "Sign", 5)])
            .await
            .unwrap();
        assert_eq!(
            store.key_usage(&sc, "k").await.unwrap().unwrap().operation,
            "Encrypt"
        );
        store
            .record_key_usage(&[usage(&sc, "k", "Decrypt", 20), usage(&sc, "k", "Sign", 15)])
            .await
            .unwrap();
        assert_eq!(
            store.key_usage(&sc, "k").await.unwrap(),
            Some(usage(&sc, "k", "Decrypt", 20))
        );
        store
            .record_key_usage(&[usage(&sc, "k", "GenerateDataKey", 20)])
            .await
            .unwrap();
        assert_eq!(
            store.key_usage(&sc, "k").await.unwrap().unwrap().operation,
            "GenerateDataKey"
        );
        assert!(
            store
                .key_usage(&Scope::new(ACCOUNT, "eu-west-1"), "k")
                .await
                .unwrap()
                .is_none()
        );
    });
}

#[tokio::test]
async fn import_parameters_are_sealed_unique_and_expire() {
    for_each_store!("kms_import_params", |s| {
        let store = &s.store;
        let sc = scope();
        let p = import_params(&sc, "tok-1", "ext", 1_000);
        store.put_import_parameters(&p).await.unwrap();
        assert!(matches!(
            store
                .put_import_parameters(&import_params(&sc, "tok-1", "other", 5_000))
                .await,
            Err(StoreError::AlreadyExists)
        ));
        // The same token id in another scope is another row.
        let west = Scope::new(ACCOUNT, "eu-west-1");
        store
            .put_import_parameters(&import_params(&west, "tok-1", "ext", 3_000))
            .await
            .unwrap();
        store
            .put_import_parameters(&import_params(&sc, "tok-2", "ext", 2_000))
            .await
            .unwrap();
        let got = store
            .get_import_parameters(&sc, "tok-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.scope, sc);
        assert_eq!(got.token_id, "tok-1");
        assert_eq!(got.key_id, "ext");
        assert_eq!(got.token_check, vec![7; 32]);
        assert_eq!(got.wrapping_algorithm, "RSAES_OAEP_SHA_256");
        assert_eq!(got.wrapping_key_spec, "RSA_2048");
        assert_eq!(got.created_ms, 10);
        assert_eq!(got.valid_to_ms, 1_000);
        assert_eq!(got.private_key.expose_secret(), b"pkcs8 private key");
        assert!(
            store
                .get_import_parameters(&sc, "tok-9")
                .await
                .unwrap()
                .is_none()
        );
        // Strictly before.
        assert_eq!(
            store.delete_import_parameters_before(1_000).await.unwrap(),
            0
        );
        assert_eq!(
            store.delete_import_parameters_before(2_001).await.unwrap(),
            2
        );
        assert!(
            store
                .get_import_parameters(&sc, "tok-1")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .get_import_parameters(&west, "tok-1")
                .await
                .unwrap()
                .is_some()
        );
    });
}

#[tokio::test]
async fn aliases_are_unique_and_listed_in_byte_order() {
    for_each_store!("kms_aliases", |s| {
        let store = &s.store;
        let sc = scope();
        let names = ["alias/a/b", "alias/a-b", "alias/A", "alias/a_b", "alias/B"];
        for (i, name) in names.iter().enumerate() {
            let key_id = if i % 2 == 0 { "k-even" } else { "k-odd" };
            store.create_alias(&alias(&sc, name, key_id)).await.unwrap();
        }
        assert!(matches!(
            store.create_alias(&alias(&sc, "alias/A", "k-other")).await,
            Err(StoreError::AlreadyExists)
        ));
        // Names are case-sensitive; the same name in another scope is another alias.
        store
            .create_alias(&alias(&Scope::new(ACCOUNT, "eu-west-1"), "alias/A", "k"))
            .await
            .unwrap();
        assert_eq!(
            store.get_alias(&sc, "alias/A").await.unwrap(),
            Some(alias(&sc, "alias/A", "k-even"))
        );
        assert!(store.get_alias(&sc, "alias/a").await.unwrap().is_none());

        let byte_order = ["alias/A", "alias/B", "alias/a-b", "alias/a/b", "alias/a_b"];
        let all = store.list_aliases(&sc, None, None, 100).await.unwrap();
        assert_eq!(alias_names(&all), byte_order);
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store
                .list_aliases(&sc, None, after.as_deref(), 2)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.alias_name.clone());
            seen.extend(page.iter().map(|a| a.alias_name.clone()));
        }
        assert_eq!(seen, byte_order);
        let even = store
            .list_aliases(&sc, Some("k-even"), None, 100)
            .await
            .unwrap();
        assert_eq!(alias_names(&even), ["alias/A", "alias/B", "alias/a/b"]);
        let even = store
            .list_aliases(&sc, Some("k-even"), Some("alias/B"), 1)
            .await
            .unwrap();
        assert_eq!(alias_names(&even), ["alias/a/b"]);
        assert!(
            store
                .list_aliases(&sc, Some("k-none"), None, 100)
                .await
                .unwrap()
                .is_empty()
        );

        assert!(
            store
                .update_alias(&sc, "alias/a_b", "k-new", 77)
                .await
                .unwrap()
        );
        let updated = store.get_alias(&sc, "alias/a_b").await.unwrap().unwrap();
        assert_eq!(updated.key_id, "k-new");
        assert_eq!(updated.created_ms, 5);
        assert_eq!(updated.updated_ms, 77);
        assert!(
            !store
                .update_alias(&sc, "alias/missing", "k-new", 77)
                .await
                .unwrap()
        );
        assert!(store.delete_alias(&sc, "alias/a_b").await.unwrap());
        assert!(!store.delete_alias(&sc, "alias/a_b").await.unwrap());
        assert!(store.get_alias(&sc, "alias/a_b").await.unwrap().is_none());
        assert_eq!(
            store
                .list_aliases(&sc, None, None, 100)
                .await
                .unwrap()
                .len(),
            4
        );
    });
}

#[tokio::test]
async fn grants_belong_to_existing_keys() {
    for_each_store!("kms_grants", |s| {
        let store = &s.store;
        let sc = scope();
        store.create_key(&key(&sc, "k"), None).await.unwrap();
        store.create_key(&key(&sc, "k2"), None).await.unwrap();
        assert!(matches!(
            store.create_grant(&grant(&sc, "missing", "g", 1)).await,
            Err(StoreError::Conflict)
        ));
        let g_b = grant(&sc, "k", "b", 10);
        let g_a = grant(&sc, "k", "a", 10);
        let mut g_z = grant(&sc, "k", "Z", 5);
        g_z.name = None;
        g_z.retiring_principal = None;
        g_z.constraints = None;
        for g in [&g_b, &g_a, &g_z] {
            store.create_grant(g).await.unwrap();
        }
        // The same id on the key, or the same token anywhere, is taken.
        let mut dup_id = grant(&sc, "k", "a", 11);
        dup_id.token_hash = b"fresh token".to_vec();
        assert!(matches!(
            store.create_grant(&dup_id).await,
            Err(StoreError::AlreadyExists)
        ));
        let mut dup_token = grant(&sc, "k2", "x", 11);
        dup_token.token_hash = g_a.token_hash.clone();
        assert!(matches!(
            store.create_grant(&dup_token).await,
            Err(StoreError::AlreadyExists)
        ));
        // The same grant id on another key is another grant.
        let g_other = grant(&sc, "k2", "a", 1);
        store.create_grant(&g_other).await.unwrap();

        assert_eq!(
            store.key_grants(&sc, "k").await.unwrap(),
            vec![g_z.clone(), g_a.clone(), g_b.clone()]
        );
        assert_eq!(
            store.grant_by_token(&g_b.token_hash).await.unwrap(),
            Some(g_b.clone())
        );
        assert!(store.grant_by_token(b"unknown").await.unwrap().is_none());
        let retirer = g_a.retiring_principal.clone().unwrap();
        assert_eq!(
            store.retirable_grants("us-east-1", &retirer).await.unwrap(),
            vec![g_other.clone(), g_a.clone(), g_b.clone()]
        );
        assert!(
            store
                .retirable_grants("eu-west-1", &retirer)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.delete_grant(&sc, "k", "a").await.unwrap());
        assert!(!store.delete_grant(&sc, "k", "a").await.unwrap());
        assert!(!store.delete_grant(&sc, "k-none", "b").await.unwrap());
        assert_eq!(
            store.key_grants(&sc, "k").await.unwrap(),
            vec![g_z.clone(), g_b.clone()]
        );
        assert_eq!(store.key_grants(&sc, "k2").await.unwrap(), vec![g_other]);
        assert!(
            store
                .grant_by_token(&g_a.token_hash)
                .await
                .unwrap()
                .is_none()
        );
    });
}

/// Ported from the SQLite store's unit tests.
#[tokio::test]
async fn related_keys_share_material_and_change_together() {
    for_each_store!("kms_related", |s| {
        let store = &s.store;
        let primary = mrk("us-east-1", "m1");
        store
            .create_key(&primary, Some(&material("m1", 1, 1)))
            .await
            .unwrap();
        let scope_of = |region: &str| Scope::new(ACCOUNT, region);

        // A replica with a copy of every material; the primary is version-checked.
        let mut replica = mrk("eu-west-1", "m1");
        replica.policy = "{\"replica\":true}".to_string();
        let copies = store.key_materials(&primary.scope, MRK).await.unwrap();
        let versions = store
            .create_related_key(&replica, &copies, std::slice::from_ref(&primary))
            .await
            .unwrap();
        assert_eq!(versions, vec![2]);
        // A second replica in the same region is refused; a stale primary version conflicts.
        assert!(matches!(
            store
                .create_related_key(
                    &replica,
                    &[],
                    &[get(store, &scope_of("us-east-1"), MRK).await]
                )
                .await,
            Err(StoreError::AlreadyExists)
        ));
        let other = mrk("ap-south-1", "m1");
        assert!(matches!(
            store
                .create_related_key(&other, &copies, std::slice::from_ref(&primary))
                .await,
            Err(StoreError::Conflict)
        ));
        assert!(
            store
                .get_key(&scope_of("ap-south-1"), MRK)
                .await
                .unwrap()
                .is_none(),
            "the failed insert was rolled back"
        );
        assert!(
            store
                .key_materials(&scope_of("ap-south-1"), MRK)
                .await
                .unwrap()
                .is_empty()
        );

        let set = store.related_keys(ACCOUNT, MRK).await.unwrap();
        assert_eq!(
            set.iter()
                .map(|k| k.scope.region.as_str())
                .collect::<Vec<_>>(),
            ["eu-west-1", "us-east-1"]
        );
        assert_eq!(set[0].policy, "{\"replica\":true}");
        assert_eq!(set[0].primary_region.as_deref(), Some("us-east-1"));
        assert!(
            store
                .related_keys("999988887777", MRK)
                .await
                .unwrap()
                .is_empty()
        );
        let m = store.key_materials(&replica.scope, MRK).await.unwrap();
        assert_eq!(ids(&m), ["m1"]);
        assert_eq!(m[0].secret.expose_secret(), &[1; 32]);

        // Rotation of the set: both get the material, or neither does.
        let mut keys = store.related_keys(ACCOUNT, MRK).await.unwrap();
        for k in &mut keys {
            k.current_material_id = "m2".to_string();
        }
        let mut stale = keys.clone();
        stale[0].version -= 1;
        assert!(matches!(
            store
                .add_key_material_to_keys(&stale, &material("m2", 2, 1))
                .await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            store
                .key_materials(&primary.scope, MRK)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            get(store, &scope_of("us-east-1"), MRK)
                .await
                .current_material_id,
            "m1"
        );
        assert_eq!(
            store
                .add_key_material_to_keys(&keys, &material("m2", 2, 1))
                .await
                .unwrap(),
            vec![keys[0].version + 1, keys[1].version + 1]
        );
        for region in ["us-east-1", "eu-west-1"] {
            let m = store.key_materials(&scope_of(region), MRK).await.unwrap();
            assert_eq!(ids(&m), ["m1", "m2"]);
            assert_eq!(m[1].secret.expose_secret(), &[2; 32]);
            assert_eq!(
                get(store, &scope_of(region), MRK).await.current_material_id,
                "m2"
            );
        }

        // update_keys is all or nothing, and writes the primary region.
        let mut keys = store.related_keys(ACCOUNT, MRK).await.unwrap();
        for k in &mut keys {
            k.primary_region = Some("eu-west-1".to_string());
        }
        let mut stale = keys.clone();
        stale[1].version += 5;
        assert!(matches!(
            store.update_keys(&stale).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            get(store, &scope_of("eu-west-1"), MRK)
                .await
                .primary_region
                .as_deref(),
            Some("us-east-1")
        );
        store.update_keys(&keys).await.unwrap();
        assert_eq!(
            get(store, &scope_of("us-east-1"), MRK)
                .await
                .primary_region
                .as_deref(),
            Some("eu-west-1")
        );
        assert!(store.update_keys(&[]).await.unwrap().is_empty());

        // Deleting one key of the set updates the others in the same transaction.
        let replica = get(store, &scope_of("us-east-1"), MRK).await;
        store
            .create_alias(&alias(&replica.scope, "alias/replica", MRK))
            .await
            .unwrap();
        let mut primary = get(store, &scope_of("eu-west-1"), MRK).await;
        primary.state = "PendingDeletion".to_string();
        let mut stale_replica = replica.clone();
        stale_replica.version -= 1;
        assert!(matches!(
            store
                .delete_key_with_updates(&stale_replica, std::slice::from_ref(&primary))
                .await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            get(store, &scope_of("eu-west-1"), MRK).await.state,
            "Enabled"
        );
        // A stale related key rolls the deletion back too.
        let mut stale_primary = primary.clone();
        stale_primary.version -= 1;
        assert!(matches!(
            store
                .delete_key_with_updates(&replica, std::slice::from_ref(&stale_primary))
                .await,
            Err(StoreError::Conflict)
        ));
        assert!(store.get_key(&replica.scope, MRK).await.unwrap().is_some());
        assert_eq!(
            store
                .delete_key_with_updates(&replica, std::slice::from_ref(&primary))
                .await
                .unwrap(),
            vec![primary.version + 1]
        );
        assert!(store.get_key(&replica.scope, MRK).await.unwrap().is_none());
        assert!(
            store
                .key_materials(&replica.scope, MRK)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .get_alias(&replica.scope, "alias/replica")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            get(store, &scope_of("eu-west-1"), MRK).await.state,
            "PendingDeletion"
        );
        assert_eq!(store.related_keys(ACCOUNT, MRK).await.unwrap().len(), 1);
    });
}

#[tokio::test]
async fn everything_reads_back_the_same_after_a_restart() {
    for_each_store!("kms_restart", |s| {
        let store = &s.store;
        let sc = scope();
        let mut k = key(&sc, "k");
        k.tags = vec![("a".into(), "b".into())];
        k.next_rotation_ms = Some(123);
        store
            .create_key(&k, Some(&material("m1", 9, 100)))
            .await
            .unwrap();
        let mut k = get(store, &sc, "k").await;
        k.current_material_id = "m2".into();
        store
            .add_key_material(
                &k,
                &KeyMaterial {
                    rotation_type: Some("AUTOMATIC".into()),
                    ..material("m2", 8, 200)
                },
            )
            .await
            .unwrap();
        store
            .create_alias(&alias(&sc, "alias/k", "k"))
            .await
            .unwrap();
        let g = grant(&sc, "k", "g", 3);
        store.create_grant(&g).await.unwrap();
        store
            .put_import_parameters(&import_params(&sc, "tok", "k", 500))
            .await
            .unwrap();
        store
            .record_key_usage(&[usage(&sc, "k", "Encrypt", 42)])
            .await
            .unwrap();
        let key_before = get(store, &sc, "k").await;

        let reopened = s.reopen().await;
        assert_eq!(get(&reopened, &sc, "k").await, key_before);
        assert_eq!(
            reopened.list_keys(&sc, 0, 10).await.unwrap(),
            vec![key_before.clone()]
        );
        let m = reopened.key_materials(&sc, "k").await.unwrap();
        assert_eq!(ids(&m), ["m1", "m2"]);
        assert_eq!(m[0].secret.expose_secret(), &[9; 32]);
        assert_eq!(m[1].secret.expose_secret(), &[8; 32]);
        assert_eq!(m[1].created_ms, 200);
        assert_eq!(m[1].rotation_type.as_deref(), Some("AUTOMATIC"));
        assert_eq!(
            reopened.get_alias(&sc, "alias/k").await.unwrap(),
            Some(alias(&sc, "alias/k", "k"))
        );
        assert_eq!(
            reopened.key_grants(&sc, "k").await.unwrap(),
            vec![g.clone()]
        );
        assert_eq!(
            reopened.grant_by_token(&g.token_hash).await.unwrap(),
            Some(g)
        );
        let p = reopened
            .get_import_parameters(&sc, "tok")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.private_key.expose_secret(), b"pkcs8 private key");
        assert_eq!(
            reopened.key_usage(&sc, "k").await.unwrap(),
            Some(usage(&sc, "k", "Encrypt", 42))
        );
        // The restarted node writes on from what it read.
        let mut k = key_before.clone();
        k.description = "after restart".into();
        assert_eq!(
            reopened.update_key(&k).await.unwrap(),
            key_before.version + 1
        );
        assert!(matches!(
            store.update_key(&key_before).await,
            Err(StoreError::Conflict)
        ));
        reopened.close().await;
    });
}

// --- races between nodes ---

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_updates_of_one_version_have_one_winner() {
    for_each_store!("kms_race_update", |s| {
        let sc = scope();
        s.store.create_key(&key(&sc, "k"), None).await.unwrap();
        for round in 0..5 {
            let read = get(&s.store, &sc, "k").await;
            let mut handles = Vec::new();
            for i in 0..4 {
                let node = s.reopen().await;
                let mut k = read.clone();
                k.description = format!("round {round} node {i}");
                handles.push(tokio::spawn(async move {
                    let r = node.update_key(&k).await;
                    node.close().await;
                    r.map(|v| (v, k.description))
                }));
            }
            let mut winners = Vec::new();
            for h in handles {
                match h.await.unwrap() {
                    Ok(w) => winners.push(w),
                    Err(StoreError::Conflict) => {}
                    Err(e) => panic!("{}: {e:?}", s.name),
                }
            }
            assert_eq!(winners.len(), 1, "{}: round {round}", s.name);
            let stored = get(&s.store, &sc, "k").await;
            assert_eq!(stored.version, read.version + 1);
            assert_eq!(stored.version, winners[0].0);
            assert_eq!(stored.description, winners[0].1);
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_read_check_write_loops_lose_no_update() {
    const WRITERS: usize = 4;
    const WRITES: usize = 8;
    for_each_store!("kms_no_lost_update", |s| {
        let sc = scope();
        s.store.create_key(&key(&sc, "k"), None).await.unwrap();
        let mut handles = Vec::new();
        for w in 0..WRITERS {
            let node = s.reopen().await;
            let sc = sc.clone();
            handles.push(tokio::spawn(async move {
                let mut versions = Vec::new();
                for i in 0..WRITES {
                    loop {
                        let mut k = node.get_key(&sc, "k").await.unwrap().unwrap();
                        // Each write appends its mark to what it read: a lost update loses a mark.
                        k.tags.push((format!("w{w}"), format!("{i}")));
                        match node.update_key(&k).await {
                            Ok(v) => {
                                versions.push(v);
                                break;
                            }
                            Err(StoreError::Conflict) => {}
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                }
                node.close().await;
                versions
            }));
        }
        let mut all = BTreeSet::new();
        for h in handles {
            for v in h.await.unwrap() {
                assert!(all.insert(v), "{}: version {v} returned twice", s.name);
            }
        }
        let n = i64::try_from(WRITERS * WRITES).unwrap();
        assert_eq!(all, (2..=n + 1).collect::<BTreeSet<_>>(), "{}", s.name);
        let stored = get(&s.store, &sc, "k").await;
        assert_eq!(stored.version, n + 1);
        assert_eq!(stored.tags.len(), WRITERS * WRITES, "{}", s.name);
        for w in 0..WRITERS {
            let marks: Vec<_> = stored
                .tags
                .iter()
                .filter(|(t, _)| *t == format!("w{w}"))
                .map(|(_, i)| i.clone())
                .collect();
            assert_eq!(
                marks,
                (0..WRITES).map(|i| i.to_string()).collect::<Vec<_>>()
            );
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_of_one_alias_have_one_winner() {
    for_each_store!("kms_race_alias_create", |s| {
        let sc = scope();
        for round in 0..5 {
            let name = format!("alias/race-{round}");
            let mut handles = Vec::new();
            for i in 0..4 {
                let node = s.reopen().await;
                let a = alias(&sc, &name, &format!("k{i}"));
                handles.push(tokio::spawn(async move {
                    let r = node.create_alias(&a).await;
                    node.close().await;
                    r.map(|()| a.key_id)
                }));
            }
            let mut winners = Vec::new();
            for h in handles {
                match h.await.unwrap() {
                    Ok(k) => winners.push(k),
                    Err(StoreError::AlreadyExists) => {}
                    Err(e) => panic!("{}: {e:?}", s.name),
                }
            }
            assert_eq!(winners.len(), 1, "{}: round {round}", s.name);
            let stored = s.store.get_alias(&sc, &name).await.unwrap().unwrap();
            assert_eq!(stored.key_id, winners[0]);
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_alias_updates_leave_one_whole_write() {
    for_each_store!("kms_race_alias_update", |s| {
        let sc = scope();
        store_alias(&s.store, &sc, "alias/moving").await;
        for round in 0..5 {
            let mut handles = Vec::new();
            for i in 0..4_i64 {
                let node = s.reopen().await;
                let sc = sc.clone();
                handles.push(tokio::spawn(async move {
                    let key_id = format!("k{round}-{i}");
                    let r = node
                        .update_alias(&sc, "alias/moving", &key_id, 1_000 * round + i)
                        .await;
                    node.close().await;
                    r.unwrap()
                }));
            }
            for h in handles {
                assert!(h.await.unwrap(), "{}", s.name);
            }
            // Whoever was last, its key and its time together.
            let a = s
                .store
                .get_alias(&sc, "alias/moving")
                .await
                .unwrap()
                .unwrap();
            let i = a.updated_ms - 1_000 * round;
            assert!((0..4).contains(&i), "{}: {a:?}", s.name);
            assert_eq!(a.key_id, format!("k{round}-{i}"));
            assert_eq!(a.created_ms, 5);
        }
        // An update racing a delete either lands before it or finds nothing.
        let deleter = s.reopen().await;
        let updater = s.reopen().await;
        let sc2 = sc.clone();
        let d = tokio::spawn(async move { deleter.delete_alias(&sc2, "alias/moving").await });
        let sc2 = sc.clone();
        let u = tokio::spawn(async move {
            updater
                .update_alias(&sc2, "alias/moving", "k-late", 99_999)
                .await
        });
        assert!(d.await.unwrap().unwrap());
        u.await.unwrap().unwrap();
        assert!(
            s.store
                .get_alias(&sc, "alias/moving")
                .await
                .unwrap()
                .is_none()
        );
    });
}

async fn store_alias(store: &Arc<dyn Store>, scope: &Scope, name: &str) {
    store.create_alias(&alias(scope, name, "k0")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adding_material_races_an_update_with_one_winner() {
    for_each_store!("kms_race_material", |s| {
        let sc = scope();
        let k = KeyRecord {
            current_material_id: "m0".into(),
            ..key(&sc, "k")
        };
        s.store
            .create_key(&k, Some(&material("m0", 0, 1)))
            .await
            .unwrap();
        let rotator = s.reopen().await;
        let updater = s.reopen().await;
        let mut materials = 1;
        for round in 1..=8_u8 {
            let read = get(&s.store, &sc, "k").await;
            let mut rotated = read.clone();
            let id = format!("m{round}");
            rotated.current_material_id = id.clone();
            let mut described = read.clone();
            described.description = format!("round {round}");
            let r = Arc::clone(&rotator);
            let rotation = tokio::spawn(async move {
                r.add_key_material(&rotated, &material(&id, round, i64::from(round) + 1))
                    .await
            });
            let u = Arc::clone(&updater);
            let update = tokio::spawn(async move { u.update_key(&described).await });
            let rotation = rotation.await.unwrap();
            let update = update.await.unwrap();
            let stored = get(&s.store, &sc, "k").await;
            assert_eq!(stored.version, read.version + 1, "{}", s.name);
            match (rotation, update) {
                (Ok(_), Err(StoreError::Conflict)) => {
                    materials += 1;
                    assert_eq!(stored.current_material_id, format!("m{round}"));
                    assert_eq!(stored.description, read.description);
                }
                (Err(StoreError::Conflict), Ok(_)) => {
                    assert_eq!(stored.current_material_id, read.current_material_id);
                    assert_eq!(stored.description, format!("round {round}"));
                }
                other => panic!("{}: round {round}: {other:?}", s.name),
            }
            // The losing rotation left no material behind; the current one is stored.
            let m = s.store.key_materials(&sc, "k").await.unwrap();
            assert_eq!(m.len(), materials, "{}", s.name);
            assert!(ids(&m).contains(&stored.current_material_id.as_str()));
        }
        rotator.close().await;
        updater.close().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_never_outlives_its_deleted_key() {
    for_each_store!("kms_race_grant_delete", |s| {
        let sc = scope();
        let granter = s.reopen().await;
        let deleter = s.reopen().await;
        let (mut granted, mut refused) = (0, 0);
        for round in 0..24_u64 {
            let key_id = format!("k{round}");
            s.store.create_key(&key(&sc, &key_id), None).await.unwrap();
            let g = grant(&sc, &key_id, "g", 1);
            let token = g.token_hash.clone();
            // Both start together; the grant a little later round after round, so that it
            // lands before, during and after the deletion.
            let start = Arc::new(tokio::sync::Barrier::new(2));
            let (gr, go) = (Arc::clone(&granter), Arc::clone(&start));
            let create = tokio::spawn(async move {
                go.wait().await;
                tokio::time::sleep(Duration::from_micros(300 * (round % 8))).await;
                gr.create_grant(&g).await
            });
            let (de, go) = (Arc::clone(&deleter), Arc::clone(&start));
            let (sc2, id2) = (sc.clone(), key_id.clone());
            let delete = tokio::spawn(async move {
                go.wait().await;
                de.delete_key(&sc2, &id2).await
            });
            match create.await.unwrap() {
                Ok(()) => granted += 1,
                Err(StoreError::Conflict) => refused += 1,
                Err(e) => panic!("{}: {e:?}", s.name),
            }
            delete.await.unwrap().unwrap();
            assert!(s.store.get_key(&sc, &key_id).await.unwrap().is_none());
            assert!(
                s.store.grant_by_token(&token).await.unwrap().is_none(),
                "{}: round {round}: an orphan grant",
                s.name
            );
            assert!(s.store.key_grants(&sc, &key_id).await.unwrap().is_empty());
        }
        eprintln!(
            "{}: {granted} grants before the deletion, {refused} refused",
            s.name
        );
        granter.close().await;
        deleter.close().await;
    });
}

// --- notifications (PostgreSQL) ---

/// Waits up to 5 s for every change of `wants`, in any order, on `rx`, skipping anything else.
async fn expect_changes(rx: &mut broadcast::Receiver<Change>, wants: &[Change]) {
    let mut missing: Vec<&Change> = wants.iter().collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !missing.is_empty() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(change)) => missing.retain(|w| **w != change),
            Ok(Err(e)) => panic!("change stream failed waiting for {missing:?}: {e:?}"),
            Err(_) => panic!("no {missing:?} within 5 s"),
        }
    }
}

/// Waits up to 5 s for `want` on `rx`, skipping anything else (the initial `Change::All`, the
/// notifications of earlier writes).
async fn expect_change(rx: &mut broadcast::Receiver<Change>, want: &Change) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(change)) if &change == want => return,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("change stream failed waiting for {want:?}: {e:?}"),
            Err(_) => panic!("no {want:?} within 5 s"),
        }
    }
}

#[tokio::test]
async fn kms_writes_notify_the_other_nodes() {
    for_each_store!("kms_notify", |s| {
        if s.is_postgres() {
            let other = s.reopen().await;
            let mut rx = other.subscribe_changes().unwrap();
            // The listener is up once it has said `All` (possibly before we subscribed: then
            // it is up already, and waiting is harmless).
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while !matches!(rx.recv().await, Ok(Change::All) | Err(_)) {}
            })
            .await;
            let store = &s.store;
            let sc = scope();
            let key_of = |key_id: &str| Change::Key {
                scope: sc.clone(),
                key_id: key_id.to_string(),
            };
            let alias_of = |alias_name: &str| Change::Alias {
                scope: sc.clone(),
                alias_name: alias_name.to_string(),
            };

            store
                .create_key(&key(&sc, "k"), Some(&material("m1", 1, 1)))
                .await
                .unwrap();
            expect_change(&mut rx, &key_of("k")).await;
            let mut k = get(store, &sc, "k").await;
            k.description = "d".into();
            store.update_key(&k).await.unwrap();
            expect_change(&mut rx, &key_of("k")).await;
            let mut k = get(store, &sc, "k").await;
            k.current_material_id = "m2".into();
            store
                .add_key_material(&k, &material("m2", 2, 2))
                .await
                .unwrap();
            expect_change(&mut rx, &key_of("k")).await;
            let k = get(store, &sc, "k").await;
            store
                .put_imported_material(&k, &material("m2", 3, 2))
                .await
                .unwrap();
            expect_change(&mut rx, &key_of("k")).await;
            let k = get(store, &sc, "k").await;
            store.delete_key_materials(&k).await.unwrap();
            expect_change(&mut rx, &key_of("k")).await;
            store
                .update_keys(&[get(store, &sc, "k").await])
                .await
                .unwrap();
            expect_change(&mut rx, &key_of("k")).await;

            store.create_grant(&grant(&sc, "k", "g", 1)).await.unwrap();
            expect_change(&mut rx, &key_of("k")).await;
            assert!(store.delete_grant(&sc, "k", "g").await.unwrap());
            expect_change(&mut rx, &key_of("k")).await;
            store
                .put_import_parameters(&import_params(&sc, "tok", "k", 10))
                .await
                .unwrap();
            expect_change(&mut rx, &key_of("k")).await;
            assert_eq!(store.delete_import_parameters_before(11).await.unwrap(), 1);
            expect_change(&mut rx, &key_of("k")).await;

            store
                .create_alias(&alias(&sc, "alias/x", "k"))
                .await
                .unwrap();
            expect_change(&mut rx, &alias_of("alias/x")).await;
            assert!(store.update_alias(&sc, "alias/x", "k", 9).await.unwrap());
            expect_change(&mut rx, &alias_of("alias/x")).await;
            assert!(store.delete_alias(&sc, "alias/x").await.unwrap());
            expect_change(&mut rx, &alias_of("alias/x")).await;

            // Deleting a key notifies the key and each alias it took with it.
            store
                .create_alias(&alias(&sc, "alias/y", "k"))
                .await
                .unwrap();
            store
                .create_alias(&alias(&sc, "alias/z", "k"))
                .await
                .unwrap();
            expect_change(&mut rx, &alias_of("alias/z")).await;
            store.delete_key(&sc, "k").await.unwrap();
            expect_changes(
                &mut rx,
                &[key_of("k"), alias_of("alias/y"), alias_of("alias/z")],
            )
            .await;

            // A multi-Region set: the new key and the keys it joins; deletion with updates.
            let primary = mrk("us-east-1", "m1");
            store
                .create_key(&primary, Some(&material("m1", 1, 1)))
                .await
                .unwrap();
            expect_change(
                &mut rx,
                &Change::Key {
                    scope: primary.scope.clone(),
                    key_id: MRK.into(),
                },
            )
            .await;
            let replica = mrk("eu-west-1", "m1");
            store
                .create_related_key(&replica, &[], std::slice::from_ref(&primary))
                .await
                .unwrap();
            let replica_change = Change::Key {
                scope: replica.scope.clone(),
                key_id: MRK.into(),
            };
            let primary_change = Change::Key {
                scope: primary.scope.clone(),
                key_id: MRK.into(),
            };
            expect_changes(&mut rx, &[replica_change.clone(), primary_change.clone()]).await;
            let keys = store.related_keys(ACCOUNT, MRK).await.unwrap();
            store
                .add_key_material_to_keys(&keys, &material("m2", 2, 2))
                .await
                .unwrap();
            expect_changes(&mut rx, &[replica_change.clone(), primary_change.clone()]).await;
            store
                .create_alias(&alias(&replica.scope, "alias/r", MRK))
                .await
                .unwrap();
            let replica = get(store, &replica.scope, MRK).await;
            let primary = get(store, &primary.scope, MRK).await;
            store
                .delete_key_with_updates(&replica, std::slice::from_ref(&primary))
                .await
                .unwrap();
            expect_changes(
                &mut rx,
                &[
                    replica_change,
                    Change::Alias {
                        scope: replica.scope.clone(),
                        alias_name: "alias/r".into(),
                    },
                    primary_change,
                ],
            )
            .await;
            other.close().await;
        }
    });
}

// --- sealed rows between the stores ---

/// Copies the sealed rows of `key_id` (its materials and import parameters, bytes as they are)
/// from the SQLite database to a PostgreSQL one holding the same key row.
async fn copy_sealed_rows<'a, S, D>(from: S, to: D, scope: &Scope, key_id: &str)
where
    S: sqlx::Executor<'a, Database = sqlx::Sqlite> + Copy,
    D: sqlx::Executor<'a, Database = sqlx::Postgres> + Copy,
{
    use sqlx::Row as _;
    let rows = sqlx::query(
        "SELECT material_id, created_ms, rotation_type, material FROM kms_key_materials
         WHERE account_id = ? AND region = ? AND key_id = ?",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(key_id)
    .fetch_all(from)
    .await
    .unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        sqlx::query(
            "INSERT INTO kms_key_materials
                (account_id, region, key_id, material_id, created_ms, rotation_type, material)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(key_id)
        .bind(row.get::<String, _>("material_id"))
        .bind(row.get::<i64, _>("created_ms"))
        .bind(row.get::<Option<String>, _>("rotation_type"))
        .bind(row.get::<Vec<u8>, _>("material"))
        .execute(to)
        .await
        .unwrap();
    }
    let rows = sqlx::query(
        "SELECT token_id, token_check, wrapping_algorithm, wrapping_key_spec, created_ms,
            valid_to_ms, private_key FROM kms_import_parameters
         WHERE account_id = ? AND region = ? AND key_id = ?",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(key_id)
    .fetch_all(from)
    .await
    .unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        sqlx::query(
            "INSERT INTO kms_import_parameters (account_id, region, token_id, key_id, token_check,
                wrapping_algorithm, wrapping_key_spec, created_ms, valid_to_ms, private_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(row.get::<String, _>("token_id"))
        .bind(key_id)
        .bind(row.get::<Vec<u8>, _>("token_check"))
        .bind(row.get::<String, _>("wrapping_algorithm"))
        .bind(row.get::<String, _>("wrapping_key_spec"))
        .bind(row.get::<i64, _>("created_ms"))
        .bind(row.get::<i64, _>("valid_to_ms"))
        .bind(row.get::<Vec<u8>, _>("private_key"))
        .execute(to)
        .await
        .unwrap();
    }
}

/// Both stores seal materials and import keys under the same row identities, so a migration
/// can copy the sealed bytes from one to the other and the same root key opens them.
#[tokio::test]
async fn sealed_rows_open_in_the_other_store() {
    use std::str::FromStr as _;

    use sqlx::postgres::PgConnectOptions;
    use trent_store::{Barrier, PostgresStore, SqliteStore};

    let Some(url) = crate::harness::postgres_url() else {
        return;
    };
    let root = SecretBytes::random(32).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path(), Barrier::new(&root).unwrap())
        .await
        .unwrap();
    let schema = format!("conf_kms_sealed_rows_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let postgres = PostgresStore::open_with(options.clone(), Barrier::new(&root).unwrap())
        .await
        .unwrap();

    let sc = scope();
    let k = key(&sc, "k");
    sqlite
        .create_key(&k, Some(&material("m1", 0x5a, 1)))
        .await
        .unwrap();
    sqlite
        .put_import_parameters(&import_params(&sc, "tok", "k", 100))
        .await
        .unwrap();
    postgres.create_key(&k, None).await.unwrap();

    let sqlite_pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join(trent_store::DATABASE_FILE).display()
    ))
    .await
    .unwrap();
    let pg_pool = sqlx::PgPool::connect_with(options).await.unwrap();
    copy_sealed_rows(&sqlite_pool, &pg_pool, &sc, "k").await;

    let m = postgres.key_materials(&sc, "k").await.unwrap();
    assert_eq!(ids(&m), ["m1"]);
    assert_eq!(m[0].secret.expose_secret(), &[0x5a; 32]);
    let p = postgres
        .get_import_parameters(&sc, "tok")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.private_key.expose_secret(), b"pkcs8 private key");

    // The identity binds the row: the same bytes under another key do not open.
    postgres.create_key(&key(&sc, "k2"), None).await.unwrap();
    sqlx::query(
        "INSERT INTO kms_key_materials
            (account_id, region, key_id, material_id, created_ms, rotation_type, material)
         SELECT account_id, region, 'k2', material_id, created_ms, rotation_type, material
         FROM kms_key_materials WHERE key_id = 'k'",
    )
    .execute(&pg_pool)
    .await
    .unwrap();
    assert!(postgres.key_materials(&sc, "k2").await.is_err());

    sqlite_pool.close().await;
    pg_pool.close().await;
    postgres.close().await;
    sqlite.close().await;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}
