//! One request as a CloudTrail record.
//!
//! The HTTP layer fills a [`Call`] as the request goes (who, which operation, the request and
//! response bodies, the key ARNs the service resolved, the error) and [`Call::into_event`] turns
//! it into the record. Request and response members pass through the allow-lists of
//! [`crate::redact`], so what reaches the record is only what is named there.

use std::net::IpAddr;

use serde_json::{Map, Value, json};
use trent_policy::{AwsIdentity, IdentityKind};

use crate::redact::{self, Body};

/// The CloudTrail record format version written.
pub const EVENT_VERSION: &str = "1.11";

/// `userIdentity`: who made the call, as far as authentication got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserIdentity {
    /// An authenticated caller.
    Known {
        identity: AwsIdentity,
        access_key_id: String,
    },
    /// Authentication failed or was absent: only the access key the request presented, if any.
    Unknown { access_key_id: Option<String> },
}

impl UserIdentity {
    /// The `userIdentity` object, as CloudTrail writes it for each kind of caller.
    pub fn to_json(&self) -> Value {
        match self {
            UserIdentity::Unknown { access_key_id } => {
                let mut m = Map::new();
                m.insert("type".into(), json!("Unknown"));
                if let Some(k) = access_key_id {
                    m.insert("accessKeyId".into(), json!(k));
                }
                Value::Object(m)
            }
            UserIdentity::Known {
                identity,
                access_key_id,
            } => {
                let account = identity.account();
                let principal_id = identity.user_id().unwrap_or(account);
                match identity.kind() {
                    IdentityKind::Root => json!({
                        "type": "Root",
                        "principalId": account,
                        "arn": identity.arn(),
                        "accountId": account,
                        "accessKeyId": access_key_id,
                    }),
                    IdentityKind::User { name } => json!({
                        "type": "IAMUser",
                        "principalId": principal_id,
                        "arn": identity.arn(),
                        "accountId": account,
                        "accessKeyId": access_key_id,
                        "userName": name,
                    }),
                    IdentityKind::AssumedRole { role_name, .. } => {
                        let role_id = principal_id.split(':').next().unwrap_or(principal_id);
                        json!({
                            "type": "AssumedRole",
                            "principalId": principal_id,
                            "arn": identity.arn(),
                            "accountId": account,
                            "accessKeyId": access_key_id,
                            "sessionContext": {
                                "sessionIssuer": {
                                    "type": "Role",
                                    "principalId": role_id,
                                    "arn": identity.principal_arn(),
                                    "accountId": account,
                                    "userName": role_name,
                                },
                                "attributes": {"mfaAuthenticated": "false"},
                            },
                        })
                    }
                    IdentityKind::Role { name } => json!({
                        "type": "Role",
                        "principalId": principal_id,
                        "arn": identity.arn(),
                        "accountId": account,
                        "accessKeyId": access_key_id,
                        "userName": name,
                    }),
                    IdentityKind::FederatedUser { name } => json!({
                        "type": "FederatedUser",
                        "principalId": principal_id,
                        "arn": identity.arn(),
                        "accountId": account,
                        "accessKeyId": access_key_id,
                        "userName": name,
                    }),
                    _ => json!({
                        "type": "Unknown",
                        "arn": identity.arn(),
                        "accountId": account,
                        "accessKeyId": access_key_id,
                    }),
                }
            }
        }
    }

    /// The name LookupEvents' `Username` attribute matches: the user, role or session name;
    /// `root` for an account root.
    pub fn username(&self) -> Option<String> {
        match self {
            UserIdentity::Unknown { .. } => None,
            UserIdentity::Known { identity, .. } => match identity.kind() {
                IdentityKind::Root => Some("root".to_owned()),
                IdentityKind::User { name }
                | IdentityKind::Role { name }
                | IdentityKind::FederatedUser { name } => Some(name.clone()),
                IdentityKind::AssumedRole { session, .. } => Some(session.clone()),
                _ => None,
            },
        }
    }

    pub fn access_key_id(&self) -> Option<&str> {
        match self {
            UserIdentity::Known { access_key_id, .. } => Some(access_key_id),
            UserIdentity::Unknown { access_key_id } => access_key_id.as_deref(),
        }
    }

