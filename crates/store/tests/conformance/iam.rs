//! Conformance of the iam part of the store: accounts, access keys, users, roles, inline and
//! managed policies, attachments, STS sessions; names without regard to case; the checks made
//! before a delete; concurrent nodes; restarts; change notifications.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use trent_crypto::SecretBytes;
use trent_store::{
    AccessKeyRecord, Barrier, Change, DeleteOutcome, ManagedPolicyRecord, PrincipalKind,
    RoleRecord, SessionRecord, SqliteStore, Store, StoreError, UserRecord,
};

use crate::harness::{for_each_store, postgres_url};

const ACCOUNT: &str = "111122223333";
const OTHER: &str = "444455556666";

fn user(name: &str) -> UserRecord {
    UserRecord {
        account_id: ACCOUNT.into(),
        user_name: name.into(),
        user_id: format!("AIDA{name}"),
        path: "/".into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
        created_ms: 1,
        tags: vec![("team".into(), "blue".into())],
    }
}

fn role(name: &str) -> RoleRecord {
    RoleRecord {
        account_id: ACCOUNT.into(),
        role_name: name.into(),
        role_id: format!("AROA{name}"),
        path: "/".into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:role/{name}"),
        trust_policy: r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
        description: Some(format!("role {name}")),
        max_session_duration: 3600,
        created_ms: 7,
        tags: vec![("env".into(), "prod".into())],
    }
}

fn key(id: &str, owner: &UserRecord) -> AccessKeyRecord {
    AccessKeyRecord {
        access_key_id: id.into(),
        account_id: owner.account_id.clone(),
        principal_arn: owner.arn.clone(),
        user_name: owner.user_name.clone(),
        status: "Active".into(),
        created_ms: 1,
        secret: SecretBytes::copy_from(format!("secret of {id}").as_bytes()),
    }
}

fn root_key(account: &str, id: &str) -> AccessKeyRecord {
    AccessKeyRecord {
        access_key_id: id.into(),
        account_id: account.into(),
        principal_arn: format!("arn:aws:iam::{account}:root"),
        user_name: "root".into(),
        status: "Active".into(),
        created_ms: 5,
        secret: SecretBytes::copy_from(b"root secret"),
    }
}

fn managed(name: &str) -> ManagedPolicyRecord {
    ManagedPolicyRecord {
        account_id: ACCOUNT.into(),
        policy_name: name.into(),
        policy_id: format!("ANPA{name}"),
        path: "/".into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:policy/{name}"),
        document: "{}".into(),
        description: None,
        created_ms: 1,
        tags: Vec::new(),
        attachment_count: 0,
    }
}

fn session(id: &str, account: &str, role_name: &str, expires_ms: i64) -> SessionRecord {
    SessionRecord {
        access_key_id: id.into(),
        account_id: account.into(),
        role_name: role_name.into(),
        session_name: "s".into(),
        token_sha256: trent_crypto::sha256(format!("token of {id}").as_bytes()),
        secret: SecretBytes::copy_from(b"session-secret-value"),
        created_ms: 1,
        expires_ms,
        session_tags: vec![("k".into(), "v".into())],
        source_arn: format!("arn:aws:iam::{account}:root"),
    }
}

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Names that sort differently by byte, by locale and without case.
const AWKWARD: [&str; 7] = ["a/b", "a-b", "A", "a_b", "B", "b2", "Zed"];

/// SQLite's NOCASE order: the bytes of the ASCII-lowercased name.
fn nocase_sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    v.sort_by_key(|n| n.to_ascii_lowercase());
    v
}

// --- ported from the SQLite unit tests ---

#[tokio::test]
async fn names_are_unique_without_case_and_deletes_check_what_is_in_use() {
    for_each_store!("iam_names_and_deletes", |s| {
        let s = &s.store;
        let alice = user("alice");
        s.create_user(&alice).await.unwrap();
        let mut shouting = user("ALICE");
        shouting.user_id = "AIDAother".into();
        assert!(matches!(
            s.create_user(&shouting).await,
            Err(StoreError::AlreadyExists)
        ));
        assert_eq!(
            s.get_user(ACCOUNT, "Alice").await.unwrap().unwrap().tags,
            alice.tags
        );
        assert!(s.get_user("999999999999", "alice").await.unwrap().is_none());

        // Tags are compare-and-set.
        let red = tags(&[("team", "red")]);
        assert!(matches!(
            s.set_principal_tags(ACCOUNT, PrincipalKind::User, "alice", &red, &red)
                .await,
            Err(StoreError::Conflict)
        ));
        assert!(
            s.set_principal_tags(ACCOUNT, PrincipalKind::User, "alice", &alice.tags, &red)
                .await
                .unwrap()
        );
        assert!(
            !s.set_principal_tags(ACCOUNT, PrincipalKind::User, "nobody", &[], &red)
                .await
                .unwrap()
        );
        // The key quota is checked in the same transaction as the insert.
        assert!(
            s.create_access_key(&key("AKIAONE", &alice), 1)
                .await
                .unwrap()
        );
        assert!(
            !s.create_access_key(&key("AKIATWO", &alice), 1)
                .await
                .unwrap()
        );
        assert_eq!(s.list_access_keys(&alice.arn).await.unwrap().len(), 1);
        assert!(
            s.put_inline_policy(ACCOUNT, PrincipalKind::User, "alice", "p", "{}")
                .await
                .unwrap()
        );
        assert!(
            !s.put_inline_policy(ACCOUNT, PrincipalKind::User, "nobody", "p", "{}")
                .await
                .unwrap()
        );
        s.create_managed_policy(&managed("m")).await.unwrap();
        let m_arn = managed("m").arn;
        assert!(
            s.attach_policy(ACCOUNT, PrincipalKind::User, "alice", &m_arn)
                .await
                .unwrap()
        );
        assert_eq!(
            s.get_managed_policy(ACCOUNT, &m_arn)
                .await
                .unwrap()
                .unwrap()
                .attachment_count,
            1
        );

        // Each obstacle in turn, as AWS reports them.
        assert_eq!(
            s.delete_user(ACCOUNT, "alice").await.unwrap(),
            DeleteOutcome::HasAccessKeys
        );
        assert!(s.delete_access_key("AKIAONE").await.unwrap());
        assert_eq!(
            s.delete_user(ACCOUNT, "alice").await.unwrap(),
            DeleteOutcome::HasInlinePolicies
        );
        assert!(
            s.delete_inline_policy(ACCOUNT, PrincipalKind::User, "alice", "p")
                .await
                .unwrap()
        );
        assert_eq!(
            s.delete_user(ACCOUNT, "alice").await.unwrap(),
            DeleteOutcome::HasAttachments
        );
        assert_eq!(
            s.delete_managed_policy(ACCOUNT, &m_arn).await.unwrap(),
            DeleteOutcome::HasAttachments
        );
        assert!(
            s.detach_policy(ACCOUNT, PrincipalKind::User, "alice", &m_arn)
                .await
                .unwrap()
        );
        assert_eq!(
            s.delete_user(ACCOUNT, "alice").await.unwrap(),
            DeleteOutcome::Deleted
        );
        assert_eq!(
            s.delete_user(ACCOUNT, "alice").await.unwrap(),
            DeleteOutcome::NotFound
        );
        assert_eq!(
            s.delete_managed_policy(ACCOUNT, &m_arn).await.unwrap(),
            DeleteOutcome::Deleted
        );
        assert_eq!(
            s.delete_managed_policy(ACCOUNT, &m_arn).await.unwrap(),
            DeleteOutcome::NotFound
        );
    });
}

