//! Trent's server, as a library: `run(listener, state, shutdown)`.
//!
//! Request path: TCP → HTTP/1.1 or HTTP/2 (hyper) → body limit and read timeout → protocol
//! decode (`X-Amz-Target`) → SigV4 authentication → the service's operation → JSON response.
//!
//! - [`State`] holds the services and configuration; [`bootstrap`] builds it from a data
//!   directory (seal, store, first credentials).
//! - [`run`] accepts connections until `shutdown` resolves, then lets in-flight requests finish;
//!   [`run_tls`] does the same over TLS ([`tls`]).
//! - [`admission`] bounds the requests worked on at once and sheds, with the service's
//!   throttling error, those that cannot start soon; [`Limits`] holds it and the size and time
//!   limits of the HTTP layer (docs/limits.md).
//! - [`scheduler`] runs background jobs (key deletion, parameter policies) against an injected
//!   clock.
//! - [`rotators`] run the steps of Secrets Manager rotations: built-in PostgreSQL and
//!   MySQL/MariaDB rotators and HTTP webhooks, chosen by RotationLambdaARN.
//! - [`events`] delivers Parameter Store events from the store's outbox to a webhook and NATS.
//! - [`quota`] applies AWS's request quotas (token buckets per account, Region and pool);
//!   a request over its quota gets the service's throttling error before its operation runs.
//! - Every request becomes a CloudTrail-format event (`trent-audit`), durable before the
//!   response is sent; [`State::sign_audit_digests`] signs digests over the chain.
//! - Services by `X-Amz-Target` prefix: `TrentService` (KMS, `trent-kms`), `AmazonSSM`
//!   (Parameter Store, `trent-ssm`, which encrypts SecureString values through the KMS service)
//!   and `secretsmanager` (Secrets Manager, `trent-secrets`, likewise).
//!   POSTs without a target that carry a form body are the Query protocol: IAM or STS
//!   (`trent-iam`), chosen by the SigV4 credential scope's service, answered in XML.
//!
//! The binary (`trent serve`) only parses flags, sets up logging and calls these.

#![forbid(unsafe_code)]

pub mod admission;
pub mod auth;
mod bootstrap;
pub mod events;
mod http;
pub mod quota;
mod reference;
pub mod rotators;
pub mod scheduler;
pub mod sealed;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use bootstrap::{BootstrapError, Options, Started, bootstrap, create_account, open_store};

/// Limits and timeouts of the HTTP layer. `docs/limits.md` explains each, and the memory they
/// bound together.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Most connections served at once; further clients wait in the accept queue.
    pub max_connections: usize,
    /// Largest request head (request line and headers; an HTTP/2 header list), in bytes, at
    /// least 8192 (hyper's smallest read buffer). HTTP/1.1 answers 431 past it; HTTP/2 refuses
    /// the stream.
    pub max_header_bytes: usize,
    /// Time a client has to send its request headers; also how long an idle HTTP/1.1
    /// keep-alive connection stays open.
    pub header_read_timeout: Duration,
    /// Time an admitted request's body has to arrive completely (slow-body protection).
    pub body_read_timeout: Duration,
    /// Time a request has to arrive completely and be answered.
    pub request_timeout: Duration,
    /// Most requests worked on at once (admission control); 0 turns admission control off.
    pub max_in_flight: usize,
    /// Most requests waiting for one of the `max_in_flight` places; past it a request is shed
    /// at once.
    pub max_queued: usize,
    /// How long a request may wait for a place while the server is overloaded (every request
    /// of the last interval waited longer than this) before it is shed with a throttling error.
    pub queue_timeout: Duration,
    /// How long a request may wait for a place otherwise (a burst); also the interval over
    /// which overload is judged (see `admission`).
    pub burst_queue_timeout: Duration,
    /// While the process keeps its CPUs busy, the places of `max_in_flight` are cut so that a
    /// request is worked on for about this long on average (see `admission`); zero keeps
    /// them at `max_in_flight`.
    pub latency_target: Duration,
    /// Most concurrent HTTP/2 streams per connection.
    pub max_streams_per_connection: u32,
    /// HTTP/2: interval of the keep-alive pings on an idle connection; a connection whose
    /// peer does not answer one within the same time is closed.
    pub http2_keep_alive: Duration,
    /// Time in-flight requests get to finish at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            max_connections: 4096,
            max_header_bytes: 16 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_queued: DEFAULT_MAX_QUEUED,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            burst_queue_timeout: DEFAULT_BURST_QUEUE_TIMEOUT,
            latency_target: DEFAULT_LATENCY_TARGET,
            max_streams_per_connection: 128,
            http2_keep_alive: Duration::from_secs(20),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Default [`Limits::max_in_flight`]: enough to keep the cores and the audit writer's group
