//! Delivery of Parameter Store events from the store's outbox to the configured targets.
//!
//! Every change writes its event into the outbox (`ssm_events`) in the transaction that makes
//! the change. [`run`] drains the outbox in order: each event goes to every target, the targets
//! that took it are recorded, and the row is deleted only once all of them have it. A target
//! that fails is retried with exponential backoff (from 500 ms up to a minute) and later events
//! wait for it, so each target sees events in order; a restart resumes from the outbox, so no
//! event is lost. Delivery is at least once: a crash between a target's acknowledgement and
//! its recording sends that event again, which consumers recognise by its `id`.
//!
//! Targets:
//! - **webhook**: `POST` of the event JSON to an `http://` URL with `X-Trent-Event-Id` and
//!   `X-Trent-Signature: sha256=<hex HMAC-SHA256 of the body under the shared secret>`; any 2xx
//!   answer is an acknowledgement.
//! - **NATS**: a small publisher speaking the NATS text protocol over TCP (`CONNECT`, `PUB`, then
//!   `PING` and waiting for `PONG`, which confirms the server processed the publish).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;
use trent_crypto::SecretBytes;
use trent_store::{PendingEvent, Store};

/// Events read from the outbox at a time.
const BATCH: u32 = 100;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long one delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the outbox is looked at when nothing wakes the task.
const IDLE_POLL: Duration = Duration::from_secs(1);

pub const SIGNATURE_HEADER: &str = "x-trent-signature";
pub const EVENT_ID_HEADER: &str = "x-trent-event-id";
pub const DEFAULT_NATS_SUBJECT: &str = "trent.ssm.events";

/// An HTTP webhook. The secret signs bodies; it is never logged or shown.
pub struct Webhook {
    pub url: http::Uri,
    pub secret: SecretBytes,
}

pub struct Nats {
    /// `host:port` of the NATS server.
    pub address: String,
    pub subject: String,
}

/// The configured targets. With none, no events are written at all.
#[derive(Default)]
pub struct Targets {
    pub webhook: Option<Webhook>,
    pub nats: Option<Nats>,
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Targets")
            .field("webhook", &self.webhook.as_ref().map(|w| w.url.to_string()))
            .field(
                "nats",
                &self.nats.as_ref().map(|n| (&n.address, &n.subject)),
            )
            .finish()
    }
}

impl Targets {
    pub fn any(&self) -> bool {
        self.webhook.is_some() || self.nats.is_some()
    }

    /// The names under which acknowledgements are recorded.
    fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.webhook.is_some() {
            names.push("webhook");
        }
        if self.nats.is_some() {
            names.push("nats");
        }
        names
    }
}

/// Errors of the target configuration, reported at start-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("the webhook URL must be an http:// URL with a host: {0}")]
    WebhookUrl(String),
    #[error("a webhook needs a signing secret (--events-webhook-secret)")]
    WebhookSecret,
    #[error("the NATS URL must look like nats://host:port: {0}")]
    NatsUrl(String),
    #[error("the NATS subject must be non-empty, without spaces")]
    NatsSubject,
}

impl Webhook {
    pub fn new(url: &str, secret: SecretBytes) -> Result<Self, ConfigError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| ConfigError::WebhookUrl(url.to_string()))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(ConfigError::WebhookUrl(url.to_string()));
        }
        if secret.expose_secret().is_empty() {
            return Err(ConfigError::WebhookSecret);
        }
        Ok(Webhook { url: uri, secret })
    }
}

impl Nats {
    pub fn new(url: &str, subject: &str) -> Result<Self, ConfigError> {
        let address = url
            .strip_prefix("nats://")
            .filter(|a| !a.is_empty() && !a.contains('/') && !a.contains('@'))
            .ok_or_else(|| ConfigError::NatsUrl(url.to_string()))?;
        let address = if address.contains(':') {
            address.to_string()
        } else {
            format!("{address}:4222")
        };
        if subject.is_empty() || subject.chars().any(char::is_whitespace) {
            return Err(ConfigError::NatsSubject);
        }
        Ok(Nats {
            address,
            subject: subject.to_string(),
        })
    }
}

