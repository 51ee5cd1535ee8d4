//! The link from Parameter Store's `/aws/reference/secretsmanager/…` names to Secrets Manager.
//! It lives here, in the crate that holds both services, so neither depends on the other.

use std::sync::Arc;

use trent_secrets::{Secrets, SecretsError};
use trent_ssm::{Caller, LookupFuture, Secret, SecretLookup, SsmError};

pub(crate) struct SecretsReference(pub Arc<Secrets>);

impl SecretLookup for SecretsReference {
    fn lookup<'a>(
        &'a self,
        caller: &'a Caller,
        secret_id: &'a str,
        selector: Option<&'a str>,
    ) -> LookupFuture<'a> {
        Box::pin(async move {
            match self.0.reference(caller, secret_id, selector).await {
                Ok(found) => Ok(found.map(|r| Secret {
                    arn: r.arn,
                    value: r.value,
                    created_ms: r.created_ms,
                    source_result: r.describe_json,
                })),
                Err(e) if e.is_internal() => {
                    tracing::error!(
                        request_id = caller.request_id,
                        error = %crate::auth::error_chain(&e),
                        "Secrets Manager reference failed"
                    );
                    Err(SsmError::Internal("Secrets Manager reference failed"))
                }
                // Access and KMS errors reach the caller with Secrets Manager's code and message.
                Err(SecretsError::AccessDenied(m)) => Err(SsmError::AccessDenied(m)),
                Err(e) => Err(SsmError::Validation(e.to_api_error())),
            }
        })
    }
}
