//! The HTTP webhook rotator: the analogue of a rotation Lambda function at a URL of yours.
//!
//! For each step Trent sends `POST <url>` with the JSON body
//! `{"Step": "...", "SecretId": "<secret ARN>", "ClientRequestToken": "<pending version id>",
//! "RotationToken": "..."}` (a Lambda's rotation event) and the headers
//!
//! - `X-Trent-Timestamp: <Unix seconds>`
//! - `X-Trent-Signature: sha256=<hex HMAC-SHA256 under the webhook's secret of
//!   "<timestamp>.<body>">`
//!
//! The endpoint checks the signature in constant time and the timestamp's freshness, does the
//! step with the Secrets Manager API (createSecret: PutSecretValue with the token and
//! `AWSPENDING`; finishSecret: UpdateSecretVersionStage moving AWSCURRENT to the token) and
//! answers 2xx. Any other answer, or none within the step timeout, fails the step.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use trent_crypto::SecretBytes;
use trent_secrets::{Rotator, RotatorError, StepContext};

pub const SIGNATURE_HEADER: &str = "x-trent-signature";
pub const TIMESTAMP_HEADER: &str = "x-trent-timestamp";

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A webhook registered by name. The secret signs requests; it is never logged or shown.
pub struct RotationWebhook {
    pub name: String,
    pub url: http::Uri,
    pub secret: SecretBytes,
}

impl Clone for RotationWebhook {
    fn clone(&self) -> Self {
        RotationWebhook {
            name: self.name.clone(),
            url: self.url.clone(),
            secret: SecretBytes::new(self.secret.expose_secret().to_vec()),
        }
    }
}

impl std::fmt::Debug for RotationWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotationWebhook")
            .field("name", &self.name)
            .field("url", &self.url.to_string())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("a rotation webhook is <name>=<http://url>, the name 1-64 of [A-Za-z0-9_-]: {0}")]
    Syntax(String),
    #[error("the rotation webhook URL must be an http:// URL with a host: {0}")]
    Url(String),
    #[error("the rotation webhook {0} has no signing secret (set {1})")]
    Secret(String, String),
}

/// The environment variable holding the signing secret of webhook `name`:
/// `TRENT_ROTATION_WEBHOOK_SECRET_<NAME>`, upper case, `-` as `_`.
pub fn secret_variable(name: &str) -> String {
    format!(
        "TRENT_ROTATION_WEBHOOK_SECRET_{}",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

impl RotationWebhook {
    /// Parses `<name>=<url>`; the secret comes from [`secret_variable`] through `secret_of`.
    pub fn parse(
        spec: &str,
        secret_of: impl Fn(&str) -> Option<String>,
    ) -> Result<RotationWebhook, WebhookConfigError> {
        let (name, url) = spec
            .split_once('=')
            .ok_or_else(|| WebhookConfigError::Syntax(spec.to_string()))?;
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(WebhookConfigError::Syntax(spec.to_string()));
        }
        let uri: http::Uri = url
            .parse()
            .map_err(|_| WebhookConfigError::Url(url.to_string()))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(WebhookConfigError::Url(url.to_string()));
        }
        let var = secret_variable(name);
        let secret = secret_of(&var)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| WebhookConfigError::Secret(name.to_string(), var))?;
        Ok(RotationWebhook {
            name: name.to_string(),
            url: uri,
            secret: SecretBytes::new(secret.into_bytes()),
        })
    }
}

/// `sha256=<hex>` of `"<timestamp>.<body>"` under the secret.
pub fn signature(secret: &SecretBytes, timestamp: &str, body: &[u8]) -> String {
    let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    let mac = trent_crypto::hmac_sha256(secret.expose_secret(), &message);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in mac {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

pub struct WebhookRotator {
    hook: RotationWebhook,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl WebhookRotator {
    pub fn new(hook: RotationWebhook) -> Self {
        WebhookRotator {
            hook,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

#[async_trait::async_trait]
impl Rotator for WebhookRotator {
    async fn run(&self, step: &str, ctx: &StepContext<'_>) -> Result<(), RotatorError> {
        let body = serde_json::to_vec(&serde_json::json!({
            "Step": step,
            "SecretId": ctx.secret_arn,
            "ClientRequestToken": ctx.token,
            "RotationToken": ctx.rotation_token,
        }))
        .map_err(|_| RotatorError("webhook body".to_string()))?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
            .to_string();
        let request = http::Request::post(self.hook.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(
                SIGNATURE_HEADER,
                signature(&self.hook.secret, &timestamp, &body),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| RotatorError("webhook request".to_string()))?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| RotatorError(format!("webhook {} did not answer", self.hook.name)))?
            .map_err(|_| RotatorError(format!("webhook {} unreachable", self.hook.name)))?;
        let status = response.status();
        // Drain the answer so the connection can be reused.
        let _ = response.into_body().collect().await;
        if !status.is_success() {
            return Err(RotatorError(format!(
                "webhook {} answered {}",
                self.hook.name,
                status.as_u16()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn configuration() {
        let env = |v: &str| {
            (v == "TRENT_ROTATION_WEBHOOK_SECRET_MY_HOOK").then(|| "s3cr3t-value".to_string())
        };
        let w = RotationWebhook::parse("my-hook=http://127.0.0.1:9000/rotate", env).unwrap();
        assert_eq!(w.name, "my-hook");
        assert!(RotationWebhook::parse("other=http://127.0.0.1:9000/", env).is_err());
        assert!(RotationWebhook::parse("my-hook=https://x/", env).is_err());
        assert!(RotationWebhook::parse("no-equals", env).is_err());
        assert!(!format!("{w:?}").contains("s3cr3t-value"));
    }

    #[test]
    fn signatures_cover_timestamp_and_body() {
        let k = SecretBytes::new(b"key".to_vec());
        let a = signature(&k, "1700000000", b"{}");
        assert!(a.starts_with("sha256=") && a.len() == 71);
        assert_ne!(a, signature(&k, "1700000001", b"{}"));
        assert_ne!(a, signature(&k, "1700000000", b"{ }"));
    }
}
