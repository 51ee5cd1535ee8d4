//! The audit log: the group-commit writer that appends events to the chain, the digest maker,
//! and the audit signing key.
//!
//! One writer owns the chain's tail. Requests hand it their event and wait; it takes every
//! event waiting (up to a batch limit) in one receive, links them, writes them in one
//! transaction (one fsync with SQLite's `synchronous=FULL`) and only then wakes their
//! requests. While a batch commits the next one gathers in the queue, and it is written as soon
//! as the commit returns, so the cost of durability is shared by all requests in flight.
//!
//! With SQLite the writer is a thread of its own holding its own connection
//! ([`trent_store::AuditAppender`]): a batch costs one wake-up of that thread and no round
//! trip between the runtime and a database worker. A store without such a connection gets the
//! same loop as a task over [`Store::append_audit_events`].

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};
use trent_crypto::{AsymmetricKey, SecretBytes};
use trent_store::clock::Clock;
use trent_store::{AuditAppender, AuditDigestRecord, AuditEventRecord, Store, StoreError};

use crate::chain::{self, ALG, Digest, GENESIS, SIGNATURE_ALGORITHM, SPEC};
use crate::record::{Event, format_time};

/// The `meta` entry holding the audit signing key (sealed by the barrier).
pub const SIGNING_KEY_META: &str = "audit_signing_key";
/// Most events written in one transaction.
const MAX_BATCH: usize = 1024;
/// Events waiting for the writer before requests wait to hand theirs over.
const QUEUE: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    #[error("the audit store failed")]
    Store(#[from] StoreError),
    #[error("cryptographic failure")]
    Crypto(#[from] trent_crypto::Error),
    #[error("the audit writer has stopped")]
    WriterStopped,
    #[error("the event could not be made durable")]
    NotDurable,
    #[error("an audit event does not match its hash")]
    Tampered,
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// The audit signing key: Ed25519, generated on first start and kept sealed by the barrier.
pub struct Signer {
    key: AsymmetricKey,
}

impl Signer {
    /// Loads the store's signing key, creating it on first use.
    pub async fn load_or_create(store: &dyn Store) -> Result<Signer, AuditError> {
        let pkcs8 = match store.get_sealed_meta(SIGNING_KEY_META).await? {
            Some(k) => k,
            None => {
                let fresh = trent_crypto::asymmetric::generate(SPEC)?;
                if store.put_sealed_meta_once(SIGNING_KEY_META, &fresh).await? {
                    fresh
                } else {
                    // Another process created it first.
                    store
                        .get_sealed_meta(SIGNING_KEY_META)
                        .await?
                        .ok_or(AuditError::Internal("audit signing key vanished"))?
                }
            }
        };
        Self::from_pkcs8(&pkcs8)
    }

    /// Loads the store's signing key, if one was created.
    pub async fn load(store: &dyn Store) -> Result<Option<Signer>, AuditError> {
        match store.get_sealed_meta(SIGNING_KEY_META).await? {
            Some(k) => Ok(Some(Self::from_pkcs8(&k)?)),
            None => Ok(None),
        }
    }

    /// A fresh key that is not stored anywhere (tests, tools).
    pub fn generate() -> Result<Signer, AuditError> {
        Self::from_pkcs8(&trent_crypto::asymmetric::generate(SPEC)?)
    }

    fn from_pkcs8(pkcs8: &SecretBytes) -> Result<Signer, AuditError> {
        Ok(Signer {
            key: AsymmetricKey::parse(SPEC, pkcs8)?,
        })
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn public_key_der(&self) -> &[u8] {
        self.key.public_key_der()
    }

    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AuditError> {
        Ok(self.key.sign(ALG, message, false)?)
    }
}

type Waiter = oneshot::Sender<Result<(), ()>>;

struct Job {
    event: Event,
    done: Waiter,
}

/// Records events durably and makes digests.
pub struct AuditLog {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    signer: Signer,
    /// `None` when auditing is turned off.
    queue: Option<mpsc::Sender<Job>>,
    /// Serialises digest making (interval and shutdown).
    digest_lock: Mutex<()>,
}

impl AuditLog {
    /// Opens the log on `store` and starts its writer task (on the current runtime). With
    /// `enabled == false`, [`AuditLog::record`] does nothing: for measuring the cost of
    /// auditing only.
    pub async fn open(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        enabled: bool,
    ) -> Result<AuditLog, AuditError> {
        let signer = Signer::load_or_create(store.as_ref()).await?;
        let queue = if enabled {
            let tail = store.audit_tail().await?;
            let appender = store.audit_appender()?;
            Some(start_writer(Arc::clone(&store), tail, appender)?)
        } else {
            None
        };
        Ok(AuditLog {
            store,
            clock,
            signer,
            queue,
            digest_lock: Mutex::new(()),
        })
    }

    pub fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    pub fn public_key_der(&self) -> &[u8] {
        self.signer.public_key_der()
    }

    /// Appends `event` to the chain; returns once it is durable.
    pub async fn record(&self, event: Event) -> Result<(), AuditError> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        let (done, wait) = oneshot::channel();
        queue
            .send(Job { event, done })
            .await
            .map_err(|_| AuditError::WriterStopped)?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(())) => Err(AuditError::NotDurable),
            Err(_) => Err(AuditError::WriterStopped),
        }
    }

    /// Signs a digest over the events written since the last one. Returns its number, or
    /// `None` when there was nothing new.
    pub async fn write_digest(&self) -> Result<Option<i64>, AuditError> {
        let _guard = self.digest_lock.lock().await;
        make_digest(self.store.as_ref(), &self.signer, self.clock.now_ms()).await
    }
}

