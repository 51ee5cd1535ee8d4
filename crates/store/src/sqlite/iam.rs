//! IAM and STS tables: accounts, users, roles, inline and managed policies, attachments, STS
//! sessions. IAM is global, so every query is keyed by account only. Deletes that AWS refuses
//! while an entity is still in use check and delete in one transaction, so a concurrent attach
//! cannot slip in between.

use sqlx::Row as _;
use sqlx::sqlite::SqlitePool;

use crate::rows::{
    is_unique_violation, policy_from_row, role_from_row, tags_from, tags_json, user_from_row,
};
use crate::{
    AccessKeyInfo, AccessKeyRecord, Barrier, DeleteOutcome, ManagedPolicyRecord, PrincipalKind,
    Result, RoleRecord, RowIdentity, SessionRecord, StoreError, UserRecord,
};

fn insert_result(
    res: std::result::Result<sqlx::sqlite::SqliteQueryResult, sqlx::Error>,
) -> Result<()> {
    match res {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        Err(e) => Err(e.into()),
    }
}

fn principal_table(kind: PrincipalKind) -> (&'static str, &'static str) {
    match kind {
        PrincipalKind::User => ("iam_users", "user_name"),
        PrincipalKind::Role => ("iam_roles", "role_name"),
    }
}

pub(super) async fn insert_access_key<'e, E>(
    executor: E,
    barrier: &Barrier,
    key: &AccessKeyRecord,
) -> Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let sealed = barrier.seal(
        &RowIdentity {
            table: "access_keys",
            key: &[&key.access_key_id],
        },
        key.secret.expose_secret(),
    )?;
    let res = sqlx::query(
        "INSERT INTO access_keys (access_key_id, account_id, principal_arn, user_name, status,
            created_ms, secret) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&key.access_key_id)
    .bind(&key.account_id)
    .bind(&key.principal_arn)
    .bind(&key.user_name)
    .bind(&key.status)
    .bind(key.created_ms)
    .bind(sealed)
    .execute(executor)
    .await;
    insert_result(res)
}

