//! Secrets Manager tables: `sm_secrets` (heads) and `sm_secret_versions`. Every write to a secret
//! is checked against its head's revision, so two concurrent writers can never both move a
//! staging label from the same state.

use sqlx::Row as _;
use sqlx::sqlite::{SqlitePool, SqliteRow};

use crate::rows::{is_unique_violation, secret_head_from_row};
use crate::{NewSecretVersion, Result, Scope, SecretRecord, SecretVersionRecord, StoreError};

const HEAD_COLUMNS: &str = "account_id, region, name, arn, description, kms_key_id, tags,
    resource_policy, created_ms, last_changed_ms, last_accessed_ms, deleted_ms, purge_ms, revision";

const VERSION_COLUMNS: &str =
    "name, version_id, stages, created_ms, last_accessed_ms, kind, kms_key_arn";

fn version_from_row(row: &SqliteRow) -> Result<SecretVersionRecord> {
    let stages: String = row.try_get("stages")?;
    Ok(SecretVersionRecord {
        version_id: row.try_get("version_id")?,
        stages: serde_json::from_str(&stages)
            .map_err(|_| StoreError::Corrupt("secret version stages"))?,
        created_ms: row.try_get("created_ms")?,
        last_accessed_ms: row.try_get("last_accessed_ms")?,
        kind: row.try_get("kind")?,
        kms_key_arn: row.try_get("kms_key_arn")?,
    })
}

fn json(v: &impl JsonOut, what: &'static str) -> Result<String> {
    v.to_json().map_err(|_| StoreError::Corrupt(what))
}

/// What this module writes as JSON: tags and stage lists.
trait JsonOut {
    fn to_json(&self) -> serde_json::Result<String>;
}

impl JsonOut for Vec<String> {
    fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
}

impl JsonOut for Vec<(String, String)> {
    fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
}

async fn insert_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    secret: &SecretRecord,
    version: &NewSecretVersion,
) -> Result<()> {
    let r = &version.record;
    sqlx::query(
        "INSERT INTO sm_secret_versions (account_id, region, name, version_id, stages, created_ms,
             last_accessed_ms, kind, kms_key_arn, ciphertext)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&secret.scope.account_id)
    .bind(&secret.scope.region)
    .bind(&secret.name)
    .bind(&r.version_id)
    .bind(json(&r.stages, "secret version stages")?)
    .bind(r.created_ms)
    .bind(r.last_accessed_ms)
    .bind(&r.kind)
    .bind(&r.kms_key_arn)
    .bind(&version.ciphertext)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyExists
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// Gives a stored version without a value (kind `none`) its value.
async fn fill_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    secret: &SecretRecord,
    version: &NewSecretVersion,
) -> Result<()> {
    let r = &version.record;
    let done = sqlx::query(
        "UPDATE sm_secret_versions SET kind = ?, kms_key_arn = ?, ciphertext = ?
         WHERE account_id = ? AND region = ? AND name = ? AND version_id = ? AND kind = 'none'",
    )
    .bind(&r.kind)
    .bind(&r.kms_key_arn)
    .bind(&version.ciphertext)
    .bind(&secret.scope.account_id)
    .bind(&secret.scope.region)
    .bind(&secret.name)
    .bind(&r.version_id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::AlreadyExists);
    }
    Ok(())
}

pub(super) async fn create(
    pool: &SqlitePool,
    secret: &SecretRecord,
    version: Option<&NewSecretVersion>,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    create_in(
        &mut tx,
        secret,
        version.map(std::slice::from_ref).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Inserts a secret's head and `versions` in `tx`; [`StoreError::AlreadyExists`] if the name is
/// taken.
pub(super) async fn create_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    secret: &SecretRecord,
    versions: &[NewSecretVersion],
) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO sm_secrets ({HEAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&secret.scope.account_id)
    .bind(&secret.scope.region)
    .bind(&secret.name)
    .bind(&secret.arn)
    .bind(&secret.description)
    .bind(&secret.kms_key_id)
    .bind(json(&secret.tags, "secret tags")?)
    .bind(&secret.resource_policy)
    .bind(secret.created_ms)
    .bind(secret.last_changed_ms)
    .bind(secret.last_accessed_ms)
    .bind(secret.deleted_ms)
    .bind(secret.purge_ms)
    .bind(secret.revision)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyExists
        } else {
            e.into()
        }
    })?;
    for v in versions {
        insert_version(tx, secret, v).await?;
    }
    Ok(())
}

