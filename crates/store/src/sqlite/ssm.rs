//! Parameter Store tables: `ssm_parameters` (heads), `ssm_parameter_versions`,
//! `ssm_parameter_labels`. Every write to a parameter is checked against its head's revision,
//! so two concurrent writers can never both build on the same latest version.

use sqlx::Row as _;
use sqlx::sqlite::{SqlitePool, SqliteRow};

use crate::{ParameterRecord, ParameterVersionRecord, Result, Scope, StoreError};

const HEAD_COLUMNS: &str = "p.account_id, p.region, p.name, p.tier, p.tags, p.latest_version,
    p.revision,
    (SELECT COUNT(*) FROM ssm_parameter_versions c
      WHERE c.account_id = p.account_id AND c.region = p.region AND c.name = p.name) AS version_count,
    (SELECT MIN(c.version) FROM ssm_parameter_versions c
      WHERE c.account_id = p.account_id AND c.region = p.region AND c.name = p.name) AS oldest_version";

const VERSION_COLUMNS: &str = "v.version, v.param_type, v.value, v.description, v.allowed_pattern,
    v.data_type, v.tier AS version_tier, v.key_id, v.modified_ms, v.modified_user,
    (SELECT group_concat(label, ',') FROM (SELECT l.label FROM ssm_parameter_labels l
      WHERE l.account_id = v.account_id AND l.region = v.region AND l.name = v.name
        AND l.version = v.version ORDER BY l.label)) AS labels";

fn head_from_row(row: &SqliteRow) -> Result<ParameterRecord> {
    let tags: String = row.try_get("tags")?;
    Ok(ParameterRecord {
        scope: Scope::new(
            row.try_get::<String, _>("account_id")?,
            row.try_get::<String, _>("region")?,
        ),
        name: row.try_get("name")?,
        tier: row.try_get("tier")?,
        tags: serde_json::from_str(&tags).map_err(|_| StoreError::Corrupt("parameter tags"))?,
        latest_version: row.try_get("latest_version")?,
        revision: row.try_get("revision")?,
        version_count: row.try_get("version_count")?,
        oldest_version: row
            .try_get::<Option<i64>, _>("oldest_version")?
            .unwrap_or(0),
    })
}

fn version_from_row(row: &SqliteRow) -> Result<ParameterVersionRecord> {
    let labels: Option<String> = row.try_get("labels")?;
    Ok(ParameterVersionRecord {
        version: row.try_get("version")?,
        param_type: row.try_get("param_type")?,
        value: row.try_get("value")?,
        description: row.try_get("description")?,
        allowed_pattern: row.try_get("allowed_pattern")?,
        data_type: row.try_get("data_type")?,
        tier: row.try_get("version_tier")?,
        key_id: row.try_get("key_id")?,
        labels: labels
            .map(|l| l.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        modified_ms: row.try_get("modified_ms")?,
        modified_user: row.try_get("modified_user")?,
    })
}

fn tags_json(tags: &[(String, String)]) -> Result<String> {
    serde_json::to_string(tags).map_err(|_| StoreError::Corrupt("parameter tags"))
}

pub(super) async fn get(
    pool: &SqlitePool,
    scope: &Scope,
    name: &str,
) -> Result<Option<ParameterRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {HEAD_COLUMNS} FROM ssm_parameters p
         WHERE p.account_id = ? AND p.region = ? AND p.name = ?"
    ))
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(head_from_row).transpose()
}

pub(super) async fn get_version(
    pool: &SqlitePool,
    scope: &Scope,
    name: &str,
    version: Option<i64>,
) -> Result<Option<ParameterVersionRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM ssm_parameter_versions v
         WHERE v.account_id = ?1 AND v.region = ?2 AND v.name = ?3
           AND v.version = COALESCE(?4, (SELECT latest_version FROM ssm_parameters p
               WHERE p.account_id = ?1 AND p.region = ?2 AND p.name = ?3))"
    ))
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .bind(version)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(version_from_row).transpose()
}

pub(super) async fn get_version_by_label(
    pool: &SqlitePool,
    scope: &Scope,
    name: &str,
    label: &str,
) -> Result<Option<ParameterVersionRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM ssm_parameter_versions v
         JOIN ssm_parameter_labels l ON l.account_id = v.account_id AND l.region = v.region
           AND l.name = v.name AND l.version = v.version
         WHERE v.account_id = ? AND v.region = ? AND v.name = ? AND l.label = ?"
    ))
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .bind(label)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(version_from_row).transpose()
}

