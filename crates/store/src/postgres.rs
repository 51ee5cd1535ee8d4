//! The PostgreSQL store, for several Trent nodes on one database.
//!
//! - The same tables as the embedded store (`migrations/postgres`), applied at open under
//!   sqlx's migration lock, so nodes starting together do not race.
//! - Every write runs in a transaction through [`in_tx!`] at the isolation it needs (row locks
//!   and version checks at READ COMMITTED; SERIALIZABLE where it decides on what it read
//!   across rows, a count limit say), retried on serialization failures and deadlocks.
//! - Writes that change something other nodes cache note it ([`notify`]) and tell them once
//!   committed (`pg_notify`), see [`Store::subscribe_changes`].
//! - A lost database fails requests fast (short acquire timeout) and the pool reconnects by
//!   itself when it is back.

use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sqlx::Row as _;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::broadcast;
use trent_crypto::SecretBytes;

use crate::{
    AccessKeyInfo, AccessKeyRecord, AliasRecord, AuditCheckpointRecord, AuditDigestRecord,
    AuditEventRecord, AuditQuery, Barrier, Change, DeleteOutcome, GrantRecord, ImportParameters,
    KeyMaterial, KeyRecord, KeyUsageRecord, ManagedPolicyRecord, NewSecretVersion, OutboxEvent,
    ParameterRecord, ParameterVersionRecord, PendingEvent, PrincipalKind, Result, RoleRecord,
    RowIdentity, Scope, SecretRecord, SecretReplicaRecord, SecretRotationRecord, SecretWrite,
    SessionRecord, Store, StoreError, UserRecord,
};

mod audit;
mod iam;
mod kms;
mod secrets;
mod ssm;

/// A pooled connection idle this long is pinged before it is used again.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

const BARRIER_CHECK: &str = "barrier_check";
const BARRIER_CHECK_VALUE: &[u8] = b"trent barrier check v1";
/// The notification channel of [`Change`]s is this followed by the store's schema: stores in
/// other schemas of the same database do not hear each other.
const CHANGES_CHANNEL: &str = "trent_changes_";
/// How long a request waits for a connection before failing: short, so that a lost database
/// answers with an error quickly instead of queueing every request.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// After a call finds the database unreachable, how long later calls fail at once, before one
/// tries again.
const DOWN_FOR_MS: i64 = 1_000;
/// Every node drops all its caches this often, whatever it heard: the bound on staleness when a
/// writer died between its commit and its notification.
pub(crate) const CACHE_HORIZON: Duration = Duration::from_secs(60);
/// How long opening waits for the change listener to start.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a serialization failure is retried before it is given up as a conflict.
const MAX_ATTEMPTS: u32 = 10;

pub struct PostgresStore {
    pub(crate) pool: PgPool,
    pub(crate) barrier: Barrier,
    /// Recently read secrets; every secret write, and every change notified by another node,
    /// invalidates its entry.
    pub(crate) secret_cache: Arc<crate::secret_cache::SecretCache>,
    changes: broadcast::Sender<Change>,
    listener: tokio::task::JoinHandle<()>,
    /// While the database is unreachable: until when (Unix ms) calls fail at once instead of
    /// each waiting for a connection (see [`PostgresStore::guarded`]).
    down_until_ms: AtomicI64,
    /// The audit writer's connection, kept between batches: taking one from the pool and
    /// giving it back costs a ping each time (see [`audit::append_audit_events`]).
    audit_conn: tokio::sync::Mutex<Option<sqlx::pool::PoolConnection<sqlx::Postgres>>>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Runs `$body` in a transaction named `$tx` and commits it, retrying the whole body when
/// PostgreSQL reports a serialization failure or a deadlock. `$body` is an expression that may
/// use `?`; it runs again from the start on every attempt, so it must not consume what it
/// borrows.
///
/// The isolation is what the operation needs:
/// - `in_tx!(s, |tx| ...)`: READ COMMITTED, for writes whose correctness rests on row locks —
///   a version- or revision-checked UPDATE (re-checked on the newest row version after waiting
///   for its lock), an INSERT against a unique key. Writes to different rows never conflict.
/// - `in_tx!(s, serializable: true, |tx| ...)`: SERIALIZABLE, for writes that decide on what
///   they read across rows — a count against a limit, a row that must still exist in another
///   table (a grant's key, an access key's user). Every transaction that could race such a
///   write uses it too, since PostgreSQL checks serializability among serializable ones only.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:expr) => {
        $crate::postgres::in_tx!($store, serializable: false, |$tx| $body)
    };
    ($store:expr, serializable: $serializable:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result: $crate::Result<_> = $crate::postgres::PENDING
                .scope(::std::cell::RefCell::new(Vec::new()), async {
                    let mut $tx = $crate::postgres::begin(&$store.pool, $serializable).await?;
                    let value = $body;
                    $tx.commit().await?;
                    Ok((value, $crate::postgres::PENDING.with(|p| p.take())))
                })
                .await;
            match result {
                Ok((value, changes)) => {
                    $store.publish(changes).await;
                    break Ok(value);
                }
                Err(e)
                    if $crate::postgres::is_retryable(&e)
                        && attempt < $crate::postgres::max_attempts() =>
                {
                    $crate::postgres::backoff(attempt).await;
                }
                Err(e) if $crate::postgres::is_retryable(&e) => {
                    break Err($crate::StoreError::Conflict);
                }
                Err(e) => break Err(e),
            }
        }
    }};
}
pub(crate) use in_tx;

pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// A transaction: READ COMMITTED (PostgreSQL's default), or SERIALIZABLE.
pub(crate) async fn begin(pool: &PgPool, serializable: bool) -> Result<Tx> {
    let mut tx = pool.begin().await?;
    if serializable {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

pub(crate) const fn max_attempts() -> u32 {
    MAX_ATTEMPTS
}

/// A serialization failure (40001) or a deadlock (40P01): the transaction may succeed if run
/// again.
pub(crate) fn is_retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Database(sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("40001" | "40P01"))
        }
        _ => false,
    }
}

/// A short, growing, jittered pause before a transaction runs again.
pub(crate) async fn backoff(attempt: u32) {
    let base = 2u64.saturating_pow(attempt.min(6));
    let jitter = u64::from(std::process::id() ^ attempt.wrapping_mul(2_654_435_761)) % base.max(1);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

/// The database could not be reached (as opposed to refusing a statement).
fn is_unreachable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolClosed
    )
}

fn unix_ms() -> i64 {
    crate::clock::Clock::now_ms(&crate::clock::SystemClock)
}

tokio::task_local! {
    /// The changes noted by the transaction [`in_tx!`] runs in this task, published once it
    /// committed.
    pub(crate) static PENDING: std::cell::RefCell<Vec<Change>>;
}

