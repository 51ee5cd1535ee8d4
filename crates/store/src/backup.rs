//! Backups of a store, restores into an empty one, and so migrations between stores.
//!
//! A backup is a consistent snapshot of every table, as it is in the database: sealed columns
//! stay barrier ciphertext, so a backup is useless without the root key that sealed it, and
//! restoring needs no key at all. The two stores have the same tables and columns, and the
//! barrier binds each sealed value to its table and row key, not to the database, so a backup
//! of one kind of store restores into the other: that is `trent migrate`.
//!
//! Format: gzip of JSON lines. The first line is a header (`format`, `version`, `created_ms`,
//! `source`); then, for each table, a line `{"table": name, "columns": [..]}` followed by one
//! line per row, a JSON array of values: `null`, an integer, a string, or `{"b": base64}`
//! for bytes. Tables come in an order that satisfies the foreign keys.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::str::FromStr as _;

use base64::Engine as _;
use serde_json::{Value, json};
use sqlx::{Column as _, Row as _, TypeInfo as _, ValueRef as _};

use crate::{Result, StoreError, StoreLocation};

/// The tables a backup holds, parents before children. Leases are not state (a restored
/// store starts with none), nor is sqlx's migration bookkeeping (restore applies migrations).
pub const TABLES: &[&str] = &[
    "meta",
    "access_keys",
    "iam_accounts",
    "iam_users",
    "iam_roles",
    "iam_inline_policies",
    "iam_managed_policies",
    "iam_attachments",
    "sts_sessions",
    "kms_keys",
    "kms_key_materials",
    "kms_aliases",
    "kms_import_parameters",
    "kms_key_usage",
    "kms_grants",
    "ssm_parameters",
    "ssm_parameter_versions",
    "ssm_parameter_labels",
    "ssm_events",
    "sm_secrets",
    "sm_secret_versions",
    "sm_rotation",
    "sm_replicas",
    "audit_events",
    "audit_digests",
    "audit_checkpoints",
];

/// Tables that are deliberately not in a backup.
const NOT_BACKED_UP: &[&str] = &["leases", "_sqlx_migrations", "sqlite_sequence"];

/// Columns that PostgreSQL has for its own bookkeeping and SQLite has not (it uses `rowid`):
/// the insertion order of a key's materials and of a secret's versions, the tie-break of rows
/// made in the same millisecond. Not backed up; restores insert in that order, so it is made
/// again.
fn local_column(table: &str) -> Option<&'static str> {
    match table {
        "kms_key_materials" => Some("ord"),
        "sm_secret_versions" => Some("seq"),
        _ => None,
    }
}

/// Every row of `table`; materials and secret versions in their creation order (`tie` names
/// the store's insertion-order column), so a restore inserts them in the same order.
fn select_all(table: &str, postgres: bool) -> String {
    let tie = match (postgres, local_column(table)) {
        (false, Some(_)) => "rowid",
        (true, Some(column)) => column,
        (_, None) => return format!("SELECT * FROM {table}"),
    };
    format!("SELECT * FROM {table} ORDER BY created_ms, {tie}")
}

const FORMAT: &str = "trent-backup";
const VERSION: i64 = 1;
/// Rows per INSERT on restore.
const ROWS_PER_INSERT: usize = 200;

/// What a backup or a restore moved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Rows per table, in backup order.
    pub tables: Vec<(String, u64)>,
}

impl Summary {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt(what)
}

fn write_line(out: &mut impl Write, value: &Value) -> Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(|_| corrupt("backup line"))?;
    out.write_all(b"\n")?;
    Ok(())
}

fn bytes_value(b: &[u8]) -> Value {
    json!({ "b": base64::engine::general_purpose::STANDARD.encode(b) })
}

