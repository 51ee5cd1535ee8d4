//! Parameter Store tables: `ssm_parameters` (heads), `ssm_parameter_versions`,
//! `ssm_parameter_labels`. Every write to a parameter is checked against its head's revision,
//! so two concurrent writers can never both build on the same latest version.

use sqlx::Row as _;
use sqlx::sqlite::{SqlitePool, SqliteRow};

use crate::rows::{is_unique_violation, parameter_head_from_row, tags_json};
use crate::{
    OutboxEvent, ParameterRecord, ParameterVersionRecord, PendingEvent, Result, Scope, StoreError,
};

const HEAD_COLUMNS: &str = "p.account_id, p.region, p.name, p.tier, p.tags, p.latest_version,
    p.revision, p.policies AS head_policies, p.policy_due_ms,
    (SELECT COUNT(*) FROM ssm_parameter_versions c
      WHERE c.account_id = p.account_id AND c.region = p.region AND c.name = p.name) AS version_count,
    (SELECT MIN(c.version) FROM ssm_parameter_versions c
      WHERE c.account_id = p.account_id AND c.region = p.region AND c.name = p.name) AS oldest_version";

const VERSION_COLUMNS: &str = "v.version, v.param_type, v.value, v.description, v.allowed_pattern,
    v.data_type, v.tier AS version_tier, v.key_id, v.modified_ms, v.modified_user,
    v.policies AS version_policies,
    (SELECT group_concat(label, ',') FROM (SELECT l.label FROM ssm_parameter_labels l
      WHERE l.account_id = v.account_id AND l.region = v.region AND l.name = v.name
        AND l.version = v.version ORDER BY l.label)) AS labels";

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
        policies: row.try_get("version_policies")?,
    })
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
    row.as_ref().map(parameter_head_from_row).transpose()
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

/// The revision-checked head update that starts every write transaction (so the transaction
/// takes the write lock at once).
async fn bump_head(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    param: &ParameterRecord,
    latest_version: i64,
) -> Result<i64> {
    let next = param.revision + 1;
    let done = sqlx::query(
        "UPDATE ssm_parameters SET tier = ?, tags = ?, latest_version = ?, revision = ?,
             policies = ?, policy_due_ms = ?
         WHERE account_id = ? AND region = ? AND name = ? AND revision = ?",
    )
    .bind(&param.tier)
    .bind(tags_json(&param.tags)?)
    .bind(latest_version)
    .bind(next)
    .bind(&param.policies)
    .bind(param.policy_due_ms)
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
    tier_limit: Option<i64>,
    event: Option<&OutboxEvent>,
) -> Result<i64> {
    let scope = &param.scope;
    let mut tx = pool.begin().await?;
    let revision = if create {
        // One statement, so the count and the insert see the same state under the write lock.
        let inserted = sqlx::query(
            "INSERT INTO ssm_parameters
                (account_id, region, name, tier, tags, latest_version, revision, policies,
                 policy_due_ms)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8
             WHERE ?9 IS NULL OR (SELECT COUNT(*) FROM ssm_parameters
                 WHERE account_id = ?1 AND region = ?2 AND tier = ?4) < ?9",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(&param.name)
        .bind(&param.tier)
        .bind(tags_json(&param.tags)?)
        .bind(version.version)
        .bind(&param.policies)
        .bind(param.policy_due_ms)
        .bind(tier_limit)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(done) if done.rows_affected() == 0 => return Err(StoreError::LimitExceeded),
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
             data_type, tier, key_id, modified_ms, modified_user, policies)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .bind(&version.policies)
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
    append_events(&mut tx, event.into_iter()).await?;
    tx.commit().await?;
    Ok(revision)
}

async fn append_events<'a>(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    events: impl Iterator<Item = &'a OutboxEvent>,
) -> Result<()> {
    for e in events {
        sqlx::query("INSERT INTO ssm_events (event_id, created_ms, body) VALUES (?, ?, ?)")
            .bind(&e.event_id)
            .bind(e.created_ms)
            .bind(&e.body)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(super) async fn set_labels(
    pool: &SqlitePool,
    param: &ParameterRecord,
    version: i64,
    add: &[String],
    remove: &[String],
    event: Option<&OutboxEvent>,
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
    append_events(&mut tx, event.into_iter()).await?;
    tx.commit().await?;
    Ok(revision)
}

pub(super) async fn set_policies(
    pool: &SqlitePool,
    param: &ParameterRecord,
    events: &[OutboxEvent],
) -> Result<i64> {
    let mut tx = pool.begin().await?;
    let revision = bump_head(&mut tx, param, param.latest_version).await?;
    append_events(&mut tx, events.iter()).await?;
    tx.commit().await?;
    Ok(revision)
}

pub(super) async fn delete_checked(
    pool: &SqlitePool,
    param: &ParameterRecord,
    events: &[OutboxEvent],
) -> Result<()> {
    let scope = &param.scope;
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "DELETE FROM ssm_parameters WHERE account_id = ? AND region = ? AND name = ? AND revision = ?",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(&param.name)
    .bind(param.revision)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict);
    }
    delete_rows(&mut tx, scope, &param.name).await?;
    append_events(&mut tx, events.iter()).await?;
    tx.commit().await?;
    Ok(())
}

async fn delete_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    scope: &Scope,
    name: &str,
) -> Result<()> {
    for table in ["ssm_parameter_versions", "ssm_parameter_labels"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE account_id = ? AND region = ? AND name = ?"
        ))
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

pub(super) async fn due_policies(
    pool: &SqlitePool,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<(Scope, String)>> {
    let rows = sqlx::query(
        "SELECT account_id, region, name FROM ssm_parameters
         WHERE policy_due_ms IS NOT NULL AND policy_due_ms <= ?
         ORDER BY policy_due_ms LIMIT ?",
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
                r.try_get("name")?,
            ))
        })
        .collect()
}

pub(super) async fn count(pool: &SqlitePool, scope: &Scope, tier: Option<&str>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM ssm_parameters
         WHERE account_id = ? AND region = ? AND (?3 IS NULL OR tier = ?3)",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(tier)
    .fetch_one(pool)
    .await?)
}

pub(super) async fn pending_events(pool: &SqlitePool, limit: u32) -> Result<Vec<PendingEvent>> {
    let rows = sqlx::query(
        "SELECT seq, event_id, created_ms, body, acked FROM ssm_events ORDER BY seq LIMIT ?",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let acked: String = r.try_get("acked")?;
            Ok(PendingEvent {
                seq: r.try_get("seq")?,
                event: OutboxEvent {
                    event_id: r.try_get("event_id")?,
                    created_ms: r.try_get("created_ms")?,
                    body: r.try_get("body")?,
                },
                acked: serde_json::from_str(&acked)
                    .map_err(|_| StoreError::Corrupt("event acknowledgements"))?,
            })
        })
        .collect()
}

pub(super) async fn ack_event(pool: &SqlitePool, seq: i64, acked: &[String]) -> Result<()> {
    let acked =
        serde_json::to_string(acked).map_err(|_| StoreError::Corrupt("event acknowledgements"))?;
    sqlx::query("UPDATE ssm_events SET acked = ? WHERE seq = ?")
        .bind(acked)
        .bind(seq)
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn delete_event(pool: &SqlitePool, seq: i64) -> Result<()> {
    sqlx::query("DELETE FROM ssm_events WHERE seq = ?")
        .bind(seq)
        .execute(pool)
        .await?;
    Ok(())
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
    delete_rows(&mut tx, scope, name).await?;
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
        .map(|r| Ok((parameter_head_from_row(r)?, version_from_row(r)?)))
        .collect()
}
