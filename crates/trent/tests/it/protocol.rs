//! The wire protocol seen raw: exact error shapes and status codes, and no input that makes the
//! server answer 5xx or drop the connection.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::harness::TestServer;

struct Raw {
    client: Client<HttpConnector, Full<Bytes>>,
    host: String,
    endpoint: String,
    access_key_id: String,
    secret: String,
}

struct Answer {
    status: u16,
    body: Value,
    headers: http::HeaderMap,
}

impl Raw {
    fn new(server: &TestServer) -> Raw {
        Raw {
            client: Client::builder(TokioExecutor::new()).build_http(),
            host: server.addr.to_string(),
            endpoint: server.endpoint.clone(),
            access_key_id: server.access_key_id.clone(),
            secret: server.secret_access_key.clone(),
        }
    }

    /// A signed POST with the given target and body, signed at `now` by the server's clock.
    async fn call(&self, server: &TestServer, target: Option<&str>, body: &[u8]) -> Answer {
        let mut headers: Vec<(&str, &str)> = vec![
            ("host", self.host.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
        ];
        if let Some(t) = target {
            headers.push(("x-amz-target", t));
        }
        let signer = trent_sigv4::Signer {
            access_key_id: &self.access_key_id,
            secret_access_key: &self.secret,
            region: "us-east-1",
            service: if target.is_some_and(|t| t.starts_with("AmazonSSM.")) {
                "ssm"
            } else {
                "kms"
            },
            session_token: None,
        };
        use trent_store::clock::Clock as _;
        let now = time::OffsetDateTime::from_unix_timestamp(server.clock.now_ms() / 1000).unwrap();
        let added = signer.sign("POST", "/", "", &headers, body, now);
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.extend(added);
        self.send("POST", "/", &all, body.to_vec()).await
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Answer {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.endpoint));
        for (k, v) in headers {
            if k != "host" {
                req = req.header(k.as_str(), v.as_str());
            }
        }
        let resp = self
            .client
            .request(req.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            headers,
        }
    }
}

fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert_eq!(a.body["__type"], code, "{:?}", a.body);
    assert!(a.body["message"].is_string(), "{:?}", a.body);
    assert!(a.headers.contains_key("x-amzn-requestid"));
}

