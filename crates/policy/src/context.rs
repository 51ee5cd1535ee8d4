//! What a request is: who calls ([`Caller`]), which action on which resource, and the
//! condition keys with their typed values ([`ContextValue`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::error::PolicyError;
use crate::value::{Number, Timestamp};

/// The kind of an AWS identity, read from its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityKind {
    /// `arn:aws:iam::<account>:root`.
    Root,
    /// `arn:aws:iam::<account>:user/<path/>name`.
    User { name: String },
    /// `arn:aws:iam::<account>:role/<path/>name`, when a role itself is the caller.
    Role { name: String },
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    AssumedRole { role_name: String, session: String },
    /// `arn:aws:sts::<account>:federated-user/<name>`.
    FederatedUser { name: String },
}

/// An authenticated AWS identity: an account root, an IAM user, or a role session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsIdentity {
    arn: String,
    account: String,
    kind: IdentityKind,
    /// For a role session, the role's ARN (with its path when the identity layer knows it).
    role_arn: Option<String>,
    user_id: Option<String>,
    /// Principal tags, keys lowercased (tag keys are matched without case).
    tags: Vec<(String, String)>,
}

impl AwsIdentity {
    /// Reads an identity from its ARN. For a role session the role ARN is derived without a
    /// path (`arn:aws:iam::<account>:role/<role>`); use [`AwsIdentity::with_role_arn`] to give
    /// the real one when the role has a path.
    pub fn from_arn(arn: &str) -> Result<AwsIdentity, PolicyError> {
        let invalid = |reason: &'static str| PolicyError::InvalidCallerArn {
            arn: arn.to_owned(),
            reason,
        };
        let mut parts = arn.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(invalid("not an ARN"));
        };
        if partition.is_empty() || !region.is_empty() {
            return Err(invalid("not an IAM or STS principal ARN"));
        }
        if !is_account_id(account) {
            return Err(invalid("the account must be 12 digits"));
        }
        let last = |path: &str| path.rsplit('/').next().unwrap_or_default().to_owned();
        let (kind, role_arn) = match (service, resource.split_once('/')) {
            ("iam", None) if resource == "root" => (IdentityKind::Root, None),
            ("iam", Some(("user", path))) if !path.is_empty() => {
                (IdentityKind::User { name: last(path) }, None)
            }
            ("iam", Some(("role", path))) if !path.is_empty() => {
                (IdentityKind::Role { name: last(path) }, None)
            }
            ("sts", Some(("assumed-role", rest))) => match rest.split_once('/') {
                Some((role, session)) if !role.is_empty() && !session.is_empty() => (
                    IdentityKind::AssumedRole {
                        role_name: role.to_owned(),
                        session: session.to_owned(),
                    },
                    Some(format!("arn:{partition}:iam::{account}:role/{role}")),
                ),
                _ => {
                    return Err(invalid(
                        "an assumed-role ARN needs a role and a session name",
                    ));
                }
            },
            ("sts", Some(("federated-user", name))) if !name.is_empty() => (
                IdentityKind::FederatedUser {
                    name: name.to_owned(),
                },
                None,
            ),
            _ => {
                return Err(invalid(
                    "not a root, user, role, assumed-role or federated-user ARN",
                ));
            }
        };
        let user_id = matches!(kind, IdentityKind::Root).then(|| account.to_owned());
        Ok(AwsIdentity {
            arn: arn.to_owned(),
            account: account.to_owned(),
            kind,
            role_arn,
            user_id,
            tags: Vec::new(),
        })
    }

    /// The role's full ARN (with path), for a role session.
    pub fn with_role_arn(mut self, role_arn: impl Into<String>) -> Self {
        if matches!(self.kind, IdentityKind::AssumedRole { .. }) {
            self.role_arn = Some(role_arn.into());
        }
        self
    }

    /// The unique id (`aws:userid`): `AIDA…` for a user, `AROA…:<session>` for a role session.
    pub fn with_user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// A principal tag (`aws:PrincipalTag/<key>`).
    pub fn with_tag(mut self, key: impl AsRef<str>, value: impl Into<String>) -> Self {
        self.tags.push((key.as_ref().to_lowercase(), value.into()));
        self
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn kind(&self) -> &IdentityKind {
        &self.kind
    }

    pub fn role_arn(&self) -> Option<&str> {
        self.role_arn.as_deref()
    }

    /// The unique id (`aws:userid`), when known.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// `aws:PrincipalArn`: the role's ARN for a role session, the caller's ARN otherwise.
    pub fn principal_arn(&self) -> &str {
        self.role_arn.as_deref().unwrap_or(&self.arn)
    }
}

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Who makes the request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Caller {
    Aws(AwsIdentity),
    /// An AWS service principal such as `secretsmanager.amazonaws.com`.
    Service(String),
    /// An unauthenticated request.
    Anonymous,
}

