//! Request quotas: a request over its account's quota gets the service's throttling error, in
//! the service's shape, before the operation runs; it is still audited; the SDK's standard retry
//! gets through; another account is not affected.
//!
//! The deterministic cases use buckets that hold a few requests and refill at 0.01 a second, so
//! the count of requests let through does not depend on how fast the test runs.

use http_body_util::BodyExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use trent_server::quota::{Quotas, Rate};

use crate::harness::{TestServer, code, message};

const KMS_THROTTLED: &str =
    "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.";

/// `burst` requests, then (practically) none.
fn few(burst: f64) -> Option<Rate> {
    Some(Rate {
        per_second: 0.01,
        burst,
    })
}

async fn start(quotas: &[(&str, Option<Rate>)]) -> (TempDir, TestServer) {
    let dir = TempDir::new().unwrap();
    let mut q = Quotas::unlimited();
    for (pool, rate) in quotas {
        q.set(pool, *rate).unwrap();
    }
    let server = TestServer::start_with(dir.path(), move |o| o.quotas = q).await;
    (dir, server)
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// One signed request: JSON 1.1 with `target`, or (without one) a Query-protocol form.
async fn raw(
    server: &TestServer,
    (access_key_id, secret): (&str, &str),
    service: &str,
    target: Option<&str>,
    body: &[u8],
) -> Answer {
    let headers: &[(&str, &str)] = match target {
        Some(t) => &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", t),
        ],
        None => &[("content-type", "application/x-www-form-urlencoded")],
    };
    let req = server.signed_post((access_key_id, secret), service, headers, body);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn root(server: &TestServer) -> (&str, &str) {
    (&server.access_key_id, &server.secret_access_key)
}

async fn kms(server: &TestServer, keys: (&str, &str), op: &str, body: &Value) -> Answer {
    raw(
        server,
        keys,
        "kms",
        Some(&format!("TrentService.{op}")),
        body.to_string().as_bytes(),
    )
    .await
}

fn assert_kms_throttled(a: &Answer) {
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(
        a.json(),
        json!({"__type": "ThrottlingException", "message": KMS_THROTTLED})
    );
    assert_eq!(a.headers["x-amzn-errortype"], "ThrottlingException");
}

/// The audit records of the requests answered with `code`.
async fn audited_errors(server: &TestServer, code: &str) -> Vec<Value> {
    server
        .state
        .store
        .audit_events(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str::<Value>(&e.record).unwrap())
        .filter(|r| r["errorCode"] == code)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_over_the_symmetric_pool_is_throttled_per_account_and_audited() {
    let (_dir, server) = start(&[("kms.symmetric", few(5.0))]).await;
    let key = server.client().create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    let encrypt = json!({"KeyId": key_id, "Plaintext": "aGVsbG8="});

    let mut answers = Vec::new();
    for _ in 0..12 {
        answers.push(kms(&server, root(&server), "Encrypt", &encrypt).await);
    }
    let ok = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(ok, 5, "the burst, then nothing");
    for a in answers.iter().skip(5) {
        assert_kms_throttled(a);
    }
    // GenerateRandom is charged by name to the same pool, which is empty.
    let random = json!({"NumberOfBytes": 16});
    assert_kms_throttled(&kms(&server, root(&server), "GenerateRandom", &random).await);
    // Management operations have pools of their own.
    let describe = json!({"KeyId": key_id});
    assert_eq!(
        kms(&server, root(&server), "DescribeKey", &describe)
            .await
            .status,
        200
    );

    // Another account has its own buckets.
    let b = server
        .state
        .create_account(Some("222233334444"))
        .await
        .unwrap();
    let b_secret = std::str::from_utf8(b.secret_access_key.expose_secret()).unwrap();
    for _ in 0..5 {
        let a = kms(
            &server,
            (&b.access_key_id, b_secret),
            "GenerateRandom",
            &random,
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    assert_kms_throttled(
        &kms(
            &server,
            (&b.access_key_id, b_secret),
            "GenerateRandom",
            &random,
        )
        .await,
    );

    // Every throttled request is in the trail, with the error.
    assert_eq!(server.state.quotas.throttled(), 9);
    let events = audited_errors(&server, "ThrottlingException").await;
    assert_eq!(events.len(), 9);
    assert!(events.iter().all(|e| e["errorMessage"] == KMS_THROTTLED));
    assert_eq!(
        events
            .iter()
            .filter(|e| e["eventName"] == "Encrypt")
            .count(),
        7
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_type_decides_the_pool_and_a_call_counts_once() {
    let (_dir, server) = start(&[("kms.symmetric", few(3.0)), ("kms.rsa", few(2.0))]).await;
    let client = server.client();
    let rsa = client
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Rsa2048)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap();
    let rsa_id = rsa.key_metadata().unwrap().key_id().to_string();
    let sym = client.create_key().send().await.unwrap();
    let sym_id = sym.key_metadata().unwrap().key_id().to_string();

    let sign =
        json!({"KeyId": rsa_id, "Message": "aGVsbG8=", "SigningAlgorithm": "RSASSA_PSS_SHA_256"});
    assert_eq!(kms(&server, root(&server), "Sign", &sign).await.status, 200);
    assert_eq!(kms(&server, root(&server), "Sign", &sign).await.status, 200);
    assert_kms_throttled(&kms(&server, root(&server), "Sign", &sign).await);

    // The RSA pool is empty; the symmetric one is untouched. Decrypt with a KeyId resolves the
    // key twice (the KeyId, then the blob's key) yet counts once: Encrypt, Decrypt and one more
    // Encrypt fit in three.
    let encrypt = json!({"KeyId": sym_id, "Plaintext": "aGVsbG8="});
    let blob = kms(&server, root(&server), "Encrypt", &encrypt).await;
    assert_eq!(blob.status, 200, "{}", blob.body);
    let decrypt = json!({"KeyId": sym_id, "CiphertextBlob": blob.json()["CiphertextBlob"]});
    let plain = kms(&server, root(&server), "Decrypt", &decrypt).await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    assert_eq!(
        kms(&server, root(&server), "Encrypt", &encrypt)
            .await
            .status,
        200
    );
    assert_kms_throttled(&kms(&server, root(&server), "Decrypt", &decrypt).await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sdk_standard_retry_gets_through_throttling() {
    use aws_sdk_kms::config::retry::RetryConfig;
    let (_dir, server) = start(&[("kms.symmetric", Some(Rate::per_second(10.0)))]).await;
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .endpoint_url(&server.endpoint)
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            &server.access_key_id,
            &server.secret_access_key,
            None,
            None,
            "trent-tests",
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(10)
                .with_initial_backoff(std::time::Duration::from_millis(50)),
        )
        .build();
    let client = aws_sdk_kms::Client::from_conf(conf);
    let key_id = client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();

    // 30 Encrypts from 3 concurrent callers against 10 a second (a burst of 10).
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let client = client.clone();
        let key_id = key_id.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                client
                    .encrypt()
                    .key_id(&key_id)
                    .plaintext(aws_sdk_kms::primitives::Blob::new(b"x".to_vec()))
                    .send()
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let throttled = server.state.quotas.throttled();
    assert!(throttled > 0, "some attempts were throttled and retried");
    assert_eq!(
        audited_errors(&server, "ThrottlingException").await.len() as u64,
        throttled
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_answers_throttling_in_xml() {
    let (_dir, server) = start(&[("iam.read", few(2.0))]).await;
    let list = b"Action=ListUsers&Version=2010-05-08";
    for _ in 0..2 {
        let a = raw(&server, root(&server), "iam", None, list).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let a = raw(&server, root(&server), "iam", None, list).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.headers["content-type"], "text/xml");
    assert!(
        a.body.contains(
            "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
        ),
        "{}",
        a.body
    );
    // Writes are another pool.
    let create = b"Action=CreateUser&Version=2010-05-08&UserName=alice";
    assert_eq!(
        raw(&server, root(&server), "iam", None, create)
            .await
            .status,
        200
    );
    assert_eq!(audited_errors(&server, "Throttling").await.len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn parameter_store_reads_share_one_pool() {
    let (_dir, server) = start(&[("ssm.get", few(3.0))]).await;
    let ssm = server.ssm();
    ssm.put_parameter()
        .name("/app/db")
        .value("v")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    ssm.get_parameter().name("/app/db").send().await.unwrap();
    ssm.get_parameters().names("/app/db").send().await.unwrap();
    ssm.get_parameters_by_path()
        .path("/app")
        .send()
        .await
        .unwrap();
    let e = ssm
        .get_parameter()
        .name("/app/db")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ThrottlingException");
    assert_eq!(message(&e), "Rate exceeded");
    // Raw: the exact shape.
    let a = raw(
        &server,
        root(&server),
        "ssm",
        Some("AmazonSSM.GetParametersByPath"),
        br#"{"Path":"/app"}"#,
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        json!({"__type": "ThrottlingException", "message": "Rate exceeded"})
    );
    // Writes have their own pool.
    ssm.delete_parameter().name("/app/db").send().await.unwrap();
    server.stop().await;
}

#[test]
fn a_bad_quota_file_stops_the_start_before_anything_is_created() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("quotas.json");
    std::fs::write(&file, r#"{"kms.symmetric": 100, "kms.symetric": 5}"#).unwrap();
    let data = dir.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .arg("--quotas")
        .arg(&file)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown quota pool 'kms.symetric'"), "{err}");
    assert!(!data.exists(), "no data directory was made");
}