#[tokio::test]
async fn error_shapes_for_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let raw = Raw::new(&server);
    let t = Some("TrentService.Encrypt");

    let a = raw.send("GET", "/health", &[], vec![]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, json!({"status": "ok", "seal": "file"}));

    assert_error(
        &raw.call(&server, Some("TrentService.NoSuchThing"), b"{}")
            .await,
        400,
        "UnknownOperationException",
    );
    assert_error(
        &raw.call(&server, Some("NotAService.Encrypt"), b"{}").await,
        400,
        "UnknownOperationException",
    );
    assert_error(
        &raw.call(&server, None, b"{}").await,
        400,
        "UnknownOperationException",
    );
    assert_error(
        &raw.call(&server, t, b"{\"KeyId\": ").await,
        400,
        "SerializationException",
    );
    assert_error(
        &raw.call(&server, t, b"[1, 2]").await,
        400,
        "SerializationException",
    );

    let a = raw
        .call(&server, t, br#"{"KeyId": 5, "Plaintext": "AA=="}"#)
        .await;
    assert_error(&a, 400, "SerializationException");
    assert!(a.body["message"].as_str().unwrap().contains("KeyId"));
    let a = raw
        .call(
            &server,
            t,
            br#"{"KeyId": "alias/x", "Plaintext": "%%%not base64 TOPSECRET"}"#,
        )
        .await;
    assert_error(&a, 400, "SerializationException");
    assert!(!a.body["message"].as_str().unwrap().contains("TOPSECRET"));

    let a = raw.call(&server, t, br#"{"Plaintext": "AA=="}"#).await;
    assert_error(&a, 400, "ValidationException");
    assert_eq!(
        a.body["message"],
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    );
    let a = raw
        .call(
            &server,
            Some("TrentService.GenerateRandom"),
            br#"{"NumberOfBytes": 2000}"#,
        )
        .await;
    assert_error(&a, 400, "ValidationException");
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("less than or equal to 1024")
    );
    let a = raw
        .call(
            &server,
            Some("TrentService.CreateKey"),
            br#"{"KeySpec": "AES_999"}"#,
        )
        .await;
    assert_error(&a, 400, "ValidationException");
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("enum value set")
    );
    let a = raw
        .call(
            &server,
            Some("TrentService.DescribeKey"),
            br#"{"KeyId": "no-such-thing"}"#,
        )
        .await;
    assert_error(&a, 400, "NotFoundException");
    let a = raw
        .call(
            &server,
            Some("TrentService.DescribeKey"),
            br#"{"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}"#,
        )
        .await;
    assert_error(&a, 400, "NotFoundException");
    assert_eq!(
        a.body["message"],
        "Key 'arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab' does not exist"
    );

    // DryRun of a call that would succeed.
    let key = raw
        .call(&server, Some("TrentService.CreateKey"), b"{}")
        .await;
    let key_id = key.body["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let a = raw
        .call(
            &server,
            t,
            json!({"KeyId": key_id, "Plaintext": "AA==", "DryRun": true})
                .to_string()
                .as_bytes(),
        )
        .await;
    assert_error(&a, 412, "DryRunOperationException");

    // Too large a body.
    let big = vec![b' '; 2 * 1024 * 1024];
    let a = raw.call(&server, t, &big).await;
    assert_error(&a, 413, "RequestEntityTooLargeException");
    server.stop().await;
}

#[tokio::test]
async fn authentication_errors_on_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let raw = Raw::new(&server);
    let base = vec![
        (
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ),
        (
            "x-amz-target".to_string(),
            "TrentService.ListKeys".to_string(),
        ),
    ];
    let a = raw.send("POST", "/", &base, b"{}".to_vec()).await;
    assert_error(&a, 400, "MissingAuthenticationTokenException");

    let mut h = base.clone();
    h.push((
        "authorization".to_string(),
        "AWS4-HMAC-SHA256 Credential=AKIA/20240101".to_string(),
    ));
    h.push(("x-amz-date".to_string(), "20240101T000000Z".to_string()));
    let a = raw.send("POST", "/", &h, b"{}".to_vec()).await;
    assert_error(&a, 400, "IncompleteSignatureException");

    // A signature made for another service.
    use trent_store::clock::Clock as _;
    let now = time::OffsetDateTime::from_unix_timestamp(server.clock.now_ms() / 1000).unwrap();
    let host = server.addr.to_string();
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "TrentService.ListKeys"),
    ];
    let signer = trent_sigv4::Signer {
        access_key_id: &server.access_key_id,
        secret_access_key: &server.secret_access_key,
        region: "us-east-1",
        service: "s3",
        session_token: None,
    };
    let mut h: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    h.extend(signer.sign("POST", "/", "", &headers, b"{}", now));
    let a = raw.send("POST", "/", &h, b"{}".to_vec()).await;
    assert_error(&a, 400, "InvalidSignatureException");

    // A body changed after signing.
    let signer = trent_sigv4::Signer {
        service: "kms",
        ..signer
    };
    let mut h: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    h.extend(signer.sign("POST", "/", "", &headers, b"{}", now));
    let a = raw.send("POST", "/", &h, br#"{"Limit":1}"#.to_vec()).await;
    assert_error(&a, 400, "InvalidSignatureException");
    let a = raw.send("POST", "/", &h, b"{}".to_vec()).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    server.stop().await;
}

/// A tiny deterministic generator, so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

