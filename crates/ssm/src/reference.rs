//! `/aws/reference/secretsmanager/<secret-id>[:<stage or version>]`: GetParameter and
//! GetParameters pass such names through to Secrets Manager's GetSecretValue.
//!
//! Secrets Manager is not served by Trent yet, so no secret exists and every reference answers
//! what AWS answers for a missing secret. [`lookup_secret`] is the seam where the Secrets
//! Manager service plugs in: it will return the secret's value and its DescribeSecret JSON
//! (`SourceResult`), and [`resolve`] will turn them into the `Parameter` shape.

use crate::model::Parameter;
use crate::{Caller, Ssm, SsmError};

/// The name prefix of Secrets Manager references.
pub const PREFIX: &str = "/aws/reference/secretsmanager/";

/// Whether `name` (with any selector) is a Secrets Manager reference.
pub fn is_reference(name: &str) -> bool {
    name.starts_with(PREFIX)
}

/// A secret as a lookup finds it. Secrets Manager is not served yet, so no secret can be found:
/// the type has no values. With Secrets Manager it becomes the secret's value, version and
/// DescribeSecret JSON.
pub enum Secret {}

/// Looks up the secret a reference names. Secrets Manager is not served yet: there are no
/// secrets, so every lookup finds nothing.
async fn lookup_secret(
    _ssm: &Ssm,
    _caller: &Caller,
    _secret_id: &str,
    _selector: Option<&str>,
) -> Result<Option<Secret>, SsmError> {
    Ok(None)
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
    match lookup_secret(ssm, caller, secret_id, selector).await? {
        None => Ok(None),
        Some(secret) => match secret {},
    }
}