/// commits busy, few enough that a request admitted at capacity is answered within a few
/// milliseconds (docs/benchmarks.md, "Overload").
pub const DEFAULT_MAX_IN_FLIGHT: usize = 32;
/// Default [`Limits::max_queued`].
pub const DEFAULT_MAX_QUEUED: usize = 32;
/// Default [`Limits::queue_timeout`].
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_millis(5);
/// Default [`Limits::burst_queue_timeout`].
pub const DEFAULT_BURST_QUEUE_TIMEOUT: Duration = Duration::from_millis(100);
/// Default [`Limits::latency_target`]: with a queue no longer than the places, an admitted
/// request waits about as long again, which keeps the tail under 10 ms at three times the
/// capacity (docs/benchmarks.md, "Overload").
pub const DEFAULT_LATENCY_TARGET: Duration = Duration::from_millis(3);

/// How often a line counting the requests shed is logged (when there were any).
const SHED_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// Everything a request handler needs, shared by all connections.
pub struct State {
    pub kms: Arc<trent_kms::Kms>,
    pub ssm: Arc<trent_ssm::Ssm>,
    /// Secrets Manager.
    pub secrets: Arc<trent_secrets::Secrets>,
    /// IAM and STS, and the identities behind access keys.
    pub iam: Arc<trent_iam::Iam>,
    pub auth: auth::Authenticator,
    pub store: Arc<dyn trent_store::Store>,
    pub clock: Arc<dyn trent_store::clock::Clock>,
    pub limits: Limits,
    /// Request quotas: the buckets every authenticated request is charged to.
    pub quotas: Arc<quota::Limiter>,
    /// The gate of [`Limits::max_in_flight`] and [`Limits::queue_timeout`].
    pub admission: admission::Admission,
    /// Where Parameter Store events go; see [`events::run`].
    pub event_targets: Arc<events::Targets>,
    /// The audit trail: every request's event is durable before its response is sent.
    pub audit: Arc<trent_audit::AuditLog>,
    /// The account events of unauthenticated requests are recorded in.
    pub default_account: String,
    /// The name of the seal that keeps the root key (`file`, `shamir`, `pkcs11`, `kms`).
    pub seal_name: &'static str,
    /// The TLS listener's configuration, whose certificate expiry `/health` reports.
    pub tls: Option<Arc<tls::TlsConfig>>,
    /// Set by `trent operator seal`: the listeners stop and the state is dropped with the key.
    sealing: tokio::sync::watch::Sender<bool>,
    /// Audit events older than this are pruned behind a signed checkpoint by the scheduler
    /// (`None`: kept forever).
    pub audit_retention_ms: Option<i64>,
    /// This node's name among those sharing the store (the holder of its scheduler leases).
    pub node_id: String,
}

impl State {
    /// Asks the server to seal: its listeners stop serving the API (in-flight requests
    /// finish), and the binary drops this state, the store and the root key with it.
    pub fn request_seal(&self) {
        self.sealing.send_replace(true);
    }

    /// Resolves once [`State::request_seal`] has been called.
    pub fn seal_requested(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.sealing.subscribe();
        async move {
            let _ = rx.wait_for(|sealing| *sealing).await;
        }
    }

    /// Whether [`State::request_seal`] has been called.
    pub fn is_sealing(&self) -> bool {
        *self.sealing.borrow()
    }
}

impl State {
    /// Delivers Parameter Store events until `shutdown` resolves (returns at once when no target
    /// is configured).
    pub async fn deliver_events(&self, shutdown: impl Future<Output = ()>) {
        events::run(
            Arc::clone(&self.store),
            Arc::clone(&self.event_targets),
            self.ssm.events_written(),
            &self.node_id,
            shutdown,
        )
        .await;
    }
}

