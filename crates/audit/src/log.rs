//! The audit log: the group-commit writer that appends events to the chain, the digest maker,
//! and the audit signing key.
//!
//! One task owns the chain's tail. Requests hand it their event and wait; it takes every event
//! waiting (up to a batch limit), links them, writes them in one SQLite transaction (one fsync
//! with `synchronous=FULL`) and only then wakes their requests. While a batch commits the next
//! one gathers, so the cost of durability is shared by all requests in flight.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};
use trent_crypto::{AsymmetricKey, SecretBytes};
use trent_store::clock::Clock;
use trent_store::{AuditDigestRecord, AuditEventRecord, Store, StoreError};

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

struct Job {
    event: Event,
    done: oneshot::Sender<Result<(), ()>>,
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
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(write_loop(Arc::clone(&store), rx, tail));
            Some(tx)
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
    store.append_audit_digest(&digest).await?;
    Ok(Some(digest.seq))
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

async fn write_loop(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Job>,
    mut tail: Option<(i64, Vec<u8>)>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (mut seq, mut prev) = match &tail {
            Some((s, h)) => (*s, h.clone()),
            None => (0, GENESIS.to_vec()),
        };
        let mut rows = Vec::with_capacity(batch.len());
        for job in &batch {
            seq = seq.saturating_add(1);
            let hash = chain::event_hash(&prev, seq, job.event.record.as_bytes()).to_vec();
            let e = &job.event;
            rows.push(AuditEventRecord {
                seq,
                account_id: e.account_id.clone(),
                event_time_ms: e.event_time_ms,
                event_id: e.event_id.clone(),
                event_name: e.event_name.clone(),
                event_source: e.event_source.clone(),
                username: e.username.clone(),
                access_key_id: e.access_key_id.clone(),
                read_only: e.read_only,
                resources: e.resources.clone(),
                record: e.record.clone(),
                prev_hash: std::mem::replace(&mut prev, hash.clone()),
                hash,
            });
        }
        let result = match store.append_audit_events(&rows).await {
            Ok(()) => {
                tail = Some((seq, prev));
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, events = rows.len(), "audit events could not be written");
                // Another writer may have appended (a second process on the same store):
                // re-read the tail so the next batch links to what is really there.
                if let Ok(t) = store.audit_tail().await {
                    tail = t;
                }
                Err(())
            }
        };
        for job in batch.drain(..) {
            let _ = job.done.send(result);
        }
    }
}
