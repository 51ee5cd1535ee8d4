//! CloudTrail `LookupEvents` over the JSON 1.1 protocol: one account's events, newest first,
//! filtered by at most one attribute and a time range, in pages.

use serde::Deserialize;
use serde_json::{Value, json};
use trent_policy::{Decision, Requester};
use trent_store::{AuditAttribute, AuditQuery, Store};
use trent_wire::ApiError;

/// Events older than this are not returned (CloudTrail's event history keeps 90 days).
const HISTORY_MS: i64 = 90 * 86_400_000;
const MAX_RESULTS: i64 = 50;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupAttribute {
    attribute_key: Option<String>,
    attribute_value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Request {
    lookup_attributes: Option<Vec<LookupAttribute>>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    event_category: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn error(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

fn attribute(key: &str) -> Option<AuditAttribute> {
    Some(match key {
        "EventId" => AuditAttribute::EventId,
        "EventName" => AuditAttribute::EventName,
        "ReadOnly" => AuditAttribute::ReadOnly,
        "Username" => AuditAttribute::Username,
        "ResourceType" => AuditAttribute::ResourceType,
        "ResourceName" => AuditAttribute::ResourceName,
        "EventSource" => AuditAttribute::EventSource,
        "AccessKeyId" => AuditAttribute::AccessKeyId,
        _ => return None,
    })
}

fn to_ms(seconds: f64) -> Result<i64, ApiError> {
    let ms = (seconds * 1000.0).floor();
    if !ms.is_finite() || !(0.0..=253_402_300_799_000.0).contains(&ms) {
        return Err(error(
            "InvalidTimeRangeException",
            "The time range is outside the range of possible values.",
        ));
    }
    Ok(ms as i64)
}

/// Authorizes `cloudtrail:LookupEvents`: the account root may; anyone else needs an identity
/// policy that allows it (and none that denies it).
pub fn authorize(requester: &Requester) -> Result<(), ApiError> {
    let action = "cloudtrail:LookupEvents";
    let ctx = requester.context(action, "*");
    let policies: Vec<&trent_policy::Policy> = requester.policies().iter().collect();
    let allowed = match trent_policy::evaluate(&policies, &ctx) {
        Decision::Allow(_) => true,
        Decision::ExplicitDeny(_) => false,
        Decision::ImplicitDeny => requester.is_root(),
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: {action} on resource: * because no identity-based policy allows the {action} action",
                requester.arn()
            ),
        ))
    }
}

/// The page token: the chain position to continue before, bound to the request's other
/// parameters so it is only valid with identical ones.
fn token(before_seq: i64, binding: &str) -> String {
    let tag = trent_crypto::sha256(format!("{before_seq}\0{binding}").as_bytes());
    format!(
        "{before_seq}.{}",
        trent_crypto::hex(tag.get(..12).unwrap_or_default())
    )
}

fn parse_token(t: &str, binding: &str) -> Result<i64, ApiError> {
    let invalid = || error("InvalidNextTokenException", "Invalid NextToken.");
    let (seq, _) = t.split_once('.').ok_or_else(invalid)?;
    let seq: i64 = seq.parse().map_err(|_| invalid())?;
    if token(seq, binding) != t {
        return Err(invalid());
    }
    Ok(seq)
}

/// A LookupEvents request, decoded and validated: what the store is asked for, and how the
/// page is cut.
#[derive(Debug)]
pub struct Lookup {
    /// `None` for the insight category, which is never recorded: the answer is empty.
    pub query: Option<AuditQuery>,
    /// The page size.
    pub max: i64,
    /// What a NextToken is bound to (the other parameters and the account).
    binding: String,
}

