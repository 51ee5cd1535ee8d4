//! The audit trail on PostgreSQL: events, digests, checkpoints.

#![allow(unused_variables, clippy::todo)] // TEMPORARY: filled in area by area

#[allow(unused_imports)]
use crate::*;

use super::PostgresStore;

pub(super) async fn append_audit_events(
    s: &PostgresStore,
    events: &[AuditEventRecord],
) -> Result<()> {
    let _ = (s, events);
    todo!()
}

pub(super) async fn audit_tail(s: &PostgresStore) -> Result<Option<(i64, Vec<u8>)>> {
    let _ = s;
    todo!()
}

pub(super) async fn audit_events(
    s: &PostgresStore,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<AuditEventRecord>> {
    let _ = (s, after_seq, limit);
    todo!()
}

pub(super) async fn lookup_audit_events(
    s: &PostgresStore,
    query: &AuditQuery,
) -> Result<Vec<AuditEventRecord>> {
    let _ = (s, query);
    todo!()
}

pub(super) async fn append_audit_digest(
    s: &PostgresStore,
    digest: &AuditDigestRecord,
) -> Result<()> {
    let _ = (s, digest);
    todo!()
}

pub(super) async fn audit_digests(s: &PostgresStore) -> Result<Vec<AuditDigestRecord>> {
    let _ = s;
    todo!()
}

pub(super) async fn last_audit_digest(s: &PostgresStore) -> Result<Option<AuditDigestRecord>> {
    let _ = s;
    todo!()
}

pub(super) async fn first_audit_seq_since(s: &PostgresStore, time_ms: i64) -> Result<Option<i64>> {
    let _ = (s, time_ms);
    todo!()
}

pub(super) async fn append_audit_checkpoint(
    s: &PostgresStore,
    checkpoint: &AuditCheckpointRecord,
) -> Result<()> {
    let _ = (s, checkpoint);
    todo!()
}

pub(super) async fn audit_checkpoints(s: &PostgresStore) -> Result<Vec<AuditCheckpointRecord>> {
    let _ = s;
    todo!()
}

pub(super) async fn prune_audit_events(
    s: &PostgresStore,
    through_seq: i64,
    limit: u32,
) -> Result<u64> {
    let _ = (s, through_seq, limit);
    todo!()
}
