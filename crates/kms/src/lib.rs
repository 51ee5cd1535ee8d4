//! The KMS service: keys, aliases, tags, policies and the symmetric cryptographic operations.
//!
//! Layout:
//! - [`Kms`] (this file): key resolution, the in-memory key cache, the state checks, and the
//!   seal/open core that every cryptographic operation shares.
//! - `ops/`: one module per API operation, each with its request and response types, validation
//!   and handler. [`Kms::call`] dispatches to them by operation name.
//! - [`blob`]: the ciphertext format; [`context`]: the encryption context encoding;
//!   [`model`]: identifiers, states, KeyMetadata, tags.
//!
//! Key material is read from the store once and cached decrypted (zeroized on eviction), so the
//! hot path — Encrypt, Decrypt, GenerateDataKey — touches no database. Every mutation goes to the
//! store first with an optimistic version check and then drops the cache entry.

#![forbid(unsafe_code)]

mod authz;
pub mod blob;
mod cipher;
pub mod context;
mod error;
mod grants;
mod heavy;
mod import;
mod internal;
pub mod model;
mod ops;
mod usage;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use trent_crypto::{Aes256GcmKey, GCM_NONCE_LEN, SecretBytes};
use trent_store::clock::Clock;
use trent_store::{Change, KeyRecord, Scope, Store, StoreError};

use authz::{Access, KeyAuthz, KeyView};
pub(crate) use cipher::Cipher;
pub use context::EncryptionContext;
pub use error::KmsError;
use model::{KeyKind, KeyRef, KeyState};

/// Who is calling, as established by authentication.
#[derive(Debug, Clone)]
pub struct Caller {
    pub scope: Scope,
    /// Who calls, with the identity policies and request facts authorization needs.
    pub requester: Arc<trent_policy::Requester>,
    /// The request id the server answers with (recorded by GetKeyLastUsage).
    pub request_id: String,
    /// The keys this call resolved, for the audit record.
    pub touched: Touched,
}

/// The ARNs of the keys a call resolved, in order: an out-parameter the server reads after the
/// call, for the audit record's `resources` (denied calls included). It also remembers whether
/// the call has been charged to a key-type request quota, so a call that resolves two keys
/// (ReEncrypt, Decrypt with a KeyId) counts once.
#[derive(Debug, Default, Clone)]
pub struct Touched(Arc<std::sync::Mutex<Notes>>);

#[derive(Debug, Default)]
struct Notes {
    arns: Vec<String>,
    charged: bool,
}

impl Touched {
    /// Notes a key ARN (once).
    pub fn note(&self, arn: &str) {
        if let Ok(mut notes) = self.0.lock()
            && !notes.arns.iter().any(|a| a == arn)
        {
            notes.arns.push(arn.to_owned());
        }
    }

    /// The ARNs noted so far.
    pub fn arns(&self) -> Vec<String> {
        self.0.lock().map(|n| n.arns.clone()).unwrap_or_default()
    }

    /// True the first time it is asked: the call is to be charged now.
    fn first_charge(&self) -> bool {
        self.0
            .lock()
            .map(|mut n| !std::mem::replace(&mut n.charged, true))
            .unwrap_or(true)
    }
}

/// The request quota a cryptographic operation on a key counts against, by the key's type
/// (AWS's shared per-account pools).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPool {
    /// Symmetric encryption keys (and HMAC keys).
    Symmetric,
    Rsa,
    /// Elliptic-curve keys (ECC_NIST_*, ECC_SECG_P256K1, ECC_NIST_EDWARDS25519).
    Ecc,
    MlDsa,
}

impl KeyPool {
    fn of(kind: KeyKind) -> KeyPool {
        match kind.asymmetric() {
            None => KeyPool::Symmetric,
            Some(spec) if spec.is_rsa() => KeyPool::Rsa,
            Some(spec) if spec.kms_name().starts_with("ML_DSA") => KeyPool::MlDsa,
            Some(_) => KeyPool::Ecc,
        }
    }
}

/// Request quotas for the operations whose pool depends on the key: Encrypt, Decrypt,
/// ReEncrypt, Sign, Verify and DeriveSharedSecret. KMS charges a call once, as soon as it has
/// found the first key the call names (before authorizing it or doing any cryptography).
pub trait KeyQuota: Send + Sync {
    /// Takes one request from `pool` of `scope` (the caller's account and Region); false when
    /// the pool is exhausted.
    fn try_acquire(&self, scope: &Scope, pool: KeyPool) -> bool;
}

/// The IAM actions (as `Access` names them) charged to a [`KeyQuota`].
const KEY_QUOTA_ACTIONS: &[&str] = &[
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "DeriveSharedSecret",
];

/// How many keys the material cache holds before it starts evicting.
const KEY_CACHE_CAPACITY: usize = 10_000;
/// Milliseconds in a day.
pub(crate) const DAY_MS: i64 = 86_400_000;
/// On-demand rotations a key may have in its lifetime (a fixed AWS quota).
pub(crate) const MAX_ON_DEMAND_ROTATIONS: usize = 25;

