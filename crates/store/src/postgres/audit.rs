//! The audit trail on PostgreSQL: events, digests, checkpoints.
//!
//! Several nodes append to one chain, each append under the chain's transaction-scoped advisory
//! lock. A writer links a batch after the end it knows and appends it in one statement that
//! takes the lock and inserts only if the row before the batch is still the one it linked
//! from, or the table is empty ([`append_audit_events`]: one round trip, one WAL flush). Since
//! positions are a primary key, two writers that linked after the same end cannot both insert:
//! the second finds its position taken ([`StoreError::AlreadyExists`]) or its link gone
//! ([`StoreError::Conflict`]), and appends the batch again linked after the end it reads once
//! it holds the lock ([`append_audit_events_linked`]), which no other append can then come
//! between. The chain keeps one order, the order of the appends, and verifies as one chain
//! whatever the number of nodes.

use sqlx::Row as _;

use super::PostgresStore;
use crate::rows::{digest_from_row, event_from_row};
use crate::{
    AuditAttribute, AuditCheckpointRecord, AuditDigestRecord, AuditEventRecord, AuditQuery, Result,
    StoreError,
};

/// The advisory lock key of the audit chain (any constant shared by every node).
const CHAIN_LOCK: i64 = 0x7472_656e_7461_7564; // "trentaud"
/// Rows per INSERT: 13 parameters each, far below PostgreSQL's 65,535.
const ROWS_PER_INSERT: usize = 512;

/// One statement for the batch (the group commit), in its own implicit transaction. The rows
/// go in as one array per column, so the statement's text, prepared once per connection, is
/// the same for every batch size. The statement takes the chain lock before it inserts (and
/// holds it to its commit), so it never comes between the tail read and the insert of a
/// [`append_audit_events_linked`]. Its snapshot may predate the lock; that is harmless: rows
/// are never changed once written, so the row the batch was linked from, once seen, is still
/// there, and an append committed meanwhile at the same positions fails the primary key.
///
/// The writer appends batch after batch, so it keeps one connection of the pool between them
/// instead of taking one for each (sqlx pings a connection when it comes back to the pool: a
/// round trip per batch). A connection that failed goes back to the pool, whose ping closes it
/// if it is broken, and the next batch takes another.
pub(super) async fn append_audit_events(
    s: &PostgresStore,
    events: &[AuditEventRecord],
) -> Result<()> {
    let Some(first) = events.first() else {
        return Ok(());
    };
    let mut held = s.audit_conn.lock().await;
    let conn = match &mut *held {
        Some(conn) => conn,
        None => held.insert(s.pool.acquire().await?),
    };
    let done = sqlx::query(
        "WITH chain_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock($16))
         INSERT INTO audit_events (seq, account_id, event_time_ms, event_id, event_name,
            event_source, username, access_key_id, read_only, resources, record, prev_hash,
            hash)
         SELECT r.* FROM chain_lock, UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[],
            $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::TEXT[],
            $11::TEXT[], $12::BYTEA[], $13::BYTEA[]) AS r
         WHERE EXISTS (SELECT 1 FROM audit_events WHERE seq = $14 AND hash = $15)
            OR NOT EXISTS (SELECT 1 FROM audit_events)",
    )
    .bind(column(events, |e| e.seq))
    .bind(column(events, |e| e.account_id.clone()))
    .bind(column(events, |e| e.event_time_ms))
    .bind(column(events, |e| e.event_id.clone()))
    .bind(column(events, |e| e.event_name.clone()))
    .bind(column(events, |e| e.event_source.clone()))
    .bind(column(events, |e| e.username.clone()))
    .bind(column(events, |e| e.access_key_id.clone()))
    .bind(column(events, |e| i64::from(e.read_only)))
    .bind(column(events, |e| e.resources.clone()))
    .bind(column(events, |e| e.record.clone()))
    .bind(column(events, |e| e.prev_hash.clone()))
    .bind(column(events, |e| e.hash.clone()))
    .bind(first.seq.saturating_sub(1))
    .bind(&first.prev_hash)
    .bind(CHAIN_LOCK)
    .execute(&mut **conn)
    .await;
    if done.is_err() {
        *held = None;
    }
    match done {
        Ok(r) if r.rows_affected() == events.len() as u64 => Ok(()),
        // Not linked after the chain's end: nothing was inserted.
        Ok(_) => Err(StoreError::Conflict),
        Err(e) if crate::rows::is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        Err(e) => Err(e.into()),
    }
}

