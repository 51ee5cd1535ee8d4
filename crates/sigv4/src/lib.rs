//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`), both sides of it.
//!
//! Trent's HTTP front end uses this crate to *verify* the `Authorization` header of incoming
//! requests; the load generator and HTTP client use it to *sign* outgoing ones. Both sides share
//! one canonicalisation, so a request signed here always verifies here, and both agree with the
//! AWS SDKs (checked against the public AWS SigV4 test suite in the unit tests).
//!
//! # Layout
//!
//! - [`auth`]: parses the `Authorization` header into an [`Authorization`].
//! - [`canonical`]: the canonical request — [`Request`], [`canonical_request`] — with the
//!   non-S3 rules (dot-segment normalisation, double-encoded path, sorted query, trimmed headers).
//! - [`date`]: `X-Amz-Date` parsing and formatting, and [`check_skew`] with AWS's messages.
//! - [`sign`]: the key ladder ([`signing_key`]), [`string_to_sign`], [`signature`], the
//!   server-side [`verify`] and the client-side [`Signer`].
//! - [`error`]: the single [`Error`] type; each variant maps to the AWS error code the server
//!   should answer with ([`Error::aws_error_code`]).
//!
//! # Server-side flow
//!
//! ```text
//! let auth = parse_authorization(authorization_header)?;          // IncompleteSignature
//! let when = parse_amz_date(x_amz_date)?;                          // IncompleteSignature
//! check_skew(when, now, Duration::minutes(15))?;                   // InvalidSignature
//! auth.check_scope(my_region, "kms")?;                             // InvalidSignature
//! let key = signing_key(secret, auth.date, auth.region, auth.service);
//! verify(&key, &auth, &request, x_amz_date)?;                      // InvalidSignature
//! ```
//!
//! Everything that reads request data is total: malformed input yields an [`Error`], never a
//! panic. Error messages never contain secrets or signatures.

#![forbid(unsafe_code)]

pub mod auth;
pub mod canonical;
pub mod date;
pub mod error;
pub mod sign;

pub use auth::{Authorization, parse_authorization};
pub use canonical::{Request, canonical_request};
pub use date::{check_skew, format_amz_date, parse_amz_date};
pub use error::Error;
pub use sign::{Signer, signature, signing_key, string_to_sign, verify};

/// The only algorithm supported: the first word of the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The fixed last element of a credential scope.
pub const TERMINATOR: &str = "aws4_request";

/// Renders attacker-controlled text for inclusion in an error message: at most 64 characters,
/// control characters replaced, so messages stay short and log-safe.
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = s
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests;