/// The stored session row, read behind the store's back: (sealed secret, token hash).
async fn raw_session_postgres(url: &str, schema_like: &str) -> (Vec<u8>, Vec<u8>) {
    use sqlx::Row as _;
    let admin = sqlx::PgPool::connect(url).await.unwrap();
    let schema: String = sqlx::query("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1")
        .bind(schema_like)
        .fetch_one(&admin)
        .await
        .unwrap()
        .get(0);
    let row = sqlx::query(&format!(
        "SELECT secret, token_sha256 FROM {schema}.sts_sessions"
    ))
    .fetch_one(&admin)
    .await
    .unwrap();
    let out = (row.get("secret"), row.get("token_sha256"));
    admin.close().await;
    out
}

async fn raw_session_sqlite(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    use sqlx::Row as _;
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.join(trent_store::DATABASE_FILE).display()
    ))
    .await
    .unwrap();
    let row = sqlx::query("SELECT secret, token_sha256 FROM sts_sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    let out = (row.get("secret"), row.get("token_sha256"));
    pool.close().await;
    out
}

fn assert_sealed(raw: &(Vec<u8>, Vec<u8>), session: &SessionRecord) {
    let secret = b"session-secret-value";
    assert!(!raw.0.windows(secret.len()).any(|w| w == secret));
    // The token itself is never stored, only its hash.
    assert_eq!(raw.1, session.token_sha256);
}

#[tokio::test]
async fn session_secrets_are_sealed_and_tokens_hashed() {
    for_each_store!("iam_sealed_sessions", |s| {
        let store = &s.store;
        let session = session("ASIAEXAMPLE", ACCOUNT, "r", 1000);
        store.create_session(&session).await.unwrap();
        assert!(matches!(
            store.create_session(&session).await,
            Err(StoreError::AlreadyExists)
        ));
        let back = store.get_session("ASIAEXAMPLE").await.unwrap().unwrap();
        assert_eq!(back.secret.expose_secret(), b"session-secret-value");
        assert_eq!(back.token_sha256, session.token_sha256);
        assert_eq!(back.session_tags, session.session_tags);
        assert_eq!(back.account_id, ACCOUNT);
        assert_eq!(back.role_name, "r");
        assert_eq!(back.session_name, "s");
        assert_eq!((back.created_ms, back.expires_ms), (1, 1000));
        assert_eq!(back.source_arn, session.source_arn);
        assert!(store.get_session("ASIANOPE").await.unwrap().is_none());
        // Neither the secret nor the token is in the table in the clear. (The harness does not
        // expose where SQLite's file is: SQLite is checked on a store of its own below.)
        if s.is_postgres() {
            let like = format!("conf_iam_sealed_sessions_{}_%", std::process::id());
            let raw = raw_session_postgres(&postgres_url().unwrap(), &like).await;
            assert_sealed(&raw, &session);
        }
        assert_eq!(store.delete_sessions_before(999).await.unwrap(), 0);
        assert_eq!(store.delete_sessions_before(1001).await.unwrap(), 1);
        assert!(store.get_session("ASIAEXAMPLE").await.unwrap().is_none());
    });
    let dir = tempfile::tempdir().unwrap();
    let root = SecretBytes::random(32).unwrap();
    let sqlite = SqliteStore::open(dir.path(), Barrier::new(&root).unwrap())
        .await
        .unwrap();
    let session = session("ASIAEXAMPLE", ACCOUNT, "r", 1000);
    sqlite.create_session(&session).await.unwrap();
    assert_sealed(&raw_session_sqlite(dir.path()).await, &session);
    sqlite.close().await;
}

// --- accounts and access keys ---

