//! The Secrets Manager error enum and its mapping to AWS's wire errors.

use trent_kms::KmsError;
use trent_store::StoreError;
use trent_wire::ApiError;

/// Everything a Secrets Manager operation can answer besides success. Messages carry secret
/// names, ARNs, version ids and labels, never values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// A request that fails the model's constraints; the message is AWS's validation message.
    #[error("{0}")]
    Validation(#[source] ApiError),
    #[error("{0}")]
    InvalidParameter(String),
    /// The secret is in a state that does not allow the operation (such as scheduled for
    /// deletion).
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceExists(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    PublicPolicy(String),
    #[error("The NextToken value is invalid.")]
    InvalidNextToken,
    /// KMS refused the caller (AWS hides KMS's own message).
    #[error("Access to KMS is not allowed")]
    KmsAccessDenied(#[source] KmsError),
    #[error(
        "Secrets Manager can't encrypt the protected secret text using the provided KMS key. \
         Check that the KMS key is available, enabled, and not in an invalid state."
    )]
    EncryptionFailure(#[source] KmsError),
    #[error("Secrets Manager can't decrypt the protected secret text using the provided KMS key.")]
    DecryptionFailure(#[source] KmsError),
    #[error("{0}")]
    AccessDenied(String),
    #[error("store failure")]
    Store(#[from] StoreError),
    #[error("KMS failure")]
    Kms(#[source] KmsError),
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl From<ApiError> for SecretsError {
    fn from(e: ApiError) -> Self {
        SecretsError::Validation(e)
    }
}

impl SecretsError {
    /// A KMS failure while encrypting a value.
    pub(crate) fn from_encrypt(e: KmsError) -> Self {
        Self::from_kms(e, SecretsError::EncryptionFailure)
    }

    /// A KMS failure while decrypting a value.
    pub(crate) fn from_decrypt(e: KmsError) -> Self {
        Self::from_kms(e, SecretsError::DecryptionFailure)
    }

    fn from_kms(e: KmsError, unusable: fn(KmsError) -> SecretsError) -> Self {
        if e.is_internal() {
            return SecretsError::Kms(e);
        }
        if e.to_api_error().code == "AccessDeniedException" {
            SecretsError::KmsAccessDenied(e)
        } else {
            unusable(e)
        }
    }

    /// The wire form. Internal failures get a generic message; the caller logs `self` (with its
    /// source chain) under the request id.
    pub fn to_api_error(&self) -> ApiError {
        use SecretsError::*;
        let code = match self {
            Validation(e) => return e.clone(),
            InvalidParameter(_) => "InvalidParameterException",
            InvalidRequest(_) => "InvalidRequestException",
            ResourceNotFound(_) => "ResourceNotFoundException",
            ResourceExists(_) => "ResourceExistsException",
            LimitExceeded(_) => "LimitExceededException",
            InvalidNextToken => "InvalidNextTokenException",
            MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
            PublicPolicy(_) => "PublicPolicyException",
            KmsAccessDenied(_) | AccessDenied(_) => "AccessDeniedException",
            EncryptionFailure(_) => "EncryptionFailure",
            DecryptionFailure(_) => "DecryptionFailure",
            Store(_) | Kms(_) | Internal(_) => {
                return ApiError::new(
                    "InternalServiceError",
                    500,
                    "An error occurred on the server side.",
                );
            }
        };
        ApiError::bad_request(code, self.to_string())
    }

    /// Whether this is a server-side failure worth logging with its cause.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            SecretsError::Store(_) | SecretsError::Kms(_) | SecretsError::Internal(_)
        )
    }
}