    /// The caller's account, when authenticated.
    pub fn account(&self) -> Option<&str> {
        match self {
            UserIdentity::Known { identity, .. } => Some(identity.account()),
            UserIdentity::Unknown { .. } => None,
        }
    }
}

/// What the HTTP layer learned about one request.
#[derive(Debug, Clone)]
pub struct Call {
    /// The SigV4 signing name of the service addressed (`kms`, `ssm`, `iam`, ...), if known.
    pub service: Option<String>,
    /// The operation (`Encrypt`, `PutParameter`, `CreateUser`), as the request named it.
    pub operation: Option<String>,
    pub region: Option<String>,
    pub source_ip: IpAddr,
    pub user_agent: Option<String>,
    pub request_id: String,
    pub identity: UserIdentity,
    /// The account the event is recorded for when the caller is unknown (the deployment's
    /// default account).
    pub default_account: String,
    pub request: Body,
    /// The response body of a successful call, when the operation records response elements.
    pub response: Option<Value>,
    /// `(errorCode, errorMessage)` of a failed call.
    pub error: Option<(String, String)>,
    /// Resource ARNs the service resolved (KMS key ARNs), in order, without duplicates.
    pub resources: Vec<String>,
}

/// A record ready for the chain: the JSON and the columns LookupEvents filters on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub account_id: String,
    pub event_time_ms: i64,
    pub event_id: String,
    pub event_name: String,
    pub event_source: String,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub read_only: bool,
    /// JSON array of `{"accountId", "type", "ARN"}`.
    pub resources: String,
    pub record: String,
}