#[tokio::test]
async fn accounts_and_access_keys() {
    for_each_store!("iam_accounts_keys", |s| {
        let s = &s.store;
        assert!(!s.account_exists(ACCOUNT).await.unwrap());
        let root = root_key(ACCOUNT, "AKIAROOT");
        s.create_account(ACCOUNT, 10, Some(&root)).await.unwrap();
        assert!(s.account_exists(ACCOUNT).await.unwrap());
        assert!(!s.account_exists(OTHER).await.unwrap());
        // Again: refused, and the second root key is not stored either.
        assert!(matches!(
            s.create_account(ACCOUNT, 11, Some(&root_key(ACCOUNT, "AKIAROOT2")))
                .await,
            Err(StoreError::AlreadyExists)
        ));
        assert!(s.get_access_key("AKIAROOT2").await.unwrap().is_none());
        // A taken root key id fails the whole account creation.
        assert!(matches!(
            s.create_account(OTHER, 11, Some(&root_key(OTHER, "AKIAROOT")))
                .await,
            Err(StoreError::AlreadyExists)
        ));
        assert!(!s.account_exists(OTHER).await.unwrap());
        s.create_account(OTHER, 12, None).await.unwrap();
        assert!(s.account_exists(OTHER).await.unwrap());

        let got = s.get_access_key("AKIAROOT").await.unwrap().unwrap();
        assert_eq!(got.secret.expose_secret(), b"root secret");
        assert_eq!(got.account_id, ACCOUNT);
        assert_eq!(got.principal_arn, root.principal_arn);
        assert_eq!(got.user_name, "root");
        assert_eq!(got.status, "Active");
        assert_eq!(got.created_ms, 5);
        assert!(s.get_access_key("AKIANOPE").await.unwrap().is_none());
        // Key ids are exact, not case-insensitive.
        assert!(s.get_access_key("akiaroot").await.unwrap().is_none());

        let bob = user("bob");
        let mut k = key("AKIAPUT", &bob);
        k.created_ms = 3;
        s.put_access_key(&k).await.unwrap();
        assert!(matches!(
            s.put_access_key(&k).await,
            Err(StoreError::AlreadyExists)
        ));
        // A taken id is AlreadyExists, below the limit or at it.
        assert!(matches!(
            s.create_access_key(&key("AKIAPUT", &bob), 5).await,
            Err(StoreError::AlreadyExists)
        ));
        assert!(matches!(
            s.create_access_key(&key("AKIAPUT", &bob), 1).await,
            Err(StoreError::AlreadyExists)
        ));
        // Oldest first, then by id in byte order.
        for (id, ms) in [("AKIAb", 2), ("AKIAB", 2), ("AKIA_", 2), ("AKIAZ", 1)] {
            let mut k = key(id, &bob);
            k.created_ms = ms;
            assert!(s.create_access_key(&k, 10).await.unwrap());
        }
        let listed: Vec<(String, i64)> = s
            .list_access_keys(&bob.arn)
            .await
            .unwrap()
            .into_iter()
            .map(|k| (k.access_key_id, k.created_ms))
            .collect();
        assert_eq!(
            listed,
            vec![
                ("AKIAZ".to_owned(), 1),
                ("AKIAB".to_owned(), 2),
                ("AKIA_".to_owned(), 2),
                ("AKIAb".to_owned(), 2),
                ("AKIAPUT".to_owned(), 3),
            ]
        );
        let info = s.list_access_keys(&bob.arn).await.unwrap().remove(0);
        assert_eq!(info.account_id, ACCOUNT);
        assert_eq!(info.principal_arn, bob.arn);
        assert_eq!(info.user_name, "bob");
        assert_eq!(info.status, "Active");
        assert!(s.list_access_keys("arn:nobody").await.unwrap().is_empty());
        // The limit counts every key of the principal, whatever its status.
        assert!(
            !s.create_access_key(&key("AKIAMORE", &bob), 5)
                .await
                .unwrap()
        );
        assert!(s.get_access_key("AKIAMORE").await.unwrap().is_none());

        assert!(
            s.set_access_key_status("AKIAPUT", "Inactive")
                .await
                .unwrap()
        );
        assert!(
            !s.set_access_key_status("AKIANOPE", "Inactive")
                .await
                .unwrap()
        );
        assert_eq!(
            s.get_access_key("AKIAPUT").await.unwrap().unwrap().status,
            "Inactive"
        );
        assert!(s.delete_access_key("AKIAPUT").await.unwrap());
        assert!(!s.delete_access_key("AKIAPUT").await.unwrap());
        assert!(s.get_access_key("AKIAPUT").await.unwrap().is_none());
        assert_eq!(s.list_access_keys(&bob.arn).await.unwrap().len(), 4);
        assert!(
            s.create_access_key(&key("AKIAMORE", &bob), 5)
                .await
                .unwrap()
        );
    });
}

// --- users, roles, lists ---

#[tokio::test]
async fn users_list_in_nocase_byte_order_by_path_and_page() {
    for_each_store!("iam_list_users", |s| {
        let s = &s.store;
        for name in AWKWARD {
            let mut u = user(name);
            u.path = "/eng/".into();
            s.create_user(&u).await.unwrap();
        }
        let mut ops = user("ops");
        ops.path = "/ops/x/".into();
        s.create_user(&ops).await.unwrap();
        let mut elsewhere = user("zz");
        elsewhere.account_id = OTHER.into();
        s.create_user(&elsewhere).await.unwrap();

        let expected = nocase_sorted(&AWKWARD);
        let names = |v: Vec<UserRecord>| v.into_iter().map(|u| u.user_name).collect::<Vec<_>>();
        assert_eq!(
            names(s.list_users(ACCOUNT, "/eng/", None, 100).await.unwrap()),
            expected
        );
        let mut all = AWKWARD.to_vec();
        all.push("ops");
        assert_eq!(
            names(s.list_users(ACCOUNT, "/", None, 100).await.unwrap()),
            nocase_sorted(&all)
        );
        assert_eq!(
            names(s.list_users(ACCOUNT, "/ops/", None, 100).await.unwrap()),
            vec!["ops".to_owned()]
        );
        assert!(
            s.list_users(ACCOUNT, "/none/", None, 100)
                .await
                .unwrap()
                .is_empty()
        );
        // A prefix is a prefix, not a pattern.
        assert!(
            s.list_users(ACCOUNT, "/e_g/", None, 100)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            s.list_users(ACCOUNT, "/e%", None, 100)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            names(s.list_users(OTHER, "/", None, 100).await.unwrap()),
            vec!["zz".to_owned()]
        );
        // Pages of 2, each after the last name of the one before.
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = names(
                s.list_users(ACCOUNT, "/eng/", after.as_deref(), 2)
                    .await
                    .unwrap(),
            );
            assert!(page.len() <= 2);
            if page.is_empty() {
                break;
            }
            after = page.last().cloned();
            paged.extend(page);
        }
        assert_eq!(paged, expected);
        // `after` compares without case too.
        assert_eq!(
            names(
                s.list_users(ACCOUNT, "/eng/", Some("A-B"), 2)
                    .await
                    .unwrap()
            ),
            vec!["a/b".to_owned(), "a_b".to_owned()]
        );
        assert!(
            s.list_users(ACCOUNT, "/eng/", None, 0)
                .await
                .unwrap()
                .is_empty()
        );

        // The record reads back whole, under any case of its name.
        let got = s.get_user(ACCOUNT, "A/B").await.unwrap().unwrap();
        let mut want = user("a/b");
        want.path = "/eng/".into();
        assert_eq!(got, want);
        // Another account's user is not this account's.
        assert!(s.get_user(ACCOUNT, "zz").await.unwrap().is_none());
        // A user id is unique too.
        let mut dup_id = user("someone");
        dup_id.user_id = user("A").user_id;
        assert!(matches!(
            s.create_user(&dup_id).await,
            Err(StoreError::AlreadyExists)
        ));
        // A name taken in one account is free in another.
        let mut again = user("a_B");
        again.account_id = OTHER.into();
        again.user_id = "AIDAother".into();
        s.create_user(&again).await.unwrap();
    });
}

