//! The embedded store: SQLite through sqlx.
//!
//! WAL journal so readers never block the writer; `synchronous=FULL` so a commit that returned is
//! on disk even after power loss (writes here are key-management events, rare and precious);
//! a busy timeout so concurrent writers queue instead of failing.

use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::Row as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use trent_crypto::SecretBytes;

use crate::rows::{alias_from_row, is_unique_violation, key_from_row, scope_and_key_id, tags_json};
use crate::{
    AccessKeyInfo, AccessKeyRecord, AliasRecord, AuditCheckpointRecord, AuditDigestRecord,
    AuditEventRecord, AuditQuery, Barrier, DeleteOutcome, GrantRecord, ImportParameters,
    KeyMaterial, KeyRecord, KeyUsageRecord, ManagedPolicyRecord, NewSecretVersion, OutboxEvent,
    ParameterRecord, ParameterVersionRecord, PendingEvent, PrincipalKind, Result, RoleRecord,
    RowIdentity, Scope, SecretRecord, SecretReplicaRecord, SecretRotationRecord, SecretWrite,
    SessionRecord, Store, StoreError, UserRecord,
};

mod audit;
mod audit_writer;
mod grants;
mod iam;
mod secret_replicas;
mod secret_rotation;
mod secrets;
mod ssm;

/// Name of the database file inside the data directory.
pub const DATABASE_FILE: &str = "trent.db";

const BARRIER_CHECK: &str = "barrier_check";
const BARRIER_CHECK_VALUE: &[u8] = b"trent barrier check v1";