/// Writes a consistent snapshot of the store at `location` to `out` (created, 0600).
pub async fn backup(location: &StoreLocation, out: &Path) -> Result<Summary> {
    let file = crate::create_private(out)?;
    let mut w = BufWriter::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    write_line(
        &mut w,
        &json!({
            "format": FORMAT,
            "version": VERSION,
            "created_ms": crate::clock::Clock::now_ms(&crate::clock::SystemClock),
            "source": match location {
                StoreLocation::Embedded(_) => "sqlite",
                StoreLocation::Postgres(_) => "postgres",
            },
        }),
    )?;
    let summary = match location {
        StoreLocation::Embedded(dir) => sqlite_dump(dir, &mut w).await?,
        StoreLocation::Postgres(url) => postgres_dump(url, &mut w).await?,
    };
    let gz = w.into_inner().map_err(|e| StoreError::Io(e.into_error()))?;
    let file = gz.finish()?;
    file.sync_all()?;
    Ok(summary)
}

/// Loads the backup `input` into the store at `location`, which must be empty (created here
/// when it does not exist yet). All or nothing.
pub async fn restore(location: &StoreLocation, input: &Path) -> Result<Summary> {
    let file = std::fs::File::open(input)?;
    let mut lines = BufReader::new(flate2::read::GzDecoder::new(file)).lines();
    let header: Value = match lines.next() {
        Some(line) => serde_json::from_str(&line?).map_err(|_| corrupt("backup header"))?,
        None => return Err(corrupt("empty backup")),
    };
    if header.get("format") != Some(&json!(FORMAT))
        || header.get("version") != Some(&json!(VERSION))
    {
        return Err(corrupt("not a Trent backup of a known version"));
    }
    match location {
        StoreLocation::Embedded(dir) => sqlite_load(dir, &mut lines).await,
        StoreLocation::Postgres(url) => postgres_load(url, &mut lines).await,
    }
}

/// Checks that `present` (the database's tables) holds nothing a backup would miss.
fn check_coverage(present: &[String]) -> Result<()> {
    for table in present {
        if !TABLES.contains(&table.as_str()) && !NOT_BACKED_UP.contains(&table.as_str()) {
            tracing::error!(%table, "a table is not covered by backups");
            return Err(corrupt("the database has a table backups do not cover"));
        }
    }
    Ok(())
}

// --- SQLite ---

async fn sqlite_pool(dir: &Path, create: bool) -> Result<sqlx::SqlitePool> {
    let path = dir.join(crate::DATABASE_FILE);
    if !create && !path.exists() {
        return Err(StoreError::Corrupt(
            "no embedded database in the data directory",
        ));
    }
    let opts =
        sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(create)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(10));
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await?;
    sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
    Ok(pool)
}

async fn sqlite_dump(dir: &Path, out: &mut impl Write) -> Result<Summary> {
    let pool = sqlite_pool(dir, false).await?;
    // One read transaction: in WAL mode it sees one snapshot from its first read to its end.
    let mut tx = pool.begin().await?;
    let present: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut *tx)
            .await?;
    check_coverage(&present)?;
    let mut summary = Summary::default();
    for &table in TABLES {
        let rows = sqlx::query(&select_all(table, false))
            .fetch_all(&mut *tx)
            .await?;
        let columns: Vec<String> = match rows.first() {
            Some(r) => r
                .columns()
                .iter()
                .map(|c| c.name().to_owned())
                .filter(|c| local_column(table) != Some(c.as_str()))
                .collect(),
            None => Vec::new(),
        };
        write_line(out, &json!({ "table": table, "columns": columns }))?;
        for row in &rows {
            let mut values = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                let raw = row.try_get_raw(i)?;
                let value = if raw.is_null() {
                    Value::Null
                } else {
                    match raw.type_info().name() {
                        "INTEGER" => json!(row.try_get::<i64, _>(i)?),
                        "TEXT" => json!(row.try_get::<String, _>(i)?),
                        "BLOB" => bytes_value(&row.try_get::<Vec<u8>, _>(i)?),
                        _ => return Err(corrupt("a value of an unexpected type")),
                    }
                };
                values.push(value);
            }
            write_line(out, &Value::Array(values))?;
        }
        summary.tables.push((table.to_owned(), rows.len() as u64));
    }
    tx.commit().await?;
    pool.close().await;
    Ok(summary)
}