pub(super) async fn create_access_key(
    pool: &SqlitePool,
    barrier: &Barrier,
    key: &AccessKeyRecord,
    max: u32,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    // Insert first (taking the write lock), then count: over the limit, roll back.
    insert_access_key(&mut *tx, barrier, key).await?;
    let row = sqlx::query("SELECT COUNT(*) FROM access_keys WHERE principal_arn = ?")
        .bind(&key.principal_arn)
        .fetch_one(&mut *tx)
        .await?;
    let count: i64 = row.try_get(0)?;
    if count > i64::from(max) {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn create_account(
    pool: &SqlitePool,
    barrier: &Barrier,
    account_id: &str,
    created_ms: i64,
    root_key: Option<&AccessKeyRecord>,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    let res = sqlx::query("INSERT INTO iam_accounts (account_id, created_ms) VALUES (?, ?)")
        .bind(account_id)
        .bind(created_ms)
        .execute(&mut *tx)
        .await;
    insert_result(res)?;
    if let Some(key) = root_key {
        insert_access_key(&mut *tx, barrier, key).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn account_exists(pool: &SqlitePool, account_id: &str) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM iam_accounts WHERE account_id = ?")
        .bind(account_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

pub(super) async fn list_access_keys(
    pool: &SqlitePool,
    principal_arn: &str,
) -> Result<Vec<AccessKeyInfo>> {
    let rows = sqlx::query(
        "SELECT access_key_id, account_id, principal_arn, user_name, status, created_ms
         FROM access_keys WHERE principal_arn = ? ORDER BY created_ms, access_key_id",
    )
    .bind(principal_arn)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(AccessKeyInfo {
                access_key_id: row.try_get("access_key_id")?,
                account_id: row.try_get("account_id")?,
                principal_arn: row.try_get("principal_arn")?,
                user_name: row.try_get("user_name")?,
                status: row.try_get("status")?,
                created_ms: row.try_get("created_ms")?,
            })
        })
        .collect()
}

pub(super) async fn set_access_key_status(
    pool: &SqlitePool,
    access_key_id: &str,
    status: &str,
) -> Result<bool> {
    let done = sqlx::query("UPDATE access_keys SET status = ? WHERE access_key_id = ?")
        .bind(status)
        .bind(access_key_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn delete_access_key(pool: &SqlitePool, access_key_id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM access_keys WHERE access_key_id = ?")
        .bind(access_key_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn create_user(pool: &SqlitePool, user: &UserRecord) -> Result<()> {
    let res = sqlx::query(
        "INSERT INTO iam_users (account_id, user_name, user_id, path, arn, created_ms, tags)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&user.account_id)
    .bind(&user.user_name)
    .bind(&user.user_id)
    .bind(&user.path)
    .bind(&user.arn)
    .bind(user.created_ms)
    .bind(tags_json(&user.tags)?)
    .execute(pool)
    .await;
    insert_result(res)
}

pub(super) async fn get_user(
    pool: &SqlitePool,
    account_id: &str,
    user_name: &str,
) -> Result<Option<UserRecord>> {
    let row = sqlx::query("SELECT * FROM iam_users WHERE account_id = ? AND user_name = ?")
        .bind(account_id)
        .bind(user_name)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub(super) async fn list_users(
    pool: &SqlitePool,
    account_id: &str,
    path_prefix: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<UserRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM iam_users WHERE account_id = ? AND substr(path, 1, length(?)) = ?
           AND (? IS NULL OR user_name > ?)
         ORDER BY user_name LIMIT ?",
    )
    .bind(account_id)
    .bind(path_prefix)
    .bind(path_prefix)
    .bind(after)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(user_from_row).collect()
}

async fn count(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    sql: &str,
    binds: &[&str],
) -> Result<i64> {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    let row = q.fetch_one(&mut **tx).await?;
    Ok(row.try_get(0)?)
}

/// The checks AWS makes before deleting a user or a role: no inline policies, no attachments.
async fn policies_in_use(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    account_id: &str,
    kind: PrincipalKind,
    name: &str,
) -> Result<Option<DeleteOutcome>> {
    let k = kind.as_str();
    if count(
        tx,
        "SELECT COUNT(*) FROM iam_inline_policies
         WHERE account_id = ? AND principal_kind = ? AND principal_name = ?",
        &[account_id, k, name],
    )
    .await?
        > 0
    {
        return Ok(Some(DeleteOutcome::HasInlinePolicies));
    }
    if count(
        tx,
        "SELECT COUNT(*) FROM iam_attachments
         WHERE account_id = ? AND principal_kind = ? AND principal_name = ?",
        &[account_id, k, name],
    )
    .await?
        > 0
    {
        return Ok(Some(DeleteOutcome::HasAttachments));
    }
    Ok(None)
}

pub(super) async fn delete_user(
    pool: &SqlitePool,
    account_id: &str,
    user_name: &str,
) -> Result<DeleteOutcome> {
    let mut tx = pool.begin().await?;
    // Take the write lock first, so the checks below see what the delete deletes.
    sqlx::query("UPDATE iam_users SET tags = tags WHERE account_id = ? AND user_name = ?")
        .bind(account_id)
        .bind(user_name)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query("SELECT arn FROM iam_users WHERE account_id = ? AND user_name = ?")
        .bind(account_id)
        .bind(user_name)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        return Ok(DeleteOutcome::NotFound);
    };
    let arn: String = row.try_get("arn")?;
    if count(
        &mut tx,
        "SELECT COUNT(*) FROM access_keys WHERE principal_arn = ?",
        &[&arn],
    )
    .await?
        > 0
    {
        return Ok(DeleteOutcome::HasAccessKeys);
    }
    if let Some(outcome) =
        policies_in_use(&mut tx, account_id, PrincipalKind::User, user_name).await?
    {
        return Ok(outcome);
    }
    sqlx::query("DELETE FROM iam_users WHERE account_id = ? AND user_name = ?")
        .bind(account_id)
        .bind(user_name)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(DeleteOutcome::Deleted)
}

pub(super) async fn set_principal_tags(
    pool: &SqlitePool,
    account_id: &str,
    kind: PrincipalKind,
    name: &str,
    expected: &[(String, String)],
    tags: &[(String, String)],
) -> Result<bool> {
    let (table, column) = principal_table(kind);
    let mut tx = pool.begin().await?;
    let done = sqlx::query(&format!(
        "UPDATE {table} SET tags = ? WHERE account_id = ? AND {column} = ? AND tags = ?"
    ))
    .bind(tags_json(tags)?)
    .bind(account_id)
    .bind(name)
    .bind(tags_json(expected)?)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        tx.commit().await?;
        return Ok(true);
    }
    if principal_exists(&mut *tx, account_id, kind, name).await? {
        Err(StoreError::Conflict)
    } else {
        Ok(false)
    }
}

pub(super) async fn create_role(pool: &SqlitePool, role: &RoleRecord) -> Result<()> {
    let res = sqlx::query(
        "INSERT INTO iam_roles (account_id, role_name, role_id, path, arn, trust_policy,
            description, max_session_duration, created_ms, tags)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&role.account_id)
    .bind(&role.role_name)
    .bind(&role.role_id)
    .bind(&role.path)
    .bind(&role.arn)
    .bind(&role.trust_policy)
    .bind(&role.description)
    .bind(role.max_session_duration)
    .bind(role.created_ms)
    .bind(tags_json(&role.tags)?)
    .execute(pool)
    .await;
    insert_result(res)
}

pub(super) async fn get_role(
    pool: &SqlitePool,
    account_id: &str,
    role_name: &str,
) -> Result<Option<RoleRecord>> {
    let row = sqlx::query("SELECT * FROM iam_roles WHERE account_id = ? AND role_name = ?")
        .bind(account_id)
        .bind(role_name)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(role_from_row).transpose()
}

pub(super) async fn list_roles(
    pool: &SqlitePool,
    account_id: &str,
    path_prefix: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<RoleRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM iam_roles WHERE account_id = ? AND substr(path, 1, length(?)) = ?
           AND (? IS NULL OR role_name > ?)
         ORDER BY role_name LIMIT ?",
    )
    .bind(account_id)
    .bind(path_prefix)
    .bind(path_prefix)
    .bind(after)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(role_from_row).collect()
}

pub(super) async fn delete_role(
    pool: &SqlitePool,
    account_id: &str,
    role_name: &str,
) -> Result<DeleteOutcome> {
    let mut tx = pool.begin().await?;
    let touched =
        sqlx::query("UPDATE iam_roles SET tags = tags WHERE account_id = ? AND role_name = ?")
            .bind(account_id)
            .bind(role_name)
            .execute(&mut *tx)
            .await?;
    if touched.rows_affected() == 0 {
        return Ok(DeleteOutcome::NotFound);
    }
    if let Some(outcome) =
        policies_in_use(&mut tx, account_id, PrincipalKind::Role, role_name).await?
    {
        return Ok(outcome);
    }
    sqlx::query("DELETE FROM sts_sessions WHERE account_id = ? AND role_name = ? COLLATE NOCASE")
        .bind(account_id)
        .bind(role_name)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM iam_roles WHERE account_id = ? AND role_name = ?")
        .bind(account_id)
        .bind(role_name)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(DeleteOutcome::Deleted)
}

async fn principal_exists<'e, E>(
    executor: E,
    account_id: &str,
    kind: PrincipalKind,
    name: &str,
) -> Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let (table, column) = principal_table(kind);
    let row = sqlx::query(&format!(
        "SELECT 1 FROM {table} WHERE account_id = ? AND {column} = ?"
    ))
    .bind(account_id)
    .bind(name)
    .fetch_optional(executor)
    .await?;
    Ok(row.is_some())
}

pub(super) async fn put_inline_policy(
    pool: &SqlitePool,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    policy_name: &str,
    document: &str,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    // The insert comes first so the transaction holds the write lock before the existence check.
    sqlx::query(
        "INSERT INTO iam_inline_policies (account_id, principal_kind, principal_name, policy_name,
            document) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (account_id, principal_kind, principal_name, policy_name)
         DO UPDATE SET document = excluded.document",
    )
    .bind(account_id)
    .bind(kind.as_str())
    .bind(principal)
    .bind(policy_name)
    .bind(document)
    .execute(&mut *tx)
    .await?;
    if !principal_exists(&mut *tx, account_id, kind, principal).await? {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn get_inline_policy(
    pool: &SqlitePool,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    policy_name: &str,
) -> Result<Option<String>> {
    let row = sqlx::query(
        "SELECT document FROM iam_inline_policies WHERE account_id = ? AND principal_kind = ?
           AND principal_name = ? AND policy_name = ?",
    )
    .bind(account_id)
    .bind(kind.as_str())
    .bind(principal)
    .bind(policy_name)
    .fetch_optional(pool)
    .await?;
    row.map(|r| r.try_get("document"))
        .transpose()
        .map_err(Into::into)
}

pub(super) async fn list_inline_policies(
    pool: &SqlitePool,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT policy_name, document FROM iam_inline_policies WHERE account_id = ?
           AND principal_kind = ? AND principal_name = ? ORDER BY policy_name",
    )
    .bind(account_id)
    .bind(kind.as_str())
    .bind(principal)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("policy_name")?, r.try_get("document")?)))
        .collect()
}

