//! The Systems Manager Parameter Store service: hierarchical, versioned, labelled parameters.
//!
//! Layout:
//! - [`Ssm`] (this file): the service, value encryption through the in-process KMS service, and
//!   the shared reads (a parameter's version by selector, the response `Parameter` shape).
//! - `ops/`: one module per API operation, each with its request and response types (the
//!   botocore shapes), validation and handler. [`Ssm::call`] dispatches to them by name.
//! - [`model`]: name, label and selector rules, tiers, pagination tokens.
//! - [`policy`]: parameter policies (validation, due times); [`Ssm::run_due_policies`] is the
//!   scheduler job that enforces them.
//! - [`events`]: the EventBridge-shaped change and policy events, written to the store's outbox
//!   in the same transaction as the change they describe.
//! - `reference`: `/aws/reference/secretsmanager/…` names, where Secrets Manager plugs in.
//!
//! SecureString values are encrypted by the KMS service before they reach the store, bound to
//! the parameter's ARN in the encryption context (`PARAMETER_ARN`), as AWS does: a ciphertext
//! copied onto another parameter does not decrypt. Every write to a parameter is checked against
//! the revision it read, so concurrent writers never lose a version.

#![forbid(unsafe_code)]

mod authz;
mod cache;
mod error;
pub mod events;
pub mod model;
mod ops;
pub mod policy;
mod reference;

use std::sync::Arc;

use trent_crypto::SecretBytes;
use trent_kms::{EncryptionContext, Kms};
use trent_store::clock::Clock;
use trent_store::{Change, OutboxEvent, ParameterVersionRecord, Scope, Store, StoreError};

pub use error::SsmError;
use model::Selector;
pub use reference::{LookupFuture, Secret, SecretLookup};
pub use trent_kms::Caller;

/// Retries of a write that lost a race to another writer of the same parameter. Each lost
/// race means another write committed; past the bound the caller gets `TooManyUpdates`.
pub(crate) const UPDATE_RETRIES: usize = 64;

/// Settings of the Parameter Store service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Most Standard parameters per account and region (AWS: 10,000).
    pub standard_limit: i64,
    /// Most Advanced parameters per account and region (AWS: 100,000).
    pub advanced_limit: i64,
    /// Whether changes write events to the outbox (only worth it when a delivery target is
    /// configured: nothing else drains the outbox).
    pub events: bool,
}

impl Config {
    /// The parameter count limit of a tier.
    pub fn tier_limit(&self, tier: &str) -> i64 {
        if tier == model::ADVANCED {
            self.advanced_limit
        } else {
            self.standard_limit
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            standard_limit: 10_000,
            advanced_limit: 100_000,
            events: false,
        }
    }
}

/// The Parameter Store service. Cheap to share behind an `Arc`.
pub struct Ssm {
    store: Arc<dyn Store>,
    kms: Arc<Kms>,
    clock: Arc<dyn Clock>,
    config: Config,
    /// Woken after a committed write that added events, so delivery need not poll hard.
    events_written: Arc<tokio::sync::Notify>,
    /// Latest versions recently read; every write of a parameter invalidates its entry.
    latest: cache::LatestCache,
    /// Secrets Manager, for `/aws/reference/secretsmanager/…` names.
    secret_lookup: Option<Arc<dyn SecretLookup>>,
}

/// Parameters the policy job handles per store query.
const POLICY_BATCH: u32 = 100;

impl Ssm {
    /// Drops what a change committed by another node makes stale (see
    /// [`trent_store::Store::subscribe_changes`]).
    pub fn apply_change(&self, change: &Change) {
        match change {
            Change::Parameter { scope, name } => self.latest.invalidate(scope, name),
            Change::All => self.latest.clear(),
            Change::Key { .. }
            | Change::Alias { .. }
            | Change::Secret { .. }
            | Change::Iam { .. } => {}
        }
    }

    pub fn new(store: Arc<dyn Store>, kms: Arc<Kms>, clock: Arc<dyn Clock>) -> Self {
        Ssm {
            store,
            kms,
            clock,
            config: Config::default(),
            events_written: Arc::new(tokio::sync::Notify::new()),
            latest: cache::LatestCache::default(),
            secret_lookup: None,
        }
    }

    /// Plugs in Secrets Manager for `/aws/reference/secretsmanager/…` names.
    pub fn with_secret_lookup(mut self, lookup: Arc<dyn SecretLookup>) -> Self {
        self.secret_lookup = Some(lookup);
        self
    }