pub(super) async fn versions(
    pool: &SqlitePool,
    scope: &Scope,
    name: &str,
    after_version: i64,
    limit: u32,
) -> Result<Vec<ParameterVersionRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM ssm_parameter_versions v
         WHERE v.account_id = ? AND v.region = ? AND v.name = ? AND v.version > ?
         ORDER BY v.version LIMIT ?"
    ))
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .bind(after_version)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(version_from_row).collect()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The revision-checked head update that starts every write transaction (so the transaction
/// takes the write lock at once).
async fn bump_head(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    param: &ParameterRecord,
    latest_version: i64,
) -> Result<i64> {
    let next = param.revision + 1;
    let done = sqlx::query(
        "UPDATE ssm_parameters SET tier = ?, tags = ?, latest_version = ?, revision = ?
         WHERE account_id = ? AND region = ? AND name = ? AND revision = ?",
    )
    .bind(&param.tier)
    .bind(tags_json(&param.tags)?)
    .bind(latest_version)
    .bind(next)
    .bind(&param.scope.account_id)
    .bind(&param.scope.region)
    .bind(&param.name)
    .bind(param.revision)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 1 {
        Ok(next)
    } else {
        Err(StoreError::Conflict)
    }
}

pub(super) async fn put_version(
    pool: &SqlitePool,
    param: &ParameterRecord,
    version: &ParameterVersionRecord,
    create: bool,
    drop_version: Option<i64>,
) -> Result<i64> {
    let scope = &param.scope;
    let mut tx = pool.begin().await?;
    let revision = if create {
        let inserted = sqlx::query(
            "INSERT INTO ssm_parameters
                (account_id, region, name, tier, tags, latest_version, revision)
             VALUES (?, ?, ?, ?, ?, ?, 1)",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(&param.name)
        .bind(&param.tier)
        .bind(tags_json(&param.tags)?)
        .bind(version.version)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => 1,
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists),
            Err(e) => return Err(e.into()),
        }
    } else {
        bump_head(&mut tx, param, version.version).await?
    };
    // A deleted and re-created parameter starts again at version 1: leftovers cannot exist
    // (delete removes every row), but a stale version row must never be silently replaced.
    sqlx::query(
        "INSERT INTO ssm_parameter_versions
            (account_id, region, name, version, param_type, value, description, allowed_pattern,
             data_type, tier, key_id, modified_ms, modified_user)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(&param.name)
    .bind(version.version)
    .bind(&version.param_type)
    .bind(&version.value)
    .bind(&version.description)
    .bind(&version.allowed_pattern)
    .bind(&version.data_type)
    .bind(&version.tier)
    .bind(&version.key_id)
    .bind(version.modified_ms)
    .bind(&version.modified_user)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict
        } else {
            e.into()
        }
    })?;
    if let Some(old) = drop_version {
        for table in ["ssm_parameter_versions", "ssm_parameter_labels"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE account_id = ? AND region = ? AND name = ? AND version = ?"
            ))
            .bind(&scope.account_id)
            .bind(&scope.region)
            .bind(&param.name)
            .bind(old)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(revision)
}

pub(super) async fn set_labels(
    pool: &SqlitePool,
    param: &ParameterRecord,
    version: i64,
    add: &[String],
    remove: &[String],
) -> Result<i64> {
    let scope = &param.scope;
    let mut tx = pool.begin().await?;
    let revision = bump_head(&mut tx, param, param.latest_version).await?;
    for label in add {
        sqlx::query(
            "INSERT INTO ssm_parameter_labels (account_id, region, name, label, version)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (account_id, region, name, label) DO UPDATE SET version = excluded.version",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(&param.name)
        .bind(label)
        .bind(version)
        .execute(&mut *tx)
        .await?;
    }
    for label in remove {
        sqlx::query(
            "DELETE FROM ssm_parameter_labels
             WHERE account_id = ? AND region = ? AND name = ? AND label = ? AND version = ?",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(&param.name)
        .bind(label)
        .bind(version)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(revision)
}

pub(super) async fn set_tags(pool: &SqlitePool, param: &ParameterRecord) -> Result<i64> {
    let mut tx = pool.begin().await?;
    let revision = bump_head(&mut tx, param, param.latest_version).await?;
    tx.commit().await?;
    Ok(revision)
}

pub(super) async fn delete(pool: &SqlitePool, scope: &Scope, name: &str) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let done =
        sqlx::query("DELETE FROM ssm_parameters WHERE account_id = ? AND region = ? AND name = ?")
            .bind(&scope.account_id)
            .bind(&scope.region)
            .bind(name)
            .execute(&mut *tx)
            .await?;
    for table in ["ssm_parameter_versions", "ssm_parameter_labels"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE account_id = ? AND region = ? AND name = ?"
        ))
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn list_by_path(
    pool: &SqlitePool,
    scope: &Scope,
    prefix: &str,
    recursive: bool,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<(ParameterRecord, ParameterVersionRecord)>> {
    let start = match after {
        Some(a) if a > prefix => a,
        _ => prefix,
    };
    let rows = sqlx::query(&format!(
        "SELECT {HEAD_COLUMNS}, {VERSION_COLUMNS} FROM ssm_parameters p
         JOIN ssm_parameter_versions v ON v.account_id = p.account_id AND v.region = p.region
           AND v.name = p.name AND v.version = p.latest_version
         WHERE p.account_id = ?1 AND p.region = ?2 AND p.name > ?3
           AND substr(p.name, 1, length(?4)) = ?4
           AND (?5 OR instr(substr(p.name, length(?4) + 1), '/') = 0)
         ORDER BY p.name LIMIT ?6"
    ))
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(start)
    .bind(prefix)
    .bind(recursive)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((head_from_row(r)?, version_from_row(r)?)))
        .collect()
}