pub(super) async fn delete_inline_policy(
    pool: &SqlitePool,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    policy_name: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM iam_inline_policies WHERE account_id = ? AND principal_kind = ?
           AND principal_name = ? AND policy_name = ?",
    )
    .bind(account_id)
    .bind(kind.as_str())
    .bind(principal)
    .bind(policy_name)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

const POLICY_COLUMNS: &str = "p.*, (SELECT COUNT(*) FROM iam_attachments a
    WHERE a.policy_arn = p.arn) AS attachment_count";

pub(super) async fn create_managed_policy(
    pool: &SqlitePool,
    p: &ManagedPolicyRecord,
) -> Result<()> {
    let res = sqlx::query(
        "INSERT INTO iam_managed_policies (account_id, policy_name, policy_id, path, arn,
            document, description, created_ms, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&p.account_id)
    .bind(&p.policy_name)
    .bind(&p.policy_id)
    .bind(&p.path)
    .bind(&p.arn)
    .bind(&p.document)
    .bind(&p.description)
    .bind(p.created_ms)
    .bind(tags_json(&p.tags)?)
    .execute(pool)
    .await;
    insert_result(res)
}

pub(super) async fn get_managed_policy(
    pool: &SqlitePool,
    account_id: &str,
    arn: &str,
) -> Result<Option<ManagedPolicyRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {POLICY_COLUMNS} FROM iam_managed_policies p WHERE p.account_id = ? AND p.arn = ?"
    ))
    .bind(account_id)
    .bind(arn)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(policy_from_row).transpose()
}