async fn versions_of(
    pool: &SqlitePool,
    scope: &Scope,
    name: Option<&str>,
) -> Result<Vec<(String, SecretVersionRecord)>> {
    // Two statements rather than `(?3 IS NULL OR name = ?3)`: with the OR, SQLite cannot use
    // the name column of the primary key and reads every version of the scope for one secret.
    let query = match name {
        Some(_) => format!(
            "SELECT {VERSION_COLUMNS} FROM sm_secret_versions
             WHERE account_id = ? AND region = ? AND name = ?
             ORDER BY created_ms, rowid"
        ),
        None => format!(
            "SELECT {VERSION_COLUMNS} FROM sm_secret_versions
             WHERE account_id = ? AND region = ?
             ORDER BY name, created_ms, rowid"
        ),
    };
    let mut q = sqlx::query(&query)
        .bind(&scope.account_id)
        .bind(&scope.region);
    if let Some(name) = name {
        q = q.bind(name);
    }
    let rows = q.fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>("name")?, version_from_row(r)?)))
        .collect()
}

pub(super) async fn get(
    pool: &SqlitePool,
    scope: &Scope,
    name: &str,
) -> Result<Option<SecretRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {HEAD_COLUMNS} FROM sm_secrets WHERE account_id = ? AND region = ? AND name = ?"
    ))
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut secret = secret_head_from_row(&row)?;
    secret.versions = versions_of(pool, scope, Some(name))
        .await?
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    Ok(Some(secret))
}

pub(super) async fn list(pool: &SqlitePool, scope: &Scope) -> Result<Vec<SecretRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {HEAD_COLUMNS} FROM sm_secrets WHERE account_id = ? AND region = ? ORDER BY name"
    ))
    .bind(&scope.account_id)
    .bind(&scope.region)
    .fetch_all(pool)
    .await?;
    let mut secrets = rows
        .iter()
        .map(secret_head_from_row)
        .collect::<Result<Vec<_>>>()?;
    let mut by_name: std::collections::HashMap<String, Vec<SecretVersionRecord>> =
        std::collections::HashMap::new();
    for (name, v) in versions_of(pool, scope, None).await? {
        by_name.entry(name).or_default().push(v);
    }
    for s in &mut secrets {
        s.versions = by_name.remove(&s.name).unwrap_or_default();
    }
    Ok(secrets)
}