impl AuditLog {
    /// Prunes the events older than `retention_ms` behind a signed checkpoint (see
    /// [`crate::checkpoint`]).
    pub async fn prune(&self, retention_ms: i64) -> Result<crate::checkpoint::Pruned, AuditError> {
        crate::checkpoint::prune(
            self.store.as_ref(),
            &self.signer,
            self.clock.now_ms(),
            retention_ms,
            PRUNE_BATCH,
        )
        .await
    }
}

/// Events deleted per transaction when pruning.
const PRUNE_BATCH: u32 = 5_000;

/// Signs a digest over the events after the last digest, if there are any.
pub async fn make_digest(
    store: &dyn Store,
    signer: &Signer,
    now_ms: i64,
) -> Result<Option<i64>, AuditError> {
    let Some((tail_seq, tail_hash)) = store.audit_tail().await? else {
        return Ok(None);
    };
    let last = store.last_audit_digest().await?;
    let Some(digest) = sign_digest(signer, last.as_ref(), tail_seq, &tail_hash, now_ms)? else {
        return Ok(None);
    };
    match store.append_audit_digest(&digest).await {
        Ok(()) => Ok(Some(digest.seq)),
        // Another node sharing the store signed this digest first; the next one covers what
        // this one would have.
        Err(StoreError::AlreadyExists) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The digest that follows `previous` and covers the events up to `tail_seq` (whose chain
/// hash is `tail_hash`); `None` when there is no event after `previous`.
pub fn sign_digest(
    signer: &Signer,
    previous: Option<&AuditDigestRecord>,
    tail_seq: i64,
    tail_hash: &[u8],
    now_ms: i64,
) -> Result<Option<AuditDigestRecord>, AuditError> {
    let (first_seq, digest_seq, prev_hash, prev_sig) = match previous {
        Some(d) => (
            d.last_seq.saturating_add(1),
            d.seq.saturating_add(1),
            Some(trent_crypto::hex(&trent_crypto::sha256(d.body.as_bytes()))),
            Some(trent_crypto::hex(&d.signature)),
        ),
        None => (1, 1, None, None),
    };
    if tail_seq < first_seq {
        return Ok(None);
    }
    let digest = Digest {
        digest_version: "1".to_owned(),
        digest_seq,
        digest_end_time: format_time(now_ms),
        first_seq,
        last_seq: tail_seq,
        last_event_hash: trent_crypto::hex(tail_hash),
        previous_digest_hash: prev_hash,
        previous_digest_signature: prev_sig,
        public_key_fingerprint: chain::fingerprint(signer.public_key_der()),
        signature_algorithm: SIGNATURE_ALGORITHM.to_owned(),
    };
    let body =
        serde_json::to_string(&digest).map_err(|_| AuditError::Internal("digest serialization"))?;
    let signature = signer.sign(body.as_bytes())?;
    Ok(Some(AuditDigestRecord {
        seq: digest_seq,
        created_ms: now_ms,
        first_seq,
        last_seq: tail_seq,
        body,
        signature,
    }))
}

/// Starts the writer after `tail`: on a thread of its own over `appender` when the store gave
/// one, else as a task on the current runtime. It ends once every sender is dropped and the
/// queue is empty.
fn start_writer(
    store: Arc<dyn Store>,
    tail: Tail,
    appender: Option<Box<dyn AuditAppender>>,
) -> Result<mpsc::Sender<Job>, AuditError> {
    let (tx, rx) = mpsc::channel(QUEUE);
    match appender {
        Some(appender) => {
            std::thread::Builder::new()
                .name("audit-writer".to_owned())
                .spawn(move || write_thread(appender, rx, tail))
                .map_err(|_| AuditError::Internal("the audit writer thread did not start"))?;
        }
        None => {
            tokio::spawn(write_loop(store, rx, tail));
        }
    }
    Ok(tx)
}

/// The chain's tail as the writer knows it: the last position and its hash.
type Tail = Option<(i64, Vec<u8>)>;

/// Links `jobs` to the chain after `tail`: moves each event into its row (the record is
/// serialized once, when the event was made; the hash covers exactly the bytes stored) and
/// keeps each waiter. Returns the tail the rows end at, to keep once they are durable.
fn link(
    tail: &Tail,
    jobs: &mut Vec<Job>,
    rows: &mut Vec<AuditEventRecord>,
    waiters: &mut Vec<Waiter>,
) -> Tail {
    let (mut seq, mut prev) = match tail {
        Some((s, h)) => (*s, h.clone()),
        None => (0, GENESIS.to_vec()),
    };
    for Job { event, done } in jobs.drain(..) {
        seq = seq.saturating_add(1);
        let hash = chain::event_hash(&prev, seq, event.record.as_bytes()).to_vec();
        rows.push(AuditEventRecord {
            seq,
            account_id: event.account_id,
            event_time_ms: event.event_time_ms,
            event_id: event.event_id,
            event_name: event.event_name,
            event_source: event.event_source,
            username: event.username,
            access_key_id: event.access_key_id,
            read_only: event.read_only,
            resources: event.resources,
            record: event.record,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
        });
        waiters.push(done);
    }
    Some((seq, prev))
}

/// How many times a batch is linked again after other writers appended before it is given up.
const RELINK_ATTEMPTS: u32 = 20;

/// The append failed because the chain had moved on (another node appended first): the batch
/// can be linked after the new tail and appended again.
fn moved_on(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict | StoreError::AlreadyExists)
}

/// Links already-built rows again, after `tail`: their positions and hashes change, their
/// records do not. Returns the tail they end at.
fn relink(tail: &Tail, rows: &mut [AuditEventRecord]) -> Tail {
    let (mut seq, mut prev) = match tail {
        Some((s, h)) => (*s, h.clone()),
        None => (0, GENESIS.to_vec()),
    };
    for row in rows.iter_mut() {
        seq = seq.saturating_add(1);
        let hash = chain::event_hash(&prev, seq, row.record.as_bytes()).to_vec();
        row.seq = seq;
        row.prev_hash = std::mem::replace(&mut prev, hash.clone());
        row.hash = hash;
    }
    Some((seq, prev))
}

fn report_failure(e: &StoreError, events: usize) {
    tracing::error!(error = %e, events, "audit events could not be written");
}

/// The writer on a thread of its own, over the store's [`AuditAppender`]: it takes every event
/// waiting (up to [`MAX_BATCH`]) in one receive, links them, appends them in one transaction
/// and then answers their requests. Events that arrive while a batch commits wait in the queue
/// and form the next batch, written as soon as the commit returns.
fn write_thread(mut appender: Box<dyn AuditAppender>, mut rx: mpsc::Receiver<Job>, mut tail: Tail) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut rows = Vec::with_capacity(MAX_BATCH);
    let mut waiters = Vec::with_capacity(MAX_BATCH);
    while rx.blocking_recv_many(&mut jobs, MAX_BATCH) > 0 {
        let mut next = link(&tail, &mut jobs, &mut rows, &mut waiters);
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            match appender.append(&rows) {
                Ok(()) => {
                    tail = next;
                    break Ok(());
                }
                Err(e) => {
                    // Another writer may have appended (another node on the same store):
                    // re-read the tail and link the batch after it.
                    let reread = appender.tail();
                    if let Ok(t) = &reread {
                        tail = t.clone();
                    }
                    if reread.is_ok() && moved_on(&e) && attempt < RELINK_ATTEMPTS {
                        next = relink(&tail, &mut rows);
                        continue;
                    }
                    report_failure(&e, rows.len());
                    break Err(());
                }
            }
        };
        for done in waiters.drain(..) {
            let _ = done.send(result);
        }
        rows.clear();
    }
}

