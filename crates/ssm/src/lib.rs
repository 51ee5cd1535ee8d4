//! The Systems Manager Parameter Store service: hierarchical, versioned, labelled parameters.
//!
//! Layout:
//! - [`Ssm`] (this file): the service, value encryption through the in-process KMS service, and
//!   the shared reads (a parameter's version by selector, the response `Parameter` shape).
//! - `ops/`: one module per API operation, each with its request and response types (the
//!   botocore shapes), validation and handler. [`Ssm::call`] dispatches to them by name.
//! - [`model`]: name, label and selector rules, tiers, pagination tokens.
//!
//! SecureString values are encrypted by the KMS service before they reach the store, bound to
//! the parameter's ARN in the encryption context (`PARAMETER_ARN`), as AWS does: a ciphertext
//! copied onto another parameter does not decrypt. Every write to a parameter is checked against
//! the revision it read, so concurrent writers never lose a version.

#![forbid(unsafe_code)]

mod error;
pub mod model;
mod ops;

use std::sync::Arc;

use trent_crypto::SecretBytes;
use trent_kms::{EncryptionContext, Kms};
use trent_store::clock::Clock;
use trent_store::{ParameterVersionRecord, Scope, Store};

pub use error::SsmError;
use model::Selector;
pub use trent_kms::Caller;

/// Retries of a write that lost a race to another writer of the same parameter. Each lost
/// race means another write committed; past the bound the caller gets `TooManyUpdates`.
pub(crate) const UPDATE_RETRIES: usize = 64;

/// The Parameter Store service. Cheap to share behind an `Arc`.
pub struct Ssm {
    store: Arc<dyn Store>,
    kms: Arc<Kms>,
    clock: Arc<dyn Clock>,
}

impl Ssm {
    pub fn new(store: Arc<dyn Store>, kms: Arc<Kms>, clock: Arc<dyn Clock>) -> Self {
        Ssm { store, kms, clock }
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

    /// Whether `operation` is a Parameter Store operation Trent serves.
    pub fn has_operation(operation: &str) -> bool {
        ops::OPERATIONS.contains(&operation)
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
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
                    .await?,
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
            .await?;
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
                .await?;
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
            Selector::Latest => self.store.get_parameter_version(scope, name, None).await?,
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
            last_modified_date: trent_wire::timestamp::from_millis(version.modified_ms),
            arn: model::parameter_arn(&caller.scope, name),
            data_type: version.data_type.clone(),
        })
    }
}
