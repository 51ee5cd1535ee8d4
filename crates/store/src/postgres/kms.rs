//! KMS tables on PostgreSQL: keys, materials, import parameters, usage, aliases, grants.
//!
//! The same statements as the embedded store (`sqlite.rs`, `sqlite/grants.rs`), each write in a
//! transaction ([`in_tx!`]) that notes the keys and aliases it changed for the other nodes:
//! version-checked updates at READ COMMITTED; grant creation, key deletion and usage at
//! SERIALIZABLE, so a grant or a usage row never outlives its key. Sealed rows use the embedded store's row identities, so they can be copied between
//! the two stores as they are.

use std::collections::BTreeSet;

use sqlx::Row as _;

use super::{PostgresStore, Tx, in_tx, notify};
use crate::rows::{
    alias_from_row, grant_from_row, is_unique_violation, key_from_row, scope_and_key_id, tags_json,
};
use crate::{
    AliasRecord, Change, GrantRecord, ImportParameters, KeyMaterial, KeyRecord, KeyUsageRecord,
    Result, RowIdentity, Scope, StoreError,
};

/// The row identity a material is sealed under: the embedded store's, exactly.
fn material_identity<'a>(parts: &'a [&'a str; 4]) -> RowIdentity<'a> {
    RowIdentity {
        table: "kms_key_materials",
        key: parts,
    }
}

/// The row identity an import private key is sealed under: the embedded store's, exactly.
fn import_identity<'a>(parts: &'a [&'a str; 3]) -> RowIdentity<'a> {
    RowIdentity {
        table: "kms_import_parameters",
        key: parts,
    }
}

fn key_change(scope: &Scope, key_id: &str) -> Change {
    Change::Key {
        scope: scope.clone(),
        key_id: key_id.to_string(),
    }
}

/// Seals `material` for `key`, outside any transaction (a retried transaction reuses it).
fn seal_material(s: &PostgresStore, key: &KeyRecord, material: &KeyMaterial) -> Result<Vec<u8>> {
    s.barrier.seal(
        &material_identity(&[
            &key.scope.account_id,
            &key.scope.region,
            &key.key_id,
            &material.material_id,
        ]),
        material.secret.expose_secret(),
    )
}

/// Inserts a sealed material version inside `tx`. With `replace`, a stored copy of the same
/// material id gets the new ciphertext (re-imported material, keeping its place in the order);
/// otherwise an existing id is an error.
async fn insert_material(
    tx: &mut Tx,
    key: &KeyRecord,
    material: &KeyMaterial,
    sealed: &[u8],
    replace: bool,
) -> Result<()> {
    let sql = if replace {
        "INSERT INTO kms_key_materials
            (account_id, region, key_id, material_id, created_ms, rotation_type, material)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (account_id, region, key_id, material_id)
         DO UPDATE SET material = excluded.material"
    } else {
        "INSERT INTO kms_key_materials
            (account_id, region, key_id, material_id, created_ms, rotation_type, material)
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    };
    sqlx::query(sql)
        .bind(&key.scope.account_id)
        .bind(&key.scope.region)
        .bind(&key.key_id)
        .bind(&material.material_id)
        .bind(material.created_ms)
        .bind(&material.rotation_type)
        .bind(sealed)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The version-checked UPDATE of a key's mutable fields inside `tx`, notified.
async fn update_key_in(tx: &mut Tx, key: &KeyRecord) -> Result<i64> {
    let next = key.version + 1;
    let done = sqlx::query(
        "UPDATE kms_keys SET description = $1, state = $2, deletion_ms = $3,
            pending_window_days = $4, policy = $5, tags = $6, current_material_id = $7,
            rotation_period_days = $8, next_rotation_ms = $9, valid_to_ms = $10,
            expiration_model = $11, primary_region = $12, version = $13
         WHERE account_id = $14 AND region = $15 AND key_id = $16 AND version = $17",
    )
    .bind(&key.description)
    .bind(&key.state)
    .bind(key.deletion_ms)
    .bind(key.pending_window_days)
    .bind(&key.policy)
    .bind(tags_json(&key.tags)?)
    .bind(&key.current_material_id)
    .bind(key.rotation_period_days)
    .bind(key.next_rotation_ms)
    .bind(key.valid_to_ms)
    .bind(&key.expiration_model)
    .bind(&key.primary_region)
    .bind(next)
    .bind(&key.scope.account_id)
    .bind(&key.scope.region)
    .bind(&key.key_id)
    .bind(key.version)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict);
    }
    notify(tx, &key_change(&key.scope, &key.key_id)).await?;
    Ok(next)
}

/// Version-checked updates of several keys inside `tx`.
async fn update_keys_in(tx: &mut Tx, keys: &[KeyRecord]) -> Result<Vec<i64>> {
    let mut versions = Vec::with_capacity(keys.len());
    for key in keys {
        versions.push(update_key_in(tx, key).await?);
    }
    Ok(versions)
}

/// Inserts a key row inside `tx` (its `seq` from the sequence), notified.
/// [`StoreError::AlreadyExists`] if the key exists.
async fn insert_key(tx: &mut Tx, key: &KeyRecord) -> Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO kms_keys (account_id, region, key_id, description, key_spec, key_usage,
            origin, key_manager, state, created_ms, deletion_ms, pending_window_days, policy,
            tags, current_material_id, multi_region, version, rotation_period_days,
            next_rotation_ms, primary_region, valid_to_ms, expiration_model)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
            $18, $19, $20, $21, $22)",
    )
    .bind(&key.scope.account_id)
    .bind(&key.scope.region)
    .bind(&key.key_id)
    .bind(&key.description)
    .bind(&key.key_spec)
    .bind(&key.key_usage)
    .bind(&key.origin)
    .bind(&key.key_manager)
    .bind(&key.state)
    .bind(key.created_ms)
    .bind(key.deletion_ms)
    .bind(key.pending_window_days)
    .bind(&key.policy)
    .bind(tags_json(&key.tags)?)
    .bind(&key.current_material_id)
    .bind(i64::from(key.multi_region))
    .bind(key.version)
    .bind(key.rotation_period_days)
    .bind(key.next_rotation_ms)
    .bind(&key.primary_region)
    .bind(key.valid_to_ms)
    .bind(&key.expiration_model)
    .execute(&mut **tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        Err(e) => Err(e.into()),
        Ok(_) => notify(tx, &key_change(&key.scope, &key.key_id)).await,
    }
}

