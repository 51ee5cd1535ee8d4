//! What every store does the same way: bookkeeping values, the barrier check, leases, the
//! change notifications of a shared store.

use trent_crypto::SecretBytes;
use trent_store::{Barrier, Change, Scope, SqliteStore, StoreError};

use crate::harness::for_each_store;

#[tokio::test]
async fn meta_is_set_once_and_sealed_meta_opens() {
    for_each_store!("meta", |s| {
        let store = &s.store;
        assert_eq!(store.get_meta("m").await.unwrap(), None);
        assert!(store.put_meta_once("m", b"one").await.unwrap());
        assert!(!store.put_meta_once("m", b"two").await.unwrap());
        assert_eq!(
            store.get_meta("m").await.unwrap().as_deref(),
            Some(&b"one"[..])
        );
        let secret = SecretBytes::new(b"signing key".to_vec());
        assert!(store.put_sealed_meta_once("k", &secret).await.unwrap());
        let opened = s
            .reopen()
            .await
            .get_sealed_meta("k")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(opened.expose_secret(), b"signing key");
        // Sealed: the raw value is not the secret.
        let raw = store.get_meta("k").await.unwrap().unwrap();
        assert!(!raw.windows(11).any(|w| w == b"signing key"));
    });
}

#[tokio::test]
async fn a_wrong_root_key_is_refused_at_open() {
    for_each_store!("wrong_root", |s| {
        let wrong = Barrier::new(&SecretBytes::random(32).unwrap()).unwrap();
        let result = s.reopen_with(wrong).await;
        assert!(
            matches!(result, Err(StoreError::WrongRootKey)),
            "{}",
            s.name
        );
    });
}

#[tokio::test]
async fn a_lease_has_one_holder_until_it_expires() {
    for_each_store!("lease", |s| {
        let a = &s.store;
        let b = s.reopen().await;
        assert!(a.acquire_lease("job", "node-a", 1_000, 500).await.unwrap());
        // Held by a: b cannot take it, a can renew it.
        assert!(!b.acquire_lease("job", "node-b", 1_200, 500).await.unwrap());
        assert!(a.acquire_lease("job", "node-a", 1_400, 500).await.unwrap());
        assert!(!b.acquire_lease("job", "node-b", 1_800, 500).await.unwrap());
        // Expired (a last renewed until 1_900): b takes it, and a no longer holds it.
        assert!(b.acquire_lease("job", "node-b", 1_900, 500).await.unwrap());
        assert!(!a.acquire_lease("job", "node-a", 2_000, 500).await.unwrap());
        // Leases are independent of one another.
        assert!(
            a.acquire_lease("other", "node-a", 2_000, 500)
                .await
                .unwrap()
        );
        b.close().await;
    });
}

#[tokio::test]
async fn racing_nodes_get_a_lease_once() {
    for_each_store!("lease_race", |s| {
        let mut handles = Vec::new();
        for i in 0..8 {
            let store = s.reopen().await;
            handles.push(tokio::spawn(async move {
                let won = store
                    .acquire_lease("race", &format!("node-{i}"), 10_000, 60_000)
                    .await
                    .unwrap();
                store.close().await;
                won
            }));
        }
        let mut winners = 0;
        for h in handles {
            winners += usize::from(h.await.unwrap());
        }
        assert_eq!(winners, 1);
    });
}

#[test]
fn changes_round_trip_through_their_payload() {
    let scope = Scope::new("111122223333", "eu-west-1");
    for change in [
        Change::Key {
            scope: scope.clone(),
            key_id: "mrk-1".into(),
        },
        Change::Alias {
            scope: scope.clone(),
            alias_name: "alias/a/b".into(),
        },
        Change::Parameter {
            scope: scope.clone(),
            name: "/a/b c".into(),
        },
        Change::Secret {
            scope,
            name: "db/pass+word@x".into(),
        },
        Change::Iam {
            account_id: "111122223333".into(),
        },
        Change::All,
    ] {
        assert_eq!(Change::decode(&change.encode()), Some(change));
    }
    assert_eq!(Change::decode("k\ta\tb"), None);
    assert_eq!(Change::decode("k\ta\tb\tc\td"), None);
    assert_eq!(Change::decode("x"), None);
}

#[tokio::test]
async fn only_a_shared_store_publishes_changes() {
    let dir = tempfile::tempdir().unwrap();
    let root = SecretBytes::random(32).unwrap();
    let sqlite = SqliteStore::open(dir.path(), Barrier::new(&root).unwrap())
        .await
        .unwrap();
    assert!(trent_store::Store::subscribe_changes(&sqlite).is_none());
}

/// The PostgreSQL store reaches its database over TLS when the URL asks for it
/// (`sslmode=require`), where the server offers TLS.
#[tokio::test]
async fn postgres_connections_can_require_tls() {
    let Some(url) = crate::harness::postgres_url() else {
        return;
    };
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let offered: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&admin)
        .await
        .unwrap();
    admin.close().await;
    if offered != "on" {
        eprintln!("skipping the TLS test: the PostgreSQL server offers no TLS (ssl = {offered})");
        return;
    }
    let (schema, with) = crate::harness::fresh_postgres(&url, "tls").await;
    let over_tls = format!("{with}&sslmode=require");
    let root = SecretBytes::random(32).unwrap();
    let store = trent_store::PostgresStore::open(&over_tls, Barrier::new(&root).unwrap())
        .await
        .unwrap();
    assert!(
        trent_store::Store::put_meta_once(&store, "tls", b"yes")
            .await
            .unwrap()
    );
    trent_store::Store::close(&store).await;
    let pool = sqlx::PgPool::connect(&over_tls).await.unwrap();
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(encrypted);
    pool.close().await;
    crate::harness::drop_schema(&url, &schema).await;
}
