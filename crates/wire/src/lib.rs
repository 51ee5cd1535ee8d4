//! The AWS JSON 1.1 protocol pieces every Trent service shares.
//!
//! - [`ApiError`]: the `{"__type": …, "message": …}` error shape and its HTTP status.
//! - [`decode`]: request bodies into typed requests, with `SerializationException` naming the
//!   member that could not be read (never echoing the value: it may be a plaintext).
//! - [`Validator`]: `ValidationException` messages in the exact form AWS services use
//!   (`1 validation error detected: Value … at 'keyId' failed to satisfy constraint: …`).
//! - [`blob`] and [`timestamp`]: base64 blobs and epoch-second timestamps, as botocore encodes them.
//!
//! - [`query`]: the AWS Query protocol (IAM, STS): form-encoded requests, XML responses and the
//!   `<ErrorResponse>` error shape.
//!
//! Service request types live in their domain crates; this crate knows nothing of any service.

#![forbid(unsafe_code)]

pub mod query;

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::de::DeserializeOwned;

/// An error as it goes on the wire. Services build these from their own error enums; the server
/// writes them. `message` must never contain secret material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: Cow<'static, str>,
    pub message: String,
    pub status: u16,
}

impl ApiError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        ApiError {
            code: Cow::Borrowed(code),
            message: message.into(),
            status,
        }
    }

    /// A 400 error, the status almost every AWS client error uses.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, 400, message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::bad_request("ValidationException", message)
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::bad_request("SerializationException", message)
    }

    /// The JSON body: `{"__type":"…","message":"…"}`.
    pub fn to_json(&self) -> Vec<u8> {
        let body = serde_json::json!({ "__type": self.code, "message": self.message });
        body.to_string().into_bytes()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The operation table every service builds from its `"WireName" => module` list: the wire
/// names (`OPERATIONS`) and `decode_request`, which decodes a body as the operation's request
/// and drops it, the parsing dispatch does before any validation or store access (`None` for
/// an unknown operation). Each module has a `Request` type.
#[macro_export]
macro_rules! request_decoders {
    ($($name:literal => $module:ident,)*) => {
        /// Every operation Trent serves, by wire name.
        pub(crate) const OPERATIONS: &[&str] = &[$($name,)*];

        /// Decodes `body` as `operation`'s request and drops it: the parsing `dispatch` does
        /// before any validation or store access. `None` for an unknown operation.
        pub(crate) fn decode_request(
            operation: &str,
            body: &[u8],
        ) -> Option<Result<(), $crate::ApiError>> {
            match operation {
                $($name => Some($crate::decode::<$module::Request>(body).map(drop)),)*
                _ => None,
            }
        }
    };
}

/// Decodes a JSON request body. An empty body is read as `{}` (AWS accepts it for operations
/// without required members). Malformed JSON and members of the wrong type give
/// `SerializationException`; the message names the member but never repeats its value.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    // The fast path decodes without tracking where it is; only a failure pays for a second
    // pass that records the member path for the message.
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(_) => {
            let de = &mut serde_json::Deserializer::from_slice(body);
            let e = match serde_path_to_error::deserialize::<_, T>(de) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let path = e.path().to_string();
            let inner = e.into_inner();
            Err(ApiError::serialization(describe_json_error(&path, &inner)))
        }
    }
}

fn describe_json_error(path: &str, e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => format!(
            "Malformed JSON request body at line {} column {}",
            e.line(),
            e.column()
        ),
        Category::Data => {
            // serde's message reads "invalid type: string \"…\", expected …": keep only what was
            // expected, which comes from our types, never from the request.
            let text = e.to_string();
            let expected = text
                .split_once("expected ")
                .map(|(_, rest)| rest.split(" at line ").next().unwrap_or(rest))
                .unwrap_or("a value of the member's type");
            if path.is_empty() || path == "." {
                format!("The request body must be a JSON object (expected {expected})")
            } else {
                format!("Cannot deserialize member '{path}': expected {expected}")
            }
        }
    }
}

