//! Rows of either store read into records: one decoder per record for SQLite and PostgreSQL,
//! which store the same columns (integers as 64-bit, flags as 0/1, JSON as text).

use sqlx::Row as _;
use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};

use crate::{
    AliasRecord, AuditDigestRecord, AuditEventRecord, GrantRecord, KeyRecord, ManagedPolicyRecord,
    ParameterRecord, Result, RoleRecord, Scope, SecretRecord, SecretRotationRecord, StoreError,
    UserRecord,
};

/// A column type both stores decode.
pub(crate) trait Value:
    for<'r> sqlx::Decode<'r, Sqlite>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Postgres>
    + sqlx::Type<Postgres>
{
}

impl<T> Value for T where
    T: for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
{
}

/// A row of either store, read by column name.
pub(crate) trait Fields {
    fn get<T: Value>(&self, column: &str) -> Result<T>;
}

impl Fields for SqliteRow {
    fn get<T: Value>(&self, column: &str) -> Result<T> {
        Ok(self.try_get(column)?)
    }
}

impl Fields for PgRow {
    fn get<T: Value>(&self, column: &str) -> Result<T> {
        Ok(self.try_get(column)?)
    }
}

/// Tags as stored: a JSON array of `[key, value]` pairs.
pub(crate) fn tags_json(tags: &[(String, String)]) -> Result<String> {
    serde_json::to_string(tags).map_err(|_| StoreError::Corrupt("tags"))
}

/// The statement broke a unique constraint (the row, name or token is taken).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A JSON array of `[key, value]` pairs.
pub(crate) fn tags_from(row: &impl Fields, column: &str) -> Result<Vec<(String, String)>> {
    let text: String = row.get(column)?;
    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("tags"))
}

pub(crate) fn key_from_row(row: &impl Fields) -> Result<KeyRecord> {
    let tags_json: String = row.get("tags")?;
    let tags: Vec<(String, String)> =
        serde_json::from_str(&tags_json).map_err(|_| StoreError::Corrupt("key tags"))?;
    Ok(KeyRecord {
        scope: Scope {
            account_id: row.get("account_id")?,
            region: row.get("region")?,
        },
        key_id: row.get("key_id")?,
        seq: row.get("seq")?,
        description: row.get("description")?,
        key_spec: row.get("key_spec")?,
        key_usage: row.get("key_usage")?,
        origin: row.get("origin")?,
        key_manager: row.get("key_manager")?,
        state: row.get("state")?,
        created_ms: row.get("created_ms")?,
        deletion_ms: row.get("deletion_ms")?,
        pending_window_days: row.get("pending_window_days")?,
        policy: row.get("policy")?,
        tags,
        current_material_id: row.get("current_material_id")?,
        multi_region: row.get::<i64>("multi_region")? != 0,
        rotation_period_days: row.get("rotation_period_days")?,
        next_rotation_ms: row.get("next_rotation_ms")?,
        version: row.get("version")?,
        valid_to_ms: row.get("valid_to_ms")?,
        expiration_model: row.get("expiration_model")?,
        primary_region: row.get("primary_region")?,
    })
}

pub(crate) fn scope_and_key_id(row: &impl Fields) -> Result<(Scope, String)> {
    Ok((
        Scope::new(
            row.get::<String>("account_id")?,
            row.get::<String>("region")?,
        ),
        row.get("key_id")?,
    ))
}

pub(crate) fn alias_from_row(row: &impl Fields) -> Result<AliasRecord> {
    Ok(AliasRecord {
        scope: Scope {
            account_id: row.get("account_id")?,
            region: row.get("region")?,
        },
        alias_name: row.get("alias_name")?,
        key_id: row.get("key_id")?,
        created_ms: row.get("created_ms")?,
        updated_ms: row.get("updated_ms")?,
    })
}

pub(crate) fn grant_from_row(row: &impl Fields) -> Result<GrantRecord> {
    let operations: String = row.get("operations")?;
    Ok(GrantRecord {
        scope: Scope::new(
            row.get::<String>("account_id")?,
            row.get::<String>("region")?,
        ),
        key_id: row.get("key_id")?,
        grant_id: row.get("grant_id")?,
        name: row.get("name")?,
        grantee_principal: row.get("grantee_principal")?,
        retiring_principal: row.get("retiring_principal")?,
        operations: serde_json::from_str(&operations)
            .map_err(|_| StoreError::Corrupt("grant operations"))?,
        constraints: row.get("constraints")?,
        issuing_account: row.get("issuing_account")?,
        created_ms: row.get("created_ms")?,
        token_hash: row.get("token_hash")?,
    })
}