#[tokio::test]
async fn no_input_makes_a_server_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let raw = Raw::new(&server);
    let key = raw
        .call(&server, Some("TrentService.CreateKey"), b"{}")
        .await;
    let key_id = key.body["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = raw
        .call(
            &server,
            Some("TrentService.Encrypt"),
            json!({"KeyId": key_id, "Plaintext": "AAAA"})
                .to_string()
                .as_bytes(),
        )
        .await
        .body["CiphertextBlob"]
        .clone();

    let operations = [
        "CancelKeyDeletion",
        "CreateAlias",
        "CreateKey",
        "Decrypt",
        "DeleteAlias",
        "DescribeKey",
        "DisableKey",
        "EnableKey",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateRandom",
        "GetKeyPolicy",
        "ListAliases",
        "ListKeyPolicies",
        "ListKeys",
        "ListResourceTags",
        "PutKeyPolicy",
        "ReEncrypt",
        "ScheduleKeyDeletion",
        "TagResource",
        "UntagResource",
        "UpdateAlias",
        "UpdateKeyDescription",
    ];
    let members = [
        "KeyId",
        "Plaintext",
        "CiphertextBlob",
        "EncryptionContext",
        "NumberOfBytes",
        "KeySpec",
        "Limit",
        "Marker",
        "AliasName",
        "TargetKeyId",
        "Tags",
        "TagKeys",
        "Policy",
        "PolicyName",
        "Description",
        "PendingWindowInDays",
        "DestinationKeyId",
        "GrantTokens",
        "DryRun",
        "KeyUsage",
        "Origin",
        "EncryptionAlgorithm",
        "SourceKeyId",
        "ResourceOwners",
    ];
    let values = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(1_000_000_000_000i64),
        json!(1.5),
        json!(""),
        json!("x"),
        json!("alias/"),
        json!("alias/aws/x"),
        json!(key_id),
        json!(blob),
        json!("AAAA"),
        json!("!!"),
        json!("\u{0000}\u{ffff}"),
        json!([]),
        json!(vec!["a"; 11]),
        json!({}),
        json!({"": ""}),
        json!({"a": 1}),
        json!([{"TagKey": "k"}]),
        json!([{"TagKey": "k", "TagValue": "v"}]),
        json!("x".repeat(9000)),
        json!("SYMMETRIC_DEFAULT"),
        json!("AES_256"),
        json!(["SELF"]),
    ];
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for round in 0..1200 {
        let op = rng.pick(&operations);
        let mut body = serde_json::Map::new();
        for _ in 0..(rng.next() % 5) {
            body.insert(rng.pick(&members).to_string(), rng.pick(&values).clone());
        }
        let text = Value::Object(body).to_string();
        let a = raw
            .call(
                &server,
                Some(&format!("TrentService.{op}")),
                text.as_bytes(),
            )
            .await;
        assert!(
            a.status < 500,
            "round {round}: {op} {text} -> {} {:?}",
            a.status,
            a.body
        );
        if a.status != 200 {
            assert!(
                a.body["__type"].is_string(),
                "round {round}: {op} {text} -> {:?}",
                a.body
            );
        }
    }
    // Raw byte garbage as bodies.
    for round in 0..200 {
        let len = (rng.next() % 64) as usize;
        let body: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let op = rng.pick(&operations);
        let a = raw
            .call(&server, Some(&format!("TrentService.{op}")), &body)
            .await;
        assert!(
            a.status < 500,
            "garbage round {round}: {op} -> {}",
            a.status
        );
    }
    server.stop().await;
}

