//! The Secrets Manager service: versioned secrets with staging labels.
//!
//! Layout:
//! - [`Secrets`] (this file): the service, how a `SecretId` (name, full ARN or partial ARN) finds
//!   a secret, value encryption through the in-process KMS service, and the scheduler job that
//!   removes secrets whose recovery window ended.
//! - `ops/`: one module per API operation, each with its request and response types (the
//!   botocore shapes), validation and handler. [`Secrets::call`] dispatches to them by name.
//! - [`model`]: name rules, ARNs with AWS's random suffix, the staging-label moves (AWSCURRENT
//!   leaving a version gives it AWSPREVIOUS), version retention, value members.
//! - `authz`: `secretsmanager:*` decided by identity policies and the secret's resource policy,
//!   as AWS evaluates them; `Secrets::existing` and `Secrets::live` authorize every lookup.
//! - [`rotation`]: the four-step rotation protocol driven by Trent, the [`Rotator`] seam the
//!   server's rotators plug into, the persisted progress that survives restarts, and the
//!   scheduler job; [`schedule`]: RotationRules and rotation windows.
//! - [`Secrets::reference`]: GetSecretValue for Parameter Store's
//!   `/aws/reference/secretsmanager/…` names (the server plugs it into Parameter Store).
//!
//! Values are encrypted by the KMS service as the caller (`kms:ViaService` =
//! `secretsmanager.<region>.amazonaws.com`) before they reach the store, bound to the secret's
//! ARN and version id in the encryption context (`SecretARN`, `SecretVersionId`, as AWS binds
//! them): a ciphertext copied onto another secret or version does not decrypt. Every write to a
//! secret is checked against the revision it read, so concurrent writers never lose a label move.

#![forbid(unsafe_code)]

mod authz;
mod error;
pub mod model;
mod ops;
mod replication;
pub mod rotation;
pub mod schedule;

use std::sync::Arc;

use trent_crypto::SecretBytes;
use trent_kms::{EncryptionContext, Kms};
use trent_store::clock::Clock;
use trent_store::{Scope, SecretRecord, SecretVersionRecord, Store, StoreError};

pub use error::SecretsError;
pub use rotation::{
    RotationEvent, RotationEvents, Rotator, RotatorError, RotatorRegistry, StepContext,
};
pub use trent_kms::Caller;

/// Retries of a write that lost a race to another writer of the same secret.
pub(crate) const UPDATE_RETRIES: usize = 64;

/// Secrets the purge job handles per store query.
const PURGE_BATCH: u32 = 100;

/// The Secrets Manager service. Cheap to share behind an `Arc`.
pub struct Secrets {
    store: Arc<dyn Store>,
    kms: Arc<Kms>,
    clock: Arc<dyn Clock>,
    rotation: rotation::Runtime,
}

/// A secret value, decrypted, with the version it belongs to.
pub struct Value {
    pub kind: String,
    pub bytes: SecretBytes,
}

impl Secrets {
    pub fn new(store: Arc<dyn Store>, kms: Arc<Kms>, clock: Arc<dyn Clock>) -> Self {
        Secrets {
            store,
            kms,
            clock,
            rotation: rotation::Runtime::default(),
        }
    }

    /// Runs one operation: decodes `body`, validates, executes, encodes the response.
    pub async fn call(
        &self,
        caller: &Caller,
        operation: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, SecretsError> {
        ops::dispatch(self, caller, operation, body).await
    }

    /// Every Secrets Manager operation Trent serves, by wire name.
    pub fn operations() -> &'static [&'static str] {
        ops::OPERATIONS
    }

    /// Whether `operation` is a Secrets Manager operation Trent serves.
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

    /// Finds the secret a `SecretId` names: a name, a full ARN, or a partial ARN (without the
    /// random suffix). An ARN may name another account's secret (of this region); whether the
    /// caller may use it is for authorization to say.
    pub async fn find(
        &self,
        scope: &Scope,
        secret_id: &str,
    ) -> Result<Option<SecretRecord>, SecretsError> {
        let Some(rest) = secret_id.strip_prefix("arn:") else {
            return Ok(self.store.get_secret(scope, secret_id).await?);
        };
        // arn:aws:secretsmanager:<region>:<account>:secret:<name>
        let mut parts = rest.splitn(5, ':');
        let (Some("aws"), Some("secretsmanager"), Some(region), Some(account), Some(tail)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Ok(None);
        };
        if region != scope.region || account.len() != 12 {
            return Ok(None);
        }
        let Some(name) = tail.strip_prefix("secret:").map(str::to_owned) else {
            return Ok(None);
        };
        let scope = &Scope::new(account, region);
        // A full ARN: the name is followed by `-` and the six-character suffix.
        if let Some(base) = name.get(..name.len().saturating_sub(7))
            && name.len() > 7
            && name.get(base.len()..base.len() + 1) == Some("-")
            && let Some(s) = self.store.get_secret(scope, base).await?
            && s.arn == secret_id
        {
            return Ok(Some(s));
        }
        Ok(self.store.get_secret(scope, &name).await?)
    }

