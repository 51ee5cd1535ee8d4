//! Overload and slow-client protection (issue #10): admission control sheds what cannot start
//! soon with the service's throttling answer, heads past the size limit get 431, and clients
//! that trickle their headers or body, or sit idle, are cut off while others are served.
//! Outcomes are asserted, not timings: generous bounds only say "cut off, not left open".

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use trent_server::Limits;

use crate::harness::TestServer;

const KMS_THROTTLED: &str =
    "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.";

/// A server with `limits`, but without the adaptive limit: it reads the CPU time of the whole
/// test process, so these tests' places stay as they set them.
async fn start(dir: &std::path::Path, limits: Limits) -> TestServer {
    TestServer::start_with(dir, |opts| {
        opts.limits = Limits {
            latency_target: Duration::ZERO,
            ..limits
        };
    })
    .await
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A POST signed for `service` by the server's clock (SigV4 over the exact headers sent).
fn signed(
    server: &TestServer,
    service: &str,
    content_type: &str,
    target: Option<&str>,
    body: &[u8],
) -> http::Request<Full<Bytes>> {
    let mut headers: Vec<(&str, &str)> = vec![("content-type", content_type)];
    if let Some(t) = target {
        headers.push(("x-amz-target", t));
    }
    let credentials = (
        server.access_key_id.as_str(),
        server.secret_access_key.as_str(),
    );
    server.signed_post(credentials, service, &headers, body)
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    req: http::Request<Full<Bytes>>,
) -> Answer {
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

fn encrypt(server: &TestServer, key_id: &str) -> http::Request<Full<Bytes>> {
    let body = json!({"KeyId": key_id, "Plaintext": "aGVsbG8="}).to_string();
    signed(
        server,
        "kms",
        "application/x-amz-json-1.1",
        Some("TrentService.Encrypt"),
        body.as_bytes(),
    )
}

fn assert_throttled(a: &Answer, message: &str) {
    assert_eq!(a.status, 400, "{:?}", a.body);
    let v = a.json();
    assert_eq!(v["__type"], "ThrottlingException", "{v}");
    assert_eq!(v["message"], message, "{v}");
    assert_eq!(a.headers["x-amzn-errortype"], "ThrottlingException");
    assert!(a.headers.contains_key("x-amzn-requestid"));
}

// Several workers, so that requests are worked on at the same time: a place is held only while
// a request is worked on, not while it waits for its audit commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_past_max_in_flight_are_shed_with_each_services_throttling_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        Limits {
            max_in_flight: 1,
            queue_timeout: Duration::from_millis(1),
            // No burst allowance: every wait past 1 ms is shed.
            burst_queue_timeout: Duration::ZERO,
            ..Limits::default()
        },
    )
    .await;
    let key_id = server
        .client()
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let http: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();

    // The only place is taken (as by a long request): everything but /health is shed, in the
    // shape of the service it was for.
    let held = server.state.admission.admit().await.unwrap();
    assert_throttled(&send(&http, encrypt(&server, &key_id)).await, KMS_THROTTLED);
    let ssm = signed(
        &server,
        "ssm",
        "application/x-amz-json-1.1",
        Some("AmazonSSM.GetParameter"),
        br#"{"Name":"p"}"#,
    );
    assert_throttled(&send(&http, ssm).await, "Rate exceeded");
    let sm = signed(
        &server,
        "secretsmanager",
        "application/x-amz-json-1.1",
        Some("secretsmanager.GetSecretValue"),
        br#"{"SecretId":"s"}"#,
    );
    assert_throttled(&send(&http, sm).await, "Rate exceeded");
    // The Query protocol (STS here, from the credential scope): XML, code Throttling.
    let sts = signed(
        &server,
        "sts",
        "application/x-www-form-urlencoded",
        None,
        b"Action=GetCallerIdentity&Version=2011-06-15",
    );
    let a = send(&http, sts).await;
    let text = String::from_utf8_lossy(&a.body);
    assert_eq!(a.status, 400, "{text}");
    assert!(text.contains("<Code>Throttling</Code>"), "{text}");
    assert!(text.contains("<Message>Rate exceeded</Message>"), "{text}");
    assert!(
        text.contains("https://sts.amazonaws.com/doc/2011-06-15/"),
        "{text}"
    );
    let health = http
        .request(
            http::Request::get(format!("{}/health", server.endpoint))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "/health is never shed");
    assert_eq!(server.state.admission.shed_total(), 4);
    // A shed request did no work: no audit event for any of them.
    let events_before = audit_events(&server).await;
    drop(held);
    assert_eq!(send(&http, encrypt(&server, &key_id)).await.status, 200);
    assert_eq!(audit_events(&server).await, events_before + 1);

    // A burst far past one in flight: every answer is a success or a throttling error, at
    // least the first succeeds, and the excess is shed rather than queued.
    let shed_before = server.state.admission.shed_total();
    let burst: Vec<_> = (0..64)
        .map(|_| {
            let http = http.clone();
            let req = encrypt(&server, &key_id);
            tokio::spawn(async move { send(&http, req).await })
        })
        .collect();
    let (mut ok, mut throttled) = (0, 0);
    for task in burst {
        let a = task.await.unwrap();
        if a.status == 200 {
            assert!(a.json()["CiphertextBlob"].is_string());
            ok += 1;
        } else {
            assert_throttled(&a, KMS_THROTTLED);
            throttled += 1;
        }
    }
    assert!(ok >= 1, "{ok} succeeded, {throttled} throttled");
    assert!(throttled >= 1, "{ok} succeeded, {throttled} throttled");
    assert_eq!(
        server.state.admission.shed_total() - shed_before,
        throttled as u64
    );
    // And the server answers normally afterwards.
    for _ in 0..3 {
        assert_eq!(send(&http, encrypt(&server, &key_id)).await.status, 200);
    }
    server.stop().await;
}

