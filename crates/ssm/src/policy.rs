//! Parameter policies: `Expiration`, `ExpirationNotification` and `NoChangeNotification`.
//!
//! PutParameter hands over `Policies`, a JSON array; [`parse`] checks it as AWS does and turns it
//! into [`Policy`] values. What is stored with the parameter is the list of [`StoredPolicy`]:
//! the policy text as returned by DescribeParameters, its type, its status and the time it is due.
//! The parameter head also carries the earliest due time of a pending policy, which is how the
//! scheduler finds work without scanning every parameter.
//!
//! - Expiration is due at its `Timestamp`; the scheduler deletes the parameter then.
//! - ExpirationNotification is due `Before` days/hours ahead of the Expiration timestamp (so an
//!   Expiration policy must come with it); it emits one event.
//! - NoChangeNotification is due `After` days/hours past the last modification; it emits one
//!   event, and every new version re-arms it.

use serde::{Deserialize, Serialize};
use trent_wire::ApiError;

use crate::SsmError;

pub const EXPIRATION: &str = "Expiration";
pub const EXPIRATION_NOTIFICATION: &str = "ExpirationNotification";
pub const NO_CHANGE_NOTIFICATION: &str = "NoChangeNotification";

pub const PENDING: &str = "Pending";
pub const FINISHED: &str = "Finished";

/// Policies one parameter may carry.
pub const MAX_POLICIES: usize = 10;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// Delete the parameter at this time (ms since the epoch).
    Expiration { at_ms: i64, timestamp: String },
    /// Notify this long before the expiration.
    ExpirationNotification { before: i64, unit: Unit },
    /// Notify when the parameter has not changed for this long.
    NoChangeNotification { after: i64, unit: Unit },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Days,
    Hours,
}

impl Unit {
    fn ms(self) -> i64 {
        match self {
            Unit::Days => DAY_MS,
            Unit::Hours => HOUR_MS,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Unit::Days => "Days",
            Unit::Hours => "Hours",
        }
    }

    fn lower(self) -> &'static str {
        match self {
            Unit::Days => "days",
            Unit::Hours => "hours",
        }
    }
}

impl Policy {
    pub fn kind(&self) -> &'static str {
        match self {
            Policy::Expiration { .. } => EXPIRATION,
            Policy::ExpirationNotification { .. } => EXPIRATION_NOTIFICATION,
            Policy::NoChangeNotification { .. } => NO_CHANGE_NOTIFICATION,
        }
    }

    /// The policy as DescribeParameters shows it: `{"Type":…,"Version":"1.0","Attributes":{…}}`.
    pub fn text(&self) -> String {
        let attributes = match self {
            Policy::Expiration { timestamp, .. } => serde_json::json!({ "Timestamp": timestamp }),
            Policy::ExpirationNotification { before, unit } => {
                serde_json::json!({ "Before": before.to_string(), "Unit": unit.as_str() })
            }
            Policy::NoChangeNotification { after, unit } => {
                serde_json::json!({ "After": after.to_string(), "Unit": unit.as_str() })
            }
        };
        format!(
            "{{\"Type\":\"{}\",\"Version\":\"1.0\",\"Attributes\":{attributes}}}",
            self.kind()
        )
    }
}

/// A policy as stored with the parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPolicy {
    pub text: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    /// When the policy acts; `None` once it has acted.
    pub due_ms: Option<i64>,
}

/// The `ParameterInlinePolicy` response shape.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InlinePolicy {
    pub policy_text: String,
    pub policy_type: String,
    pub policy_status: String,
}

fn invalid_type(kind: &str) -> SsmError {
    SsmError::Validation(ApiError::bad_request(
        "InvalidPolicyTypeException",
        format!(
            "The policy type {kind} is not supported. Parameter Store supports the following \
             policy types: Expiration, ExpirationNotification, and NoChangeNotification."
        ),
    ))
}

fn invalid_attribute(message: impl Into<String>) -> SsmError {
    SsmError::Validation(ApiError::bad_request(
        "InvalidPolicyAttributeException",
        message.into(),
    ))
}