    /// The secret a `SecretId` names, once the caller is authorized to call `operation` on it;
    /// else AccessDeniedException, or ResourceNotFoundException for a caller who would be
    /// allowed (so names cannot be probed).
    pub(crate) async fn existing(
        &self,
        caller: &Caller,
        secret_id: &str,
        operation: &str,
    ) -> Result<SecretRecord, SecretsError> {
        self.existing_with(caller, secret_id, operation, authz::NO_KEYS)
            .await
    }

    /// [`Secrets::existing`] with the operation's own condition keys.
    pub(crate) async fn existing_with(
        &self,
        caller: &Caller,
        secret_id: &str,
        operation: &str,
        keys: authz::RequestKeys<'_>,
    ) -> Result<SecretRecord, SecretsError> {
        match self.find(&caller.scope, secret_id).await? {
            Some(secret) => {
                authz::authorize_with(caller, operation, &secret.arn, Some(&secret), keys)?;
                Ok(secret)
            }
            None => {
                let resource = if secret_id.starts_with("arn:") {
                    secret_id.to_string()
                } else {
                    format!("{}{secret_id}", model::arn_prefix(&caller.scope))
                };
                authz::authorize_with(caller, operation, &resource, None, keys)?;
                Err(not_found())
            }
        }
    }

    /// Like [`Secrets::existing`], refusing a secret scheduled for deletion as AWS does.
    pub(crate) async fn live(
        &self,
        caller: &Caller,
        secret_id: &str,
        operation: &str,
    ) -> Result<SecretRecord, SecretsError> {
        self.live_with(caller, secret_id, operation, authz::NO_KEYS)
            .await
    }

    /// [`Secrets::live`] with the operation's own condition keys.
    pub(crate) async fn live_with(
        &self,
        caller: &Caller,
        secret_id: &str,
        operation: &str,
        keys: authz::RequestKeys<'_>,
    ) -> Result<SecretRecord, SecretsError> {
        let secret = self
            .existing_with(caller, secret_id, operation, keys)
            .await?;
        if secret.deleted_ms.is_some() {
            return Err(marked_for_deletion());
        }
        Ok(secret)
    }

    fn context(arn: &str, version_id: &str) -> EncryptionContext {
        let mut ec = EncryptionContext::default();
        ec.0.insert("SecretARN".to_string(), arn.to_string());
        ec.0.insert("SecretVersionId".to_string(), version_id.to_string());
        ec
    }

    /// Encrypts a version's value under the secret's key (the AWS managed key when it names
    /// none, created on first use). Returns the ciphertext and the key's ARN.
    pub(crate) async fn encrypt(
        &self,
        caller: &Caller,
        secret: &SecretRecord,
        version_id: &str,
        value: &SecretBytes,
    ) -> Result<(Vec<u8>, String), SecretsError> {
        // The AWS managed key, also when named: it is created on first use in each region.
        let key = match &secret.kms_key_id {
            Some(k) if !k.is_empty() && k != model::DEFAULT_KEY_ALIAS => k.clone(),
            _ => self
                .kms
                .aws_managed_key(
                    caller,
                    model::DEFAULT_KEY_ALIAS,
                    "Default key that protects my Secrets Manager data when no other key is \
                     defined",
                )
                .await
                .map_err(SecretsError::from_encrypt)?,
        };
        self.kms
            .encrypt_for(
                caller,
                &key,
                value.expose_secret(),
                &Self::context(&secret.arn, version_id),
                "secretsmanager",
            )
            .await
            .map_err(SecretsError::from_encrypt)
    }

    /// Decrypts one version's value as the caller.
    pub(crate) async fn decrypt(
        &self,
        caller: &Caller,
        secret: &SecretRecord,
        version: &SecretVersionRecord,
    ) -> Result<Value, SecretsError> {
        if version.kind == rotation::KIND_NONE {
            // The AWSPENDING version of a rotation before createSecret gave it a value.
            return Err(SecretsError::ResourceNotFound(format!(
                "Secrets Manager can't find the specified secret value for VersionId: {}",
                version.version_id
            )));
        }
        let blob = self
            .store
            .get_secret_ciphertext(&secret.scope, &secret.name, &version.version_id)
            .await?
            .ok_or(SecretsError::Internal("version without ciphertext"))?;
        let (plaintext, _arn) = self
            .kms
            .decrypt_for(
                caller,
                &blob,
                &Self::context(&secret.arn, &version.version_id),
                "secretsmanager",
            )
            .await
            .map_err(SecretsError::from_decrypt)?;
        Ok(Value {
            kind: version.kind.clone(),
            bytes: plaintext,
        })
    }