/// Deletes a key, its materials, usage, import parameters, grants and aliases inside `tx`,
/// notifying the key and every alias removed.
async fn delete_key_in(tx: &mut Tx, scope: &Scope, key_id: &str) -> Result<()> {
    let aliases: Vec<String> = sqlx::query_scalar(
        "DELETE FROM kms_aliases WHERE account_id = $1 AND region = $2 AND key_id = $3
         RETURNING alias_name",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(key_id)
    .fetch_all(&mut **tx)
    .await?;
    for table in [
        "kms_key_materials",
        "kms_key_usage",
        "kms_import_parameters",
        "kms_grants",
        "kms_keys",
    ] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE account_id = $1 AND region = $2 AND key_id = $3"
        ))
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(key_id)
        .execute(&mut **tx)
        .await?;
    }
    notify(tx, &key_change(scope, key_id)).await?;
    for alias_name in aliases {
        notify(
            tx,
            &Change::Alias {
                scope: scope.clone(),
                alias_name,
            },
        )
        .await?;
    }
    Ok(())
}

// --- keys ---

pub(super) async fn create_key(
    s: &PostgresStore,
    key: &KeyRecord,
    material: Option<&KeyMaterial>,
) -> Result<()> {
    let sealed = material
        .map(|m| seal_material(s, key, m).map(|sealed| (m, sealed)))
        .transpose()?;
    in_tx!(s, |tx| {
        insert_key(&mut tx, key).await?;
        if let Some((material, sealed)) = &sealed {
            insert_material(&mut tx, key, material, sealed, false).await?;
        }
    })
}

pub(super) async fn get_key(
    s: &PostgresStore,
    scope: &Scope,
    key_id: &str,
) -> Result<Option<KeyRecord>> {
    let row =
        sqlx::query("SELECT * FROM kms_keys WHERE account_id = $1 AND region = $2 AND key_id = $3")
            .bind(&scope.account_id)
            .bind(&scope.region)
            .bind(key_id)
            .fetch_optional(&s.pool)
            .await?;
    row.as_ref().map(key_from_row).transpose()
}

pub(super) async fn update_key(s: &PostgresStore, key: &KeyRecord) -> Result<i64> {
    in_tx!(s, |tx| update_key_in(&mut tx, key).await?)
}

pub(super) async fn list_keys(
    s: &PostgresStore,
    scope: &Scope,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<KeyRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM kms_keys WHERE account_id = $1 AND region = $2 AND seq > $3
         ORDER BY seq LIMIT $4",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(after_seq)
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await?;
    rows.iter().map(key_from_row).collect()
}

