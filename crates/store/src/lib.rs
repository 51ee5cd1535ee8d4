//! Trent's persistence.
//!
//! - [`Store`]: the one trait every backend implements. Domain crates speak records, never SQL.
//! - [`SqliteStore`]: the embedded default (sqlx, WAL, `synchronous=FULL`, embedded migrations).
//! - [`PostgresStore`]: one database shared by several nodes ([`StoreLocation`] says which).
//! - [`Barrier`]: every secret column (key material, access-key secrets) is AES-256-GCM sealed
//!   under the root key with the row identity as AAD *inside the store*, so no caller can forget
//!   to encrypt and nothing secret reaches the database file in the clear.
//! - [`seal::Seal`]: how the root key is kept — the development [`FileSeal`] (a 0600 file),
//!   Shamir key shares, a PKCS#11 HSM, or another KMS — behind one trait.
//!
//! State is partitioned by [`Scope`] (account, region): every query names one.

#![forbid(unsafe_code)]

pub mod backup;
mod barrier;
pub mod clock;
pub mod kms_seal;
mod location;
pub mod pkcs11;
mod postgres;
mod rows;
pub mod seal;
mod secret_cache;
pub mod shamir;
mod sqlite;

pub use barrier::{Barrier, KeyringKeys, RowIdentity};
pub use location::{STORE_URL_FILE, StoreLocation, redact_url};
pub use postgres::PostgresStore;
pub use seal::{FileSeal, ROOT_KEY_FILE, Seal, SealError, Stored, Unseal, create_private};
pub use sqlite::{DATABASE_FILE, SqliteStore};

use trent_crypto::SecretBytes;

/// Errors from the store. Database details are kept as sources for the log; callers map every
/// variant but [`StoreError::AlreadyExists`] and [`StoreError::Conflict`] to an internal error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// From the audit chain's own connection ([`AuditAppender`]).
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("I/O error")]
    Io(#[from] std::io::Error),
    #[error("cryptographic failure in the barrier")]
    Crypto(#[source] trent_crypto::Error),
    #[error("a sealed value failed to open: wrong root key or tampered row")]
    BarrierOpen,
    #[error("the root key does not open this store")]
    WrongRootKey,
    #[error("corrupt stored data: {0}")]
    Corrupt(&'static str),
    #[error("the row already exists")]
    AlreadyExists,
    #[error("the row changed concurrently")]
    Conflict,
    #[error("a count limit would be exceeded")]
    LimitExceeded,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The partition every piece of state belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub account_id: String,
    pub region: String,
}

impl Scope {
    pub fn new(account_id: impl Into<String>, region: impl Into<String>) -> Self {
        Scope {
            account_id: account_id.into(),
            region: region.into(),
        }
    }
}

/// A KMS key's metadata. Secret material is kept apart, in [`KeyMaterial`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub scope: Scope,
    pub key_id: String,
    /// Creation order within the scope, assigned by the store; ignored by `create_key`.
    pub seq: i64,
    pub description: String,
    pub key_spec: String,
    pub key_usage: String,
    pub origin: String,
    pub key_manager: String,
    pub state: String,
    pub created_ms: i64,
    pub deletion_ms: Option<i64>,
    pub pending_window_days: Option<i64>,
    pub policy: String,
    pub tags: Vec<(String, String)>,
    pub current_material_id: String,
    pub multi_region: bool,
    /// Days between automatic rotations, while automatic rotation is enabled.
    pub rotation_period_days: Option<i64>,
    /// When the next automatic rotation is due, while automatic rotation is enabled.
    pub next_rotation_ms: Option<i64>,
    /// Incremented by every update; updates name the version they read.
    pub version: i64,
    /// When imported key material expires (Origin EXTERNAL, `KEY_MATERIAL_EXPIRES`).
    pub valid_to_ms: Option<i64>,
    /// `KEY_MATERIAL_EXPIRES` or `KEY_MATERIAL_DOES_NOT_EXPIRE` while imported material is present.
    pub expiration_model: Option<String>,
    /// For multi-Region keys, the region of the set's primary key (this key's own region if it is
    /// the primary); `None` for single-Region keys. The only multi-Region field that changes
    /// (UpdatePrimaryRegion), so `update_key` writes it.
    pub primary_region: Option<String>,
}

/// One version of a key's material, decrypted. Lives only in memory.
pub struct KeyMaterial {
    pub material_id: String,
    pub created_ms: i64,
    /// `AUTOMATIC` or `ON_DEMAND` for material made by a rotation; `None` for the first.
    pub rotation_type: Option<String>,
    pub secret: SecretBytes,
}

/// The parameters of one GetParametersForImport answer: the wrapping key pair's private half
/// (sealed by the barrier at rest) and what the import token is bound to.
pub struct ImportParameters {
    pub scope: Scope,
    /// The public half of the import token, naming this row.
    pub token_id: String,
    /// The key the token is for.
    pub key_id: String,
    /// SHA-256 of the token's secret half.
    pub token_check: Vec<u8>,
    pub wrapping_algorithm: String,
    pub wrapping_key_spec: String,
    pub created_ms: i64,
    pub valid_to_ms: i64,
    /// The RSA wrapping private key, PKCS#8 DER.
    pub private_key: SecretBytes,
}

/// A KMS grant. `operations` are KMS operation names; `constraints` is the GrantConstraints
/// JSON as validated by the KMS service; the token is kept only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub scope: Scope,
    pub key_id: String,
    pub grant_id: String,
    pub name: Option<String>,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    pub operations: Vec<String>,
    pub constraints: Option<String>,
    pub issuing_account: String,
    pub created_ms: i64,
    pub token_hash: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRecord {
    pub scope: Scope,
    pub alias_name: String,
    pub key_id: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// An access key issued by Trent. The secret is sealed by the barrier at rest.
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub account_id: String,
    pub principal_arn: String,
    pub user_name: String,
    pub status: String,
    pub created_ms: i64,
    pub secret: SecretBytes,
}

/// The last successful cryptographic operation with a key (GetKeyLastUsage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUsageRecord {
    pub scope: Scope,
    pub key_id: String,
    pub operation: String,
    pub used_ms: i64,
    pub request_id: String,
}

