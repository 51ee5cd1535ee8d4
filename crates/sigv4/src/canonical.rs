//! The canonical request (task 1 of SigV4), with the rules AWS applies to non-S3 services.
//!
//! ```text
//! METHOD\n
//! canonical URI\n          dot segments and empty segments removed, each segment URI-encoded
//! canonical query\n        decoded, re-encoded, sorted by name then value
//! name:value\n ...         one line per signed header
//! \n
//! signed;header;names\n
//! hex(sha256(payload))
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};

use crate::Error;

/// Everything but the RFC 3986 unreserved characters `A-Z a-z 0-9 - _ . ~` is encoded.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// An HTTP request as the server received it (or as the client will send it).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method, e.g. `POST`; used verbatim.
    pub method: &'a str,
    /// The path exactly as on the wire (still percent-encoded), without the query.
    pub path: &'a str,
    /// The raw query string, without the `?`; empty if none.
    pub query: &'a str,
    /// The headers as received: names in any case, possibly repeated, in arrival order.
    pub headers: &'a [(&'a str, &'a str)],
    /// SHA-256 of the body.
    pub payload_sha256: [u8; 32],
}

/// Builds the canonical request of `req` for the given signed header names (lower-case, in
/// the order of the `SignedHeaders` list, which [`crate::parse_authorization`] guarantees is
/// sorted).
///
/// Fails with [`Error::Invalid`] if a signed header does not occur in the request.
pub fn canonical_request(req: &Request<'_>, signed_headers: &[&str]) -> Result<String, Error> {
    let mut headers = String::new();
    for name in signed_headers {
        let mut values = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
            .peekable();
        if values.peek().is_none() {
            return Err(Error::Invalid(format!(
                "Header '{}' is listed in SignedHeaders but is not present in the request.",
                crate::quote(name)
            )));
        }
        push_header_line(&mut headers, &name.to_ascii_lowercase(), values);
    }
    Ok(assemble(
        req.method,
        req.path,
        req.query,
        &headers,
        &signed_headers
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(";"),
        &req.payload_sha256,
    ))
}

/// The canonical request of a request about to be signed: every header in `headers` is signed.
/// Returns the canonical request and the `SignedHeaders` list.
pub(crate) fn canonical_request_signing_all(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    payload_sha256: &[u8; 32],
) -> (String, String) {
    let mut grouped: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, value) in headers {
        grouped
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value);
    }
    let mut lines = String::new();
    for (name, values) in &grouped {
        push_header_line(&mut lines, name, values.iter().copied());
    }
    let signed = grouped
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(";");
    let creq = assemble(method, path, query, &lines, &signed, payload_sha256);
    (creq, signed)
}

fn assemble(
    method: &str,
    path: &str,
    query: &str,
    header_lines: &str,
    signed_headers: &str,
    payload_sha256: &[u8; 32],
) -> String {
    format!(
        "{method}\n{}\n{}\n{header_lines}\n{signed_headers}\n{}",
        canonical_uri(path),
        canonical_query(query),
        trent_crypto::hex(payload_sha256)
    )
}

/// Appends `name:v1,v2,...\n`, each value trimmed with inner whitespace runs collapsed.
fn push_header_line<'v>(out: &mut String, name: &str, values: impl Iterator<Item = &'v str>) {
    out.push_str(name);
    out.push(':');
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, word) in value.split_ascii_whitespace().enumerate() {
            if j > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out.push('\n');
}

/// The canonical URI: `.`/`..` and empty segments resolved (a trailing `/` is kept), then each
/// segment URI-encoded. The input is the path as on the wire, so its `%` signs are encoded
/// again (`%20` → `%2520`): the double encoding AWS uses for every service but S3.
pub(crate) fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for segment in &segments {
        out.push('/');
        out.extend(percent_encode(segment.as_bytes(), ENCODE));
    }
    if segments.is_empty() || path.ends_with('/') {
        out.push('/');
    }
    out
}

/// The canonical query string: each `name=value` pair form-decoded (`+` is a space, bad `%`
/// escapes are kept literally), re-encoded with the unreserved set (space as `%20`), sorted by
/// name then value, `X-Amz-Signature` left out.
pub(crate) fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = form_decode(name);
            (name != b"X-Amz-Signature").then(|| (encode(&name), encode(&form_decode(value))))
        })
        .collect();
    pairs.sort_unstable();
    let mut out = String::with_capacity(query.len());
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{name}={value}");
    }
    out
}

fn form_decode(s: &str) -> Vec<u8> {
    let plus_as_space = s.replace('+', " ");
    percent_decode(plus_as_space.as_bytes()).collect()
}

fn encode(bytes: &[u8]) -> String {
    percent_encode(bytes, ENCODE).to_string()
}
