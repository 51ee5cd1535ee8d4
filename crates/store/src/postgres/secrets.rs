//! Secrets Manager tables on PostgreSQL: secrets, versions, replicas, rotation.
//!
//! The same rules as the embedded store (`sqlite/secrets.rs`): every write to a secret is
//! checked against its head's revision, so two writers that read the same revision cannot both
//! move a staging label. Every write runs in a transaction ([`in_tx!`], READ COMMITTED: the
//! revision check takes the head's row lock) and notes for the other nodes ([`Change::Secret`])
//! each secret it touched; this node's secret
//! cache is invalidated after the write, where the embedded store invalidates its own.

use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::{PostgresStore, Tx, in_tx, notify};
use crate::rows::{is_unique_violation, rotation_from_row, secret_head_from_row, tags_json};
use crate::secret_cache::Lookup;
use crate::{
    Change, NewSecretVersion, Result, Scope, SecretRecord, SecretReplicaRecord,
    SecretRotationRecord, SecretVersionRecord, SecretWrite, StoreError,
};

const HEAD_COLUMNS: &str = "account_id, region, name, arn, description, kms_key_id, tags,
    resource_policy, created_ms, last_changed_ms, last_accessed_ms, deleted_ms, purge_ms, revision";

/// A head and its versions in one statement (one snapshot): one row per version, oldest first
/// (creation time, then insertion order), or one row with NULL version columns for a secret
/// without versions. Followed by the WHERE and ORDER BY of the caller.
const HEAD_AND_VERSIONS: &str = "SELECT h.account_id, h.region, h.name, h.arn, h.description,
        h.kms_key_id, h.tags, h.resource_policy, h.created_ms, h.last_changed_ms,
        h.last_accessed_ms, h.deleted_ms, h.purge_ms, h.revision,
        v.version_id AS v_version_id, v.stages AS v_stages, v.created_ms AS v_created_ms,
        v.last_accessed_ms AS v_last_accessed_ms, v.kind AS v_kind, v.kms_key_arn AS v_kms_key_arn
    FROM sm_secrets h
    LEFT JOIN sm_secret_versions v
        ON v.account_id = h.account_id AND v.region = h.region AND v.name = h.name";

/// The version columns of a [`HEAD_AND_VERSIONS`] row; `None` for a secret without versions.
fn version_from_row(row: &PgRow) -> Result<Option<SecretVersionRecord>> {
    let Some(version_id) = row.try_get::<Option<String>, _>("v_version_id")? else {
        return Ok(None);
    };
    let stages: String = row.try_get("v_stages")?;
    Ok(Some(SecretVersionRecord {
        version_id,
        stages: serde_json::from_str(&stages)
            .map_err(|_| StoreError::Corrupt("secret version stages"))?,
        created_ms: row.try_get("v_created_ms")?,
        last_accessed_ms: row.try_get("v_last_accessed_ms")?,
        kind: row.try_get("v_kind")?,
        kms_key_arn: row.try_get("v_kms_key_arn")?,
    }))
}

/// Secrets from [`HEAD_AND_VERSIONS`] rows ordered by secret, then version.
fn secrets_from_rows(rows: &[PgRow]) -> Result<Vec<SecretRecord>> {
    let mut out: Vec<SecretRecord> = Vec::new();
    for row in rows {
        let name: String = row.try_get("name")?;
        let same = out.last().is_some_and(|s| s.name == name);
        if !same {
            out.push(secret_head_from_row(row)?);
        }
        if let (Some(v), Some(s)) = (version_from_row(row)?, out.last_mut()) {
            s.versions.push(v);
        }
    }
    Ok(out)
}

fn stages_json(stages: &[String]) -> Result<String> {
    serde_json::to_string(stages).map_err(|_| StoreError::Corrupt("secret version stages"))
}

fn already_exists(e: sqlx::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::AlreadyExists
    } else {
        e.into()
    }
}