/// Notes that `change` happens in the transaction `_tx`: the other nodes are told once it
/// commits (nothing is told of a transaction that rolls back).
///
/// Not a `NOTIFY` inside the transaction: PostgreSQL commits notifying transactions one at a
/// time under a database-wide lock held through the commit's flush, which capped writes at a
/// few hundred per second. The cost is a window of one round trip after a commit in which a
/// node that dies leaves the others unaware; every node therefore also drops its caches every
/// [`CACHE_HORIZON`], bounding how long that can last.
pub(crate) async fn notify(_tx: &mut Tx, change: &Change) -> Result<()> {
    PENDING
        .try_with(|p| p.borrow_mut().push(change.clone()))
        .map_err(|_| StoreError::Corrupt("a change noted outside a transaction"))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/database`), applies migrations and checks
    /// that `barrier` holds the root key this store was created with.
    pub async fn open(url: &str, barrier: Barrier) -> Result<Self> {
        Self::open_with(PgConnectOptions::from_str(url)?, barrier).await
    }

    /// [`PostgresStore::open`] with connection options built by the caller (a schema on the
    /// search path, say).
    pub async fn open_with(options: PgConnectOptions, mut barrier: Barrier) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .min_connections(1)
            // sqlx pings every connection before handing it out (and again when it comes
            // back): a round trip per query, which on a busy node took a third of the reads'
            // throughput (every answer waits for an audit commit through this pool). Only a
            // connection that sat idle for a while is pinged: it may have been dropped by the
            // database or the network meanwhile. A busy connection that breaks fails its
            // query, and the ping when it comes back closes it.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        // A node of the previous release restarting after a newer one migrated the schema
        // keeps working: migrations only add (docs/deployment.md).
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        let ring = sqlx::query("SELECT value FROM meta WHERE name = $1")
            .bind(barrier.keyring_name())
            .fetch_optional(&pool)
            .await?;
        if let Some(row) = ring {
            let sealed: Vec<u8> = row.try_get("value")?;
            barrier
                .install_keyring(&sealed)
                .map_err(|_| StoreError::WrongRootKey)?;
        }
        let secret_cache = Arc::new(crate::secret_cache::SecretCache::default());
        let (changes, _) = broadcast::channel(1024);
        let schema: String = sqlx::query_scalar("SELECT current_schema()::TEXT")
            .fetch_one(&pool)
            .await?;
        let (ready, listening) = tokio::sync::oneshot::channel();
        let listener = tokio::spawn(listen(
            pool.clone(),
            format!("{CHANGES_CHANNEL}{schema}"),
            changes.clone(),
            Arc::clone(&secret_cache),
            ready,
        ));
        // Open returns once this node hears the others, so no change after it goes unheard.
        if tokio::time::timeout(LISTEN_TIMEOUT, listening)
            .await
            .is_err()
        {
            listener.abort();
            return Err(StoreError::Corrupt(
                "could not listen for the other nodes' change notifications",
            ));
        }
        let store = PostgresStore {
            pool,
            barrier,
            secret_cache,
            changes,
            listener,
            down_until_ms: AtomicI64::new(0),
            audit_conn: tokio::sync::Mutex::new(None),
        };
        store.check_barrier().await?;
        Ok(store)
    }

    /// Runs a store call, failing it at once while the database is known to be unreachable: a
    /// request makes several calls, and each would otherwise wait for a connection in turn.
    /// One call per [`DOWN_FOR_MS`] tries for real and finds out whether it is back.
    async fn guarded<T>(&self, call: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let now = unix_ms();
        if now < self.down_until_ms.load(Ordering::Relaxed) {
            return Err(StoreError::Database(sqlx::Error::PoolTimedOut));
        }
        let result = call.await;
        if let Err(StoreError::Database(e)) = &result
            && is_unreachable(e)
        {
            self.down_until_ms
                .store(unix_ms().saturating_add(DOWN_FOR_MS), Ordering::Relaxed);
        }
        result
    }

    /// Tells the other nodes (and this one) about committed `changes`, in one statement.
    pub(crate) async fn publish(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let payloads: Vec<String> = changes.iter().map(Change::encode).collect();
        // The statement's own transaction commits without waiting for a WAL flush: a
        // notification needs no durability, and waiting would cost a flush per write.
        let sent = sqlx::query(
            "SELECT set_config('synchronous_commit', 'off', true),
                    pg_notify($1 || current_schema(), p)
             FROM unnest($2::TEXT[]) AS p",
        )
        .bind(CHANGES_CHANNEL)
        .bind(&payloads)
        .execute(&self.pool)
        .await;
        if let Err(e) = sent {
            // The write committed; the other nodes learn of it at their next cache horizon.
            tracing::warn!(error = %e, changes = payloads.len(), "change notification failed");
        }
    }

    /// Records `new_root` as the next term after this store's root key `current_root`, as
    /// [`crate::SqliteStore::add_root_key_term`] does.
    pub async fn add_root_key_term(
        &self,
        current_root: &SecretBytes,
        new_root: &SecretBytes,
    ) -> Result<()> {
        let mut current = Barrier::new(current_root)?;
        let ring = sqlx::query("SELECT value FROM meta WHERE name = $1")
            .bind(current.keyring_name())
            .fetch_optional(&self.pool)
            .await?;
        let keys = match ring {
            Some(row) => current.install_keyring(&row.try_get::<Vec<u8>, _>("value")?)?,
            None => crate::KeyringKeys::first(),
        };
        let next = current.next_keyring(current_root, &keys)?;
        let new = Barrier::new(new_root)?;
        sqlx::query(
            "INSERT INTO meta (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(new.keyring_name())
        .bind(new.seal_keyring(&next)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// As in the embedded store: a known value written through the barrier on the first open
    /// and read back on every later one. Two nodes opening a new database together both try to
    /// write it; one does, and the other reads and checks it.
    async fn check_barrier(&self) -> Result<()> {
        let id = RowIdentity {
            table: "meta",
            key: &[BARRIER_CHECK],
        };
        let fresh = self.barrier.seal(&id, BARRIER_CHECK_VALUE)?;
        sqlx::query("INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(BARRIER_CHECK)
            .bind(fresh)
            .execute(&self.pool)
            .await?;
        let sealed: Vec<u8> = sqlx::query("SELECT value FROM meta WHERE name = $1")
            .bind(BARRIER_CHECK)
            .fetch_one(&self.pool)
            .await?
            .try_get("value")?;
        let opened = self
            .barrier
            .open(&id, &sealed)
            .map_err(|_| StoreError::WrongRootKey)?;
        if opened.expose_secret() != BARRIER_CHECK_VALUE {
            return Err(StoreError::WrongRootKey);
        }
        if Barrier::term_of(&sealed) != Some(self.barrier.term()) {
            let resealed = self.barrier.seal(&id, BARRIER_CHECK_VALUE)?;
            sqlx::query("UPDATE meta SET value = $1 WHERE name = $2")
                .bind(resealed)
                .bind(BARRIER_CHECK)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}

/// Receives the change notifications of every node and hands them to subscribers. When the
/// connection is lost, notifications sent meanwhile are lost with it: subscribers are told to
/// start over ([`Change::All`]) once it is back.
async fn listen(
    pool: PgPool,
    channel: String,
    changes: broadcast::Sender<Change>,
    secret_cache: Arc<crate::secret_cache::SecretCache>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut delay = Duration::from_millis(100);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for change notifications; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(e) = listener.listen(&channel).await {
            tracing::warn!(error = %e, "cannot listen for change notifications; retrying");
            tokio::time::sleep(delay).await;
            continue;
        }
        delay = Duration::from_millis(100);
        // Whatever happened while nobody listened is unknown.
        deliver(&changes, &secret_cache, Change::All);
        if let Some(ready) = ready.take() {
            let _ = ready.send(());
        }
        let mut horizon =
            tokio::time::interval_at(tokio::time::Instant::now() + CACHE_HORIZON, CACHE_HORIZON);
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                _ = horizon.tick() => {
                    deliver(&changes, &secret_cache, Change::All);
                    continue;
                }
            };
            match received {
                Ok(Some(notification)) => match Change::decode(notification.payload()) {
                    Some(change) => deliver(&changes, &secret_cache, change),
                    None => tracing::warn!("unknown change notification ignored"),
                },
                // The connection was lost: listen again on a new one.
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "change notifications interrupted");
                    break;
                }
            }
        }
    }
}

fn deliver(
    changes: &broadcast::Sender<Change>,
    secret_cache: &crate::secret_cache::SecretCache,
    change: Change,
) {
    match &change {
        Change::Secret { scope, name } => secret_cache.invalidate(scope, name),
        Change::All => secret_cache.clear(),
        _ => {}
    }
    // No subscriber yet is not an error.
    let _ = changes.send(change);
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn create_key(&self, key: &KeyRecord, material: Option<&KeyMaterial>) -> Result<()> {
        self.guarded(kms::create_key(self, key, material)).await
    }

    async fn get_key(&self, scope: &Scope, key_id: &str) -> Result<Option<KeyRecord>> {
        self.guarded(kms::get_key(self, scope, key_id)).await
    }

    async fn update_key(&self, key: &KeyRecord) -> Result<i64> {
        self.guarded(kms::update_key(self, key)).await
    }

    async fn list_keys(&self, scope: &Scope, after_seq: i64, limit: u32) -> Result<Vec<KeyRecord>> {
        self.guarded(kms::list_keys(self, scope, after_seq, limit))
            .await
    }

    async fn key_materials(&self, scope: &Scope, key_id: &str) -> Result<Vec<KeyMaterial>> {
        self.guarded(kms::key_materials(self, scope, key_id)).await
    }

    async fn add_key_material(&self, key: &KeyRecord, material: &KeyMaterial) -> Result<i64> {
        self.guarded(kms::add_key_material(self, key, material))
            .await
    }

    async fn add_key_material_to_keys(
        &self,
        keys: &[KeyRecord],
        material: &KeyMaterial,
    ) -> Result<Vec<i64>> {
        self.guarded(kms::add_key_material_to_keys(self, keys, material))
            .await
    }

    async fn related_keys(&self, account_id: &str, key_id: &str) -> Result<Vec<KeyRecord>> {
        self.guarded(kms::related_keys(self, account_id, key_id))
            .await
    }

    async fn update_keys(&self, keys: &[KeyRecord]) -> Result<Vec<i64>> {
        self.guarded(kms::update_keys(self, keys)).await
    }

    async fn create_related_key(
        &self,
        key: &KeyRecord,
        materials: &[KeyMaterial],
        related: &[KeyRecord],
    ) -> Result<Vec<i64>> {
        self.guarded(kms::create_related_key(self, key, materials, related))
            .await
    }

    async fn delete_key_with_updates(
        &self,
        key: &KeyRecord,
        related: &[KeyRecord],
    ) -> Result<Vec<i64>> {
        self.guarded(kms::delete_key_with_updates(self, key, related))
            .await
    }

    async fn keys_due_for_rotation(&self, now_ms: i64) -> Result<Vec<(Scope, String)>> {
        self.guarded(kms::keys_due_for_rotation(self, now_ms)).await
    }

    async fn put_imported_material(&self, key: &KeyRecord, material: &KeyMaterial) -> Result<i64> {
        self.guarded(kms::put_imported_material(self, key, material))
            .await
    }

    async fn delete_key_materials(&self, key: &KeyRecord) -> Result<i64> {
        self.guarded(kms::delete_key_materials(self, key)).await
    }

    async fn keys_with_expired_material(&self, now_ms: i64) -> Result<Vec<(Scope, String)>> {
        self.guarded(kms::keys_with_expired_material(self, now_ms))
            .await
    }

    async fn delete_key(&self, scope: &Scope, key_id: &str) -> Result<()> {
        self.guarded(kms::delete_key(self, scope, key_id)).await
    }

    async fn keys_due_for_deletion(&self, now_ms: i64) -> Result<Vec<(Scope, String)>> {
        self.guarded(kms::keys_due_for_deletion(self, now_ms)).await
    }

    async fn record_key_usage(&self, usage: &[KeyUsageRecord]) -> Result<()> {
        self.guarded(kms::record_key_usage(self, usage)).await
    }

    async fn key_usage(&self, scope: &Scope, key_id: &str) -> Result<Option<KeyUsageRecord>> {
        self.guarded(kms::key_usage(self, scope, key_id)).await
    }

    async fn put_import_parameters(&self, params: &ImportParameters) -> Result<()> {
        self.guarded(kms::put_import_parameters(self, params)).await
    }

    async fn get_import_parameters(
        &self,
        scope: &Scope,
        token_id: &str,
    ) -> Result<Option<ImportParameters>> {
        self.guarded(kms::get_import_parameters(self, scope, token_id))
            .await
    }

    async fn delete_import_parameters_before(&self, before_ms: i64) -> Result<u64> {
        self.guarded(kms::delete_import_parameters_before(self, before_ms))
            .await
    }

    async fn create_alias(&self, alias: &AliasRecord) -> Result<()> {
        self.guarded(kms::create_alias(self, alias)).await
    }

    async fn get_alias(&self, scope: &Scope, alias_name: &str) -> Result<Option<AliasRecord>> {
        self.guarded(kms::get_alias(self, scope, alias_name)).await
    }

    async fn update_alias(
        &self,
        scope: &Scope,
        alias_name: &str,
        key_id: &str,
        now_ms: i64,
    ) -> Result<bool> {
        self.guarded(kms::update_alias(self, scope, alias_name, key_id, now_ms))
            .await
    }

    async fn delete_alias(&self, scope: &Scope, alias_name: &str) -> Result<bool> {
        self.guarded(kms::delete_alias(self, scope, alias_name))
            .await
    }

    async fn list_aliases(
        &self,
        scope: &Scope,
        key_id: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AliasRecord>> {
        self.guarded(kms::list_aliases(self, scope, key_id, after, limit))
            .await
    }

    async fn get_parameter(&self, scope: &Scope, name: &str) -> Result<Option<ParameterRecord>> {
        self.guarded(ssm::get_parameter(self, scope, name)).await
    }

    async fn get_parameter_version(
        &self,
        scope: &Scope,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<ParameterVersionRecord>> {
        self.guarded(ssm::get_parameter_version(self, scope, name, version))
            .await
    }

    async fn get_parameter_version_by_label(
        &self,
        scope: &Scope,
        name: &str,
        label: &str,
    ) -> Result<Option<ParameterVersionRecord>> {
        self.guarded(ssm::get_parameter_version_by_label(
            self, scope, name, label,
        ))
        .await
    }

    async fn parameter_versions(
        &self,
        scope: &Scope,
        name: &str,
        after_version: i64,
        limit: u32,
    ) -> Result<Vec<ParameterVersionRecord>> {
        self.guarded(ssm::parameter_versions(
            self,
            scope,
            name,
            after_version,
            limit,
        ))
        .await
    }

    async fn put_parameter_version(
        &self,
        param: &ParameterRecord,
        version: &ParameterVersionRecord,
        create: bool,
        drop_version: Option<i64>,
        tier_limit: Option<i64>,
        event: Option<&OutboxEvent>,
    ) -> Result<i64> {
        self.guarded(ssm::put_parameter_version(
            self,
            param,
            version,
            create,
            drop_version,
            tier_limit,
            event,
        ))
        .await
    }

    async fn set_parameter_labels(
        &self,
        param: &ParameterRecord,
        version: i64,
        add: &[String],
        remove: &[String],
        event: Option<&OutboxEvent>,
    ) -> Result<i64> {
        self.guarded(ssm::set_parameter_labels(
            self, param, version, add, remove, event,
        ))
        .await
    }

    async fn set_parameter_tags(&self, param: &ParameterRecord) -> Result<i64> {
        self.guarded(ssm::set_parameter_tags(self, param)).await
    }

    async fn delete_parameter(&self, scope: &Scope, name: &str) -> Result<bool> {
        self.guarded(ssm::delete_parameter(self, scope, name)).await
    }

    async fn delete_parameter_checked(
        &self,
        param: &ParameterRecord,
        events: &[OutboxEvent],
    ) -> Result<()> {
        self.guarded(ssm::delete_parameter_checked(self, param, events))
            .await
    }

    async fn set_parameter_policies(
        &self,
        param: &ParameterRecord,
        events: &[OutboxEvent],
    ) -> Result<i64> {
        self.guarded(ssm::set_parameter_policies(self, param, events))
            .await
    }

    async fn parameters_with_due_policies(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<(Scope, String)>> {
        self.guarded(ssm::parameters_with_due_policies(self, now_ms, limit))
            .await
    }

    async fn count_parameters(&self, scope: &Scope, tier: Option<&str>) -> Result<i64> {
        self.guarded(ssm::count_parameters(self, scope, tier)).await
    }

    async fn create_secret(
        &self,
        secret: &SecretRecord,
        version: Option<&NewSecretVersion>,
    ) -> Result<()> {
        self.guarded(secrets::create_secret(self, secret, version))
            .await
    }

    async fn get_secret(&self, scope: &Scope, name: &str) -> Result<Option<SecretRecord>> {
        self.guarded(secrets::get_secret(self, scope, name)).await
    }

    async fn save_secret(
        &self,
        secret: &SecretRecord,
        version: Option<&NewSecretVersion>,
    ) -> Result<i64> {
        self.guarded(secrets::save_secret(self, secret, version))
            .await
    }

    async fn get_secret_ciphertext(
        &self,
        scope: &Scope,
        name: &str,
        version_id: &str,
    ) -> Result<Option<Vec<u8>>> {
        self.guarded(secrets::get_secret_ciphertext(
            self, scope, name, version_id,
        ))
        .await
    }

    async fn touch_secret(
        &self,
        scope: &Scope,
        name: &str,
        version_id: &str,
        day_ms: i64,
    ) -> Result<()> {
        self.guarded(secrets::touch_secret(self, scope, name, version_id, day_ms))
            .await
    }

    async fn list_secrets(&self, scope: &Scope) -> Result<Vec<SecretRecord>> {
        self.guarded(secrets::list_secrets(self, scope)).await
    }

    async fn delete_secret(&self, scope: &Scope, name: &str, revision: i64) -> Result<bool> {
        self.guarded(secrets::delete_secret(self, scope, name, revision))
            .await
    }

    async fn secrets_due_for_purge(&self, now_ms: i64, limit: u32) -> Result<Vec<(Scope, String)>> {
        self.guarded(secrets::secrets_due_for_purge(self, now_ms, limit))
            .await
    }

    async fn write_secrets(&self, writes: &[SecretWrite<'_>]) -> Result<()> {
        self.guarded(secrets::write_secrets(self, writes)).await
    }

    async fn secret_replicas(&self, scope: &Scope, name: &str) -> Result<Vec<SecretReplicaRecord>> {
        self.guarded(secrets::secret_replicas(self, scope, name))
            .await
    }

    async fn secret_primary_region(&self, scope: &Scope, name: &str) -> Result<Option<String>> {
        self.guarded(secrets::secret_primary_region(self, scope, name))
            .await
    }

    async fn secret_primary_regions(&self, scope: &Scope) -> Result<Vec<(String, String)>> {
        self.guarded(secrets::secret_primary_regions(self, scope))
            .await
    }

    async fn get_secret_rotation(
        &self,
        scope: &Scope,
        name: &str,
    ) -> Result<Option<SecretRotationRecord>> {
        self.guarded(secrets::get_secret_rotation(self, scope, name))
            .await
    }

    async fn put_secret_rotation(
        &self,
        scope: &Scope,
        name: &str,
        rotation: &SecretRotationRecord,
    ) -> Result<()> {
        self.guarded(secrets::put_secret_rotation(self, scope, name, rotation))
            .await
    }

    async fn secret_rotations_due(&self, now_ms: i64, limit: u32) -> Result<Vec<(Scope, String)>> {
        self.guarded(secrets::secret_rotations_due(self, now_ms, limit))
            .await
    }

    async fn pending_events(&self, limit: u32) -> Result<Vec<PendingEvent>> {
        self.guarded(ssm::pending_events(self, limit)).await
    }

    async fn ack_event(&self, seq: i64, acked: &[String]) -> Result<()> {
        self.guarded(ssm::ack_event(self, seq, acked)).await
    }

    async fn delete_event(&self, seq: i64) -> Result<()> {
        self.guarded(ssm::delete_event(self, seq)).await
    }

    async fn list_parameters_by_path(
        &self,
        scope: &Scope,
        prefix: &str,
        recursive: bool,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(ParameterRecord, ParameterVersionRecord)>> {
        self.guarded(ssm::list_parameters_by_path(
            self, scope, prefix, recursive, after, limit,
        ))
        .await
    }

    async fn create_grant(&self, grant: &GrantRecord) -> Result<()> {
        self.guarded(kms::create_grant(self, grant)).await
    }

    async fn key_grants(&self, scope: &Scope, key_id: &str) -> Result<Vec<GrantRecord>> {
        self.guarded(kms::key_grants(self, scope, key_id)).await
    }

    async fn grant_by_token(&self, token_hash: &[u8]) -> Result<Option<GrantRecord>> {
        self.guarded(kms::grant_by_token(self, token_hash)).await
    }

    async fn retirable_grants(
        &self,
        region: &str,
        retiring_principal: &str,
    ) -> Result<Vec<GrantRecord>> {
        self.guarded(kms::retirable_grants(self, region, retiring_principal))
            .await
    }

    async fn delete_grant(&self, scope: &Scope, key_id: &str, grant_id: &str) -> Result<bool> {
        self.guarded(kms::delete_grant(self, scope, key_id, grant_id))
            .await
    }

    async fn append_audit_events(&self, events: &[AuditEventRecord]) -> Result<()> {
        self.guarded(audit::append_audit_events(self, events)).await
    }

    async fn audit_tail(&self) -> Result<Option<(i64, Vec<u8>)>> {
        self.guarded(audit::audit_tail(self)).await
    }

    async fn audit_events(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEventRecord>> {
        self.guarded(audit::audit_events(self, after_seq, limit))
            .await
    }

    async fn lookup_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEventRecord>> {
        self.guarded(audit::lookup_audit_events(self, query)).await
    }

    async fn append_audit_digest(&self, digest: &AuditDigestRecord) -> Result<()> {
        self.guarded(audit::append_audit_digest(self, digest)).await
    }

    async fn audit_digests(&self) -> Result<Vec<AuditDigestRecord>> {
        self.guarded(audit::audit_digests(self)).await
    }

    async fn last_audit_digest(&self) -> Result<Option<AuditDigestRecord>> {
        self.guarded(audit::last_audit_digest(self)).await
    }

    async fn first_audit_seq_since(&self, time_ms: i64) -> Result<Option<i64>> {
        self.guarded(audit::first_audit_seq_since(self, time_ms))
            .await
    }

    async fn append_audit_checkpoint(&self, checkpoint: &AuditCheckpointRecord) -> Result<()> {
        self.guarded(audit::append_audit_checkpoint(self, checkpoint))
            .await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpointRecord>> {
        self.guarded(audit::audit_checkpoints(self)).await
    }

    async fn prune_audit_events(&self, through_seq: i64, limit: u32) -> Result<u64> {
        self.guarded(audit::prune_audit_events(self, through_seq, limit))
            .await
    }

    async fn put_access_key(&self, key: &AccessKeyRecord) -> Result<()> {
        self.guarded(iam::put_access_key(self, key)).await
    }

    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>> {
        self.guarded(iam::get_access_key(self, access_key_id)).await
    }

    async fn create_account(
        &self,
        account_id: &str,
        created_ms: i64,
        root_key: Option<&AccessKeyRecord>,
    ) -> Result<()> {
        self.guarded(iam::create_account(self, account_id, created_ms, root_key))
            .await
    }

    async fn account_exists(&self, account_id: &str) -> Result<bool> {
        self.guarded(iam::account_exists(self, account_id)).await
    }

    async fn create_access_key(&self, key: &AccessKeyRecord, max: u32) -> Result<bool> {
        self.guarded(iam::create_access_key(self, key, max)).await
    }

    async fn list_access_keys(&self, principal_arn: &str) -> Result<Vec<AccessKeyInfo>> {
        self.guarded(iam::list_access_keys(self, principal_arn))
            .await
    }

    async fn set_access_key_status(&self, access_key_id: &str, status: &str) -> Result<bool> {
        self.guarded(iam::set_access_key_status(self, access_key_id, status))
            .await
    }

    async fn delete_access_key(&self, access_key_id: &str) -> Result<bool> {
        self.guarded(iam::delete_access_key(self, access_key_id))
            .await
    }

    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        self.guarded(iam::create_user(self, user)).await
    }

    async fn get_user(&self, account_id: &str, user_name: &str) -> Result<Option<UserRecord>> {
        self.guarded(iam::get_user(self, account_id, user_name))
            .await
    }

    async fn list_users(
        &self,
        account_id: &str,
        path_prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserRecord>> {
        self.guarded(iam::list_users(self, account_id, path_prefix, after, limit))
            .await
    }

    async fn delete_user(&self, account_id: &str, user_name: &str) -> Result<DeleteOutcome> {
        self.guarded(iam::delete_user(self, account_id, user_name))
            .await
    }

    async fn set_principal_tags(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        name: &str,
        expected: &[(String, String)],
        tags: &[(String, String)],
    ) -> Result<bool> {
        self.guarded(iam::set_principal_tags(
            self, account_id, kind, name, expected, tags,
        ))
        .await
    }

    async fn create_role(&self, role: &RoleRecord) -> Result<()> {
        self.guarded(iam::create_role(self, role)).await
    }

    async fn get_role(&self, account_id: &str, role_name: &str) -> Result<Option<RoleRecord>> {
        self.guarded(iam::get_role(self, account_id, role_name))
            .await
    }

    async fn list_roles(
        &self,
        account_id: &str,
        path_prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RoleRecord>> {
        self.guarded(iam::list_roles(self, account_id, path_prefix, after, limit))
            .await
    }

    async fn delete_role(&self, account_id: &str, role_name: &str) -> Result<DeleteOutcome> {
        self.guarded(iam::delete_role(self, account_id, role_name))
            .await
    }

    async fn put_inline_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<bool> {
        self.guarded(iam::put_inline_policy(
            self,
            account_id,
            kind,
            principal,
            policy_name,
            document,
        ))
        .await
    }

    async fn get_inline_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        policy_name: &str,
    ) -> Result<Option<String>> {
        self.guarded(iam::get_inline_policy(
            self,
            account_id,
            kind,
            principal,
            policy_name,
        ))
        .await
    }

    async fn list_inline_policies(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<(String, String)>> {
        self.guarded(iam::list_inline_policies(self, account_id, kind, principal))
            .await
    }

    async fn delete_inline_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        policy_name: &str,
    ) -> Result<bool> {
        self.guarded(iam::delete_inline_policy(
            self,
            account_id,
            kind,
            principal,
            policy_name,
        ))
        .await
    }

    async fn create_managed_policy(&self, policy: &ManagedPolicyRecord) -> Result<()> {
        self.guarded(iam::create_managed_policy(self, policy)).await
    }

    async fn get_managed_policy(
        &self,
        account_id: &str,
        arn: &str,
    ) -> Result<Option<ManagedPolicyRecord>> {
        self.guarded(iam::get_managed_policy(self, account_id, arn))
            .await
    }

    async fn delete_managed_policy(&self, account_id: &str, arn: &str) -> Result<DeleteOutcome> {
        self.guarded(iam::delete_managed_policy(self, account_id, arn))
            .await
    }

    async fn attach_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        arn: &str,
    ) -> Result<bool> {
        self.guarded(iam::attach_policy(self, account_id, kind, principal, arn))
            .await
    }

    async fn detach_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        arn: &str,
    ) -> Result<bool> {
        self.guarded(iam::detach_policy(self, account_id, kind, principal, arn))
            .await
    }

    async fn attached_policies(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<ManagedPolicyRecord>> {
        self.guarded(iam::attached_policies(self, account_id, kind, principal))
            .await
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<()> {
        self.guarded(iam::create_session(self, session)).await
    }

    async fn get_session(&self, access_key_id: &str) -> Result<Option<SessionRecord>> {
        self.guarded(iam::get_session(self, access_key_id)).await
    }

    async fn delete_sessions_before(&self, before_ms: i64) -> Result<u64> {
        self.guarded(iam::delete_sessions_before(self, before_ms))
            .await
    }

    async fn get_sealed_meta(&self, name: &str) -> Result<Option<SecretBytes>> {
        let Some(sealed) = self.get_meta(name).await? else {
            return Ok(None);
        };
        let id = RowIdentity {
            table: "meta",
            key: &[name],
        };
        Ok(Some(self.barrier.open(&id, &sealed)?))
    }

    async fn put_sealed_meta_once(&self, name: &str, value: &SecretBytes) -> Result<bool> {
        let id = RowIdentity {
            table: "meta",
            key: &[name],
        };
        let sealed = self.barrier.seal(&id, value.expose_secret())?;
        self.put_meta_once(name, &sealed).await
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT value FROM meta WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get("value"))
            .transpose()
            .map_err(Into::into)
    }

    async fn put_meta_once(&self, name: &str, value: &[u8]) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn append_audit_events_linked(
        &self,
        events: &mut [AuditEventRecord],
        link: &crate::AuditLinker,
    ) -> Result<()> {
        self.guarded(audit::append_audit_events_linked(self, events, link))
            .await
    }

    fn subscribe_changes(&self) -> Option<broadcast::Receiver<Change>> {
        Some(self.changes.subscribe())
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool> {
        // One statement: the row lock taken by the upsert orders two nodes racing for a lease.
        let done = sqlx::query(
            "INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                expires_ms = excluded.expires_ms
             WHERE leases.holder = excluded.holder OR leases.expires_ms <= $4",
        )
        .bind(name)
        .bind(holder)
        .bind(now_ms.saturating_add(ttl_ms))
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn close(&self) {
        self.listener.abort();
        self.pool.close().await;
    }
}
