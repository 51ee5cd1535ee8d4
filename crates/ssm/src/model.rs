//! Parameter names, selectors, labels, tiers, and the shapes shared by several operations.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use trent_crypto::SecretBytes;
use trent_store::{ParameterVersionRecord, Scope};

use crate::SsmError;

pub const STRING: &str = "String";
pub const STRING_LIST: &str = "StringList";
pub const SECURE_STRING: &str = "SecureString";
pub const TYPES: &[&str] = &[STRING, STRING_LIST, SECURE_STRING];

pub const STANDARD: &str = "Standard";
pub const ADVANCED: &str = "Advanced";
pub const INTELLIGENT_TIERING: &str = "Intelligent-Tiering";
pub const TIERS: &[&str] = &[STANDARD, ADVANCED, INTELLIGENT_TIERING];

pub const DATA_TYPE_TEXT: &str = "text";
pub const DATA_TYPE_EC2_IMAGE: &str = "aws:ec2:image";
/// Every DataType AWS knows.
pub const AWS_DATA_TYPES: &[&str] = &[
    "text",
    "aws:ec2:image",
    "aws:ssm:integration",
    "aws:region",
    "aws:account:id",
    "boolean",
    "integer",
    "float",
    "binary",
    "hostname",
    "email",
    "ipv4-address",
    "ipv6-address",
    "url",
    "json",
    "jsonc",
];

/// Largest value of a Standard parameter, in characters.
pub const STANDARD_VALUE_MAX: usize = 4096;
/// Largest value of an Advanced parameter, in characters.
pub const ADVANCED_VALUE_MAX: usize = 8192;
/// Versions a parameter keeps.
pub const MAX_VERSIONS: i64 = 100;
/// Labels one version may carry.
pub const MAX_LABELS_PER_VERSION: usize = 10;
/// Tags one parameter may carry.
pub const MAX_TAGS: usize = 50;
/// Levels of a hierarchical name.
pub const MAX_HIERARCHY_LEVELS: usize = 15;
/// Longest parameter ARN, which bounds the name.
const MAX_ARN_LEN: usize = 1011;

/// The KMS key SecureString uses when none is named.
pub const DEFAULT_KEY_ALIAS: &str = "alias/aws/ssm";
/// The encryption context member binding a SecureString ciphertext to its parameter.
pub const CONTEXT_KEY: &str = "PARAMETER_ARN";

const NAME_RULES: &str = "Parameter name: can't be prefixed with \"aws\" or \"ssm\" \
    (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; \
    each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_";

/// `arn:aws:ssm:<region>:<account>:parameter/<name>`; a leading `/` of the name is not doubled.
pub fn parameter_arn(scope: &Scope, name: &str) -> String {
    let sep = if name.starts_with('/') { "" } else { "/" };
    format!(
        "arn:aws:ssm:{}:{}:parameter{sep}{name}",
        scope.region, scope.account_id
    )
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')
}

/// Checks a name as PutParameter requires it. `name` is already trimmed.
pub fn check_name(scope: &Scope, name: &str) -> Result<(), SsmError> {
    if name.is_empty() || !name.chars().all(is_name_char) {
        return Err(SsmError::validation(NAME_RULES));
    }
    let first = name.trim_start_matches('/');
    let first = first.split('/').next().unwrap_or_default();
    let lower = first.to_ascii_lowercase();
    if lower.starts_with("aws") || lower.starts_with("ssm") {
        return Err(SsmError::validation(NAME_RULES));
    }
    if name.contains('/') {
        if !name.starts_with('/') {
            return Err(SsmError::validation(
                "Parameter name must be a fully qualified name.",
            ));
        }
        if name.ends_with('/') || name.contains("//") {
            return Err(SsmError::validation(NAME_RULES));
        }
    }
    if name.matches('/').count() > MAX_HIERARCHY_LEVELS {
        return Err(SsmError::HierarchyLevelLimitExceeded);
    }
    if parameter_arn(scope, name).len() > MAX_ARN_LEN {
        return Err(SsmError::validation(format!(
            "Parameter name: the ARN of the parameter must be at most {MAX_ARN_LEN} characters."
        )));
    }
    Ok(())
}

/// Whether `name` could name a parameter at all (for lookups: a name that cannot exist is
/// simply not found).
pub fn is_lookup_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(is_name_char)
}

/// What a `name:selector` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Latest,
    Version(i64),
    Label(String),
}

impl Selector {
    /// Splits `name[:selector]`. A selector of digits is a version (labels cannot start with a
    /// digit); anything else is a label.
    pub fn split(input: &str) -> (&str, Selector) {
        match input.split_once(':') {
            None => (input, Selector::Latest),
            Some((name, sel)) if !sel.is_empty() && sel.bytes().all(|b| b.is_ascii_digit()) => {
                match sel.parse::<i64>() {
                    Ok(v) => (name, Selector::Version(v)),
                    Err(_) => (name, Selector::Label(sel.to_string())),
                }
            }
            Some((name, sel)) => (name, Selector::Label(sel.to_string())),
        }
    }

