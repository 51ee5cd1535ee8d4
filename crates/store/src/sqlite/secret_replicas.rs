//! Secrets Manager replication: `sm_replicas` (one row per replica region of a primary) and
//! [`write`], which applies a primary's change together with its replicas' in one transaction.

use sqlx::Row as _;
use sqlx::sqlite::SqlitePool;

use super::secrets::{create_in, delete_in, save_in};
use crate::{Result, Scope, SecretReplicaRecord, SecretWrite, StoreError};

pub(super) async fn write(pool: &SqlitePool, writes: &[SecretWrite<'_>]) -> Result<()> {
    let mut tx = pool.begin().await?;
    for w in writes {
        match w {
            SecretWrite::Create { secret, versions } => {
                create_in(&mut tx, secret, versions).await?
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
            } => {
                sqlx::query(
                    "DELETE FROM sm_replicas WHERE account_id = ? AND region = ? AND name = ?",
                )
                .bind(&scope.account_id)
                .bind(&scope.region)
                .bind(name)
                .execute(&mut *tx)
                .await?;
                for r in replicas.iter() {
                    sqlx::query(
                        "INSERT INTO sm_replicas (account_id, region, name, replica_region,
                             kms_key_id, status, status_message, present)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(&scope.account_id)
                    .bind(&scope.region)
                    .bind(name)
                    .bind(&r.region)
                    .bind(&r.kms_key_id)
                    .bind(&r.status)
                    .bind(&r.status_message)
                    .bind(r.present)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn replicas(
    pool: &SqlitePool,
    scope: &Scope,
    name: &str,
) -> Result<Vec<SecretReplicaRecord>> {
    let rows = sqlx::query(
        "SELECT replica_region, kms_key_id, status, status_message, present FROM sm_replicas
         WHERE account_id = ? AND region = ? AND name = ? ORDER BY replica_region",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SecretReplicaRecord {
                region: r.try_get("replica_region")?,
                kms_key_id: r.try_get("kms_key_id")?,
                status: r.try_get("status")?,
                status_message: r.try_get("status_message")?,
                present: r.try_get("present")?,
            })
        })
        .collect()
}

pub(super) async fn primary_region(
    pool: &SqlitePool,
    scope: &Scope,
    name: &str,
) -> Result<Option<String>> {
    let row = sqlx::query(
        "SELECT region FROM sm_replicas
         WHERE account_id = ? AND replica_region = ? AND name = ? AND present = 1",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| r.try_get("region")).transpose()?)
}

pub(super) async fn primary_regions(
    pool: &SqlitePool,
    scope: &Scope,
) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT name, region FROM sm_replicas
         WHERE account_id = ?1 AND replica_region = ?2 AND present = 1
         UNION
         SELECT DISTINCT name, region FROM sm_replicas WHERE account_id = ?1 AND region = ?2",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("region")?)))
        .collect()
}