pub(super) async fn key_materials(
    s: &PostgresStore,
    scope: &Scope,
    key_id: &str,
) -> Result<Vec<KeyMaterial>> {
    let rows = sqlx::query(
        "SELECT material_id, created_ms, rotation_type, material FROM kms_key_materials
         WHERE account_id = $1 AND region = $2 AND key_id = $3 ORDER BY created_ms, ord",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(key_id)
    .fetch_all(&s.pool)
    .await?;
    rows.iter()
        .map(|row| {
            let material_id: String = row.try_get("material_id")?;
            let sealed: Vec<u8> = row.try_get("material")?;
            let secret = s.barrier.open(
                &material_identity(&[&scope.account_id, &scope.region, key_id, &material_id]),
                &sealed,
            )?;
            Ok(KeyMaterial {
                material_id,
                created_ms: row.try_get("created_ms")?,
                rotation_type: row.try_get("rotation_type")?,
                secret,
            })
        })
        .collect()
}

pub(super) async fn add_key_material(
    s: &PostgresStore,
    key: &KeyRecord,
    material: &KeyMaterial,
) -> Result<i64> {
    add_key_material_to_keys(s, std::slice::from_ref(key), material)
        .await?
        .first()
        .copied()
        .ok_or(StoreError::Corrupt("no version for the updated key"))
}

pub(super) async fn add_key_material_to_keys(
    s: &PostgresStore,
    keys: &[KeyRecord],
    material: &KeyMaterial,
) -> Result<Vec<i64>> {
    let sealed = keys
        .iter()
        .map(|key| seal_material(s, key, material))
        .collect::<Result<Vec<_>>>()?;
    in_tx!(s, |tx| {
        let versions = update_keys_in(&mut tx, keys).await?;
        for (key, sealed) in keys.iter().zip(&sealed) {
            insert_material(&mut tx, key, material, sealed, false).await?;
        }
        versions
    })
}

pub(super) async fn related_keys(
    s: &PostgresStore,
    account_id: &str,
    key_id: &str,
) -> Result<Vec<KeyRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM kms_keys WHERE account_id = $1 AND key_id = $2 AND multi_region = 1
         ORDER BY region COLLATE \"C\"",
    )
    .bind(account_id)
    .bind(key_id)
    .fetch_all(&s.pool)
    .await?;
    rows.iter().map(key_from_row).collect()
}

pub(super) async fn update_keys(s: &PostgresStore, keys: &[KeyRecord]) -> Result<Vec<i64>> {
    in_tx!(s, |tx| update_keys_in(&mut tx, keys).await?)
}

pub(super) async fn create_related_key(
    s: &PostgresStore,
    key: &KeyRecord,
    materials: &[KeyMaterial],
    related: &[KeyRecord],
) -> Result<Vec<i64>> {
    let sealed = materials
        .iter()
        .map(|m| seal_material(s, key, m))
        .collect::<Result<Vec<_>>>()?;
    in_tx!(s, |tx| {
        insert_key(&mut tx, key).await?;
        for (material, sealed) in materials.iter().zip(&sealed) {
            insert_material(&mut tx, key, material, sealed, false).await?;
        }
        update_keys_in(&mut tx, related).await?
    })
}

pub(super) async fn delete_key_with_updates(
    s: &PostgresStore,
    key: &KeyRecord,
    related: &[KeyRecord],
) -> Result<Vec<i64>> {
    in_tx!(s, serializable: true, |tx| {
        let done = sqlx::query(
            "DELETE FROM kms_keys
             WHERE account_id = $1 AND region = $2 AND key_id = $3 AND version = $4",
        )
        .bind(&key.scope.account_id)
        .bind(&key.scope.region)
        .bind(&key.key_id)
        .bind(key.version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict);
        }
        delete_key_in(&mut tx, &key.scope, &key.key_id).await?;
        update_keys_in(&mut tx, related).await?
    })
}

pub(super) async fn keys_due_for_rotation(
    s: &PostgresStore,
    now_ms: i64,
) -> Result<Vec<(Scope, String)>> {
    let rows = sqlx::query(
        "SELECT account_id, region, key_id FROM kms_keys
         WHERE next_rotation_ms IS NOT NULL AND next_rotation_ms <= $1",
    )
    .bind(now_ms)
    .fetch_all(&s.pool)
    .await?;
    rows.iter().map(scope_and_key_id).collect()
}

