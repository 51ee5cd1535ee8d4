//! Retention: pruning old events behind a signed checkpoint.
//!
//! Before events older than the retention period are deleted, a checkpoint is signed with the
//! audit signing key. It names the last pruned chain position and the chain hash there, so the
//! verifier starts from that position instead of the genesis and still checks every link after
//! it. Checkpoints form a chain of their own (each names the previous one's hash and
//! signature), like digests. The pruning itself runs in batches, each its own transaction,
//! after the checkpoint is durable: an interrupted prune leaves events behind the checkpoint,
//! which the verifier skips and the next run deletes.
//!
//! The last event of the chain is never pruned: the writer, and a restarted server, link the
//! next event to it. A checkpoint is signed at most once a day ([`CHECKPOINT_EVERY_MS`]), so
//! events may outlive the retention period by up to a day.

use serde::{Deserialize, Serialize};
use trent_store::{AuditCheckpointRecord, Store};

use crate::chain::{self, Problem, SIGNATURE_ALGORITHM, Verifier, event_hash};
use crate::log::{AuditError, Signer};
use crate::record::format_time;

/// The signed body of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub checkpoint_version: String,
    /// This checkpoint's position in the checkpoint chain, from 1.
    pub checkpoint_seq: i64,
    /// When it was made (`YYYY-MM-DDTHH:MM:SSZ`).
    pub checkpoint_time: String,
    /// Events older than this were due for pruning.
    pub retention_cutoff_time: String,
    /// The last pruned chain position: the trail goes on at the position after it.
    pub pruned_through: i64,
    /// Hex chain hash of event `pruned_through`: the next event's `prev_hash`.
    pub last_pruned_event_hash: String,
    /// Hex SHA-256 of the previous checkpoint's body; null for the first.
    pub previous_checkpoint_hash: Option<String>,
    /// Hex signature of the previous checkpoint; null for the first.
    pub previous_checkpoint_signature: Option<String>,
    /// Hex SHA-256 of the signing key's DER public key.
    pub public_key_fingerprint: String,
    pub signature_algorithm: String,
}

/// Signs the checkpoint that follows `previous`: events up to `pruned_through` (whose chain
/// hash is `hash`) may be pruned.
pub fn sign_checkpoint(
    signer: &Signer,
    previous: Option<&AuditCheckpointRecord>,
    pruned_through: i64,
    hash: &[u8],
    cutoff_ms: i64,
    now_ms: i64,
) -> Result<AuditCheckpointRecord, AuditError> {
    let (seq, prev_hash, prev_sig) = match previous {
        Some(c) => (
            c.seq.saturating_add(1),
            Some(trent_crypto::hex(&trent_crypto::sha256(c.body.as_bytes()))),
            Some(trent_crypto::hex(&c.signature)),
        ),
        None => (1, None, None),
    };
    let body = Checkpoint {
        checkpoint_version: "1".to_owned(),
        checkpoint_seq: seq,
        checkpoint_time: format_time(now_ms),
        retention_cutoff_time: format_time(cutoff_ms),
        pruned_through,
        last_pruned_event_hash: trent_crypto::hex(hash),
        previous_checkpoint_hash: prev_hash,
        previous_checkpoint_signature: prev_sig,
        public_key_fingerprint: chain::fingerprint(signer.public_key_der()),
        signature_algorithm: SIGNATURE_ALGORITHM.to_owned(),
    };
    let body = serde_json::to_string(&body)
        .map_err(|_| AuditError::Internal("checkpoint serialization"))?;
    let signature = signer.sign(body.as_bytes())?;
    Ok(AuditCheckpointRecord {
        seq,
        created_ms: now_ms,
        pruned_through,
        body,
        signature,
    })
}