/// A Parameter Store parameter's head: what is shared by all its versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterRecord {
    pub scope: Scope,
    pub name: String,
    /// The parameter's tier: once Advanced, always Advanced.
    pub tier: String,
    pub tags: Vec<(String, String)>,
    pub latest_version: i64,
    /// Bumped by every write to the parameter; writes name the revision they read.
    pub revision: i64,
    /// How many versions are kept (read only; computed by the store).
    pub version_count: i64,
    /// The oldest version kept (read only; computed by the store).
    pub oldest_version: i64,
    /// The live parameter policies, as the Parameter Store service encodes them (JSON); `[]`
    /// when there are none. Opaque to the store.
    pub policies: String,
    /// The earliest time one of the policies is due, if any is pending: the scheduler's index.
    pub policy_due_ms: Option<i64>,
}

/// One version of a parameter. For `SecureString` the value is the KMS ciphertext blob, so no
/// plaintext secret is ever handed to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterVersionRecord {
    pub version: i64,
    pub param_type: String,
    pub value: Vec<u8>,
    pub description: Option<String>,
    pub allowed_pattern: Option<String>,
    pub data_type: String,
    pub tier: String,
    pub key_id: Option<String>,
    /// Labels on this version, in name order (read only; set with `set_parameter_labels`).
    pub labels: Vec<String>,
    pub modified_ms: i64,
    pub modified_user: String,
    /// The policies this version was written with (JSON, opaque to the store).
    pub policies: String,
}

/// One audit event as stored: its place in the hash chain, the columns LookupEvents filters
/// on, and the CloudTrail record itself (the exact bytes the chain hash covers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEventRecord {
    pub seq: i64,
    /// The account the event belongs to (`recipientAccountId`).
    pub account_id: String,
    pub event_time_ms: i64,
    pub event_id: String,
    pub event_name: String,
    pub event_source: String,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub read_only: bool,
    /// JSON array of `{"type", "ARN"}` objects.
    pub resources: String,
    pub record: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// The end of the audit chain: its last position and that event's hash (`None`: no event yet).
pub type AuditTail = Option<(i64, Vec<u8>)>;

/// Links audit events after a chain end: sets their positions, previous hashes and hashes
/// (see [`Store::append_audit_events_linked`]).
pub type AuditLinker = dyn Fn(&AuditTail, &mut [AuditEventRecord]) + Send + Sync;

/// The audit writer's own connection to the store. Its calls block: it belongs to one thread
/// that does nothing else, so appending a batch costs no hand-off between threads.
pub trait AuditAppender: Send {
    /// Appends events to the chain in one transaction, as [`Store::append_audit_events`]
    /// does: all are durable when this returns, or none is.
    fn append(&mut self, events: &[AuditEventRecord]) -> Result<()>;
    /// The last chain position and its hash, as [`Store::audit_tail`] reads them.
    fn tail(&mut self) -> Result<Option<(i64, Vec<u8>)>>;
}

/// A signed audit digest, covering events `first_seq..=last_seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDigestRecord {
    pub seq: i64,
    pub created_ms: i64,
    pub first_seq: i64,
    pub last_seq: i64,
    /// The digest JSON: exactly the signed bytes.
    pub body: String,
    pub signature: Vec<u8>,
}

/// A signed audit checkpoint: events up to `pruned_through` may be pruned, and the chain is
/// verified from there on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpointRecord {
    pub seq: i64,
    pub created_ms: i64,
    pub pruned_through: i64,
    /// The checkpoint JSON: exactly the signed bytes.
    pub body: String,
    pub signature: Vec<u8>,
}

/// The one attribute a LookupEvents request may filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAttribute {
    EventId,
    EventName,
    ReadOnly,
    Username,
    ResourceType,
    ResourceName,
    EventSource,
    AccessKeyId,
}

/// A page of one account's audit events, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub account_id: String,
    /// Inclusive bounds on the event time.
    pub start_ms: i64,
    pub end_ms: i64,
    pub attribute: Option<(AuditAttribute, String)>,
    /// Only events before this chain position (the page token).
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// A change event to publish, written in the same transaction as the change it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub event_id: String,
    pub created_ms: i64,
    /// The event document. Carries names and types, never secret values.
    pub body: String,
}

/// An event waiting in the outbox, with the delivery targets that already acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// Outbox order: events are delivered in this order.
    pub seq: i64,
    pub event: OutboxEvent,
    pub acked: Vec<String>,
}

