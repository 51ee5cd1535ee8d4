//! Secrets Manager tables on PostgreSQL: secrets, versions, replicas, rotation.

#![allow(unused_variables, clippy::todo)] // TEMPORARY: filled in area by area

#[allow(unused_imports)]
use crate::*;

use super::PostgresStore;

pub(super) async fn create_secret(
    s: &PostgresStore,
    secret: &SecretRecord,
    version: Option<&NewSecretVersion>,
) -> Result<()> {
    let _ = (s, secret, version);
    todo!()
}

pub(super) async fn get_secret(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
) -> Result<Option<SecretRecord>> {
    let _ = (s, scope, name);
    todo!()
}

pub(super) async fn save_secret(
    s: &PostgresStore,
    secret: &SecretRecord,
    version: Option<&NewSecretVersion>,
) -> Result<i64> {
    let _ = (s, secret, version);
    todo!()
}

pub(super) async fn get_secret_ciphertext(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
    version_id: &str,
) -> Result<Option<Vec<u8>>> {
    let _ = (s, scope, name, version_id);
    todo!()
}

pub(super) async fn touch_secret(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
    version_id: &str,
    day_ms: i64,
) -> Result<()> {
    let _ = (s, scope, name, version_id, day_ms);
    todo!()
}

pub(super) async fn list_secrets(s: &PostgresStore, scope: &Scope) -> Result<Vec<SecretRecord>> {
    let _ = (s, scope);
    todo!()
}

pub(super) async fn delete_secret(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
    revision: i64,
) -> Result<bool> {
    let _ = (s, scope, name, revision);
    todo!()
}

pub(super) async fn secrets_due_for_purge(
    s: &PostgresStore,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<(Scope, String)>> {
    let _ = (s, now_ms, limit);
    todo!()
}

pub(super) async fn write_secrets(s: &PostgresStore, writes: &[SecretWrite<'_>]) -> Result<()> {
    let _ = (s, writes);
    todo!()
}

pub(super) async fn secret_replicas(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
) -> Result<Vec<SecretReplicaRecord>> {
    let _ = (s, scope, name);
    todo!()
}

pub(super) async fn secret_primary_region(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
) -> Result<Option<String>> {
    let _ = (s, scope, name);
    todo!()
}

pub(super) async fn secret_primary_regions(
    s: &PostgresStore,
    scope: &Scope,
) -> Result<Vec<(String, String)>> {
    let _ = (s, scope);
    todo!()
}

pub(super) async fn get_secret_rotation(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
) -> Result<Option<SecretRotationRecord>> {
    let _ = (s, scope, name);
    todo!()
}

pub(super) async fn put_secret_rotation(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
    rotation: &SecretRotationRecord,
) -> Result<()> {
    let _ = (s, scope, name, rotation);
    todo!()
}

pub(super) async fn secret_rotations_due(
    s: &PostgresStore,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<(Scope, String)>> {
    let _ = (s, now_ms, limit);
    todo!()
}