pub struct SqliteStore {
    pool: SqlitePool,
    barrier: Barrier,
    /// The database file, for connections outside the pool (the audit writer's).
    path: std::path::PathBuf,
    /// Recently read secrets; every secret write below invalidates its entry.
    secret_cache: crate::secret_cache::SecretCache,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir`, applies migrations and checks that
    /// `barrier` holds the root key this store was created with.
    pub async fn open(data_dir: &Path, mut barrier: Barrier) -> Result<Self> {
        let path = data_dir.join(DATABASE_FILE);
        let url = format!("sqlite://{}", path.display());
        let opts = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        // A rotated root key finds the earlier terms in its own keyring.
        let ring = sqlx::query("SELECT value FROM meta WHERE name = ?")
            .bind(barrier.keyring_name())
            .fetch_optional(&pool)
            .await?;
        if let Some(row) = ring {
            let sealed: Vec<u8> = row.try_get("value")?;
            barrier
                .install_keyring(&sealed)
                .map_err(|_| StoreError::WrongRootKey)?;
        }
        let store = SqliteStore {
            pool,
            barrier,
            path,
            secret_cache: Default::default(),
        };
        store.check_barrier().await?;
        Ok(store)
    }

    /// Records `new_root` as the next term after this store's root key `current_root`: its
    /// keyring (sealed under `new_root`) holds `current_root` and every earlier term. Rows stay
    /// as they are; the store is used with `new_root` from its next open.
    pub async fn add_root_key_term(
        &self,
        current_root: &SecretBytes,
        new_root: &SecretBytes,
    ) -> Result<()> {
        let mut current = Barrier::new(current_root)?;
        let ring = sqlx::query("SELECT value FROM meta WHERE name = ?")
            .bind(current.keyring_name())
            .fetch_optional(&self.pool)
            .await?;
        let keys = match ring {
            Some(row) => current.install_keyring(&row.try_get::<Vec<u8>, _>("value")?)?,
            None => crate::KeyringKeys::first(),
        };
        let next = current.next_keyring(current_root, &keys)?;
        let new = Barrier::new(new_root)?;
        sqlx::query(
            "INSERT INTO meta (name, value) VALUES (?, ?) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(new.keyring_name())
        .bind(new.seal_keyring(&next)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The first open writes a known value through the barrier; every later open must read it
    /// back, so a wrong root key is caught at start-up rather than at the first Decrypt.
    async fn check_barrier(&self) -> Result<()> {
        let id = RowIdentity {
            table: "meta",
            key: &[BARRIER_CHECK],
        };
        let row = sqlx::query("SELECT value FROM meta WHERE name = ?")
            .bind(BARRIER_CHECK)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => {
                let sealed: Vec<u8> = row.try_get("value")?;
                let opened = self
                    .barrier
                    .open(&id, &sealed)
                    .map_err(|_| StoreError::WrongRootKey)?;
                if opened.expose_secret() != BARRIER_CHECK_VALUE {
                    return Err(StoreError::WrongRootKey);
                }
                // After a rotation the check moves to the newest term, so the earlier root
                // keys stop opening this store.
                if Barrier::term_of(&sealed) != Some(self.barrier.term()) {
                    let resealed = self.barrier.seal(&id, BARRIER_CHECK_VALUE)?;
                    sqlx::query("UPDATE meta SET value = ? WHERE name = ?")
                        .bind(resealed)
                        .bind(BARRIER_CHECK)
                        .execute(&self.pool)
                        .await?;
                }
                Ok(())
            }
            None => {
                let sealed = self.barrier.seal(&id, BARRIER_CHECK_VALUE)?;
                sqlx::query("INSERT INTO meta (name, value) VALUES (?, ?)")
                    .bind(BARRIER_CHECK)
                    .bind(sealed)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    }
}

impl SqliteStore {
    /// Seals a material version under the barrier and inserts it, inside `tx`. With `replace`, a
    /// stored copy of the same material id is overwritten (re-imported material); otherwise an
    /// existing id is an error.
    async fn insert_material(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        key: &KeyRecord,
        material: &KeyMaterial,
        replace: bool,
    ) -> Result<()> {
        let sealed = self.barrier.seal(
            &material_identity(&[
                &key.scope.account_id,
                &key.scope.region,
                &key.key_id,
                &material.material_id,
            ]),
            material.secret.expose_secret(),
        )?;
        let sql = if replace {
            "INSERT INTO kms_key_materials
                (account_id, region, key_id, material_id, created_ms, rotation_type, material)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (account_id, region, key_id, material_id)
             DO UPDATE SET material = excluded.material"
        } else {
            "INSERT INTO kms_key_materials
                (account_id, region, key_id, material_id, created_ms, rotation_type, material)
             VALUES (?, ?, ?, ?, ?, ?, ?)"
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
}

fn material_identity<'a>(parts: &'a [&'a str; 4]) -> RowIdentity<'a> {
    RowIdentity {
        table: "kms_key_materials",
        key: parts,
    }
}

fn import_identity<'a>(parts: &'a [&'a str; 3]) -> RowIdentity<'a> {
    RowIdentity {
        table: "kms_import_parameters",
        key: parts,
    }
}

/// The version-checked UPDATE of a key's mutable fields, on the pool or inside a transaction.
async fn update_key_in<'e, E>(executor: E, key: &KeyRecord) -> Result<i64>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let next = key.version + 1;
    let done = sqlx::query(
        "UPDATE kms_keys SET description = ?, state = ?, deletion_ms = ?, pending_window_days = ?,
            policy = ?, tags = ?, current_material_id = ?, rotation_period_days = ?,
            next_rotation_ms = ?, valid_to_ms = ?, expiration_model = ?, primary_region = ?,
            version = ?
         WHERE account_id = ? AND region = ? AND key_id = ? AND version = ?",
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
    .execute(executor)
    .await?;
    if done.rows_affected() == 1 {
        Ok(next)
    } else {
        Err(StoreError::Conflict)
    }
}

/// Version-checked updates of several keys inside one transaction.
async fn update_keys_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    keys: &[KeyRecord],
) -> Result<Vec<i64>> {
    let mut versions = Vec::with_capacity(keys.len());
    for key in keys {
        versions.push(update_key_in(&mut **tx, key).await?);
    }
    Ok(versions)
}

/// Inserts a key row inside `tx`. The sequence number is computed inside the INSERT, so when this
/// is the transaction's first statement SQLite takes the write lock up front (waiting on
/// busy_timeout) instead of failing a read-to-write upgrade when another writer got in between.
async fn insert_key(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, key: &KeyRecord) -> Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO kms_keys (account_id, region, key_id, seq, description, key_spec, key_usage,
            origin, key_manager, state, created_ms, deletion_ms, pending_window_days, policy,
            tags, current_material_id, multi_region, version, rotation_period_days,
            next_rotation_ms, primary_region, valid_to_ms, expiration_model)
         VALUES (?1, ?2, ?3,
            (SELECT COALESCE(MAX(seq), 0) + 1 FROM kms_keys WHERE account_id = ?1 AND region = ?2),
            ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,
            ?22)",
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
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Deletes a key, its materials and its aliases, inside `tx`.
async fn delete_key_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    scope: &Scope,
    key_id: &str,
) -> Result<()> {
    for table in [
        "kms_aliases",
        "kms_key_materials",
        "kms_key_usage",
        "kms_import_parameters",
        "kms_grants",
        "kms_keys",
    ] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE account_id = ? AND region = ? AND key_id = ?"
        ))
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(key_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn create_key(&self, key: &KeyRecord, material: Option<&KeyMaterial>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_key(&mut tx, key).await?;
        if let Some(material) = material {
            self.insert_material(&mut tx, key, material, false).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn create_related_key(
        &self,
        key: &KeyRecord,
        materials: &[KeyMaterial],
        related: &[KeyRecord],
    ) -> Result<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        insert_key(&mut tx, key).await?;
        for material in materials {
            self.insert_material(&mut tx, key, material, false).await?;
        }
        let versions = update_keys_in(&mut tx, related).await?;
        tx.commit().await?;
        Ok(versions)
    }

    async fn related_keys(&self, account_id: &str, key_id: &str) -> Result<Vec<KeyRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM kms_keys WHERE account_id = ? AND key_id = ? AND multi_region = 1
             ORDER BY region",
        )
        .bind(account_id)
        .bind(key_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn update_keys(&self, keys: &[KeyRecord]) -> Result<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        let versions = update_keys_in(&mut tx, keys).await?;
        tx.commit().await?;
        Ok(versions)
    }

    async fn delete_key_with_updates(
        &self,
        key: &KeyRecord,
        related: &[KeyRecord],
    ) -> Result<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        // The version-checked DELETE goes first so the transaction writes (and locks) at once.
        let done = sqlx::query(
            "DELETE FROM kms_keys WHERE account_id = ? AND region = ? AND key_id = ? AND version = ?",
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
        let versions = update_keys_in(&mut tx, related).await?;
        tx.commit().await?;
        Ok(versions)
    }

    async fn get_key(&self, scope: &Scope, key_id: &str) -> Result<Option<KeyRecord>> {
        let row = sqlx::query(
            "SELECT * FROM kms_keys WHERE account_id = ? AND region = ? AND key_id = ?",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn update_key(&self, key: &KeyRecord) -> Result<i64> {
        update_key_in(&self.pool, key).await
    }

    async fn add_key_material(&self, key: &KeyRecord, material: &KeyMaterial) -> Result<i64> {
        self.add_key_material_to_keys(std::slice::from_ref(key), material)
            .await?
            .first()
            .copied()
            .ok_or(StoreError::Corrupt("no version for the updated key"))
    }

    async fn add_key_material_to_keys(
        &self,
        keys: &[KeyRecord],
        material: &KeyMaterial,
    ) -> Result<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        // The version-checked UPDATEs go first so the transaction writes (and locks) at once.
        let versions = update_keys_in(&mut tx, keys).await?;
        for key in keys {
            self.insert_material(&mut tx, key, material, false).await?;
        }
        tx.commit().await?;
        Ok(versions)
    }

    async fn put_imported_material(&self, key: &KeyRecord, material: &KeyMaterial) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let version = update_key_in(&mut *tx, key).await?;
        self.insert_material(&mut tx, key, material, true).await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn delete_key_materials(&self, key: &KeyRecord) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let version = update_key_in(&mut *tx, key).await?;
        sqlx::query(
            "DELETE FROM kms_key_materials WHERE account_id = ? AND region = ? AND key_id = ?",
        )
        .bind(&key.scope.account_id)
        .bind(&key.scope.region)
        .bind(&key.key_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn keys_with_expired_material(&self, now_ms: i64) -> Result<Vec<(Scope, String)>> {
        let rows = sqlx::query(
            "SELECT account_id, region, key_id FROM kms_keys
             WHERE valid_to_ms IS NOT NULL AND valid_to_ms <= ?",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(scope_and_key_id).collect()
    }

    async fn put_import_parameters(&self, p: &ImportParameters) -> Result<()> {
        let sealed = self.barrier.seal(
            &import_identity(&[&p.scope.account_id, &p.scope.region, &p.token_id]),
            p.private_key.expose_secret(),
        )?;
        let res = sqlx::query(
            "INSERT INTO kms_import_parameters (account_id, region, token_id, key_id, token_check,
                wrapping_algorithm, wrapping_key_spec, created_ms, valid_to_ms, private_key)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .bind(sealed)
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    async fn get_import_parameters(
        &self,
        scope: &Scope,
        token_id: &str,
    ) -> Result<Option<ImportParameters>> {
        let row = sqlx::query(
            "SELECT * FROM kms_import_parameters
             WHERE account_id = ? AND region = ? AND token_id = ?",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(token_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: Vec<u8> = row.try_get("private_key")?;
        let private_key = self.barrier.open(
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

    async fn delete_import_parameters_before(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM kms_import_parameters WHERE valid_to_ms < ?")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn keys_due_for_rotation(&self, now_ms: i64) -> Result<Vec<(Scope, String)>> {
        let rows = sqlx::query(
            "SELECT account_id, region, key_id FROM kms_keys
             WHERE next_rotation_ms IS NOT NULL AND next_rotation_ms <= ?",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(scope_and_key_id).collect()
    }

    async fn list_keys(&self, scope: &Scope, after_seq: i64, limit: u32) -> Result<Vec<KeyRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM kms_keys WHERE account_id = ? AND region = ? AND seq > ?
             ORDER BY seq LIMIT ?",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn key_materials(&self, scope: &Scope, key_id: &str) -> Result<Vec<KeyMaterial>> {
        let rows = sqlx::query(
            "SELECT material_id, created_ms, rotation_type, material FROM kms_key_materials
             WHERE account_id = ? AND region = ? AND key_id = ? ORDER BY created_ms, rowid",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(key_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let material_id: String = row.try_get("material_id")?;
                let sealed: Vec<u8> = row.try_get("material")?;
                let secret = self.barrier.open(
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

    async fn delete_key(&self, scope: &Scope, key_id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        delete_key_in(&mut tx, scope, key_id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_key_usage(&self, usage: &[KeyUsageRecord]) -> Result<()> {
        if usage.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for u in usage {
            sqlx::query(
                "INSERT INTO kms_key_usage (account_id, region, key_id, operation, used_ms, request_id)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (
                     SELECT 1 FROM kms_keys WHERE account_id = ?1 AND region = ?2 AND key_id = ?3)
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
        tx.commit().await?;
        Ok(())
    }

    async fn key_usage(&self, scope: &Scope, key_id: &str) -> Result<Option<KeyUsageRecord>> {
        let row = sqlx::query(
            "SELECT operation, used_ms, request_id FROM kms_key_usage
             WHERE account_id = ? AND region = ? AND key_id = ?",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| -> std::result::Result<KeyUsageRecord, sqlx::Error> {
            Ok(KeyUsageRecord {
                scope: scope.clone(),
                key_id: key_id.to_string(),
                operation: r.try_get("operation")?,
                used_ms: r.try_get("used_ms")?,
                request_id: r.try_get("request_id")?,
            })
        })
        .transpose()
        .map_err(Into::into)
    }

    async fn keys_due_for_deletion(&self, now_ms: i64) -> Result<Vec<(Scope, String)>> {
        let rows = sqlx::query(
            "SELECT account_id, region, key_id FROM kms_keys
             WHERE deletion_ms IS NOT NULL AND deletion_ms <= ?",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(scope_and_key_id).collect()
    }

    async fn create_alias(&self, alias: &AliasRecord) -> Result<()> {
        let res = sqlx::query(
            "INSERT INTO kms_aliases (account_id, region, alias_name, key_id, created_ms, updated_ms)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&alias.scope.account_id)
        .bind(&alias.scope.region)
        .bind(&alias.alias_name)
        .bind(&alias.key_id)
        .bind(alias.created_ms)
        .bind(alias.updated_ms)
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    async fn get_alias(&self, scope: &Scope, alias_name: &str) -> Result<Option<AliasRecord>> {
        let row = sqlx::query(
            "SELECT * FROM kms_aliases WHERE account_id = ? AND region = ? AND alias_name = ?",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(alias_name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(alias_from_row).transpose()
    }

    async fn update_alias(
        &self,
        scope: &Scope,
        alias_name: &str,
        key_id: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE kms_aliases SET key_id = ?, updated_ms = ?
             WHERE account_id = ? AND region = ? AND alias_name = ?",
        )
        .bind(key_id)
        .bind(now_ms)
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(alias_name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_alias(&self, scope: &Scope, alias_name: &str) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM kms_aliases WHERE account_id = ? AND region = ? AND alias_name = ?",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(alias_name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_aliases(
        &self,
        scope: &Scope,
        key_id: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AliasRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM kms_aliases
             WHERE account_id = ? AND region = ? AND (?3 IS NULL OR key_id = ?3) AND alias_name > ?4
             ORDER BY alias_name LIMIT ?5",
        )
        .bind(&scope.account_id)
        .bind(&scope.region)
        .bind(key_id)
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alias_from_row).collect()
    }

    async fn create_secret(
        &self,
        secret: &SecretRecord,
        version: Option<&NewSecretVersion>,
    ) -> Result<()> {
        let done = secrets::create(&self.pool, secret, version).await;
        self.secret_cache.invalidate(&secret.scope, &secret.name);
        done
    }

    async fn get_secret(&self, scope: &Scope, name: &str) -> Result<Option<SecretRecord>> {
        let generation = match self.secret_cache.secret(scope, name) {
            crate::secret_cache::Lookup::Hit(s) => return Ok(Some(s)),
            crate::secret_cache::Lookup::Miss(g) => g,
        };
        let found = secrets::get(&self.pool, scope, name).await?;
        if let Some(s) = &found {
            self.secret_cache.fill_secret(generation, s);
        }
        Ok(found)
    }

    async fn save_secret(
        &self,
        secret: &SecretRecord,
        version: Option<&NewSecretVersion>,
    ) -> Result<i64> {
        let done = secrets::save(&self.pool, secret, version).await;
        self.secret_cache.invalidate(&secret.scope, &secret.name);
        done
    }

    async fn get_secret_ciphertext(
        &self,
        scope: &Scope,
        name: &str,
        version_id: &str,
    ) -> Result<Option<Vec<u8>>> {
        let generation = match self.secret_cache.ciphertext(scope, name, version_id) {
            crate::secret_cache::Lookup::Hit(c) => return Ok(Some(c)),
            crate::secret_cache::Lookup::Miss(g) => g,
        };
        let found = secrets::ciphertext(&self.pool, scope, name, version_id).await?;
        if let Some(c) = &found {
            self.secret_cache
                .fill_ciphertext(scope, name, version_id, generation, c);
        }
        Ok(found)
    }

    async fn touch_secret(
        &self,
        scope: &Scope,
        name: &str,
        version_id: &str,
        day_ms: i64,
    ) -> Result<()> {
        let done = secrets::touch(&self.pool, scope, name, version_id, day_ms).await;
        self.secret_cache.invalidate(scope, name);
        done
    }

    async fn list_secrets(&self, scope: &Scope) -> Result<Vec<SecretRecord>> {
        secrets::list(&self.pool, scope).await
    }

    async fn delete_secret(&self, scope: &Scope, name: &str, revision: i64) -> Result<bool> {
        let done = secrets::delete(&self.pool, scope, name, revision).await;
        self.secret_cache.invalidate(scope, name);
        done
    }

    async fn secrets_due_for_purge(&self, now_ms: i64, limit: u32) -> Result<Vec<(Scope, String)>> {
        secrets::due_for_purge(&self.pool, now_ms, limit).await
    }

    async fn write_secrets(&self, writes: &[SecretWrite<'_>]) -> Result<()> {
        let done = secret_replicas::write(&self.pool, writes).await;
        for w in writes {
            match w {
                SecretWrite::Create { secret, .. } | SecretWrite::Save { secret, .. } => {
                    self.secret_cache.invalidate(&secret.scope, &secret.name);
                }
                SecretWrite::Delete { scope, name, .. } => {
                    self.secret_cache.invalidate(scope, name)
                }
                SecretWrite::Replicas { .. } => {}
            }
        }
        done
    }

    async fn secret_replicas(&self, scope: &Scope, name: &str) -> Result<Vec<SecretReplicaRecord>> {
        secret_replicas::replicas(&self.pool, scope, name).await
    }

    async fn secret_primary_region(&self, scope: &Scope, name: &str) -> Result<Option<String>> {
        secret_replicas::primary_region(&self.pool, scope, name).await
    }

    async fn secret_primary_regions(&self, scope: &Scope) -> Result<Vec<(String, String)>> {
        secret_replicas::primary_regions(&self.pool, scope).await
    }

    async fn get_secret_rotation(
        &self,
        scope: &Scope,
        name: &str,
    ) -> Result<Option<SecretRotationRecord>> {
        secret_rotation::get(&self.pool, scope, name).await
    }

    async fn put_secret_rotation(
        &self,
        scope: &Scope,
        name: &str,
        rotation: &SecretRotationRecord,
    ) -> Result<()> {
        secret_rotation::put(&self.pool, scope, name, rotation).await
    }

    async fn secret_rotations_due(&self, now_ms: i64, limit: u32) -> Result<Vec<(Scope, String)>> {
        secret_rotation::due(&self.pool, now_ms, limit).await
    }

    async fn get_parameter(&self, scope: &Scope, name: &str) -> Result<Option<ParameterRecord>> {
        ssm::get(&self.pool, scope, name).await
    }

    async fn get_parameter_version(
        &self,
        scope: &Scope,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<ParameterVersionRecord>> {
        ssm::get_version(&self.pool, scope, name, version).await
    }

    async fn get_parameter_version_by_label(
        &self,
        scope: &Scope,
        name: &str,
        label: &str,
    ) -> Result<Option<ParameterVersionRecord>> {
        ssm::get_version_by_label(&self.pool, scope, name, label).await
    }

    async fn parameter_versions(
        &self,
        scope: &Scope,
        name: &str,
        after_version: i64,
        limit: u32,
    ) -> Result<Vec<ParameterVersionRecord>> {
        ssm::versions(&self.pool, scope, name, after_version, limit).await
    }

    async fn put_parameter_version(
        &self,
        param: &ParameterRecord,
        version: &ParameterVersionRecord,
        create: bool,
        drop_version: Option<i64>,
        tier_limit: Option<i64>,
        event: Option<&OutboxEvent>,
    ) -> Result<i64> {
        ssm::put_version(
            &self.pool,
            param,
            version,
            create,
            drop_version,
            tier_limit,
            event,
        )
        .await
    }

    async fn set_parameter_labels(
        &self,
        param: &ParameterRecord,
        version: i64,
        add: &[String],
        remove: &[String],
        event: Option<&OutboxEvent>,
    ) -> Result<i64> {
        ssm::set_labels(&self.pool, param, version, add, remove, event).await
    }

    async fn set_parameter_tags(&self, param: &ParameterRecord) -> Result<i64> {
        ssm::set_tags(&self.pool, param).await
    }

    async fn delete_parameter(&self, scope: &Scope, name: &str) -> Result<bool> {
        ssm::delete(&self.pool, scope, name).await
    }

    async fn delete_parameter_checked(
        &self,
        param: &ParameterRecord,
        events: &[OutboxEvent],
    ) -> Result<()> {
        ssm::delete_checked(&self.pool, param, events).await
    }

    async fn set_parameter_policies(
        &self,
        param: &ParameterRecord,
        events: &[OutboxEvent],
    ) -> Result<i64> {
        ssm::set_policies(&self.pool, param, events).await
    }

    async fn parameters_with_due_policies(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<(Scope, String)>> {
        ssm::due_policies(&self.pool, now_ms, limit).await
    }

    async fn count_parameters(&self, scope: &Scope, tier: Option<&str>) -> Result<i64> {
        ssm::count(&self.pool, scope, tier).await
    }

    async fn pending_events(&self, limit: u32) -> Result<Vec<PendingEvent>> {
        ssm::pending_events(&self.pool, limit).await
    }

    async fn ack_event(&self, seq: i64, acked: &[String]) -> Result<()> {
        ssm::ack_event(&self.pool, seq, acked).await
    }

    async fn delete_event(&self, seq: i64) -> Result<()> {
        ssm::delete_event(&self.pool, seq).await
    }

    async fn list_parameters_by_path(
        &self,
        scope: &Scope,
        prefix: &str,
        recursive: bool,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(ParameterRecord, ParameterVersionRecord)>> {
        ssm::list_by_path(&self.pool, scope, prefix, recursive, after, limit).await
    }

    async fn create_grant(&self, grant: &GrantRecord) -> Result<()> {
        grants::create(&self.pool, grant).await
    }

    async fn key_grants(&self, scope: &Scope, key_id: &str) -> Result<Vec<GrantRecord>> {
        grants::for_key(&self.pool, scope, key_id).await
    }

    async fn grant_by_token(&self, token_hash: &[u8]) -> Result<Option<GrantRecord>> {
        grants::by_token(&self.pool, token_hash).await
    }

    async fn retirable_grants(
        &self,
        region: &str,
        retiring_principal: &str,
    ) -> Result<Vec<GrantRecord>> {
        grants::retirable(&self.pool, region, retiring_principal).await
    }

    async fn delete_grant(&self, scope: &Scope, key_id: &str, grant_id: &str) -> Result<bool> {
        grants::delete(&self.pool, scope, key_id, grant_id).await
    }

    async fn append_audit_events(&self, events: &[AuditEventRecord]) -> Result<()> {
        audit::append_events(&self.pool, events).await
    }

    fn audit_appender(&self) -> Result<Option<Box<dyn crate::AuditAppender>>> {
        Ok(Some(Box::new(audit_writer::SqliteAuditAppender::open(
            &self.path,
        )?)))
    }

    async fn audit_tail(&self) -> Result<Option<(i64, Vec<u8>)>> {
        audit::tail(&self.pool).await
    }

    async fn audit_events(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEventRecord>> {
        audit::events(&self.pool, after_seq, limit).await
    }

    async fn lookup_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEventRecord>> {
        audit::lookup(&self.pool, query).await
    }

    async fn append_audit_digest(&self, digest: &AuditDigestRecord) -> Result<()> {
        audit::append_digest(&self.pool, digest).await
    }

    async fn audit_digests(&self) -> Result<Vec<AuditDigestRecord>> {
        audit::digests(&self.pool).await
    }

    async fn last_audit_digest(&self) -> Result<Option<AuditDigestRecord>> {
        audit::last_digest(&self.pool).await
    }

    async fn first_audit_seq_since(&self, time_ms: i64) -> Result<Option<i64>> {
        audit::first_seq_since(&self.pool, time_ms).await
    }

    async fn append_audit_checkpoint(&self, checkpoint: &AuditCheckpointRecord) -> Result<()> {
        audit::append_checkpoint(&self.pool, checkpoint).await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpointRecord>> {
        audit::checkpoints(&self.pool).await
    }

    async fn prune_audit_events(&self, through_seq: i64, limit: u32) -> Result<u64> {
        audit::prune(&self.pool, through_seq, limit).await
    }

    async fn get_sealed_meta(&self, name: &str) -> Result<Option<SecretBytes>> {
        let Some(sealed) = self.get_meta(name).await? else {
            return Ok(None);
        };
        let id = RowIdentity {
            table: "meta",
            key: &[name],
        };
        Ok(Some(self.barrier.open(&id, &sealed)?))
    }

    async fn put_sealed_meta_once(&self, name: &str, value: &SecretBytes) -> Result<bool> {
        let id = RowIdentity {
            table: "meta",
            key: &[name],
        };
        let sealed = self.barrier.seal(&id, value.expose_secret())?;
        self.put_meta_once(name, &sealed).await
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT value FROM meta WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get("value"))
            .transpose()
            .map_err(Into::into)
    }

    async fn put_meta_once(&self, name: &str, value: &[u8]) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn put_access_key(&self, key: &AccessKeyRecord) -> Result<()> {
        iam::insert_access_key(&self.pool, &self.barrier, key).await
    }

    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>> {
        let row = sqlx::query("SELECT * FROM access_keys WHERE access_key_id = ?")
            .bind(access_key_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: Vec<u8> = row.try_get("secret")?;
        let secret = self.barrier.open(
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

    // --- IAM and STS ---

    async fn create_account(
        &self,
        account_id: &str,
        created_ms: i64,
        root_key: Option<&AccessKeyRecord>,
    ) -> Result<()> {
        iam::create_account(&self.pool, &self.barrier, account_id, created_ms, root_key).await
    }
    async fn account_exists(&self, account_id: &str) -> Result<bool> {
        iam::account_exists(&self.pool, account_id).await
    }
    async fn create_access_key(&self, key: &AccessKeyRecord, max: u32) -> Result<bool> {
        iam::create_access_key(&self.pool, &self.barrier, key, max).await
    }
    async fn list_access_keys(&self, principal_arn: &str) -> Result<Vec<AccessKeyInfo>> {
        iam::list_access_keys(&self.pool, principal_arn).await
    }
    async fn set_access_key_status(&self, access_key_id: &str, status: &str) -> Result<bool> {
        iam::set_access_key_status(&self.pool, access_key_id, status).await
    }
    async fn delete_access_key(&self, access_key_id: &str) -> Result<bool> {
        iam::delete_access_key(&self.pool, access_key_id).await
    }
    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        iam::create_user(&self.pool, user).await
    }
    async fn get_user(&self, account_id: &str, user_name: &str) -> Result<Option<UserRecord>> {
        iam::get_user(&self.pool, account_id, user_name).await
    }
    async fn list_users(
        &self,
        account_id: &str,
        path_prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserRecord>> {
        iam::list_users(&self.pool, account_id, path_prefix, after, limit).await
    }
    async fn delete_user(&self, account_id: &str, user_name: &str) -> Result<DeleteOutcome> {
        iam::delete_user(&self.pool, account_id, user_name).await
    }
    async fn set_principal_tags(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        name: &str,
        expected: &[(String, String)],
        tags: &[(String, String)],
    ) -> Result<bool> {
        iam::set_principal_tags(&self.pool, account_id, kind, name, expected, tags).await
    }
    async fn create_role(&self, role: &RoleRecord) -> Result<()> {
        iam::create_role(&self.pool, role).await
    }
    async fn get_role(&self, account_id: &str, role_name: &str) -> Result<Option<RoleRecord>> {
        iam::get_role(&self.pool, account_id, role_name).await
    }
    async fn list_roles(
        &self,
        account_id: &str,
        path_prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RoleRecord>> {
        iam::list_roles(&self.pool, account_id, path_prefix, after, limit).await
    }
    async fn delete_role(&self, account_id: &str, role_name: &str) -> Result<DeleteOutcome> {
        iam::delete_role(&self.pool, account_id, role_name).await
    }
    async fn put_inline_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<bool> {
        iam::put_inline_policy(
            &self.pool,
            account_id,
            kind,
            principal,
            policy_name,
            document,
        )
        .await
    }
    async fn get_inline_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        policy_name: &str,
    ) -> Result<Option<String>> {
        iam::get_inline_policy(&self.pool, account_id, kind, principal, policy_name).await
    }
    async fn list_inline_policies(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<(String, String)>> {
        iam::list_inline_policies(&self.pool, account_id, kind, principal).await
    }
    async fn delete_inline_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        policy_name: &str,
    ) -> Result<bool> {
        iam::delete_inline_policy(&self.pool, account_id, kind, principal, policy_name).await
    }
    async fn create_managed_policy(&self, policy: &ManagedPolicyRecord) -> Result<()> {
        iam::create_managed_policy(&self.pool, policy).await
    }
    async fn get_managed_policy(
        &self,
        account_id: &str,
        arn: &str,
    ) -> Result<Option<ManagedPolicyRecord>> {
        iam::get_managed_policy(&self.pool, account_id, arn).await
    }
    async fn delete_managed_policy(&self, account_id: &str, arn: &str) -> Result<DeleteOutcome> {
        iam::delete_managed_policy(&self.pool, account_id, arn).await
    }
    async fn attach_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        arn: &str,
    ) -> Result<bool> {
        iam::attach_policy(&self.pool, account_id, kind, principal, arn).await
    }
    async fn detach_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        arn: &str,
    ) -> Result<bool> {
        iam::detach_policy(&self.pool, account_id, kind, principal, arn).await
    }
    async fn attached_policies(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<ManagedPolicyRecord>> {
        iam::attached_policies(&self.pool, account_id, kind, principal).await
    }
    async fn create_session(&self, session: &SessionRecord) -> Result<()> {
        iam::create_session(&self.pool, &self.barrier, session).await
    }
    async fn get_session(&self, access_key_id: &str) -> Result<Option<SessionRecord>> {
        iam::get_session(&self.pool, &self.barrier, access_key_id).await
    }
    async fn delete_sessions_before(&self, before_ms: i64) -> Result<u64> {
        iam::delete_sessions_before(&self.pool, before_ms).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                expires_ms = excluded.expires_ms
             WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?4",
        )
        .bind(name)
        .bind(holder)
        .bind(now_ms.saturating_add(ttl_ms))
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
