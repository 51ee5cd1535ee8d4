//! Rotation: the four-step protocol driven by Trent, the rotators that run the steps, and the
//! persisted progress that lets a rotation survive a restart.
//!
//! A rotation starts (RotateSecret, or the scheduler when a window opens) by writing its
//! progress to the store (`step = createSecret`, `state = running`) and adding a version without
//! a value, labelled AWSPENDING, whose id is the ClientRequestToken. Then each step runs through
//! the [`Rotator`] the secret's RotationLambdaARN names:
//!
//! 1. `createSecret`: the rotator gives the pending version a value (PutSecretValue with the
//!    token and `AWSPENDING`), unless it has one already;
//! 2. `setSecret`: the rotator applies the pending credential to the target;
//! 3. `testSecret`: the rotator logs in with it;
//! 4. `finishSecret`: AWSCURRENT moves to the pending version (AWSPREVIOUS follows the old
//!    one), and Trent takes AWSPENDING off it.
//!
//! After each step the next one is written to the store, so a process stopped between steps
//! (even by `kill -9`) runs the unfinished step again when it starts: steps are idempotent, as
//! AWS requires of rotation functions. A failed step leaves AWSCURRENT where it was, keeps the
//! pending version and RotationEnabled, records `RotationFailed` in the audit trail and waits for
//! the next rotation window (or a RotateSecret, which answers "A previous rotation isn't
//! complete" and tries again). A rotation that ends records `RotationSucceeded`.
//!
//! Rotations run in tasks of their own, one at a time per secret, never inside a request.
//!
//! RotateSecret with `RotateImmediately=false` tests the configuration instead, as AWS does: a
//! version holding AWSCURRENT's value is labelled AWSPENDING, the rotator runs `testSecret` on
//! it (a database rotator logs in with the current credentials), and the version is removed
//! again. The outcome is recorded as `TestRotationSucceeded` or `TestRotationFailed`; AWSCURRENT
//! and the schedule are untouched either way. While it runs the progress says `testing`, so a
//! trial cut short by a stop is cleaned up by the next RotateSecret or scheduler run.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use trent_crypto::SecretBytes;
use trent_store::{
    NewSecretVersion, Scope, SecretRecord, SecretRotationRecord, SecretVersionRecord,
};

use crate::schedule::{RotationRules, Schedule};
use crate::{Caller, Secrets, SecretsError, model, retrying};

/// The kind of a version that has no value yet (the AWSPENDING version a rotation starts with).
pub const KIND_NONE: &str = "none";

pub const CREATE_SECRET: &str = "createSecret";
pub const SET_SECRET: &str = "setSecret";
pub const TEST_SECRET: &str = "testSecret";
pub const FINISH_SECRET: &str = "finishSecret";

pub const STATE_RUNNING: &str = "running";
pub const STATE_FAILED: &str = "failed";
/// A trial testSecret (RotateImmediately=false) holds AWSPENDING on a copy of AWSCURRENT.
pub const STATE_TESTING: &str = "testing";

/// How long one step may take before it counts as failed.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Secrets the scheduler looks at per store query.
const DUE_BATCH: u32 = 100;

fn next_step(step: &str) -> Option<&'static str> {
    match step {
        CREATE_SECRET => Some(SET_SECRET),
        SET_SECRET => Some(TEST_SECRET),
        TEST_SECRET => Some(FINISH_SECRET),
        _ => None,
    }
}

/// Why a step failed: a message fit for logs and the store, never a secret value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct RotatorError(pub String);

impl From<SecretsError> for RotatorError {
    fn from(e: SecretsError) -> Self {
        RotatorError(e.to_api_error().message)
    }
}

