//! IAM and STS tables on PostgreSQL: accounts, access keys, users, roles, policies, sessions.
//!
//! The same semantics as the embedded store (`sqlite/iam.rs`):
//! - Names of users, roles and policies (and the principal names of inline policies and
//!   attachments) compare without regard to ASCII case, exactly as SQLite's `COLLATE NOCASE`
//!   does, whatever the database's locale: `lower(name COLLATE "C")` folds A-Z only (the unique
//!   indexes are on that expression), and lists are in the byte order of that folded name, which
//!   is NOCASE's order.
//! - Every write, and every read-then-write (the key quota, the checks before a delete, the
//!   principal's existence before an attachment), runs in one `SERIALIZABLE` transaction
//!   ([`in_tx!`]), and tells the other nodes `Change::Iam` for the account.

use std::collections::BTreeSet;

use sqlx::Row as _;
use sqlx::postgres::PgQueryResult;

use crate::rows::{
    is_unique_violation, policy_from_row, role_from_row, tags_from, tags_json, user_from_row,
};
use crate::{
    AccessKeyInfo, AccessKeyRecord, Change, DeleteOutcome, ManagedPolicyRecord, PrincipalKind,
    Result, RoleRecord, RowIdentity, SessionRecord, StoreError, UserRecord,
};

use super::{PostgresStore, Tx, in_tx, notify};

/// A unique violation is the statement's answer: the name (or id) is taken.
fn insert_result(res: std::result::Result<PgQueryResult, sqlx::Error>) -> Result<()> {
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

async fn notify_iam(tx: &mut Tx, account_id: &str) -> Result<()> {
    notify(
        tx,
        &Change::Iam {
            account_id: account_id.to_owned(),
        },
    )
    .await
}

// --- access keys ---

async fn insert_access_key(s: &PostgresStore, tx: &mut Tx, key: &AccessKeyRecord) -> Result<()> {
    let sealed = s.barrier.seal(
        &RowIdentity {
            table: "access_keys",
            key: &[&key.access_key_id],
        },
        key.secret.expose_secret(),
    )?;
    let res = sqlx::query(
        "INSERT INTO access_keys (access_key_id, account_id, principal_arn, user_name, status,
            created_ms, secret) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&key.access_key_id)
    .bind(&key.account_id)
    .bind(&key.principal_arn)
    .bind(&key.user_name)
    .bind(&key.status)
    .bind(key.created_ms)
    .bind(sealed)
    .execute(&mut **tx)
    .await;
    insert_result(res)
}

pub(super) async fn put_access_key(s: &PostgresStore, key: &AccessKeyRecord) -> Result<()> {
    in_tx!(s, serializable: true, |tx| {
        insert_access_key(s, &mut tx, key).await?;
        notify_iam(&mut tx, &key.account_id).await?;
    })
}

pub(super) async fn get_access_key(
    s: &PostgresStore,
    access_key_id: &str,
) -> Result<Option<AccessKeyRecord>> {
    let row = sqlx::query("SELECT * FROM access_keys WHERE access_key_id = $1")
        .bind(access_key_id)
        .fetch_optional(&s.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let sealed: Vec<u8> = row.try_get("secret")?;
    let secret = s.barrier.open(
        &RowIdentity {
            table: "access_keys",
            key: &[access_key_id],
        },
        &sealed,
    )?;
    Ok(Some(AccessKeyRecord {
        access_key_id: row.try_get("access_key_id")?,
        account_id: row.try_get("account_id")?,
        principal_arn: row.try_get("principal_arn")?,
        user_name: row.try_get("user_name")?,
        status: row.try_get("status")?,
        created_ms: row.try_get("created_ms")?,
        secret,
    }))
}

pub(super) async fn create_account(
    s: &PostgresStore,
    account_id: &str,
    created_ms: i64,
    root_key: Option<&AccessKeyRecord>,
) -> Result<()> {
    in_tx!(s, serializable: true, |tx| {
        let res = sqlx::query("INSERT INTO iam_accounts (account_id, created_ms) VALUES ($1, $2)")
            .bind(account_id)
            .bind(created_ms)
            .execute(&mut *tx)
            .await;
        insert_result(res)?;
        if let Some(key) = root_key {
            insert_access_key(s, &mut tx, key).await?;
            if key.account_id != account_id {
                notify_iam(&mut tx, &key.account_id).await?;
            }
        }
        notify_iam(&mut tx, account_id).await?;
    })
}

pub(super) async fn account_exists(s: &PostgresStore, account_id: &str) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM iam_accounts WHERE account_id = $1")
        .bind(account_id)
        .fetch_optional(&s.pool)
        .await?;
    Ok(row.is_some())
}