/// A request waiting for its audit event's commit holds no place: with one place, and the
/// database's write lock taken so that no audit commit can finish, a first Encrypt is worked on
/// and waits for its commit without its place, a second is let in (not shed) and waits too,
/// and both succeed once the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_for_its_audit_commit_holds_no_place() {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        Limits {
            max_in_flight: 1,
            queue_timeout: Duration::from_millis(1),
            burst_queue_timeout: Duration::ZERO,
            ..Limits::default()
        },
    )
    .await;
    let key_id = server
        .client()
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let http: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    // Warm the key's cache entry, so that Encrypt needs no write of its own.
    assert_eq!(send(&http, encrypt(&server, &key_id)).await.status, 200);

    let db = dir.path().join(trent_store::DATABASE_FILE);
    let mut lock = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .unwrap();

    let spawn_encrypt = |req| {
        let http = http.clone();
        tokio::spawn(async move { send(&http, req).await })
    };
    let first = spawn_encrypt(encrypt(&server, &key_id));
    // The first is let in, worked on, and then waits for the audit commit: the place is free
    // again while it waits.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !first.is_finished(),
        "answered before its audit event was durable"
    );
    assert_eq!(
        server.state.admission.in_flight(),
        0,
        "the place was not given back"
    );
    let second = spawn_encrypt(encrypt(&server, &key_id));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !second.is_finished(),
        "the second was answered before its audit commit"
    );
    assert_eq!(server.state.admission.shed_total(), 0);

    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    for task in [first, second] {
        let a = task.await.unwrap();
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    assert_eq!(server.state.admission.shed_total(), 0);
    server.stop().await;
}

/// The sequence number of the audit chain's last event.
async fn audit_events(server: &TestServer) -> i64 {
    server
        .state
        .store
        .audit_tail()
        .await
        .unwrap()
        .map_or(0, |(seq, _)| seq)
}

#[tokio::test]
async fn admission_control_off_admits_everything() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        Limits {
            max_in_flight: 0,
            queue_timeout: Duration::ZERO,
            ..Limits::default()
        },
    )
    .await;
    let _held: Vec<_> = hold_places(&server, 8).await;
    let client = server.client();
    client.list_keys().send().await.unwrap();
    assert_eq!(server.state.admission.shed_total(), 0);
    server.stop().await;
}

/// The adaptive limit at work: RSA signatures (each the better part of a millisecond of CPU)
/// sent 64 at a time keep the process's CPUs busy and every signature far over a 200 µs
/// target, so the places fall below `--max-in-flight`; every request is still answered, with a
/// signature or KMS's throttling error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_signatures_flooding_the_cpus_cut_the_places_and_every_request_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |opts| {
        opts.limits = Limits {
            latency_target: Duration::from_micros(200),
            ..Limits::default()
        };
    })
    .await;
    let max = Limits::default().max_in_flight;
    assert_eq!(server.state.admission.places(), max);
    let key_id = server
        .client()
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Rsa2048)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let body = json!({
        "KeyId": key_id,
        "Message": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "MessageType": "RAW",
        "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256",
    })
    .to_string();
    let http: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let (mut signed_ok, mut throttled, mut lowest) = (0, 0, max);
    // Other tests share the machine: flood until the cut shows, for at most 30 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while lowest == max && std::time::Instant::now() < deadline {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..64 {
            let req = signed(
                &server,
                "kms",
                "application/x-amz-json-1.1",
                Some("TrentService.Sign"),
                body.as_bytes(),
            );
            let http = http.clone();
            batch.spawn(async move { send(&http, req).await });
        }
        while let Some(a) = batch.join_next().await {
            let a = a.unwrap();
            if a.status == 200 {
                assert!(a.json()["Signature"].is_string(), "{:?}", a.body);
                signed_ok += 1;
            } else {
                assert_throttled(&a, KMS_THROTTLED);
                throttled += 1;
            }
            lowest = lowest.min(server.state.admission.places());
        }
    }
    assert!(
        lowest < max,
        "the places stayed at {max} ({signed_ok} signed, {throttled} throttled)"
    );
    assert!(signed_ok > 0);
    server.stop().await;
}