/// How a rotation was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RotationType {
    Automatic,
    OnDemand,
}

impl RotationType {
    pub fn as_str(self) -> &'static str {
        match self {
            RotationType::Automatic => "AUTOMATIC",
            RotationType::OnDemand => "ON_DEMAND",
        }
    }
}

/// Retries of a read-modify-write that lost a race. Each lost race means another writer
/// committed, so progress is guaranteed; the bound only stops a pathological livelock.
pub(crate) const UPDATE_RETRIES: usize = 64;

/// A key with its decrypted material, as cached.
pub(crate) struct LoadedKey {
    pub record: KeyRecord,
    pub arn: String,
    materials: Vec<Material>,
    /// The parsed key policy and the key's grants.
    pub authz: Arc<KeyAuthz>,
}

pub(crate) struct Material {
    pub id_hex: String,
    id: [u8; blob::MATERIAL_ID_LEN],
    pub created_ms: i64,
    pub rotation_type: Option<String>,
    secret: SecretBytes,
    /// The parsed private key, for asymmetric keys.
    asymmetric: Option<trent_crypto::AsymmetricKey>,
}

impl LoadedKey {
    pub fn state(&self) -> Result<KeyState, KmsError> {
        KeyState::parse(&self.record.state)
    }

    /// Every material version, oldest first.
    pub fn materials(&self) -> &[Material] {
        &self.materials
    }

    fn material(&self, id: &[u8; blob::MATERIAL_ID_LEN]) -> Option<&Material> {
        self.materials.iter().find(|m| &m.id == id)
    }

    /// The current material's secret (an HMAC key, for HMAC keys).
    pub(crate) fn current_secret(&self) -> Result<&SecretBytes, KmsError> {
        Ok(&self.current_material()?.secret)
    }

    /// What kind of key this is.
    pub(crate) fn kind(&self) -> Result<KeyKind, KmsError> {
        KeyKind::from_spec(&self.record.key_spec)
            .ok_or(KmsError::Internal("unknown key spec in store"))
    }

    /// The parsed private key of an asymmetric key's current material.
    pub(crate) fn asymmetric_key(&self) -> Result<&trent_crypto::AsymmetricKey, KmsError> {
        self.current_material()?
            .asymmetric
            .as_ref()
            .ok_or(KmsError::Internal(
                "asymmetric key without a parsed private key",
            ))
    }

    fn current_material(&self) -> Result<&Material, KmsError> {
        self.materials
            .iter()
            .find(|m| m.id_hex == self.record.current_material_id)
            .ok_or(KmsError::Internal("current key material missing"))
    }
}

/// The result of opening a ciphertext blob.
pub(crate) struct Opened {
    pub key: Arc<LoadedKey>,
    pub plaintext: SecretBytes,
    pub material_id: String,
}

/// The KMS service. Cheap to share behind an `Arc`.
pub struct Kms {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keys: RwLock<HashMap<String, Arc<LoadedKey>>>,
    aliases: RwLock<HashMap<String, String>>,
    /// Bumped by every invalidation of the two caches. A read from the store fills a cache
    /// only if no invalidation happened since it began, so an entry read before a change
    /// (made here or on another node) cannot outlive the invalidation that change caused.
    generation: AtomicU64,
    usage: usage::UsageNotes,
    /// Regions this deployment serves (where replicas may be made); empty means any region name.
    regions: Vec<String>,
    /// Request quotas of the key-dependent cryptographic operations; `None`: no quotas.
    key_quota: Option<Arc<dyn KeyQuota>>,
}

fn cache_key(scope: &Scope, name: &str) -> String {
    let mut s = String::with_capacity(scope.account_id.len() + scope.region.len() + name.len() + 2);
    s.push_str(&scope.account_id);
    s.push('\0');
    s.push_str(&scope.region);
    s.push('\0');
    s.push_str(name);
    s
}

/// The answer to an operation that only a multi-Region primary key may perform.
pub(crate) fn not_primary(arn: &str, action: &str) -> KmsError {
    KmsError::UnsupportedOperation(format!(
        "{arn} is a multi-Region replica key. Only the primary key can {action}."
    ))
}

/// Whether an alias resolves for this operation, or the operation needs a key id or ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aliases {
    Allowed,
    Refused,
}