/// A Secrets Manager secret: its metadata and its versions (without their values, which are
/// read one at a time with [`Store::get_secret_ciphertext`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub scope: Scope,
    pub name: String,
    /// `arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random characters>`.
    pub arn: String,
    pub description: Option<String>,
    /// The KMS key as the caller named it; `None` for the AWS managed key.
    pub kms_key_id: Option<String>,
    pub tags: Vec<(String, String)>,
    pub resource_policy: Option<String>,
    pub created_ms: i64,
    pub last_changed_ms: i64,
    pub last_accessed_ms: Option<i64>,
    /// When DeleteSecret scheduled the deletion.
    pub deleted_ms: Option<i64>,
    /// When the scheduler removes the secret (end of the recovery window).
    pub purge_ms: Option<i64>,
    /// Bumped by every write; writes name the revision they read.
    pub revision: i64,
    /// Every version kept, oldest first.
    pub versions: Vec<SecretVersionRecord>,
}

/// One version of a secret, without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVersionRecord {
    pub version_id: String,
    /// Staging labels; none means the version is deprecated.
    pub stages: Vec<String>,
    pub created_ms: i64,
    pub last_accessed_ms: Option<i64>,
    /// `string` or `binary`.
    pub kind: String,
    pub kms_key_arn: String,
}

/// A new version to insert: its record and the KMS ciphertext blob of its value.
pub struct NewSecretVersion {
    pub record: SecretVersionRecord,
    pub ciphertext: Vec<u8>,
}

/// One replica of a primary secret (Secrets Manager replication), kept beside the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretReplicaRecord {
    /// The replica's region.
    pub region: String,
    /// The replica's KMS key as the caller named it; `None` for `alias/aws/secretsmanager`.
    pub kms_key_id: Option<String>,
    /// `InSync`, `Failed` or `InProgress`.
    pub status: String,
    pub status_message: Option<String>,
    /// Whether the secret of the primary's name in `region` is this replica (false when
    /// replication failed before creating it, e.g. because the name was taken).
    pub present: bool,
}

/// One write of [`Store::write_secrets`], which applies a list of them in one transaction.
pub enum SecretWrite<'a> {
    /// Inserts a secret with `versions` ([`StoreError::AlreadyExists`] if the name is taken).
    Create {
        secret: &'a SecretRecord,
        versions: &'a [NewSecretVersion],
    },
    /// As [`Store::save_secret`], inserting `versions`.
    Save {
        secret: &'a SecretRecord,
        versions: &'a [NewSecretVersion],
    },
    /// Deletes a secret if its revision is still `revision` ([`StoreError::Conflict`] if not).
    Delete {
        scope: &'a Scope,
        name: &'a str,
        revision: i64,
    },
    /// Replaces the replica list of the primary secret `name` of `scope`.
    Replicas {
        scope: &'a Scope,
        name: &'a str,
        replicas: &'a [SecretReplicaRecord],
    },
}

/// A secret's rotation: its configuration, its schedule and the rotation under way, if any
/// (Secrets Manager). The progress is written after every step, so a rotation interrupted by a
/// stop resumes where it was.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretRotationRecord {
    /// RotationEnabled.
    pub enabled: bool,
    /// RotationLambdaARN: which rotator runs the steps.
    pub lambda_arn: Option<String>,
    /// The RotationRules as JSON (the Secrets Manager crate owns the shape).
    pub rules: String,
    pub last_rotated_ms: Option<i64>,
    /// The next rotation window, when rotation is enabled.
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    /// The pending version (ClientRequestToken) of the rotation under way.
    pub token: Option<String>,
    /// The RotationToken handed to the rotator, which PutSecretValue checks.
    pub rotation_token: Option<String>,
    /// The next step to run.
    pub step: Option<String>,
    /// `running`, or `failed` (tried again in the next window).
    pub state: Option<String>,
    pub attempts: i64,
    /// The step that failed and why, never a value.
    pub last_failure: Option<String>,
    pub last_failure_ms: Option<i64>,
}

/// Which kind of IAM principal an inline policy or an attachment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    User,
    Role,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Role => "role",
        }
    }
}

/// An IAM user. IAM is global: users belong to an account, not a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub account_id: String,
    pub user_name: String,
    /// `AIDA…`, the unique id (`aws:userid`).
    pub user_id: String,
    pub path: String,
    pub arn: String,
    pub created_ms: i64,
    pub tags: Vec<(String, String)>,
}

/// An IAM role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    pub account_id: String,
    pub role_name: String,
    /// `AROA…`, the unique id.
    pub role_id: String,
    pub path: String,
    pub arn: String,
    /// The trust policy (`AssumeRolePolicyDocument`), as submitted.
    pub trust_policy: String,
    pub description: Option<String>,
    pub max_session_duration: i64,
    pub created_ms: i64,
    pub tags: Vec<(String, String)>,
}

/// A customer managed policy (one version, `v1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPolicyRecord {
    pub account_id: String,
    pub policy_name: String,
    /// `ANPA…`.
    pub policy_id: String,
    pub path: String,
    pub arn: String,
    pub document: String,
    pub description: Option<String>,
    pub created_ms: i64,
    pub tags: Vec<(String, String)>,
    /// How many users and roles it is attached to (read only; computed by the store).
    pub attachment_count: i64,
}