/// One table's header line and its rows, read from the backup.
struct TableRows {
    table: String,
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

/// Reads the next table of the backup (`None` at its end). Tables are read whole: a restore
/// holds one table in memory at a time.
fn next_table(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    pending: &mut Option<String>,
) -> Result<Option<TableRows>> {
    let head = match pending.take() {
        Some(line) => line,
        None => match lines.next() {
            Some(line) => line?,
            None => return Ok(None),
        },
    };
    let head: Value = serde_json::from_str(&head).map_err(|_| corrupt("backup table line"))?;
    let table = head
        .get("table")
        .and_then(Value::as_str)
        .filter(|t| TABLES.contains(t))
        .ok_or_else(|| corrupt("a backup table this version does not know"))?
        .to_owned();
    let columns: Vec<String> = head
        .get("columns")
        .and_then(Value::as_array)
        .ok_or_else(|| corrupt("backup columns"))?
        .iter()
        .map(|c| {
            c.as_str()
                .filter(|c| {
                    c.bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
                })
                .map(str::to_owned)
                .ok_or_else(|| corrupt("backup column name"))
        })
        .collect::<Result<_>>()?;
    let mut rows = Vec::new();
    for line in lines.by_ref() {
        let line = line?;
        if line.starts_with('{') {
            *pending = Some(line);
            break;
        }
        let Value::Array(values) =
            serde_json::from_str(&line).map_err(|_| corrupt("backup row"))?
        else {
            return Err(corrupt("backup row"));
        };
        if values.len() != columns.len() {
            return Err(corrupt("a backup row with the wrong number of values"));
        }
        rows.push(values);
    }
    Ok(Some(TableRows {
        table,
        columns,
        rows,
    }))
}

fn as_bytes(v: &Value) -> Result<Vec<u8>> {
    let b64 = v
        .get("b")
        .and_then(Value::as_str)
        .ok_or_else(|| corrupt("backup bytes"))?;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| corrupt("backup bytes"))
}

fn insert_sql(
    table: &str,
    columns: &[String],
    rows: usize,
    placeholder: impl Fn(usize) -> String,
    suffix: &str,
) -> String {
    let mut sql = format!(
        "INSERT INTO {table} ({}) {suffix}VALUES ",
        columns.join(", ")
    );
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..columns.len() {
            if c > 0 {
                sql.push(',');
            }
            n += 1;
            sql.push_str(&placeholder(n));
        }
        sql.push(')');
    }
    sql
}

async fn sqlite_load(
    dir: &Path,
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> Result<Summary> {
    std::fs::create_dir_all(dir)?;
    let pool = sqlite_pool(dir, true).await?;
    let mut tx = pool.begin().await?;
    let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM meta")
        .fetch_one(&mut *tx)
        .await?;
    if used > 0 {
        return Err(StoreError::AlreadyExists);
    }
    let mut summary = Summary::default();
    let mut pending = None;
    while let Some(t) = next_table(lines, &mut pending)? {
        for chunk in t.rows.chunks(ROWS_PER_INSERT) {
            let sql = insert_sql(&t.table, &t.columns, chunk.len(), |n| format!("?{n}"), "");
            let mut q = sqlx::query(&sql);
            for row in chunk {
                for v in row {
                    q = match v {
                        Value::Null => q.bind(None::<i64>),
                        Value::Number(n) => {
                            q.bind(n.as_i64().ok_or_else(|| corrupt("backup integer"))?)
                        }
                        Value::String(s) => q.bind(s.clone()),
                        Value::Object(_) => q.bind(as_bytes(v)?),
                        _ => return Err(corrupt("backup value")),
                    };
                }
            }
            q.execute(&mut *tx).await?;
        }
        summary.tables.push((t.table, t.rows.len() as u64));
    }
    tx.commit().await?;
    pool.close().await;
    Ok(summary)
}

// --- PostgreSQL ---

async fn postgres_pool(url: &str) -> Result<sqlx::PgPool> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(sqlx::postgres::PgConnectOptions::from_str(url)?)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(pool)
}

async fn postgres_tables(conn: &mut sqlx::PgConnection) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT table_name::TEXT FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    )
    .fetch_all(conn)
    .await?)
}