    /// The `Selector` response member: `:3` or `:label`.
    pub fn echo(&self) -> Option<String> {
        match self {
            Selector::Latest => None,
            Selector::Version(v) => Some(format!(":{v}")),
            Selector::Label(l) => Some(format!(":{l}")),
        }
    }
}

/// Whether a label may be put on a version: 1–100 of `[A-Za-z0-9._-]`, not starting with a digit,
/// `aws` or `ssm` (case-insensitive).
pub fn is_valid_label(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    (1..=100).contains(&label.chars().count())
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !label.starts_with(|c: char| c.is_ascii_digit())
        && !lower.starts_with("aws")
        && !lower.starts_with("ssm")
}

/// A pagination token: the position, base64 so clients treat it as opaque.
pub mod token {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use crate::SsmError;

    pub fn encode(position: &str) -> String {
        URL_SAFE_NO_PAD.encode(position.as_bytes())
    }

    pub fn decode(token: &str) -> Result<String, SsmError> {
        URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(SsmError::InvalidNextToken)
    }
}

/// A value as it goes out: plain text, or a decrypted SecureString kept zeroizing until it is
/// written into the response.
pub enum Value {
    Plain(String),
    Secret(SecretBytes),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Plain(v) => s.serialize_str(v),
            Value::Secret(v) => s.serialize_str(
                std::str::from_utf8(v.expose_secret())
                    .map_err(|_| serde::ser::Error::custom("SecureString value is not UTF-8"))?,
            ),
        }
    }
}

/// Deserializes a sensitive string member straight into [`SecretBytes`].
pub mod secret_string {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretBytes>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(|s| SecretBytes::new(s.into_bytes())))
    }
}

/// The `Parameter` shape of GetParameter, GetParameters and GetParametersByPath.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    pub name: String,
    #[serde(rename = "Type")]
    pub param_type: String,
    pub value: Value,
    pub version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// For a Secrets Manager reference, the secret's DescribeSecret JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_result: Option<String>,
    pub last_modified_date: f64,
    #[serde(rename = "ARN")]
    pub arn: String,
    pub data_type: String,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: Option<String>,
    pub value: Option<String>,
}

/// The stored value as text: SecureString ciphertext as base64, the form AWS returns without
/// decryption.
pub fn stored_value_text(v: &ParameterVersionRecord) -> Result<String, SsmError> {
    if v.param_type == SECURE_STRING {
        Ok(trent_wire::blob::encode(&v.value))
    } else {
        String::from_utf8(v.value.clone()).map_err(|_| SsmError::Internal("stored value not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope::new("111122223333", "us-east-1")
    }

    #[test]
    fn names() {
        let s = scope();
        for ok in ["a", "/a", "/a/b.c-d_e", "A1", "x.aws", "/app/aws"] {
            assert!(check_name(&s, ok).is_ok(), "{ok}");
        }
        for bad in [
            "aws", "awsome", "/AWS/x", "SSM-x", "/ssm", "a b", "a/b", "/a//b", "/a/", "a:b", "",
        ] {
            assert!(check_name(&s, bad).is_err(), "{bad}");
        }
        let deep = "/l".repeat(15);
        assert!(check_name(&s, &deep).is_ok());
        let too_deep = "/l".repeat(16);
        assert!(matches!(
            check_name(&s, &too_deep),
            Err(SsmError::HierarchyLevelLimitExceeded)
        ));
        assert!(check_name(&s, &"n".repeat(2000)).is_err());
    }

    #[test]
    fn selectors_and_labels() {
        assert_eq!(Selector::split("/a"), ("/a", Selector::Latest));
        assert_eq!(Selector::split("/a:3"), ("/a", Selector::Version(3)));
        assert_eq!(
            Selector::split("/a:prod"),
            ("/a", Selector::Label("prod".into()))
        );
        assert_eq!(Selector::Version(3).echo().as_deref(), Some(":3"));
        assert!(is_valid_label("prod-1.x_y"));
        for bad in [
            "1st",
            "awsx",
            "SSMlabel",
            "a b",
            "a/b",
            "",
            &"l".repeat(101),
        ] {
            assert!(!is_valid_label(bad), "{bad}");
        }
    }

    #[test]
    fn arns() {
        let s = scope();
        assert_eq!(
            parameter_arn(&s, "/a/b"),
            "arn:aws:ssm:us-east-1:111122223333:parameter/a/b"
        );
        assert_eq!(
            parameter_arn(&s, "a"),
            "arn:aws:ssm:us-east-1:111122223333:parameter/a"
        );
    }
}
