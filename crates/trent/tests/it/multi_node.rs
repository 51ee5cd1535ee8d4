//! Several Trent nodes on one PostgreSQL database: each node serves the others' writes, caches
//! stay coherent through change notifications, scheduled jobs run on one node, and the audit
//! chain written by both verifies as one chain. Each test gets a database of its own; they skip,
//! saying why, when TRENT_TEST_POSTGRES_URL is unset.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trent_crypto::SecretBytes;

use crate::harness::{TestServer, code};

/// How long a change made through one node may take to be seen by another. Notifications
/// arrive in milliseconds; the bound leaves room for a loaded test machine.
const COHERENCE_BOUND: Duration = Duration::from_secs(3);

/// A fresh database on the test server, dropped by [`Database::drop_now`].
pub(crate) struct Database {
    admin_url: String,
    name: String,
    pub url: String,
}

impl Database {
    pub(crate) async fn fresh(test: &str) -> Option<Database> {
        let Ok(admin_url) = std::env::var("TRENT_TEST_POSTGRES_URL") else {
            eprintln!("skipping {test}: TRENT_TEST_POSTGRES_URL is unset");
            return None;
        };
        let name = format!("trent_{test}_{}", std::process::id());
        let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Some(Database {
            admin_url,
            name,
            url,
        })
    }

    pub(crate) async fn drop_now(self) {
        let admin = sqlx::PgPool::connect(&self.admin_url).await.unwrap();
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&admin)
        .await
        .unwrap();
        admin.close().await;
    }
}

/// A node on `db` with its own data directory and the shared root key. The first node issues
/// the root credentials; later ones are given a copy (as an operator would copy them).
async fn node(
    db: &Database,
    dir: &Path,
    first: Option<&Path>,
    name: &str,
    root: &Arc<SecretBytes>,
) -> TestServer {
    if let Some(first) = first {
        std::fs::copy(first.join("root-credentials"), dir.join("root-credentials")).unwrap();
    }
    let url = db.url.clone();
    let (name, root) = (name.to_owned(), Arc::clone(root));
    TestServer::start_with(dir, move |o| {
        o.store = Some(url);
        o.node_id = name;
        o.root_key = Some(root);
    })
    .await
}

