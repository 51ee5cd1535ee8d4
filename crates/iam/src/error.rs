//! The one error type of IAM and STS, and its mapping to the Query protocol's error shape.

use trent_store::StoreError;
use trent_wire::ApiError;

/// An IAM or STS failure. Every variant but the internal ones is the caller's fault and is
/// answered with its AWS code and message; internal ones are logged and answered generically.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IamError {
    #[error("{0}")]
    NoSuchEntity(String),
    #[error("{0}")]
    EntityAlreadyExists(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// A constraint violation (`ValidationError`), with AWS's message.
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("Could not find operation {0} for version {1}")]
    InvalidAction(String, &'static str),
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("random number generator failure")]
    Crypto(#[from] trent_crypto::Error),
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl IamError {
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            IamError::Store(_) | IamError::Crypto(_) | IamError::Internal(_)
        )
    }

    /// The wire error, with the HTTP status botocore's models give each code.
    pub fn to_api_error(&self) -> ApiError {
        let message = self.to_string();
        match self {
            IamError::NoSuchEntity(_) => ApiError::new("NoSuchEntity", 404, message),
            IamError::EntityAlreadyExists(_) => ApiError::new("EntityAlreadyExists", 409, message),
            IamError::MalformedPolicyDocument(_) => {
                ApiError::new("MalformedPolicyDocument", 400, message)
            }
            IamError::Validation(_) => ApiError::new("ValidationError", 400, message),
            IamError::InvalidInput(_) => ApiError::new("InvalidInput", 400, message),
            IamError::LimitExceeded(_) => ApiError::new("LimitExceeded", 409, message),
            IamError::DeleteConflict(_) => ApiError::new("DeleteConflict", 409, message),
            IamError::AccessDenied(_) => ApiError::new("AccessDenied", 403, message),
            IamError::InvalidAction(..) => ApiError::new("InvalidAction", 400, message),
            IamError::Store(_) | IamError::Crypto(_) | IamError::Internal(_) => ApiError::new(
                "ServiceFailure",
                500,
                "The request processing has failed because of an unknown error, exception or failure.",
            ),
        }
    }
}

/// A [`trent_wire::Validator`] result as IAM's `ValidationError`.
pub(crate) fn validation(result: Result<(), ApiError>) -> Result<(), IamError> {
    result.map_err(|e| IamError::Validation(e.message))
}