/// Temporary credentials issued by STS AssumeRole. The secret is sealed by the barrier at rest;
/// the session token is kept only as its SHA-256.
pub struct SessionRecord {
    pub access_key_id: String,
    pub account_id: String,
    pub role_name: String,
    pub session_name: String,
    pub token_sha256: [u8; 32],
    pub secret: SecretBytes,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub session_tags: Vec<(String, String)>,
    /// The ARN of the principal that assumed the role.
    pub source_arn: String,
}

/// Why an IAM entity could not be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    NotFound,
    /// The user still has access keys.
    HasAccessKeys,
    /// The user or role still has inline policies.
    HasInlinePolicies,
    /// The user or role still has attached managed policies; the managed policy is still attached.
    HasAttachments,
}

/// The metadata of an access key (ListAccessKeys): no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyInfo {
    pub access_key_id: String,
    pub account_id: String,
    pub principal_arn: String,
    pub user_name: String,
    pub status: String,
    pub created_ms: i64,
}

/// A committed change that the other processes sharing a store must see: their caches drop what
/// it names. Delivered by [`Store::subscribe_changes`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// A key's metadata, material or grants.
    Key {
        scope: Scope,
        key_id: String,
    },
    Alias {
        scope: Scope,
        alias_name: String,
    },
    Parameter {
        scope: Scope,
        name: String,
    },
    Secret {
        scope: Scope,
        name: String,
    },
    /// Users, roles, policies, access keys or sessions of an account.
    Iam {
        account_id: String,
    },
    /// Notifications may have been missed (the connection that receives them was lost): every
    /// cache starts over.
    All,
}

impl Change {
    /// The notification payload: the kind and the fields, tab-separated (no name Trent accepts
    /// contains a tab).
    pub fn encode(&self) -> String {
        match self {
            Change::Key { scope, key_id } => {
                format!("k\t{}\t{}\t{key_id}", scope.account_id, scope.region)
            }
            Change::Alias { scope, alias_name } => {
                format!("a\t{}\t{}\t{alias_name}", scope.account_id, scope.region)
            }
            Change::Parameter { scope, name } => {
                format!("p\t{}\t{}\t{name}", scope.account_id, scope.region)
            }
            Change::Secret { scope, name } => {
                format!("s\t{}\t{}\t{name}", scope.account_id, scope.region)
            }
            Change::Iam { account_id } => format!("i\t{account_id}"),
            Change::All => "*".to_string(),
        }
    }

    /// The inverse of [`Change::encode`]; `None` for a payload it did not make.
    pub fn decode(payload: &str) -> Option<Change> {
        let mut parts = payload.split('\t');
        let kind = parts.next()?;
        let scoped = |parts: &mut std::str::Split<'_, char>| -> Option<(Scope, String)> {
            let account = parts.next()?;
            let region = parts.next()?;
            let name = parts.next()?;
            Some((Scope::new(account, region), name.to_string()))
        };
        let change = match kind {
            "k" => scoped(&mut parts).map(|(scope, key_id)| Change::Key { scope, key_id })?,
            "a" => {
                scoped(&mut parts).map(|(scope, alias_name)| Change::Alias { scope, alias_name })?
            }
            "p" => scoped(&mut parts).map(|(scope, name)| Change::Parameter { scope, name })?,
            "s" => scoped(&mut parts).map(|(scope, name)| Change::Secret { scope, name })?,
            "i" => Change::Iam {
                account_id: parts.next()?.to_string(),
            },
            "*" => Change::All,
            _ => return None,
        };
        parts.next().is_none().then_some(change)
    }
}