/// Case is ASCII case only, as SQLite's NOCASE: other letters are distinct in either case.
#[tokio::test]
async fn only_ascii_letters_fold() {
    for_each_store!("iam_ascii_fold", |s| {
        let s = &s.store;
        for name in ["Émile", "émile", "İnci", "inci", "ADMIN"] {
            s.create_user(&user(name)).await.unwrap();
            s.create_role(&role(name)).await.unwrap();
            let mut p = managed(name);
            p.arn = format!("{}-arn", p.arn);
            s.create_managed_policy(&p).await.unwrap();
        }
        for name in ["Émile", "émile", "İnci", "inci", "ADMIN"] {
            assert!(
                s.put_inline_policy(ACCOUNT, PrincipalKind::User, "admin", name, name)
                    .await
                    .unwrap()
            );
        }
        // ASCII letters still fold: "ADMIN" is "admin", whatever the database's locale.
        let mut admin = user("admin");
        admin.user_id = "AIDAother".into();
        assert!(matches!(
            s.create_user(&admin).await,
            Err(StoreError::AlreadyExists)
        ));
        assert_eq!(
            s.get_user(ACCOUNT, "ÉMILE")
                .await
                .unwrap()
                .unwrap()
                .user_name,
            "Émile"
        );
        assert_eq!(
            s.get_user(ACCOUNT, "éMILE")
                .await
                .unwrap()
                .unwrap()
                .user_name,
            "émile"
        );
        assert_eq!(
            s.get_role(ACCOUNT, "İNCI")
                .await
                .unwrap()
                .unwrap()
                .role_name,
            "İnci"
        );
        assert_eq!(
            s.get_role(ACCOUNT, "INCI")
                .await
                .unwrap()
                .unwrap()
                .role_name,
            "inci"
        );
        let names: Vec<String> = s
            .list_users(ACCOUNT, "/", None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.user_name)
            .collect();
        assert_eq!(
            names,
            nocase_sorted(&["Émile", "émile", "İnci", "inci", "ADMIN"])
        );
        assert_eq!(
            s.get_inline_policy(ACCOUNT, PrincipalKind::User, "Admin", "ÉMILE")
                .await
                .unwrap()
                .as_deref(),
            Some("Émile")
        );
        assert_eq!(
            s.list_inline_policies(ACCOUNT, PrincipalKind::User, "admin")
                .await
                .unwrap()
                .len(),
            5
        );
    });
}

#[tokio::test]
async fn roles_list_tag_and_delete_with_their_sessions() {
    for_each_store!("iam_roles", |s| {
        let s = &s.store;
        for name in AWKWARD {
            let mut r = role(name);
            r.path = "/svc/".into();
            s.create_role(&r).await.unwrap();
        }
        s.create_role(&role("plain")).await.unwrap();
        let mut shouting = role("PLAIN");
        shouting.role_id = "AROAother".into();
        assert!(matches!(
            s.create_role(&shouting).await,
            Err(StoreError::AlreadyExists)
        ));
        let names = |v: Vec<RoleRecord>| v.into_iter().map(|r| r.role_name).collect::<Vec<_>>();
        assert_eq!(
            names(s.list_roles(ACCOUNT, "/svc/", None, 100).await.unwrap()),
            nocase_sorted(&AWKWARD)
        );
        let mut all = AWKWARD.to_vec();
        all.push("plain");
        assert_eq!(
            names(s.list_roles(ACCOUNT, "/", None, 100).await.unwrap()),
            nocase_sorted(&all)
        );
        assert_eq!(
            names(s.list_roles(ACCOUNT, "/", Some("b"), 2).await.unwrap()),
            vec!["b2".to_owned(), "plain".to_owned()]
        );
        assert!(
            s.list_roles(OTHER, "/", None, 100)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.get_role(ACCOUNT, "pLaIn").await.unwrap().unwrap(),
            role("plain")
        );
        let mut no_description = role("bare");
        no_description.description = None;
        s.create_role(&no_description).await.unwrap();
        assert_eq!(
            s.get_role(ACCOUNT, "bare").await.unwrap().unwrap(),
            no_description
        );
        assert!(s.get_role(OTHER, "plain").await.unwrap().is_none());

        // Role tags are compare-and-set as well.
        let new = tags(&[("env", "dev"), ("a", "b")]);
        assert!(matches!(
            s.set_principal_tags(ACCOUNT, PrincipalKind::Role, "plain", &[], &new)
                .await,
            Err(StoreError::Conflict)
        ));
        assert!(
            s.set_principal_tags(ACCOUNT, PrincipalKind::Role, "PLAIN", &role("x").tags, &new)
                .await
                .unwrap()
        );
        assert_eq!(
            s.get_role(ACCOUNT, "plain").await.unwrap().unwrap().tags,
            new
        );
        assert!(
            !s.set_principal_tags(ACCOUNT, PrincipalKind::Role, "nobody", &[], &new)
                .await
                .unwrap()
        );
        // A user named like the role is another principal.
        assert!(
            !s.set_principal_tags(ACCOUNT, PrincipalKind::User, "plain", &[], &new)
                .await
                .unwrap()
        );

        // Deleting a role: its policies first, and its sessions go with it.
        s.create_session(&session("ASIA1", ACCOUNT, "Plain", 10_000))
            .await
            .unwrap();
        s.create_session(&session("ASIA2", ACCOUNT, "b2", 10_000))
            .await
            .unwrap();
        s.create_session(&session("ASIA3", OTHER, "plain", 10_000))
            .await
            .unwrap();
        assert!(
            s.put_inline_policy(ACCOUNT, PrincipalKind::Role, "plain", "inline", "{}")
                .await
                .unwrap()
        );
        s.create_managed_policy(&managed("m")).await.unwrap();
        let m_arn = managed("m").arn;
        assert!(
            s.attach_policy(ACCOUNT, PrincipalKind::Role, "plain", &m_arn)
                .await
                .unwrap()
        );
        assert_eq!(
            s.delete_role(ACCOUNT, "plain").await.unwrap(),
            DeleteOutcome::HasInlinePolicies
        );
        assert!(
            s.delete_inline_policy(ACCOUNT, PrincipalKind::Role, "PLAIN", "INLINE")
                .await
                .unwrap()
        );
        assert_eq!(
            s.delete_role(ACCOUNT, "plain").await.unwrap(),
            DeleteOutcome::HasAttachments
        );
        assert!(
            s.detach_policy(ACCOUNT, PrincipalKind::Role, "Plain", &m_arn)
                .await
                .unwrap()
        );
        assert!(s.get_session("ASIA1").await.unwrap().is_some());
        assert_eq!(
            s.delete_role(ACCOUNT, "PLAIN").await.unwrap(),
            DeleteOutcome::Deleted
        );
        assert!(s.get_role(ACCOUNT, "plain").await.unwrap().is_none());
        assert!(s.get_session("ASIA1").await.unwrap().is_none());
        assert!(s.get_session("ASIA2").await.unwrap().is_some());
        assert!(s.get_session("ASIA3").await.unwrap().is_some());
        assert_eq!(
            s.delete_role(ACCOUNT, "plain").await.unwrap(),
            DeleteOutcome::NotFound
        );
        // The name is free again.
        s.create_role(&shouting).await.unwrap();
    });
}