/// Runs the steps of a rotation: the analogue of a rotation Lambda function.
#[async_trait::async_trait]
pub trait Rotator: Send + Sync {
    /// Runs `step` (`createSecret`, `setSecret`, `testSecret` or `finishSecret`). Must be
    /// idempotent: a step may run again after a restart.
    async fn run(&self, step: &str, ctx: &StepContext<'_>) -> Result<(), RotatorError>;
}

/// Finds the rotator a RotationLambdaARN names.
pub trait RotatorRegistry: Send + Sync {
    fn find(&self, lambda_arn: &str) -> Option<Arc<dyn Rotator>>;
}

/// No rotators at all.
struct NoRotators;

impl RotatorRegistry for NoRotators {
    fn find(&self, _lambda_arn: &str) -> Option<Arc<dyn Rotator>> {
        None
    }
}

/// The outcome of a rotation, for the audit trail (CloudTrail service events of Secrets
/// Manager). Carries ids, never values.
#[derive(Debug, Clone)]
pub struct RotationEvent {
    /// `RotationStarted`, `RotationSucceeded` or `RotationFailed`; for a trial (RotateImmediately
    /// false), `TestRotationStarted`, `TestRotationSucceeded` or `TestRotationFailed`.
    pub name: &'static str,
    pub scope: Scope,
    pub secret_arn: String,
    pub version_id: String,
    /// The failed step and why, for `RotationFailed`.
    pub failure: Option<String>,
    pub time_ms: i64,
}

/// Where rotation outcomes are recorded.
#[async_trait::async_trait]
pub trait RotationEvents: Send + Sync {
    async fn record(&self, event: RotationEvent);
}

/// The rotation machinery of a [`Secrets`] service.
#[derive(Default)]
pub(crate) struct Runtime {
    rotators: OnceLock<Arc<dyn RotatorRegistry>>,
    events: OnceLock<Arc<dyn RotationEvents>>,
    /// The service itself, to spawn rotation tasks from requests.
    me: OnceLock<Weak<Secrets>>,
    /// Secrets whose rotation runs in this process now.
    running: Mutex<HashSet<(Scope, String)>>,
}

/// What a step may do: read the values of the secret (and of its master secret), give the
/// pending version its value, draw a password, finish.
pub struct StepContext<'a> {
    secrets: &'a Secrets,
    caller: Caller,
    scope: Scope,
    name: String,
    /// The secret's ARN (the `SecretId` a rotation function receives).
    pub secret_arn: String,
    /// The pending version's id (`ClientRequestToken`).
    pub token: String,
    /// The `RotationToken` PutSecretValue accepts from this rotation.
    pub rotation_token: String,
}