impl State {
    /// Signs an audit digest every `interval` until `shutdown` resolves, and a last one then,
    /// so a clean stop leaves every event signed.
    pub async fn sign_audit_digests(&self, interval: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = &mut shutdown => break,
            }
            if let Err(e) = self.audit.write_digest().await {
                tracing::error!(error = %auth::error_chain(&e), "audit digest failed");
            }
        }
        if let Err(e) = self.audit.write_digest().await {
            tracing::error!(error = %auth::error_chain(&e), "audit digest at shutdown failed");
        }
    }
}

impl State {
    /// Creates another account with a root access key (a random 12-digit id unless one is
    /// given), for operators (`trent admin create-account`) and tests.
    pub async fn create_account(
        &self,
        account_id: Option<&str>,
    ) -> Result<trent_iam::AccountCredentials, trent_iam::IamError> {
        self.iam.create_account(account_id).await
    }
}

/// Serves `listener` (plain HTTP) until `shutdown` resolves, then stops accepting and gives
/// in-flight requests `limits.shutdown_grace` to finish.
pub async fn run(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve(&listener, None, state, shutdown).await
}

/// As [`run`] (over TLS when `tls` is set, as [`run_tls`]) on a listener the caller keeps: it
/// stays open after `shutdown`, so a server that is sealed again can answer on it.
pub async fn run_on(
    listener: &TcpListener,
    tls: Option<Arc<tls::TlsConfig>>,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve(listener, tls, state, shutdown).await
}

/// As [`run`], over TLS: each connection completes a TLS handshake (within the header read
/// timeout) with the configuration current when it was accepted. Requests on it see
/// `aws:SecureTransport` true.
pub async fn run_tls(
    listener: TcpListener,
    tls: Arc<tls::TlsConfig>,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve(&listener, Some(tls), state, shutdown).await
}

/// hyper's smallest allowed HTTP/1.1 read buffer.
const MIN_READ_BUFFER: usize = 8192;
/// HTTP/2 flow-control window per stream and per connection (hyper's default is 1 MiB).
const HTTP2_WINDOW: u32 = 256 * 1024;

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve(
    listener: &TcpListener,
    tls: Option<Arc<tls::TlsConfig>>,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let secure = tls.is_some();
    let permits = Arc::new(Semaphore::new(state.limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let limits = &state.limits;
    let header_bytes = limits.max_header_bytes.max(MIN_READ_BUFFER);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // hyper's read buffer: a head that does not fit in it is answered 431; body chunks
        // are read through it.
        .max_buf_size(header_bytes.max(MIN_READ_BUFFER))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams_per_connection)
        .max_header_list_size(u32::try_from(header_bytes).unwrap_or(u32::MAX))
        // Flow-control windows bound what a peer may send ahead of what is read: bodies are
        // read only once admitted, so this is what a connection holds while it waits.
        .initial_stream_window_size(HTTP2_WINDOW)
        .initial_connection_window_size(HTTP2_WINDOW)
        .keep_alive_interval(limits.http2_keep_alive)
        .keep_alive_timeout(limits.http2_keep_alive);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    let shed_report = tokio::spawn(admission::report_shed(
        Arc::clone(&state),
        SHED_REPORT_INTERVAL,
    ));
    // Stops the report when serving ends, however it ends.
    let _shed_report = AbortOnDrop(shed_report);

    loop {
        // Take a permit before accepting: at the limit, new clients wait in the kernel's queue
        // instead of costing us memory.
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handler_state = Arc::clone(&state);
        let service = hyper::service::service_fn(move |req| {
            let state = Arc::clone(&handler_state);
            async move {
                Ok::<_, std::convert::Infallible>(http::handle(&state, req, peer, secure).await)
            }
        });
        match &tls {
            None => {
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
            Some(tls) => {
                // The handshake runs in the connection's task, bounded like reading headers, so
                // a slow or silent client holds only its own permit.
                let acceptor = tls.acceptor();
                let builder = Arc::clone(&builder);
                let timeout = state.limits.header_read_timeout;
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
        }
    }

    tracing::info!("shutting down: waiting for in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(state.limits.shutdown_grace) => {
            tracing::warn!("shutdown grace period ended with connections still open");
        }
    }
    Ok(())
}