/// One column of `events`, as an array parameter.
fn column<T>(events: &[AuditEventRecord], f: impl Fn(&AuditEventRecord) -> T) -> Vec<T> {
    events.iter().map(f).collect()
}

/// Appends `events` after the chain's end under the chain lock, linked there by `link`: no
/// other node can append between reading the end and committing, so this never conflicts.
pub(super) async fn append_audit_events_linked(
    s: &PostgresStore,
    events: &mut [AuditEventRecord],
    link: &crate::AuditLinker,
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut tx = s.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CHAIN_LOCK)
        .execute(&mut *tx)
        .await?;
    let tail = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| -> Result<(i64, Vec<u8>)> { Ok((r.try_get("seq")?, r.try_get("hash")?)) })
        .transpose()?;
    link(&tail, events);
    insert_events(&mut tx, events).await?;
    tx.commit().await?;
    Ok(())
}

/// Inserts `events` inside `tx`, in multi-row INSERTs.
async fn insert_events(tx: &mut super::Tx, events: &[AuditEventRecord]) -> Result<()> {
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO audit_events (seq, account_id, event_time_ms, event_id, event_name,
                event_source, username, access_key_id, read_only, resources, record, prev_hash,
                hash) ",
        );
        q.push_values(chunk, |mut b, e| {
            b.push_bind(e.seq)
                .push_bind(&e.account_id)
                .push_bind(e.event_time_ms)
                .push_bind(&e.event_id)
                .push_bind(&e.event_name)
                .push_bind(&e.event_source)
                .push_bind(&e.username)
                .push_bind(&e.access_key_id)
                .push_bind(i64::from(e.read_only))
                .push_bind(&e.resources)
                .push_bind(&e.record)
                .push_bind(&e.prev_hash)
                .push_bind(&e.hash);
        });
        match q.build().execute(&mut **tx).await {
            Err(e) if crate::rows::is_unique_violation(&e) => {
                return Err(StoreError::AlreadyExists);
            }
            other => {
                other?;
            }
        }
    }
    Ok(())
}

pub(super) async fn audit_tail(s: &PostgresStore) -> Result<Option<(i64, Vec<u8>)>> {
    let row = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&s.pool)
        .await?;
    row.map(|r| Ok((r.try_get("seq")?, r.try_get("hash")?)))
        .transpose()
}

pub(super) async fn audit_events(
    s: &PostgresStore,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<AuditEventRecord>> {
    let rows = sqlx::query("SELECT * FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2")
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&s.pool)
        .await?;
    rows.iter().map(event_from_row).collect()
}

pub(super) async fn lookup_audit_events(
    s: &PostgresStore,
    q: &AuditQuery,
) -> Result<Vec<AuditEventRecord>> {
    let filter = match q.attribute.as_ref().map(|(a, _)| *a) {
        None => "$5 = 'all'",
        Some(AuditAttribute::EventId) => "event_id = $5",
        Some(AuditAttribute::EventName) => "event_name = $5",
        Some(AuditAttribute::ReadOnly) => "read_only = (CASE WHEN $5 = 'true' THEN 1 ELSE 0 END)",
        Some(AuditAttribute::Username) => "username = $5",
        Some(AuditAttribute::EventSource) => "event_source = $5",
        Some(AuditAttribute::AccessKeyId) => "access_key_id = $5",
        Some(AuditAttribute::ResourceType) => {
            "EXISTS (SELECT 1 FROM jsonb_array_elements(audit_events.resources::jsonb) r
                     WHERE r ->> 'type' = $5)"
        }
        Some(AuditAttribute::ResourceName) => {
            "EXISTS (SELECT 1 FROM jsonb_array_elements(audit_events.resources::jsonb) r
                     WHERE r ->> 'ARN' = $5)"
        }
    };
    let value = match &q.attribute {
        None => "all".to_owned(),
        Some((_, v)) => v.clone(),
    };
    let sql = format!(
        "SELECT * FROM audit_events
         WHERE account_id = $1 AND event_time_ms >= $2 AND event_time_ms <= $3 AND seq < $4
           AND {filter}
         ORDER BY seq DESC LIMIT $6"
    );
    let rows = sqlx::query(&sql)
        .bind(&q.account_id)
        .bind(q.start_ms)
        .bind(q.end_ms)
        .bind(q.before_seq.unwrap_or(i64::MAX))
        .bind(value)
        .bind(i64::from(q.limit))
        .fetch_all(&s.pool)
        .await?;
    rows.iter().map(event_from_row).collect()
}

