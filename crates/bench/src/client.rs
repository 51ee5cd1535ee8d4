//! The load client: signed AWS JSON 1.1 requests over HTTP/1.1 keep-alive connections.
//!
//! Each connection is owned by one task that sends requests back to back (a closed loop): sign,
//! send, read the whole response, record, repeat. Every request is signed at send time with
//! the current time, exactly as an SDK would; nothing is pre-signed, unless the load asks for
//! signatures to be reused (`Load::reuse_signatures`): then a connection sends the same signed
//! bytes again for that long, as a replaying client could within the server's clock-skew
//! window. The server verifies every signature either way; only the client's cost falls.

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use time::OffsetDateTime;
use tokio::net::TcpStream;

use crate::creds::Credentials;
use crate::histogram::Histogram;

pub const JSON_1_1: &str = "application/x-amz-json-1.1";
pub const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// Where to send, and how to sign.
#[derive(Debug)]
pub struct Client {
    /// `host:port` to connect to.
    addr: String,
    /// The `Host` header (signed).
    authority: String,
    creds: Credentials,
    region: String,
    service: String,
}

/// One response, read completely.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Client {
    pub fn new(
        endpoint: &str,
        creds: Credentials,
        region: &str,
        service: &str,
    ) -> anyhow::Result<Self> {
        let uri: Uri = endpoint
            .parse()
            .with_context(|| format!("invalid endpoint '{endpoint}'"))?;
        if uri.scheme_str() != Some("http") {
            bail!("endpoint '{endpoint}' must be an http:// URL (TLS is not supported here)");
        }
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow!("endpoint '{endpoint}' has no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        Ok(Client {
            addr: format!("{}:{port}", authority.host()),
            authority: authority.as_str().to_owned(),
            creds,
            region: region.to_owned(),
            service: service.to_owned(),
        })
    }

    /// Opens one keep-alive HTTP/1.1 connection (TCP_NODELAY) and spawns its driver task.
    pub async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .with_context(|| format!("cannot connect to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake failed")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// A `POST /` for `target` (e.g. `TrentService.Encrypt`) with a fresh SigV4 signature.
    pub fn signed_request(
        &self,
        target: &str,
        body: Bytes,
    ) -> anyhow::Result<Request<Full<Bytes>>> {
        self.signed_post(
            &[("content-type", JSON_1_1), ("x-amz-target", target)],
            body,
        )
    }

    /// A signed `POST /` of a Query-protocol form body (`Action=...&Version=...`), as IAM and
    /// STS take it.
    pub fn signed_form(&self, body: Bytes) -> anyhow::Result<Request<Full<Bytes>>> {
        self.signed_post(&[("content-type", FORM)], body)
    }

    /// The headers of a signed `POST /` for `target` with `body`, to be sent again and again.
    pub fn signed_headers(&self, target: &str, body: Bytes) -> anyhow::Result<http::HeaderMap> {
        Ok(self.signed_request(target, body)?.into_parts().0.headers)
    }

    /// A `POST /` of `body` with `headers` as they were signed.
    pub fn presigned(headers: &http::HeaderMap, body: Bytes) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = Uri::from_static("/");
        *req.headers_mut() = headers.clone();
        req
    }

    fn signed_post(
        &self,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> anyhow::Result<Request<Full<Bytes>>> {
        let signer = trent_sigv4::Signer {
            access_key_id: &self.creds.access_key_id,
            secret_access_key: &self.creds.secret_access_key,
            region: &self.region,
            service: &self.service,
            session_token: None,
        };
        let mut all = vec![("host", self.authority.as_str())];
        all.extend_from_slice(headers);
        let headers = all;
        let signed = signer.sign("POST", "/", "", &headers, &body, OffsetDateTime::now_utc());
        let mut builder = Request::post("/");
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        for (name, value) in &signed {
            builder = builder.header(name.as_str(), value.as_str());
        }
        Ok(builder.body(Full::new(body))?)
    }

    /// Sends `req` on `sender` and reads the whole response.
    pub async fn exchange(
        sender: &mut SendRequest<Full<Bytes>>,
        req: Request<Full<Bytes>>,
    ) -> anyhow::Result<Answer> {
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body })
    }

    /// One signed call on a fresh connection: for set-up steps such as CreateKey.
    pub async fn call(&self, target: &str, body: Bytes) -> anyhow::Result<Answer> {
        let mut sender = self.connect().await?;
        let req = self.signed_request(target, body)?;
        Self::exchange(&mut sender, req).await
    }

    /// One signed Query-protocol call (IAM, STS) on a fresh connection: `params` are the form's
    /// name/value pairs, `Action` and `Version` included.
    pub async fn call_form(&self, params: &[(&str, &str)]) -> anyhow::Result<Answer> {
        use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
        const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        let body = params
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, UNRESERVED),
                    utf8_percent_encode(v, UNRESERVED)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let mut sender = self.connect().await?;
        let req = self.signed_form(Bytes::from(body))?;
        Self::exchange(&mut sender, req).await
    }
}

