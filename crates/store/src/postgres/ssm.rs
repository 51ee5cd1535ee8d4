//! Parameter Store tables on PostgreSQL: heads, versions, labels, and the event outbox.
//!
//! As in the embedded store, every write to a parameter is checked against its head's
//! revision (a row lock at READ COMMITTED, [`in_tx!`]), and creators counting against a tier
//! limit take turns under an advisory lock, so both are as safe as under SQLite's single writer.
//! Names are compared and ordered in byte order (`COLLATE "C"`), as in SQLite and AWS.
//! Lookups of one name say `COLLATE "C"` too: the same equality, and it lets PostgreSQL use
//! all three columns of `ssm_parameters_by_name`, where it could otherwise pick that index for
//! its first two and filter every parameter of the account.

use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::{PostgresStore, Tx, in_tx, notify};
use crate::rows::{is_unique_violation, parameter_head_from_row, tags_json};
use crate::{
    Change, OutboxEvent, ParameterRecord, ParameterVersionRecord, PendingEvent, Result, Scope,
    StoreError,
};

const HEAD_COLUMNS: &str = "p.account_id, p.region, p.name, p.tier, p.tags, p.latest_version,
    p.revision, p.policies AS head_policies, p.policy_due_ms,
    (SELECT COUNT(*) FROM ssm_parameter_versions c
      WHERE c.account_id = p.account_id AND c.region = p.region AND c.name = p.name) AS version_count,
    (SELECT MIN(c.version) FROM ssm_parameter_versions c
      WHERE c.account_id = p.account_id AND c.region = p.region AND c.name = p.name) AS oldest_version";

/// The labels come as an array in byte order (SQLite's `group_concat` over `ORDER BY label`).
const VERSION_COLUMNS: &str = "v.version, v.param_type, v.value, v.description, v.allowed_pattern,
    v.data_type, v.tier AS version_tier, v.key_id, v.modified_ms, v.modified_user,
    v.policies AS version_policies,
    ARRAY(SELECT l.label FROM ssm_parameter_labels l
      WHERE l.account_id = v.account_id AND l.region = v.region AND l.name = v.name
        AND l.version = v.version ORDER BY l.label COLLATE \"C\") AS labels";

fn version_from_row(row: &PgRow) -> Result<ParameterVersionRecord> {
    Ok(ParameterVersionRecord {
        version: row.try_get("version")?,
        param_type: row.try_get("param_type")?,
        value: row.try_get("value")?,
        description: row.try_get("description")?,
        allowed_pattern: row.try_get("allowed_pattern")?,
        data_type: row.try_get("data_type")?,
        tier: row.try_get("version_tier")?,
        key_id: row.try_get("key_id")?,
        labels: row.try_get("labels")?,
        modified_ms: row.try_get("modified_ms")?,
        modified_user: row.try_get("modified_user")?,
        policies: row.try_get("version_policies")?,
    })
}

fn changed(scope: &Scope, name: &str) -> Change {
    Change::Parameter {
        scope: scope.clone(),
        name: name.to_owned(),
    }
}

pub(super) async fn get_parameter(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
) -> Result<Option<ParameterRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {HEAD_COLUMNS} FROM ssm_parameters p
         WHERE p.account_id = $1 AND p.region = $2 AND p.name COLLATE \"C\" = $3"
    ))
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .fetch_optional(&s.pool)
    .await?;
    row.as_ref().map(parameter_head_from_row).transpose()
}

pub(super) async fn get_parameter_version(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
    version: Option<i64>,
) -> Result<Option<ParameterVersionRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM ssm_parameter_versions v
         WHERE v.account_id = $1 AND v.region = $2 AND v.name = $3
           AND v.version = COALESCE($4::BIGINT, (SELECT p.latest_version FROM ssm_parameters p
               WHERE p.account_id = $1 AND p.region = $2 AND p.name COLLATE \"C\" = $3))"
    ))
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .bind(version)
    .fetch_optional(&s.pool)
    .await?;
    row.as_ref().map(version_from_row).transpose()
}

pub(super) async fn get_parameter_version_by_label(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
    label: &str,
) -> Result<Option<ParameterVersionRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM ssm_parameter_versions v
         JOIN ssm_parameter_labels l ON l.account_id = v.account_id AND l.region = v.region
           AND l.name = v.name AND l.version = v.version
         WHERE v.account_id = $1 AND v.region = $2 AND v.name = $3 AND l.label = $4"
    ))
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .bind(label)
    .fetch_optional(&s.pool)
    .await?;
    row.as_ref().map(version_from_row).transpose()
}