pub(super) async fn put_imported_material(
    s: &PostgresStore,
    key: &KeyRecord,
    material: &KeyMaterial,
) -> Result<i64> {
    let sealed = seal_material(s, key, material)?;
    in_tx!(s, |tx| {
        let version = update_key_in(&mut tx, key).await?;
        insert_material(&mut tx, key, material, &sealed, true).await?;
        version
    })
}

pub(super) async fn delete_key_materials(s: &PostgresStore, key: &KeyRecord) -> Result<i64> {
    in_tx!(s, |tx| {
        let version = update_key_in(&mut tx, key).await?;
        sqlx::query(
            "DELETE FROM kms_key_materials WHERE account_id = $1 AND region = $2 AND key_id = $3",
        )
        .bind(&key.scope.account_id)
        .bind(&key.scope.region)
        .bind(&key.key_id)
        .execute(&mut *tx)
        .await?;
        version
    })
}

pub(super) async fn keys_with_expired_material(
    s: &PostgresStore,
    now_ms: i64,
) -> Result<Vec<(Scope, String)>> {
    let rows = sqlx::query(
        "SELECT account_id, region, key_id FROM kms_keys
         WHERE valid_to_ms IS NOT NULL AND valid_to_ms <= $1",
    )
    .bind(now_ms)
    .fetch_all(&s.pool)
    .await?;
    rows.iter().map(scope_and_key_id).collect()
}

pub(super) async fn delete_key(s: &PostgresStore, scope: &Scope, key_id: &str) -> Result<()> {
    in_tx!(s, serializable: true, |tx| delete_key_in(&mut tx, scope, key_id).await?)
}

pub(super) async fn keys_due_for_deletion(
    s: &PostgresStore,
    now_ms: i64,
) -> Result<Vec<(Scope, String)>> {
    let rows = sqlx::query(
        "SELECT account_id, region, key_id FROM kms_keys
         WHERE deletion_ms IS NOT NULL AND deletion_ms <= $1",
    )
    .bind(now_ms)
    .fetch_all(&s.pool)
    .await?;
    rows.iter().map(scope_and_key_id).collect()
}

// --- usage ---

/// Not notified: last usage is read from the database by GetKeyLastUsage, never cached.
pub(super) async fn record_key_usage(s: &PostgresStore, usage: &[KeyUsageRecord]) -> Result<()> {
    if usage.is_empty() {
        return Ok(());
    }
    in_tx!(s, serializable: true, |tx| {
        for u in usage {
            sqlx::query(
                "INSERT INTO kms_key_usage
                    (account_id, region, key_id, operation, used_ms, request_id)
                 SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (
                     SELECT 1 FROM kms_keys WHERE account_id = $1 AND region = $2 AND key_id = $3)
                 ON CONFLICT (account_id, region, key_id) DO UPDATE SET
                     operation = excluded.operation, used_ms = excluded.used_ms,
                     request_id = excluded.request_id
                 WHERE excluded.used_ms >= kms_key_usage.used_ms",
            )
            .bind(&u.scope.account_id)
            .bind(&u.scope.region)
            .bind(&u.key_id)
            .bind(&u.operation)
            .bind(u.used_ms)
            .bind(&u.request_id)
            .execute(&mut *tx)
            .await?;
        }
    })
}

pub(super) async fn key_usage(
    s: &PostgresStore,
    scope: &Scope,
    key_id: &str,
) -> Result<Option<KeyUsageRecord>> {
    let row = sqlx::query(
        "SELECT operation, used_ms, request_id FROM kms_key_usage
         WHERE account_id = $1 AND region = $2 AND key_id = $3",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(key_id)
    .fetch_optional(&s.pool)
    .await?;
    row.map(|r| -> Result<KeyUsageRecord> {
        Ok(KeyUsageRecord {
            scope: scope.clone(),
            key_id: key_id.to_string(),
            operation: r.try_get("operation")?,
            used_ms: r.try_get("used_ms")?,
            request_id: r.try_get("request_id")?,
        })
    })
    .transpose()
}

// --- import parameters ---

pub(super) async fn put_import_parameters(
    s: &PostgresStore,
    params: &ImportParameters,
) -> Result<()> {
    let p = params;
    let sealed = s.barrier.seal(
        &import_identity(&[&p.scope.account_id, &p.scope.region, &p.token_id]),
        p.private_key.expose_secret(),
    )?;
    in_tx!(s, |tx| {
        let res = sqlx::query(
            "INSERT INTO kms_import_parameters (account_id, region, token_id, key_id,
                token_check, wrapping_algorithm, wrapping_key_spec, created_ms, valid_to_ms,
                private_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&p.scope.account_id)
        .bind(&p.scope.region)
        .bind(&p.token_id)
        .bind(&p.key_id)
        .bind(&p.token_check)
        .bind(&p.wrapping_algorithm)
        .bind(&p.wrapping_key_spec)
        .bind(p.created_ms)
        .bind(p.valid_to_ms)
        .bind(&sealed)
        .execute(&mut *tx)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists),
            other => other?,
        };
        notify(&mut tx, &key_change(&p.scope, &p.key_id)).await?;
    })
}