pub(crate) fn event_from_row(row: &impl Fields) -> Result<AuditEventRecord> {
    Ok(AuditEventRecord {
        seq: row.get("seq")?,
        account_id: row.get("account_id")?,
        event_time_ms: row.get("event_time_ms")?,
        event_id: row.get("event_id")?,
        event_name: row.get("event_name")?,
        event_source: row.get("event_source")?,
        username: row.get("username")?,
        access_key_id: row.get("access_key_id")?,
        read_only: row.get::<i64>("read_only")? != 0,
        resources: row.get("resources")?,
        record: row.get("record")?,
        prev_hash: row.get("prev_hash")?,
        hash: row.get("hash")?,
    })
}

pub(crate) fn digest_from_row(row: &impl Fields) -> Result<AuditDigestRecord> {
    Ok(AuditDigestRecord {
        seq: row.get("seq")?,
        created_ms: row.get("created_ms")?,
        first_seq: row.get("first_seq")?,
        last_seq: row.get("last_seq")?,
        body: row.get("body")?,
        signature: row.get("signature")?,
    })
}

pub(crate) fn user_from_row(row: &impl Fields) -> Result<UserRecord> {
    Ok(UserRecord {
        account_id: row.get("account_id")?,
        user_name: row.get("user_name")?,
        user_id: row.get("user_id")?,
        path: row.get("path")?,
        arn: row.get("arn")?,
        created_ms: row.get("created_ms")?,
        tags: tags_from(row, "tags")?,
    })
}

pub(crate) fn role_from_row(row: &impl Fields) -> Result<RoleRecord> {
    Ok(RoleRecord {
        account_id: row.get("account_id")?,
        role_name: row.get("role_name")?,
        role_id: row.get("role_id")?,
        path: row.get("path")?,
        arn: row.get("arn")?,
        trust_policy: row.get("trust_policy")?,
        description: row.get("description")?,
        max_session_duration: row.get("max_session_duration")?,
        created_ms: row.get("created_ms")?,
        tags: tags_from(row, "tags")?,
    })
}

pub(crate) fn policy_from_row(row: &impl Fields) -> Result<ManagedPolicyRecord> {
    Ok(ManagedPolicyRecord {
        account_id: row.get("account_id")?,
        policy_name: row.get("policy_name")?,
        policy_id: row.get("policy_id")?,
        path: row.get("path")?,
        arn: row.get("arn")?,
        document: row.get("document")?,
        description: row.get("description")?,
        created_ms: row.get("created_ms")?,
        tags: tags_from(row, "tags")?,
        attachment_count: row.get("attachment_count")?,
    })
}

pub(crate) fn secret_head_from_row(row: &impl Fields) -> Result<SecretRecord> {
    let tags: String = row.get("tags")?;
    Ok(SecretRecord {
        scope: Scope::new(
            row.get::<String>("account_id")?,
            row.get::<String>("region")?,
        ),
        name: row.get("name")?,
        arn: row.get("arn")?,
        description: row.get("description")?,
        kms_key_id: row.get("kms_key_id")?,
        tags: serde_json::from_str(&tags).map_err(|_| StoreError::Corrupt("secret tags"))?,
        resource_policy: row.get("resource_policy")?,
        created_ms: row.get("created_ms")?,
        last_changed_ms: row.get("last_changed_ms")?,
        last_accessed_ms: row.get("last_accessed_ms")?,
        deleted_ms: row.get("deleted_ms")?,
        purge_ms: row.get("purge_ms")?,
        revision: row.get("revision")?,
        versions: Vec::new(),
    })
}

pub(crate) fn parameter_head_from_row(row: &impl Fields) -> Result<ParameterRecord> {
    let tags: String = row.get("tags")?;
    Ok(ParameterRecord {
        scope: Scope::new(
            row.get::<String>("account_id")?,
            row.get::<String>("region")?,
        ),
        name: row.get("name")?,
        tier: row.get("tier")?,
        tags: serde_json::from_str(&tags).map_err(|_| StoreError::Corrupt("parameter tags"))?,
        latest_version: row.get("latest_version")?,
        revision: row.get("revision")?,
        version_count: row.get("version_count")?,
        oldest_version: row.get::<Option<i64>>("oldest_version")?.unwrap_or(0),
        policies: row.get("head_policies")?,
        policy_due_ms: row.get("policy_due_ms")?,
    })
}

pub(crate) fn rotation_from_row(r: &impl Fields) -> Result<SecretRotationRecord> {
    Ok(SecretRotationRecord {
        enabled: r.get::<i64>("enabled")? != 0,
        lambda_arn: r.get("lambda_arn")?,
        rules: r.get("rules")?,
        last_rotated_ms: r.get("last_rotated_ms")?,
        window_start_ms: r.get("window_start_ms")?,
        window_end_ms: r.get("window_end_ms")?,
        token: r.get("token")?,
        rotation_token: r.get("rotation_token")?,
        step: r.get("step")?,
        state: r.get("state")?,
        attempts: r.get("attempts")?,
        last_failure: r.get("last_failure")?,
        last_failure_ms: r.get("last_failure_ms")?,
    })
}
