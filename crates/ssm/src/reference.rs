//! `/aws/reference/secretsmanager/<secret-id>[:<stage or version>]`: GetParameter and
//! GetParameters pass such names through to Secrets Manager's GetSecretValue.
//!
//! Parameter Store does not depend on Secrets Manager: the server, which holds both services,
//! plugs a [`SecretLookup`] into [`Ssm`] (`Ssm::with_secret_lookup`). Without one (a Parameter
//! Store on its own) no secret exists and every reference answers what AWS answers for a
//! missing secret.

use std::future::Future;
use std::pin::Pin;

use trent_crypto::SecretBytes;

use crate::model::{Parameter, Value};
use crate::{Caller, Ssm, SsmError};

/// The name prefix of Secrets Manager references.
pub const PREFIX: &str = "/aws/reference/secretsmanager/";

/// Whether `name` (with any selector) is a Secrets Manager reference.
pub fn is_reference(name: &str) -> bool {
    name.starts_with(PREFIX)
}

/// A secret as a lookup finds it: the version's value and what the `Parameter` shape reports.
pub struct Secret {
    /// The secret's ARN.
    pub arn: String,
    /// The value as text (a binary secret base64-encoded).
    pub value: SecretBytes,
    /// When the version was created.
    pub created_ms: i64,
    /// The DescribeSecret JSON of the secret (`SourceResult`).
    pub source_result: String,
}

/// The future a [`SecretLookup`] returns.
pub type LookupFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Secret>, SsmError>> + Send + 'a>>;

/// Secrets Manager as Parameter Store sees it: GetSecretValue as the caller, by name or ARN and
/// an optional version id or staging label. `Ok(None)` when there is no such secret or version.
pub trait SecretLookup: Send + Sync {
    fn lookup<'a>(
        &'a self,
        caller: &'a Caller,
        secret_id: &'a str,
        selector: Option<&'a str>,
    ) -> LookupFuture<'a>;
}

/// Resolves a reference. `Ok(None)` when the secret does not exist (GetParameter answers
/// ParameterNotFound, GetParameters lists the name in InvalidParameters). AWS requires
/// `WithDecryption=true` for references and refuses anything else with a ValidationException.
pub async fn resolve(
    ssm: &Ssm,
    caller: &Caller,
    input: &str,
    with_decryption: bool,
) -> Result<Option<Parameter>, SsmError> {
    if !with_decryption {
        return Err(SsmError::validation(
            "WithDecryption flag must be True for retrieving a Secret Value from Secrets Manager",
        ));
    }
    let reference = input.strip_prefix(PREFIX).unwrap_or_default();
    let (secret_id, selector) = match reference.split_once(':') {
        Some((id, sel)) => (id, Some(sel)),
        None => (reference, None),
    };
    if secret_id.is_empty() {
        return Ok(None);
    }
    let Some(lookup) = ssm.secret_lookup() else {
        return Ok(None);
    };
    let Some(secret) = lookup.lookup(caller, secret_id, selector).await? else {
        return Ok(None);
    };
    Ok(Some(Parameter {
        name: format!("{PREFIX}{secret_id}"),
        param_type: crate::model::SECURE_STRING.to_string(),
        value: Value::Secret(secret.value),
        // AWS reports version 0 for references.
        version: 0,
        selector: selector.map(|s| format!(":{s}")),
        source_result: Some(secret.source_result),
        last_modified_date: trent_wire::timestamp::from_millis(secret.created_ms),
        arn: secret.arn,
        data_type: crate::model::DATA_TYPE_TEXT.to_string(),
    }))
}