/// One typed value of a condition key. String operators read every kind as text; the other
/// operators read text that parses as their type (so a key supplied as `"10"` still works
/// with `NumericLessThan`), and a value that does not parse matches nothing.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ContextValue {
    String(String),
    Number(Number),
    Date(Timestamp),
    Bool(bool),
    Binary(Vec<u8>),
    Ip(IpAddr),
}

impl ContextValue {
    pub(crate) fn as_text(&self) -> Cow<'_, str> {
        match self {
            ContextValue::String(s) => Cow::Borrowed(s),
            ContextValue::Number(n) => Cow::Owned(n.to_string()),
            ContextValue::Date(t) => Cow::Owned(t.to_string()),
            ContextValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            ContextValue::Binary(bytes) => Cow::Owned(BASE64.encode(bytes)),
            ContextValue::Ip(ip) => Cow::Owned(ip.to_string()),
        }
    }

    pub(crate) fn as_number(&self) -> Option<Number> {
        match self {
            ContextValue::Number(n) => Some(*n),
            ContextValue::String(s) => Number::parse(s),
            _ => None,
        }
    }

    pub(crate) fn as_date(&self) -> Option<Timestamp> {
        match self {
            ContextValue::Date(t) => Some(*t),
            ContextValue::Number(Number::Int(secs)) => Some(Timestamp::from_unix_seconds(*secs)),
            ContextValue::Number(Number::Float(_)) => Timestamp::parse(&self.as_text()),
            ContextValue::String(s) => Timestamp::parse(s),
            _ => None,
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            ContextValue::Bool(b) => Some(*b),
            ContextValue::String(s) => parse_bool(s),
            _ => None,
        }
    }

    pub(crate) fn as_bytes(&self) -> Option<Cow<'_, [u8]>> {
        match self {
            ContextValue::Binary(bytes) => Some(Cow::Borrowed(bytes)),
            ContextValue::String(s) => BASE64.decode(s).ok().map(Cow::Owned),
            _ => None,
        }
    }

    pub(crate) fn as_ip(&self) -> Option<IpAddr> {
        match self {
            ContextValue::Ip(ip) => Some(*ip),
            ContextValue::String(s) => s.parse().ok(),
            _ => None,
        }
    }
}

pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

impl From<&str> for ContextValue {
    fn from(s: &str) -> Self {
        ContextValue::String(s.to_owned())
    }
}
impl From<String> for ContextValue {
    fn from(s: String) -> Self {
        ContextValue::String(s)
    }
}
impl From<bool> for ContextValue {
    fn from(b: bool) -> Self {
        ContextValue::Bool(b)
    }
}
impl From<i64> for ContextValue {
    fn from(n: i64) -> Self {
        ContextValue::Number(Number::Int(n))
    }
}
impl From<Number> for ContextValue {
    fn from(n: Number) -> Self {
        ContextValue::Number(n)
    }
}
impl From<Timestamp> for ContextValue {
    fn from(t: Timestamp) -> Self {
        ContextValue::Date(t)
    }
}
impl From<IpAddr> for ContextValue {
    fn from(ip: IpAddr) -> Self {
        ContextValue::Ip(ip)
    }
}
impl From<Vec<u8>> for ContextValue {
    fn from(bytes: Vec<u8>) -> Self {
        ContextValue::Binary(bytes)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Single(ContextValue),
    Multi(Vec<ContextValue>),
}

/// One request, as the evaluator sees it.
///
/// Condition keys are case-insensitive. The caller's keys are filled in from the [`Caller`]:
/// `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalType`, `aws:username` (IAM
/// users), `aws:userid` (when known), `aws:PrincipalTag/<key>`, `aws:PrincipalServiceName`
/// (service callers). A key set explicitly replaces a derived one.
#[derive(Debug, Clone)]
pub struct RequestContext {
    caller: Caller,
    action: String,
    action_folded: String,
    resource: String,
    keys: HashMap<String, Entry>,
}

impl RequestContext {
    /// `action` is `service:Action` (`kms:Decrypt`); `resource` is the ARN acted on, or `*`
    /// for actions without a resource (`kms:CreateKey`, `kms:ListKeys`).
    pub fn new(caller: Caller, action: impl Into<String>, resource: impl Into<String>) -> Self {
        let action = action.into();
        let mut ctx = RequestContext {
            action_folded: action.to_lowercase(),
            action,
            resource: resource.into(),
            keys: HashMap::new(),
            caller: Caller::Anonymous,
        };
        match &caller {
            Caller::Aws(id) => {
                ctx.insert("aws:PrincipalArn", id.principal_arn());
                ctx.insert("aws:PrincipalAccount", id.account());
                let kind = match id.kind() {
                    IdentityKind::Root => "Account",
                    IdentityKind::User { .. } => "User",
                    IdentityKind::Role { .. } | IdentityKind::AssumedRole { .. } => "AssumedRole",
                    IdentityKind::FederatedUser { .. } => "FederatedUser",
                };
                ctx.insert("aws:PrincipalType", kind);
                if let IdentityKind::User { name } = id.kind() {
                    ctx.insert("aws:username", name.as_str());
                }
                if let Some(user_id) = &id.user_id {
                    ctx.insert("aws:userid", user_id.as_str());
                }
                for (key, value) in &id.tags {
                    ctx.keys.insert(
                        format!("aws:principaltag/{key}"),
                        Entry::Single(ContextValue::String(value.clone())),
                    );
                }
            }
            Caller::Service(name) => {
                ctx.insert("aws:PrincipalServiceName", name.as_str());
            }
            Caller::Anonymous => {
                ctx.insert("aws:PrincipalType", "Anonymous");
            }
        }
        ctx.caller = caller;
        ctx
    }