// --- policies ---

#[tokio::test]
async fn inline_policies_replace_list_and_ignore_case() {
    for_each_store!("iam_inline", |s| {
        let s = &s.store;
        s.create_user(&user("u")).await.unwrap();
        s.create_role(&role("u")).await.unwrap();
        for (i, name) in AWKWARD.iter().enumerate() {
            assert!(
                s.put_inline_policy(ACCOUNT, PrincipalKind::User, "u", name, &format!("{i}"))
                    .await
                    .unwrap()
            );
        }
        let listed = s
            .list_inline_policies(ACCOUNT, PrincipalKind::User, "U")
            .await
            .unwrap();
        let names: Vec<String> = listed.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names, nocase_sorted(&AWKWARD));
        assert!(
            listed
                .iter()
                .all(|(n, d)| AWKWARD.iter().position(|a| a == n).unwrap().to_string() == *d)
        );
        // Replaced (whatever the case of the names), keeping the name it was created with.
        assert!(
            s.put_inline_policy(ACCOUNT, PrincipalKind::User, "U", "zED", "new")
                .await
                .unwrap()
        );
        assert_eq!(
            s.get_inline_policy(ACCOUNT, PrincipalKind::User, "u", "zed")
                .await
                .unwrap()
                .as_deref(),
            Some("new")
        );
        let listed = s
            .list_inline_policies(ACCOUNT, PrincipalKind::User, "u")
            .await
            .unwrap();
        assert_eq!(listed.len(), AWKWARD.len());
        assert!(listed.contains(&("Zed".to_owned(), "new".to_owned())));
        // A role's policies are its own.
        assert!(
            s.list_inline_policies(ACCOUNT, PrincipalKind::Role, "u")
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            s.get_inline_policy(ACCOUNT, PrincipalKind::Role, "u", "Zed")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.put_inline_policy(ACCOUNT, PrincipalKind::Role, "u", "Zed", "role")
                .await
                .unwrap()
        );
        assert!(
            !s.put_inline_policy(ACCOUNT, PrincipalKind::Role, "nobody", "p", "{}")
                .await
                .unwrap()
        );
        assert!(
            s.get_inline_policy(ACCOUNT, PrincipalKind::Role, "nobody", "p")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.get_inline_policy(OTHER, PrincipalKind::User, "u", "Zed")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.delete_inline_policy(ACCOUNT, PrincipalKind::User, "u", "ZED")
                .await
                .unwrap()
        );
        assert!(
            !s.delete_inline_policy(ACCOUNT, PrincipalKind::User, "u", "Zed")
                .await
                .unwrap()
        );
        assert_eq!(
            s.get_inline_policy(ACCOUNT, PrincipalKind::Role, "U", "zed")
                .await
                .unwrap()
                .as_deref(),
            Some("role")
        );
    });
}

#[tokio::test]
async fn managed_policies_attach_idempotently_and_list_in_name_order() {
    for_each_store!("iam_managed", |s| {
        let s = &s.store;
        s.create_user(&user("u")).await.unwrap();
        s.create_role(&role("r")).await.unwrap();
        let mut described = managed("Described");
        described.description = Some("d".into());
        described.tags = tags(&[("k", "v")]);
        described.path = "/p/".into();
        s.create_managed_policy(&described).await.unwrap();
        assert_eq!(
            s.get_managed_policy(ACCOUNT, &described.arn)
                .await
                .unwrap()
                .unwrap(),
            described
        );
        // The name is unique without case (and so are the id and the ARN).
        let mut other_case = managed("DESCRIBED");
        other_case.policy_id = "ANPAother".into();
        assert!(matches!(
            s.create_managed_policy(&other_case).await,
            Err(StoreError::AlreadyExists)
        ));
        assert!(
            s.get_managed_policy(ACCOUNT, "arn:nope")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.get_managed_policy(OTHER, &described.arn)
                .await
                .unwrap()
                .is_none()
        );
        for name in AWKWARD {
            s.create_managed_policy(&managed(name)).await.unwrap();
            assert!(
                s.attach_policy(ACCOUNT, PrincipalKind::User, "U", &managed(name).arn)
                    .await
                    .unwrap()
            );
        }
        // Idempotent: attaching again changes nothing.
        assert!(
            s.attach_policy(ACCOUNT, PrincipalKind::User, "u", &managed("A").arn)
                .await
                .unwrap()
        );
        assert!(
            s.attach_policy(ACCOUNT, PrincipalKind::Role, "R", &managed("A").arn)
                .await
                .unwrap()
        );
        assert_eq!(
            s.get_managed_policy(ACCOUNT, &managed("A").arn)
                .await
                .unwrap()
                .unwrap()
                .attachment_count,
            2
        );
        let attached: Vec<String> = s
            .attached_policies(ACCOUNT, PrincipalKind::User, "u")
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.policy_name)
            .collect();
        assert_eq!(attached, nocase_sorted(&AWKWARD));
        let on_role = s
            .attached_policies(ACCOUNT, PrincipalKind::Role, "r")
            .await
            .unwrap();
        assert_eq!(on_role.len(), 1);
        assert_eq!(on_role[0].attachment_count, 2);
        assert!(
            s.attached_policies(ACCOUNT, PrincipalKind::Role, "u")
                .await
                .unwrap()
                .is_empty()
        );
        // Nothing to attach to, or nothing to attach.
        assert!(
            !s.attach_policy(ACCOUNT, PrincipalKind::Role, "u", &described.arn)
                .await
                .unwrap()
        );
        assert!(
            !s.attach_policy(ACCOUNT, PrincipalKind::User, "u", "arn:nope")
                .await
                .unwrap()
        );
        assert!(
            !s.attach_policy(OTHER, PrincipalKind::User, "u", &described.arn)
                .await
                .unwrap()
        );
        assert_eq!(
            s.get_managed_policy(ACCOUNT, &described.arn)
                .await
                .unwrap()
                .unwrap()
                .attachment_count,
            0
        );
        assert!(
            !s.detach_policy(ACCOUNT, PrincipalKind::User, "u", &described.arn)
                .await
                .unwrap()
        );
        assert!(
            s.detach_policy(ACCOUNT, PrincipalKind::User, "U", &managed("A").arn)
                .await
                .unwrap()
        );
        assert!(
            !s.detach_policy(ACCOUNT, PrincipalKind::User, "u", &managed("A").arn)
                .await
                .unwrap()
        );
        assert_eq!(
            s.delete_managed_policy(ACCOUNT, &managed("A").arn)
                .await
                .unwrap(),
            DeleteOutcome::HasAttachments
        );
        assert_eq!(
            s.delete_managed_policy(OTHER, &described.arn)
                .await
                .unwrap(),
            DeleteOutcome::NotFound
        );
        assert_eq!(
            s.delete_managed_policy(ACCOUNT, &described.arn)
                .await
                .unwrap(),
            DeleteOutcome::Deleted
        );
        s.create_managed_policy(&other_case).await.unwrap();
    });
}