async fn postgres_dump(url: &str, out: &mut impl Write) -> Result<Summary> {
    let pool = postgres_pool(url).await?;
    let mut tx = pool.begin().await?;
    // One snapshot for every table.
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    check_coverage(&postgres_tables(&mut tx).await?)?;
    let mut summary = Summary::default();
    for &table in TABLES {
        let rows = sqlx::query(&select_all(table, true))
            .fetch_all(&mut *tx)
            .await?;
        let columns: Vec<String> = match rows.first() {
            Some(r) => r
                .columns()
                .iter()
                .map(|c| c.name().to_owned())
                .filter(|c| local_column(table) != Some(c.as_str()))
                .collect(),
            None => Vec::new(),
        };
        write_line(out, &json!({ "table": table, "columns": columns }))?;
        for row in &rows {
            let mut values = Vec::with_capacity(columns.len());
            for (i, column) in row.columns().iter().enumerate() {
                if local_column(table) == Some(column.name()) {
                    continue;
                }
                let value = match column.type_info().name() {
                    "INT8" => row
                        .try_get::<Option<i64>, _>(i)?
                        .map_or(Value::Null, |v| json!(v)),
                    "TEXT" => row
                        .try_get::<Option<String>, _>(i)?
                        .map_or(Value::Null, Value::String),
                    "BYTEA" => row
                        .try_get::<Option<Vec<u8>>, _>(i)?
                        .map_or(Value::Null, |b| bytes_value(&b)),
                    _ => return Err(corrupt("a column of an unexpected type")),
                };
                values.push(value);
            }
            write_line(out, &Value::Array(values))?;
        }
        summary.tables.push((table.to_owned(), rows.len() as u64));
    }
    tx.commit().await?;
    pool.close().await;
    Ok(summary)
}

async fn postgres_load(
    url: &str,
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> Result<Summary> {
    let pool = postgres_pool(url).await?;
    let mut tx = pool.begin().await?;
    let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM meta")
        .fetch_one(&mut *tx)
        .await?;
    if used > 0 {
        return Err(StoreError::AlreadyExists);
    }
    let mut summary = Summary::default();
    let mut pending = None;
    while let Some(t) = next_table(lines, &mut pending)? {
        // The target's column types, to bind each NULL with the right one.
        let types: std::collections::HashMap<String, String> = sqlx::query_as(
            "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(&t.table)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let kinds = t
            .columns
            .iter()
            .map(|c| {
                types
                    .get(c)
                    .cloned()
                    .ok_or_else(|| corrupt("a backup column this schema does not have"))
            })
            .collect::<Result<Vec<_>>>()?;
        // Identity columns take the backed-up values.
        let suffix = if t.table == "ssm_events" {
            "OVERRIDING SYSTEM VALUE "
        } else {
            ""
        };
        for chunk in t.rows.chunks(ROWS_PER_INSERT) {
            let sql = insert_sql(
                &t.table,
                &t.columns,
                chunk.len(),
                |n| format!("${n}"),
                suffix,
            );
            let mut q = sqlx::query(&sql);
            for row in chunk {
                for (v, kind) in row.iter().zip(&kinds) {
                    q = match (v, kind.as_str()) {
                        (Value::Null, "bigint") => q.bind(None::<i64>),
                        (Value::Null, "bytea") => q.bind(None::<Vec<u8>>),
                        (Value::Null, _) => q.bind(None::<String>),
                        (Value::Number(n), _) => {
                            q.bind(n.as_i64().ok_or_else(|| corrupt("backup integer"))?)
                        }
                        (Value::String(s), _) => q.bind(s.clone()),
                        (Value::Object(_), _) => q.bind(as_bytes(v)?),
                        _ => return Err(corrupt("backup value")),
                    };
                }
            }
            q.execute(&mut *tx).await?;
        }
        summary.tables.push((t.table, t.rows.len() as u64));
    }
    // Sequences continue after the restored rows.
    sqlx::query(
        "SELECT setval('kms_keys_seq', COALESCE((SELECT MAX(seq) FROM kms_keys), 0) + 1, false)",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "SELECT setval(pg_get_serial_sequence('ssm_events', 'seq'),
                       COALESCE((SELECT MAX(seq) FROM ssm_events), 0) + 1, false)",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    pool.close().await;
    Ok(summary)
}
