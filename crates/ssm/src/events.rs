//! Parameter Store events, shaped as Amazon EventBridge delivers them (source `aws.ssm`).
//!
//! - `Parameter Store Change`: detail `{operation, name, type, description}` for Create, Update,
//!   Delete and LabelParameterVersion.
//! - `Parameter Store Policy Action`: detail `{parameter-name, parameter-type, policy-type,
//!   policy-content, action-status, action-reason}` when a policy acts.
//!
//! Events name parameters and types, never values. They are written to the store's outbox in
//! the transaction that makes the change; the server's delivery task publishes them.

use serde_json::json;
use trent_store::{OutboxEvent, Scope};

use crate::SsmError;
use crate::model::parameter_arn;

pub const CHANGE: &str = "Parameter Store Change";
pub const POLICY_ACTION: &str = "Parameter Store Policy Action";

pub const CREATE: &str = "Create";
pub const UPDATE: &str = "Update";
pub const DELETE: &str = "Delete";
pub const LABEL: &str = "LabelParameterVersion";

/// EventBridge's `time`: RFC 3339 in UTC, to the second.
fn event_time(now_ms: i64) -> String {
    let secs = now_ms.div_euclid(1000);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

fn envelope(
    scope: &Scope,
    name: &str,
    detail_type: &str,
    detail: serde_json::Value,
    now_ms: i64,
) -> Result<OutboxEvent, SsmError> {
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": "aws.ssm",
        "account": scope.account_id,
        "time": event_time(now_ms),
        "region": scope.region,
        "resources": [parameter_arn(scope, name)],
        "detail": detail,
    });
    Ok(OutboxEvent {
        event_id: id,
        created_ms: now_ms,
        body: serde_json::to_string(&body).map_err(|_| SsmError::Internal("event encoding"))?,
    })
}

/// A `Parameter Store Change` event.
pub fn change(
    scope: &Scope,
    name: &str,
    operation: &str,
    param_type: &str,
    description: Option<&str>,
    now_ms: i64,
) -> Result<OutboxEvent, SsmError> {
    envelope(
        scope,
        name,
        CHANGE,
        json!({
            "operation": operation,
            "name": name,
            "type": param_type,
            "description": description.unwrap_or_default(),
        }),
        now_ms,
    )
}

/// A `Parameter Store Policy Action` event.
pub struct PolicyAction<'a> {
    pub name: &'a str,
    /// The parameter's type (String, StringList, SecureString).
    pub param_type: &'a str,
    pub policy_type: &'a str,
    pub policy_content: &'a str,
    pub reason: String,
}

pub fn policy_action(
    scope: &Scope,
    action: &PolicyAction<'_>,
    now_ms: i64,
) -> Result<OutboxEvent, SsmError> {
    envelope(
        scope,
        action.name,
        POLICY_ACTION,
        json!({
            "parameter-name": action.name,
            "parameter-type": action.param_type,
            "policy-type": action.policy_type,
            "policy-content": action.policy_content,
            "action-status": "Finished",
            "action-reason": action.reason,
        }),
        now_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_events_have_the_eventbridge_shape() {
        let scope = Scope::new("111122223333", "eu-west-1");
        let e = change(
            &scope,
            "/a/b",
            CREATE,
            "SecureString",
            None,
            1_700_000_000_123,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&e.body).unwrap();
        assert_eq!(v["version"], "0");
        assert_eq!(v["id"], e.event_id.as_str());
        assert_eq!(v["detail-type"], "Parameter Store Change");
        assert_eq!(v["source"], "aws.ssm");
        assert_eq!(v["account"], "111122223333");
        assert_eq!(v["region"], "eu-west-1");
        assert_eq!(v["time"], "2023-11-14T22:13:20Z");
        assert_eq!(
            v["resources"][0],
            "arn:aws:ssm:eu-west-1:111122223333:parameter/a/b"
        );
        assert_eq!(
            v["detail"],
            json!({"operation": "Create", "name": "/a/b", "type": "SecureString", "description": ""})
        );
    }
}
