//! Secrets Manager rotation: `sm_rotation`, one row per secret with a rotation configuration.
//! The row goes with its secret (foreign key, `ON DELETE CASCADE`).

use sqlx::Row as _;
use sqlx::sqlite::SqlitePool;

use crate::rows::rotation_from_row;
use crate::{Result, Scope, SecretRotationRecord, StoreError};

pub(super) async fn get(
    pool: &SqlitePool,
    scope: &Scope,
    name: &str,
) -> Result<Option<SecretRotationRecord>> {
    let row = sqlx::query(
        "SELECT enabled, lambda_arn, rules, last_rotated_ms, window_start_ms, window_end_ms,
                token, rotation_token, step, state, attempts, last_failure, last_failure_ms
         FROM sm_rotation WHERE account_id = ? AND region = ? AND name = ?",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    rotation_from_row(&r).map(Some)
}

pub(super) async fn put(
    pool: &SqlitePool,
    scope: &Scope,
    name: &str,
    r: &SecretRotationRecord,
) -> Result<()> {
    let done = sqlx::query(
        "INSERT INTO sm_rotation (account_id, region, name, enabled, lambda_arn, rules,
             last_rotated_ms, window_start_ms, window_end_ms, token, rotation_token, step, state,
             attempts, last_failure, last_failure_ms)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16
         WHERE EXISTS (SELECT 1 FROM sm_secrets WHERE account_id = ?1 AND region = ?2 AND name = ?3)
         ON CONFLICT (account_id, region, name) DO UPDATE SET
             enabled = excluded.enabled, lambda_arn = excluded.lambda_arn, rules = excluded.rules,
             last_rotated_ms = excluded.last_rotated_ms,
             window_start_ms = excluded.window_start_ms, window_end_ms = excluded.window_end_ms,
             token = excluded.token, rotation_token = excluded.rotation_token,
             step = excluded.step, state = excluded.state, attempts = excluded.attempts,
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
    .execute(pool)
    .await?;
    if done.rows_affected() != 1 {
        // The secret is gone (deleted meanwhile).
        return Err(StoreError::Conflict);
    }
    Ok(())
}

pub(super) async fn due(
    pool: &SqlitePool,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<(Scope, String)>> {
    let rows = sqlx::query(
        "SELECT account_id, region, name FROM sm_rotation
         WHERE state = 'running' OR (enabled = 1 AND window_start_ms <= ?)
         ORDER BY window_start_ms LIMIT ?",
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
