//! The sealed phase of a server: before the root key is recovered nothing can be served, so
//! the listeners answer only
//!
//! - `GET /health`: 503, `{"status":"sealed","seal":"shamir","threshold":T,"progress":k}` for
//!   the Shamir seal, `{"status":"sealed","seal":"kms","reason":"…"}` for an automatic seal
//!   (the reason says why it is sealed: the KMS's answer, or an operator's `seal`);
//! - `POST /trent/operator/unseal` with `{"share":"trent-share-v1-…"}` (or `{"reset":true}`):
//!   200 with the progress, or 400 `InvalidShareException` naming what is wrong with the share
//!   (Shamir only: an automatic seal unseals by itself at start);
//! - anything else: 503 `ServiceUnavailableException` saying the server is sealed.
//!
//! A server is sealed at start (Shamir; the KMS seal while its KMS cannot give the key, retried
//! with backoff by [`SealedGate::auto_unseal`]) and after `trent operator seal`.
//!
//! Shares are the credential here, as in other sealed key stores: the endpoint needs no
//! signature, and it never logs or echoes a share. Every answer closes its connection, so no
//! client keeps a connection from the sealed phase once the real service starts on the same
//! listener.

use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use trent_crypto::SecretBytes;
use trent_store::Seal;
use trent_store::shamir::{Progress, Unsealer};

use crate::auth::error_chain;
use crate::tls::TlsConfig;

/// The unseal state shared by every listener of the sealed phase.
pub struct SealedGate {
    seal: Arc<dyn Seal>,
    /// The Shamir seal's share collector; `None` for automatic seals.
    unsealer: Option<Mutex<Unsealer>>,
    /// Why an automatic seal is sealed (never a secret).
    reason: Mutex<String>,
    key: Mutex<Option<SecretBytes>>,
    unsealed: tokio::sync::watch::Sender<bool>,
    tls: Option<Arc<TlsConfig>>,
}

impl SealedGate {
    /// A gate for `seal`: one that collects key shares for the Shamir seal, else one that says
    /// `reason` until [`SealedGate::auto_unseal`] (if run) succeeds. `tls` is the listener's
    /// configuration, for the certificate expiry in `/health`.
    pub fn new(
        seal: Arc<dyn Seal>,
        reason: impl Into<String>,
        tls: Option<Arc<TlsConfig>>,
    ) -> Result<Arc<SealedGate>, trent_store::SealError> {
        // An automatic seal is not asked here: asking it may take a network round trip.
        let unsealer = if seal.is_automatic() {
            None
        } else {
            match seal.unseal()? {
                trent_store::Unseal::NeedsShares(config) => Some(Mutex::new(Unsealer::new(config))),
                trent_store::Unseal::Key(_) => None,
            }
        };
        Ok(Arc::new(SealedGate {
            seal,
            unsealer,
            reason: Mutex::new(reason.into()),
            key: Mutex::new(None),
            unsealed: tokio::sync::watch::channel(false).0,
            tls,
        }))
    }