pub(super) async fn delete_managed_policy(
    pool: &SqlitePool,
    account_id: &str,
    arn: &str,
) -> Result<DeleteOutcome> {
    let mut tx = pool.begin().await?;
    let touched =
        sqlx::query("UPDATE iam_managed_policies SET tags = tags WHERE account_id = ? AND arn = ?")
            .bind(account_id)
            .bind(arn)
            .execute(&mut *tx)
            .await?;
    if touched.rows_affected() == 0 {
        return Ok(DeleteOutcome::NotFound);
    }
    if count(
        &mut tx,
        "SELECT COUNT(*) FROM iam_attachments WHERE policy_arn = ?",
        &[arn],
    )
    .await?
        > 0
    {
        return Ok(DeleteOutcome::HasAttachments);
    }
    sqlx::query("DELETE FROM iam_managed_policies WHERE account_id = ? AND arn = ?")
        .bind(account_id)
        .bind(arn)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(DeleteOutcome::Deleted)
}

pub(super) async fn attach_policy(
    pool: &SqlitePool,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    arn: &str,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO iam_attachments (account_id, principal_kind, principal_name, policy_arn)
         VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(account_id)
    .bind(kind.as_str())
    .bind(principal)
    .bind(arn)
    .execute(&mut *tx)
    .await?;
    let policy = sqlx::query("SELECT 1 FROM iam_managed_policies WHERE account_id = ? AND arn = ?")
        .bind(account_id)
        .bind(arn)
        .fetch_optional(&mut *tx)
        .await?;
    if policy.is_none() || !principal_exists(&mut *tx, account_id, kind, principal).await? {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn detach_policy(
    pool: &SqlitePool,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    arn: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM iam_attachments WHERE account_id = ? AND principal_kind = ?
           AND principal_name = ? AND policy_arn = ?",
    )
    .bind(account_id)
    .bind(kind.as_str())
    .bind(principal)
    .bind(arn)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn attached_policies(
    pool: &SqlitePool,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
) -> Result<Vec<ManagedPolicyRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {POLICY_COLUMNS} FROM iam_managed_policies p
         JOIN iam_attachments t ON t.policy_arn = p.arn
         WHERE t.account_id = ? AND t.principal_kind = ? AND t.principal_name = ?
         ORDER BY p.policy_name"
    ))
    .bind(account_id)
    .bind(kind.as_str())
    .bind(principal)
    .fetch_all(pool)
    .await?;
    rows.iter().map(policy_from_row).collect()
}