pub(super) async fn create_access_key(
    s: &PostgresStore,
    key: &AccessKeyRecord,
    max: u32,
) -> Result<bool> {
    in_tx!(s, serializable: true, |tx| {
        // As on SQLite, a taken key id is `AlreadyExists` even at the limit.
        let taken = sqlx::query("SELECT 1 FROM access_keys WHERE access_key_id = $1")
            .bind(&key.access_key_id)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        // Count, then insert, in one serializable transaction: two nodes that both count
        // max - 1 cannot both commit (the loser runs again and sees the limit).
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM access_keys WHERE principal_arn = $1")
            .bind(&key.principal_arn)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if count < i64::from(max) {
            insert_access_key(s, &mut tx, key).await?;
            notify_iam(&mut tx, &key.account_id).await?;
            true
        } else {
            false
        }
    })
}

pub(super) async fn list_access_keys(
    s: &PostgresStore,
    principal_arn: &str,
) -> Result<Vec<AccessKeyInfo>> {
    let rows = sqlx::query(
        "SELECT access_key_id, account_id, principal_arn, user_name, status, created_ms
         FROM access_keys WHERE principal_arn = $1
         ORDER BY created_ms, access_key_id COLLATE \"C\"",
    )
    .bind(principal_arn)
    .fetch_all(&s.pool)
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
    s: &PostgresStore,
    access_key_id: &str,
    status: &str,
) -> Result<bool> {
    in_tx!(s, serializable: true, |tx| {
        let row = sqlx::query(
            "UPDATE access_keys SET status = $1 WHERE access_key_id = $2 RETURNING account_id",
        )
        .bind(status)
        .bind(access_key_id)
        .fetch_optional(&mut *tx)
        .await?;
        match row {
            Some(row) => {
                let account_id: String = row.try_get("account_id")?;
                notify_iam(&mut tx, &account_id).await?;
                true
            }
            None => false,
        }
    })
}

pub(super) async fn delete_access_key(s: &PostgresStore, access_key_id: &str) -> Result<bool> {
    in_tx!(s, serializable: true, |tx| {
        let row =
            sqlx::query("DELETE FROM access_keys WHERE access_key_id = $1 RETURNING account_id")
                .bind(access_key_id)
                .fetch_optional(&mut *tx)
                .await?;
        match row {
            Some(row) => {
                let account_id: String = row.try_get("account_id")?;
                notify_iam(&mut tx, &account_id).await?;
                true
            }
            None => false,
        }
    })
}

// --- users ---