fn incompatible(message: impl Into<String>) -> SsmError {
    SsmError::Validation(ApiError::bad_request(
        "IncompatiblePolicyException",
        message.into(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(rename = "Type")]
    kind: Option<String>,
    #[serde(rename = "Version")]
    version: Option<String>,
    #[serde(rename = "Attributes")]
    attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A count attribute: a positive whole number, as a string (AWS's form) or a number.
fn count_attribute(
    attrs: &serde_json::Map<String, serde_json::Value>,
    name: &str,
    kind: &str,
) -> Result<i64, SsmError> {
    let n = match attrs.get(name) {
        Some(serde_json::Value::String(s))
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse::<i64>().ok()
        }
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    match n {
        Some(n) if (1..=100_000).contains(&n) => Ok(n),
        _ => Err(invalid_attribute(format!(
            "The {kind} policy needs the attribute {name}: a whole number of days or hours \
             greater than 0."
        ))),
    }
}

fn unit_attribute(
    attrs: &serde_json::Map<String, serde_json::Value>,
    kind: &str,
) -> Result<Unit, SsmError> {
    match attrs.get("Unit").and_then(|u| u.as_str()) {
        Some("Days") => Ok(Unit::Days),
        Some("Hours") => Ok(Unit::Hours),
        _ => Err(invalid_attribute(format!(
            "The {kind} policy needs the attribute Unit: Days or Hours."
        ))),
    }
}

fn only_attributes(
    attrs: &serde_json::Map<String, serde_json::Value>,
    allowed: &[&str],
    kind: &str,
) -> Result<(), SsmError> {
    match attrs.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid_attribute(format!(
            "The attribute {k} is not valid for the {kind} policy."
        ))),
        None => Ok(()),
    }
}

/// One policy of the array, checked on its own.
fn parse_one(value: serde_json::Value, now_ms: i64) -> Result<Policy, SsmError> {
    let p: RawPolicy = serde_json::from_value(value).map_err(|_| {
        invalid_attribute(
            "A policy is an object with the members Type, Version and Attributes only.",
        )
    })?;
    let kind = p.kind.unwrap_or_default();
    if ![EXPIRATION, EXPIRATION_NOTIFICATION, NO_CHANGE_NOTIFICATION].contains(&kind.as_str()) {
        return Err(invalid_type(&kind));
    }
    if p.version.as_deref() != Some("1.0") {
        return Err(invalid_attribute(format!(
            "The {kind} policy needs Version 1.0."
        )));
    }
    let attrs = p.attributes.unwrap_or_default();
    let policy = match kind.as_str() {
        EXPIRATION => {
            only_attributes(&attrs, &["Timestamp"], &kind)?;
            let timestamp = attrs
                .get("Timestamp")
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .to_string();
            let at = time::OffsetDateTime::parse(
                &timestamp,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|_| {
                invalid_attribute(
                    "The Expiration policy needs the attribute Timestamp in the ISO_INSTANT \
                     (2026-12-02T21:34:33.000Z) or ISO_OFFSET_DATE_TIME format.",
                )
            })?;
            let at_ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
                .map_err(|_| invalid_attribute("The Expiration timestamp is out of range."))?;
            if at_ms <= now_ms {
                return Err(invalid_attribute(
                    "The Expiration policy timestamp must be in the future.",
                ));
            }
            Policy::Expiration { at_ms, timestamp }
        }
        EXPIRATION_NOTIFICATION => {
            only_attributes(&attrs, &["Before", "Unit"], &kind)?;
            Policy::ExpirationNotification {
                before: count_attribute(&attrs, "Before", &kind)?,
                unit: unit_attribute(&attrs, &kind)?,
            }
        }
        _ => {
            only_attributes(&attrs, &["After", "Unit"], &kind)?;
            Policy::NoChangeNotification {
                after: count_attribute(&attrs, "After", &kind)?,
                unit: unit_attribute(&attrs, &kind)?,
            }
        }
    };
    Ok(policy)
}

/// Parses the `Policies` member. `Ok(None)` for an empty set (`[]` or `[{}]`), which clears
/// the parameter's policies.
pub fn parse(input: &str, now_ms: i64) -> Result<Option<Vec<Policy>>, SsmError> {
    let raw: Vec<serde_json::Value> = serde_json::from_str(input).map_err(|_| {
        SsmError::validation("Invalid policies input: Policies must be a JSON array of policies.")
    })?;
    let raw: Vec<serde_json::Value> = raw
        .into_iter()
        .filter(|v| !v.as_object().is_some_and(serde_json::Map::is_empty))
        .collect();
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.len() > MAX_POLICIES {
        return Err(SsmError::Validation(ApiError::bad_request(
            "PoliciesLimitExceededException",
            format!(
                "A parameter can have at most {MAX_POLICIES} policies; {} were given.",
                raw.len()
            ),
        )));
    }
    let mut out: Vec<Policy> = Vec::with_capacity(raw.len());
    for value in raw {
        let policy = parse_one(value, now_ms)?;
        if out.iter().any(|o| o.kind() == policy.kind()) {
            return Err(incompatible(format!(
                "A parameter can have only one {} policy.",
                policy.kind()
            )));
        }
        out.push(policy);
    }
    if out.iter().any(|p| p.kind() == EXPIRATION_NOTIFICATION)
        && !out.iter().any(|p| p.kind() == EXPIRATION)
    {
        return Err(incompatible(
            "An ExpirationNotification policy needs an Expiration policy on the same parameter.",
        ));
    }
    Ok(Some(out))
}

/// The stored form of freshly written policies, each due as its rules say; `modified_ms` is the
/// time of the write.
pub fn store(policies: &[Policy], modified_ms: i64) -> Vec<StoredPolicy> {
    let expiration = policies.iter().find_map(|p| match p {
        Policy::Expiration { at_ms, .. } => Some(*at_ms),
        _ => None,
    });
    policies
        .iter()
        .map(|p| {
            let due = match p {
                Policy::Expiration { at_ms, .. } => Some(*at_ms),
                Policy::ExpirationNotification { before, unit } => {
                    expiration.map(|at| at.saturating_sub(before.saturating_mul(unit.ms())))
                }
                Policy::NoChangeNotification { after, unit } => {
                    Some(modified_ms.saturating_add(after.saturating_mul(unit.ms())))
                }
            };
            StoredPolicy {
                text: p.text(),
                kind: p.kind().to_string(),
                status: PENDING.to_string(),
                due_ms: due,
            }
        })
        .collect()
}

/// Reads back a stored policy's definition (its text is one of ours).
pub fn definition(stored: &StoredPolicy) -> Option<Policy> {
    // The expiration timestamp may be in the past by the time this is asked: parse as if at the
    // beginning of time, so the future check passes.
    serde_json::from_str(&stored.text)
        .ok()
        .and_then(|v| parse_one(v, i64::MIN).ok())
}

/// Policies carried over to a new version: Expiration and ExpirationNotification keep their
/// state (a new value does not move the expiration), NoChangeNotification starts counting again.
pub fn carry_over(existing: &[StoredPolicy], modified_ms: i64) -> Vec<StoredPolicy> {
    existing
        .iter()
        .map(|p| {
            if p.kind != NO_CHANGE_NOTIFICATION {
                return p.clone();
            }
            match definition(p) {
                Some(Policy::NoChangeNotification { after, unit }) => StoredPolicy {
                    status: PENDING.to_string(),
                    due_ms: Some(modified_ms.saturating_add(after.saturating_mul(unit.ms()))),
                    ..p.clone()
                },
                _ => p.clone(),
            }
        })
        .collect()
}

/// The earliest due time of a pending policy.
pub fn next_due(policies: &[StoredPolicy]) -> Option<i64> {
    policies
        .iter()
        .filter(|p| p.status == PENDING)
        .filter_map(|p| p.due_ms)
        .min()
}

pub fn encode(policies: &[StoredPolicy]) -> Result<String, SsmError> {
    serde_json::to_string(policies).map_err(|_| SsmError::Internal("policy encoding"))
}

pub fn decode(text: &str) -> Result<Vec<StoredPolicy>, SsmError> {
    serde_json::from_str(text).map_err(|_| SsmError::Internal("stored policies unreadable"))
}

/// The response shape of stored policies.
pub fn inline(text: &str) -> Result<Vec<InlinePolicy>, SsmError> {
    Ok(decode(text)?
        .into_iter()
        .map(|p| InlinePolicy {
            policy_text: p.text,
            policy_type: p.kind,
            policy_status: p.status,
        })
        .collect())
}

/// Why a notification fired, as the event's `action-reason` says it.
pub fn reason(policy: &Policy, stored_policies: &[StoredPolicy]) -> String {
    match policy {
        Policy::Expiration { timestamp, .. } => {
            format!("The parameter expired at {timestamp} and was deleted.")
        }
        Policy::ExpirationNotification { .. } => {
            let at = stored_policies
                .iter()
                .find(|p| p.kind == EXPIRATION)
                .and_then(definition)
                .and_then(|p| match p {
                    Policy::Expiration { timestamp, .. } => Some(timestamp),
                    _ => None,
                })
                .unwrap_or_default();
            format!("The parameter will expire at {at}.")
        }
        Policy::NoChangeNotification { after, unit } => {
            format!(
                "The parameter has not been changed for {after} {}.",
                unit.lower()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<Option<Vec<Policy>>, SsmError>) -> String {
        match r {
            Err(e) => e.to_api_error().code.to_string(),
            Ok(_) => "ok".into(),
        }
    }

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn valid_policies_and_due_times() {
        let input = r#"[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-01T00:00:00.000Z"}},
            {"Type":"ExpirationNotification","Version":"1.0","Attributes":{"Before":"2","Unit":"Days"}},
            {"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":"5","Unit":"Hours"}}]"#;
        let policies = parse(input, NOW).unwrap().unwrap();
        assert_eq!(policies.len(), 3);
        let stored = store(&policies, NOW);
        let at = 1_893_456_000_000;
        assert_eq!(stored[0].due_ms, Some(at));
        assert_eq!(stored[1].due_ms, Some(at - 2 * DAY_MS));
        assert_eq!(stored[2].due_ms, Some(NOW + 5 * HOUR_MS));
        assert_eq!(next_due(&stored), Some(NOW + 5 * HOUR_MS));
        assert_eq!(
            stored[0].text,
            r#"{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-01T00:00:00.000Z"}}"#
        );
        // Round trip through the stored text.
        for (s, p) in stored.iter().zip(&policies) {
            assert_eq!(definition(s).as_ref(), Some(p));
        }
        let later = carry_over(&stored, NOW + HOUR_MS);
        assert_eq!(later[2].due_ms, Some(NOW + 6 * HOUR_MS));
        assert_eq!(later[0], stored[0]);
        assert_eq!(parse("[]", NOW).unwrap(), None);
        assert_eq!(parse("[{}]", NOW).unwrap(), None);
    }

    #[test]
    fn invalid_policies_get_aws_errors() {
        let exp = r#"{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-01T00:00:00Z"}}"#;
        assert_eq!(
            code(parse(r#"[{"Type":"Rotation","Version":"1.0"}]"#, NOW)),
            "InvalidPolicyTypeException"
        );
        assert_eq!(
            code(parse(
                r#"[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"tomorrow"}}]"#,
                NOW
            )),
            "InvalidPolicyAttributeException"
        );
        assert_eq!(
            code(parse(
                r#"[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2001-01-01T00:00:00Z"}}]"#,
                NOW
            )),
            "InvalidPolicyAttributeException"
        );
        assert_eq!(
            code(parse(
                r#"[{"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":"0","Unit":"Days"}}]"#,
                NOW
            )),
            "InvalidPolicyAttributeException"
        );
        assert_eq!(
            code(parse(
                r#"[{"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":"3","Unit":"Weeks"}}]"#,
                NOW
            )),
            "InvalidPolicyAttributeException"
        );
        assert_eq!(
            code(parse(
                r#"[{"Type":"Expiration","Version":"2.0","Attributes":{"Timestamp":"2030-01-01T00:00:00Z"}}]"#,
                NOW
            )),
            "InvalidPolicyAttributeException"
        );
        assert_eq!(
            code(parse(&format!("[{exp},{exp}]"), NOW)),
            "IncompatiblePolicyException"
        );
        assert_eq!(
            code(parse(
                r#"[{"Type":"ExpirationNotification","Version":"1.0","Attributes":{"Before":"1","Unit":"Days"}}]"#,
                NOW
            )),
            "IncompatiblePolicyException"
        );
        let many = [exp; 11].join(",");
        assert_eq!(
            code(parse(&format!("[{many}]"), NOW)),
            "PoliciesLimitExceededException"
        );
        assert_eq!(code(parse("{", NOW)), "ValidationException");
        assert_eq!(
            code(parse(r#"{"Type":"Expiration"}"#, NOW)),
            "ValidationException"
        );
    }
}