impl StepContext<'_> {
    async fn secret(&self) -> Result<SecretRecord, RotatorError> {
        self.secrets
            .store()
            .get_secret(&self.scope, &self.name)
            .await
            .map_err(|e| RotatorError::from(SecretsError::from(e)))?
            .ok_or_else(|| RotatorError("the secret no longer exists".to_string()))
    }

    /// The value of the version holding `stage` (`None`: no such version, or no value yet).
    pub async fn value(&self, stage: &str) -> Result<Option<SecretBytes>, RotatorError> {
        let secret = self.secret().await?;
        let Some(version) = secret
            .versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
        else {
            return Ok(None);
        };
        if version.kind == KIND_NONE {
            return Ok(None);
        }
        Ok(Some(
            self.secrets
                .decrypt(&self.caller, &secret, version)
                .await?
                .bytes,
        ))
    }

    /// The value of the pending version (`None` while it has none).
    pub async fn pending(&self) -> Result<Option<SecretBytes>, RotatorError> {
        let secret = self.secret().await?;
        let Some(version) = secret.versions.iter().find(|v| v.version_id == self.token) else {
            return Err(RotatorError(format!(
                "the pending version {} no longer exists",
                self.token
            )));
        };
        if !version.stages.iter().any(|s| s == model::AWSPENDING) {
            return Err(RotatorError(format!(
                "version {} is not labelled AWSPENDING",
                self.token
            )));
        }
        if version.kind == KIND_NONE {
            return Ok(None);
        }
        Ok(Some(
            self.secrets
                .decrypt(&self.caller, &secret, version)
                .await?
                .bytes,
        ))
    }

    /// The AWSCURRENT value of another secret of the account (a `masterarn`).
    pub async fn current_of(&self, secret_id: &str) -> Result<SecretBytes, RotatorError> {
        let secret = self
            .secrets
            .live(&self.caller, secret_id, "GetSecretValue")
            .await?;
        let version = model::current(&secret)
            .ok_or_else(|| RotatorError(format!("the secret {secret_id} has no AWSCURRENT")))?;
        Ok(self
            .secrets
            .decrypt(&self.caller, &secret, version)
            .await?
            .bytes)
    }

    /// Gives the pending version `value` (PutSecretValue with the token and `AWSPENDING`).
    pub async fn put_pending(&self, value: SecretBytes) -> Result<(), RotatorError> {
        let value = model::NewValue {
            kind: model::KIND_STRING,
            bytes: value,
        };
        let stages = vec![model::AWSPENDING.to_string()];
        retrying(|| async {
            let mut secret = self
                .secrets
                .live(&self.caller, &self.secret_arn, "PutSecretValue")
                .await?;
            let added = crate::ops::add_version(
                self.secrets,
                &self.caller,
                &mut secret,
                &self.token,
                &value,
                Some(&stages),
            )
            .await?;
            if let crate::ops::Added::New(new) = added {
                // Through `save`: replicas get the value too, encrypted under their own keys.
                self.secrets
                    .save(&self.caller, &secret, Some((&new, &value)))
                    .await?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// A new password: GetRandomPassword's defaults without the characters in `exclude`.
    pub fn password(&self, exclude: &str) -> Result<SecretBytes, RotatorError> {
        Ok(crate::ops::password_for_rotation(exclude)?)
    }

    /// finishSecret: moves AWSCURRENT to the pending version (AWSPREVIOUS follows the old one).
    pub async fn finish(&self) -> Result<(), RotatorError> {
        retrying(|| async {
            let mut secret = self
                .secrets
                .live(&self.caller, &self.secret_arn, "UpdateSecretVersionStage")
                .await?;
            let Some(pending) = secret.versions.iter().find(|v| v.version_id == self.token) else {
                return Err(SecretsError::ResourceNotFound(format!(
                    "Secrets Manager can't find the specified secret value for VersionId: {}",
                    self.token
                )));
            };
            if pending.stages.iter().any(|s| s == model::AWSCURRENT) {
                return Ok(());
            }
            if pending.kind == KIND_NONE {
                return Err(SecretsError::InvalidRequest(
                    "The pending version has no value.".to_string(),
                ));
            }
            model::attach(&mut secret.versions, model::AWSCURRENT, &self.token);
            secret.last_changed_ms = self.secrets.now_ms();
            self.secrets.save(&self.caller, &secret, None).await?;
            Ok(())
        })
        .await?;
        Ok(())
    }
}

/// The caller a rotation acts as: the root of the secret's account, as a rotation function
/// acts with the permissions its role grants in that account.
fn service_caller(scope: &Scope, now_ms: i64) -> Result<Caller, SecretsError> {
    let requester = trent_policy::Requester::root(&scope.account_id, &scope.region, now_ms)
        .map_err(|_| SecretsError::Internal("rotation identity"))?;
    Ok(Caller {
        scope: scope.clone(),
        requester: Arc::new(requester),
        request_id: uuid::Uuid::new_v4().to_string(),
        touched: Default::default(),
    })
}

/// The rotation members of a ListSecrets entry.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RotationFields {
    rotation_enabled: bool,
    #[serde(rename = "RotationLambdaARN", skip_serializing_if = "Option::is_none")]
    rotation_lambda_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_rules: Option<RotationRules>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_rotated_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_rotation_date: Option<f64>,
}

impl RotationFields {
    pub(crate) fn of(r: &SecretRotationRecord) -> RotationFields {
        let rules = stored_rules(r);
        RotationFields {
            rotation_enabled: r.enabled,
            rotation_lambda_arn: r.lambda_arn.clone(),
            rotation_rules: (!rules.is_empty()).then_some(rules),
            last_rotated_date: r.last_rotated_ms.map(trent_wire::timestamp::from_millis),
            next_rotation_date: next_rotation_ms(r).map(trent_wire::timestamp::from_millis),
        }
    }
}

/// NextRotationDate: the last second of the next window, while rotation is enabled.
pub(crate) fn next_rotation_ms(r: &SecretRotationRecord) -> Option<i64> {
    r.window_end_ms.filter(|_| r.enabled).map(|end| end - 1000)
}

/// Parses stored rules (written by RotateSecret).
pub(crate) fn stored_rules(record: &SecretRotationRecord) -> RotationRules {
    serde_json::from_str(&record.rules).unwrap_or_default()
}

/// The next window of the stored rules after `after_ms`, if they name a schedule.
pub(crate) fn window_after(record: &SecretRotationRecord, after_ms: i64) -> Option<(i64, i64)> {
    Schedule::parse(&stored_rules(record))
        .ok()
        .flatten()
        .and_then(|s| s.next_window(after_ms))
}

/// The version id of the version AWSPENDING sits on when it is not AWSCURRENT's: a rotation
/// that did not finish.
pub(crate) fn unfinished_pending(secret: &SecretRecord) -> Option<&SecretVersionRecord> {
    secret.versions.iter().find(|v| {
        v.stages.iter().any(|s| s == model::AWSPENDING)
            && !v.stages.iter().any(|s| s == model::AWSCURRENT)
    })
}

impl Secrets {
    /// Turns rotation on: the rotators RotationLambdaARNs name, where outcomes are recorded,
    /// and the handle rotation tasks are spawned from.
    pub fn start_rotation(
        self: &Arc<Self>,
        rotators: Arc<dyn RotatorRegistry>,
        events: Arc<dyn RotationEvents>,
    ) {
        let _ = self.rotation.rotators.set(rotators);
        let _ = self.rotation.events.set(events);
        let _ = self.rotation.me.set(Arc::downgrade(self));
    }

    pub(crate) fn rotators(&self) -> Arc<dyn RotatorRegistry> {
        self.rotation
            .rotators
            .get()
            .cloned()
            .unwrap_or_else(|| Arc::new(NoRotators))
    }

    async fn record_event(&self, event: RotationEvent) {
        if let Some(sink) = self.rotation.events.get() {
            sink.record(event).await;
        }
    }

    /// Adds the value-less AWSPENDING version `token` a rotation starts with, unless the
    /// secret has it already.
    pub(crate) async fn ensure_pending(
        &self,
        scope: &Scope,
        name: &str,
        token: &str,
    ) -> Result<(), SecretsError> {
        retrying(|| async {
            let mut secret = self
                .store()
                .get_secret(scope, name)
                .await?
                .ok_or_else(crate::not_found)?;
            let has = secret.versions.iter().find(|v| v.version_id == token);
            if has.is_some_and(|v| v.stages.iter().any(|s| s == model::AWSPENDING)) {
                return Ok(());
            }
            let is_new = has.is_none();
            if is_new {
                secret.versions.push(SecretVersionRecord {
                    version_id: token.to_string(),
                    stages: Vec::new(),
                    created_ms: self.now_ms(),
                    last_accessed_ms: None,
                    kind: KIND_NONE.to_string(),
                    kms_key_arn: String::new(),
                });
            }
            model::attach(&mut secret.versions, model::AWSPENDING, token);
            let new = match secret.versions.iter().find(|v| v.version_id == token) {
                Some(record) if is_new => Some(NewSecretVersion {
                    record: record.clone(),
                    ciphertext: Vec::new(),
                }),
                _ => None,
            };
            model::prune(&mut secret.versions, self.now_ms());
            let caller = service_caller(scope, self.now_ms())?;
            match &new {
                Some(placeholder) => self.save_placeholder(&caller, &secret, placeholder).await?,
                None => self.save(&caller, &secret, None).await?,
            }
            Ok(())
        })
        .await
    }

    /// Starts driving the rotation of a secret in a task of its own, unless one runs already.
    pub(crate) fn spawn_rotation(&self, scope: Scope, name: String) -> bool {
        self.spawn_for_secret(scope, name, |me, scope, name| async move {
            if let Err(e) = me.drive(&scope, &name).await {
                tracing::error!(error = %e, secret = %name, "secret rotation stopped");
            }
        })
    }

    /// Runs `work` in a task of its own, marked as running for the secret (one task per secret
    /// at a time), unless one runs already; returns whether it started.
    fn spawn_for_secret<F, Fut>(&self, scope: Scope, name: String, work: F) -> bool
    where
        F: FnOnce(Arc<Secrets>, Scope, String) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let Some(me) = self.rotation.me.get().and_then(Weak::upgrade) else {
            return false;
        };
        {
            let Ok(mut running) = self.rotation.running.lock() else {
                return false;
            };
            if !running.insert((scope.clone(), name.clone())) {
                return false;
            }
        }
        let done = Arc::clone(&me);
        let task = work(me, scope.clone(), name.clone());
        tokio::spawn(async move {
            task.await;
            if let Ok(mut running) = done.rotation.running.lock() {
                running.remove(&(scope, name));
            }
        });
        true
    }

    /// The scheduler job: resumes rotations under way that no task drives (after a restart)
    /// and starts the rotations whose window opened. Returns how many it started or resumed.
    pub async fn rotate_due(&self) -> Result<usize, SecretsError> {
        let now = self.now_ms();
        let due = self.store().secret_rotations_due(now, DUE_BATCH).await?;
        let mut started = 0;
        for (scope, name) in due {
            let Some(mut record) = self.store().get_secret_rotation(&scope, &name).await? else {
                continue;
            };
            if record.state.as_deref() == Some(STATE_TESTING) {
                // A trial that no task runs any more (the process stopped during it).
                if !self.is_running(&scope, &name) {
                    self.end_trial(&scope, &name).await?;
                }
                continue;
            }
            if record.state.as_deref() != Some(STATE_RUNNING) {
                let Some(secret) = self.store().get_secret(&scope, &name).await? else {
                    continue;
                };
                let (Some(start), Some(end)) = (record.window_start_ms, record.window_end_ms)
                else {
                    continue;
                };
                if !record.enabled || start > now || secret.deleted_ms.is_some() {
                    continue;
                }
                if now >= end {
                    // The window passed while nothing ran: wait for the next one.
                    let next = window_after(&record, now);
                    record.window_start_ms = next.map(|w| w.0);
                    record.window_end_ms = next.map(|w| w.1);
                    self.store()
                        .put_secret_rotation(&scope, &name, &record)
                        .await?;
                    continue;
                }
                // AutomaticallyAfterDays counts from the last change of the value: a new
                // AWSCURRENT written since this window was computed (PutSecretValue,
                // UpdateSecret) counts as a rotation and moves the window.
                if record.token.is_none()
                    && stored_rules(&record).automatically_after_days.is_some()
                    && let Some(current) = model::current(&secret)
                    && let Some((later_start, later_end)) =
                        window_after(&record, current.created_ms)
                    && later_start > start
                {
                    record.window_start_ms = Some(later_start);
                    record.window_end_ms = Some(later_end);
                    self.store()
                        .put_secret_rotation(&scope, &name, &record)
                        .await?;
                    continue;
                }
                // The window is open: the failed rotation is tried again, or a new one starts.
                let next = window_after(&record, end);
                record.window_start_ms = next.map(|w| w.0);
                record.window_end_ms = next.map(|w| w.1);
                if record.token.is_none() {
                    if let Some(p) = unfinished_pending(&secret) {
                        // AWSPENDING left behind by a cancelled rotation blocks new ones, as in AWS.
                        record.last_failure = Some(format!(
                            "createSecret: AWSPENDING is attached to version {}, which is not \
                             AWSCURRENT",
                            p.version_id
                        ));
                        record.last_failure_ms = Some(now);
                        self.store()
                            .put_secret_rotation(&scope, &name, &record)
                            .await?;
                        continue;
                    }
                    record.token = Some(model::new_version_id());
                    record.rotation_token = Some(model::new_version_id());
                }
                record.step = Some(CREATE_SECRET.to_string());
                record.state = Some(STATE_RUNNING.to_string());
                self.store()
                    .put_secret_rotation(&scope, &name, &record)
                    .await?;
            }
            if self.spawn_rotation(scope, name) {
                started += 1;
            }
        }
        Ok(started)
    }

    /// Runs the steps of the rotation under way until it ends, fails or is cancelled.
    async fn drive(&self, scope: &Scope, name: &str) -> Result<(), SecretsError> {
        let rotators = self.rotators();
        let mut announced = false;
        loop {
            let Some(record) = self.store().get_secret_rotation(scope, name).await? else {
                return Ok(());
            };
            let (Some(token), Some(STATE_RUNNING)) =
                (record.token.clone(), record.state.as_deref())
            else {
                return Ok(());
            };
            let Some(secret) = self.store().get_secret(scope, name).await? else {
                return Ok(());
            };
            if secret.deleted_ms.is_some() {
                return Ok(());
            }
            let step = record
                .step
                .clone()
                .unwrap_or_else(|| CREATE_SECRET.to_string());
            let now = self.now_ms();
            if !announced {
                announced = true;
                self.record_event(RotationEvent {
                    name: "RotationStarted",
                    scope: scope.clone(),
                    secret_arn: secret.arn.clone(),
                    version_id: token.clone(),
                    failure: None,
                    time_ms: now,
                })
                .await;
            }
            let result = self
                .run_step(&rotators, &record, &secret, &token, &step)
                .await;
            // Cancelled (or replaced) while the step ran: leave everything as it is.
            let Some(mut record) = self.store().get_secret_rotation(scope, name).await? else {
                return Ok(());
            };
            if record.token.as_deref() != Some(token.as_str())
                || record.state.as_deref() != Some(STATE_RUNNING)
            {
                return Ok(());
            }
            let now = self.now_ms();
            match result {
                Ok(()) => match next_step(&step) {
                    Some(next) => {
                        record.step = Some(next.to_string());
                        self.store()
                            .put_secret_rotation(scope, name, &record)
                            .await?;
                    }
                    None => {
                        record.token = None;
                        record.rotation_token = None;
                        record.step = None;
                        record.state = None;
                        record.attempts = 0;
                        record.last_rotated_ms = Some(now);
                        let next = if record.enabled {
                            window_after(&record, now)
                        } else {
                            None
                        };
                        record.window_start_ms = next.map(|w| w.0);
                        record.window_end_ms = next.map(|w| w.1);
                        self.store()
                            .put_secret_rotation(scope, name, &record)
                            .await?;
                        tracing::info!(secret = %secret.arn, version = %token, "secret rotated");
                        self.record_event(RotationEvent {
                            name: "RotationSucceeded",
                            scope: scope.clone(),
                            secret_arn: secret.arn.clone(),
                            version_id: token,
                            failure: None,
                            time_ms: now,
                        })
                        .await;
                        return Ok(());
                    }
                },
                Err(e) => {
                    let failure = format!("{step}: {e}");
                    record.state = Some(STATE_FAILED.to_string());
                    record.step = Some(CREATE_SECRET.to_string());
                    record.attempts += 1;
                    record.last_failure = Some(failure.clone());
                    record.last_failure_ms = Some(now);
                    if record.enabled && record.window_start_ms.is_none_or(|s| s <= now) {
                        let next = window_after(&record, now);
                        record.window_start_ms = next.map(|w| w.0);
                        record.window_end_ms = next.map(|w| w.1);
                    }
                    self.store()
                        .put_secret_rotation(scope, name, &record)
                        .await?;
                    tracing::warn!(secret = %secret.arn, version = %token, %failure, "secret rotation failed");
                    self.record_event(RotationEvent {
                        name: "RotationFailed",
                        scope: scope.clone(),
                        secret_arn: secret.arn.clone(),
                        version_id: token,
                        failure: Some(failure),
                        time_ms: now,
                    })
                    .await;
                    return Ok(());
                }
            }
        }
    }

    async fn run_step(
        &self,
        rotators: &Arc<dyn RotatorRegistry>,
        record: &SecretRotationRecord,
        secret: &SecretRecord,
        token: &str,
        step: &str,
    ) -> Result<(), RotatorError> {
        let lambda = record
            .lambda_arn
            .as_deref()
            .ok_or_else(|| RotatorError("no RotationLambdaARN".to_string()))?;
        let rotator = rotators
            .find(lambda)
            .ok_or_else(|| RotatorError(format!("no rotator is configured for {lambda}")))?;
        if step == CREATE_SECRET {
            self.ensure_pending(&secret.scope, &secret.name, token)
                .await?;
        }
        let ctx = StepContext {
            secrets: self,
            caller: service_caller(&secret.scope, self.now_ms())?,
            scope: secret.scope.clone(),
            name: secret.name.clone(),
            secret_arn: secret.arn.clone(),
            token: token.to_string(),
            rotation_token: record.rotation_token.clone().unwrap_or_default(),
        };
        if step != FINISH_SECRET {
            // Every step but the last needs the pending version still labelled AWSPENDING.
            let fresh = ctx.secret().await?;
            let pending = fresh.versions.iter().find(|v| v.version_id == token);
            if pending.is_none_or(|v| !v.stages.iter().any(|s| s == model::AWSPENDING)) {
                return Err(RotatorError(format!(
                    "version {token} is no longer labelled AWSPENDING"
                )));
            }
        }
        match tokio::time::timeout(STEP_TIMEOUT, rotator.run(step, &ctx)).await {
            Ok(r) => r?,
            Err(_) => return Err(RotatorError("the step timed out".to_string())),
        }
        if step == FINISH_SECRET {
            // The rotator must have made the pending version AWSCURRENT; then AWSPENDING goes.
            let done = retrying(|| async {
                let mut fresh = self
                    .store()
                    .get_secret(&secret.scope, &secret.name)
                    .await?
                    .ok_or_else(crate::not_found)?;
                let Some(v) = fresh.versions.iter().find(|v| v.version_id == token) else {
                    return Ok(false);
                };
                if !v.stages.iter().any(|s| s == model::AWSCURRENT) {
                    return Ok(false);
                }
                if v.stages.iter().any(|s| s == model::AWSPENDING) {
                    model::detach(&mut fresh.versions, model::AWSPENDING, token);
                    let caller = service_caller(&fresh.scope, self.now_ms())?;
                    self.save(&caller, &fresh, None).await?;
                }
                Ok(true)
            })
            .await?;
            if !done {
                return Err(RotatorError(format!(
                    "finishSecret did not move AWSCURRENT to version {token}"
                )));
            }
        }
        Ok(())
    }

    /// Whether a rotation or trial of the secret runs in this process now.
    pub(crate) fn is_running(&self, scope: &Scope, name: &str) -> bool {
        self.rotation
            .running
            .lock()
            .map(|r| r.contains(&(scope.clone(), name.to_string())))
            .unwrap_or(true)
    }

    /// Starts the trial testSecret of RotateImmediately=false in a task of its own (the
    /// progress already says [`STATE_TESTING`] with `token`), unless a rotation of the secret
    /// runs in this process.
    pub(crate) fn spawn_trial(&self, scope: Scope, name: String, token: String) -> bool {
        self.spawn_for_secret(scope, name, |me, scope, name| async move {
            if let Err(e) = me.trial(&scope, &name, &token).await {
                tracing::error!(error = %e, secret = %name, "rotation test stopped");
            }
            if let Err(e) = me.end_trial(&scope, &name).await {
                tracing::error!(error = %e, secret = %name, "rotation test not cleaned up");
            }
        })
    }

    /// The trial: AWSPENDING on a copy of AWSCURRENT's value, then the rotator's testSecret.
    /// Records the outcome; [`Secrets::end_trial`] removes the copy.
    async fn trial(&self, scope: &Scope, name: &str, token: &str) -> Result<(), SecretsError> {
        let Some(record) = self.store().get_secret_rotation(scope, name).await? else {
            return Ok(());
        };
        if record.state.as_deref() != Some(STATE_TESTING) || record.token.as_deref() != Some(token)
        {
            return Ok(());
        }
        let Some(secret) = self.store().get_secret(scope, name).await? else {
            return Ok(());
        };
        let now = self.now_ms();
        let event = |name: &'static str, failure: Option<String>| RotationEvent {
            name,
            scope: scope.clone(),
            secret_arn: secret.arn.clone(),
            version_id: token.to_string(),
            failure,
            time_ms: now,
        };
        self.record_event(event("TestRotationStarted", None)).await;
        let result = self.run_trial(&record, &secret, token).await;
        let now = self.now_ms();
        let outcome = match result {
            Ok(()) => {
                tracing::info!(secret = %secret.arn, "rotation test succeeded");
                RotationEvent {
                    time_ms: now,
                    ..event("TestRotationSucceeded", None)
                }
            }
            Err(e) => {
                let failure = format!("{TEST_SECRET}: {e}");
                tracing::warn!(secret = %secret.arn, %failure, "rotation test failed");
                RotationEvent {
                    time_ms: now,
                    ..event("TestRotationFailed", Some(failure))
                }
            }
        };
        self.record_event(outcome).await;
        Ok(())
    }

    async fn run_trial(
        &self,
        record: &SecretRotationRecord,
        secret: &SecretRecord,
        token: &str,
    ) -> Result<(), RotatorError> {
        let lambda = record
            .lambda_arn
            .as_deref()
            .ok_or_else(|| RotatorError("no RotationLambdaARN".to_string()))?;
        let rotator = self
            .rotators()
            .find(lambda)
            .ok_or_else(|| RotatorError(format!("no rotator is configured for {lambda}")))?;
        let caller = service_caller(&secret.scope, self.now_ms())?;
        let current = model::current(secret)
            .ok_or_else(|| RotatorError("the secret has no AWSCURRENT version".to_string()))?;
        let value = self.decrypt(&caller, secret, current).await?;
        let kind = if value.kind == model::KIND_BINARY {
            model::KIND_BINARY
        } else {
            model::KIND_STRING
        };
        let copy = model::NewValue {
            kind,
            bytes: value.bytes,
        };
        let stages = vec![model::AWSPENDING.to_string()];
        retrying(|| async {
            let mut fresh = self
                .store()
                .get_secret(&secret.scope, &secret.name)
                .await?
                .ok_or_else(crate::not_found)?;
            if fresh.versions.iter().any(|v| v.version_id == token) {
                return Ok(());
            }
            if let Some(p) = unfinished_pending(&fresh) {
                return Err(SecretsError::InvalidRequest(format!(
                    "AWSPENDING is attached to version {}, which is not AWSCURRENT",
                    p.version_id
                )));
            }
            let added =
                crate::ops::add_version(self, &caller, &mut fresh, token, &copy, Some(&stages))
                    .await?;
            if let crate::ops::Added::New(new) = added {
                self.save(&caller, &fresh, Some((&new, &copy))).await?;
            }
            Ok(())
        })
        .await?;
        let ctx = StepContext {
            secrets: self,
            caller,
            scope: secret.scope.clone(),
            name: secret.name.clone(),
            secret_arn: secret.arn.clone(),
            token: token.to_string(),
            rotation_token: record.rotation_token.clone().unwrap_or_default(),
        };
        match tokio::time::timeout(STEP_TIMEOUT, rotator.run(TEST_SECRET, &ctx)).await {
            Ok(r) => r,
            Err(_) => Err(RotatorError("the step timed out".to_string())),
        }
    }

    /// Ends a trial: removes its version (if it is still only AWSPENDING) and clears the
    /// progress. Does nothing when no trial is recorded.
    pub(crate) async fn end_trial(&self, scope: &Scope, name: &str) -> Result<(), SecretsError> {
        let Some(mut record) = self.store().get_secret_rotation(scope, name).await? else {
            return Ok(());
        };
        if record.state.as_deref() != Some(STATE_TESTING) {
            return Ok(());
        }
        if let Some(token) = record.token.clone() {
            retrying(|| async {
                let Some(mut secret) = self.store().get_secret(scope, name).await? else {
                    return Ok(());
                };
                let before = secret.versions.len();
                secret.versions.retain(|v| {
                    v.version_id != token || v.stages.iter().any(|s| s != model::AWSPENDING)
                });
                if secret.versions.len() == before {
                    return Ok(());
                }
                let caller = service_caller(scope, self.now_ms())?;
                self.save(&caller, &secret, None).await
            })
            .await?;
        }
        record.token = None;
        record.rotation_token = None;
        record.step = None;
        record.state = None;
        self.store()
            .put_secret_rotation(scope, name, &record)
            .await?;
        Ok(())
    }

    /// Whether `rotation_token` is the RotationToken of the rotation under way (compared in
    /// constant time).
    pub(crate) async fn rotation_token_valid(
        &self,
        secret: &SecretRecord,
        rotation_token: &str,
    ) -> Result<bool, SecretsError> {
        let record = self
            .store()
            .get_secret_rotation(&secret.scope, &secret.name)
            .await?;
        Ok(record.and_then(|r| r.rotation_token).is_some_and(|t| {
            trent_crypto::constant_time_eq(t.as_bytes(), rotation_token.as_bytes())
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_the_protocol() {
        assert_eq!(next_step(CREATE_SECRET), Some(SET_SECRET));
        assert_eq!(next_step(SET_SECRET), Some(TEST_SECRET));
        assert_eq!(next_step(TEST_SECRET), Some(FINISH_SECRET));
        assert_eq!(next_step(FINISH_SECRET), None);
    }
}