    /// Sets a single-valued key.
    pub fn insert(&mut self, key: &str, value: impl Into<ContextValue>) {
        self.keys
            .insert(key.to_lowercase(), Entry::Single(value.into()));
    }

    /// Sets a multivalued key (`aws:TagKeys`, `kms:EncryptionContextKeys`, …). An empty list
    /// is an empty set: `ForAllValues` is true of it, `ForAnyValue` false, `Null` calls it absent.
    pub fn insert_multi<V: Into<ContextValue>>(
        &mut self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) {
        self.keys.insert(
            key.to_lowercase(),
            Entry::Multi(values.into_iter().map(Into::into).collect()),
        );
    }

    /// Builder form of [`RequestContext::insert`].
    pub fn with(mut self, key: &str, value: impl Into<ContextValue>) -> Self {
        self.insert(key, value);
        self
    }

    /// Builder form of [`RequestContext::insert_multi`].
    pub fn with_multi<V: Into<ContextValue>>(
        mut self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        self.insert_multi(key, values);
        self
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    pub fn action(&self) -> &str {
        &self.action
    }

    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The values of a key (any case), empty when the key is absent.
    pub fn values(&self, key: &str) -> &[ContextValue] {
        self.values_folded(&key.to_lowercase())
    }

    pub(crate) fn action_folded(&self) -> &str {
        &self.action_folded
    }

    /// `key` must already be lowercased.
    pub(crate) fn values_folded(&self, key: &str) -> &[ContextValue] {
        match self.keys.get(key) {
            Some(Entry::Single(value)) => std::slice::from_ref(value),
            Some(Entry::Multi(values)) => values,
            None => &[],
        }
    }

    /// The text of a single-valued key, for a policy variable. Multivalued keys never resolve.
    pub(crate) fn variable(&self, key: &str) -> Option<String> {
        match self.keys.get(key) {
            Some(Entry::Single(value)) => Some(value.as_text().into_owned()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_from_arns() {
        let root = AwsIdentity::from_arn("arn:aws:iam::111122223333:root").unwrap();
        assert_eq!(root.kind(), &IdentityKind::Root);
        assert_eq!(root.principal_arn(), "arn:aws:iam::111122223333:root");

        let user = AwsIdentity::from_arn("arn:aws:iam::111122223333:user/dev/Alice").unwrap();
        assert_eq!(
            user.kind(),
            &IdentityKind::User {
                name: "Alice".into()
            }
        );

        let session =
            AwsIdentity::from_arn("arn:aws:sts::111122223333:assumed-role/App/i-0abc").unwrap();
        assert_eq!(
            session.principal_arn(),
            "arn:aws:iam::111122223333:role/App"
        );
        let session = session.with_role_arn("arn:aws:iam::111122223333:role/svc/App");
        assert_eq!(
            session.principal_arn(),
            "arn:aws:iam::111122223333:role/svc/App"
        );

        for bad in [
            "",
            "arn:aws:iam::1111:root",
            "arn:aws:iam::111122223333:group/x",
            "arn:aws:sts::111122223333:assumed-role/App",
            "arn:aws:kms:us-east-1:111122223333:key/x",
            "arn:aws:iam::111122223333:user/",
        ] {
            assert!(AwsIdentity::from_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn derived_keys() {
        let id = AwsIdentity::from_arn("arn:aws:iam::111122223333:user/Alice")
            .unwrap()
            .with_tag("Team", "blue");
        let ctx = RequestContext::new(Caller::Aws(id), "kms:Encrypt", "*")
            .with("aws:SourceIp", "10.0.0.1");
        assert_eq!(ctx.values("AWS:USERNAME"), [ContextValue::from("Alice")]);
        assert_eq!(
            ctx.values("aws:principaltag/team"),
            [ContextValue::from("blue")]
        );
        assert_eq!(
            ctx.values("aws:PrincipalAccount"),
            [ContextValue::from("111122223333")]
        );
        assert_eq!(ctx.values("aws:sourceip"), [ContextValue::from("10.0.0.1")]);
        assert!(ctx.values("aws:userid").is_empty());
    }
}