pub(super) async fn append_audit_digest(s: &PostgresStore, d: &AuditDigestRecord) -> Result<()> {
    let done = sqlx::query(
        "INSERT INTO audit_digests (seq, created_ms, first_seq, last_seq, body, signature)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(d.seq)
    .bind(d.created_ms)
    .bind(d.first_seq)
    .bind(d.last_seq)
    .bind(&d.body)
    .bind(&d.signature)
    .execute(&s.pool)
    .await;
    match done {
        Err(e) if crate::rows::is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

pub(super) async fn audit_digests(s: &PostgresStore) -> Result<Vec<AuditDigestRecord>> {
    let rows = sqlx::query("SELECT * FROM audit_digests ORDER BY seq")
        .fetch_all(&s.pool)
        .await?;
    rows.iter().map(digest_from_row).collect()
}

pub(super) async fn last_audit_digest(s: &PostgresStore) -> Result<Option<AuditDigestRecord>> {
    let row = sqlx::query("SELECT * FROM audit_digests ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&s.pool)
        .await?;
    row.as_ref().map(digest_from_row).transpose()
}

pub(super) async fn first_audit_seq_since(s: &PostgresStore, time_ms: i64) -> Result<Option<i64>> {
    let row =
        sqlx::query("SELECT seq FROM audit_events WHERE event_time_ms >= $1 ORDER BY seq LIMIT 1")
            .bind(time_ms)
            .fetch_optional(&s.pool)
            .await?;
    row.map(|r| r.try_get("seq"))
        .transpose()
        .map_err(Into::into)
}

pub(super) async fn append_audit_checkpoint(
    s: &PostgresStore,
    c: &AuditCheckpointRecord,
) -> Result<()> {
    let done = sqlx::query(
        "INSERT INTO audit_checkpoints (seq, created_ms, pruned_through, body, signature)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(c.seq)
    .bind(c.created_ms)
    .bind(c.pruned_through)
    .bind(&c.body)
    .bind(&c.signature)
    .execute(&s.pool)
    .await;
    match done {
        Err(e) if crate::rows::is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

pub(super) async fn audit_checkpoints(s: &PostgresStore) -> Result<Vec<AuditCheckpointRecord>> {
    let rows = sqlx::query("SELECT * FROM audit_checkpoints ORDER BY seq")
        .fetch_all(&s.pool)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(AuditCheckpointRecord {
                seq: row.try_get("seq")?,
                created_ms: row.try_get("created_ms")?,
                pruned_through: row.try_get("pruned_through")?,
                body: row.try_get("body")?,
                signature: row.try_get("signature")?,
            })
        })
        .collect()
}

pub(super) async fn prune_audit_events(
    s: &PostgresStore,
    through_seq: i64,
    limit: u32,
) -> Result<u64> {
    let done = sqlx::query(
        "DELETE FROM audit_events WHERE seq IN
            (SELECT seq FROM audit_events WHERE seq <= $1 ORDER BY seq LIMIT $2)",
    )
    .bind(through_seq)
    .bind(i64::from(limit))
    .execute(&s.pool)
    .await?;
    Ok(done.rows_affected())
}