pub(super) async fn get_import_parameters(
    s: &PostgresStore,
    scope: &Scope,
    token_id: &str,
) -> Result<Option<ImportParameters>> {
    let row = sqlx::query(
        "SELECT * FROM kms_import_parameters
         WHERE account_id = $1 AND region = $2 AND token_id = $3",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(token_id)
    .fetch_optional(&s.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let sealed: Vec<u8> = row.try_get("private_key")?;
    let private_key = s.barrier.open(
        &import_identity(&[&scope.account_id, &scope.region, token_id]),
        &sealed,
    )?;
    Ok(Some(ImportParameters {
        scope: scope.clone(),
        token_id: row.try_get("token_id")?,
        key_id: row.try_get("key_id")?,
        token_check: row.try_get("token_check")?,
        wrapping_algorithm: row.try_get("wrapping_algorithm")?,
        wrapping_key_spec: row.try_get("wrapping_key_spec")?,
        created_ms: row.try_get("created_ms")?,
        valid_to_ms: row.try_get("valid_to_ms")?,
        private_key,
    }))
}

pub(super) async fn delete_import_parameters_before(
    s: &PostgresStore,
    before_ms: i64,
) -> Result<u64> {
    in_tx!(s, |tx| {
        let rows = sqlx::query(
            "DELETE FROM kms_import_parameters WHERE valid_to_ms < $1
             RETURNING account_id, region, key_id",
        )
        .bind(before_ms)
        .fetch_all(&mut *tx)
        .await?;
        let deleted = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        let keys = rows
            .iter()
            .map(scope_and_key_id)
            .collect::<Result<BTreeSet<_>>>()?;
        for (scope, key_id) in &keys {
            notify(&mut tx, &key_change(scope, key_id)).await?;
        }
        deleted
    })
}

// --- aliases ---

fn alias_change(scope: &Scope, alias_name: &str) -> Change {
    Change::Alias {
        scope: scope.clone(),
        alias_name: alias_name.to_string(),
    }
}

pub(super) async fn create_alias(s: &PostgresStore, alias: &AliasRecord) -> Result<()> {
    in_tx!(s, |tx| {
        let res = sqlx::query(
            "INSERT INTO kms_aliases
                (account_id, region, alias_name, key_id, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&alias.scope.account_id)
        .bind(&alias.scope.region)
        .bind(&alias.alias_name)
        .bind(&alias.key_id)
        .bind(alias.created_ms)
        .bind(alias.updated_ms)
        .execute(&mut *tx)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists),
            other => other?,
        };
        notify(&mut tx, &alias_change(&alias.scope, &alias.alias_name)).await?;
    })
}

pub(super) async fn get_alias(
    s: &PostgresStore,
    scope: &Scope,
    alias_name: &str,
) -> Result<Option<AliasRecord>> {
    let row = sqlx::query(
        "SELECT * FROM kms_aliases WHERE account_id = $1 AND region = $2 AND alias_name = $3",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(alias_name)
    .fetch_optional(&s.pool)
    .await?;
    row.as_ref().map(alias_from_row).transpose()
}

pub(super) async fn update_alias(
    s: &PostgresStore,
    scope: &Scope,
    alias_name: &str,
    key_id: &str,
    now_ms: i64,
) -> Result<bool> {
    in_tx!(s, |tx| {
        let done = sqlx::query(
            "UPDATE kms_aliases SET key_id = $1, updated_ms = $2
             WHERE account_id = $3 AND region = $4 AND alias_name = $5",
        )
        .bind(key_id)
        .bind(now_ms)
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(alias_name)
        .execute(&mut *tx)
        .await?;
        let updated = done.rows_affected() == 1;
        if updated {
            notify(&mut tx, &alias_change(scope, alias_name)).await?;
        }
        updated
    })
}

pub(super) async fn delete_alias(
    s: &PostgresStore,
    scope: &Scope,
    alias_name: &str,
) -> Result<bool> {
    in_tx!(s, |tx| {
        let done = sqlx::query(
            "DELETE FROM kms_aliases WHERE account_id = $1 AND region = $2 AND alias_name = $3",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(alias_name)
        .execute(&mut *tx)
        .await?;
        let deleted = done.rows_affected() == 1;
        if deleted {
            notify(&mut tx, &alias_change(scope, alias_name)).await?;
        }
        deleted
    })
}

pub(super) async fn list_aliases(
    s: &PostgresStore,
    scope: &Scope,
    key_id: Option<&str>,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<AliasRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM kms_aliases
         WHERE account_id = $1 AND region = $2 AND ($3::TEXT IS NULL OR key_id = $3)
            AND alias_name COLLATE \"C\" > $4
         ORDER BY alias_name COLLATE \"C\" LIMIT $5",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(key_id)
    .bind(after.unwrap_or(""))
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await?;
    rows.iter().map(alias_from_row).collect()
}

// --- grants ---

pub(super) async fn create_grant(s: &PostgresStore, grant: &GrantRecord) -> Result<()> {
    let operations =
        serde_json::to_string(&grant.operations).map_err(|_| StoreError::Corrupt("grant"))?;
    // Serializable, as is the deletion of keys: a grant never outlives its key.
    in_tx!(s, serializable: true, |tx| {
        let res = sqlx::query(
            "INSERT INTO kms_grants (account_id, region, key_id, grant_id, name,
                grantee_principal, retiring_principal, operations, constraints, issuing_account,
                created_ms, token_hash)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
             WHERE EXISTS (
                SELECT 1 FROM kms_keys WHERE account_id = $1 AND region = $2 AND key_id = $3)",
        )
        .bind(&grant.scope.account_id)
        .bind(&grant.scope.region)
        .bind(&grant.key_id)
        .bind(&grant.grant_id)
        .bind(&grant.name)
        .bind(&grant.grantee_principal)
        .bind(&grant.retiring_principal)
        .bind(&operations)
        .bind(&grant.constraints)
        .bind(&grant.issuing_account)
        .bind(grant.created_ms)
        .bind(&grant.token_hash)
        .execute(&mut *tx)
        .await;
        match res {
            Ok(done) if done.rows_affected() == 0 => return Err(StoreError::Conflict),
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists),
            Err(e) => return Err(e.into()),
        }
        notify(&mut tx, &key_change(&grant.scope, &grant.key_id)).await?;
    })
}

pub(super) async fn key_grants(
    s: &PostgresStore,
    scope: &Scope,
    key_id: &str,
) -> Result<Vec<GrantRecord>> {
    sqlx::query(
        "SELECT * FROM kms_grants WHERE account_id = $1 AND region = $2 AND key_id = $3
         ORDER BY created_ms, grant_id COLLATE \"C\"",
    )
    .bind(&scope.account_id)
    .bind(&scope.region)
    .bind(key_id)
    .fetch_all(&s.pool)
    .await?
    .iter()
    .map(grant_from_row)
    .collect()
}

pub(super) async fn grant_by_token(
    s: &PostgresStore,
    token_hash: &[u8],
) -> Result<Option<GrantRecord>> {
    sqlx::query("SELECT * FROM kms_grants WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(&s.pool)
        .await?
        .as_ref()
        .map(grant_from_row)
        .transpose()
}

pub(super) async fn retirable_grants(
    s: &PostgresStore,
    region: &str,
    retiring_principal: &str,
) -> Result<Vec<GrantRecord>> {
    sqlx::query(
        "SELECT * FROM kms_grants WHERE region = $1 AND retiring_principal = $2
         ORDER BY created_ms, grant_id COLLATE \"C\"",
    )
    .bind(region)
    .bind(retiring_principal)
    .fetch_all(&s.pool)
    .await?
    .iter()
    .map(grant_from_row)
    .collect()
}

pub(super) async fn delete_grant(
    s: &PostgresStore,
    scope: &Scope,
    key_id: &str,
    grant_id: &str,
) -> Result<bool> {
    in_tx!(s, |tx| {
        let done = sqlx::query(
            "DELETE FROM kms_grants
             WHERE account_id = $1 AND region = $2 AND key_id = $3 AND grant_id = $4",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(key_id)
        .bind(grant_id)
        .execute(&mut *tx)
        .await?;
        let deleted = done.rows_affected() > 0;
        if deleted {
            notify(&mut tx, &key_change(scope, key_id)).await?;
        }
        deleted
    })
}