    pub(crate) fn secret_lookup(&self) -> Option<&dyn SecretLookup> {
        self.secret_lookup.as_deref()
    }

    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Notified whenever a write added events to the outbox.
    pub fn events_written(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.events_written)
    }

    /// Builds an event when events are enabled.
    pub(crate) fn event(
        &self,
        build: impl FnOnce() -> Result<OutboxEvent, SsmError>,
    ) -> Result<Option<OutboxEvent>, SsmError> {
        if self.config.events {
            build().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Tells the delivery task that events were committed.
    pub(crate) fn events_committed(&self, any: bool) {
        if any {
            self.events_written.notify_one();
        }
    }

    /// The scheduler job: applies every policy that is due. Expiration deletes the parameter;
    /// the notifications emit their event once. Returns how many policies acted.
    pub async fn run_due_policies(&self) -> Result<usize, SsmError> {
        let mut acted = 0;
        loop {
            let now = self.now_ms();
            let due = self
                .store
                .parameters_with_due_policies(now, POLICY_BATCH)
                .await?;
            let batch = due.len();
            let mut progressed = false;
            for (scope, name) in due {
                for _ in 0..UPDATE_RETRIES {
                    match self.apply_due_policies(&scope, &name, now).await {
                        Ok(n) => {
                            acted += n;
                            progressed |= n > 0;
                            break;
                        }
                        Err(SsmError::Store(StoreError::Conflict)) => continue,
                        // One parameter's failure must not hold up the others.
                        Err(e) if !matches!(e, SsmError::Store(_)) => {
                            tracing::error!(
                                parameter = %name,
                                error = %e,
                                "parameter policies could not be applied"
                            );
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            if batch < POLICY_BATCH as usize || !progressed {
                return Ok(acted);
            }
        }
    }

    async fn apply_due_policies(
        &self,
        scope: &Scope,
        name: &str,
        now: i64,
    ) -> Result<usize, SsmError> {
        let Some(mut head) = self.store.get_parameter(scope, name).await? else {
            return Ok(0);
        };
        let Some(latest) = self.store.get_parameter_version(scope, name, None).await? else {
            return Ok(0);
        };
        let mut policies = policy::decode(&head.policies)?;
        let snapshot = policies.clone();
        let mut events = Vec::new();
        let mut acted = 0;
        let mut expire = false;
        for p in policies.iter_mut() {
            let due = p.status == policy::PENDING && p.due_ms.is_some_and(|d| d <= now);
            if !due {
                continue;
            }
            let Some(definition) = policy::definition(p) else {
                return Err(SsmError::Internal("stored policy unreadable"));
            };
            acted += 1;
            if p.kind == policy::EXPIRATION {
                expire = true;
            }
            p.status = policy::FINISHED.to_string();
            p.due_ms = None;
            let action = events::PolicyAction {
                name,
                param_type: &latest.param_type,
                policy_type: &p.kind,
                policy_content: &p.text,
                reason: policy::reason(&definition, &snapshot),
            };
            if let Some(e) = self.event(|| events::policy_action(scope, &action, now))? {
                events.push(e);
            }
        }
        if expire {
            if let Some(e) = self.event(|| {
                events::change(
                    scope,
                    name,
                    events::DELETE,
                    &latest.param_type,
                    latest.description.as_deref(),
                    now,
                )
            })? {
                events.push(e);
            }
            let deleted = self.store.delete_parameter_checked(&head, &events).await;
            self.written(scope, name);
            deleted?;
            tracing::info!(parameter = name, "parameter expired and was deleted");
        } else {
            head.policy_due_ms = policy::next_due(&policies);
            head.policies = policy::encode(&policies)?;
            let set = self.store.set_parameter_policies(&head, &events).await;
            self.written(scope, name);
            set?;
        }
        self.events_committed(!events.is_empty());
        Ok(acted)
    }

    /// Runs one operation: decodes `body`, validates, executes, encodes the response.
    pub async fn call(
        &self,
        caller: &Caller,
        operation: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, SsmError> {
        ops::dispatch(self, caller, operation, body).await
    }

    /// Every Parameter Store operation Trent serves, by wire name.
    pub fn operations() -> &'static [&'static str] {
        ops::OPERATIONS
    }

    /// Whether `operation` is a Parameter Store operation Trent serves.
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

    /// To be called after every write of a parameter (committed or not), before answering: the
    /// latest-version cache forgets it.
    pub(crate) fn written(&self, scope: &Scope, name: &str) {
        self.latest.invalidate(scope, name);
    }

    /// The latest version, from the cache when it holds it.
    async fn latest_version(
        &self,
        scope: &Scope,
        name: &str,
    ) -> Result<Option<ParameterVersionRecord>, SsmError> {
        let generation = match self.latest.get(scope, name) {
            cache::Lookup::Hit(v) => return Ok(Some(*v)),
            cache::Lookup::Miss(generation) => generation,
        };
        let found = self.store.get_parameter_version(scope, name, None).await?;
        if let Some(v) = &found {
            self.latest.fill(scope, name, generation, v);
        }
        Ok(found)
    }

    fn context(scope: &Scope, name: &str) -> EncryptionContext {
        let mut ec = EncryptionContext::default();
        ec.0.insert(
            model::CONTEXT_KEY.to_string(),
            model::parameter_arn(scope, name),
        );
        ec
    }

    /// Encrypts a SecureString value under `key_id` (the default AWS managed key when `None`).
    /// Returns the ciphertext blob and the KeyId to record.
    pub(crate) async fn encrypt_value(
        &self,
        caller: &Caller,
        name: &str,
        key_id: Option<&str>,
        value: &SecretBytes,
    ) -> Result<(Vec<u8>, String), SsmError> {
        let (key, recorded) = match key_id {
            Some(k) => (k.to_string(), k.to_string()),
            None => (
                self.kms
                    .aws_managed_key(
                        caller,
                        model::DEFAULT_KEY_ALIAS,
                        "Default key that protects my SSM parameters when no other key is defined",
                    )
                    .await
                    .map_err(|e| SsmError::from_kms(e, &caller.request_id))?,
                model::DEFAULT_KEY_ALIAS.to_string(),
            ),
        };
        let (blob, _arn) = self
            .kms
            .encrypt_for(
                caller,
                &key,
                value.expose_secret(),
                &Self::context(&caller.scope, name),
                "ssm",
            )
            .await
            .map_err(|e| SsmError::from_kms(e, &caller.request_id))?;
        Ok((blob, recorded))
    }

    /// The value of a version as the response carries it: decrypted only when asked.
    pub(crate) async fn value_out(
        &self,
        caller: &Caller,
        name: &str,
        version: &ParameterVersionRecord,
        with_decryption: bool,
    ) -> Result<model::Value, SsmError> {
        if version.param_type == model::SECURE_STRING && with_decryption {
            let (plaintext, _arn) = self
                .kms
                .decrypt_for(
                    caller,
                    &version.value,
                    &Self::context(&caller.scope, name),
                    "ssm",
                )
                .await
                .map_err(|e| SsmError::from_kms(e, &caller.request_id))?;
            Ok(model::Value::Secret(plaintext))
        } else {
            Ok(model::Value::Plain(model::stored_value_text(version)?))
        }
    }

    /// The version a selector names. `Ok(None)` when the parameter does not exist;
    /// ParameterVersionNotFound when it exists but the version or label does not.
    pub(crate) async fn select(
        &self,
        scope: &Scope,
        name: &str,
        selector: &Selector,
    ) -> Result<Option<ParameterVersionRecord>, SsmError> {
        if !model::is_lookup_name(name) {
            return Ok(None);
        }
        let found = match selector {
            Selector::Latest => self.latest_version(scope, name).await?,
            Selector::Version(v) => {
                self.store
                    .get_parameter_version(scope, name, Some(*v))
                    .await?
            }
            Selector::Label(l) => {
                self.store
                    .get_parameter_version_by_label(scope, name, l)
                    .await?
            }
        };
        if found.is_some() || *selector == Selector::Latest {
            return Ok(found);
        }
        if self.store.get_parameter(scope, name).await?.is_none() {
            return Ok(None);
        }
        Err(SsmError::ParameterVersionNotFound(match selector {
            Selector::Label(l) => format!(
                "Systems Manager could not find version {name}:{l}. Verify the version and try again."
            ),
            Selector::Version(v) => format!(
                "Systems Manager could not find version {v} of {name}. Verify the version and try again."
            ),
            Selector::Latest => String::new(),
        }))
    }

    /// The `Parameter` response shape for a version.
    pub(crate) async fn parameter_out(
        &self,
        caller: &Caller,
        name: &str,
        version: &ParameterVersionRecord,
        selector: &Selector,
        with_decryption: bool,
    ) -> Result<model::Parameter, SsmError> {
        Ok(model::Parameter {
            name: name.to_string(),
            param_type: version.param_type.clone(),
            value: self
                .value_out(caller, name, version, with_decryption)
                .await?,
            version: version.version,
            selector: selector.echo(),
            source_result: None,
            last_modified_date: trent_wire::timestamp::from_millis(version.modified_ms),
            arn: model::parameter_arn(&caller.scope, name),
            data_type: version.data_type.clone(),
        })
    }
}