pub(super) async fn parameter_versions(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
    after_version: i64,
    limit: u32,
) -> Result<Vec<ParameterVersionRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM ssm_parameter_versions v
         WHERE v.account_id = $1 AND v.region = $2 AND v.name = $3 AND v.version > $4
         ORDER BY v.version LIMIT $5"
    ))
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .bind(after_version)
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await?;
    rows.iter().map(version_from_row).collect()
}

/// The revision-checked head update of every write to an existing parameter.
async fn bump_head(tx: &mut Tx, param: &ParameterRecord, latest_version: i64) -> Result<i64> {
    let next = param.revision + 1;
    let done = sqlx::query(
        "UPDATE ssm_parameters SET tier = $1, tags = $2, latest_version = $3, revision = $4,
             policies = $5, policy_due_ms = $6
         WHERE account_id = $7 AND region = $8 AND name COLLATE \"C\" = $9 AND revision = $10",
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

async fn append_events<'a>(
    tx: &mut Tx,
    events: impl Iterator<Item = &'a OutboxEvent>,
) -> Result<()> {
    for e in events {
        sqlx::query("INSERT INTO ssm_events (event_id, created_ms, body) VALUES ($1, $2, $3)")
            .bind(&e.event_id)
            .bind(e.created_ms)
            .bind(&e.body)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Deletes every version and label of a parameter.
async fn delete_rows(tx: &mut Tx, scope: &Scope, name: &str) -> Result<()> {
    for table in ["ssm_parameter_versions", "ssm_parameter_labels"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE account_id = $1 AND region = $2 AND name = $3"
        ))
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

pub(super) async fn put_parameter_version(
    s: &PostgresStore,
    param: &ParameterRecord,
    version: &ParameterVersionRecord,
    create: bool,
    drop_version: Option<i64>,
    tier_limit: Option<i64>,
    event: Option<&OutboxEvent>,
) -> Result<i64> {
    let scope = &param.scope;
    let tags = tags_json(&param.tags)?;
    // Writes to an existing parameter rest on its head's revision check.
    in_tx!(s, |tx| {
        let revision = if create {
            if tier_limit.is_some() {
                // Creators of one scope and tier take turns (a lock held to their commit), so
                // each counts every parameter the ones before it committed: two cannot both see
                // room for one more. Without a limit nothing is counted, and nobody waits.
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(format!(
                        "ssm-tier\t{}\t{}\t{}",
                        scope.account_id, scope.region, param.tier
                    ))
                    .execute(&mut *tx)
                    .await?;
            }
            let inserted = sqlx::query(
                "INSERT INTO ssm_parameters
                    (account_id, region, name, tier, tags, latest_version, revision, policies,
                     policy_due_ms)
                 SELECT $1, $2, $3, $4, $5, $6, 1, $7, $8
                 WHERE $9::BIGINT IS NULL OR (SELECT COUNT(*) FROM ssm_parameters
                     WHERE account_id = $1 AND region = $2 AND tier = $4) < $9::BIGINT",
            )
            .bind(&scope.account_id)
            .bind(&scope.region)
            .bind(&param.name)
            .bind(&param.tier)
            .bind(&tags)
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
        // A stale version row is never silently replaced: its key is taken, so the write is
        // refused as a conflict (and the transaction, aborted by the failed statement, ends).
        sqlx::query(
            "INSERT INTO ssm_parameter_versions
                (account_id, region, name, version, param_type, value, description,
                 allowed_pattern, data_type, tier, key_id, modified_ms, modified_user, policies)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
                    "DELETE FROM {table}
                     WHERE account_id = $1 AND region = $2 AND name = $3 AND version = $4"
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
        notify(&mut tx, &changed(scope, &param.name)).await?;
        revision
    })
}

pub(super) async fn set_parameter_labels(
    s: &PostgresStore,
    param: &ParameterRecord,
    version: i64,
    add: &[String],
    remove: &[String],
    event: Option<&OutboxEvent>,
) -> Result<i64> {
    let scope = &param.scope;
    in_tx!(s, |tx| {
        let revision = bump_head(&mut tx, param, param.latest_version).await?;
        for label in add {
            sqlx::query(
                "INSERT INTO ssm_parameter_labels (account_id, region, name, label, version)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (account_id, region, name, label)
                 DO UPDATE SET version = excluded.version",
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
                 WHERE account_id = $1 AND region = $2 AND name = $3 AND label = $4
                   AND version = $5",
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
        notify(&mut tx, &changed(scope, &param.name)).await?;
        revision
    })
}

pub(super) async fn set_parameter_tags(s: &PostgresStore, param: &ParameterRecord) -> Result<i64> {
    in_tx!(s, |tx| {
        let revision = bump_head(&mut tx, param, param.latest_version).await?;
        notify(&mut tx, &changed(&param.scope, &param.name)).await?;
        revision
    })
}

pub(super) async fn delete_parameter(s: &PostgresStore, scope: &Scope, name: &str) -> Result<bool> {
    in_tx!(s, |tx| {
        let done = sqlx::query(
            "DELETE FROM ssm_parameters
             WHERE account_id = $1 AND region = $2 AND name COLLATE \"C\" = $3",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        delete_rows(&mut tx, scope, name).await?;
        let deleted = done.rows_affected() == 1;
        if deleted {
            notify(&mut tx, &changed(scope, name)).await?;
        }
        deleted
    })
}

pub(super) async fn delete_parameter_checked(
    s: &PostgresStore,
    param: &ParameterRecord,
    events: &[OutboxEvent],
) -> Result<()> {
    let scope = &param.scope;
    in_tx!(s, |tx| {
        let done = sqlx::query(
            "DELETE FROM ssm_parameters
             WHERE account_id = $1 AND region = $2 AND name COLLATE \"C\" = $3 AND revision = $4",
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
        notify(&mut tx, &changed(scope, &param.name)).await?;
    })
}

pub(super) async fn set_parameter_policies(
    s: &PostgresStore,
    param: &ParameterRecord,
    events: &[OutboxEvent],
) -> Result<i64> {
    in_tx!(s, |tx| {
        let revision = bump_head(&mut tx, param, param.latest_version).await?;
        append_events(&mut tx, events.iter()).await?;
        notify(&mut tx, &changed(&param.scope, &param.name)).await?;
        revision
    })
}

pub(super) async fn parameters_with_due_policies(
    s: &PostgresStore,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<(Scope, String)>> {
    let rows = sqlx::query(
        "SELECT account_id, region, name FROM ssm_parameters
         WHERE policy_due_ms IS NOT NULL AND policy_due_ms <= $1
         ORDER BY policy_due_ms LIMIT $2",
    )
    .bind(now_ms)
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
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

pub(super) async fn count_parameters(
    s: &PostgresStore,
    scope: &Scope,
    tier: Option<&str>,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM ssm_parameters
         WHERE account_id = $1 AND region = $2 AND ($3::TEXT IS NULL OR tier = $3::TEXT)",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(tier)
    .fetch_one(&s.pool)
    .await?)
}

pub(super) async fn pending_events(s: &PostgresStore, limit: u32) -> Result<Vec<PendingEvent>> {
    let rows = sqlx::query(
        "SELECT seq, event_id, created_ms, body, acked FROM ssm_events ORDER BY seq LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
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

pub(super) async fn ack_event(s: &PostgresStore, seq: i64, acked: &[String]) -> Result<()> {
    let acked =
        serde_json::to_string(acked).map_err(|_| StoreError::Corrupt("event acknowledgements"))?;
    in_tx!(s, |tx| {
        sqlx::query("UPDATE ssm_events SET acked = $1 WHERE seq = $2")
            .bind(&acked)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
    })
}

pub(super) async fn delete_event(s: &PostgresStore, seq: i64) -> Result<()> {
    in_tx!(s, |tx| {
        sqlx::query("DELETE FROM ssm_events WHERE seq = $1")
            .bind(seq)
            .execute(&mut *tx)
            .await?;
    })
}

pub(super) async fn list_parameters_by_path(
    s: &PostgresStore,
    scope: &Scope,
    prefix: &str,
    recursive: bool,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<(ParameterRecord, ParameterVersionRecord)>> {
    // Rust compares strings bytewise, as `COLLATE "C"` does.
    let start = match after {
        Some(a) if a > prefix => a,
        _ => prefix,
    };
    // The prefix is matched exactly (no LIKE pattern), and "no further `/`" looks at the rest
    // of the name after it.
    let rows = sqlx::query(&format!(
        "SELECT {HEAD_COLUMNS}, {VERSION_COLUMNS} FROM ssm_parameters p
         JOIN ssm_parameter_versions v ON v.account_id = p.account_id AND v.region = p.region
           AND v.name = p.name AND v.version = p.latest_version
         WHERE p.account_id = $1 AND p.region = $2 AND p.name COLLATE \"C\" > $3
           AND starts_with(p.name, $4)
           AND ($5 OR strpos(substr(p.name, length($4) + 1), '/') = 0)
         ORDER BY p.name COLLATE \"C\" LIMIT $6"
    ))
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(start)
    .bind(prefix)
    .bind(recursive)
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((parameter_head_from_row(r)?, version_from_row(r)?)))
        .collect()
}