/// A name safe to put in a record: at most 128 characters of `[A-Za-z0-9._-]`.
fn clean_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(128)
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SSZ`, as CloudTrail writes eventTime.
pub fn format_time(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The resource type of an ARN, as CloudTrail names it.
fn resource_type(arn: &str) -> &'static str {
    let mut parts = arn.splitn(6, ':');
    let service = parts.nth(2).unwrap_or_default();
    let resource = parts.nth(2).unwrap_or_default();
    match (service, resource.split('/').next().unwrap_or_default()) {
        ("kms", "key") => "AWS::KMS::Key",
        ("kms", "alias") => "AWS::KMS::Alias",
        ("ssm", "parameter") => "AWS::SSM::Parameter",
        ("iam", "user") => "AWS::IAM::User",
        ("iam", "role") => "AWS::IAM::Role",
        ("iam", "policy") => "AWS::IAM::Policy",
        ("secretsmanager", "secret") => "AWS::SecretsManager::Secret",
        _ => "AWS::Unknown",
    }
}

impl Call {
    /// A call known only by its peer and request id; the rest is filled in as the request is
    /// decoded.
    pub fn new(request_id: String, source_ip: IpAddr, default_account: String) -> Self {
        Call {
            service: None,
            operation: None,
            region: None,
            source_ip,
            user_agent: None,
            request_id,
            identity: UserIdentity::Unknown {
                access_key_id: None,
            },
            default_account,
            request: Body::None,
            response: None,
            error: None,
            resources: Vec::new(),
        }
    }

    /// Whether the operation's response elements are recorded, so the HTTP layer parses the
    /// response body only when they are.
    pub fn wants_response(&self) -> bool {
        match (&self.service, &self.operation) {
            (Some(s), Some(op)) => redact::records_response(s, op),
            _ => false,
        }
    }

    /// Whether the operation records request parameters at all (so the body is parsed only
    /// then).
    pub fn wants_request(&self) -> bool {
        match (&self.service, &self.operation) {
            (Some(s), Some(op)) => redact::records_request(s, op),
            _ => false,
        }
    }

    /// Adds a resource ARN the service resolved.
    pub fn add_resource(&mut self, arn: &str) {
        if !self.resources.iter().any(|r| r == arn) {
            self.resources.push(arn.to_owned());
        }
    }

    /// The CloudTrail record, at `now_ms`.
    pub fn into_event(self, now_ms: i64) -> Event {
        let service = self.service.as_deref().map(clean_name);
        let event_source = match &service {
            Some(s) if !s.is_empty() => format!("{s}.amazonaws.com"),
            _ => "unknown".to_owned(),
        };
        let event_name = match self.operation.as_deref().map(clean_name) {
            Some(op) if !op.is_empty() => op,
            _ => "Unknown".to_owned(),
        };
        let known = service.as_deref().unwrap_or_default();
        let read_only = redact::read_only(known, &event_name);
        let (request_parameters, response_elements) = if self.error.is_none() {
            (
                redact::request_parameters(known, &event_name, &self.request),
                redact::response_elements(known, &event_name, self.response.as_ref()),
            )
        } else {
            (
                redact::request_parameters(known, &event_name, &self.request),
                Value::Null,
            )
        };
        let account_id = self
            .identity
            .account()
            .map(str::to_owned)
            .unwrap_or(self.default_account);
        // A time-ordered UUID (version 7): each new id sorts after the last, so the lookup index
        // on event ids grows at its end instead of touching a random page per event, which
        // made that index the most expensive part of each audit commit.
        let event_id = uuid::Uuid::now_v7().to_string();
        let resources: Vec<Value> = self
            .resources
            .iter()
            .map(|arn| {
                json!({
                    "accountId": arn.split(':').nth(4).unwrap_or_default(),
                    "type": resource_type(arn),
                    "ARN": arn,
                })
            })
            .collect();
        let resources_json = Value::Array(resources.clone()).to_string();
        let mut r = Map::new();
        r.insert("eventVersion".into(), json!(EVENT_VERSION));
        r.insert("userIdentity".into(), self.identity.to_json());
        r.insert("eventTime".into(), json!(format_time(now_ms)));
        r.insert("eventSource".into(), json!(event_source));
        r.insert("eventName".into(), json!(event_name));
        r.insert(
            "awsRegion".into(),
            json!(self.region.as_deref().map(clean_name).unwrap_or_default()),
        );
        r.insert("sourceIPAddress".into(), json!(self.source_ip.to_string()));
        r.insert(
            "userAgent".into(),
            json!(
                self.user_agent
                    .as_deref()
                    .map(|u| u.chars().take(512).collect::<String>())
                    .unwrap_or_default()
            ),
        );
        if let Some((code, message)) = &self.error {
            r.insert("errorCode".into(), json!(code));
            r.insert(
                "errorMessage".into(),
                json!(message.chars().take(1024).collect::<String>()),
            );
        }
        r.insert("requestParameters".into(), request_parameters);
        r.insert("responseElements".into(), response_elements);
        r.insert("requestID".into(), json!(self.request_id));
        r.insert("eventID".into(), json!(event_id));
        r.insert("readOnly".into(), json!(read_only));
        if !resources.is_empty() {
            r.insert("resources".into(), Value::Array(resources));
        }
        r.insert("eventType".into(), json!("AwsApiCall"));
        r.insert("managementEvent".into(), json!(true));
        r.insert("recipientAccountId".into(), json!(account_id));
        r.insert("eventCategory".into(), json!("Management"));
        Event {
            account_id,
            event_time_ms: now_ms,
            event_id,
            event_name,
            event_source,
            username: self.identity.username(),
            access_key_id: self.identity.access_key_id().map(str::to_owned),
            read_only,
            resources: resources_json,
            record: Value::Object(r).to_string(),
        }
    }
}

/// A service event (`eventType: AwsServiceEvent`): something a service did on its own, such
/// as Secrets Manager's `RotationStarted`, `RotationSucceeded` and `RotationFailed`, recorded as
/// CloudTrail records them: the service as the identity and the source, the resource in
/// `additionalEventData` and `resources`. `details` goes to `serviceEventDetails` and must hold
/// ids and reasons only, never a secret.
pub fn service_event(
    service: &str,
    event_name: &str,
    account_id: &str,
    region: &str,
    resource_arn: &str,
    details: Value,
    now_ms: i64,
) -> Event {
    let service = clean_name(service);
    let source = format!("{service}.amazonaws.com");
    let event_name = clean_name(event_name);
    let event_id = uuid::Uuid::now_v7().to_string();
    let resources = json!([{
        "accountId": account_id,
        "type": resource_type(resource_arn),
        "ARN": resource_arn,
    }]);
    let mut r = Map::new();
    r.insert("eventVersion".into(), json!(EVENT_VERSION));
    r.insert(
        "userIdentity".into(),
        json!({"accountId": account_id, "invokedBy": source}),
    );
    r.insert("eventTime".into(), json!(format_time(now_ms)));
    r.insert("eventSource".into(), json!(source));
    r.insert("eventName".into(), json!(event_name));
    r.insert("awsRegion".into(), json!(clean_name(region)));
    r.insert("sourceIPAddress".into(), json!(source));
    r.insert("userAgent".into(), json!(source));
    r.insert("requestParameters".into(), Value::Null);
    r.insert("responseElements".into(), Value::Null);
    r.insert(
        "additionalEventData".into(),
        json!({"SecretId": resource_arn}),
    );
    r.insert("requestID".into(), json!(uuid::Uuid::new_v4().to_string()));
    r.insert("eventID".into(), json!(event_id));
    r.insert("readOnly".into(), json!(false));
    r.insert("resources".into(), resources.clone());
    r.insert("eventType".into(), json!("AwsServiceEvent"));
    r.insert("managementEvent".into(), json!(true));
    r.insert("recipientAccountId".into(), json!(account_id));
    if !details.is_null() {
        r.insert("serviceEventDetails".into(), details);
    }
    r.insert("eventCategory".into(), json!("Management"));
    Event {
        account_id: account_id.to_owned(),
        event_time_ms: now_ms,
        event_id,
        event_name,
        event_source: source,
        username: None,
        access_key_id: None,
        read_only: false,
        resources: resources.to_string(),
        record: Value::Object(r).to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn identity(arn: &str, user_id: Option<&str>) -> UserIdentity {
        let mut id = AwsIdentity::from_arn(arn).unwrap();
        if let Some(u) = user_id {
            id = id.with_user_id(u);
        }
        UserIdentity::Known {
            identity: id,
            access_key_id: "AKIAEXAMPLE".into(),
        }
    }

    #[test]
    fn identities_as_cloudtrail_writes_them() {
        let root = identity("arn:aws:iam::111122223333:root", None).to_json();
        assert_eq!(root["type"], "Root");
        assert_eq!(root["principalId"], "111122223333");
        let user = identity("arn:aws:iam::111122223333:user/alice", Some("AIDAEXAMPLE")).to_json();
        assert_eq!(user["type"], "IAMUser");
        assert_eq!(user["userName"], "alice");
        assert_eq!(user["principalId"], "AIDAEXAMPLE");
        let role = identity(
            "arn:aws:sts::111122223333:assumed-role/admin/s1",
            Some("AROAEXAMPLE:s1"),
        )
        .to_json();
        assert_eq!(role["type"], "AssumedRole");
        let issuer = &role["sessionContext"]["sessionIssuer"];
        assert_eq!(issuer["principalId"], "AROAEXAMPLE");
        assert_eq!(issuer["arn"], "arn:aws:iam::111122223333:role/admin");
        assert_eq!(issuer["userName"], "admin");
        let anon = UserIdentity::Unknown {
            access_key_id: None,
        }
        .to_json();
        assert_eq!(anon, json!({"type": "Unknown"}));
    }

    #[test]
    fn a_failed_call_has_its_error_and_no_response() {
        let mut call = Call::new(
            "req-1".into(),
            "127.0.0.1".parse().unwrap(),
            "000000000000".into(),
        );
        call.service = Some("kms".into());
        call.operation = Some("Encrypt".into());
        call.region = Some("us-east-1".into());
        call.identity = identity("arn:aws:iam::111122223333:root", None);
        call.request = Body::Json(json!({"KeyId": "alias/a", "Plaintext": "c2VjcmV0"}));
        call.error = Some(("AccessDeniedException".into(), "no".into()));
        call.add_resource("arn:aws:kms:us-east-1:111122223333:key/k");
        let e = call.into_event(1_700_000_000_000);
        let r: Value = serde_json::from_str(&e.record).unwrap();
        assert_eq!(r["errorCode"], "AccessDeniedException");
        assert_eq!(r["responseElements"], Value::Null);
        assert_eq!(r["requestParameters"], json!({"keyId": "alias/a"}));
        assert_eq!(r["resources"][0]["type"], "AWS::KMS::Key");
        assert_eq!(r["recipientAccountId"], "111122223333");
        assert_eq!(r["eventTime"], "2023-11-14T22:13:20Z");
        assert_eq!(r["readOnly"], true);
        assert!(!e.record.contains("c2VjcmV0"));
    }
}