#[tokio::test]
async fn expired_sessions_are_deleted() {
    for_each_store!("iam_expired_sessions", |s| {
        let s = &s.store;
        s.create_session(&session("ASIA1", ACCOUNT, "r", 100))
            .await
            .unwrap();
        s.create_session(&session("ASIA2", OTHER, "r", 200))
            .await
            .unwrap();
        s.create_session(&session("ASIA3", ACCOUNT, "r", 300))
            .await
            .unwrap();
        assert_eq!(s.delete_sessions_before(100).await.unwrap(), 0);
        assert_eq!(s.delete_sessions_before(201).await.unwrap(), 2);
        assert!(s.get_session("ASIA1").await.unwrap().is_none());
        assert!(s.get_session("ASIA2").await.unwrap().is_none());
        assert!(s.get_session("ASIA3").await.unwrap().is_some());
        assert_eq!(s.delete_sessions_before(i64::MAX).await.unwrap(), 1);
    });
}

// --- restart ---

#[tokio::test]
async fn iam_data_survives_a_restart() {
    for_each_store!("iam_restart", |s| {
        let store = &s.store;
        let root = root_key(ACCOUNT, "AKIAROOT");
        store
            .create_account(ACCOUNT, 10, Some(&root))
            .await
            .unwrap();
        let alice = user("Alice");
        store.create_user(&alice).await.unwrap();
        assert!(
            store
                .create_access_key(&key("AKIAA", &alice), 2)
                .await
                .unwrap()
        );
        assert!(
            store
                .set_access_key_status("AKIAA", "Inactive")
                .await
                .unwrap()
        );
        let r = role("Runner");
        store.create_role(&r).await.unwrap();
        assert!(
            store
                .put_inline_policy(
                    ACCOUNT,
                    PrincipalKind::Role,
                    "runner",
                    "Inline",
                    "{\"a\":1}"
                )
                .await
                .unwrap()
        );
        let m = managed("M");
        store.create_managed_policy(&m).await.unwrap();
        assert!(
            store
                .attach_policy(ACCOUNT, PrincipalKind::User, "alice", &m.arn)
                .await
                .unwrap()
        );
        let sess = session("ASIAS", ACCOUNT, "Runner", 5_000);
        store.create_session(&sess).await.unwrap();
        store.close().await;

        let again = s.reopen().await;
        assert!(again.account_exists(ACCOUNT).await.unwrap());
        let k = again.get_access_key("AKIAROOT").await.unwrap().unwrap();
        assert_eq!(k.secret.expose_secret(), b"root secret");
        let k = again.get_access_key("AKIAA").await.unwrap().unwrap();
        assert_eq!(k.secret.expose_secret(), b"secret of AKIAA");
        assert_eq!(k.status, "Inactive");
        assert_eq!(again.get_user(ACCOUNT, "alice").await.unwrap(), Some(alice));
        assert_eq!(again.get_role(ACCOUNT, "RUNNER").await.unwrap(), Some(r));
        assert_eq!(
            again
                .list_inline_policies(ACCOUNT, PrincipalKind::Role, "Runner")
                .await
                .unwrap(),
            vec![("Inline".to_owned(), "{\"a\":1}".to_owned())]
        );
        let attached = again
            .attached_policies(ACCOUNT, PrincipalKind::User, "Alice")
            .await
            .unwrap();
        let mut want = m.clone();
        want.attachment_count = 1;
        assert_eq!(attached, vec![want]);
        let back = again.get_session("ASIAS").await.unwrap().unwrap();
        assert_eq!(back.secret.expose_secret(), b"session-secret-value");
        assert_eq!(back.token_sha256, sess.token_sha256);
        again.close().await;
    });
}

// --- notifications ---

/// Two account ids no other test (of this run or of another process on the same database)
/// uses: notifications are database-wide, not per schema.
fn unique_accounts() -> (String, String) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let base = u64::from(std::process::id()) * 10_000_000 + u64::from(nanos / 1000) % 10_000_000;
    (
        format!("8{:011}", base % 100_000_000_000),
        format!("9{:011}", base % 100_000_000_000),
    )
}