/// Parameter Store operations, given random members and values, never answer 5xx and always
/// answer errors in the AWS shape.
#[tokio::test]
async fn ssm_random_bodies_never_answer_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let raw = Raw::new(&server);
    // Some state to hit: a String with two versions and a label, a SecureString.
    for body in [
        r#"{"Name":"/p/a","Value":"1","Type":"String"}"#,
        r#"{"Name":"/p/a","Value":"2","Overwrite":true}"#,
        r#"{"Name":"/p/s","Value":"s","Type":"SecureString"}"#,
    ] {
        let a = raw
            .call(&server, Some("AmazonSSM.PutParameter"), body.as_bytes())
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let a = raw
        .call(
            &server,
            Some("AmazonSSM.LabelParameterVersion"),
            br#"{"Name":"/p/a","ParameterVersion":1,"Labels":["l1"]}"#,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = raw
        .call(&server, Some("AmazonSSM.NoSuchThing"), b"{}")
        .await;
    assert_eq!(a.body["__type"], "UnknownOperationException");

    let operations = [
        "PutParameter",
        "GetParameter",
        "GetParameters",
        "GetParametersByPath",
        "DeleteParameter",
        "DeleteParameters",
        "GetParameterHistory",
        "LabelParameterVersion",
        "UnlabelParameterVersion",
        "AddTagsToResource",
        "RemoveTagsFromResource",
        "ListTagsForResource",
        "DescribeParameters",
    ];
    let members = [
        "Name",
        "Names",
        "Value",
        "Type",
        "KeyId",
        "Overwrite",
        "AllowedPattern",
        "Tags",
        "Tier",
        "Policies",
        "DataType",
        "Description",
        "WithDecryption",
        "Path",
        "Recursive",
        "MaxResults",
        "NextToken",
        "ParameterVersion",
        "Labels",
        "ParameterFilters",
        "ResourceType",
        "ResourceId",
        "TagKeys",
        "Filters",
        "Shared",
    ];
    let values = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(1_000_000_000_000i64),
        json!(""),
        json!("/p/a"),
        json!("/p/a:1"),
        json!("/p/a:l1"),
        json!("/p/s"),
        json!("/"),
        json!("/p"),
        json!("aws"),
        json!("String"),
        json!("SecureString"),
        json!("Advanced"),
        json!("alias/aws/ssm"),
        json!("alias/none"),
        json!("("),
        json!("x".repeat(9000)),
        json!("\u{0000}\u{ffff}"),
        json!("AAAA"),
        json!([]),
        json!(["/p/a", "/p/s:1", "nope"]),
        json!(vec!["a"; 11]),
        json!([{"Key": "k", "Value": "v"}]),
        json!([{"Key": "k"}]),
        json!({}),
        json!(["l1", "1x"]),
        json!("Parameter"),
        json!("Document"),
        json!([{"Key": "Name", "Values": ["/p/a"]}]),
        json!([{"Key": "Path", "Option": "Recursive", "Values": ["/p"]}]),
        json!([{"Key": "tag:x"}]),
        json!([{"Key": "Label", "Option": "Equals", "Values": ["l1"]}]),
        json!([{"Key": "Type", "Values": ["Nope"]}]),
    ];
    let mut rng = Rng(0x5eed_55aa_1234_0001);
    for round in 0..800 {
        let op = rng.pick(&operations);
        let mut body = serde_json::Map::new();
        for _ in 0..(rng.next() % 5) {
            body.insert(rng.pick(&members).to_string(), rng.pick(&values).clone());
        }
        let text = Value::Object(body).to_string();
        let a = raw
            .call(&server, Some(&format!("AmazonSSM.{op}")), text.as_bytes())
            .await;
        assert!(
            a.status < 500,
            "round {round}: {op} {text} -> {} {:?}",
            a.status,
            a.body
        );
        if a.status != 200 {
            assert!(a.body["__type"].is_string(), "round {round}: {op} {text}");
        }
    }
    for round in 0..200 {
        let len = (rng.next() % 64) as usize;
        let body: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let op = rng.pick(&operations);
        let a = raw
            .call(&server, Some(&format!("AmazonSSM.{op}")), &body)
            .await;
        assert!(
            a.status < 500,
            "garbage round {round}: {op} -> {}",
            a.status
        );
    }
    server.stop().await;
}