pub(super) async fn save(
    pool: &SqlitePool,
    secret: &SecretRecord,
    version: Option<&NewSecretVersion>,
) -> Result<i64> {
    let mut tx = pool.begin().await?;
    let next = save_in(
        &mut tx,
        secret,
        version.map(std::slice::from_ref).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(next)
}

/// [`save`] in `tx`, inserting `versions`: [`StoreError::Conflict`] if the stored revision is no
/// longer `secret.revision`. Returns the new revision.
pub(super) async fn save_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    secret: &SecretRecord,
    versions: &[NewSecretVersion],
) -> Result<i64> {
    let scope = &secret.scope;
    let next = secret.revision + 1;
    // The revision-checked head update comes first, so the transaction takes the write lock at
    // once and a concurrent writer that read the same revision fails here.
    let done = sqlx::query(
        "UPDATE sm_secrets SET description = ?, kms_key_id = ?, tags = ?, resource_policy = ?,
             last_changed_ms = ?, last_accessed_ms = ?, deleted_ms = ?, purge_ms = ?, revision = ?
         WHERE account_id = ? AND region = ? AND name = ? AND revision = ?",
    )
    .bind(&secret.description)
    .bind(&secret.kms_key_id)
    .bind(json(&secret.tags, "secret tags")?)
    .bind(&secret.resource_policy)
    .bind(secret.last_changed_ms)
    .bind(secret.last_accessed_ms)
    .bind(secret.deleted_ms)
    .bind(secret.purge_ms)
    .bind(next)
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(&secret.name)
    .bind(secret.revision)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict);
    }
    let stored: Vec<String> = sqlx::query(
        "SELECT version_id FROM sm_secret_versions WHERE account_id = ? AND region = ? AND name = ?",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(&secret.name)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>("version_id"))
    .collect::<std::result::Result<_, _>>()?;
    // A version already stored without a value (the AWSPENDING version a rotation starts
    // with) gets its value in place.
    let fills: Vec<bool> = versions
        .iter()
        .map(|v| stored.contains(&v.record.version_id))
        .collect();
    for id in stored {
        match secret.versions.iter().find(|v| v.version_id == id) {
            Some(v) => {
                sqlx::query(
                    "UPDATE sm_secret_versions SET stages = ?
                     WHERE account_id = ? AND region = ? AND name = ? AND version_id = ?",
                )
                .bind(json(&v.stages, "secret version stages")?)
                .bind(&scope.account_id)
                .bind(&scope.region)
                .bind(&secret.name)
                .bind(&id)
                .execute(&mut **tx)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM sm_secret_versions
                     WHERE account_id = ? AND region = ? AND name = ? AND version_id = ?",
                )
                .bind(&scope.account_id)
                .bind(&scope.region)
                .bind(&secret.name)
                .bind(&id)
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    for (v, fills) in versions.iter().zip(fills) {
        if fills {
            fill_version(tx, secret, v).await?;
        } else {
            insert_version(tx, secret, v).await?;
        }
    }
    Ok(next)
}

pub(super) async fn ciphertext(
    pool: &SqlitePool,
    scope: &Scope,
    name: &str,
    version_id: &str,
) -> Result<Option<Vec<u8>>> {
    let row = sqlx::query(
        "SELECT ciphertext FROM sm_secret_versions
         WHERE account_id = ? AND region = ? AND name = ? AND version_id = ?",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .bind(version_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| r.try_get("ciphertext")).transpose()?)
}

pub(super) async fn touch(
    pool: &SqlitePool,
    scope: &Scope,
    name: &str,
    version_id: &str,
    day_ms: i64,
) -> Result<()> {
    // Day granularity keeps reads from turning into a write each: only the first read of a day
    // writes. The revision is left alone, so a read never makes a writer retry. One transaction
    // for both rows: one commit.
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE sm_secrets SET last_accessed_ms = ?4
         WHERE account_id = ?1 AND region = ?2 AND name = ?3
           AND (last_accessed_ms IS NULL OR last_accessed_ms < ?4)",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .bind(day_ms)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE sm_secret_versions SET last_accessed_ms = ?5
         WHERE account_id = ?1 AND region = ?2 AND name = ?3 AND version_id = ?4
           AND (last_accessed_ms IS NULL OR last_accessed_ms < ?5)",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .bind(version_id)
    .bind(day_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn delete(
    pool: &SqlitePool,
    scope: &Scope,
    name: &str,
    revision: i64,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let done = delete_in(&mut tx, scope, name, revision).await?;
    tx.commit().await?;
    Ok(done)
}

/// Deletes a secret in `tx` if its revision is still `revision`.
pub(super) async fn delete_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    scope: &Scope,
    name: &str,
    revision: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM sm_secrets WHERE account_id = ? AND region = ? AND name = ? AND revision = ?",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .bind(revision)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn due_for_purge(
    pool: &SqlitePool,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<(Scope, String)>> {
    let rows = sqlx::query(
        "SELECT account_id, region, name FROM sm_secrets
         WHERE purge_ms IS NOT NULL AND purge_ms <= ? ORDER BY purge_ms LIMIT ?",
    )
    .bind(now_ms)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                Scope::new(
                    r.try_get::<String, _>("account_id")?,
                    r.try_get::<String, _>("region")?,
                ),
                r.try_get::<String, _>("name")?,
            ))
        })
        .collect()
}