/// The next IAM change of one of `accounts` (others' notifications skipped), within 5 s.
async fn next_iam(rx: &mut broadcast::Receiver<Change>, accounts: &[&str]) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(Change::Iam { account_id })) if accounts.contains(&account_id.as_str()) => {
                return Some(account_id);
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("notifications: {e}"),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn iam_writes_notify_the_other_nodes() {
    for_each_store!("iam_notify", |s| {
        if s.is_postgres() {
            let (a, b) = unique_accounts();
            let (a, b) = (a.as_str(), b.as_str());
            let store = &s.store;
            let other = s.reopen().await;
            let mut rx = other.subscribe_changes().unwrap();
            // The other node may not listen yet (and its `All` may have come before we
            // subscribed): probe with a write of a third account until one is seen.
            let probe_account = format!("7{}", &a[1..]);
            let probe = root_key(&probe_account, &format!("AKIA{probe_account}"));
            store.put_access_key(&probe).await.unwrap();
            while next_iam(&mut rx, &[&probe_account]).await.is_none() {
                store
                    .set_access_key_status(&probe.access_key_id, "Active")
                    .await
                    .unwrap();
            }
            let mut expect = async |account: &str, what: &str| {
                assert_eq!(
                    next_iam(&mut rx, &[a, b]).await.as_deref(),
                    Some(account),
                    "{what}"
                );
            };
            let mut alice = user("alice");
            alice.account_id = a.to_owned();
            let mut r = role("r");
            r.account_id = a.to_owned();
            let mut m = managed("m");
            m.account_id = a.to_owned();

            store
                .create_account(a, 1, Some(&root_key(a, &format!("AKIA{a}"))))
                .await
                .unwrap();
            expect(a, "create_account").await;
            store
                .put_access_key(&root_key(b, &format!("AKIA{b}")))
                .await
                .unwrap();
            expect(b, "put_access_key").await;
            store.create_user(&alice).await.unwrap();
            expect(a, "create_user").await;
            let k = key(&format!("AKIAK{a}"), &alice);
            assert!(store.create_access_key(&k, 2).await.unwrap());
            expect(a, "create_access_key").await;
            assert!(
                store
                    .set_access_key_status(&k.access_key_id, "Inactive")
                    .await
                    .unwrap()
            );
            expect(a, "set_access_key_status").await;
            assert!(store.delete_access_key(&k.access_key_id).await.unwrap());
            expect(a, "delete_access_key").await;
            assert!(
                store
                    .set_principal_tags(a, PrincipalKind::User, "alice", &alice.tags, &[])
                    .await
                    .unwrap()
            );
            expect(a, "set_principal_tags").await;
            store.create_role(&r).await.unwrap();
            expect(a, "create_role").await;
            assert!(
                store
                    .put_inline_policy(a, PrincipalKind::User, "alice", "p", "{}")
                    .await
                    .unwrap()
            );
            expect(a, "put_inline_policy").await;
            assert!(
                store
                    .delete_inline_policy(a, PrincipalKind::User, "alice", "p")
                    .await
                    .unwrap()
            );
            expect(a, "delete_inline_policy").await;
            store.create_managed_policy(&m).await.unwrap();
            expect(a, "create_managed_policy").await;
            assert!(
                store
                    .attach_policy(a, PrincipalKind::User, "alice", &m.arn)
                    .await
                    .unwrap()
            );
            expect(a, "attach_policy").await;
            assert!(
                store
                    .detach_policy(a, PrincipalKind::User, "alice", &m.arn)
                    .await
                    .unwrap()
            );
            expect(a, "detach_policy").await;
            assert_eq!(
                store.delete_managed_policy(a, &m.arn).await.unwrap(),
                DeleteOutcome::Deleted
            );
            expect(a, "delete_managed_policy").await;
            assert_eq!(
                store.delete_user(a, "alice").await.unwrap(),
                DeleteOutcome::Deleted
            );
            expect(a, "delete_user").await;
            store
                .create_session(&session(&format!("ASIA{b}"), b, "r", 10))
                .await
                .unwrap();
            expect(b, "create_session").await;
            assert_eq!(store.delete_sessions_before(11).await.unwrap(), 1);
            expect(b, "delete_sessions_before").await;
            assert_eq!(
                store.delete_role(a, "r").await.unwrap(),
                DeleteOutcome::Deleted
            );
            expect(a, "delete_role").await;
            // What changes nothing tells nobody: one notification per write, no more.
            assert!(
                store
                    .attach_policy(a, PrincipalKind::User, "nobody", &m.arn)
                    .await
                    .is_ok_and(|attached| !attached)
            );
            assert!(!store.delete_access_key("AKIANOPE").await.unwrap());
            assert_eq!(
                next_iam(&mut rx, &[a, b]).await,
                None,
                "an extra notification"
            );
            other.close().await;
        }
    });
}

// --- concurrency: separate handles, as separate nodes ---

async fn handles(s: &crate::harness::Subject, n: usize) -> Vec<Arc<dyn Store>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(s.reopen().await);
    }
    out
}

async fn close_all(stores: Vec<Arc<dyn Store>>) {
    for store in stores {
        store.close().await;
    }
}