pub(super) async fn create_session(
    pool: &SqlitePool,
    barrier: &Barrier,
    s: &SessionRecord,
) -> Result<()> {
    let sealed = barrier.seal(
        &RowIdentity {
            table: "sts_sessions",
            key: &[&s.access_key_id],
        },
        s.secret.expose_secret(),
    )?;
    let res = sqlx::query(
        "INSERT INTO sts_sessions (access_key_id, account_id, role_name, session_name,
            token_sha256, secret, created_ms, expires_ms, session_tags, source_arn)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&s.access_key_id)
    .bind(&s.account_id)
    .bind(&s.role_name)
    .bind(&s.session_name)
    .bind(s.token_sha256.as_slice())
    .bind(sealed)
    .bind(s.created_ms)
    .bind(s.expires_ms)
    .bind(tags_json(&s.session_tags)?)
    .bind(&s.source_arn)
    .execute(pool)
    .await;
    insert_result(res)
}

pub(super) async fn get_session(
    pool: &SqlitePool,
    barrier: &Barrier,
    access_key_id: &str,
) -> Result<Option<SessionRecord>> {
    let row = sqlx::query("SELECT * FROM sts_sessions WHERE access_key_id = ?")
        .bind(access_key_id)
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let sealed: Vec<u8> = row.try_get("secret")?;
    let secret = barrier.open(
        &RowIdentity {
            table: "sts_sessions",
            key: &[access_key_id],
        },
        &sealed,
    )?;
    let hash: Vec<u8> = row.try_get("token_sha256")?;
    Ok(Some(SessionRecord {
        access_key_id: row.try_get("access_key_id")?,
        account_id: row.try_get("account_id")?,
        role_name: row.try_get("role_name")?,
        session_name: row.try_get("session_name")?,
        token_sha256: hash
            .try_into()
            .map_err(|_| StoreError::Corrupt("session token hash"))?,
        secret,
        created_ms: row.try_get("created_ms")?,
        expires_ms: row.try_get("expires_ms")?,
        session_tags: tags_from(&row, "session_tags")?,
        source_arn: row.try_get("source_arn")?,
    }))
}

pub(super) async fn delete_sessions_before(pool: &SqlitePool, before_ms: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM sts_sessions WHERE expires_ms < ?")
        .bind(before_ms)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
