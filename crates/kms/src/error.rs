//! The KMS error enum and its mapping to AWS's wire errors.

use trent_store::StoreError;
use trent_wire::ApiError;

/// Everything a KMS operation can answer besides success. Messages carry identifiers (key ARNs,
/// alias names), never plaintexts, key material or ciphertext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// A request that fails its constraints; the message is AWS's validation message.
    #[error("{0}")]
    Validation(#[source] ApiError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0} is disabled.")]
    Disabled(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    InvalidCiphertext(&'static str),
    #[error("The key ID in the request does not identify a CMK that can perform this operation.")]
    IncorrectKey,
    #[error("{0}")]
    InvalidKeyUsage(String),
    #[error("{0}")]
    InvalidArn(String),
    #[error("{0}")]
    InvalidAliasName(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    Tag(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    InvalidMarker(&'static str),
    #[error("The MAC does not match the message under this key and algorithm.")]
    InvalidMac,
    #[error("The signature does not verify for this message, key and algorithm.")]
    InvalidSignature,
    #[error("{0}")]
    InvalidGrantToken(&'static str),
    #[error("{0}")]
    InvalidGrantId(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("The request would have succeeded, but the DryRun option is set.")]
    DryRun,
    /// Imported key material that is not the key's, or not valid for its key spec.
    #[error("{0}")]
    IncorrectKeyMaterial(String),
    #[error("{0}")]
    ExpiredImportToken(String),
    /// An import token that Trent did not issue, or issued for another key.
    #[error("{0}")]
    InvalidImportToken(String),
    /// Over the request quota of the caller's account and Region.
    #[error(
        "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
    )]
    Throttling,
    #[error("store failure")]
    Store(#[from] StoreError),
    #[error("cryptographic failure")]
    Crypto(#[from] trent_crypto::Error),
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl From<ApiError> for KmsError {
    fn from(e: ApiError) -> Self {
        KmsError::Validation(e)
    }
}

impl KmsError {
    /// The wire form. Internal failures get a generic message; the caller logs `self` (with its
    /// source chain) under the request id.
    pub fn to_api_error(&self) -> ApiError {
        use KmsError::*;
        let code = match self {
            Validation(e) => return e.clone(),
            NotFound(_) => "NotFoundException",
            Disabled(_) => "DisabledException",
            InvalidState(_) => "KMSInvalidStateException",
            InvalidCiphertext(_) => "InvalidCiphertextException",
            IncorrectKey => "IncorrectKeyException",
            InvalidKeyUsage(_) => "InvalidKeyUsageException",
            InvalidArn(_) => "InvalidArnException",
            InvalidAliasName(_) => "InvalidAliasNameException",
            AlreadyExists(_) => "AlreadyExistsException",
            MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
            LimitExceeded(_) => "LimitExceededException",
            Tag(_) => "TagException",
            UnsupportedOperation(_) => "UnsupportedOperationException",
            InvalidMarker(_) => "InvalidMarkerException",
            InvalidMac => "KMSInvalidMacException",
            InvalidSignature => "KMSInvalidSignatureException",
            InvalidGrantToken(_) => "InvalidGrantTokenException",
            InvalidGrantId(_) => "InvalidGrantIdException",
            AccessDenied(_) => "AccessDeniedException",
            IncorrectKeyMaterial(_) => "IncorrectKeyMaterialException",
            ExpiredImportToken(_) => "ExpiredImportTokenException",
            InvalidImportToken(_) => "InvalidImportTokenException",
            Throttling => "ThrottlingException",
            DryRun => return ApiError::new("DryRunOperationException", 412, self.to_string()),
            Store(_) | Crypto(_) | Internal(_) => {
                return ApiError::new(
                    "KMSInternalException",
                    500,
                    "The request failed because of an internal error. Try again later.",
                );
            }
        };
        ApiError::bad_request(code, self.to_string())
    }

    /// Whether this is a server-side failure worth logging with its cause.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            KmsError::Store(_) | KmsError::Crypto(_) | KmsError::Internal(_)
        )
    }
}