/// The writer as a task, for stores without an [`AuditAppender`] (PostgreSQL, shared by several
/// nodes): the same batches, linked after the end this writer last wrote or read and appended
/// with [`Store::append_audit_events`] (on PostgreSQL one statement, one round trip); when
/// another node appended meanwhile, the batch goes through
/// [`Store::append_audit_events_linked`], which links it after the chain's end as it is when it
/// is written, under the chain's lock, and cannot conflict.
async fn write_loop(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Job>, mut tail: Tail) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut rows = Vec::with_capacity(MAX_BATCH);
    let mut waiters = Vec::with_capacity(MAX_BATCH);
    let relink_after = |tail: &Tail, rows: &mut [AuditEventRecord]| {
        relink(tail, rows);
    };
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        link(&tail, &mut jobs, &mut rows, &mut waiters);
        let appended = match store.append_audit_events(&rows).await {
            Err(e) if moved_on(&e) => {
                store
                    .append_audit_events_linked(&mut rows, &relink_after)
                    .await
            }
            other => other,
        };
        let result = match appended {
            Ok(()) => {
                tail = rows.last().map(|r| (r.seq, r.hash.clone()));
                Ok(())
            }
            Err(e) => {
                report_failure(&e, rows.len());
                if let Ok(t) = store.audit_tail().await {
                    tail = t;
                }
                Err(())
            }
        };
        for done in waiters.drain(..) {
            let _ = done.send(result);
        }
        rows.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use trent_crypto::SecretBytes;
    use trent_store::clock::SystemClock;
    use trent_store::{Barrier, SqliteStore};

    async fn sqlite(dir: &std::path::Path) -> Arc<dyn Store> {
        let barrier = Barrier::new(&SecretBytes::new(vec![9; 32])).unwrap();
        Arc::new(SqliteStore::open(dir, barrier).await.unwrap())
    }

    fn event(n: usize) -> Event {
        Event {
            account_id: "111122223333".into(),
            event_time_ms: 1_700_000_000_000,
            event_id: format!("id-{n}"),
            event_name: "Encrypt".into(),
            event_source: "kms.amazonaws.com".into(),
            username: Some("root".into()),
            access_key_id: None,
            read_only: false,
            resources: "[]".into(),
            record: format!(r#"{{"eventName":"Encrypt","n":{n}}}"#),
        }
    }

    /// Records `count` events from `tasks` concurrent tasks, each waiting for its event to be
    /// durable before the next, so batches of every size up to `tasks` form.
    async fn record_concurrently(log: &Arc<AuditLog>, first: usize, count: usize, tasks: usize) {
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let log = Arc::clone(log);
                tokio::spawn(async move {
                    for n in (first + t..first + count).step_by(tasks) {
                        log.record(event(n)).await.unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    }

    /// The stored chain: every event of `0..count` exactly once, and a chain that verifies.
    async fn assert_chain(store: &dyn Store, log: &AuditLog, count: usize) {
        let events = store.audit_events(0, u32::MAX).await.unwrap();
        assert_eq!(events.len(), count);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.seq, i as i64 + 1);
        }
        let mut ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "no event is written twice");
        let report = crate::chain::verify(log.public_key_der(), &events, &[]);
        assert!(report.is_ok(), "{:?}", report.problems);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_thread_chains_concurrent_events_and_a_reopened_log_continues() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(dir.path()).await;
        let log = Arc::new(
            AuditLog::open(Arc::clone(&store), Arc::new(SystemClock), true)
                .await
                .unwrap(),
        );
        record_concurrently(&log, 0, 600, 48).await;
        assert_chain(store.as_ref(), &log, 600).await;
        drop(log);
        let log = Arc::new(
            AuditLog::open(Arc::clone(&store), Arc::new(SystemClock), true)
                .await
                .unwrap(),
        );
        record_concurrently(&log, 600, 100, 7).await;
        assert_chain(store.as_ref(), &log, 700).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_task_does_the_same_for_a_store_without_an_appender() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(dir.path()).await;
        let mut log = AuditLog::open(Arc::clone(&store), Arc::new(SystemClock), false)
            .await
            .unwrap();
        log.queue = Some(start_writer(Arc::clone(&store), None, None).unwrap());
        let log = Arc::new(log);
        record_concurrently(&log, 0, 300, 32).await;
        assert_chain(store.as_ref(), &log, 300).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_is_linked_again_after_another_writers_append() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(dir.path()).await;
        let log = AuditLog::open(Arc::clone(&store), Arc::new(SystemClock), true)
            .await
            .unwrap();
        log.record(event(0)).await.unwrap();
        // Another writer takes position 2 behind this log's back.
        let (seq, prev) = store.audit_tail().await.unwrap().unwrap();
        let record = r#"{"eventName":"Decrypt","n":1}"#.to_owned();
        let hash = chain::event_hash(&prev, seq + 1, record.as_bytes()).to_vec();
        let e = event(1);
        store
            .append_audit_events(&[AuditEventRecord {
                seq: seq + 1,
                account_id: e.account_id,
                event_time_ms: e.event_time_ms,
                event_id: e.event_id,
                event_name: e.event_name,
                event_source: e.event_source,
                username: e.username,
                access_key_id: e.access_key_id,
                read_only: e.read_only,
                resources: e.resources,
                record,
                prev_hash: prev,
                hash,
            }])
            .await
            .unwrap();
        // The log's batch finds position 2 taken, is linked after it, and goes in.
        log.record(event(2)).await.unwrap();
        log.record(event(3)).await.unwrap();
        assert_chain(store.as_ref(), &log, 4).await;
    }
}