#[tokio::test]
async fn racing_creates_of_one_name_in_different_cases_have_one_winner() {
    for_each_store!("iam_race_create_user", |s| {
        let nodes = handles(&s, 6).await;
        for round in 0..3 {
            let mut tasks = Vec::new();
            for (i, node) in nodes.iter().enumerate() {
                let node = Arc::clone(node);
                // "carol0", "CAROL0", "Carol0", ...: one name without regard to case.
                let name: String = format!("carol{round}")
                    .chars()
                    .enumerate()
                    .map(|(j, c)| {
                        if (i >> (j % 3)) & 1 == 1 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect();
                let mut u = user(&name);
                u.user_id = format!("AIDA{round}x{i}");
                tasks.push(tokio::spawn(async move {
                    if i % 2 == 0 {
                        node.create_user(&u).await
                    } else {
                        let mut r = role(&u.user_name);
                        r.role_id = format!("AROA{}", u.user_id);
                        node.create_role(&r).await
                    }
                }));
            }
            let (mut users, mut roles) = (0, 0);
            for (i, t) in tasks.into_iter().enumerate() {
                match t.await.unwrap() {
                    Ok(()) if i % 2 == 0 => users += 1,
                    Ok(()) => roles += 1,
                    Err(StoreError::AlreadyExists) => {}
                    Err(e) => panic!("{}: {e}", s.name),
                }
            }
            assert_eq!((users, roles), (1, 1), "{}", s.name);
            let name = format!("CaRoL{round}");
            assert!(s.store.get_user(ACCOUNT, &name).await.unwrap().is_some());
            assert!(s.store.get_role(ACCOUNT, &name).await.unwrap().is_some());
        }
        assert_eq!(
            s.store
                .list_users(ACCOUNT, "/", None, 100)
                .await
                .unwrap()
                .len(),
            3
        );
        close_all(nodes).await;
    });
}

#[tokio::test]
async fn racing_access_key_creations_never_pass_the_limit() {
    for_each_store!("iam_race_key_limit", |s| {
        let nodes = handles(&s, 6).await;
        let owner = user("dave");
        s.store.create_user(&owner).await.unwrap();
        for (round, max) in [(0, 2u32), (1, 3), (2, 1)] {
            let mut owner = owner.clone();
            owner.arn = format!("{}-{round}", owner.arn);
            let mut tasks = Vec::new();
            for (i, node) in nodes.iter().enumerate() {
                let node = Arc::clone(node);
                let k = key(&format!("AKIA{round}N{i}"), &owner);
                tasks.push(tokio::spawn(async move {
                    node.create_access_key(&k, max).await
                }));
            }
            let mut created = 0;
            for t in tasks {
                if t.await.unwrap().unwrap() {
                    created += 1;
                }
            }
            assert_eq!(created, max, "{}", s.name);
            assert_eq!(
                s.store.list_access_keys(&owner.arn).await.unwrap().len(),
                max as usize
            );
        }
        close_all(nodes).await;
    });
}

#[tokio::test]
async fn racing_tag_writes_have_one_winner_and_lose_no_update() {
    for_each_store!("iam_race_tags", |s| {
        let nodes = handles(&s, 4).await;
        let eve = user("eve");
        s.store.create_user(&eve).await.unwrap();
        s.store.create_role(&role("eve")).await.unwrap();

        // Compare-and-set from one starting point: exactly one wins, the others conflict.
        let mut tasks = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let node = Arc::clone(node);
            let expected = eve.tags.clone();
            tasks.push(tokio::spawn(async move {
                let new = tags(&[("winner", &i.to_string())]);
                node.set_principal_tags(ACCOUNT, PrincipalKind::User, "EVE", &expected, &new)
                    .await
            }));
        }
        let mut winner = None;
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(true) => {
                    assert!(winner.is_none(), "{}: two winners", s.name);
                    winner = Some(i);
                }
                Err(StoreError::Conflict) => {}
                other => panic!("{}: {other:?}", s.name),
            }
        }
        let winner = winner.unwrap();
        assert_eq!(
            s.store
                .get_user(ACCOUNT, "eve")
                .await
                .unwrap()
                .unwrap()
                .tags,
            tags(&[("winner", &winner.to_string())])
        );

        // N writers x M writes, each read-check-write and retried on conflict: all N x M land.
        const WRITES: usize = 5;
        for kind in [PrincipalKind::User, PrincipalKind::Role] {
            let mut tasks = Vec::new();
            for (i, node) in nodes.iter().enumerate() {
                let node = Arc::clone(node);
                tasks.push(tokio::spawn(async move {
                    for j in 0..WRITES {
                        loop {
                            let current = match kind {
                                PrincipalKind::User => {
                                    node.get_user(ACCOUNT, "eve").await.unwrap().unwrap().tags
                                }
                                PrincipalKind::Role => {
                                    node.get_role(ACCOUNT, "eve").await.unwrap().unwrap().tags
                                }
                            };
                            let mut next = current.clone();
                            next.push((format!("w{i}"), format!("{j}")));
                            match node
                                .set_principal_tags(ACCOUNT, kind, "eve", &current, &next)
                                .await
                            {
                                Ok(true) => break,
                                Err(StoreError::Conflict) => tokio::task::yield_now().await,
                                other => panic!("{other:?}"),
                            }
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let final_tags = match kind {
                PrincipalKind::User => {
                    s.store
                        .get_user(ACCOUNT, "eve")
                        .await
                        .unwrap()
                        .unwrap()
                        .tags
                }
                PrincipalKind::Role => {
                    s.store
                        .get_role(ACCOUNT, "eve")
                        .await
                        .unwrap()
                        .unwrap()
                        .tags
                }
            };
            let mut written: Vec<(String, String)> = final_tags
                .iter()
                .filter(|(k, _)| k.starts_with('w') && k != "winner")
                .cloned()
                .collect();
            assert_eq!(written.len(), nodes.len() * WRITES, "{}", s.name);
            written.sort();
            written.dedup();
            assert_eq!(written.len(), nodes.len() * WRITES, "{}", s.name);
            // Each writer's own writes are in its order.
            for i in 0..nodes.len() {
                let mine: Vec<String> = final_tags
                    .iter()
                    .filter(|(k, _)| *k == format!("w{i}"))
                    .map(|(_, v)| v.clone())
                    .collect();
                let want: Vec<String> = (0..WRITES).map(|j| j.to_string()).collect();
                assert_eq!(mine, want, "{}", s.name);
            }
        }
        close_all(nodes).await;
    });
}

#[tokio::test]
async fn deleting_a_user_races_its_new_access_key_and_policies_consistently() {
    for_each_store!("iam_race_delete_user", |s| {
        let nodes = handles(&s, 3).await;
        let m = managed("m");
        s.store.create_managed_policy(&m).await.unwrap();
        let (mut deleted, mut kept, mut attached_kept) = (0, 0, 0i64);
        for round in 0..12 {
            let u = user(&format!("frank{round}"));
            s.store.create_user(&u).await.unwrap();
            let (a, b, c) = (
                Arc::clone(&nodes[0]),
                Arc::clone(&nodes[1]),
                Arc::clone(&nodes[2]),
            );
            let name = u.user_name.clone();
            let deleter = tokio::spawn(async move { a.delete_user(ACCOUNT, &name).await });
            let k = key(&format!("AKIAF{round}"), &u);
            let name = u.user_name.clone();
            let arn = m.arn.clone();
            let writer = tokio::spawn(async move {
                // A key, an inline policy or an attachment, by turns: what a delete checks.
                match round % 3 {
                    0 => b.create_access_key(&k, 2).await,
                    1 => {
                        b.put_inline_policy(ACCOUNT, PrincipalKind::User, &name, "p", "{}")
                            .await
                    }
                    _ => {
                        b.attach_policy(ACCOUNT, PrincipalKind::User, &name, &arn)
                            .await
                    }
                }
            });
            let outcome = deleter.await.unwrap().unwrap();
            let wrote = writer.await.unwrap().unwrap();
            let exists = c.get_user(ACCOUNT, &u.user_name).await.unwrap().is_some();
            let keys = c.list_access_keys(&u.arn).await.unwrap().len();
            let inline = c
                .list_inline_policies(ACCOUNT, PrincipalKind::User, &u.user_name)
                .await
                .unwrap()
                .len();
            let attached = c
                .attached_policies(ACCOUNT, PrincipalKind::User, &u.user_name)
                .await
                .unwrap()
                .len();
            match (round % 3, outcome) {
                // The key came first: the delete saw it.
                (0, DeleteOutcome::HasAccessKeys) => {
                    assert!(wrote && exists && keys == 1, "{}", s.name);
                    kept += 1;
                }
                // The delete came first; a key does not need its user to exist (on either
                // store), so it is created after the delete.
                (0, DeleteOutcome::Deleted) => {
                    assert!(wrote && !exists && keys == 1, "{}", s.name);
                    deleted += 1;
                }
                (1, DeleteOutcome::HasInlinePolicies) => {
                    assert!(wrote && exists && inline == 1, "{}", s.name);
                    kept += 1;
                }
                // A policy needs its user: never one left behind on a deleted user.
                (1, DeleteOutcome::Deleted) => {
                    assert!(!wrote && !exists && inline == 0, "{}", s.name);
                    deleted += 1;
                }
                (2, DeleteOutcome::HasAttachments) => {
                    assert!(wrote && exists && attached == 1, "{}", s.name);
                    kept += 1;
                    attached_kept += 1;
                }
                (2, DeleteOutcome::Deleted) => {
                    assert!(!wrote && !exists && attached == 0, "{}", s.name);
                    deleted += 1;
                }
                (r, o) => panic!("{}: round kind {r}: {o:?}", s.name),
            }
        }
        assert_eq!(deleted + kept, 12);
        // Nothing attached is left on a deleted user.
        assert_eq!(
            s.store
                .get_managed_policy(ACCOUNT, &m.arn)
                .await
                .unwrap()
                .unwrap()
                .attachment_count,
            attached_kept
        );
        close_all(nodes).await;
    });
}
