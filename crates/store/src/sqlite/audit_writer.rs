//! The audit writer's own connection.
//!
//! Every request waits for its audit event to be durable, so the cost of an append is paid on
//! the request path. Through the pool an append cost a pool acquire, a test query and three
//! statements, each a round trip between the async runtime and sqlx's worker thread, and the
//! multi-row INSERT's text changed with the batch size, so it was prepared again nearly every
//! time. Here the writer's thread owns one synchronous connection: a batch is one
//! `BEGIN IMMEDIATE`, INSERTs through statements prepared once, and one `COMMIT`, all on the
//! calling thread.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::{AuditAppender, AuditEventRecord, Result, StoreError};

/// Rows per multi-row INSERT: 13 parameters each, far below SQLite's limit. Larger batches
/// take several; the rest go through the one-row statement.
const ROWS_PER_INSERT: usize = 32;
/// The writer's page cache (KiB): the tail pages of the table and its indexes stay in memory.
const CACHE_KIB: i64 = 16 * 1024;

const COLUMNS: &str = "INSERT INTO audit_events (seq, account_id, event_time_ms, event_id,
    event_name, event_source, username, access_key_id, read_only, resources, record, prev_hash,
    hash) VALUES ";
const ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(COLUMNS);
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(ROW);
    }
    sql
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation
    )
}

pub struct SqliteAuditAppender {
    conn: Connection,
    one: String,
    many: String,
}

impl SqliteAuditAppender {
    /// Opens the database the store already opened (and migrated): WAL journal, and
    /// `synchronous=FULL` so a commit that returned is on disk.
    pub(super) fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(
                "the audit writer could not use the WAL journal",
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
        conn.set_prepared_statement_cache_capacity(4);
        Ok(SqliteAuditAppender {
            conn,
            one: insert_sql(1),
            many: insert_sql(ROWS_PER_INSERT),
        })
    }
}

/// Binds `rows` to `stmt`'s parameters, 13 per row, from the first.
fn bind(stmt: &mut rusqlite::CachedStatement<'_>, rows: &[AuditEventRecord]) -> Result<()> {
    let mut i = 0;
    let mut next = || {
        i += 1;
        i
    };
    for e in rows {
        stmt.raw_bind_parameter(next(), e.seq)?;
        stmt.raw_bind_parameter(next(), e.account_id.as_str())?;
        stmt.raw_bind_parameter(next(), e.event_time_ms)?;
        stmt.raw_bind_parameter(next(), e.event_id.as_str())?;
        stmt.raw_bind_parameter(next(), e.event_name.as_str())?;
        stmt.raw_bind_parameter(next(), e.event_source.as_str())?;
        stmt.raw_bind_parameter(next(), e.username.as_deref())?;
        stmt.raw_bind_parameter(next(), e.access_key_id.as_deref())?;
        stmt.raw_bind_parameter(next(), i64::from(e.read_only))?;
        stmt.raw_bind_parameter(next(), e.resources.as_str())?;
        stmt.raw_bind_parameter(next(), e.record.as_str())?;
        stmt.raw_bind_parameter(next(), e.prev_hash.as_slice())?;
        stmt.raw_bind_parameter(next(), e.hash.as_slice())?;
    }
    Ok(())
}

impl AuditAppender for SqliteAuditAppender {
    fn append(&mut self, events: &[AuditEventRecord]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let insert = |tx: &rusqlite::Transaction<'_>| -> Result<()> {
            let mut chunks = events.chunks_exact(ROWS_PER_INSERT);
            if chunks.len() > 0 {
                let mut many = tx.prepare_cached(&self.many)?;
                for chunk in &mut chunks {
                    bind(&mut many, chunk)?;
                    many.raw_execute()?;
                }
            }
            let mut one = tx.prepare_cached(&self.one)?;
            for row in chunks.remainder() {
                bind(&mut one, std::slice::from_ref(row))?;
                one.raw_execute()?;
            }
            Ok(())
        };
        // Dropping an uncommitted transaction rolls it back.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        match insert(&tx) {
            Err(StoreError::Sqlite(e)) if is_unique_violation(&e) => {
                return Err(StoreError::AlreadyExists);
            }
            other => other?,
        }
        tx.commit()?;
        Ok(())
    }

    fn tail(&mut self) -> Result<Option<(i64, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")?;
        let mut rows = stmt.query([])?;
        match rows.next()? {
            Some(row) => Ok(Some((row.get(0)?, row.get(1)?))),
            None => Ok(None),
        }
    }
}