/// The storage seam. Implementations must be safe to share between tasks.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    // --- KMS keys ---

    /// Inserts a new key with its first material in one transaction. Keys for imported material
    /// (Origin EXTERNAL) start without material.
    async fn create_key(&self, key: &KeyRecord, material: Option<&KeyMaterial>) -> Result<()>;
    async fn get_key(&self, scope: &Scope, key_id: &str) -> Result<Option<KeyRecord>>;
    /// Replaces the mutable fields of `key` if its stored version is still `key.version`, and
    /// returns the new version. [`StoreError::Conflict`] if someone else updated it first.
    async fn update_key(&self, key: &KeyRecord) -> Result<i64>;
    /// Keys in creation order whose `seq` is greater than `after_seq`.
    async fn list_keys(&self, scope: &Scope, after_seq: i64, limit: u32) -> Result<Vec<KeyRecord>>;
    /// Every material version of a key, decrypted.
    async fn key_materials(&self, scope: &Scope, key_id: &str) -> Result<Vec<KeyMaterial>>;
    /// Adds a new material version and, in the same transaction, replaces the key's mutable
    /// fields (its `current_material_id` naming the new material) if the stored version is still
    /// `key.version`. Returns the new version; [`StoreError::Conflict`] if the key changed.
    async fn add_key_material(&self, key: &KeyRecord, material: &KeyMaterial) -> Result<i64>;
    /// [`Store::add_key_material`] for several keys at once — the keys of one multi-Region set —
    /// in one transaction: each gets `material` (under its own row identity) and its mutable
    /// fields replaced, version-checked. All or nothing; the new versions, in order.
    async fn add_key_material_to_keys(
        &self,
        keys: &[KeyRecord],
        material: &KeyMaterial,
    ) -> Result<Vec<i64>>;
    /// Every key of `account_id` with this key id, in any region, in region order: the keys of a
    /// multi-Region set (or the one key of a single-Region id).
    async fn related_keys(&self, account_id: &str, key_id: &str) -> Result<Vec<KeyRecord>>;
    /// [`Store::update_key`] for several keys in one transaction. All or nothing:
    /// [`StoreError::Conflict`] if any of them changed (or no longer exists).
    async fn update_keys(&self, keys: &[KeyRecord]) -> Result<Vec<i64>>;
    /// Inserts `key` with every material in `materials` and, in the same transaction, applies the
    /// version-checked updates of `related` (the keys it joins, so that a concurrent change to them
    /// — a rotation, say — makes this fail with [`StoreError::Conflict`] instead of leaving the new
    /// key behind). [`StoreError::AlreadyExists`] if the key exists. Returns `related`'s versions.
    async fn create_related_key(
        &self,
        key: &KeyRecord,
        materials: &[KeyMaterial],
        related: &[KeyRecord],
    ) -> Result<Vec<i64>>;
    /// Deletes `key` (if its stored version is still `key.version`), its materials and its
    /// aliases, and applies the version-checked updates of `related`, in one transaction.
    /// Returns `related`'s new versions.
    async fn delete_key_with_updates(
        &self,
        key: &KeyRecord,
        related: &[KeyRecord],
    ) -> Result<Vec<i64>>;
    /// Keys whose automatic rotation is due at or before `now_ms`, in any scope.
    async fn keys_due_for_rotation(&self, now_ms: i64) -> Result<Vec<(Scope, String)>>;
    /// Stores imported material, replacing a stored copy with the same material id, and in the
    /// same transaction replaces the key's mutable fields if the stored version is still
    /// `key.version`. Returns the new version; [`StoreError::Conflict`] if the key changed.
    async fn put_imported_material(&self, key: &KeyRecord, material: &KeyMaterial) -> Result<i64>;
    /// Deletes every material version of a key and, in the same transaction, replaces its mutable
    /// fields if the stored version is still `key.version`. Returns the new version.
    async fn delete_key_materials(&self, key: &KeyRecord) -> Result<i64>;
    /// Keys whose imported material expires at or before `now_ms`, in any scope.
    async fn keys_with_expired_material(&self, now_ms: i64) -> Result<Vec<(Scope, String)>>;
    /// Deletes a key, its materials, its import parameters and its aliases.
    async fn delete_key(&self, scope: &Scope, key_id: &str) -> Result<()>;
    /// Keys whose deletion date is at or before `now_ms`, in any scope.
    async fn keys_due_for_deletion(&self, now_ms: i64) -> Result<Vec<(Scope, String)>>;

    /// Records last-usage entries in one transaction; an entry older than the stored one for
    /// the same key is ignored. Entries for keys that no longer exist are dropped.
    async fn record_key_usage(&self, usage: &[KeyUsageRecord]) -> Result<()>;
    /// The last recorded usage of a key.
    async fn key_usage(&self, scope: &Scope, key_id: &str) -> Result<Option<KeyUsageRecord>>;

    // --- KMS import parameters ---

    /// [`StoreError::AlreadyExists`] if the token id is taken in this scope.
    async fn put_import_parameters(&self, params: &ImportParameters) -> Result<()>;
    async fn get_import_parameters(
        &self,
        scope: &Scope,
        token_id: &str,
    ) -> Result<Option<ImportParameters>>;
    /// Deletes import parameters that stopped being valid before `before_ms`; returns how many.
    async fn delete_import_parameters_before(&self, before_ms: i64) -> Result<u64>;

    // --- KMS aliases ---

    /// [`StoreError::AlreadyExists`] if the name is taken in this scope.
    async fn create_alias(&self, alias: &AliasRecord) -> Result<()>;
    async fn get_alias(&self, scope: &Scope, alias_name: &str) -> Result<Option<AliasRecord>>;
    /// Points an alias at another key. Returns false if the alias does not exist.
    async fn update_alias(
        &self,
        scope: &Scope,
        alias_name: &str,
        key_id: &str,
        now_ms: i64,
    ) -> Result<bool>;
    /// Returns false if the alias does not exist.
    async fn delete_alias(&self, scope: &Scope, alias_name: &str) -> Result<bool>;
    /// Aliases in name order after `after` (exclusive), optionally only those of one key.
    async fn list_aliases(
        &self,
        scope: &Scope,
        key_id: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AliasRecord>>;

    // --- Parameter Store ---

    async fn get_parameter(&self, scope: &Scope, name: &str) -> Result<Option<ParameterRecord>>;
    /// One version of a parameter; `None` for `version` means the latest.
    async fn get_parameter_version(
        &self,
        scope: &Scope,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<ParameterVersionRecord>>;
    /// The version a label is on.
    async fn get_parameter_version_by_label(
        &self,
        scope: &Scope,
        name: &str,
        label: &str,
    ) -> Result<Option<ParameterVersionRecord>>;
    /// Versions greater than `after_version`, oldest first.
    async fn parameter_versions(
        &self,
        scope: &Scope,
        name: &str,
        after_version: i64,
        limit: u32,
    ) -> Result<Vec<ParameterVersionRecord>>;
    /// Writes a new version. With `create`, inserts the head ([`StoreError::AlreadyExists`] if
    /// the name is taken; [`StoreError::LimitExceeded`] if `tier_limit` is set and the scope
    /// already holds that many parameters of the head's tier); otherwise replaces the head's
    /// tier, tags, policies and latest version if its stored revision is still `param.revision`
    /// ([`StoreError::Conflict`] if not). In the same transaction, deletes `drop_version` (the
    /// oldest, when the history is full) with its labels, and appends `event` to the outbox.
    /// Returns the new revision.
    async fn put_parameter_version(
        &self,
        param: &ParameterRecord,
        version: &ParameterVersionRecord,
        create: bool,
        drop_version: Option<i64>,
        tier_limit: Option<i64>,
        event: Option<&OutboxEvent>,
    ) -> Result<i64>;
    /// Moves each label of `add` onto `version` and removes the labels of `remove` from it,
    /// if the head's stored revision is still `param.revision` ([`StoreError::Conflict`] if
    /// not), appending `event` to the outbox in the same transaction. Returns the new revision.
    async fn set_parameter_labels(
        &self,
        param: &ParameterRecord,
        version: i64,
        add: &[String],
        remove: &[String],
        event: Option<&OutboxEvent>,
    ) -> Result<i64>;
    /// Replaces a parameter's tags if the head's stored revision is still `param.revision`
    /// ([`StoreError::Conflict`] if not). Returns the new revision.
    async fn set_parameter_tags(&self, param: &ParameterRecord) -> Result<i64>;
    /// Deletes a parameter with all its versions and labels. Returns false if it did not exist.
    async fn delete_parameter(&self, scope: &Scope, name: &str) -> Result<bool>;
    /// Deletes a parameter with all its versions and labels if its stored revision is still
    /// `param.revision` ([`StoreError::Conflict`] if it changed or is gone), appending `events`
    /// to the outbox in the same transaction.
    async fn delete_parameter_checked(
        &self,
        param: &ParameterRecord,
        events: &[OutboxEvent],
    ) -> Result<()>;
    /// Replaces a parameter's policies (and their due time) if the head's stored revision is
    /// still `param.revision` ([`StoreError::Conflict`] if not), appending `events` to the
    /// outbox in the same transaction. Returns the new revision.
    async fn set_parameter_policies(
        &self,
        param: &ParameterRecord,
        events: &[OutboxEvent],
    ) -> Result<i64>;
    /// Parameters with a policy due at or before `now_ms`, in any scope, earliest first.
    async fn parameters_with_due_policies(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<(Scope, String)>>;
    /// How many parameters the scope holds, of one tier or of all.
    async fn count_parameters(&self, scope: &Scope, tier: Option<&str>) -> Result<i64>;

    // --- Secrets Manager ---

    /// Creates a secret with its first version, if any. [`StoreError::AlreadyExists`] when the
    /// name is taken in the scope.
    async fn create_secret(
        &self,
        secret: &SecretRecord,
        version: Option<&NewSecretVersion>,
    ) -> Result<()>;
    async fn get_secret(&self, scope: &Scope, name: &str) -> Result<Option<SecretRecord>>;
    /// Writes a secret's metadata and the stages of its versions, drops the versions no longer
    /// listed and inserts `version`, if the stored revision is still `secret.revision`
    /// ([`StoreError::Conflict`] otherwise). Returns the new revision.
    async fn save_secret(
        &self,
        secret: &SecretRecord,
        version: Option<&NewSecretVersion>,
    ) -> Result<i64>;
    /// The ciphertext of one version.
    async fn get_secret_ciphertext(
        &self,
        scope: &Scope,
        name: &str,
        version_id: &str,
    ) -> Result<Option<Vec<u8>>>;
    /// Notes a read: the day of the secret's and the version's last access, if it moved on.
    async fn touch_secret(
        &self,
        scope: &Scope,
        name: &str,
        version_id: &str,
        day_ms: i64,
    ) -> Result<()>;
    /// Every secret of the scope, in name order.
    async fn list_secrets(&self, scope: &Scope) -> Result<Vec<SecretRecord>>;
    /// Deletes a secret if its revision is still `revision`; false if it was not there or moved.
    async fn delete_secret(&self, scope: &Scope, name: &str, revision: i64) -> Result<bool>;
    /// Secrets whose recovery window ended at or before `now_ms`, in any scope.
    async fn secrets_due_for_purge(&self, now_ms: i64, limit: u32) -> Result<Vec<(Scope, String)>>;

    // --- Secrets Manager replication ---

    /// Applies `writes` in one transaction: all of them or, on any error, none.
    async fn write_secrets(&self, writes: &[SecretWrite<'_>]) -> Result<()>;
    /// The replicas of the primary secret `name` of `scope`, in region order.
    async fn secret_replicas(&self, scope: &Scope, name: &str) -> Result<Vec<SecretReplicaRecord>>;
    /// The primary's region when the secret `name` of `scope` is a replica.
    async fn secret_primary_region(&self, scope: &Scope, name: &str) -> Result<Option<String>>;
    /// `(name, primary region)` of every secret of `scope` that takes part in replication:
    /// replicas (their primary's region) and primaries with replicas (their own region).
    async fn secret_primary_regions(&self, scope: &Scope) -> Result<Vec<(String, String)>>;

    // --- Secrets Manager rotation ---

    /// The rotation record of a secret, if it was ever given a rotation configuration.
    async fn get_secret_rotation(
        &self,
        scope: &Scope,
        name: &str,
    ) -> Result<Option<SecretRotationRecord>>;
    /// Creates or replaces the rotation record of an existing secret (removed with it).
    async fn put_secret_rotation(
        &self,
        scope: &Scope,
        name: &str,
        rotation: &SecretRotationRecord,
    ) -> Result<()>;
    /// Secrets with a rotation to run at `now_ms`, in any scope: one under way (`running`), or
    /// rotation enabled and the window started.
    async fn secret_rotations_due(&self, now_ms: i64, limit: u32) -> Result<Vec<(Scope, String)>>;

    // --- event outbox ---

    /// The oldest events waiting for delivery, in outbox order.
    async fn pending_events(&self, limit: u32) -> Result<Vec<PendingEvent>>;
    /// Records the targets that acknowledged an event.
    async fn ack_event(&self, seq: i64, acked: &[String]) -> Result<()>;
    /// Removes a delivered event.
    async fn delete_event(&self, seq: i64) -> Result<()>;
    /// Parameters whose name starts with `prefix` (which ends with `/`), with their latest
    /// version, in name order after `after`. Without `recursive`, only names with no further
    /// `/` after the prefix.
    async fn list_parameters_by_path(
        &self,
        scope: &Scope,
        prefix: &str,
        recursive: bool,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(ParameterRecord, ParameterVersionRecord)>>;

    // --- KMS grants ---

    /// Adds a grant to an existing key ([`StoreError::Conflict`] if the key is gone,
    /// [`StoreError::AlreadyExists`] if the grant id or token is taken).
    async fn create_grant(&self, grant: &GrantRecord) -> Result<()>;
    /// A key's grants, oldest first.
    async fn key_grants(&self, scope: &Scope, key_id: &str) -> Result<Vec<GrantRecord>>;
    /// The grant whose token hashes to `token_hash`.
    async fn grant_by_token(&self, token_hash: &[u8]) -> Result<Option<GrantRecord>>;
    /// Grants in `region` (any account) that `retiring_principal` may retire, oldest first.
    async fn retirable_grants(
        &self,
        region: &str,
        retiring_principal: &str,
    ) -> Result<Vec<GrantRecord>>;
    /// Deletes a grant. Returns false if it did not exist.
    async fn delete_grant(&self, scope: &Scope, key_id: &str, grant_id: &str) -> Result<bool>;

    // --- audit trail ---

    /// Appends events to the audit chain in one transaction: all are durable when this
    /// returns, or none is. [`StoreError::AlreadyExists`] if a position is taken;
    /// [`StoreError::Conflict`] if the chain no longer ends where the first event was linked
    /// from (another process sharing the store appended meanwhile).
    async fn append_audit_events(&self, events: &[AuditEventRecord]) -> Result<()>;
    /// Appends `events` after the chain's end as it is when they are written: `link` is given
    /// that end (position and hash) and sets the events' positions and hashes, and the events
    /// are written in one transaction. A store shared by several processes holds its chain lock
    /// from reading the end to the commit, so writers never have to retry; the default, for a
    /// store with one writer, links after [`Store::audit_tail`].
    async fn append_audit_events_linked(
        &self,
        events: &mut [AuditEventRecord],
        link: &crate::AuditLinker,
    ) -> Result<()> {
        let tail = self.audit_tail().await?;
        link(&tail, events);
        self.append_audit_events(events).await
    }
    /// A connection of its own for the audit writer, used from a thread of its own, when the
    /// store has one to give; `None`: the writer uses [`Store::append_audit_events`].
    fn audit_appender(&self) -> Result<Option<Box<dyn AuditAppender>>> {
        Ok(None)
    }
    /// The last chain position and its hash.
    async fn audit_tail(&self) -> Result<Option<(i64, Vec<u8>)>>;
    /// Events after chain position `after_seq`, in chain order.
    async fn audit_events(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEventRecord>>;
    /// One account's events matching `query`, newest first.
    async fn lookup_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEventRecord>>;
    /// Appends a digest; [`StoreError::AlreadyExists`] if its position is taken.
    async fn append_audit_digest(&self, digest: &AuditDigestRecord) -> Result<()>;
    /// Every digest, oldest first.
    async fn audit_digests(&self) -> Result<Vec<AuditDigestRecord>>;
    /// The newest digest.
    async fn last_audit_digest(&self) -> Result<Option<AuditDigestRecord>>;
    /// The chain position of the first event at or after `time_ms` (`None` if none is).
    async fn first_audit_seq_since(&self, time_ms: i64) -> Result<Option<i64>>;
    /// Appends a retention checkpoint; [`StoreError::AlreadyExists`] if its position is taken.
    async fn append_audit_checkpoint(&self, checkpoint: &AuditCheckpointRecord) -> Result<()>;
    /// Every retention checkpoint, oldest first.
    async fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpointRecord>>;
    /// Deletes at most `limit` of the oldest events at or before chain position `through_seq`,
    /// in one transaction; returns how many were deleted.
    async fn prune_audit_events(&self, through_seq: i64, limit: u32) -> Result<u64>;
    /// A secret bookkeeping value, sealed by the barrier (e.g. the audit signing key).
    async fn get_sealed_meta(&self, name: &str) -> Result<Option<SecretBytes>>;
    /// Seals and sets a secret bookkeeping value if it is not set yet; returns false if it was.
    async fn put_sealed_meta_once(&self, name: &str, value: &SecretBytes) -> Result<bool>;

    // --- access keys ---

    /// A non-secret bookkeeping value (e.g. which access key is the root's).
    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Sets a bookkeeping value if it is not set yet; returns false if it was.
    async fn put_meta_once(&self, name: &str, value: &[u8]) -> Result<bool>;

    async fn put_access_key(&self, key: &AccessKeyRecord) -> Result<()>;
    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>>;

    // --- IAM and STS (global: keyed by account, never by region) ---

    /// Records an account and its root access key in one transaction;
    /// [`StoreError::AlreadyExists`] if the account exists.
    async fn create_account(
        &self,
        account_id: &str,
        created_ms: i64,
        root_key: Option<&AccessKeyRecord>,
    ) -> Result<()>;
    async fn account_exists(&self, account_id: &str) -> Result<bool>;
    /// Stores a new access key for a user or root if its principal has fewer than `max` keys,
    /// checked in the same statement. Returns false (and stores nothing) at the limit.
    async fn create_access_key(&self, key: &AccessKeyRecord, max: u32) -> Result<bool>;
    /// Access keys (without secrets) of one principal, oldest first.
    async fn list_access_keys(&self, principal_arn: &str) -> Result<Vec<AccessKeyInfo>>;
    /// Returns false if the key does not exist.
    async fn set_access_key_status(&self, access_key_id: &str, status: &str) -> Result<bool>;
    /// Returns false if the key does not exist.
    async fn delete_access_key(&self, access_key_id: &str) -> Result<bool>;

    /// [`StoreError::AlreadyExists`] if the name is taken (without regard to case).
    async fn create_user(&self, user: &UserRecord) -> Result<()>;
    async fn get_user(&self, account_id: &str, user_name: &str) -> Result<Option<UserRecord>>;
    /// Users in name order after `after`, whose path starts with `path_prefix`.
    async fn list_users(
        &self,
        account_id: &str,
        path_prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserRecord>>;
    /// Deletes a user that has no access keys, inline policies or attached policies.
    async fn delete_user(&self, account_id: &str, user_name: &str) -> Result<DeleteOutcome>;
    /// Replaces a user's or role's tags if they are still `expected` (compare-and-set, so two
    /// concurrent tag writes cannot lose one another): [`StoreError::Conflict`] if they changed,
    /// `false` if the user or role does not exist.
    async fn set_principal_tags(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        name: &str,
        expected: &[(String, String)],
        tags: &[(String, String)],
    ) -> Result<bool>;

    /// [`StoreError::AlreadyExists`] if the name is taken (without regard to case).
    async fn create_role(&self, role: &RoleRecord) -> Result<()>;
    async fn get_role(&self, account_id: &str, role_name: &str) -> Result<Option<RoleRecord>>;
    async fn list_roles(
        &self,
        account_id: &str,
        path_prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RoleRecord>>;
    /// Deletes a role that has no inline or attached policies, and its sessions.
    async fn delete_role(&self, account_id: &str, role_name: &str) -> Result<DeleteOutcome>;

    /// Creates or replaces an inline policy. Returns false if the principal does not exist.
    async fn put_inline_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<bool>;
    async fn get_inline_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        policy_name: &str,
    ) -> Result<Option<String>>;
    /// `(name, document)` pairs in name order.
    async fn list_inline_policies(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<(String, String)>>;
    async fn delete_inline_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        policy_name: &str,
    ) -> Result<bool>;

    /// [`StoreError::AlreadyExists`] if the name is taken (without regard to case).
    async fn create_managed_policy(&self, policy: &ManagedPolicyRecord) -> Result<()>;
    async fn get_managed_policy(
        &self,
        account_id: &str,
        arn: &str,
    ) -> Result<Option<ManagedPolicyRecord>>;
    /// Deletes a policy attached to nothing.
    async fn delete_managed_policy(&self, account_id: &str, arn: &str) -> Result<DeleteOutcome>;
    /// Attaches a policy (idempotent). Returns false if the principal or the policy does not exist.
    async fn attach_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        arn: &str,
    ) -> Result<bool>;
    /// Returns false if it was not attached.
    async fn detach_policy(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
        arn: &str,
    ) -> Result<bool>;
    /// The managed policies attached to a principal, in name order.
    async fn attached_policies(
        &self,
        account_id: &str,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<ManagedPolicyRecord>>;

    async fn create_session(&self, session: &SessionRecord) -> Result<()>;
    async fn get_session(&self, access_key_id: &str) -> Result<Option<SessionRecord>>;
    /// Deletes sessions that expired before `before_ms`; returns how many.
    async fn delete_sessions_before(&self, before_ms: i64) -> Result<u64>;

    // --- several processes on one store ---

    /// Changes committed by *other* processes sharing this store, for cache coherence (a change
    /// of this process may be delivered too; dropping a cache entry twice is harmless). `None`
    /// when no other process serves the store (the embedded SQLite store).
    fn subscribe_changes(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
        None
    }
    /// Takes the lease `name` for `holder` until `now_ms + ttl_ms` when it is free, expired, or
    /// already held by `holder` (renewal). True when `holder` holds it now. Scheduled jobs run
    /// only on the node holding their lease, so they run once across the nodes of one store.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool>;

    /// Flushes and closes connections. Called once at shutdown.
    async fn close(&self);
}
