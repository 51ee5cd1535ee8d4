//! The one error type of this crate.

/// Why a request's signature was not accepted.
///
/// The `Display` text of every variant is the message AWS would send; [`Error::aws_error_code`]
/// names the AWS error code to send it under. Messages quote only non-secret parts of the
/// request (dates, scopes, header names), shortened, and never a signature or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `Authorization` header is malformed or incomplete: wrong algorithm, a missing or
    /// ill-formed `Credential`, `SignedHeaders` or `Signature` component.
    /// AWS code: `IncompleteSignatureException`.
    #[error("{0}")]
    Incomplete(String),

    /// The `X-Amz-Date` header is missing or not `YYYYMMDDTHHMMSSZ`.
    /// AWS code: `IncompleteSignatureException`.
    #[error("{0}")]
    InvalidDate(String),

    /// The header is well formed but does not fit the request: wrong region, service or date in
    /// the credential scope, `host` not signed, a signed header absent from the request.
    /// AWS code: `InvalidSignatureException`.
    #[error("{0}")]
    Invalid(String),

    /// `X-Amz-Date` is too far in the past. AWS code: `InvalidSignatureException`.
    #[error("{0}")]
    SignatureExpired(String),

    /// `X-Amz-Date` is too far in the future. AWS code: `InvalidSignatureException`.
    #[error("{0}")]
    SignatureNotYetCurrent(String),

    /// The signature does not match the one computed from the request.
    /// AWS code: `InvalidSignatureException`.
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. \
         Consult the service documentation for details."
    )]
    SignatureMismatch,
}

impl Error {
    /// The error for a request that carries an `Authorization` header but no `X-Amz-Date`.
    pub fn missing_amz_date() -> Error {
        Error::InvalidDate(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .to_owned(),
        )
    }

    /// The AWS error code (the `__type` of a JSON-protocol error) for this error.
    pub fn aws_error_code(&self) -> &'static str {
        match self {
            Error::Incomplete(_) | Error::InvalidDate(_) => "IncompleteSignatureException",
            Error::Invalid(_)
            | Error::SignatureExpired(_)
            | Error::SignatureNotYetCurrent(_)
            | Error::SignatureMismatch => "InvalidSignatureException",
        }
    }

    /// The human-readable message to send to the client (same as `Display`).
    pub fn message(&self) -> String {
        self.to_string()
    }
}