/// Decodes and validates a LookupEvents body for `account` (no store access): the parsing half
/// of [`lookup_events`], public so that it can be fuzzed on its own.
pub fn parse_request(account: &str, body: &[u8], now_ms: i64) -> Result<Lookup, ApiError> {
    let req: Request = trent_wire::decode(body)?;
    let attrs = req.lookup_attributes.unwrap_or_default();
    if attrs.len() > 1 {
        return Err(error(
            "InvalidLookupAttributesException",
            "You cannot specify more than one lookup attribute.",
        ));
    }
    let attribute = match attrs.first() {
        None => None,
        Some(a) => {
            let key = a.attribute_key.as_deref().unwrap_or_default();
            let Some(k) = attribute(key) else {
                return Err(error(
                    "InvalidLookupAttributesException",
                    format!(
                        "Invalid attribute key '{}'.",
                        key.chars().take(64).collect::<String>()
                    ),
                ));
            };
            let Some(v) = a.attribute_value.clone().filter(|v| !v.is_empty()) else {
                return Err(error(
                    "InvalidLookupAttributesException",
                    "The attribute value must not be empty.",
                ));
            };
            if v.chars().count() > 2000 {
                return Err(error(
                    "InvalidLookupAttributesException",
                    "The attribute value is longer than 2000 characters.",
                ));
            }
            Some((k, v))
        }
    };
    if let Some(c) = &req.event_category
        && c != "insight"
    {
        return Err(error(
            "InvalidEventCategoryException",
            "The event category must be 'insight'.",
        ));
    }
    let max = req.max_results.unwrap_or(MAX_RESULTS);
    if !(1..=MAX_RESULTS).contains(&max) {
        return Err(error(
            "InvalidMaxResultsException",
            "MaxResults must be between 1 and 50.",
        ));
    }
    let start_ms = match req.start_time {
        Some(s) => to_ms(s)?,
        None => now_ms.saturating_sub(HISTORY_MS),
    };
    let end_ms = match req.end_time {
        Some(s) => to_ms(s)?,
        None => now_ms,
    };
    if start_ms > end_ms {
        return Err(error(
            "InvalidTimeRangeException",
            "The start time must not be after the end time.",
        ));
    }
    let binding = format!(
        "{}\0{:?}\0{:?}\0{:?}\0{:?}",
        account,
        attribute,
        req.start_time.map(f64::to_bits),
        req.end_time.map(f64::to_bits),
        req.event_category
    );
    let before_seq = req
        .next_token
        .as_deref()
        .map(|t| parse_token(t, &binding))
        .transpose()?;
    let query = if req.event_category.is_some() {
        None
    } else {
        Some(AuditQuery {
            account_id: account.to_owned(),
            start_ms,
            end_ms,
            attribute,
            before_seq,
            limit: u32::try_from(max + 1).unwrap_or(51),
        })
    };
    Ok(Lookup {
        query,
        max,
        binding,
    })
}

/// Answers a LookupEvents request for `requester`'s account.
pub async fn lookup_events(
    store: &dyn Store,
    requester: &Requester,
    body: &[u8],
    now_ms: i64,
) -> Result<Vec<u8>, ApiError> {
    let Lookup {
        query,
        max,
        binding,
    } = parse_request(requester.account(), body, now_ms)?;
    // Insight events are not recorded: that category is always empty.
    let rows = match query {
        None => Vec::new(),
        Some(query) => store.lookup_audit_events(&query).await.map_err(|e| {
            tracing::error!(error = %e, "audit lookup failed");
            ApiError::new(
                "InternalFailure",
                500,
                "The request processing has failed because of an unknown error.",
            )
        })?,
    };
    let more = rows.len() as i64 > max;
    let page: Vec<_> = rows
        .iter()
        .take(usize::try_from(max).unwrap_or(50))
        .collect();
    let events: Vec<Value> = page
        .iter()
        .map(|r| {
            let resources: Vec<Value> = serde_json::from_str::<Vec<Value>>(&r.resources)
                .unwrap_or_default()
                .into_iter()
                .map(|v| {
                    json!({
                        "ResourceType": v.get("type").cloned().unwrap_or(Value::Null),
                        "ResourceName": v.get("ARN").cloned().unwrap_or(Value::Null),
                    })
                })
                .collect();
            let mut e = json!({
                "EventId": r.event_id,
                "EventName": r.event_name,
                "ReadOnly": if r.read_only { "true" } else { "false" },
                "EventTime": (r.event_time_ms / 1000) as f64,
                "EventSource": r.event_source,
                "Resources": resources,
                "CloudTrailEvent": r.record,
            });
            if let Some(o) = e.as_object_mut() {
                if let Some(k) = &r.access_key_id {
                    o.insert("AccessKeyId".into(), json!(k));
                }
                if let Some(u) = &r.username {
                    o.insert("Username".into(), json!(u));
                }
            }
            e
        })
        .collect();
    let mut out = json!({ "Events": events });
    if more && let (Some(last), Some(o)) = (page.last(), out.as_object_mut()) {
        o.insert("NextToken".into(), json!(token(last.seq, &binding)));
    }
    serde_json::to_vec(&out).map_err(|_| {
        ApiError::new(
            "InternalFailure",
            500,
            "The request processing has failed because of an unknown error.",
        )
    })
}
