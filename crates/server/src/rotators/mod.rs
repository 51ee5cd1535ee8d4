//! Secret rotators: what runs the four steps of a Secrets Manager rotation, chosen by the
//! secret's RotationLambdaARN, `arn:aws:lambda:<region>:<account>:function:<name>`:
//!
//! - built in, for database credentials in AWS's JSON shape ([`db`]):
//!   `trent-rotator-postgresql-single-user`, `trent-rotator-postgresql-alternating-users`,
//!   `trent-rotator-mysql-single-user`, `trent-rotator-mysql-alternating-users`, and the same
//!   two with `mariadb` (MariaDB is rotated as MySQL is);
//! - HTTP webhooks registered by name (`trent serve --rotation-webhook <name>=<url>`), each with
//!   its own signing secret ([`webhook`]): the function name is the webhook's name.
//!
//! The region and account of the ARN are not checked: the function name alone selects.
//! [`AuditEvents`] records the outcomes as CloudTrail service events.

use std::collections::HashMap;
use std::sync::Arc;

use trent_secrets::{RotationEvent, RotationEvents, Rotator, RotatorRegistry};

pub mod db;
pub mod webhook;

pub use webhook::{RotationWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// The prefix of the built-in rotators' function names.
pub const BUILT_IN_PREFIX: &str = "trent-rotator-";

/// The function name of a Lambda ARN (`arn:aws:lambda:<region>:<account>:function:<name>`,
/// optionally followed by `:<qualifier>`).
pub fn function_name(lambda_arn: &str) -> Option<&str> {
    let mut parts = lambda_arn.splitn(7, ':');
    let (Some("arn"), Some(_partition), Some("lambda"), Some(_region), Some(_account)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let (Some("function"), Some(rest)) = (parts.next(), parts.next()) else {
        return None;
    };
    let name = rest.split(':').next().unwrap_or_default();
    (!name.is_empty()).then_some(name)
}

/// The built-in rotators and the configured webhooks.
pub struct Registry {
    built_in: HashMap<&'static str, Arc<dyn Rotator>>,
    webhooks: HashMap<String, Arc<dyn Rotator>>,
}

impl Registry {
    pub fn new(webhooks: &[RotationWebhook]) -> Registry {
        use db::{DbRotator, Engine, Strategy};
        let mut built_in: HashMap<&'static str, Arc<dyn Rotator>> = HashMap::new();
        for (name, engine, strategy) in [
            (
                "trent-rotator-postgresql-single-user",
                Engine::Postgres,
                Strategy::SingleUser,
            ),
            (
                "trent-rotator-postgresql-alternating-users",
                Engine::Postgres,
                Strategy::AlternatingUsers,
            ),
            (
                "trent-rotator-mysql-single-user",
                Engine::MySql,
                Strategy::SingleUser,
            ),
            (
                "trent-rotator-mysql-alternating-users",
                Engine::MySql,
                Strategy::AlternatingUsers,
            ),
            (
                "trent-rotator-mariadb-single-user",
                Engine::MySql,
                Strategy::SingleUser,
            ),
            (
                "trent-rotator-mariadb-alternating-users",
                Engine::MySql,
                Strategy::AlternatingUsers,
            ),
        ] {
            built_in.insert(name, Arc::new(DbRotator::new(engine, strategy)));
        }
        let webhooks = webhooks
            .iter()
            .map(|w| {
                (
                    w.name.clone(),
                    Arc::new(webhook::WebhookRotator::new(w.clone())) as Arc<dyn Rotator>,
                )
            })
            .collect();
        Registry { built_in, webhooks }
    }
}

impl RotatorRegistry for Registry {
    fn find(&self, lambda_arn: &str) -> Option<Arc<dyn Rotator>> {
        let name = function_name(lambda_arn)?;
        self.built_in
            .get(name)
            .or_else(|| self.webhooks.get(name))
            .cloned()
    }
}

/// Records rotation outcomes in the audit trail as Secrets Manager service events.
pub struct AuditEvents(pub Arc<trent_audit::AuditLog>);

#[async_trait::async_trait]
impl RotationEvents for AuditEvents {
    async fn record(&self, e: RotationEvent) {
        // The failed step only: a reason can quote a database's answer, which is not for the
        // trail.
        let step = e
            .failure
            .as_deref()
            .and_then(|f| f.split(':').next())
            .map(str::to_owned);
        let mut details = serde_json::Map::new();
        details.insert("versionId".into(), serde_json::Value::String(e.version_id));
        if let Some(step) = step {
            details.insert("failedStep".into(), serde_json::Value::String(step));
        }
        let details = serde_json::Value::Object(details);
        let event = trent_audit::record::service_event(
            "secretsmanager",
            e.name,
            &e.scope.account_id,
            &e.scope.region,
            &e.secret_arn,
            details,
            e.time_ms,
        );
        if let Err(err) = self.0.record(event).await {
            tracing::error!(error = %crate::auth::error_chain(&err), "rotation event not recorded");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn function_names() {
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:000000000000:function:trent-rotator-x"),
            Some("trent-rotator-x")
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:000000000000:function:hook:live"),
            Some("hook")
        );
        assert_eq!(function_name("arn:aws:sns:us-east-1:0:function:x"), None);
        assert_eq!(function_name("hook"), None);
        let r = Registry::new(&[]);
        assert!(
            r.find("arn:aws:lambda:us-east-1:000000000000:function:trent-rotator-postgresql-single-user")
                .is_some()
        );
        assert!(
            r.find("arn:aws:lambda:us-east-1:000000000000:function:nothing")
                .is_none()
        );
    }
}
