//! The Parameter Store error enum and its mapping to AWS's wire errors.

use trent_kms::KmsError;
use trent_store::StoreError;
use trent_wire::ApiError;

/// Everything a Parameter Store operation can answer besides success. Messages carry parameter
/// names, versions and labels, never values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SsmError {
    /// A request that fails its constraints; the message is AWS's validation message.
    #[error("{0}")]
    Validation(#[source] ApiError),
    #[error("Parameter {0} not found.")]
    ParameterNotFound(String),
    #[error(
        "The parameter already exists. To overwrite this value, set the overwrite option in the \
         request to true."
    )]
    ParameterAlreadyExists,
    #[error("{0}")]
    ParameterVersionNotFound(String),
    #[error(
        "Parameter name: hierarchy level limit exceeded. The maximum number of hierarchy levels \
         is 15."
    )]
    HierarchyLevelLimitExceeded,
    #[error("{0}")]
    HierarchyTypeMismatch(String),
    #[error("{0}")]
    InvalidAllowedPattern(String),
    #[error("{0}")]
    ParameterPatternMismatch(String),
    #[error("{0}")]
    ParameterMaxVersionLimitExceeded(String),
    #[error(
        "A parameter version can have maximum 10 labels. Move one or more labels to another \
         version and try again."
    )]
    ParameterVersionLabelLimitExceeded,
    #[error("There are concurrent updates for the resource that you're trying to update.")]
    TooManyUpdates,
    /// The per-tier parameter count of the account and region is reached.
    #[error(
        "You have exceeded the number of parameters for this AWS account. Delete one or more \
         parameters and try again."
    )]
    ParameterLimitExceeded,
    /// The KMS key cannot be used: missing, disabled, pending deletion, wrong kind.
    #[error("{0}")]
    InvalidKeyId(#[source] KmsError),
    #[error("{0}")]
    AccessDenied(String),
    #[error("The specified token is not valid.")]
    InvalidNextToken,
    #[error("{0}")]
    InvalidResourceType(String),
    #[error("The resource ID isn't valid. Verify that you entered the correct ID and try again.")]
    InvalidResourceId,
    #[error("A parameter can have at most {0} tags.")]
    TooManyTags(usize),
    #[error("store failure")]
    Store(#[from] StoreError),
    #[error("KMS failure")]
    Kms(#[source] KmsError),
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl From<ApiError> for SsmError {
    fn from(e: ApiError) -> Self {
        SsmError::Validation(e)
    }
}

impl From<KmsError> for SsmError {
    /// KMS errors as Parameter Store surfaces them: a key that cannot be used is `InvalidKeyId`
    /// (with KMS's reason), a denied key is `AccessDeniedException`, anything else is internal.
    fn from(e: KmsError) -> Self {
        if e.is_internal() {
            return SsmError::Kms(e);
        }
        match e.to_api_error().code.as_ref() {
            "AccessDeniedException" => SsmError::AccessDenied(e.to_string()),
            "NotFoundException"
            | "DisabledException"
            | "KMSInvalidStateException"
            | "InvalidKeyUsageException"
            | "IncorrectKeyException"
            | "InvalidArnException"
            | "ValidationException"
            | "InvalidCiphertextException"
            | "UnsupportedOperationException" => SsmError::InvalidKeyId(e),
            _ => SsmError::Kms(e),
        }
    }
}

impl SsmError {
    /// A KMS failure of a call made on the caller's behalf. A denial is passed through as AWS
    /// passes it: KMS's message with the service and its error code appended.
    pub(crate) fn from_kms(e: KmsError, request_id: &str) -> Self {
        match SsmError::from(e) {
            SsmError::AccessDenied(message) => SsmError::AccessDenied(format!(
                "{message} (Service: AWSKMS; Status Code: 400; Error Code: \
                 AccessDeniedException; Request ID: {request_id}; Proxy: null)"
            )),
            other => other,
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        SsmError::Validation(ApiError::validation(message))
    }

    /// The wire form. Internal failures get a generic message; the caller logs `self` (with its
    /// source chain) under the request id.
    pub fn to_api_error(&self) -> ApiError {
        use SsmError::*;
        let code = match self {
            Validation(e) => return e.clone(),
            ParameterNotFound(_) => "ParameterNotFound",
            ParameterAlreadyExists => "ParameterAlreadyExists",
            ParameterVersionNotFound(_) => "ParameterVersionNotFound",
            HierarchyLevelLimitExceeded => "HierarchyLevelLimitExceededException",
            HierarchyTypeMismatch(_) => "HierarchyTypeMismatchException",
            InvalidAllowedPattern(_) => "InvalidAllowedPatternException",
            ParameterPatternMismatch(_) => "ParameterPatternMismatchException",
            ParameterMaxVersionLimitExceeded(_) => "ParameterMaxVersionLimitExceeded",
            ParameterVersionLabelLimitExceeded => "ParameterVersionLabelLimitExceeded",
            TooManyUpdates => "TooManyUpdates",
            ParameterLimitExceeded => "ParameterLimitExceeded",
            InvalidKeyId(_) => "InvalidKeyId",
            AccessDenied(_) => "AccessDeniedException",
            InvalidNextToken => "InvalidNextToken",
            InvalidResourceType(_) => "InvalidResourceType",
            InvalidResourceId => "InvalidResourceId",
            TooManyTags(_) => "TooManyTagsError",
            Store(_) | Kms(_) | Internal(_) => {
                return ApiError::new(
                    "InternalServerError",
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
            SsmError::Store(_) | SsmError::Kms(_) | SsmError::Internal(_)
        )
    }
}
