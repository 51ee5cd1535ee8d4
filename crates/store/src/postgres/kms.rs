//! KMS tables on PostgreSQL: keys, materials, import parameters, usage, aliases, grants.

#![allow(unused_variables, clippy::todo)] // TEMPORARY: filled in area by area

#[allow(unused_imports)]
use crate::*;

use super::PostgresStore;

pub(super) async fn create_key(
    s: &PostgresStore,
    key: &KeyRecord,
    material: Option<&KeyMaterial>,
) -> Result<()> {
    let _ = (s, key, material);
    todo!()
}

pub(super) async fn get_key(
    s: &PostgresStore,
    scope: &Scope,
    key_id: &str,
) -> Result<Option<KeyRecord>> {
    let _ = (s, scope, key_id);
    todo!()
}

pub(super) async fn update_key(s: &PostgresStore, key: &KeyRecord) -> Result<i64> {
    let _ = (s, key);
    todo!()
}

pub(super) async fn list_keys(
    s: &PostgresStore,
    scope: &Scope,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<KeyRecord>> {
    let _ = (s, scope, after_seq, limit);
    todo!()
}

pub(super) async fn key_materials(
    s: &PostgresStore,
    scope: &Scope,
    key_id: &str,
) -> Result<Vec<KeyMaterial>> {
    let _ = (s, scope, key_id);
    todo!()
}

pub(super) async fn add_key_material(
    s: &PostgresStore,
    key: &KeyRecord,
    material: &KeyMaterial,
) -> Result<i64> {
    let _ = (s, key, material);
    todo!()
}

pub(super) async fn add_key_material_to_keys(
    s: &PostgresStore,
    keys: &[KeyRecord],
    material: &KeyMaterial,
) -> Result<Vec<i64>> {
    let _ = (s, keys, material);
    todo!()
}

pub(super) async fn related_keys(
    s: &PostgresStore,
    account_id: &str,
    key_id: &str,
) -> Result<Vec<KeyRecord>> {
    let _ = (s, account_id, key_id);
    todo!()
}

pub(super) async fn update_keys(s: &PostgresStore, keys: &[KeyRecord]) -> Result<Vec<i64>> {
    let _ = (s, keys);
    todo!()
}

pub(super) async fn create_related_key(
    s: &PostgresStore,
    key: &KeyRecord,
    materials: &[KeyMaterial],
    related: &[KeyRecord],
) -> Result<Vec<i64>> {
    let _ = (s, key, materials, related);
    todo!()
}

pub(super) async fn delete_key_with_updates(
    s: &PostgresStore,
    key: &KeyRecord,
    related: &[KeyRecord],
) -> Result<Vec<i64>> {
    let _ = (s, key, related);
    todo!()
}

pub(super) async fn keys_due_for_rotation(
    s: &PostgresStore,
    now_ms: i64,
) -> Result<Vec<(Scope, String)>> {
    let _ = (s, now_ms);
    todo!()
}

pub(super) async fn put_imported_material(
    s: &PostgresStore,
    key: &KeyRecord,
    material: &KeyMaterial,
) -> Result<i64> {
    let _ = (s, key, material);
    todo!()
}

pub(super) async fn delete_key_materials(s: &PostgresStore, key: &KeyRecord) -> Result<i64> {
    let _ = (s, key);
    todo!()
}

pub(super) async fn keys_with_expired_material(
    s: &PostgresStore,
    now_ms: i64,
) -> Result<Vec<(Scope, String)>> {
    let _ = (s, now_ms);
    todo!()
}

pub(super) async fn delete_key(s: &PostgresStore, scope: &Scope, key_id: &str) -> Result<()> {
    let _ = (s, scope, key_id);
    todo!()
}

pub(super) async fn keys_due_for_deletion(
    s: &PostgresStore,
    now_ms: i64,
) -> Result<Vec<(Scope, String)>> {
    let _ = (s, now_ms);
    todo!()
}

pub(super) async fn record_key_usage(s: &PostgresStore, usage: &[KeyUsageRecord]) -> Result<()> {
    let _ = (s, usage);
    todo!()
}

pub(super) async fn key_usage(
    s: &PostgresStore,
    scope: &Scope,
    key_id: &str,
) -> Result<Option<KeyUsageRecord>> {
    let _ = (s, scope, key_id);
    todo!()
}

pub(super) async fn put_import_parameters(
    s: &PostgresStore,
    params: &ImportParameters,
) -> Result<()> {
    let _ = (s, params);
    todo!()
}

pub(super) async fn get_import_parameters(
    s: &PostgresStore,
    scope: &Scope,
    token_id: &str,
) -> Result<Option<ImportParameters>> {
    let _ = (s, scope, token_id);
    todo!()
}

pub(super) async fn delete_import_parameters_before(
    s: &PostgresStore,
    before_ms: i64,
) -> Result<u64> {
    let _ = (s, before_ms);
    todo!()
}

pub(super) async fn create_alias(s: &PostgresStore, alias: &AliasRecord) -> Result<()> {
    let _ = (s, alias);
    todo!()
}

pub(super) async fn get_alias(
    s: &PostgresStore,
    scope: &Scope,
    alias_name: &str,
) -> Result<Option<AliasRecord>> {
    let _ = (s, scope, alias_name);
    todo!()
}

pub(super) async fn update_alias(
    s: &PostgresStore,
    scope: &Scope,
    alias_name: &str,
    key_id: &str,
    now_ms: i64,
) -> Result<bool> {
    let _ = (s, scope, alias_name, key_id, now_ms);
    todo!()
}

pub(super) async fn delete_alias(
    s: &PostgresStore,
    scope: &Scope,
    alias_name: &str,
) -> Result<bool> {
    let _ = (s, scope, alias_name);
    todo!()
}

pub(super) async fn list_aliases(
    s: &PostgresStore,
    scope: &Scope,
    key_id: Option<&str>,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<AliasRecord>> {
    let _ = (s, scope, key_id, after, limit);
    todo!()
}

pub(super) async fn create_grant(s: &PostgresStore, grant: &GrantRecord) -> Result<()> {
    let _ = (s, grant);
    todo!()
}

pub(super) async fn key_grants(
    s: &PostgresStore,
    scope: &Scope,
    key_id: &str,
) -> Result<Vec<GrantRecord>> {
    let _ = (s, scope, key_id);
    todo!()
}

pub(super) async fn grant_by_token(
    s: &PostgresStore,
    token_hash: &[u8],
) -> Result<Option<GrantRecord>> {
    let _ = (s, token_hash);
    todo!()
}

pub(super) async fn retirable_grants(
    s: &PostgresStore,
    region: &str,
    retiring_principal: &str,
) -> Result<Vec<GrantRecord>> {
    let _ = (s, region, retiring_principal);
    todo!()
}

pub(super) async fn delete_grant(
    s: &PostgresStore,
    scope: &Scope,
    key_id: &str,
    grant_id: &str,
) -> Result<bool> {
    let _ = (s, scope, key_id, grant_id);
    todo!()
}
