//! Parsing the `Authorization` header.
//!
//! ```text
//! AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=<64 hex>
//! ```
//!
//! After the algorithm, components are `Key=Value` pairs separated by commas and/or
//! whitespace, in any order. Unknown keys are ignored, as AWS does; a repeated known key is an
//! error, since it would be ambiguous which one was meant.

use std::fmt;

use crate::date::parse_date_stamp;
use crate::{ALGORITHM, Error, TERMINATOR, quote};

/// A parsed `Authorization` header. Borrows from the header text.
///
/// `Debug` shows everything except the signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// The access key id, first element of the credential.
    pub access_key_id: &'a str,
    /// The credential date, `YYYYMMDD` (validated as a calendar date).
    pub date: &'a str,
    /// The region of the credential scope.
    pub region: &'a str,
    /// The service of the credential scope.
    pub service: &'a str,
    /// The signed header names: non-empty, lower-case, strictly sorted, containing `host`.
    pub signed_headers: Vec<&'a str>,
    /// The signature, decoded from hex.
    pub signature: [u8; 32],
}

impl Authorization<'_> {
    /// The credential scope, `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{TERMINATOR}",
            self.date, self.region, self.service
        )
    }

    /// Checks that the credential is scoped to `region` and `service`, with AWS's messages
    /// (both problems are reported at once, as AWS does).
    pub fn check_scope(&self, region: &str, service: &str) -> Result<(), Error> {
        let mut problems = Vec::new();
        if self.region != region {
            problems.push(format!(
                "Credential should be scoped to a valid region, not '{}'.",
                quote(self.region)
            ));
        }
        if self.service != service {
            problems.push(format!(
                "Credential should be scoped to correct service: '{}'.",
                quote(service)
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(problems.join(" ")))
        }
    }
}

impl fmt::Debug for Authorization<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("access_key_id", &self.access_key_id)
            .field("date", &self.date)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &"<redacted>")
            .finish()
    }
}

/// Parses an `Authorization` header value of the `AWS4-HMAC-SHA256` scheme.
///
/// Every failure is [`Error::Incomplete`] with an AWS-style message, except a `SignedHeaders`
/// list without `host`, which is [`Error::Invalid`] (the header is well formed but unacceptable).
pub fn parse_authorization(header: &str) -> Result<Authorization<'_>, Error> {
    let header = header.trim_matches(|c: char| c.is_ascii_whitespace());
    let (algorithm, rest) = header
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((header, ""));
    if algorithm != ALGORITHM {
        return Err(Error::Incomplete(format!(
            "Unsupported AWS 'algorithm': '{}'.",
            quote(algorithm)
        )));
    }

    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for component in rest
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|s| !s.is_empty())
    {
        let Some((key, value)) = component.split_once('=') else {
            // Not quoted back: a mangled component may be (part of) the signature.
            return Err(Error::Incomplete(
                "Authorization header component is not a valid key=value pair (missing equal-sign)."
                    .to_owned(),
            ));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(Error::Incomplete(format!(
                "Authorization header has more than one '{key}' parameter."
            )));
        }
    }

    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        let mut missing = Vec::new();
        for (name, present) in [
            ("Credential", credential.is_some()),
            ("Signature", signature.is_some()),
            ("SignedHeaders", signed_headers.is_some()),
        ] {
            if !present {
                missing.push(format!("Authorization header requires '{name}' parameter."));
            }
        }
        return Err(Error::Incomplete(missing.join(" ")));
    };

    let (access_key_id, date, region, service) = parse_credential(credential)?;
    let signed_headers = parse_signed_headers(signed_headers)?;
    let signature = parse_signature(signature)?;
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// `AKID/YYYYMMDD/region/service/aws4_request` → its first four parts.
fn parse_credential(credential: &str) -> Result<(&str, &str, &str, &str), Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, terminator] = parts.as_slice() else {
        return Err(malformed_credential(credential));
    };
    if [akid, date, region, service, terminator]
        .iter()
        .any(|p| p.is_empty())
    {
        return Err(malformed_credential(credential));
    }
    if parse_date_stamp(date).is_none() {
        return Err(Error::Incomplete(format!(
            "Credential date must be a valid date in YYYYMMDD format, not '{}'.",
            quote(date)
        )));
    }
    if *terminator != TERMINATOR {
        return Err(Error::Incomplete(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
            quote(terminator)
        )));
    }
    Ok((akid, date, region, service))
}

fn malformed_credential(credential: &str) -> Error {
    Error::Incomplete(format!(
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
        quote(credential)
    ))
}

/// `content-type;host;x-amz-date` → its names, checked lower-case, sorted, unique, with `host`.
fn parse_signed_headers(list: &str) -> Result<Vec<&str>, Error> {
    let names: Vec<&str> = list.split(';').collect();
    let well_formed = names.iter().all(|n| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase())
    }) && names.windows(2).all(|w| matches!(w, [a, b] if a < b));
    if !well_formed {
        return Err(Error::Incomplete(
            "SignedHeaders must be a ';'-separated list of lower-case header names in sorted order."
                .to_owned(),
        ));
    }
    if !names.contains(&"host") {
        return Err(Error::Invalid(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    Ok(names)
}

/// 64 hex digits → 32 bytes. The value is never quoted back.
fn parse_signature(hex: &str) -> Result<[u8; 32], Error> {
    trent_crypto::unhex(hex)
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| Error::Incomplete("Signature must be 64 hexadecimal characters.".to_owned()))
}
