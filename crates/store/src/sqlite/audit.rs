//! The audit trail: `audit_events` (the hash chain, with lookup columns) and `audit_digests`.

use sqlx::Row as _;
use sqlx::sqlite::SqlitePool;

use crate::rows::{digest_from_row, event_from_row, is_unique_violation};
use crate::{
    AuditAttribute, AuditCheckpointRecord, AuditDigestRecord, AuditEventRecord, AuditQuery, Result,
    StoreError,
};

/// Rows per INSERT statement: 13 columns each, well under SQLite's variable limit.
const ROWS_PER_INSERT: usize = 256;

/// One transaction for the whole batch: this is the group commit, one fsync for many events.
/// Rows go in multi-row INSERTs, so a batch costs a few statements rather than one per event.
pub(super) async fn append_events(pool: &SqlitePool, events: &[AuditEventRecord]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO audit_events (seq, account_id, event_time_ms, event_id, event_name,
                event_source, username, access_key_id, read_only, resources, record, prev_hash,
                hash) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        }
        let mut q = sqlx::query(&sql);
        for e in chunk {
            q = q
                .bind(e.seq)
                .bind(&e.account_id)
                .bind(e.event_time_ms)
                .bind(&e.event_id)
                .bind(&e.event_name)
                .bind(&e.event_source)
                .bind(&e.username)
                .bind(&e.access_key_id)
                .bind(i64::from(e.read_only))
                .bind(&e.resources)
                .bind(&e.record)
                .bind(&e.prev_hash)
                .bind(&e.hash);
        }
        match q.execute(&mut *tx).await {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists),
            other => {
                other?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn tail(pool: &SqlitePool) -> Result<Option<(i64, Vec<u8>)>> {
    let row = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(pool)
        .await?;
    row.map(|r| Ok((r.try_get("seq")?, r.try_get("hash")?)))
        .transpose()
}

pub(super) async fn events(
    pool: &SqlitePool,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<AuditEventRecord>> {
    let rows = sqlx::query("SELECT * FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?")
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(event_from_row).collect()
}

pub(super) async fn lookup(pool: &SqlitePool, q: &AuditQuery) -> Result<Vec<AuditEventRecord>> {
    let filter = match q.attribute.as_ref().map(|(a, _)| *a) {
        None => "? = 'all'",
        Some(AuditAttribute::EventId) => "event_id = ?",
        Some(AuditAttribute::EventName) => "event_name = ?",
        Some(AuditAttribute::ReadOnly) => "read_only = (? = 'true')",
        Some(AuditAttribute::Username) => "username = ?",
        Some(AuditAttribute::EventSource) => "event_source = ?",
        Some(AuditAttribute::AccessKeyId) => "access_key_id = ?",
        Some(AuditAttribute::ResourceType) => {
            "EXISTS (SELECT 1 FROM json_each(audit_events.resources)
                     WHERE json_extract(value, '$.type') = ?)"
        }
        Some(AuditAttribute::ResourceName) => {
            "EXISTS (SELECT 1 FROM json_each(audit_events.resources)
                     WHERE json_extract(value, '$.ARN') = ?)"
        }
    };
    let value = match &q.attribute {
        None => "all".to_owned(),
        Some((_, v)) => v.clone(),
    };
    let sql = format!(
        "SELECT * FROM audit_events
         WHERE account_id = ? AND event_time_ms >= ? AND event_time_ms <= ? AND seq < ?
           AND {filter}
         ORDER BY seq DESC LIMIT ?"
    );
    let rows = sqlx::query(&sql)
        .bind(&q.account_id)
        .bind(q.start_ms)
        .bind(q.end_ms)
        .bind(q.before_seq.unwrap_or(i64::MAX))
        .bind(value)
        .bind(i64::from(q.limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(event_from_row).collect()
}

pub(super) async fn append_digest(pool: &SqlitePool, d: &AuditDigestRecord) -> Result<()> {
    let done = sqlx::query(
        "INSERT INTO audit_digests (seq, created_ms, first_seq, last_seq, body, signature)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(d.seq)
    .bind(d.created_ms)
    .bind(d.first_seq)
    .bind(d.last_seq)
    .bind(&d.body)
    .bind(&d.signature)
    .execute(pool)
    .await;
    match done {
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

pub(super) async fn digests(pool: &SqlitePool) -> Result<Vec<AuditDigestRecord>> {
    let rows = sqlx::query("SELECT * FROM audit_digests ORDER BY seq")
        .fetch_all(pool)
        .await?;
    rows.iter().map(digest_from_row).collect()
}

pub(super) async fn last_digest(pool: &SqlitePool) -> Result<Option<AuditDigestRecord>> {
    let row = sqlx::query("SELECT * FROM audit_digests ORDER BY seq DESC LIMIT 1")
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(digest_from_row).transpose()
}

pub(super) async fn first_seq_since(pool: &SqlitePool, time_ms: i64) -> Result<Option<i64>> {
    // Walks the chain from its start: retention and exports look for the first recent event,
    // and everything before it is what they are about to prune or skip.
    let row =
        sqlx::query("SELECT seq FROM audit_events WHERE event_time_ms >= ? ORDER BY seq LIMIT 1")
            .bind(time_ms)
            .fetch_optional(pool)
            .await?;
    row.map(|r| r.try_get("seq"))
        .transpose()
        .map_err(Into::into)
}

pub(super) async fn append_checkpoint(pool: &SqlitePool, c: &AuditCheckpointRecord) -> Result<()> {
    let done = sqlx::query(
        "INSERT INTO audit_checkpoints (seq, created_ms, pruned_through, body, signature)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(c.seq)
    .bind(c.created_ms)
    .bind(c.pruned_through)
    .bind(&c.body)
    .bind(&c.signature)
    .execute(pool)
    .await;
    match done {
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

pub(super) async fn checkpoints(pool: &SqlitePool) -> Result<Vec<AuditCheckpointRecord>> {
    let rows = sqlx::query("SELECT * FROM audit_checkpoints ORDER BY seq")
        .fetch_all(pool)
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

pub(super) async fn prune(pool: &SqlitePool, through_seq: i64, limit: u32) -> Result<u64> {
    let done = sqlx::query(
        "DELETE FROM audit_events WHERE seq IN
            (SELECT seq FROM audit_events WHERE seq <= ? ORDER BY seq LIMIT ?)",
    )
    .bind(through_seq)
    .bind(i64::from(limit))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
