//! Parameter Store policies, events (webhook and NATS), GetParametersByPath filters, data types,
//! per-tier limits and Secrets Manager references, through `aws-sdk-ssm` against a real server.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ssm::types::{ParameterStringFilter, ParameterTier, ParameterType};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use trent_crypto::SecretBytes;
use trent_server::events::{Nats, Targets, Webhook};

use crate::harness::{TestServer, code, message};

const HOOK_SECRET: &[u8] = b"webhook-signing-secret-for-tests";

// ---------------------------------------------------------------------------------------------
// A webhook receiver: a tiny HTTP server that records what it is sent, or answers 503 while down.

struct Received {
    id: String,
    signature: String,
    body: Vec<u8>,
}

struct Hook {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    up: Arc<AtomicBool>,
    attempts: Arc<AtomicUsize>,
}

impl Hook {
    async fn start() -> Hook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let up = Arc::new(AtomicBool::new(true));
        let attempts = Arc::new(AtomicUsize::new(0));
        let (r, u, a) = (received.clone(), up.clone(), attempts.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (r, u, a) = (r.clone(), u.clone(), a.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let (r, u, a) = (r.clone(), u.clone(), a.clone());
                            async move {
                                a.fetch_add(1, Ordering::SeqCst);
                                let header = |n: &str| {
                                    req.headers()
                                        .get(n)
                                        .and_then(|v| v.to_str().ok())
                                        .unwrap_or_default()
                                        .to_string()
                                };
                                let (id, signature) =
                                    (header("x-trent-event-id"), header("x-trent-signature"));
                                let body =
                                    req.into_body().collect().await.unwrap().to_bytes().to_vec();
                                let status = if u.load(Ordering::SeqCst) {
                                    r.lock().unwrap().push(Received {
                                        id,
                                        signature,
                                        body,
                                    });
                                    200
                                } else {
                                    503
                                };
                                Ok::<_, std::convert::Infallible>(
                                    http::Response::builder()
                                        .status(status)
                                        .body(Full::new(Bytes::new()))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Hook {
            addr,
            received,
            up,
            attempts,
        }
    }

    fn targets(&self) -> Targets {
        Targets {
            webhook: Some(
                Webhook::new(
                    &format!("http://{}/events", self.addr),
                    SecretBytes::new(HOOK_SECRET.to_vec()),
                )
                .unwrap(),
            ),
            nats: None,
        }
    }

    /// The events received so far, each checked: its HMAC signature and its id header.
    fn events(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                let mac = trent_crypto::hmac_sha256(HOOK_SECRET, &r.body);
                let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
                let expected = format!("sha256={hex}");
                assert!(
                    trent_crypto::constant_time_eq(expected.as_bytes(), r.signature.as_bytes()),
                    "bad signature {}",
                    r.signature
                );
                let v: Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(v["id"], r.id.as_str());
                v
            })
            .collect()
    }

    /// Waits (polling, bounded) until `n` events arrived.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..600 {
            if self.received.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let events = self.events();
        assert!(events.len() >= n, "{} of {n} events arrived", events.len());
        events
    }
}

fn detail_ops(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            let d = &e["detail"];
            match e["detail-type"].as_str().unwrap() {
                "Parameter Store Change" => (
                    d["operation"].as_str().unwrap().to_string(),
                    d["name"].as_str().unwrap().to_string(),
                ),
                _ => (
                    d["policy-type"].as_str().unwrap().to_string(),
                    d["parameter-name"].as_str().unwrap().to_string(),
                ),
            }
        })
        .collect()
}

async fn start_with_targets(dir: &std::path::Path, targets: Targets) -> TestServer {
    let targets = Arc::new(targets);
    TestServer::start_with(dir, move |o| o.event_targets = targets).await
}

fn policy_json(expires_ms: i64, extra: &str) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(expires_ms / 1000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    format!(
        r#"[{{"Type":"Expiration","Version":"1.0","Attributes":{{"Timestamp":"{at}"}}}}{extra}]"#
    )
}