/// Checks the checkpoint chain and returns the newest valid checkpoint with the problems
/// found.
pub fn check(
    public_key_der: &[u8],
    checkpoints: &[AuditCheckpointRecord],
) -> (Option<Checkpoint>, Vec<Problem>) {
    let print = chain::fingerprint(public_key_der);
    let mut problems = Vec::new();
    let mut newest: Option<(Checkpoint, [u8; 32], Vec<u8>)> = None;
    let mut expected = 1;
    for c in checkpoints {
        if c.seq > expected {
            problems.push(Problem::DeletedCheckpoints {
                from: expected,
                to: c.seq.saturating_sub(1),
            });
        } else if c.seq < expected {
            problems.push(Problem::CheckpointChainBroken { checkpoint: c.seq });
            continue;
        }
        let gap = c.seq > expected;
        expected = c.seq.saturating_add(1);
        let body = match serde_json::from_str::<Checkpoint>(&c.body) {
            Ok(b)
                if chain::signature_valid(public_key_der, c.body.as_bytes(), &c.signature)
                    && b.public_key_fingerprint == print
                    && b.checkpoint_seq == c.seq
                    && b.pruned_through == c.pruned_through =>
            {
                b
            }
            _ => {
                problems.push(Problem::ForgedCheckpoint { checkpoint: c.seq });
                continue;
            }
        };
        let follows = match &newest {
            None => c.seq == 1 && body.previous_checkpoint_hash.is_none(),
            Some((prev, phash, psig)) => {
                prev.checkpoint_seq == c.seq.saturating_sub(1)
                    && body
                        .previous_checkpoint_hash
                        .as_deref()
                        .and_then(trent_crypto::unhex)
                        .as_deref()
                        == Some(&phash[..])
                    && body
                        .previous_checkpoint_signature
                        .as_deref()
                        .and_then(trent_crypto::unhex)
                        .as_deref()
                        == Some(&psig[..])
                    && body.pruned_through >= prev.pruned_through
            }
        };
        if !follows && !gap {
            problems.push(Problem::CheckpointChainBroken { checkpoint: c.seq });
        }
        newest = Some((
            body,
            trent_crypto::sha256(c.body.as_bytes()),
            c.signature.clone(),
        ));
    }
    (newest.map(|(b, _, _)| b), problems)
}

impl Verifier {
    /// Checks `checkpoints` and starts the chain after the newest valid one.
    pub fn checkpoints(&mut self, public_key_der: &[u8], checkpoints: &[AuditCheckpointRecord]) {
        let (newest, problems) = check(public_key_der, checkpoints);
        for p in problems {
            self.problem(p);
        }
        if let Some(c) = newest {
            match trent_crypto::unhex(&c.last_pruned_event_hash) {
                Some(hash) => self.start_after(c.pruned_through, hash),
                None => self.problem(Problem::ForgedCheckpoint {
                    checkpoint: c.checkpoint_seq,
                }),
            }
            self.set_checkpoint(c);
        }
    }
}

/// The least time between two checkpoints.
pub const CHECKPOINT_EVERY_MS: i64 = 86_400_000;

/// What a retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// The checkpoint signed by this run, if it signed one.
    pub checkpoint: Option<i64>,
    /// Events deleted by this run.
    pub deleted: u64,
}

/// Deletes the events older than `now_ms - retention_ms`, `batch` at a time, after signing a
/// checkpoint for them. Returns what it did.
pub async fn prune(
    store: &dyn Store,
    signer: &Signer,
    now_ms: i64,
    retention_ms: i64,
    batch: u32,
) -> Result<Pruned, AuditError> {
    let mut out = Pruned::default();
    let cutoff = now_ms.saturating_sub(retention_ms);
    let Some((tail, _)) = store.audit_tail().await? else {
        return Ok(out);
    };
    let first_recent = store.first_audit_seq_since(cutoff).await?;
    // The tail stays: the next event links to it.
    let target = first_recent
        .unwrap_or(tail)
        .saturating_sub(1)
        .min(tail.saturating_sub(1));
    let checkpoints = store.audit_checkpoints().await?;
    let last = checkpoints.last();
    let covered = last.map_or(0, |c| c.pruned_through);
    // At most one checkpoint a day, however often the job runs: events outlive the period
    // by up to a day, and the checkpoint chain stays short.
    let due = last.is_none_or(|c| now_ms.saturating_sub(c.created_ms) >= CHECKPOINT_EVERY_MS);
    if due && target > covered {
        let event = store
            .audit_events(target.saturating_sub(1), 1)
            .await?
            .into_iter()
            .next()
            .filter(|e| e.seq == target)
            .ok_or(AuditError::Internal(
                "the event to checkpoint at is missing",
            ))?;
        // Never vouch for an event whose content does not match its hash.
        if event_hash(&event.prev_hash, event.seq, event.record.as_bytes()).as_slice()
            != event.hash.as_slice()
        {
            return Err(AuditError::Tampered);
        }
        let c = sign_checkpoint(signer, last, target, &event.hash, cutoff, now_ms)?;
        store.append_audit_checkpoint(&c).await?;
        out.checkpoint = Some(c.seq);
    }
    // What the newest checkpoint covers, and no further.
    let through = if out.checkpoint.is_some() {
        target
    } else {
        covered
    };
    if through < 1 {
        return Ok(out);
    }
    loop {
        let n = store.prune_audit_events(through, batch.max(1)).await?;
        out.deleted = out.deleted.saturating_add(n);
        if n < u64::from(batch.max(1)) {
            break;
        }
        // Let the audit writer have the database between batches.
        tokio::task::yield_now().await;
    }
    Ok(out)
}