/// Polls `check` until it returns true or `COHERENCE_BOUND` passes; returns how long it took.
async fn within_bound<F, Fut>(mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < COHERENCE_BOUND,
            "the other node did not see the change within {COHERENCE_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_node_is_seen_by_the_other() {
    let Some(db) = Database::fresh("coherence").await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let root = Arc::new(SecretBytes::random(32).unwrap());
    let a = node(&db, dir_a.path(), None, "node-a", &root).await;
    let b = node(&db, dir_b.path(), Some(dir_a.path()), "node-b", &root).await;
    let (kms_a, kms_b) = (a.client(), b.client());

    // A key made on A encrypts on B (and B now caches it), then A disables it: B refuses it.
    let id = kms_a
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let encrypt_on_b = || {
        kms_b
            .encrypt()
            .key_id(&id)
            .plaintext(aws_sdk_kms::primitives::Blob::new(b"coherent".to_vec()))
            .send()
    };
    let ct = encrypt_on_b().await.unwrap().ciphertext_blob.unwrap();
    kms_a.disable_key().key_id(&id).send().await.unwrap();
    let took = within_bound(|| async {
        matches!(encrypt_on_b().await, Err(e) if code(&e) == "DisabledException")
    })
    .await;
    eprintln!("a key disabled on node A was refused on node B after {took:?}");
    kms_a.enable_key().key_id(&id).send().await.unwrap();
    within_bound(|| async { encrypt_on_b().await.is_ok() }).await;
    // Either node decrypts what the other encrypted.
    let pt = kms_a
        .decrypt()
        .ciphertext_blob(ct)
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap();
    assert_eq!(pt.as_ref(), b"coherent");

    // An alias moved on A resolves to the new key on B.
    let other = kms_a
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    kms_a
        .create_alias()
        .alias_name("alias/moving")
        .target_key_id(&id)
        .send()
        .await
        .unwrap();
    let target_on_b = || async {
        kms_b
            .describe_key()
            .key_id("alias/moving")
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .key_id
    };
    assert_eq!(target_on_b().await, id);
    kms_a
        .update_alias()
        .alias_name("alias/moving")
        .target_key_id(&other)
        .send()
        .await
        .unwrap();
    within_bound(|| async { target_on_b().await == other }).await;

    // A parameter read (and cached) on B follows a new version written on A.
    let (ssm_a, ssm_b) = (a.ssm(), b.ssm());
    let put = |v: &'static str| {
        ssm_a
            .put_parameter()
            .name("/coherent/p")
            .value(v)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
    };
    put("one").await.unwrap();
    let read_on_b = || async {
        ssm_b
            .get_parameter()
            .name("/coherent/p")
            .send()
            .await
            .unwrap()
            .parameter
            .unwrap()
            .value
            .unwrap()
    };
    assert_eq!(read_on_b().await, "one");
    put("two").await.unwrap();
    within_bound(|| async { read_on_b().await == "two" }).await;

    // A secret read (and cached) on B follows a new value written on A.
    let (sm_a, sm_b) = (
        a.secrets_manager("us-east-1"),
        b.secrets_manager("us-east-1"),
    );
    sm_a.create_secret()
        .name("coherent/s")
        .secret_string("first")
        .send()
        .await
        .unwrap();
    let secret_on_b = || async {
        sm_b.get_secret_value()
            .secret_id("coherent/s")
            .send()
            .await
            .unwrap()
            .secret_string
            .unwrap()
    };
    assert_eq!(secret_on_b().await, "first");
    sm_a.put_secret_value()
        .secret_id("coherent/s")
        .secret_string("second")
        .send()
        .await
        .unwrap();
    within_bound(|| async { secret_on_b().await == "second" }).await;

    // An IAM user's access key works on B until A deletes it.
    let creds = a.state.create_account(None).await.unwrap();
    let secret = std::str::from_utf8(creds.secret_access_key.expose_secret()).unwrap();
    let as_other = b.client_as(&creds.access_key_id, secret, "us-east-1");
    as_other.list_keys().send().await.unwrap();
    a.state
        .store
        .delete_access_key(&creds.access_key_id)
        .await
        .unwrap();
    // The store write above bypassed node A's IAM service, as another node's would: only the
    // notification tells B.
    within_bound(|| async {
        matches!(as_other.list_keys().send().await, Err(e) if code(&e) == "UnrecognizedClientException")
    })
    .await;

    a.stop().await;
    b.stop().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_jobs_run_on_one_node_and_move_when_it_stops() {
    let Some(db) = Database::fresh("scheduler").await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let root = Arc::new(SecretBytes::random(32).unwrap());
    let a = node(&db, dir_a.path(), None, "node-a", &root).await;
    let b = node(&db, dir_b.path(), Some(dir_a.path()), "node-b", &root).await;
    b.clock
        .set_ms(trent_store::clock::Clock::now_ms(a.clock.as_ref()));
    let kms = a.client();

    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = kms
            .create_key()
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .key_id;
        kms.schedule_key_deletion()
            .key_id(&id)
            .pending_window_in_days(7)
            .send()
            .await
            .unwrap();
        ids.push(id);
    }
    a.clock.advance_days(8);
    b.clock.advance_days(8);

    // Both nodes tick at once: exactly one runs the jobs, and the keys are deleted.
    let (ran_a, ran_b) = tokio::join!(
        trent_server::scheduler::tick(&a.state),
        trent_server::scheduler::tick(&b.state)
    );
    assert!(
        ran_a ^ ran_b,
        "exactly one node runs the jobs: a={ran_a} b={ran_b}"
    );
    for id in &ids {
        assert!(a.state.store.get_key(&scope(), id).await.unwrap().is_none());
    }
    // The holder keeps the lease while it ticks; the other node keeps waiting.
    let (holder, waiter) = if ran_a { (&a, &b) } else { (&b, &a) };
    for _ in 0..3 {
        holder.clock.advance_ms(10_000);
        waiter.clock.advance_ms(10_000);
        assert!(trent_server::scheduler::tick(&holder.state).await);
        assert!(!trent_server::scheduler::tick(&waiter.state).await);
    }
    // The holder stops ticking (it died): after the lease runs out, the other node takes over.
    waiter
        .clock
        .advance_ms(trent_server::scheduler::SCHEDULER_LEASE_MS + 1);
    assert!(trent_server::scheduler::tick(&waiter.state).await);

    a.stop().await;
    b.stop().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_write_one_audit_chain_that_verifies() {
    let Some(db) = Database::fresh("audit_chain").await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let root = Arc::new(SecretBytes::random(32).unwrap());
    let a = node(&db, dir_a.path(), None, "node-a", &root).await;
    let b = node(&db, dir_b.path(), Some(dir_a.path()), "node-b", &root).await;
    let (kms_a, kms_b) = (a.client(), b.client());
    let id = kms_a
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;

    // Both nodes answer requests at the same time, each waiting for its events to be durable.
    let per_node = 60;
    let run = |kms: aws_sdk_kms::Client, id: String| async move {
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (kms, id) = (kms.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..per_node / 4 {
                    kms.generate_random()
                        .number_of_bytes(8)
                        .send()
                        .await
                        .unwrap();
                    kms.describe_key().key_id(&id).send().await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    };
    tokio::join!(run(kms_a, id.clone()), run(kms_b, id));
    a.state.audit.write_digest().await.unwrap();
    b.state.audit.write_digest().await.unwrap();

    let store = &a.state.store;
    let events = store.audit_events(0, 100_000).await.unwrap();
    assert!(events.len() >= 2 * 2 * per_node, "{} events", events.len());
    let key = a.state.audit.public_key_der().to_vec();
    assert_eq!(
        key,
        b.state.audit.public_key_der(),
        "one signing key for every node"
    );
    let digests = store.audit_digests().await.unwrap();
    let report = trent_audit::verify(&key, &events, &digests);
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    a.stop().await;
    b.stop().await;
    db.drop_now().await;
}

fn scope() -> trent_store::Scope {
    trent_store::Scope::new("000000000000", "us-east-1")
}