/// Collects constraint violations and renders them as AWS's `ValidationException` message.
///
/// Member names are given as they appear in messages: lower camel case (`keyId`).
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<String>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, value: Option<&str>, member: &str, constraint: &str) {
        let mut s = String::new();
        match value {
            Some(v) => {
                let _ = write!(
                    s,
                    "Value '{v}' at '{member}' failed to satisfy constraint: "
                );
            }
            None => {
                let _ = write!(s, "Value at '{member}' failed to satisfy constraint: ");
            }
        }
        s.push_str(constraint);
        self.errors.push(s);
    }

    /// Adds a violation with a custom constraint text.
    pub fn violation(&mut self, value: Option<&str>, member: &str, constraint: &str) {
        self.push(value, member, constraint);
    }

    /// A required member must be present. Returns whether it was.
    pub fn required<T>(&mut self, member: &str, value: &Option<T>) -> bool {
        if value.is_none() {
            self.errors.push(format!(
                "Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ));
            false
        } else {
            true
        }
    }

    /// String length in characters, as AWS counts it.
    pub fn length(&mut self, member: &str, value: Option<&str>, min: usize, max: usize) {
        if let Some(v) = value {
            let n = v.chars().count();
            let shown = display_value(v);
            if n < min {
                self.push(
                    Some(&shown),
                    member,
                    &format!("Member must have length greater than or equal to {min}"),
                );
            } else if n > max {
                self.push(
                    Some(&shown),
                    member,
                    &format!("Member must have length less than or equal to {max}"),
                );
            }
        }
    }

    /// Length of a sensitive string or blob: the value is never shown.
    pub fn secret_length(&mut self, member: &str, len: Option<usize>, min: usize, max: usize) {
        if let Some(n) = len {
            if n < min {
                self.push(
                    None,
                    member,
                    &format!("Member must have length greater than or equal to {min}"),
                );
            } else if n > max {
                self.push(
                    None,
                    member,
                    &format!("Member must have length less than or equal to {max}"),
                );
            }
        }
    }

    /// Number of elements of a list or map.
    pub fn count(&mut self, member: &str, len: Option<usize>, min: usize, max: usize) {
        self.secret_length(member, len, min, max)
    }

    pub fn range(&mut self, member: &str, value: Option<i64>, min: i64, max: i64) {
        if let Some(v) = value {
            let shown = v.to_string();
            if v < min {
                self.push(
                    Some(&shown),
                    member,
                    &format!("Member must have value greater than or equal to {min}"),
                );
            } else if v > max {
                self.push(
                    Some(&shown),
                    member,
                    &format!("Member must have value less than or equal to {max}"),
                );
            }
        }
    }

    /// The value must be one of `allowed`. Returns whether it was (or was absent).
    pub fn one_of(&mut self, member: &str, value: Option<&str>, allowed: &[&str]) -> bool {
        match value {
            Some(v) if !allowed.contains(&v) => {
                self.push(
                    Some(&display_value(v)),
                    member,
                    &format!(
                        "Member must satisfy enum value set: [{}]",
                        allowed.join(", ")
                    ),
                );
                false
            }
            _ => true,
        }
    }

    /// The value must satisfy `pattern` (shown in the message) as decided by `ok`.
    pub fn pattern(
        &mut self,
        member: &str,
        value: Option<&str>,
        pattern: &str,
        ok: impl Fn(&str) -> bool,
    ) {
        if let Some(v) = value
            && !ok(v)
        {
            self.push(
                Some(&display_value(v)),
                member,
                &format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok` if nothing was violated, else the `ValidationException`.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.errors.len() {
            0 => Ok(()),
            1 => Err(ApiError::validation(format!(
                "1 validation error detected: {}",
                self.errors.concat()
            ))),
            n => Err(ApiError::validation(format!(
                "{n} validation errors detected: {}",
                self.errors.join("; ")
            ))),
        }
    }
}

/// Long values are cut in messages so an error never balloons.
fn display_value(v: &str) -> String {
    const MAX: usize = 256;
    if v.chars().count() <= MAX {
        v.to_string()
    } else {
        let mut s: String = v.chars().take(MAX).collect();
        s.push_str("...");
        s
    }
}

/// Base64 blobs as botocore encodes them (standard alphabet, padded).
pub mod blob {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn encode(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    pub fn decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
        STANDARD.decode(s)
    }

    /// Decodes into a buffer sized once and wiped if decoding fails part way, for members that
    /// carry secrets. The caller owns (and must zeroize) the result.
    pub fn decode_secret(s: &str) -> Result<Vec<u8>, base64::DecodeSliceError> {
        let mut buf = vec![0u8; base64::decoded_len_estimate(s.len())];
        match STANDARD.decode_slice(s, &mut buf) {
            Ok(n) => {
                // Shrinking never reallocates, so no copy of the secret is left behind.
                buf.truncate(n);
                Ok(buf)
            }
            Err(e) => {
                zeroize::Zeroize::zeroize(&mut buf);
                Err(e)
            }
        }
    }

    /// `#[serde(with = "trent_wire::blob::option")]` for `Option<Vec<u8>>` members.
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(b) => s.serialize_str(&encode(b)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
            let s: Option<std::borrow::Cow<'de, str>> = Option::deserialize(d)?;
            match s {
                None => Ok(None),
                Some(s) => decode(&s).map(Some).map_err(|_| {
                    serde::de::Error::custom("invalid value, expected base64-encoded binary data")
                }),
            }
        }
    }
}

/// Timestamps as epoch seconds (fractional), the JSON 1.1 encoding.
pub mod timestamp {
    /// Milliseconds since the epoch to the wire's seconds.
    pub fn from_millis(ms: i64) -> f64 {
        // Exact for any date this side of year 287,396: i64 millis fit an f64 mantissa.
        ms as f64 / 1000.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "PascalCase")]
    #[allow(dead_code)]
    struct Req {
        key_id: Option<String>,
        number_of_bytes: Option<i64>,
        #[serde(default, with = "blob::option")]
        plaintext: Option<Vec<u8>>,
    }

    #[test]
    fn empty_body_is_an_empty_object() {
        let r: Req = decode(b"").unwrap();
        assert!(r.key_id.is_none());
    }

    #[test]
    fn malformed_json_is_a_serialization_exception() {
        let e = decode::<Req>(b"{\"KeyId\": ").unwrap_err();
        assert_eq!(e.code, "SerializationException");
        assert_eq!(e.status, 400);
    }

    #[test]
    fn wrong_type_names_the_member_but_not_the_value() {
        let e = decode::<Req>(br#"{"NumberOfBytes": "sekrit"}"#).unwrap_err();
        assert_eq!(e.code, "SerializationException");
        assert!(e.message.contains("NumberOfBytes"), "{}", e.message);
        assert!(!e.message.contains("sekrit"), "{}", e.message);
        let e = decode::<Req>(br#"{"Plaintext": "not base64!!"}"#).unwrap_err();
        assert!(e.message.contains("Plaintext"), "{}", e.message);
        assert!(!e.message.contains("not base64"), "{}", e.message);
        let e = decode::<Req>(br#"[1,2]"#).unwrap_err();
        assert_eq!(e.code, "SerializationException");
    }

    #[test]
    fn validation_messages_match_aws() {
        let mut v = Validator::new();
        v.required("keyId", &None::<String>);
        v.range("numberOfBytes", Some(0), 1, 1024);
        let e = v.finish().unwrap_err();
        assert_eq!(e.code, "ValidationException");
        assert_eq!(
            e.message,
            "2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: \
             Member must not be null; Value '0' at 'numberOfBytes' failed to satisfy constraint: \
             Member must have value greater than or equal to 1"
        );
        let mut v = Validator::new();
        v.secret_length("plaintext", Some(4097), 1, 4096);
        assert_eq!(
            v.finish().unwrap_err().message,
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: \
             Member must have length less than or equal to 4096"
        );
    }

    #[test]
    fn error_json_shape() {
        let e = ApiError::bad_request("NotFoundException", "Key 'x' does not exist");
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v["__type"], "NotFoundException");
        assert_eq!(v["message"], "Key 'x' does not exist");
    }
}