async fn policies_of(ssm: &aws_sdk_ssm::Client, name: &str) -> Vec<(String, String)> {
    let out = ssm
        .describe_parameters()
        .parameter_filters(
            ParameterStringFilter::builder()
                .key("Name")
                .values(name)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    out.parameters()
        .first()
        .map(|p| {
            p.policies()
                .iter()
                .map(|p| {
                    (
                        p.policy_type().unwrap().to_string(),
                        p.policy_status().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ssm_policies_validation_and_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    use trent_store::clock::Clock as _;
    let now = server.clock.now_ms();
    let good = policy_json(now + 86_400_000, "");

    let put = |name: &str, policies: &str, tier: Option<ParameterTier>| {
        ssm.put_parameter()
            .name(name)
            .value("v")
            .r#type(ParameterType::String)
            .policies(policies)
            .set_tier(tier)
            .send()
    };
    // Standard refuses policies, whether asked for or by default.
    for tier in [None, Some(ParameterTier::Standard)] {
        let err = put("/pol/std", &good, tier).await.unwrap_err();
        assert_eq!(code(&err), "ValidationException", "{err:?}");
        assert!(message(&err).contains("advanced-parameter tier"));
    }
    // Intelligent-Tiering picks Advanced because of the policies.
    let out = put("/pol/it", &good, Some(ParameterTier::IntelligentTiering))
        .await
        .unwrap();
    assert_eq!(out.tier(), Some(&ParameterTier::Advanced));
    assert_eq!(
        policies_of(&ssm, "/pol/it").await,
        [("Expiration".to_string(), "Pending".to_string())]
    );

    let cases: Vec<(String, &str)> = vec![
        (
            r#"[{"Type":"Rotate","Version":"1.0","Attributes":{}}]"#.into(),
            "InvalidPolicyTypeException",
        ),
        (
            r#"[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"soon"}}]"#.into(),
            "InvalidPolicyAttributeException",
        ),
        (
            policy_json(now - 1000, ""),
            "InvalidPolicyAttributeException",
        ),
        (
            policy_json(
                now + 86_400_000,
                r#",{"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":"2","Unit":"Weeks"}}"#,
            ),
            "InvalidPolicyAttributeException",
        ),
        (
            format!("[{0},{0}]", &good[1..good.len() - 1]),
            "IncompatiblePolicyException",
        ),
        (
            r#"[{"Type":"ExpirationNotification","Version":"1.0","Attributes":{"Before":"1","Unit":"Days"}}]"#.into(),
            "IncompatiblePolicyException",
        ),
        (
            format!(
                "[{}]",
                [&good[1..good.len() - 1]; 11].join(",")
            ),
            "PoliciesLimitExceededException",
        ),
        ("not json".into(), "ValidationException"),
    ];
    for (policies, expected) in cases {
        let err = put("/pol/bad", &policies, Some(ParameterTier::Advanced))
            .await
            .unwrap_err();
        assert_eq!(code(&err), expected, "{policies}: {err:?}");
    }
    assert!(ssm.get_parameter().name("/pol/bad").send().await.is_err());

    // An overwrite without Policies keeps them; `[]` clears them; history shows them.
    ssm.put_parameter()
        .name("/pol/it")
        .value("v2")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    assert_eq!(policies_of(&ssm, "/pol/it").await.len(), 1);
    ssm.put_parameter()
        .name("/pol/it")
        .value("v3")
        .overwrite(true)
        .policies("[]")
        .send()
        .await
        .unwrap();
    assert!(policies_of(&ssm, "/pol/it").await.is_empty());
    let history = ssm
        .get_parameter_history()
        .name("/pol/it")
        .send()
        .await
        .unwrap();
    let counts: Vec<usize> = history
        .parameters()
        .iter()
        .map(|h| h.policies().len())
        .collect();
    assert_eq!(counts, [1, 1, 0]);
    let text = history.parameters()[0].policies()[0].policy_text().unwrap();
    let v: Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["Type"], "Expiration");
    assert_eq!(v["Version"], "1.0");
    server.stop().await;
}

#[tokio::test]
async fn ssm_policies_expire_and_notify_on_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start().await;
    let server = start_with_targets(dir.path(), hook.targets()).await;
    let ssm = server.ssm();
    use trent_store::clock::Clock as _;
    let now = server.clock.now_ms();
    const HOUR: i64 = 3_600_000;
    let policies = policy_json(
        now + 48 * HOUR,
        r#",{"Type":"ExpirationNotification","Version":"1.0","Attributes":{"Before":"1","Unit":"Days"}},
            {"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":"2","Unit":"Hours"}}"#,
    );
    ssm.put_parameter()
        .name("/exp/token")
        .value("t0k3n-value")
        .r#type(ParameterType::SecureString)
        .tier(ParameterTier::Advanced)
        .policies(policies)
        .send()
        .await
        .unwrap();
    let tick = || trent_server::scheduler::tick(&server.state);
    tick().await;
    assert_eq!(
        policies_of(&ssm, "/exp/token").await,
        [
            ("Expiration".into(), "Pending".into()),
            ("ExpirationNotification".into(), "Pending".into()),
            ("NoChangeNotification".into(), "Pending".into()),
        ]
    );
    // One hour on, a new version re-arms NoChangeNotification: due two hours after it.
    server.clock.advance_ms(HOUR);
    ssm.put_parameter()
        .name("/exp/token")
        .value("t0k3n-value-2")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    server.clock.advance_ms(HOUR + HOUR / 2);
    tick().await;
    assert_eq!(
        policies_of(&ssm, "/exp/token").await[2],
        ("NoChangeNotification".into(), "Pending".into())
    );
    server.clock.advance_ms(HOUR);
    tick().await;
    assert_eq!(
        policies_of(&ssm, "/exp/token").await[2],
        ("NoChangeNotification".into(), "Finished".into())
    );
    // A day before expiry: the notification, once.
    server.clock.advance_ms(22 * HOUR);
    tick().await;
    tick().await;
    assert_eq!(
        policies_of(&ssm, "/exp/token").await[1],
        ("ExpirationNotification".into(), "Finished".into())
    );
    assert!(ssm.get_parameter().name("/exp/token").send().await.is_ok());
    // At expiry the parameter is deleted.
    server.clock.advance_ms(24 * HOUR);
    tick().await;
    let err = ssm
        .get_parameter()
        .name("/exp/token")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterNotFound");

    let events = hook.wait_for(6).await;
    assert_eq!(
        detail_ops(&events),
        [
            ("Create".to_string(), "/exp/token".to_string()),
            ("Update".into(), "/exp/token".into()),
            ("NoChangeNotification".into(), "/exp/token".into()),
            ("ExpirationNotification".into(), "/exp/token".into()),
            ("Expiration".into(), "/exp/token".into()),
            ("Delete".into(), "/exp/token".into()),
        ]
    );
    let action = &events[4];
    assert_eq!(action["detail-type"], "Parameter Store Policy Action");
    assert_eq!(action["source"], "aws.ssm");
    assert_eq!(action["detail"]["parameter-type"], "SecureString");
    assert_eq!(action["detail"]["action-status"], "Finished");
    assert_eq!(
        action["resources"][0],
        "arn:aws:ssm:us-east-1:000000000000:parameter/exp/token"
    );
    let content: Value =
        serde_json::from_str(action["detail"]["policy-content"].as_str().unwrap()).unwrap();
    assert_eq!(content["Type"], "Expiration");
    for e in &events {
        assert!(!e.to_string().contains("t0k3n"), "a value leaked: {e}");
    }
    // Nothing more arrives: each notification fired once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.events().len(), 6);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssm_events_survive_restart_with_webhook_down() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start().await;
    hook.up.store(false, Ordering::SeqCst);
    let server = start_with_targets(dir.path(), hook.targets()).await;
    let ssm = server.ssm();
    ssm.put_parameter()
        .name("/ev/a")
        .value("1")
        .r#type(ParameterType::String)
        .description("first")
        .send()
        .await
        .unwrap();
    ssm.put_parameter()
        .name("/ev/a")
        .value("2")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    ssm.label_parameter_version()
        .name("/ev/a")
        .parameter_version(1)
        .labels("stable")
        .send()
        .await
        .unwrap();
    ssm.put_parameter()
        .name("/ev/secret")
        .value("sup3r-s3cret-value")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    ssm.delete_parameters()
        .names("/ev/secret")
        .names("/ev/none")
        .send()
        .await
        .unwrap();
    // A failed write makes no event.
    assert!(
        ssm.put_parameter()
            .name("/ev/a")
            .value("3")
            .send()
            .await
            .is_err()
    );
    // The webhook is down: delivery is attempted and retried, nothing is taken.
    for _ in 0..200 {
        if hook.attempts.load(Ordering::SeqCst) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(hook.attempts.load(Ordering::SeqCst) >= 2);
    assert!(hook.events().is_empty());
    server.stop().await;

    // Restart with the webhook back: every event arrives, in order, signed.
    hook.up.store(true, Ordering::SeqCst);
    let server = start_with_targets(dir.path(), hook.targets()).await;
    let events = hook.wait_for(5).await;
    assert_eq!(
        detail_ops(&events),
        [
            ("Create".to_string(), "/ev/a".to_string()),
            ("Update".into(), "/ev/a".into()),
            ("LabelParameterVersion".into(), "/ev/a".into()),
            ("Create".into(), "/ev/secret".into()),
            ("Delete".into(), "/ev/secret".into()),
        ]
    );
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5);
    let first = &events[0];
    assert_eq!(first["version"], "0");
    assert_eq!(first["account"], "000000000000");
    assert_eq!(first["region"], "us-east-1");
    assert_eq!(first["detail"]["type"], "String");
    assert_eq!(first["detail"]["description"], "first");
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    for e in &events {
        assert!(!e.to_string().contains("sup3r"), "a value leaked: {e}");
    }
    // The outbox is empty once everything is delivered.
    for _ in 0..100 {
        if server
            .state
            .store
            .pending_events(10)
            .await
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        server
            .state
            .store
            .pending_events(10)
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hook.events().len(), 5, "an event was delivered twice");
    server.stop().await;
}

/// A NATS subscriber over the text protocol.
struct Subscriber {
    stream: BufReader<tokio::net::TcpStream>,
}

impl Subscriber {
    async fn connect(address: &str, subject: &str) -> Subscriber {
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let mut s = Subscriber {
            stream: BufReader::new(stream),
        };
        assert!(s.line().await.starts_with("INFO "));
        s.stream
            .get_mut()
            .write_all(
                format!("CONNECT {{\"verbose\":false}}\r\nSUB {subject} 1\r\nPING\r\n").as_bytes(),
            )
            .await
            .unwrap();
        while s.line().await != "PONG" {}
        s
    }

    async fn line(&mut self) -> String {
        let mut l = String::new();
        self.stream.read_line(&mut l).await.unwrap();
        l.trim_end().to_string()
    }

    async fn next(&mut self) -> Value {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(20), self.line())
                .await
                .expect("no NATS message");
            if line == "PING" {
                self.stream.get_mut().write_all(b"PONG\r\n").await.unwrap();
                continue;
            }
            if let Some(rest) = line.strip_prefix("MSG ") {
                let len: usize = rest.rsplit(' ').next().unwrap().parse().unwrap();
                let mut payload = vec![0; len + 2];
                self.stream.read_exact(&mut payload).await.unwrap();
                payload.truncate(len);
                return serde_json::from_slice(&payload).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn ssm_events_to_nats() {
    let Some(url) = std::env::var("TRENT_TEST_NATS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipping ssm_events_to_nats: TRENT_TEST_NATS_URL is not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let subject = format!(
        "trent.test.{}",
        dir.path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace('.', "-")
    );
    let nats = Nats::new(&url, &subject).unwrap();
    let mut sub = Subscriber::connect(&nats.address, &subject).await;
    let server = start_with_targets(
        dir.path(),
        Targets {
            webhook: None,
            nats: Some(nats),
        },
    )
    .await;
    let ssm = server.ssm();
    ssm.put_parameter()
        .name("/nats/p")
        .value("v")
        .r#type(ParameterType::StringList)
        .send()
        .await
        .unwrap();
    ssm.delete_parameter().name("/nats/p").send().await.unwrap();
    let created = sub.next().await;
    assert_eq!(created["detail-type"], "Parameter Store Change");
    assert_eq!(created["detail"]["operation"], "Create");
    assert_eq!(created["detail"]["type"], "StringList");
    let deleted = sub.next().await;
    assert_eq!(deleted["detail"]["operation"], "Delete");
    assert_eq!(deleted["resources"][0], created["resources"][0]);
    server.stop().await;
}

#[tokio::test]
async fn ssm_by_path_parameter_filters() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    let kms = server.client();
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    for i in 0..12 {
        let (t, k) = match i % 3 {
            0 => (ParameterType::String, None),
            1 => (ParameterType::StringList, None),
            _ => (ParameterType::SecureString, Some(key_id.clone())),
        };
        ssm.put_parameter()
            .name(format!("/f/p{i:02}"))
            .value(format!("v{i}"))
            .r#type(t)
            .set_key_id(k)
            .send()
            .await
            .unwrap();
    }
    ssm.put_parameter()
        .name("/f/p00")
        .value("v0-2")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    ssm.label_parameter_version()
        .name("/f/p00")
        .parameter_version(1)
        .labels("old")
        .send()
        .await
        .unwrap();
    ssm.label_parameter_version()
        .name("/f/p03")
        .labels("old")
        .send()
        .await
        .unwrap();
    let filter = |key: &str, option: Option<&str>, values: &[&str]| {
        ParameterStringFilter::builder()
            .key(key)
            .set_option(option.map(str::to_string))
            .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
            .build()
            .unwrap()
    };
    let list = |f: ParameterStringFilter, page: i32| {
        let ssm = ssm.clone();
        async move {
            let mut names = Vec::new();
            let mut pages = ssm
                .get_parameters_by_path()
                .path("/f")
                .parameter_filters(f)
                .max_results(page)
                .with_decryption(true)
                .into_paginator()
                .send();
            while let Some(p) = pages.next().await {
                for p in p.unwrap().parameters() {
                    names.push((
                        p.name().unwrap().to_string(),
                        p.value().unwrap().to_string(),
                    ));
                }
            }
            names
        }
    };
    let secure = list(filter("Type", None, &["SecureString"]), 2).await;
    assert_eq!(
        secure.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["/f/p02", "/f/p05", "/f/p08", "/f/p11"]
    );
    assert_eq!(secure[0].1, "v2");
    assert_eq!(list(filter("KeyId", None, &[&key_id]), 3).await.len(), 4);
    assert_eq!(
        list(filter("KeyId", Some("BeginsWith"), &[&key_id[..8]]), 10)
            .await
            .len(),
        4
    );
    assert_eq!(
        list(filter("Type", Some("BeginsWith"), &["String"]), 10)
            .await
            .len(),
        8
    );
    // Label: the labelled version of each parameter that has the label.
    assert_eq!(
        list(filter("Label", None, &["old"]), 10).await,
        [
            ("/f/p00".to_string(), "v0".to_string()),
            ("/f/p03".to_string(), "v3".to_string())
        ]
    );
    for (f, expected) in [
        (filter("Name", None, &["/f/p00"]), "InvalidFilterKey"),
        (filter("Tier", None, &["Standard"]), "InvalidFilterKey"),
        (filter("tag:team", None, &["x"]), "InvalidFilterKey"),
        (filter("DataType", None, &["text"]), "InvalidFilterKey"),
        (filter("Path", None, &["/f"]), "InvalidFilterKey"),
        (
            filter("Label", Some("BeginsWith"), &["o"]),
            "InvalidFilterOption",
        ),
        (
            filter("Type", Some("Contains"), &["S"]),
            "InvalidFilterOption",
        ),
        (filter("Type", None, &["Text"]), "InvalidFilterValue"),
    ] {
        let err = ssm
            .get_parameters_by_path()
            .path("/f")
            .parameter_filters(f)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), expected, "{err:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn ssm_data_types() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    let put = |name: &str, value: &str, t: ParameterType, dt: &str| {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(t)
            .data_type(dt)
            .send()
    };
    put(
        "/dt/ami",
        "ami-0123456789abcdef0",
        ParameterType::String,
        "aws:ec2:image",
    )
    .await
    .unwrap();
    let got = ssm.get_parameter().name("/dt/ami").send().await.unwrap();
    assert_eq!(got.parameter().unwrap().data_type(), Some("aws:ec2:image"));
    put(
        "/dt/ami8",
        "ami-0123abcd",
        ParameterType::String,
        "aws:ec2:image",
    )
    .await
    .unwrap();
    for (value, t, dt) in [
        ("ami-xyz", ParameterType::String, "aws:ec2:image"),
        ("ami-0123ABCD", ParameterType::String, "aws:ec2:image"),
        ("ami-0123abcd", ParameterType::SecureString, "aws:ec2:image"),
        ("ami-0123abcd", ParameterType::StringList, "aws:ec2:image"),
        ("v", ParameterType::String, "Text"),
        ("v", ParameterType::String, "aws:ec2:volume"),
        ("us-east-1", ParameterType::String, "aws:region"),
    ] {
        let err = put("/dt/bad", value, t, dt).await.unwrap_err();
        assert_eq!(code(&err), "ValidationException", "{dt} {value}: {err:?}");
    }
    assert!(ssm.get_parameter().name("/dt/bad").send().await.is_err());
    let described = ssm
        .describe_parameters()
        .parameter_filters(
            ParameterStringFilter::builder()
                .key("DataType")
                .values("aws:ec2:image")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(described.parameters().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn ssm_parameter_limits_per_tier() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |o| {
        o.ssm.standard_limit = 3;
        o.ssm.advanced_limit = 2;
    })
    .await;
    let ssm = server.ssm();
    let put = |name: String, tier: Option<ParameterTier>| {
        ssm.put_parameter()
            .name(name)
            .value("v")
            .r#type(ParameterType::String)
            .set_tier(tier)
            .send()
    };
    for i in 0..3 {
        put(format!("/q/s{i}"), None).await.unwrap();
    }
    let err = put("/q/s3".into(), None).await.unwrap_err();
    assert_eq!(code(&err), "ParameterLimitExceeded");
    // Overwrites are not new parameters.
    ssm.put_parameter()
        .name("/q/s0")
        .value("w")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    // Intelligent-Tiering creates Advanced parameters once Standard is full.
    let out = put("/q/it".into(), Some(ParameterTier::IntelligentTiering))
        .await
        .unwrap();
    assert_eq!(out.tier(), Some(&ParameterTier::Advanced));
    put("/q/a1".into(), Some(ParameterTier::Advanced))
        .await
        .unwrap();
    let err = put("/q/a2".into(), Some(ParameterTier::Advanced))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterLimitExceeded");
    // Upgrading a Standard parameter needs room in Advanced.
    let err = ssm
        .put_parameter()
        .name("/q/s1")
        .value("w")
        .overwrite(true)
        .tier(ParameterTier::Advanced)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterLimitExceeded");
    // Deleting frees room.
    ssm.delete_parameter().name("/q/s2").send().await.unwrap();
    put("/q/s3".into(), None).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn ssm_secrets_manager_references() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    let name = "/aws/reference/secretsmanager/prod/db";
    let err = ssm.get_parameter().name(name).send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    assert!(message(&err).contains("WithDecryption"));
    let err = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterNotFound");
    let got = ssm
        .get_parameters()
        .names(name)
        .names(format!("{name}:AWSPREVIOUS"))
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert!(got.parameters().is_empty());
    assert_eq!(got.invalid_parameters().len(), 2);
    let err = ssm.get_parameters().names(name).send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssm_hierarchy_of_3000_through_the_sdk_paginator() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    let names = put_hierarchy(&ssm, "/big").await;
    let mut pages = ssm
        .get_parameters_by_path()
        .path("/big")
        .recursive(true)
        .into_paginator()
        .send();
    let mut seen = Vec::new();
    let mut count = 0;
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        assert!(page.parameters().len() <= 10);
        count += 1;
        seen.extend(
            page.parameters()
                .iter()
                .map(|p| p.name().unwrap().to_string()),
        );
    }
    assert_eq!(count, 300);
    let mut expected: Vec<String> = names.into_iter().collect();
    expected.sort();
    assert_eq!(seen, expected);
    // One level: only the direct children.
    let mut pages = ssm
        .get_parameters_by_path()
        .path("/big/svc7")
        .into_paginator()
        .send();
    let mut one = 0;
    while let Some(page) = pages.next().await {
        for p in page.unwrap().parameters() {
            assert!(!p.name().unwrap().contains("/deep/"));
            one += 1;
        }
    }
    assert_eq!(one, 100);
    server.stop().await;
}

/// 3,000 parameters: /<root>/svc<0-9>/p<0-99> and /<root>/svc<0-9>/deep/<0-9>/p<0-19>.
pub async fn put_hierarchy(ssm: &aws_sdk_ssm::Client, root: &str) -> HashSet<String> {
    let mut names = Vec::new();
    for svc in 0..10 {
        for n in 0..100 {
            names.push(format!("{root}/svc{svc}/p{n:02}"));
        }
        for d in 0..10 {
            for n in 0..20 {
                names.push(format!("{root}/svc{svc}/deep/{d}/p{n:02}"));
            }
        }
    }
    assert_eq!(names.len(), 3000);
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in names.chunks(375) {
        let ssm = ssm.clone();
        let chunk = chunk.to_vec();
        tasks.spawn(async move {
            for name in chunk {
                ssm.put_parameter()
                    .name(&name)
                    .value(&name)
                    .r#type(ParameterType::String)
                    .send()
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    names.into_iter().collect()
}