/// What a load run does.
#[derive(Debug, Clone)]
pub struct Load {
    pub target: String,
    /// Request bodies, taken in turn: request k of connection i of n sends body
    /// `(i + k * n) % len`, so concurrent connections work on different bodies.
    pub bodies: std::sync::Arc<[Bytes]>,
    /// The member (a JSON pointer) every 200 answer must carry (e.g. `/Signature`).
    pub result_member: &'static str,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Open-loop mode: total requests per second, spread evenly over the connections. `None`
    /// is the closed loop (each connection sends its next request as soon as it has an answer).
    pub rate: Option<f64>,
    /// Process id of the server, when it runs on this machine, for CPU accounting.
    pub server_pid: Option<u32>,
    /// Send a connection's signed request for a body again for this long before signing it
    /// anew (`None`: sign every request).
    pub reuse_signatures: Option<Duration>,
}

/// What one connection's task saw.
#[derive(Default)]
struct Tally {
    /// Latency of successful requests started inside the measured window.
    latency: Histogram,
    /// Client-side signing and request building time of those requests, summed.
    sign_ns: u128,
    /// Failed requests (non-200, a 200 without the result member, or a transport error), warm-up
    /// included.
    errors: u64,
    /// Successful requests during the warm-up (not measured).
    warmup_ok: u64,
    /// Latency of the throttling answers (requests shed by the server) started inside the
    /// measured window; they are not errors.
    throttled: Histogram,
    first_error: Option<String>,
    sample: Option<Bytes>,
    reconnects: u64,
    /// Open loop: the intended send time of the current request, if it was sent late.
    late_start: Option<Instant>,
    /// Measured requests sent late.
    late: u64,
}

/// The outcome of a load run.
pub struct Outcome {
    pub latency: Histogram,
    pub measured: Duration,
    pub errors: u64,
    pub warmup_ok: u64,
    /// Throttling answers (HTTP 400 `ThrottlingException`/`Throttling`) in the measured window,
    /// with their latency.
    pub throttled: Histogram,
    /// Requests the open loop sent later than scheduled because their connection was busy.
    pub late: u64,
    pub first_error: Option<String>,
    pub sample: Option<Bytes>,
    pub sign_mean: Duration,
    pub reconnects: u64,
    /// CPU used during the measured window.
    pub cpu: Option<crate::cpu::Usage>,
}

impl Outcome {
    pub fn ok(&self) -> u64 {
        self.latency.count()
    }

    pub fn rps(&self) -> f64 {
        self.ok() as f64 / self.measured.as_secs_f64().max(1e-9)
    }
}

/// A server's answer that it is shedding load: JSON `ThrottlingException` or the Query
/// protocol's `Throttling`, both with status 400.
fn is_throttling(status: StatusCode, body: &[u8]) -> bool {
    if status != StatusCode::BAD_REQUEST {
        return false;
    }
    if body.starts_with(b"<") {
        let needle = b"<Code>Throttling</Code>";
        return body.windows(needle.len()).any(|w| w == needle);
    }
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|v| v.get("__type").and_then(|t| t.as_str()) == Some("ThrottlingException"))
}

fn describe_failure(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().take(300).collect();
    format!("HTTP {status}: {text}")
}