impl Kms {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Kms {
            store,
            clock,
            keys: RwLock::new(HashMap::new()),
            aliases: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            usage: usage::UsageNotes::default(),
            regions: Vec::new(),
            key_quota: None,
        }
    }

    /// Enforces request quotas on the cryptographic operations whose pool depends on the key
    /// (see [`KeyQuota`]). Calls made on a caller's behalf by another Trent service are not
    /// charged.
    #[must_use]
    pub fn with_key_quota(mut self, quota: Arc<dyn KeyQuota>) -> Self {
        self.key_quota = Some(quota);
        self
    }

    /// The regions this deployment serves, for ReplicateKey and UpdatePrimaryRegion. Empty (the
    /// default) means any well-formed region name.
    #[must_use]
    pub fn with_regions(mut self, regions: Vec<String>) -> Self {
        self.regions = regions;
        self
    }

    /// Whether `region` is one this deployment serves.
    pub fn serves_region(&self, region: &str) -> bool {
        if self.regions.is_empty() {
            model::is_region_name(region)
        } else {
            self.regions.iter().any(|r| r == region)
        }
    }

    /// Runs one operation: decodes `body`, validates, executes, encodes the response.
    pub async fn call(
        &self,
        caller: &Caller,
        operation: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        ops::dispatch(self, caller, operation, body).await
    }

    /// Every KMS operation Trent serves, by wire name.
    pub fn operations() -> &'static [&'static str] {
        ops::OPERATIONS
    }

    /// Whether `operation` is a KMS operation Trent serves.
    pub fn has_operation(operation: &str) -> bool {
        ops::OPERATIONS.contains(&operation)
    }

    /// Decodes `body` as the JSON request of `operation` without running it (no validation,
    /// no store): the protocol-layer parsing that [`call`](Self::call) starts with, for the fuzz
    /// targets. `None` if `operation` is unknown.
    pub fn decode_request(
        operation: &str,
        body: &[u8],
    ) -> Option<Result<(), trent_wire::ApiError>> {
        ops::decode_request(operation, body)
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Deletes every key whose waiting period has ended. Returns how many were deleted.
    pub async fn delete_due_keys(&self) -> Result<usize, KmsError> {
        let due = self.store.keys_due_for_deletion(self.now_ms()).await?;
        let mut deleted = 0;
        for (scope, key_id) in &due {
            let done = if model::is_multi_region_id(key_id) {
                self.delete_related_key(scope, key_id).await?
            } else {
                self.delete_single_key(scope, key_id).await?
            };
            self.forget_key(scope, key_id);
            self.aliases_changed();
            if done {
                deleted += 1;
                tracing::info!(key_arn = %model::key_arn(scope, key_id), "deleted KMS key after its waiting period");
            }
        }
        Ok(deleted)
    }

    /// Deletes a single-Region key whose waiting period ended, unless CancelKeyDeletion got in
    /// after the job picked it: the delete is version-checked against the record read here.
    async fn delete_single_key(&self, scope: &Scope, key_id: &str) -> Result<bool, KmsError> {
        for _ in 0..UPDATE_RETRIES {
            let Some(key) = self.store.get_key(scope, key_id).await? else {
                return Ok(false);
            };
            if key.deletion_ms.is_none_or(|due| due > self.now_ms()) {
                return Ok(false);
            }
            match self.store.delete_key_with_updates(&key, &[]).await {
                Ok(_) => return Ok(true),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(KmsError::Internal("too many concurrent updates to one key"))
    }

    /// Deletes one key of a multi-Region set whose waiting period ended. A primary that still has
    /// replicas is never deleted. When the last replica of a primary in PendingReplicaDeletion
    /// goes, the primary becomes PendingDeletion and its waiting period starts, in the same
    /// transaction. Every other key of the set is version-checked, so a concurrent
    /// ScheduleKeyDeletion of the primary cannot miss the replica's deletion. Returns whether the
    /// key was deleted.
    async fn delete_related_key(&self, scope: &Scope, key_id: &str) -> Result<bool, KmsError> {
        for _ in 0..UPDATE_RETRIES {
            let set = self.store.related_keys(&scope.account_id, key_id).await?;
            let Some(key) = set.iter().find(|k| k.scope == *scope).cloned() else {
                return Ok(false);
            };
            let now = self.now_ms();
            if key.deletion_ms.is_none_or(|due| due > now) {
                // Deletion was cancelled after the job picked the key.
                return Ok(false);
            }
            let mut others: Vec<KeyRecord> =
                set.into_iter().filter(|k| k.scope != *scope).collect();
            if model::is_primary(&key) && !others.is_empty() {
                tracing::warn!(key_arn = %model::key_arn(scope, key_id), "not deleting a multi-Region primary key that has replicas");
                return Ok(false);
            }
            if let [primary] = others.as_mut_slice()
                && model::is_primary(primary)
                && primary.state == KeyState::PendingReplicaDeletion.as_str()
            {
                let days = primary.pending_window_days.unwrap_or(30);
                primary.state = KeyState::PendingDeletion.as_str().to_string();
                primary.deletion_ms = Some(now + days * DAY_MS);
            }
            match self.store.delete_key_with_updates(&key, &others).await {
                Ok(_) => {
                    for k in &others {
                        self.forget_key(&k.scope, key_id);
                    }
                    return Ok(true);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(KmsError::Internal("too many concurrent updates to one key"))
    }

    /// Rotates every key whose automatic rotation is due. Keys that are not Enabled keep their
    /// due date and rotate once they are enabled again, as in AWS. Returns how many rotated.
    pub async fn rotate_due_keys(&self) -> Result<usize, KmsError> {
        let due = self.store.keys_due_for_rotation(self.now_ms()).await?;
        let mut rotated = 0;
        for (scope, key_id) in &due {
            let Some(key) = self.load(scope, key_id).await? else {
                continue;
            };
            match self.rotate(&key, RotationType::Automatic).await {
                Ok(_) => {
                    rotated += 1;
                    tracing::info!(key_arn = %key.arn, "rotated KMS key material on schedule");
                }
                Err(KmsError::Disabled(_) | KmsError::InvalidState(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(rotated)
    }

    /// Gives a key new current material. Automatic rotations also move the schedule on by one
    /// period; on-demand rotations leave it alone and count against the per-key limit.
    pub(crate) async fn rotate(
        &self,
        key: &LoadedKey,
        kind: RotationType,
    ) -> Result<KeyRecord, KmsError> {
        let scope = &key.record.scope;
        for _ in 0..UPDATE_RETRIES {
            let mut record = self.committed_record(key).await?;
            if record.multi_region && !model::is_primary(&record) {
                return match kind {
                    // The job also finds replicas (they carry the shared schedule); the
                    // primary's rotation gives them their material.
                    RotationType::Automatic => Ok(record),
                    RotationType::OnDemand => Err(not_primary(&key.arn, "rotate its key material")),
                };
            }
            let state = KeyState::parse(&record.state)?;
            if state != KeyState::Enabled {
                return Err(state.invalid_state_error(&key.arn));
            }
            let now = self.now_ms();
            match kind {
                RotationType::Automatic => {
                    let Some(period) = record.rotation_period_days else {
                        // Rotation was disabled after the job picked the key.
                        return Ok(record);
                    };
                    if record.next_rotation_ms.is_none_or(|due| due > now) {
                        return Ok(record);
                    }
                    record.next_rotation_ms = Some(now + period * DAY_MS);
                }
                RotationType::OnDemand => {
                    let done = key
                        .materials
                        .iter()
                        .filter(|m| {
                            m.rotation_type.as_deref() == Some(RotationType::OnDemand.as_str())
                        })
                        .count();
                    if done >= MAX_ON_DEMAND_ROTATIONS {
                        return Err(KmsError::LimitExceeded(format!(
                            "{} has reached the limit of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations.",
                            key.arn
                        )));
                    }
                }
            }
            let material_id = trent_crypto::hex(&trent_crypto::random_array::<32>()?);
            record.current_material_id.clone_from(&material_id);
            let material = trent_store::KeyMaterial {
                material_id,
                created_ms: now,
                rotation_type: Some(kind.as_str().to_string()),
                secret: SecretBytes::random(32)?,
            };
            // Key material is shared by a multi-Region set: every replica gets the new
            // material, and the schedule, in the same transaction.
            let mut keys = vec![record];
            if let Some(primary) = keys.first().cloned()
                && primary.multi_region
            {
                for mut replica in self
                    .store
                    .related_keys(&scope.account_id, &primary.key_id)
                    .await?
                    .into_iter()
                    .filter(|k| k.scope != primary.scope)
                {
                    replica
                        .current_material_id
                        .clone_from(&primary.current_material_id);
                    replica.rotation_period_days = primary.rotation_period_days;
                    replica.next_rotation_ms = primary.next_rotation_ms;
                    keys.push(replica);
                }
            }
            match self.store.add_key_material_to_keys(&keys, &material).await {
                Ok(versions) => {
                    for (k, v) in keys.iter_mut().zip(versions) {
                        k.version = v;
                        self.forget_key(&k.scope, &k.key_id);
                    }
                    return keys
                        .into_iter()
                        .next()
                        .ok_or(KmsError::Internal("rotated key missing"));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(KmsError::Internal("too many concurrent updates to one key"))
    }

    /// The MultiRegionConfiguration of a key, read from the store: its role and every key of its
    /// set. `None` for single-Region keys.
    pub(crate) async fn multi_region_configuration(
        &self,
        record: &KeyRecord,
    ) -> Result<Option<model::MultiRegionConfiguration>, KmsError> {
        if !record.multi_region {
            return Ok(None);
        }
        let primary_region = record.primary_region.clone().ok_or(KmsError::Internal(
            "multi-Region key without a primary region",
        ))?;
        let account = &record.scope.account_id;
        let member = |region: String| model::MultiRegionKey {
            arn: model::key_arn(&Scope::new(account.clone(), region.clone()), &record.key_id),
            region,
        };
        let replica_keys = self
            .store
            .related_keys(account, &record.key_id)
            .await?
            .into_iter()
            .filter(|k| k.multi_region && k.scope.region != primary_region)
            .map(|k| member(k.scope.region))
            .collect();
        Ok(Some(model::MultiRegionConfiguration {
            multi_region_key_type: if model::is_primary(record) {
                "PRIMARY"
            } else {
                "REPLICA"
            },
            primary_key: member(primary_region),
            replica_keys,
        }))
    }

    /// KeyMetadata of a record, with its MultiRegionConfiguration when it is a multi-Region key.
    pub(crate) async fn key_metadata(
        &self,
        record: &KeyRecord,
    ) -> Result<model::KeyMetadata, KmsError> {
        let mut metadata = model::KeyMetadata::from_record(record);
        metadata.multi_region_configuration = self.multi_region_configuration(record).await?;
        Ok(metadata)
    }

    /// Read-modify-write of a key together with every other key of its multi-Region set, in one
    /// store transaction, each version-checked. `change` sees the freshest committed records: the
    /// key itself, then the others (empty for a single-Region key). Returns the key's new record.
    pub(crate) async fn update_key_set(
        &self,
        key: &LoadedKey,
        mut change: impl FnMut(&mut KeyRecord, &mut [KeyRecord]) -> Result<(), KmsError>,
    ) -> Result<KeyRecord, KmsError> {
        let scope = &key.record.scope;
        if !key.record.multi_region {
            return self.update_key(key, |r| change(r, &mut [])).await;
        }
        for _ in 0..UPDATE_RETRIES {
            let set = self
                .store
                .related_keys(&scope.account_id, &key.record.key_id)
                .await?;
            let (mine, mut others): (Vec<KeyRecord>, Vec<KeyRecord>) =
                set.into_iter().partition(|k| k.scope == *scope);
            let Some(mut record) = mine.into_iter().next() else {
                self.forget_key(scope, &key.record.key_id);
                return Err(KmsError::NotFound(format!(
                    "Key '{}' does not exist",
                    key.arn
                )));
            };
            change(&mut record, &mut others)?;
            let mut keys = vec![record];
            keys.append(&mut others);
            match self.store.update_keys(&keys).await {
                Ok(versions) => {
                    for (k, v) in keys.iter_mut().zip(versions) {
                        k.version = v;
                        self.forget_key(&k.scope, &k.key_id);
                    }
                    return keys
                        .into_iter()
                        .next()
                        .ok_or(KmsError::Internal("updated key missing"));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(KmsError::Internal("too many concurrent updates to one key"))
    }

    // --- resolution and caching ---

    /// Resolves a KeyId member to a key and authorizes `access` on it, loading and caching the
    /// key only once authorization has passed. Key and alias ARNs of another account resolve
    /// there for the operations AWS allows across accounts.
    pub(crate) async fn resolve(
        &self,
        caller: &Caller,
        input: &str,
        aliases: Aliases,
        access: &Access<'_>,
    ) -> Result<Arc<LoadedKey>, KmsError> {
        let (scope, key_ref) =
            model::parse_key_ref_in(&caller.scope, input, authz::cross_account(access.action))?;
        let (key_id, request_alias) = match key_ref {
            KeyRef::Id(id) => (id, None),
            KeyRef::Alias(name) => {
                if aliases == Aliases::Refused {
                    return Err(KmsError::NotFound(format!("Invalid keyId '{input}'")));
                }
                (self.alias_target(&scope, &name).await?, Some(name))
            }
        };
        self.load_for(caller, &scope, &key_id, access, request_alias.as_deref())
            .await?
            .ok_or_else(|| {
                KmsError::NotFound(format!(
                    "Key '{}' does not exist",
                    model::key_arn(&scope, &key_id)
                ))
            })
    }

    /// The key id a KeyId member names, without loading or authorizing anything.
    pub(crate) async fn key_id_of(
        &self,
        caller: &Caller,
        input: &str,
        action: &'static str,
    ) -> Result<String, KmsError> {
        let (scope, key_ref) =
            model::parse_key_ref_in(&caller.scope, input, authz::cross_account(action))?;
        match key_ref {
            KeyRef::Id(id) => Ok(id),
            KeyRef::Alias(name) => self.alias_target(&scope, &name).await,
        }
    }

    /// A key, if it exists and `access` is authorized on it. No key material is decrypted
    /// before authorization passes.
    pub(crate) async fn load_for(
        &self,
        caller: &Caller,
        scope: &Scope,
        key_id: &str,
        access: &Access<'_>,
        request_alias: Option<&str>,
    ) -> Result<Option<Arc<LoadedKey>>, KmsError> {
        if let Some(key) = self.cached(scope, key_id)? {
            caller.touched.note(&key.arn);
            self.charge(caller, &key.record, access)?;
            self.authorize(
                caller,
                &key.record,
                &key.arn,
                &key.authz,
                access,
                request_alias,
            )
            .await?;
            return Ok(Some(self.unexpired(key)));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let Some((record, key_authz)) = self.fetch_record(scope, key_id).await? else {
            return Ok(None);
        };
        let arn = model::key_arn(scope, key_id);
        caller.touched.note(&arn);
        self.charge(caller, &record, access)?;
        self.authorize(caller, &record, &arn, &key_authz, access, request_alias)
            .await?;
        Ok(Some(self.materialize(record, key_authz, generation).await?))
    }

    /// Charges a cryptographic call to the request quota of its key's type, once per call.
    fn charge(
        &self,
        caller: &Caller,
        record: &KeyRecord,
        access: &Access<'_>,
    ) -> Result<(), KmsError> {
        let Some(quota) = &self.key_quota else {
            return Ok(());
        };
        if access.via_service.is_some()
            || !KEY_QUOTA_ACTIONS.contains(&access.action)
            || !caller.touched.first_charge()
        {
            return Ok(());
        }
        let pool = KeyKind::from_spec(&record.key_spec).map_or(KeyPool::Symmetric, KeyPool::of);
        if quota.try_acquire(&caller.scope, pool) {
            Ok(())
        } else {
            Err(KmsError::Throttling)
        }
    }

    async fn authorize(
        &self,
        caller: &Caller,
        record: &KeyRecord,
        arn: &str,
        key_authz: &KeyAuthz,
        access: &Access<'_>,
        request_alias: Option<&str>,
    ) -> Result<(), KmsError> {
        let aliases = if authz::wants_aliases(caller, key_authz) {
            let list = self
                .store
                .list_aliases(&record.scope, Some(&record.key_id), None, 1000)
                .await?;
            Some(list.into_iter().map(|a| a.alias_name).collect())
        } else {
            None
        };
        let view = KeyView {
            record,
            arn,
            authz: key_authz,
            aliases,
        };
        authz::authorize_key(caller, &view, access, request_alias)
    }

    async fn alias_target(&self, scope: &Scope, alias_name: &str) -> Result<String, KmsError> {
        let ck = cache_key(scope, alias_name);
        if let Some(id) = self
            .aliases
            .read()
            .map_err(|_| KmsError::Internal("alias cache poisoned"))?
            .get(&ck)
        {
            return Ok(id.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let alias = self
            .store
            .get_alias(scope, alias_name)
            .await?
            .ok_or_else(|| {
                KmsError::NotFound(format!(
                    "Alias '{}' is not found.",
                    model::alias_arn(scope, alias_name)
                ))
            })?;
        let mut cache = self
            .aliases
            .write()
            .map_err(|_| KmsError::Internal("alias cache poisoned"))?;
        if self.generation.load(Ordering::SeqCst) == generation {
            if cache.len() >= KEY_CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(ck, alias.key_id.clone());
        }
        Ok(alias.key_id)
    }

    fn cached(&self, scope: &Scope, key_id: &str) -> Result<Option<Arc<LoadedKey>>, KmsError> {
        Ok(self
            .keys
            .read()
            .map_err(|_| KmsError::Internal("key cache poisoned"))?
            .get(&cache_key(scope, key_id))
            .cloned())
    }

    /// A key with its material, from the cache or the store, for Trent's own work (the
    /// scheduler, multi-Region bookkeeping): no caller, no authorization. `None` if it does not
    /// exist.
    pub(crate) async fn load(
        &self,
        scope: &Scope,
        key_id: &str,
    ) -> Result<Option<Arc<LoadedKey>>, KmsError> {
        if let Some(key) = self.cached(scope, key_id)? {
            return Ok(Some(self.unexpired(key)));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let Some((record, key_authz)) = self.fetch_record(scope, key_id).await? else {
            return Ok(None);
        };
        Ok(Some(self.materialize(record, key_authz, generation).await?))
    }

    /// A key's record with what authorization needs (parsed policy, grants), from the store,
    /// without its material.
    async fn fetch_record(
        &self,
        scope: &Scope,
        key_id: &str,
    ) -> Result<Option<(KeyRecord, Arc<KeyAuthz>)>, KmsError> {
        let Some(record) = self.store.get_key(scope, key_id).await? else {
            return Ok(None);
        };
        let grants = self.store.key_grants(scope, key_id).await?;
        let key_authz = Arc::new(KeyAuthz::new(&record, grants)?);
        Ok(Some((record, key_authz)))
    }

    /// Decrypts a key's material versions and caches the key, unless the cache was invalidated
    /// since `generation` (read before the record was).
    async fn materialize(
        &self,
        record: KeyRecord,
        key_authz: Arc<KeyAuthz>,
        generation: u64,
    ) -> Result<Arc<LoadedKey>, KmsError> {
        let scope = record.scope.clone();
        let key_id = record.key_id.clone();
        let asymmetric_spec = KeyKind::from_spec(&record.key_spec).and_then(KeyKind::asymmetric);
        let materials = self
            .store
            .key_materials(&scope, &key_id)
            .await?
            .into_iter()
            .map(|m| {
                let id = trent_crypto::unhex(&m.material_id)
                    .and_then(|v| <[u8; blob::MATERIAL_ID_LEN]>::try_from(v).ok())
                    .ok_or(KmsError::Internal("malformed material id in store"))?;
                let asymmetric = asymmetric_spec
                    .map(|spec| trent_crypto::AsymmetricKey::parse(spec, &m.secret))
                    .transpose()?;
                Ok(Material {
                    id_hex: m.material_id,
                    id,
                    created_ms: m.created_ms,
                    rotation_type: m.rotation_type,
                    secret: m.secret,
                    asymmetric,
                })
            })
            .collect::<Result<Vec<_>, KmsError>>()?;
        let loaded = Arc::new(LoadedKey {
            arn: model::key_arn(&scope, &key_id),
            record,
            materials,
            authz: key_authz,
        });
        let mut cache = self
            .keys
            .write()
            .map_err(|_| KmsError::Internal("key cache poisoned"))?;
        if self.generation.load(Ordering::SeqCst) != generation {
            drop(cache);
            return Ok(self.unexpired(loaded));
        }
        if cache.len() >= KEY_CACHE_CAPACITY {
            // Evict one entry; its material is zeroized when the last request holding it ends.
            if let Some(victim) = cache.keys().next().cloned() {
                cache.remove(&victim);
            }
        }
        cache.insert(cache_key(&scope, &key_id), Arc::clone(&loaded));
        drop(cache);
        Ok(self.unexpired(loaded))
    }

    /// Imported material past its `ValidTo` is unusable from that moment, not only once the
    /// scheduler has deleted it: the key is seen as PendingImport, without material.
    fn unexpired(&self, key: Arc<LoadedKey>) -> Arc<LoadedKey> {
        let expired = key.record.valid_to_ms.is_some_and(|t| t <= self.now_ms())
            && matches!(
                KeyState::parse(&key.record.state),
                Ok(KeyState::Enabled | KeyState::Disabled)
            );
        if !expired {
            return key;
        }
        let mut record = key.record.clone();
        record.state = KeyState::PendingImport.as_str().to_string();
        record.valid_to_ms = None;
        record.expiration_model = None;
        Arc::new(LoadedKey {
            record,
            arn: key.arn.clone(),
            materials: Vec::new(),
            authz: Arc::clone(&key.authz),
        })
    }

    pub(crate) fn forget_key(&self, scope: &Scope, key_id: &str) {
        if let Ok(mut cache) = self.keys.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            cache.remove(&cache_key(scope, key_id));
        }
    }

    pub(crate) fn aliases_changed(&self) {
        if let Ok(mut cache) = self.aliases.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            cache.clear();
        }
    }

    /// Drops what a change committed by another node makes stale (see
    /// [`trent_store::Store::subscribe_changes`]).
    pub fn apply_change(&self, change: &Change) {
        match change {
            Change::Key { scope, key_id } => self.forget_key(scope, key_id),
            Change::Alias { .. } => self.aliases_changed(),
            Change::All => {
                if let Ok(mut cache) = self.keys.write() {
                    self.generation.fetch_add(1, Ordering::SeqCst);
                    cache.clear();
                }
                self.aliases_changed();
            }
            Change::Parameter { .. } | Change::Secret { .. } | Change::Iam { .. } => {}
        }
    }

    /// The key's record as committed in the store, for a read-modify-write. A key deleted
    /// meanwhile is dropped from the cache and answers NotFoundException.
    pub(crate) async fn committed_record(&self, key: &LoadedKey) -> Result<KeyRecord, KmsError> {
        let scope = &key.record.scope;
        match self.store.get_key(scope, &key.record.key_id).await? {
            Some(record) => Ok(record),
            None => {
                self.forget_key(scope, &key.record.key_id);
                Err(KmsError::NotFound(format!(
                    "Key '{}' does not exist",
                    key.arn
                )))
            }
        }
    }

    /// Read-modify-write of a key's record. `change` sees the freshest stored record and may
    /// refuse (state checks belong there, so they are made against what is committed).
    pub(crate) async fn update_key(
        &self,
        key: &LoadedKey,
        mut change: impl FnMut(&mut KeyRecord) -> Result<(), KmsError>,
    ) -> Result<KeyRecord, KmsError> {
        let scope = &key.record.scope;
        for _ in 0..UPDATE_RETRIES {
            let mut record = self.committed_record(key).await?;
            change(&mut record)?;
            match self.store.update_key(&record).await {
                Ok(version) => {
                    record.version = version;
                    self.forget_key(scope, &key.record.key_id);
                    return Ok(record);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(KmsError::Internal("too many concurrent updates to one key"))
    }

    // --- the cryptographic core ---

    /// Checks that a key can be used for symmetric encryption right now.
    pub(crate) fn check_encrypt_usable(key: &LoadedKey) -> Result<(), KmsError> {
        Cipher::for_key(key, None).map(|_| ())
    }

    /// Checks that a key is Enabled and has `usage`.
    pub(crate) fn check_usable(key: &LoadedKey, usage: &str) -> Result<(), KmsError> {
        let state = key.state()?;
        if state != KeyState::Enabled {
            return Err(state.invalid_state_error(&key.arn));
        }
        if !key
            .materials
            .iter()
            .any(|m| m.id_hex == key.record.current_material_id)
        {
            // Only a key whose imported material is gone can get here; answer as its state
            // should have.
            return Err(KeyState::PendingImport.invalid_state_error(&key.arn));
        }
        if key.record.key_usage != usage {
            return Err(KmsError::InvalidKeyUsage(format!(
                "{} key usage is {} which is not valid for this operation.",
                key.arn, key.record.key_usage
            )));
        }
        Ok(())
    }

    /// Encrypts under the key's current material. Returns the blob and the material id.
    pub(crate) fn seal(
        &self,
        key: &LoadedKey,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<(Vec<u8>, String), KmsError> {
        let material = key.current_material()?;
        // One draw from the CSPRNG for both: it is a measurable share of a small Encrypt.
        let random: [u8; blob::SALT_LEN + GCM_NONCE_LEN] = trent_crypto::random_array()?;
        let (salt, nonce) = random.split_at(blob::SALT_LEN);
        let salt: [u8; blob::SALT_LEN] = salt.try_into().map_err(|_| KmsError::Internal("salt"))?;
        let nonce: [u8; GCM_NONCE_LEN] =
            nonce.try_into().map_err(|_| KmsError::Internal("nonce"))?;
        let scope = &key.record.scope;
        let mut out = blob::write_header(
            &scope.account_id,
            &scope.region,
            &key.record.key_id,
            &material.id,
            &salt,
            &nonce,
            plaintext.len(),
        )
        .map_err(|_| KmsError::Internal("key identity too long for the blob"))?;
        let header_len = out.len();
        let mut aad = Vec::with_capacity(header_len + 64);
        aad.extend_from_slice(&out);
        aad.extend_from_slice(&context.canonical_bytes());
        let call_key = Aes256GcmKey::derive_hkdf_sha256(
            material.secret.expose_secret(),
            &salt,
            &[blob::INFO],
        )?;
        out.extend_from_slice(plaintext);
        let tag = call_key.seal_in_place_separate_tag(
            nonce,
            &aad,
            out.get_mut(header_len..)
                .ok_or(KmsError::Internal("blob layout"))?,
        )?;
        out.extend_from_slice(&tag);
        Ok((out, material.id_hex.clone()))
    }

    /// Opens a ciphertext blob. `key_id` is the optional KeyId member: if given it must name the
    /// blob's key. Unknown, foreign or tampered blobs give AWS's errors and reveal nothing more.
    pub(crate) async fn open(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        context: &EncryptionContext,
        key_id: Option<&str>,
        access: &Access<'_>,
    ) -> Result<Opened, KmsError> {
        const INVALID: KmsError = KmsError::InvalidCiphertext(
            "The ciphertext is invalid, or was not encrypted under this encryption context.",
        );
        let parsed = blob::Blob::parse(ciphertext).map_err(|_| INVALID)?;
        let requested = match key_id {
            Some(id) => Some(self.resolve(caller, id, Aliases::Allowed, access).await?),
            None => None,
        };
        let no_access = || {
            KmsError::AccessDenied(
                "The ciphertext refers to a customer master key that does not exist, does not \
                 exist in this region, or you are not allowed to access."
                    .to_string(),
            )
        };
        let refuse = |requested: &Option<Arc<LoadedKey>>| match requested {
            Some(_) => KmsError::IncorrectKey,
            None => no_access(),
        };
        // A blob made in another region opens only under a multi-Region key: the related key of
        // the same id in the caller's region, which holds the same material. The header (with
        // its original region) stays the authenticated data, byte for byte.
        let other_region = parsed.region != caller.scope.region;
        let foreign = parsed.account_id != caller.scope.account_id;
        if (foreign
            && !(authz::cross_account(access.action) && model::is_account_id(parsed.account_id)))
            || (other_region && !model::is_multi_region_id(parsed.key_id))
        {
            return Err(refuse(&requested));
        }
        // The key lives in the blob's account (another one, for a cross-account Decrypt) and in
        // the caller's region (a multi-Region blob from elsewhere opens under the local replica).
        let scope = Scope::new(parsed.account_id, caller.scope.region.clone());
        let key = match &requested {
            Some(k) if k.record.scope == scope && k.record.key_id == parsed.key_id => Arc::clone(k),
            _ => self
                .load_for(caller, &scope, parsed.key_id, access, None)
                .await?
                .ok_or_else(|| refuse(&requested))?,
        };
        if other_region && !key.record.multi_region {
            return Err(refuse(&requested));
        }
        if let Some(req) = &requested
            && req.record.key_id != key.record.key_id
        {
            return Err(KmsError::IncorrectKey);
        }
        Self::check_encrypt_usable(&key)?;
        let material = key.material(&parsed.material_id).ok_or(INVALID)?;
        let call_key = Aes256GcmKey::derive_hkdf_sha256(
            material.secret.expose_secret(),
            &parsed.salt,
            &[blob::INFO],
        )?;
        let mut aad = Vec::with_capacity(parsed.header.len() + 64);
        aad.extend_from_slice(parsed.header);
        aad.extend_from_slice(&context.canonical_bytes());
        let plaintext = call_key
            .open(parsed.nonce, &aad, parsed.ciphertext_and_tag)
            .map_err(|_| INVALID)?;
        let material_id = material.id_hex.clone();
        Ok(Opened {
            key,
            plaintext,
            material_id,
        })
    }
}