    /// Notes that a version was read (LastAccessedDate, a day). A failure here must not fail
    /// the read.
    pub(crate) async fn touch(&self, secret: &SecretRecord, version: &SecretVersionRecord) {
        let day = model::day_of(self.now_ms());
        if secret.last_accessed_ms == Some(day) && version.last_accessed_ms == Some(day) {
            return;
        }
        let version_id = &version.version_id;
        if let Err(e) = self
            .store
            .touch_secret(&secret.scope, &secret.name, version_id, day)
            .await
        {
            tracing::warn!(error = %e, "secret access date not recorded");
        }
    }

    /// The scheduler job: removes every secret whose recovery window ended. Returns how many.
    pub async fn purge_deleted(&self) -> Result<usize, SecretsError> {
        let mut purged = 0;
        loop {
            let now = self.now_ms();
            let due = self.store.secrets_due_for_purge(now, PURGE_BATCH).await?;
            let batch = due.len();
            let mut progressed = false;
            for (scope, name) in due {
                let Some(secret) = self.store.get_secret(&scope, &name).await? else {
                    continue;
                };
                // A RestoreSecret that won the race leaves the secret alone.
                if secret.purge_ms.is_some_and(|p| p <= now)
                    && self
                        .store
                        .delete_secret(&scope, &name, secret.revision)
                        .await?
                {
                    purged += 1;
                    progressed = true;
                    tracing::info!(secret = %secret.arn, "secret deleted after its recovery window");
                }
            }
            if batch < PURGE_BATCH as usize || !progressed {
                return Ok(purged);
            }
        }
    }
}

/// Runs `write` (read, change, revision-checked save) until it does not lose a race.
pub(crate) async fn retrying<T, F, Fut>(mut write: F) -> Result<T, SecretsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SecretsError>>,
{
    for _ in 0..UPDATE_RETRIES {
        match write().await {
            Err(SecretsError::Store(StoreError::Conflict)) => continue,
            other => return other,
        }
    }
    Err(SecretsError::InvalidRequest(
        "The secret is being changed by another request; try again.".to_string(),
    ))
}

pub(crate) fn not_found() -> SecretsError {
    SecretsError::ResourceNotFound("Secrets Manager can't find the specified secret.".to_string())
}

pub(crate) fn marked_for_deletion() -> SecretsError {
    SecretsError::InvalidRequest(
        "You can't perform this operation on the secret because it was marked for deletion."
            .to_string(),
    )
}

/// A secret's value as Parameter Store's `/aws/reference/secretsmanager/…` names return it.
pub struct Reference {
    pub arn: String,
    /// The value as text: a binary secret is base64-encoded.
    pub value: SecretBytes,
    /// When the version was created.
    pub created_ms: i64,
    /// The secret's DescribeSecret JSON.
    pub describe_json: String,
}

impl Secrets {
    /// GetSecretValue for a Parameter Store reference: `selector` is a version id or a staging
    /// label (AWSCURRENT when absent). `Ok(None)` when the secret or version does not exist or
    /// the secret is scheduled for deletion.
    pub async fn reference(
        &self,
        caller: &Caller,
        secret_id: &str,
        selector: Option<&str>,
    ) -> Result<Option<Reference>, SecretsError> {
        let secret = match self.live(caller, secret_id, "GetSecretValue").await {
            Ok(s) => s,
            Err(SecretsError::ResourceNotFound(_)) => return Ok(None),
            Err(SecretsError::InvalidRequest(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let by_id = selector.filter(|s| secret.versions.iter().any(|v| v.version_id == *s));
        let stage = match by_id {
            Some(_) => None,
            None => selector,
        };
        let Ok(version) = ops::select(&secret, by_id, stage) else {
            return Ok(None);
        };
        let value = self.decrypt(caller, &secret, version).await?;
        self.touch(&secret, version).await;
        let text = if value.kind == model::KIND_BINARY {
            SecretBytes::new(trent_wire::blob::encode(value.bytes.expose_secret()).into_bytes())
        } else {
            value.bytes
        };
        let rotation = self
            .store
            .get_secret_rotation(&secret.scope, &secret.name)
            .await?;
        let describe_json = serde_json::to_string(&ops::with_rotation(
            ops::describe(&secret),
            rotation.as_ref(),
        ))
        .map_err(|_| SecretsError::Internal("DescribeSecret serialization"))?;
        Ok(Some(Reference {
            arn: secret.arn.clone(),
            value: text,
            created_ms: version.created_ms,
            describe_json,
        }))
    }
}