async fn run_connection(
    client: std::sync::Arc<Client>,
    load: std::sync::Arc<Load>,
    index: usize,
    mut sender: SendRequest<Full<Bytes>>,
    schedule: Option<(Instant, Duration)>,
    measure_from: Instant,
    end: Instant,
) -> Tally {
    let mut t = Tally::default();
    // Open loop: the next send time on this connection, and when the previous answer came.
    let mut next_send = schedule.map(|(first, _)| first);
    let mut prev_done = Instant::now();
    let mut next_body = index;
    // Reused signatures: body index -> when it was signed, and the signed headers.
    let mut signed: std::collections::HashMap<usize, (Instant, http::HeaderMap)> =
        std::collections::HashMap::new();
    loop {
        if let (Some(at), Some((_, interval))) = (next_send.as_mut(), schedule) {
            let due = *at;
            *at += interval;
            if due >= end {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
            // Latency counts from the intended send time when this connection was still busy
            // with the previous request then (no coordinated omission), and from the actual
            // send otherwise (so the client's timer granularity is not charged to the server).
            if prev_done > due {
                t.late_start = Some(due);
            } else {
                t.late_start = None;
            }
        }
        let t_build = Instant::now();
        if t_build >= end {
            break;
        }
        let body_index = next_body % load.bodies.len().max(1);
        let body = match load.bodies.get(body_index) {
            Some(b) => b.clone(),
            None => Bytes::new(),
        };
        next_body = next_body.wrapping_add(load.connections);
        let req = match load.reuse_signatures {
            None => client.signed_request(&load.target, body),
            Some(reuse) => match signed.get(&body_index) {
                Some((at, headers)) if t_build.duration_since(*at) < reuse => {
                    Ok(Client::presigned(headers, body))
                }
                _ => client
                    .signed_headers(&load.target, body.clone())
                    .map(|headers| {
                        let req = Client::presigned(&headers, body);
                        signed.insert(body_index, (t_build, headers));
                        req
                    }),
            },
        };
        let req = match req {
            Ok(r) => r,
            Err(e) => {
                t.errors += 1;
                t.first_error.get_or_insert_with(|| format!("{e:#}"));
                break;
            }
        };
        let t0 = Instant::now();
        let result = Client::exchange(&mut sender, req).await;
        let t1 = Instant::now();
        prev_done = t1;
        let start = t.late_start.unwrap_or(t0);
        let measured = start >= measure_from;
        if measured && t.late_start.is_some() {
            t.late += 1;
        }
        match result {
            Ok(a)
                if a.status == StatusCode::OK
                    && crate::workload::has_result(&a.body, load.result_member) =>
            {
                if measured {
                    t.latency.record(t1 - start);
                    t.sign_ns += (t0 - t_build).as_nanos();
                } else {
                    t.warmup_ok += 1;
                }
                if t.sample.is_none() {
                    t.sample = Some(a.body);
                }
            }
            Ok(a) if is_throttling(a.status, &a.body) => {
                if measured {
                    t.throttled.record(t1 - start);
                }
            }
            Ok(a) if a.status == StatusCode::OK => {
                t.errors += 1;
                t.first_error.get_or_insert_with(|| {
                    format!(
                        "no non-empty {} in {}",
                        load.result_member,
                        describe_failure(a.status, &a.body)
                    )
                });
            }
            Ok(a) => {
                t.errors += 1;
                t.first_error
                    .get_or_insert_with(|| describe_failure(a.status, &a.body));
            }
            Err(e) => {
                t.errors += 1;
                t.first_error
                    .get_or_insert_with(|| format!("transport: {e:#}"));
                // The connection is gone: open another, as a client pool would.
                match client.connect().await {
                    Ok(s) => {
                        sender = s;
                        t.reconnects += 1;
                    }
                    Err(e) => {
                        t.first_error.get_or_insert_with(|| format!("{e:#}"));
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }
    }
    t
}

/// Opens `load.connections` connections, then drives them for `warmup + duration`.
pub async fn run(client: Client, load: Load) -> anyhow::Result<Outcome> {
    let client = std::sync::Arc::new(client);
    let mut senders = Vec::with_capacity(load.connections);
    for _ in 0..load.connections {
        senders.push(client.connect().await?);
    }
    let load = std::sync::Arc::new(load);
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let end = measure_from + load.duration;
    // Open loop: connection i sends at start + (i + k * n) / rate, k = 0, 1, ...
    let schedule = |i: usize| {
        let rate = load.rate?;
        let n = load.connections as f64;
        let interval = Duration::try_from_secs_f64(n / rate).ok()?;
        let offset = Duration::try_from_secs_f64(i as f64 / rate).ok()?;
        Some((start + offset, interval))
    };
    let server_pid = load.server_pid;
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let a = crate::cpu::sample(server_pid);
        tokio::time::sleep_until(end.into()).await;
        let b = crate::cpu::sample(server_pid);
        crate::cpu::usage(&a, &b)
    });
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            tokio::spawn(run_connection(
                std::sync::Arc::clone(&client),
                std::sync::Arc::clone(&load),
                i,
                s,
                schedule(i),
                measure_from,
                end,
            ))
        })
        .collect();
    let mut latency = Histogram::default();
    let mut errors = 0;
    let mut warmup_ok = 0;
    let mut throttled = Histogram::default();
    let mut late = 0;
    let mut first_error = None;
    let mut sample = None;
    let mut sign_ns = 0u128;
    let mut reconnects = 0;
    for task in tasks {
        let t = task.await.context("a connection task failed")?;
        latency.merge(&t.latency);
        errors += t.errors;
        warmup_ok += t.warmup_ok;
        throttled.merge(&t.throttled);
        late += t.late;
        sign_ns += t.sign_ns;
        reconnects += t.reconnects;
        if first_error.is_none() {
            first_error = t.first_error;
        }
        if sample.is_none() {
            sample = t.sample;
        }
    }
    let cpu = sampler.await.ok();
    // Requests started before `end` may finish a little after it; the window is the nominal one.
    let measured = load.duration;
    let sign_mean = Duration::from_nanos(
        u64::try_from(sign_ns / u128::from(latency.count().max(1))).unwrap_or(0),
    );
    Ok(Outcome {
        latency,
        measured,
        errors,
        warmup_ok,
        throttled,
        late,
        first_error,
        sample,
        sign_mean,
        reconnects,
        cpu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_answers_are_told_apart_from_errors() {
        let kms = br#"{"__type":"ThrottlingException","message":"You have exceeded the rate"}"#;
        assert!(is_throttling(StatusCode::BAD_REQUEST, kms));
        let query = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
            <Message>Rate exceeded</Message></Error></ErrorResponse>";
        assert!(is_throttling(StatusCode::BAD_REQUEST, query));
        let other = br#"{"__type":"ValidationException","message":"ThrottlingException"}"#;
        assert!(!is_throttling(StatusCode::BAD_REQUEST, other));
        assert!(!is_throttling(StatusCode::INTERNAL_SERVER_ERROR, kms));
    }
}