fn scoped_names(rows: &[PgRow]) -> Result<Vec<(Scope, String)>> {
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

async fn notify_secret(tx: &mut Tx, scope: &Scope, name: &str) -> Result<()> {
    notify(
        tx,
        &Change::Secret {
            scope: scope.clone(),
            name: name.to_owned(),
        },
    )
    .await
}

async fn insert_version(
    tx: &mut Tx,
    secret: &SecretRecord,
    version: &NewSecretVersion,
) -> Result<()> {
    let r = &version.record;
    sqlx::query(
        "INSERT INTO sm_secret_versions (account_id, region, name, version_id, stages, created_ms,
             last_accessed_ms, kind, kms_key_arn, ciphertext)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&secret.scope.account_id)
    .bind(&secret.scope.region)
    .bind(&secret.name)
    .bind(&r.version_id)
    .bind(stages_json(&r.stages)?)
    .bind(r.created_ms)
    .bind(r.last_accessed_ms)
    .bind(&r.kind)
    .bind(&r.kms_key_arn)
    .bind(&version.ciphertext)
    .execute(&mut **tx)
    .await
    .map_err(already_exists)?;
    Ok(())
}

/// Gives a stored version without a value (kind `none`) its value.
async fn fill_version(
    tx: &mut Tx,
    secret: &SecretRecord,
    version: &NewSecretVersion,
) -> Result<()> {
    let r = &version.record;
    let done = sqlx::query(
        "UPDATE sm_secret_versions SET kind = $1, kms_key_arn = $2, ciphertext = $3
         WHERE account_id = $4 AND region = $5 AND name = $6 AND version_id = $7
           AND kind = 'none'",
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

/// Inserts a secret's head and `versions` in `tx`; [`StoreError::AlreadyExists`] if the name is
/// taken.
async fn create_in(
    tx: &mut Tx,
    secret: &SecretRecord,
    versions: &[NewSecretVersion],
) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO sm_secrets ({HEAD_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    ))
    .bind(&secret.scope.account_id)
    .bind(&secret.scope.region)
    .bind(&secret.name)
    .bind(&secret.arn)
    .bind(&secret.description)
    .bind(&secret.kms_key_id)
    .bind(tags_json(&secret.tags)?)
    .bind(&secret.resource_policy)
    .bind(secret.created_ms)
    .bind(secret.last_changed_ms)
    .bind(secret.last_accessed_ms)
    .bind(secret.deleted_ms)
    .bind(secret.purge_ms)
    .bind(secret.revision)
    .execute(&mut **tx)
    .await
    .map_err(already_exists)?;
    for v in versions {
        insert_version(tx, secret, v).await?;
    }
    notify_secret(tx, &secret.scope, &secret.name).await
}

/// Saves `secret` in `tx`, inserting `versions`: [`StoreError::Conflict`] if the stored revision
/// is no longer `secret.revision`. Returns the new revision.
async fn save_in(tx: &mut Tx, secret: &SecretRecord, versions: &[NewSecretVersion]) -> Result<i64> {
    let scope = &secret.scope;
    let next = secret.revision + 1;
    // The revision-checked head update comes first: it locks the head row, so a concurrent
    // writer that read the same revision waits and then fails (serialization failure, retried,
    // then no row at that revision: Conflict).
    let done = sqlx::query(
        "UPDATE sm_secrets SET description = $1, kms_key_id = $2, tags = $3,
             resource_policy = $4, last_changed_ms = $5, last_accessed_ms = $6, deleted_ms = $7,
             purge_ms = $8, revision = $9
         WHERE account_id = $10 AND region = $11 AND name = $12 AND revision = $13",
    )
    .bind(&secret.description)
    .bind(&secret.kms_key_id)
    .bind(tags_json(&secret.tags)?)
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
    let stored: Vec<(String, String)> = sqlx::query(
        "SELECT version_id, stages FROM sm_secret_versions
         WHERE account_id = $1 AND region = $2 AND name = $3",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(&secret.name)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("version_id")?, r.try_get("stages")?)))
    .collect::<Result<_>>()?;
    // A version already stored without a value (the AWSPENDING version a rotation starts
    // with) gets its value in place.
    let fills: Vec<bool> = versions
        .iter()
        .map(|v| stored.iter().any(|(id, _)| *id == v.record.version_id))
        .collect();
    // The stages that changed, and the versions no longer listed, in one statement each.
    let mut restaged_ids = Vec::new();
    let mut restaged = Vec::new();
    let mut dropped = Vec::new();
    for (id, stages) in stored {
        match secret.versions.iter().find(|v| v.version_id == id) {
            Some(v) => {
                let new = stages_json(&v.stages)?;
                if new != stages {
                    restaged_ids.push(id);
                    restaged.push(new);
                }
            }
            None => dropped.push(id),
        }
    }
    if !restaged_ids.is_empty() {
        sqlx::query(
            "UPDATE sm_secret_versions v SET stages = n.stages
             FROM UNNEST($4::TEXT[], $5::TEXT[]) AS n (version_id, stages)
             WHERE v.account_id = $1 AND v.region = $2 AND v.name = $3
               AND v.version_id = n.version_id",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(&secret.name)
        .bind(&restaged_ids)
        .bind(&restaged)
        .execute(&mut **tx)
        .await?;
    }
    if !dropped.is_empty() {
        sqlx::query(
            "DELETE FROM sm_secret_versions
             WHERE account_id = $1 AND region = $2 AND name = $3 AND version_id = ANY($4)",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(&secret.name)
        .bind(&dropped)
        .execute(&mut **tx)
        .await?;
    }
    for (v, fills) in versions.iter().zip(fills) {
        if fills {
            fill_version(tx, secret, v).await?;
        } else {
            insert_version(tx, secret, v).await?;
        }
    }
    notify_secret(tx, scope, &secret.name).await?;
    Ok(next)
}

/// Deletes a secret in `tx` if its revision is still `revision` (its versions, rotation and
/// replica rows go with it: `ON DELETE CASCADE`).
async fn delete_in(tx: &mut Tx, scope: &Scope, name: &str, revision: i64) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM sm_secrets
         WHERE account_id = $1 AND region = $2 AND name = $3 AND revision = $4",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .bind(revision)
    .execute(&mut **tx)
    .await?;
    let deleted = done.rows_affected() == 1;
    if deleted {
        notify_secret(tx, scope, name).await?;
    }
    Ok(deleted)
}

/// Replaces the replica list of the primary `name` of `scope` in `tx`.
async fn replicas_in(
    tx: &mut Tx,
    scope: &Scope,
    name: &str,
    replicas: &[SecretReplicaRecord],
) -> Result<()> {
    sqlx::query("DELETE FROM sm_replicas WHERE account_id = $1 AND region = $2 AND name = $3")
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    for r in replicas {
        sqlx::query(
            "INSERT INTO sm_replicas (account_id, region, name, replica_region, kms_key_id,
                 status, status_message, present)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(name)
        .bind(&r.region)
        .bind(&r.kms_key_id)
        .bind(&r.status)
        .bind(&r.status_message)
        .bind(i64::from(r.present))
        .execute(&mut **tx)
        .await?;
    }
    notify_secret(tx, scope, name).await
}

pub(super) async fn create_secret(
    s: &PostgresStore,
    secret: &SecretRecord,
    version: Option<&NewSecretVersion>,
) -> Result<()> {
    let versions = version.map(std::slice::from_ref).unwrap_or_default();
    let done = in_tx!(s, |tx| create_in(&mut tx, secret, versions).await?);
    s.secret_cache.invalidate(&secret.scope, &secret.name);
    done
}

pub(super) async fn get_secret(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
) -> Result<Option<SecretRecord>> {
    let generation = match s.secret_cache.secret(scope, name) {
        Lookup::Hit(found) => return Ok(Some(found)),
        Lookup::Miss(g) => g,
    };
    let rows = sqlx::query(&format!(
        "{HEAD_AND_VERSIONS}
         WHERE h.account_id = $1 AND h.region = $2 AND h.name = $3
         ORDER BY v.created_ms, v.seq"
    ))
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .fetch_all(&s.pool)
    .await?;
    let found = secrets_from_rows(&rows)?.into_iter().next();
    if let Some(secret) = &found {
        s.secret_cache.fill_secret(generation, secret);
    }
    Ok(found)
}

pub(super) async fn save_secret(
    s: &PostgresStore,
    secret: &SecretRecord,
    version: Option<&NewSecretVersion>,
) -> Result<i64> {
    let versions = version.map(std::slice::from_ref).unwrap_or_default();
    let done = in_tx!(s, |tx| save_in(&mut tx, secret, versions).await?);
    s.secret_cache.invalidate(&secret.scope, &secret.name);
    done
}

pub(super) async fn get_secret_ciphertext(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
    version_id: &str,
) -> Result<Option<Vec<u8>>> {
    let generation = match s.secret_cache.ciphertext(scope, name, version_id) {
        Lookup::Hit(c) => return Ok(Some(c)),
        Lookup::Miss(g) => g,
    };
    let row = sqlx::query(
        "SELECT ciphertext FROM sm_secret_versions
         WHERE account_id = $1 AND region = $2 AND name = $3 AND version_id = $4",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .bind(version_id)
    .fetch_optional(&s.pool)
    .await?;
    let found: Option<Vec<u8>> = row.map(|r| r.try_get("ciphertext")).transpose()?;
    if let Some(c) = &found {
        s.secret_cache
            .fill_ciphertext(scope, name, version_id, generation, c);
    }
    Ok(found)
}

pub(super) async fn touch_secret(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
    version_id: &str,
    day_ms: i64,
) -> Result<()> {
    // Day granularity keeps reads from turning into a write each: only the first read of a day
    // writes, and only then are the other nodes told. The revision is left alone, so a read
    // never makes a writer retry.
    let done = in_tx!(s, |tx| {
        let head = sqlx::query(
            "UPDATE sm_secrets SET last_accessed_ms = $4
             WHERE account_id = $1 AND region = $2 AND name = $3
               AND (last_accessed_ms IS NULL OR last_accessed_ms < $4)",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(name)
        .bind(day_ms)
        .execute(&mut *tx)
        .await?;
        let version = sqlx::query(
            "UPDATE sm_secret_versions SET last_accessed_ms = $5
             WHERE account_id = $1 AND region = $2 AND name = $3 AND version_id = $4
               AND (last_accessed_ms IS NULL OR last_accessed_ms < $5)",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(name)
        .bind(version_id)
        .bind(day_ms)
        .execute(&mut *tx)
        .await?;
        if head.rows_affected() + version.rows_affected() > 0 {
            notify_secret(&mut tx, scope, name).await?;
        }
    });
    s.secret_cache.invalidate(scope, name);
    done
}

pub(super) async fn list_secrets(s: &PostgresStore, scope: &Scope) -> Result<Vec<SecretRecord>> {
    let rows = sqlx::query(&format!(
        "{HEAD_AND_VERSIONS}
         WHERE h.account_id = $1 AND h.region = $2
         ORDER BY h.name COLLATE \"C\", v.created_ms, v.seq"
    ))
    .bind(&scope.account_id)
    .bind(&scope.region)
    .fetch_all(&s.pool)
    .await?;
    secrets_from_rows(&rows)
}

pub(super) async fn delete_secret(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
    revision: i64,
) -> Result<bool> {
    let done = in_tx!(s, |tx| delete_in(&mut tx, scope, name, revision).await?);
    s.secret_cache.invalidate(scope, name);
    done
}

pub(super) async fn secrets_due_for_purge(
    s: &PostgresStore,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<(Scope, String)>> {
    let rows = sqlx::query(
        "SELECT account_id, region, name FROM sm_secrets
         WHERE purge_ms IS NOT NULL AND purge_ms <= $1
         ORDER BY purge_ms, account_id, region, name COLLATE \"C\" LIMIT $2",
    )
    .bind(now_ms)
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await?;
    scoped_names(&rows)
}

pub(super) async fn write_secrets(s: &PostgresStore, writes: &[SecretWrite<'_>]) -> Result<()> {
    let done = in_tx!(s, |tx| {
        for w in writes {
            match w {
                SecretWrite::Create { secret, versions } => {
                    create_in(&mut tx, secret, versions).await?;
                }
                SecretWrite::Save { secret, versions } => {
                    save_in(&mut tx, secret, versions).await?;
                }
                SecretWrite::Delete {
                    scope,
                    name,
                    revision,
                } => {
                    if !delete_in(&mut tx, scope, name, *revision).await? {
                        return Err(StoreError::Conflict);
                    }
                }
                SecretWrite::Replicas {
                    scope,
                    name,
                    replicas,
                } => replicas_in(&mut tx, scope, name, replicas).await?,
            }
        }
    });
    for w in writes {
        match w {
            SecretWrite::Create { secret, .. } | SecretWrite::Save { secret, .. } => {
                s.secret_cache.invalidate(&secret.scope, &secret.name);
            }
            SecretWrite::Delete { scope, name, .. } => s.secret_cache.invalidate(scope, name),
            SecretWrite::Replicas { .. } => {}
        }
    }
    done
}

pub(super) async fn secret_replicas(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
) -> Result<Vec<SecretReplicaRecord>> {
    let rows = sqlx::query(
        "SELECT replica_region, kms_key_id, status, status_message, present FROM sm_replicas
         WHERE account_id = $1 AND region = $2 AND name = $3
         ORDER BY replica_region COLLATE \"C\"",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .fetch_all(&s.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SecretReplicaRecord {
                region: r.try_get("replica_region")?,
                kms_key_id: r.try_get("kms_key_id")?,
                status: r.try_get("status")?,
                status_message: r.try_get("status_message")?,
                present: r.try_get::<i64, _>("present")? != 0,
            })
        })
        .collect()
}

pub(super) async fn secret_primary_region(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
) -> Result<Option<String>> {
    let row = sqlx::query(
        "SELECT region FROM sm_replicas
         WHERE account_id = $1 AND replica_region = $2 AND name = $3 AND present = 1
         ORDER BY region COLLATE \"C\" LIMIT 1",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .fetch_optional(&s.pool)
    .await?;
    Ok(row.map(|r| r.try_get("region")).transpose()?)
}

pub(super) async fn secret_primary_regions(
    s: &PostgresStore,
    scope: &Scope,
) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT name, region FROM (
             SELECT name, region FROM sm_replicas
             WHERE account_id = $1 AND replica_region = $2 AND present = 1
             UNION
             SELECT name, region FROM sm_replicas WHERE account_id = $1 AND region = $2
         ) AS u
         ORDER BY name COLLATE \"C\", region COLLATE \"C\"",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .fetch_all(&s.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("region")?)))
        .collect()
}

pub(super) async fn get_secret_rotation(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
) -> Result<Option<SecretRotationRecord>> {
    let row = sqlx::query(
        "SELECT enabled, lambda_arn, rules, last_rotated_ms, window_start_ms, window_end_ms,
                token, rotation_token, step, state, attempts, last_failure, last_failure_ms
         FROM sm_rotation WHERE account_id = $1 AND region = $2 AND name = $3",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .fetch_optional(&s.pool)
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    rotation_from_row(&r).map(Some)
}

pub(super) async fn put_secret_rotation(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
    rotation: &SecretRotationRecord,
) -> Result<()> {
    let r = rotation;
    in_tx!(s, |tx| {
        let done = sqlx::query(
            "INSERT INTO sm_rotation (account_id, region, name, enabled, lambda_arn, rules,
                 last_rotated_ms, window_start_ms, window_end_ms, token, rotation_token, step,
                 state, attempts, last_failure, last_failure_ms)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
             WHERE EXISTS (SELECT 1 FROM sm_secrets
                           WHERE account_id = $1 AND region = $2 AND name = $3)
             ON CONFLICT (account_id, region, name) DO UPDATE SET
                 enabled = excluded.enabled, lambda_arn = excluded.lambda_arn,
                 rules = excluded.rules, last_rotated_ms = excluded.last_rotated_ms,
                 window_start_ms = excluded.window_start_ms,
                 window_end_ms = excluded.window_end_ms, token = excluded.token,
                 rotation_token = excluded.rotation_token, step = excluded.step,
                 state = excluded.state, attempts = excluded.attempts,
                 last_failure = excluded.last_failure, last_failure_ms = excluded.last_failure_ms",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(name)
        .bind(i64::from(r.enabled))
        .bind(&r.lambda_arn)
        .bind(&r.rules)
        .bind(r.last_rotated_ms)
        .bind(r.window_start_ms)
        .bind(r.window_end_ms)
        .bind(&r.token)
        .bind(&r.rotation_token)
        .bind(&r.step)
        .bind(&r.state)
        .bind(r.attempts)
        .bind(&r.last_failure)
        .bind(r.last_failure_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            // The secret was deleted by a transaction that committed meanwhile.
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::Conflict,
            _ => e.into(),
        })?;
        if done.rows_affected() != 1 {
            // The secret is gone (deleted meanwhile).
            return Err(StoreError::Conflict);
        }
        notify_secret(&mut tx, scope, name).await?;
    })
}

pub(super) async fn secret_rotations_due(
    s: &PostgresStore,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<(Scope, String)>> {
    // NULLS FIRST: SQLite's order, where NULL sorts before every number (a running rotation
    // without a window comes first).
    let rows = sqlx::query(
        "SELECT account_id, region, name FROM sm_rotation
         WHERE state = 'running' OR (enabled = 1 AND window_start_ms <= $1)
         ORDER BY window_start_ms NULLS FIRST, account_id, region, name COLLATE \"C\"
         LIMIT $2",
    )
    .bind(now_ms)
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await?;
    scoped_names(&rows)
}
