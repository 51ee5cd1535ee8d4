//! KMS grants: `kms_grants`, keyed by (account, region, key, grant id), found by token hash
//! for RetireGrant and by retiring principal for ListRetirableGrants.

use sqlx::sqlite::SqlitePool;

use crate::rows::grant_from_row;
use crate::{GrantRecord, Result, Scope, StoreError};

pub(super) async fn create(pool: &SqlitePool, grant: &GrantRecord) -> Result<()> {
    let operations =
        serde_json::to_string(&grant.operations).map_err(|_| StoreError::Corrupt("grant"))?;
    let res = sqlx::query(
        "INSERT INTO kms_grants (account_id, region, key_id, grant_id, name, grantee_principal,
             retiring_principal, operations, constraints, issuing_account, created_ms, token_hash)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12
         WHERE EXISTS (SELECT 1 FROM kms_keys WHERE account_id = ?1 AND region = ?2 AND key_id = ?3)",
    )
    .bind(&grant.scope.account_id)
    .bind(&grant.scope.region)
    .bind(&grant.key_id)
    .bind(&grant.grant_id)
    .bind(&grant.name)
    .bind(&grant.grantee_principal)
    .bind(&grant.retiring_principal)
    .bind(operations)
    .bind(&grant.constraints)
    .bind(&grant.issuing_account)
    .bind(grant.created_ms)
    .bind(&grant.token_hash)
    .execute(pool)
    .await;
    match res {
        Ok(done) if done.rows_affected() == 0 => Err(StoreError::Conflict),
        Ok(_) => Ok(()),
        Err(e) if super::is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn for_key(
    pool: &SqlitePool,
    scope: &Scope,
    key_id: &str,
) -> Result<Vec<GrantRecord>> {
    sqlx::query(
        "SELECT * FROM kms_grants WHERE account_id = ? AND region = ? AND key_id = ?
         ORDER BY created_ms, grant_id",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(key_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(grant_from_row)
    .collect()
}

pub(super) async fn by_token(pool: &SqlitePool, token_hash: &[u8]) -> Result<Option<GrantRecord>> {
    sqlx::query("SELECT * FROM kms_grants WHERE token_hash = ?")
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(grant_from_row)
        .transpose()
}

pub(super) async fn retirable(
    pool: &SqlitePool,
    region: &str,
    retiring_principal: &str,
) -> Result<Vec<GrantRecord>> {
    sqlx::query(
        "SELECT * FROM kms_grants WHERE region = ? AND retiring_principal = ?
         ORDER BY created_ms, grant_id",
    )
    .bind(region)
    .bind(retiring_principal)
    .fetch_all(pool)
    .await?
    .iter()
    .map(grant_from_row)
    .collect()
}

pub(super) async fn delete(
    pool: &SqlitePool,
    scope: &Scope,
    key_id: &str,
    grant_id: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM kms_grants WHERE account_id = ? AND region = ? AND key_id = ? AND grant_id = ?",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(key_id)
    .bind(grant_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