pub(super) async fn create_user(s: &PostgresStore, user: &UserRecord) -> Result<()> {
    let tags = tags_json(&user.tags)?;
    in_tx!(s, serializable: true, |tx| {
        let res = sqlx::query(
            "INSERT INTO iam_users (account_id, user_name, user_id, path, arn, created_ms, tags)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&user.account_id)
        .bind(&user.user_name)
        .bind(&user.user_id)
        .bind(&user.path)
        .bind(&user.arn)
        .bind(user.created_ms)
        .bind(&tags)
        .execute(&mut *tx)
        .await;
        insert_result(res)?;
        notify_iam(&mut tx, &user.account_id).await?;
    })
}

pub(super) async fn get_user(
    s: &PostgresStore,
    account_id: &str,
    user_name: &str,
) -> Result<Option<UserRecord>> {
    let row = sqlx::query(
        "SELECT * FROM iam_users WHERE account_id = $1
            AND lower(user_name COLLATE \"C\") = lower($2::TEXT COLLATE \"C\")",
    )
    .bind(account_id)
    .bind(user_name)
    .fetch_optional(&s.pool)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub(super) async fn list_users(
    s: &PostgresStore,
    account_id: &str,
    path_prefix: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<UserRecord>> {
    // NOCASE order: the bytes of the ASCII-lowercased name.
    let rows = sqlx::query(
        "SELECT * FROM iam_users WHERE account_id = $1 AND left(path, length($2)) = $2
           AND ($3::TEXT IS NULL OR lower(user_name COLLATE \"C\") > lower($3::TEXT COLLATE \"C\"))
         ORDER BY lower(user_name COLLATE \"C\") LIMIT $4",
    )
    .bind(account_id)
    .bind(path_prefix)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await?;
    rows.iter().map(user_from_row).collect()
}

async fn count(tx: &mut Tx, sql: &str, binds: &[&str]) -> Result<i64> {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    let row = q.fetch_one(&mut **tx).await?;
    Ok(row.try_get(0)?)
}

/// The checks AWS makes before deleting a user or a role: no inline policies, no attachments.
async fn policies_in_use(
    tx: &mut Tx,
    account_id: &str,
    kind: PrincipalKind,
    name: &str,
) -> Result<Option<DeleteOutcome>> {
    let k = kind.as_str();
    if count(
        tx,
        "SELECT COUNT(*) FROM iam_inline_policies
         WHERE account_id = $1 AND principal_kind = $2
             AND lower(principal_name COLLATE \"C\") = lower($3::TEXT COLLATE \"C\")",
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
         WHERE account_id = $1 AND principal_kind = $2
             AND lower(principal_name COLLATE \"C\") = lower($3::TEXT COLLATE \"C\")",
        &[account_id, k, name],
    )
    .await?
        > 0
    {
        return Ok(Some(DeleteOutcome::HasAttachments));
    }
    Ok(None)
}

async fn delete_user_in(tx: &mut Tx, account_id: &str, user_name: &str) -> Result<DeleteOutcome> {
    let row = sqlx::query(
        "SELECT arn FROM iam_users WHERE account_id = $1
            AND lower(user_name COLLATE \"C\") = lower($2::TEXT COLLATE \"C\")
         FOR UPDATE",
    )
    .bind(account_id)
    .bind(user_name)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(DeleteOutcome::NotFound);
    };
    let arn: String = row.try_get("arn")?;
    if count(
        tx,
        "SELECT COUNT(*) FROM access_keys WHERE principal_arn = $1",
        &[&arn],
    )
    .await?
        > 0
    {
        return Ok(DeleteOutcome::HasAccessKeys);
    }
    if let Some(outcome) = policies_in_use(tx, account_id, PrincipalKind::User, user_name).await? {
        return Ok(outcome);
    }
    sqlx::query(
        "DELETE FROM iam_users WHERE account_id = $1
        AND lower(user_name COLLATE \"C\") = lower($2::TEXT COLLATE \"C\")",
    )
    .bind(account_id)
    .bind(user_name)
    .execute(&mut **tx)
    .await?;
    notify_iam(tx, account_id).await?;
    Ok(DeleteOutcome::Deleted)
}

pub(super) async fn delete_user(
    s: &PostgresStore,
    account_id: &str,
    user_name: &str,
) -> Result<DeleteOutcome> {
    in_tx!(s, serializable: true, |tx| {
        delete_user_in(&mut tx, account_id, user_name).await?
    })
}

async fn principal_exists(
    tx: &mut Tx,
    account_id: &str,
    kind: PrincipalKind,
    name: &str,
) -> Result<bool> {
    let (table, column) = principal_table(kind);
    let row = sqlx::query(&format!(
        "SELECT 1 FROM {table} WHERE account_id = $1
            AND lower({column} COLLATE \"C\") = lower($2::TEXT COLLATE \"C\")"
    ))
    .bind(account_id)
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.is_some())
}

pub(super) async fn set_principal_tags(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    name: &str,
    expected: &[(String, String)],
    tags: &[(String, String)],
) -> Result<bool> {
    let (table, column) = principal_table(kind);
    let sql = format!(
        "UPDATE {table} SET tags = $1
         WHERE account_id = $2
             AND lower({column} COLLATE \"C\") = lower($3::TEXT COLLATE \"C\") AND tags = $4"
    );
    let new = tags_json(tags)?;
    let old = tags_json(expected)?;
    in_tx!(s, serializable: true, |tx| {
        let done = sqlx::query(&sql)
            .bind(&new)
            .bind(account_id)
            .bind(name)
            .bind(&old)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            notify_iam(&mut tx, account_id).await?;
            true
        } else if principal_exists(&mut tx, account_id, kind, name).await? {
            return Err(StoreError::Conflict);
        } else {
            false
        }
    })
}

// --- roles ---

pub(super) async fn create_role(s: &PostgresStore, role: &RoleRecord) -> Result<()> {
    let tags = tags_json(&role.tags)?;
    in_tx!(s, serializable: true, |tx| {
        let res = sqlx::query(
            "INSERT INTO iam_roles (account_id, role_name, role_id, path, arn, trust_policy,
                description, max_session_duration, created_ms, tags)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
        .bind(&tags)
        .execute(&mut *tx)
        .await;
        insert_result(res)?;
        notify_iam(&mut tx, &role.account_id).await?;
    })
}

pub(super) async fn get_role(
    s: &PostgresStore,
    account_id: &str,
    role_name: &str,
) -> Result<Option<RoleRecord>> {
    let row = sqlx::query(
        "SELECT * FROM iam_roles WHERE account_id = $1
            AND lower(role_name COLLATE \"C\") = lower($2::TEXT COLLATE \"C\")",
    )
    .bind(account_id)
    .bind(role_name)
    .fetch_optional(&s.pool)
    .await?;
    row.as_ref().map(role_from_row).transpose()
}

pub(super) async fn list_roles(
    s: &PostgresStore,
    account_id: &str,
    path_prefix: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<RoleRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM iam_roles WHERE account_id = $1 AND left(path, length($2)) = $2
           AND ($3::TEXT IS NULL OR lower(role_name COLLATE \"C\") > lower($3::TEXT COLLATE \"C\"))
         ORDER BY lower(role_name COLLATE \"C\") LIMIT $4",
    )
    .bind(account_id)
    .bind(path_prefix)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await?;
    rows.iter().map(role_from_row).collect()
}

async fn delete_role_in(tx: &mut Tx, account_id: &str, role_name: &str) -> Result<DeleteOutcome> {
    let row = sqlx::query(
        "SELECT 1 FROM iam_roles WHERE account_id = $1
            AND lower(role_name COLLATE \"C\") = lower($2::TEXT COLLATE \"C\")
         FOR UPDATE",
    )
    .bind(account_id)
    .bind(role_name)
    .fetch_optional(&mut **tx)
    .await?;
    if row.is_none() {
        return Ok(DeleteOutcome::NotFound);
    }
    if let Some(outcome) = policies_in_use(tx, account_id, PrincipalKind::Role, role_name).await? {
        return Ok(outcome);
    }
    sqlx::query(
        "DELETE FROM sts_sessions WHERE account_id = $1
        AND lower(role_name COLLATE \"C\") = lower($2::TEXT COLLATE \"C\")",
    )
    .bind(account_id)
    .bind(role_name)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "DELETE FROM iam_roles WHERE account_id = $1
        AND lower(role_name COLLATE \"C\") = lower($2::TEXT COLLATE \"C\")",
    )
    .bind(account_id)
    .bind(role_name)
    .execute(&mut **tx)
    .await?;
    notify_iam(tx, account_id).await?;
    Ok(DeleteOutcome::Deleted)
}

pub(super) async fn delete_role(
    s: &PostgresStore,
    account_id: &str,
    role_name: &str,
) -> Result<DeleteOutcome> {
    in_tx!(s, serializable: true, |tx| {
        delete_role_in(&mut tx, account_id, role_name).await?
    })
}

// --- inline policies ---

pub(super) async fn put_inline_policy(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    policy_name: &str,
    document: &str,
) -> Result<bool> {
    in_tx!(s, serializable: true, |tx| {
        if principal_exists(&mut tx, account_id, kind, principal).await? {
            // A replaced policy keeps the names it was first written with, as on SQLite.
            sqlx::query(
                "INSERT INTO iam_inline_policies (account_id, principal_kind, principal_name,
                    policy_name, document) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (account_id, principal_kind, lower(principal_name COLLATE \"C\"),
                    lower(policy_name COLLATE \"C\"))
                 DO UPDATE SET document = excluded.document",
            )
            .bind(account_id)
            .bind(kind.as_str())
            .bind(principal)
            .bind(policy_name)
            .bind(document)
            .execute(&mut *tx)
            .await?;
            notify_iam(&mut tx, account_id).await?;
            true
        } else {
            false
        }
    })
}

pub(super) async fn get_inline_policy(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    policy_name: &str,
) -> Result<Option<String>> {
    let row = sqlx::query(
        "SELECT document FROM iam_inline_policies WHERE account_id = $1 AND principal_kind = $2
          
               AND lower(principal_name COLLATE \"C\") = lower($3::TEXT COLLATE \"C\")
               AND lower(policy_name COLLATE \"C\") = lower($4::TEXT COLLATE \"C\")",
    )
    .bind(account_id)
    .bind(kind.as_str())
    .bind(principal)
    .bind(policy_name)
    .fetch_optional(&s.pool)
    .await?;
    row.map(|r| r.try_get("document"))
        .transpose()
        .map_err(Into::into)
}

pub(super) async fn list_inline_policies(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT policy_name, document FROM iam_inline_policies WHERE account_id = $1
           AND principal_kind = $2
               AND lower(principal_name COLLATE \"C\") = lower($3::TEXT COLLATE \"C\")
         ORDER BY lower(policy_name COLLATE \"C\")",
    )
    .bind(account_id)
    .bind(kind.as_str())
    .bind(principal)
    .fetch_all(&s.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("policy_name")?, r.try_get("document")?)))
        .collect()
}

pub(super) async fn delete_inline_policy(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    policy_name: &str,
) -> Result<bool> {
    in_tx!(s, serializable: true, |tx| {
        let done = sqlx::query(
            "DELETE FROM iam_inline_policies WHERE account_id = $1 AND principal_kind = $2
              
                   AND lower(principal_name COLLATE \"C\") = lower($3::TEXT COLLATE \"C\")
                   AND lower(policy_name COLLATE \"C\") = lower($4::TEXT COLLATE \"C\")",
        )
        .bind(account_id)
        .bind(kind.as_str())
        .bind(principal)
        .bind(policy_name)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            notify_iam(&mut tx, account_id).await?;
            true
        } else {
            false
        }
    })
}

// --- managed policies and attachments ---

const POLICY_COLUMNS: &str = "p.*, (SELECT COUNT(*) FROM iam_attachments a
    WHERE a.policy_arn = p.arn) AS attachment_count";

pub(super) async fn create_managed_policy(
    s: &PostgresStore,
    p: &ManagedPolicyRecord,
) -> Result<()> {
    let tags = tags_json(&p.tags)?;
    in_tx!(s, serializable: true, |tx| {
        let res = sqlx::query(
            "INSERT INTO iam_managed_policies (account_id, policy_name, policy_id, path, arn,
                document, description, created_ms, tags)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&p.account_id)
        .bind(&p.policy_name)
        .bind(&p.policy_id)
        .bind(&p.path)
        .bind(&p.arn)
        .bind(&p.document)
        .bind(&p.description)
        .bind(p.created_ms)
        .bind(&tags)
        .execute(&mut *tx)
        .await;
        insert_result(res)?;
        notify_iam(&mut tx, &p.account_id).await?;
    })
}

pub(super) async fn get_managed_policy(
    s: &PostgresStore,
    account_id: &str,
    arn: &str,
) -> Result<Option<ManagedPolicyRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {POLICY_COLUMNS} FROM iam_managed_policies p
         WHERE p.account_id = $1 AND p.arn = $2"
    ))
    .bind(account_id)
    .bind(arn)
    .fetch_optional(&s.pool)
    .await?;
    row.as_ref().map(policy_from_row).transpose()
}

async fn delete_managed_policy_in(
    tx: &mut Tx,
    account_id: &str,
    arn: &str,
) -> Result<DeleteOutcome> {
    let row = sqlx::query(
        "SELECT 1 FROM iam_managed_policies WHERE account_id = $1 AND arn = $2 FOR UPDATE",
    )
    .bind(account_id)
    .bind(arn)
    .fetch_optional(&mut **tx)
    .await?;
    if row.is_none() {
        return Ok(DeleteOutcome::NotFound);
    }
    if count(
        tx,
        "SELECT COUNT(*) FROM iam_attachments WHERE policy_arn = $1",
        &[arn],
    )
    .await?
        > 0
    {
        return Ok(DeleteOutcome::HasAttachments);
    }
    sqlx::query("DELETE FROM iam_managed_policies WHERE account_id = $1 AND arn = $2")
        .bind(account_id)
        .bind(arn)
        .execute(&mut **tx)
        .await?;
    notify_iam(tx, account_id).await?;
    Ok(DeleteOutcome::Deleted)
}

pub(super) async fn delete_managed_policy(
    s: &PostgresStore,
    account_id: &str,
    arn: &str,
) -> Result<DeleteOutcome> {
    in_tx!(s, serializable: true, |tx| {
        delete_managed_policy_in(&mut tx, account_id, arn).await?
    })
}

pub(super) async fn attach_policy(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    arn: &str,
) -> Result<bool> {
    in_tx!(s, serializable: true, |tx| {
        let policy =
            sqlx::query("SELECT 1 FROM iam_managed_policies WHERE account_id = $1 AND arn = $2")
                .bind(account_id)
                .bind(arn)
                .fetch_optional(&mut *tx)
                .await?;
        if policy.is_some() && principal_exists(&mut tx, account_id, kind, principal).await? {
            let done = sqlx::query(
                "INSERT INTO iam_attachments (account_id, principal_kind, principal_name,
                    policy_arn) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(account_id)
            .bind(kind.as_str())
            .bind(principal)
            .bind(arn)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                notify_iam(&mut tx, account_id).await?;
            }
            true
        } else {
            false
        }
    })
}

pub(super) async fn detach_policy(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    arn: &str,
) -> Result<bool> {
    in_tx!(s, serializable: true, |tx| {
        let done = sqlx::query(
            "DELETE FROM iam_attachments WHERE account_id = $1 AND principal_kind = $2
              
                   AND lower(principal_name COLLATE \"C\") = lower($3::TEXT COLLATE \"C\")
                   AND policy_arn = $4",
        )
        .bind(account_id)
        .bind(kind.as_str())
        .bind(principal)
        .bind(arn)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            notify_iam(&mut tx, account_id).await?;
            true
        } else {
            false
        }
    })
}

pub(super) async fn attached_policies(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
) -> Result<Vec<ManagedPolicyRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {POLICY_COLUMNS} FROM iam_managed_policies p
         JOIN iam_attachments t ON t.policy_arn = p.arn
         WHERE t.account_id = $1 AND t.principal_kind = $2
           AND lower(t.principal_name COLLATE \"C\") = lower($3::TEXT COLLATE \"C\")
         ORDER BY lower(p.policy_name COLLATE \"C\"), p.arn COLLATE \"C\""
    ))
    .bind(account_id)
    .bind(kind.as_str())
    .bind(principal)
    .fetch_all(&s.pool)
    .await?;
    rows.iter().map(policy_from_row).collect()
}

// --- STS sessions ---

pub(super) async fn create_session(s: &PostgresStore, session: &SessionRecord) -> Result<()> {
    let sealed = s.barrier.seal(
        &RowIdentity {
            table: "sts_sessions",
            key: &[&session.access_key_id],
        },
        session.secret.expose_secret(),
    )?;
    let tags = tags_json(&session.session_tags)?;
    in_tx!(s, serializable: true, |tx| {
        let res = sqlx::query(
            "INSERT INTO sts_sessions (access_key_id, account_id, role_name, session_name,
                token_sha256, secret, created_ms, expires_ms, session_tags, source_arn)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&session.access_key_id)
        .bind(&session.account_id)
        .bind(&session.role_name)
        .bind(&session.session_name)
        .bind(session.token_sha256.as_slice())
        .bind(sealed.as_slice())
        .bind(session.created_ms)
        .bind(session.expires_ms)
        .bind(&tags)
        .bind(&session.source_arn)
        .execute(&mut *tx)
        .await;
        insert_result(res)?;
        notify_iam(&mut tx, &session.account_id).await?;
    })
}

pub(super) async fn get_session(
    s: &PostgresStore,
    access_key_id: &str,
) -> Result<Option<SessionRecord>> {
    let row = sqlx::query("SELECT * FROM sts_sessions WHERE access_key_id = $1")
        .bind(access_key_id)
        .fetch_optional(&s.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let sealed: Vec<u8> = row.try_get("secret")?;
    let secret = s.barrier.open(
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

pub(super) async fn delete_sessions_before(s: &PostgresStore, before_ms: i64) -> Result<u64> {
    in_tx!(s, serializable: true, |tx| {
        let rows =
            sqlx::query("DELETE FROM sts_sessions WHERE expires_ms < $1 RETURNING account_id")
                .bind(before_ms)
                .fetch_all(&mut *tx)
                .await?;
        let mut accounts = BTreeSet::new();
        for row in &rows {
            accounts.insert(row.try_get::<String, _>("account_id")?);
        }
        for account_id in &accounts {
            notify_iam(&mut tx, account_id).await?;
        }
        u64::try_from(rows.len()).map_err(|_| StoreError::Corrupt("session count"))?
    })
}