async fn hold_places(server: &TestServer, n: usize) -> Vec<trent_server::admission::Admitted> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(server.state.admission.admit().await.unwrap());
    }
    held
}

/// Sends `head` on a new connection and returns what comes back until the server closes it
/// (or `within` passes).
async fn exchange_raw(addr: std::net::SocketAddr, head: &[u8], within: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before reading all of it.
    let _ = s.write_all(head).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(within, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn request_heads_past_max_header_bytes_get_431() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        Limits {
            max_header_bytes: 8192,
            ..Limits::default()
        },
    )
    .await;
    let big = format!(
        "POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: TrentService.ListKeys\r\nx-pad: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let answer = exchange_raw(server.addr, big.as_bytes(), Duration::from_secs(10)).await;
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "{}",
        answer.chars().take(200).collect::<String>()
    );
    // A head within the limit is served (a few KiB of headers, as big signed requests carry).
    let fine = format!(
        "GET /health HTTP/1.1\r\nhost: x\r\nx-pad: {}\r\nconnection: close\r\n\r\n",
        "a".repeat(4000)
    );
    let answer = exchange_raw(server.addr, fine.as_bytes(), Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}

/// What one raw connection saw while the test trickled bytes into it.
struct Trickled {
    /// The connection was closed (EOF or reset) while bytes were still being trickled.
    closed_while_trickling: bool,
    answer: String,
}

/// Writes `head` at once, then `slow` one byte every `every` (make it last longer than 20 s),
/// reading whatever the server answers until it closes the connection (or 20 s pass).
async fn trickle(
    addr: std::net::SocketAddr,
    head: &[u8],
    slow: &[u8],
    every: Duration,
) -> Trickled {
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    wr.write_all(head).await.unwrap();
    let slow = slow.to_vec();
    let writer = tokio::spawn(async move {
        for b in slow {
            tokio::time::sleep(every).await;
            if wr.write_all(&[b]).await.is_err() {
                return false;
            }
        }
        true
    });
    let mut out = Vec::new();
    // Bounded below the whole trickle's length, so a server that never closes fails the test
    // rather than hanging it.
    let closed = tokio::time::timeout(Duration::from_secs(20), rd.read_to_end(&mut out))
        .await
        .is_ok();
    let closed_while_trickling = closed && !writer.is_finished();
    writer.abort();
    Trickled {
        closed_while_trickling,
        answer: String::from_utf8_lossy(&out).into_owned(),
    }
}

async fn health_is_served(server: &TestServer) {
    let answer = exchange_raw(
        server.addr,
        b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

fn slow_limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        ..Limits::default()
    }
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), slow_limits()).await;
    let addr = server.addr;
    // One header byte every 250 ms: each byte is progress, but the head as a whole is late.
    // Trickled for up to 30 s; a 1 s header timeout cuts it off long before.
    let slowloris = tokio::spawn(async move {
        trickle(
            addr,
            b"POST / HTTP/1.1\r\nhost: x\r\n",
            &[b'a'; 120],
            Duration::from_millis(250),
        )
        .await
    });
    // Meanwhile other clients are served.
    for _ in 0..3 {
        health_is_served(&server).await;
    }
    let t = slowloris.await.unwrap();
    assert!(t.closed_while_trickling, "still open: {}", t.answer);
    // Closed without an answer, or with a 408: never a request handed to the service.
    assert!(
        t.answer.is_empty() || t.answer.starts_with("HTTP/1.1 408"),
        "{}",
        t.answer
    );
    health_is_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), slow_limits()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    // The answer, then the connection stays open (keep-alive) with nothing more to read until
    // the server gives up on the next request's headers and closes it.
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "an idle connection was kept open for 20 s");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(text.matches("HTTP/1.1").count(), 1, "{text}");
    server.stop().await;
}

#[tokio::test]
async fn a_body_trickled_slower_than_the_body_timeout_allows_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), slow_limits()).await;
    let addr = server.addr;
    // 120 bytes announced, one sent every 250 ms (30 s in all); the body timeout is 1 s.
    let slow = tokio::spawn(async move {
        trickle(
            addr,
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-amz-json-1.1\r\n\
              x-amz-target: TrentService.Encrypt\r\ncontent-length: 120\r\n\r\n",
            &[b' '; 120],
            Duration::from_millis(250),
        )
        .await
    });
    health_is_served(&server).await;
    let t = slow.await.unwrap();
    assert!(t.closed_while_trickling, "still open: {}", t.answer);
    assert!(t.answer.starts_with("HTTP/1.1 408"), "{}", t.answer);
    assert!(t.answer.contains("RequestTimeout"), "{}", t.answer);
    assert_eq!(server.state.admission.shed_total(), 0);
    health_is_served(&server).await;
    server.stop().await;
}
