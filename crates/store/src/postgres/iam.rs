//! IAM and STS tables on PostgreSQL: accounts, access keys, users, roles, policies, sessions.

#![allow(unused_variables, clippy::todo)] // TEMPORARY: filled in area by area

#[allow(unused_imports)]
use crate::*;

use super::PostgresStore;

pub(super) async fn put_access_key(s: &PostgresStore, key: &AccessKeyRecord) -> Result<()> {
    let _ = (s, key);
    todo!()
}

pub(super) async fn get_access_key(
    s: &PostgresStore,
    access_key_id: &str,
) -> Result<Option<AccessKeyRecord>> {
    let _ = (s, access_key_id);
    todo!()
}

pub(super) async fn create_account(
    s: &PostgresStore,
    account_id: &str,
    created_ms: i64,
    root_key: Option<&AccessKeyRecord>,
) -> Result<()> {
    let _ = (s, account_id, created_ms, root_key);
    todo!()
}

pub(super) async fn account_exists(s: &PostgresStore, account_id: &str) -> Result<bool> {
    let _ = (s, account_id);
    todo!()
}

pub(super) async fn create_access_key(
    s: &PostgresStore,
    key: &AccessKeyRecord,
    max: u32,
) -> Result<bool> {
    let _ = (s, key, max);
    todo!()
}

pub(super) async fn list_access_keys(
    s: &PostgresStore,
    principal_arn: &str,
) -> Result<Vec<AccessKeyInfo>> {
    let _ = (s, principal_arn);
    todo!()
}

pub(super) async fn set_access_key_status(
    s: &PostgresStore,
    access_key_id: &str,
    status: &str,
) -> Result<bool> {
    let _ = (s, access_key_id, status);
    todo!()
}

pub(super) async fn delete_access_key(s: &PostgresStore, access_key_id: &str) -> Result<bool> {
    let _ = (s, access_key_id);
    todo!()
}

pub(super) async fn create_user(s: &PostgresStore, user: &UserRecord) -> Result<()> {
    let _ = (s, user);
    todo!()
}

pub(super) async fn get_user(
    s: &PostgresStore,
    account_id: &str,
    user_name: &str,
) -> Result<Option<UserRecord>> {
    let _ = (s, account_id, user_name);
    todo!()
}

pub(super) async fn list_users(
    s: &PostgresStore,
    account_id: &str,
    path_prefix: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<UserRecord>> {
    let _ = (s, account_id, path_prefix, after, limit);
    todo!()
}

pub(super) async fn delete_user(
    s: &PostgresStore,
    account_id: &str,
    user_name: &str,
) -> Result<DeleteOutcome> {
    let _ = (s, account_id, user_name);
    todo!()
}

pub(super) async fn set_principal_tags(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    name: &str,
    expected: &[(String, String)],
    tags: &[(String, String)],
) -> Result<bool> {
    let _ = (s, account_id, kind, name, expected, tags);
    todo!()
}

pub(super) async fn create_role(s: &PostgresStore, role: &RoleRecord) -> Result<()> {
    let _ = (s, role);
    todo!()
}

pub(super) async fn get_role(
    s: &PostgresStore,
    account_id: &str,
    role_name: &str,
) -> Result<Option<RoleRecord>> {
    let _ = (s, account_id, role_name);
    todo!()
}

pub(super) async fn list_roles(
    s: &PostgresStore,
    account_id: &str,
    path_prefix: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<RoleRecord>> {
    let _ = (s, account_id, path_prefix, after, limit);
    todo!()
}

pub(super) async fn delete_role(
    s: &PostgresStore,
    account_id: &str,
    role_name: &str,
) -> Result<DeleteOutcome> {
    let _ = (s, account_id, role_name);
    todo!()
}

pub(super) async fn put_inline_policy(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    policy_name: &str,
    document: &str,
) -> Result<bool> {
    let _ = (s, account_id, kind, principal, policy_name, document);
    todo!()
}

pub(super) async fn get_inline_policy(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    policy_name: &str,
) -> Result<Option<String>> {
    let _ = (s, account_id, kind, principal, policy_name);
    todo!()
}

pub(super) async fn list_inline_policies(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
) -> Result<Vec<(String, String)>> {
    let _ = (s, account_id, kind, principal);
    todo!()
}

pub(super) async fn delete_inline_policy(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    policy_name: &str,
) -> Result<bool> {
    let _ = (s, account_id, kind, principal, policy_name);
    todo!()
}

pub(super) async fn create_managed_policy(
    s: &PostgresStore,
    policy: &ManagedPolicyRecord,
) -> Result<()> {
    let _ = (s, policy);
    todo!()
}

pub(super) async fn get_managed_policy(
    s: &PostgresStore,
    account_id: &str,
    arn: &str,
) -> Result<Option<ManagedPolicyRecord>> {
    let _ = (s, account_id, arn);
    todo!()
}

pub(super) async fn delete_managed_policy(
    s: &PostgresStore,
    account_id: &str,
    arn: &str,
) -> Result<DeleteOutcome> {
    let _ = (s, account_id, arn);
    todo!()
}

pub(super) async fn attach_policy(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    arn: &str,
) -> Result<bool> {
    let _ = (s, account_id, kind, principal, arn);
    todo!()
}

pub(super) async fn detach_policy(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    arn: &str,
) -> Result<bool> {
    let _ = (s, account_id, kind, principal, arn);
    todo!()
}

pub(super) async fn attached_policies(
    s: &PostgresStore,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
) -> Result<Vec<ManagedPolicyRecord>> {
    let _ = (s, account_id, kind, principal);
    todo!()
}

pub(super) async fn create_session(s: &PostgresStore, session: &SessionRecord) -> Result<()> {
    let _ = (s, session);
    todo!()
}

pub(super) async fn get_session(
    s: &PostgresStore,
    access_key_id: &str,
) -> Result<Option<SessionRecord>> {
    let _ = (s, access_key_id);
    todo!()
}

pub(super) async fn delete_sessions_before(s: &PostgresStore, before_ms: i64) -> Result<u64> {
    let _ = (s, before_ms);
    todo!()
}