    /// Asks the automatic seal for the root key again (its first attempt, at start, failed)
    /// until it gives it or `stop` resolves: after 1 s, then doubling up to 60 s. Each
    /// failure's reason is logged and shown by `/health`.
    pub async fn auto_unseal(self: &Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut delay = std::time::Duration::from_secs(1);
        loop {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = &mut stop => return,
            }
            let seal = Arc::clone(&self.seal);
            match tokio::task::spawn_blocking(move || seal.unseal()).await {
                Ok(Ok(trent_store::Unseal::Key(key))) => {
                    self.give_key(key);
                    tracing::info!(
                        seal = self.seal.name(),
                        "unsealed: the seal gave the root key"
                    );
                    return;
                }
                Ok(Ok(trent_store::Unseal::NeedsShares(_))) => return,
                Ok(Err(e)) => {
                    let reason = error_chain(&e);
                    delay = (delay * 2).min(std::time::Duration::from_secs(60));
                    tracing::warn!(
                        seal = self.seal.name(),
                        reason = %reason,
                        retry_in_secs = delay.as_secs(),
                        "the seal could not give the root key; trying again"
                    );
                    self.set_reason(format!(
                        "the {} seal could not give the root key: {reason}",
                        self.seal.name()
                    ));
                }
                Err(_) => self.set_reason("the unseal attempt failed"),
            }
        }
    }

    fn set_reason(&self, reason: impl Into<String>) {
        *self
            .reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = reason.into();
    }

    fn reason(&self) -> String {
        self.reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn give_key(&self, key: SecretBytes) {
        *self
            .key
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(key);
        self.unsealed.send_replace(true);
    }

    /// Resolves once the root key has been recovered.
    pub async fn unsealed(&self) {
        let mut rx = self.unsealed.subscribe();
        let _ = rx.wait_for(|done| *done).await;
    }

    /// The recovered root key (once).
    pub fn take_key(&self) -> Option<SecretBytes> {
        self.key
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Shares given and the threshold (Shamir only).
    fn progress(&self) -> Option<(u8, u8)> {
        let u = self
            .unsealer
            .as_ref()?
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some((u.have(), u.config().threshold))
    }

    /// What `/health` says while sealed.
    fn health(&self) -> serde_json::Value {
        let mut v = match self.progress() {
            Some((have, threshold)) => serde_json::json!({"status": "sealed", "seal": "shamir",
                "threshold": threshold, "progress": have}),
            None => serde_json::json!({"status": "sealed", "seal": self.seal.name(),
                "reason": self.reason()}),
        };
        if let (Some(tls), Some(map)) = (&self.tls, v.as_object_mut()) {
            map.insert("tls".into(), tls.expiry_json());
        }
        v
    }

    fn submit(&self, share: Option<&str>, reset: bool) -> Result<serde_json::Value, String> {
        if *self.unsealed.borrow() {
            return Ok(serde_json::json!({"sealed": false}));
        }
        let Some(unsealer) = &self.unsealer else {
            return Err(format!(
                "The {} seal takes no key shares: it unseals by itself when the server starts. \
                 Sealed because {}",
                self.seal.name(),
                self.reason()
            ));
        };
        let mut u = unsealer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let threshold = u.config().threshold;
        if reset {
            u.reset();
            tracing::info!("unseal progress reset");
            return Ok(serde_json::json!({"sealed": true, "progress": 0, "threshold": threshold}));
        }
        let Some(share) = share else {
            return Err("The request needs a \"share\" member (or \"reset\": true).".into());
        };
        match u.add(share) {
            Ok(Progress::Need { have, threshold }) => {
                tracing::info!(progress = have, threshold, "key share accepted");
                Ok(serde_json::json!({"sealed": true, "progress": have, "threshold": threshold}))
            }
            Ok(Progress::Unsealed(key)) => {
                self.give_key(key);
                tracing::info!("unsealed: the root key is recovered");
                Ok(
                    serde_json::json!({"sealed": false, "progress": threshold, "threshold": threshold}),
                )
            }
            Err(e) => {
                tracing::warn!(reason = %e, "key share refused");
                Err(e.to_string())
            }
        }
    }
}

fn answer(status: StatusCode, body: serde_json::Value) -> hyper::Response<Full<Bytes>> {
    let mut resp = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

fn error(status: StatusCode, code: &str, message: &str) -> hyper::Response<Full<Bytes>> {
    answer(
        status,
        serde_json::json!({"__type": code, "message": message}),
    )
}

async fn handle(gate: &SealedGate, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/health") => {
            answer(StatusCode::SERVICE_UNAVAILABLE, gate.health())
        }
        (&Method::POST, "/trent/operator/unseal") => {
            let body = match Limited::new(req.into_body(), 4096).collect().await {
                Ok(b) => zeroize::Zeroizing::new(b.to_bytes().to_vec()),
                Err(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "SerializationException",
                        "The request body could not be read (at most 4096 bytes).",
                    );
                }
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "SerializationException",
                    "The request body is not a JSON object.",
                );
            };
            let share = v.get("share").and_then(serde_json::Value::as_str);
            let reset = v.get("reset").and_then(serde_json::Value::as_bool) == Some(true);
            match gate.submit(share, reset) {
                Ok(progress) => answer(StatusCode::OK, progress),
                Err(message) => error(StatusCode::BAD_REQUEST, "InvalidShareException", &message),
            }
        }
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
            &match gate.progress() {
                Some((have, threshold)) => format!(
                    "Trent is sealed: its root key needs {threshold} key shares ({have} given). \
                     Unseal it with `trent operator unseal`."
                ),
                None => format!("Trent is sealed: {}", gate.reason()),
            },
        ),
    }
}

/// Answers on `listener` (over TLS when `tls` is set) as a sealed server until the gate is
/// unsealed or `stop` resolves. The listener is left open for the real service.
pub async fn serve(
    listener: &TcpListener,
    tls: Option<Arc<TlsConfig>>,
    gate: Arc<SealedGate>,
    stop: impl Future<Output = ()>,
) {
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            () = gate.unsealed() => return,
            () = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let gate = Arc::clone(&gate);
        let builder = Arc::clone(&builder);
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let gate = Arc::clone(&gate);
                async move { Ok::<_, std::convert::Infallible>(handle(&gate, req).await) }
            });
            let timeout = std::time::Duration::from_secs(10);
            let result = match acceptor {
                None => {
                    builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => builder.serve_connection(TokioIo::new(s), service).await,
                        _ => return,
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "sealed-phase connection ended with an error");
            }
        });
    }
}