/// `sha256=<hex>` of the body under the secret: the webhook signature header value.
pub fn signature(secret: &SecretBytes, body: &[u8]) -> String {
    let mac = trent_crypto::hmac_sha256(secret.expose_secret(), body);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in mac {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("webhook request failed")]
    Http(#[source] hyper_util::client::legacy::Error),
    #[error("webhook answered {0}")]
    Status(http::StatusCode),
    #[error("cannot build the webhook request")]
    Request(#[source] http::Error),
    #[error("NATS I/O failed")]
    Io(#[from] std::io::Error),
    #[error("NATS protocol error: {0}")]
    Nats(String),
    #[error("delivery timed out")]
    Timeout,
}

/// One connection to NATS, opened on first use and again after a failure.
struct NatsConnection {
    stream: Option<BufReader<TcpStream>>,
}

impl NatsConnection {
    async fn read_line(stream: &mut BufReader<TcpStream>) -> Result<String, DeliveryError> {
        let mut line = String::new();
        if stream.read_line(&mut line).await? == 0 {
            return Err(DeliveryError::Nats("connection closed".into()));
        }
        Ok(line.trim_end().to_string())
    }

    /// Reads until the `PONG` that answers our `PING`, answering the server's own pings.
    async fn await_pong(stream: &mut BufReader<TcpStream>) -> Result<(), DeliveryError> {
        loop {
            let line = Self::read_line(stream).await?;
            if line == "PONG" {
                return Ok(());
            } else if line == "PING" {
                stream.get_mut().write_all(b"PONG\r\n").await?;
            } else if line.starts_with("-ERR") {
                return Err(DeliveryError::Nats(line));
            }
            // +OK and INFO updates need nothing.
        }
    }

    async fn connect(address: &str) -> Result<BufReader<TcpStream>, DeliveryError> {
        let mut stream = BufReader::new(TcpStream::connect(address).await?);
        let info = Self::read_line(&mut stream).await?;
        if !info.starts_with("INFO ") {
            return Err(DeliveryError::Nats("no INFO from the server".into()));
        }
        stream
            .get_mut()
            .write_all(
                b"CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"trent\",\"lang\":\"rust\"}\r\nPING\r\n",
            )
            .await?;
        Self::await_pong(&mut stream).await?;
        Ok(stream)
    }

    async fn publish(&mut self, target: &Nats, body: &[u8]) -> Result<(), DeliveryError> {
        let mut stream = match self.stream.take() {
            Some(s) => s,
            None => Self::connect(&target.address).await?,
        };
        let mut frame = format!("PUB {} {}\r\n", target.subject, body.len()).into_bytes();
        frame.extend_from_slice(body);
        frame.extend_from_slice(b"\r\nPING\r\n");
        stream.get_mut().write_all(&frame).await?;
        Self::await_pong(&mut stream).await?;
        self.stream = Some(stream);
        Ok(())
    }
}

struct Deliverer {
    targets: Arc<Targets>,
    http: Client<HttpConnector, Full<Bytes>>,
    nats: NatsConnection,
}

impl Deliverer {
    async fn deliver(&mut self, target: &str, event: &PendingEvent) -> Result<(), DeliveryError> {
        let body = event.event.body.as_bytes();
        let attempt = async {
            match target {
                "webhook" => {
                    let Some(w) = &self.targets.webhook else {
                        return Ok(());
                    };
                    let request = http::Request::post(w.url.clone())
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .header(EVENT_ID_HEADER, &event.event.event_id)
                        .header(SIGNATURE_HEADER, signature(&w.secret, body))
                        .body(Full::new(Bytes::copy_from_slice(body)))
                        .map_err(DeliveryError::Request)?;
                    let response = self
                        .http
                        .request(request)
                        .await
                        .map_err(DeliveryError::Http)?;
                    if response.status().is_success() {
                        Ok(())
                    } else {
                        Err(DeliveryError::Status(response.status()))
                    }
                }
                _ => {
                    let Some(n) = &self.targets.nats else {
                        return Ok(());
                    };
                    let result = self.nats.publish(n, body).await;
                    if result.is_err() {
                        self.nats.stream = None;
                    }
                    result
                }
            }
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
            Ok(r) => r,
            Err(_) => {
                self.nats.stream = None;
                Err(DeliveryError::Timeout)
            }
        }
    }
}

struct Backoff {
    delay: Duration,
    until: Instant,
}

/// The lease that makes one node of those sharing a store the deliverer.
const DELIVERY_LEASE: &str = "event-delivery";
/// How long the deliverer's lease lasts without renewal (it renews on every pass): a node that
/// died hands delivery to another after this long.
const DELIVERY_LEASE_MS: i64 = 15_000;

/// Drains the outbox to the targets until `shutdown` resolves. `written` wakes it when a write
/// added events.
pub async fn run(
    store: Arc<dyn Store>,
    targets: Arc<Targets>,
    written: Arc<tokio::sync::Notify>,
    node_id: &str,
    shutdown: impl Future<Output = ()>,
) {
    if !targets.any() {
        return;
    }
    tokio::pin!(shutdown);
    let names = targets.names();
    let mut deliverer = Deliverer {
        targets,
        http: Client::builder(TokioExecutor::new()).build_http(),
        nats: NatsConnection { stream: None },
    };
    let mut backoff: HashMap<&'static str, Backoff> = HashMap::new();
    loop {
        // One node of those sharing a store delivers, so events keep their order and go once.
        let now_ms = trent_store::clock::Clock::now_ms(&trent_store::clock::SystemClock);
        match store
            .acquire_lease(DELIVERY_LEASE, node_id, now_ms, DELIVERY_LEASE_MS)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(IDLE_POLL) => {}
                }
                continue;
            }
            Err(e) => {
                tracing::error!(error = %crate::auth::error_chain(&e), "event delivery lease failed");
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(IDLE_POLL) => {}
                }
                continue;
            }
        }
        let wait = match drain(&mut deliverer, store.as_ref(), &names, &mut backoff).await {
            Ok(true) => Duration::ZERO,
            Ok(false) => {
                let now = Instant::now();
                backoff
                    .values()
                    .map(|b| b.until.saturating_duration_since(now))
                    .min()
                    .unwrap_or(IDLE_POLL)
                    .clamp(Duration::from_millis(10), IDLE_POLL)
            }
            Err(e) => {
                tracing::error!(error = %crate::auth::error_chain(&e), "event outbox read failed");
                IDLE_POLL
            }
        };
        if wait.is_zero() {
            tokio::select! {
                biased;
                () = &mut shutdown => return,
                () = std::future::ready(()) => {}
            }
            continue;
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = written.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// One pass over the outbox. Returns whether a full batch was handled and more may wait.
async fn drain(
    deliverer: &mut Deliverer,
    store: &dyn Store,
    names: &[&'static str],
    backoff: &mut HashMap<&'static str, Backoff>,
) -> Result<bool, trent_store::StoreError> {
    let pending = store.pending_events(BATCH).await?;
    let full = pending.len() == BATCH as usize;
    // A target that failed (or is backing off) takes no later event in this pass: order holds.
    let mut blocked: HashSet<&'static str> = HashSet::new();
    let now = Instant::now();
    for (name, b) in backoff.iter() {
        if b.until > now {
            blocked.insert(name);
        }
    }
    let mut progressed = false;
    for event in pending {
        let mut acked = event.acked.clone();
        let before = acked.len();
        for &target in names {
            if acked.iter().any(|a| a == target) || blocked.contains(target) {
                continue;
            }
            match deliverer.deliver(target, &event).await {
                Ok(()) => {
                    backoff.remove(target);
                    acked.push(target.to_string());
                }
                Err(e) => {
                    let delay = backoff
                        .get(target)
                        .map_or(FIRST_BACKOFF, |b| (b.delay * 2).min(MAX_BACKOFF));
                    tracing::warn!(
                        target,
                        event_id = %event.event.event_id,
                        error = %crate::auth::error_chain(&e),
                        retry_in_ms = delay.as_millis() as u64,
                        "event delivery failed"
                    );
                    backoff.insert(
                        target,
                        Backoff {
                            delay,
                            until: Instant::now() + delay,
                        },
                    );
                    blocked.insert(target);
                }
            }
        }
        if names.iter().all(|n| acked.iter().any(|a| a == n)) {
            store.delete_event(event.seq).await?;
            progressed = true;
        } else if acked.len() > before {
            store.ack_event(event.seq, &acked).await?;
            progressed = true;
        }
        if blocked.len() == names.len() {
            break;
        }
    }
    Ok(full && progressed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_configuration() {
        let secret = || SecretBytes::new(b"s3cr3t-signing-key".to_vec());
        assert!(Webhook::new("http://127.0.0.1:9/hook", secret()).is_ok());
        assert!(Webhook::new("https://example.com/hook", secret()).is_err());
        assert!(Webhook::new("not a url", secret()).is_err());
        assert!(Webhook::new("http://h/x", SecretBytes::new(Vec::new())).is_err());
        assert_eq!(
            Nats::new("nats://127.0.0.1", "s").unwrap().address,
            "127.0.0.1:4222"
        );
        assert!(Nats::new("tcp://127.0.0.1:4222", "s").is_err());
        assert!(Nats::new("nats://127.0.0.1:4222", "a b").is_err());
        let t = Targets {
            webhook: Webhook::new("http://h/x", secret()).ok(),
            nats: None,
        };
        // The secret never shows.
        let shown = format!("{t:?}");
        assert!(shown.contains("http://h/x"));
        assert!(!shown.contains("s3cr3t"));
    }

    #[test]
    fn signature_is_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        let s = signature(
            &SecretBytes::new(b"Jefe".to_vec()),
            b"what do ya want for nothing?",
        );
        assert_eq!(
            s,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
