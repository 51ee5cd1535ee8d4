//! The audit trail end to end: operations through the aws CLI, found again with
//! `aws cloudtrail lookup-events`; denied and unauthenticated calls recorded; no secret byte in
//! any record or in the server's log; `trent audit verify` on a real data directory, before and
//! after tampering with the database.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use serde_json::Value;

use crate::cli::{Client, blob, dirs, find_aws, text};
use crate::harness::TestServer;

/// Every record of the account, newest first, through `aws cloudtrail lookup-events`.
async fn lookup(client: &Client, filter: &str) -> Vec<Value> {
    let out = client
        .ok(&format!("cloudtrail lookup-events {filter}"))
        .await;
    out["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let record: Value =
                serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap();
            assert_eq!(record["eventID"], e["EventId"]);
            assert_eq!(record["eventName"], e["EventName"]);
            record
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_are_found_with_lookup_events() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());

    let key = cli.ok("kms create-key --description audited").await;
    let key_arn = text(&key, "/KeyMetadata/Arn").to_owned();
    let key_id = text(&key, "/KeyMetadata/KeyId").to_owned();
    let pt = cli.fileb("pt", b"the audit test plaintext");
    let ct = cli
        .ok(&format!(
            "kms encrypt --key-id {key_id} --plaintext {pt} --encryption-context purpose=audit"
        ))
        .await;
    let ct_file = cli.fileb("ct", &blob(&ct, "CiphertextBlob"));
    cli.ok(&format!(
        "kms decrypt --ciphertext-blob {ct_file} --encryption-context purpose=audit"
    ))
    .await;
    cli.ok("ssm put-parameter --name /audit/p --type String --value v1")
        .await;

    // Encrypt: request parameters as CloudTrail records them, the key as the resource.
    let found = lookup(
        &cli,
        "--lookup-attributes AttributeKey=EventName,AttributeValue=Encrypt",
    )
    .await;
    assert_eq!(found.len(), 1, "{found:?}");
    let e = &found[0];
    assert_eq!(e["eventSource"], "kms.amazonaws.com");
    assert_eq!(e["eventVersion"], "1.11");
    assert_eq!(e["eventType"], "AwsApiCall");
    assert_eq!(e["eventCategory"], "Management");
    assert_eq!(e["managementEvent"], true);
    assert_eq!(e["readOnly"], true);
    assert_eq!(e["awsRegion"], "us-east-1");
    assert_eq!(e["sourceIPAddress"], "127.0.0.1");
    assert!(e["userAgent"].as_str().unwrap().contains("aws-cli"));
    assert_eq!(e["requestParameters"]["keyId"], key_id.as_str());
    assert_eq!(
        e["requestParameters"]["encryptionContext"]["purpose"],
        "audit"
    );
    assert!(e["requestParameters"].get("plaintext").is_none());
    assert_eq!(e["responseElements"], Value::Null);
    assert_eq!(e["resources"][0]["ARN"], key_arn.as_str());
    assert_eq!(e["resources"][0]["type"], "AWS::KMS::Key");
    assert_eq!(e["userIdentity"]["type"], "Root");
    assert_eq!(
        e["userIdentity"]["accessKeyId"],
        server.access_key_id.as_str()
    );
    assert_eq!(e["recipientAccountId"], "000000000000");
    assert!(e.get("errorCode").is_none());

    // Decrypt names no key in its request; the resource is the key the blob resolved to.
    let by_key = lookup(
        &cli,
        &format!("--lookup-attributes AttributeKey=ResourceName,AttributeValue={key_arn}"),
    )
    .await;
    let names: Vec<&str> = by_key
        .iter()
        .map(|e| e["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Decrypt", "Encrypt", "CreateKey"]);
    assert_eq!(
        by_key[2]["responseElements"]["keyMetadata"]["Arn"],
        key_arn.as_str()
    );
    assert_eq!(by_key[2]["readOnly"], false);

    let ssm = lookup(
        &cli,
        "--lookup-attributes AttributeKey=EventSource,AttributeValue=ssm.amazonaws.com",
    )
    .await;
    assert_eq!(ssm.len(), 1);
    assert_eq!(ssm[0]["requestParameters"]["name"], "/audit/p");
    assert!(ssm[0]["requestParameters"].get("value").is_none());
    assert_eq!(ssm[0]["responseElements"]["version"], 1);

    let reads = lookup(
        &cli,
        "--lookup-attributes AttributeKey=ReadOnly,AttributeValue=false",
    )
    .await;
    assert!(reads.iter().all(|e| e["readOnly"] == false));
    assert!(reads.iter().any(|e| e["eventName"] == "PutParameter"));

    // Pages: NextToken walks back through everything, one event at a time.
    let mut token: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let next = token
            .as_ref()
            .map(|t| format!(" --next-token {t}"))
            .unwrap_or_default();
        let page = cli
            .ok(&format!(
                "cloudtrail lookup-events --no-paginate --max-results 2 --lookup-attributes AttributeKey=EventSource,AttributeValue=kms.amazonaws.com{next}"
            ))
            .await;
        let events = page["Events"].as_array().unwrap();
        assert!(events.len() <= 2);
        seen.extend(
            events
                .iter()
                .map(|e| e["EventId"].as_str().unwrap().to_owned()),
        );
        match page["NextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    // A token is only good with the parameters it was issued for.
    let page = cli
        .ok("cloudtrail lookup-events --no-paginate --max-results 1")
        .await;
    let t = page["NextToken"].as_str().unwrap();
    cli.fails(
        &format!("cloudtrail lookup-events --no-paginate --max-results 1 --lookup-attributes AttributeKey=EventName,AttributeValue=Encrypt --next-token {t}"),
        "InvalidNextTokenException",
    )
    .await;
    cli.fails(
        "cloudtrail lookup-events --lookup-attributes AttributeKey=Nope,AttributeValue=x",
        "InvalidLookupAttributesException",
    )
    .await;
    cli.fails(
        "cloudtrail lookup-events --start-time 2030-01-02T00:00:00Z --end-time 2030-01-01T00:00:00Z",
        "InvalidTimeRangeException",
    )
    .await;
    cli.fails(
        "cloudtrail lookup-events --max-results 51",
        "InvalidMaxResultsException",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_and_unauthenticated_calls_are_recorded() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let root = Client::new(&aws, &server, scratch.path());
    let key = root.ok("kms create-key").await;
    let key_arn = text(&key, "/KeyMetadata/Arn").to_owned();
    root.ok("iam create-user --user-name carol").await;
    let ak = root.ok("iam create-access-key --user-name carol").await;
    let carol = Client::with_keys(
        &aws,
        &server,
        scratch.path(),
        text(&ak, "/AccessKey/AccessKeyId"),
        text(&ak, "/AccessKey/SecretAccessKey"),
    );
    let pt = carol.fileb("pt", b"x");
    carol
        .fails(
            &format!("kms encrypt --key-id {key_arn} --plaintext {pt}"),
            "AccessDeniedException",
        )
        .await;
    // Reading the trail is itself authorized: Carol has no policy allowing it.
    carol
        .fails("cloudtrail lookup-events", "AccessDeniedException")
        .await;
    let stranger = Client::with_keys(
        &aws,
        &server,
        scratch.path(),
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    stranger
        .fails("kms list-keys", "UnrecognizedClientException")
        .await;

    let denied = lookup(
        &root,
        "--lookup-attributes AttributeKey=EventName,AttributeValue=Encrypt",
    )
    .await;
    assert_eq!(denied.len(), 1);
    let e = &denied[0];
    assert_eq!(e["errorCode"], "AccessDeniedException");
    assert!(e["errorMessage"].as_str().unwrap().contains("carol"));
    assert_eq!(e["userIdentity"]["type"], "IAMUser");
    assert_eq!(e["userIdentity"]["userName"], "carol");
    assert!(
        e["userIdentity"]["principalId"]
            .as_str()
            .unwrap()
            .starts_with("AIDA")
    );
    assert_eq!(e["resources"][0]["ARN"], key_arn.as_str());
    assert_eq!(e["responseElements"], Value::Null);

    let by_user = lookup(
        &root,
        "--lookup-attributes AttributeKey=Username,AttributeValue=carol",
    )
    .await;
    let names: Vec<&str> = by_user
        .iter()
        .map(|e| e["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["LookupEvents", "Encrypt"]);
    assert_eq!(by_user[0]["eventSource"], "cloudtrail.amazonaws.com");
    assert_eq!(by_user[0]["errorCode"], "AccessDeniedException");

    let unknown = lookup(
        &root,
        "--lookup-attributes AttributeKey=AccessKeyId,AttributeValue=AKIAIOSFODNN7EXAMPLE",
    )
    .await;
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0]["eventName"], "ListKeys");
    assert_eq!(unknown[0]["errorCode"], "UnrecognizedClientException");
    assert_eq!(unknown[0]["userIdentity"]["type"], "Unknown");
    assert_eq!(
        unknown[0]["userIdentity"]["accessKeyId"],
        "AKIAIOSFODNN7EXAMPLE"
    );

    // IAM calls are recorded with their Query parameters.
    let iam = lookup(
        &root,
        "--lookup-attributes AttributeKey=EventName,AttributeValue=CreateAccessKey",
    )
    .await;
    assert_eq!(iam[0]["eventSource"], "iam.amazonaws.com");
    assert_eq!(iam[0]["requestParameters"]["userName"], "carol");

    // With a policy that allows it, Carol reads her account's trail.
    let policy = root.fileb(
        "policy.json",
        br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudtrail:LookupEvents","Resource":"*"}]}"#,
    );
    root.ok(&format!(
        "iam put-user-policy --user-name carol --policy-name trail --policy-document {}",
        policy.replace("fileb://", "file://")
    ))
    .await;
    let mine = lookup(
        &carol,
        "--lookup-attributes AttributeKey=Username,AttributeValue=carol",
    )
    .await;
    // Her two denied calls; this lookup is recorded once it has been answered.
    assert_eq!(mine.len(), 2);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The binary: secrets never reach the trail or the log; verify catches tampering.

pub(crate) struct Running {
    child: Child,
    pub(crate) endpoint: String,
    log: std::sync::mpsc::Receiver<String>,
}

#[allow(clippy::zombie_processes)]
pub(crate) fn start(data_dir: &Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args([
            "serve",
            "--dev",
            "--addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut early = Vec::new();
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("trent did not report its address in time");
        let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        early.push(line);
        if let Some(addr) = event["addr"].as_str() {
            let (tx2, rx2) = std::sync::mpsc::channel();
            for l in early {
                tx2.send(l).unwrap();
            }
            std::thread::spawn(move || {
                for l in rx.iter() {
                    if tx2.send(l).is_err() {
                        break;
                    }
                }
            });
            return Running {
                child,
                endpoint: format!("http://{addr}"),
                log: rx2,
            };
        }
    }
}

pub(crate) fn terminate(mut running: Running) -> String {
    let status = Command::new("kill")
        .args(["-TERM", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = running.child.wait().unwrap();
    assert!(exit.success(), "trent exited with {exit:?}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    running.log.try_iter().collect::<Vec<_>>().join("\n")
}

pub(crate) fn trent(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

pub(crate) fn verify(data_dir: &Path) -> (bool, String) {
    trent(&["audit", "verify", "--data-dir", data_dir.to_str().unwrap()])
}

pub(crate) fn sql(data_dir: &Path, statement: &str) {
    let out = Command::new("sqlite3")
        .arg(data_dir.join("trent.db"))
        .arg(statement)
        .output()
        .expect("sqlite3 is needed to tamper with the database");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The forms a secret could leak in: as is, base64, hex either case.
fn forms(secret: &[u8]) -> Vec<String> {
    let mut f = vec![
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
        trent_crypto::hex(secret),
        trent_crypto::hex(secret).to_uppercase(),
    ];
    if let Ok(s) = std::str::from_utf8(secret) {
        f.push(s.to_owned());
    }
    f.retain(|s| s.len() >= 12);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_trail_or_the_log_and_verify_catches_tampering() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let running = start(data.path());
    let cli = Client::for_endpoint(
        &aws,
        &running.endpoint,
        scratch.path(),
        "AKIDAUDITTEST0001",
        "dev-secret-0001",
    );
    let mut secrets: Vec<Vec<u8>> = Vec::new();

    let key = cli.ok("kms create-key").await;
    let key_id = text(&key, "/KeyMetadata/KeyId").to_owned();
    let plaintext = b"plaintext-4f1d9c2e7a6b5d3c".to_vec();
    secrets.push(plaintext.clone());
    let pt = cli.fileb("pt", &plaintext);
    let ct = cli
        .ok(&format!("kms encrypt --key-id {key_id} --plaintext {pt}"))
        .await;
    let ct_file = cli.fileb("ct", &blob(&ct, "CiphertextBlob"));
    let dec = cli
        .ok(&format!("kms decrypt --ciphertext-blob {ct_file}"))
        .await;
    assert_eq!(blob(&dec, "Plaintext"), plaintext);
    let dk = cli
        .ok(&format!(
            "kms generate-data-key --key-id {key_id} --key-spec AES_256"
        ))
        .await;
    secrets.push(blob(&dk, "Plaintext"));
    let random = cli.ok("kms generate-random --number-of-bytes 32").await;
    secrets.push(blob(&random, "Plaintext"));
    let pair = cli
        .ok(&format!(
            "kms generate-data-key-pair --key-id {key_id} --key-pair-spec ECC_NIST_P256"
        ))
        .await;
    secrets.push(blob(&pair, "PrivateKeyPlaintext"));
    let mac_key = cli
        .ok("kms create-key --key-spec HMAC_256 --key-usage GENERATE_VERIFY_MAC")
        .await;
    let message = b"message-to-mac-9e8d7c6b5a".to_vec();
    secrets.push(message.clone());
    let msg = cli.fileb("msg", &message);
    let mac = cli
        .ok(&format!(
            "kms generate-mac --key-id {} --message {msg} --mac-algorithm HMAC_SHA_256",
            text(&mac_key, "/KeyMetadata/KeyId")
        ))
        .await;
    secrets.push(blob(&mac, "Mac"));
    let sign_key = cli
        .ok("kms create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY")
        .await;
    let to_sign = b"message-to-sign-1a2b3c4d5e".to_vec();
    secrets.push(to_sign.clone());
    let sign_file = cli.fileb("tosign", &to_sign);
    cli.ok(&format!(
        "kms sign --key-id {} --message {sign_file} --signing-algorithm ECDSA_SHA_256",
        text(&sign_key, "/KeyMetadata/KeyId")
    ))
    .await;
    let secure = "SecureValue8c7b6a5d4e3f2a1b";
    secrets.push(secure.as_bytes().to_vec());
    cli.ok(&format!(
        "ssm put-parameter --name /audit/secret --type SecureString --value {secure}"
    ))
    .await;
    let got = cli
        .ok("ssm get-parameter --name /audit/secret --with-decryption")
        .await;
    assert_eq!(text(&got, "/Parameter/Value"), secure);
    let plain_value = "PlainValue0f9e8d7c6b5a4";
    secrets.push(plain_value.as_bytes().to_vec());
    cli.ok(&format!(
        "ssm put-parameter --name /audit/plain --type String --value {plain_value}"
    ))
    .await;
    let secret_value = "SecretValue5e4d3c2b1a0f9e";
    secrets.push(secret_value.as_bytes().to_vec());
    cli.ok(&format!(
        "secretsmanager create-secret --name audit/db --secret-string {secret_value}"
    ))
    .await;
    let next_value = "NextSecretValue7a8b9c0d1e";
    secrets.push(next_value.as_bytes().to_vec());
    cli.ok(&format!(
        "secretsmanager put-secret-value --secret-id audit/db --secret-string {next_value}"
    ))
    .await;
    let read = cli
        .ok("secretsmanager get-secret-value --secret-id audit/db")
        .await;
    assert_eq!(text(&read, "/SecretString"), next_value);
    let password = cli
        .ok("secretsmanager get-random-password --password-length 40")
        .await;
    secrets.push(text(&password, "/RandomPassword").as_bytes().to_vec());
    cli.ok("iam create-user --user-name dave").await;
    let ak = cli.ok("iam create-access-key --user-name dave").await;
    secrets.push(text(&ak, "/AccessKey/SecretAccessKey").as_bytes().to_vec());
    cli.ok("sts get-caller-identity").await;
    let trail = cli.ok("cloudtrail lookup-events").await;
    assert!(trail["Events"].as_array().unwrap().len() >= 14);

    let log = terminate(running);
    assert!(
        log.contains("\"request\""),
        "the debug log was not captured"
    );

    // Every record and the whole log, scanned for every form of every secret.
    let store = trent_server::open_store(data.path()).await.unwrap();
    let events = store.audit_events(0, 100_000).await.unwrap();
    let digests = store.audit_digests().await.unwrap();
    store.close().await;
    assert!(events.len() >= 16, "{}", events.len());
    let names: Vec<&str> = events.iter().map(|e| e.event_name.as_str()).collect();
    for op in [
        "Encrypt",
        "Decrypt",
        "GenerateDataKey",
        "GenerateRandom",
        "GenerateDataKeyPair",
        "GenerateMac",
        "Sign",
        "PutParameter",
        "GetParameter",
        "CreateSecret",
        "PutSecretValue",
        "GetSecretValue",
        "GetRandomPassword",
        "CreateAccessKey",
        "GetCallerIdentity",
        "LookupEvents",
    ] {
        assert!(names.contains(&op), "{op} not recorded: {names:?}");
    }
    assert!(!digests.is_empty(), "no digest was signed at shutdown");
    let records: Vec<&str> = events.iter().map(|e| e.record.as_str()).collect();
    // What is recorded of a secret read: which secret, not its value.
    let read_record = records
        .iter()
        .find(|r| r.contains("\"GetSecretValue\""))
        .unwrap();
    assert!(
        read_record.contains("\"secretId\":\"audit/db\""),
        "{read_record}"
    );
    for secret in &secrets {
        for form in forms(secret) {
            for r in &records {
                assert!(!r.contains(&form), "secret {form} in record {r}");
            }
            assert!(!log.contains(&form), "secret {form} in the server log");
        }
    }

    // The untouched trail verifies; the public key exports.
    let (ok, out) = verify(data.path());
    assert!(ok, "{out}");
    assert!(out.contains("audit trail verified"), "{out}");
    let (ok, pem) = trent(&[
        "audit",
        "public-key",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    assert!(ok && pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    let pem_file = scratch.path().join("audit.pem");
    std::fs::write(&pem_file, &pem).unwrap();

    // Each kind of tampering, on a copy of the database, is found and named.
    let cases: &[(&str, &str)] = &[
        (
            "UPDATE audit_events SET record = replace(record, 'Encrypt', 'Decrypt') WHERE event_name = 'Encrypt'",
            "was edited",
        ),
        (
            "DELETE FROM audit_events WHERE seq = 3",
            "event 3 was deleted",
        ),
        (
            "DELETE FROM audit_events WHERE seq > 5",
            "the trail was truncated",
        ),
        (
            "UPDATE audit_digests SET body = replace(body, '\"lastSeq\":', '\"lastSeq\":1')",
            "is forged",
        ),
        (
            "UPDATE audit_events SET prev_hash = (SELECT hash FROM audit_events WHERE seq = 1) WHERE seq = 4",
            "was edited",
        ),
    ];
    for (statement, expected) in cases {
        let copy = tempfile::tempdir().unwrap();
        for f in std::fs::read_dir(data.path()).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), copy.path().join(f.file_name())).unwrap();
        }
        sql(copy.path(), statement);
        let (ok, out) = verify(copy.path());
        assert!(!ok, "{statement}: not detected: {out}");
        assert!(
            out.contains(expected),
            "{statement}: wanted '{expected}': {out}"
        );
        // With the exported key kept apart, the same.
        let (ok, out) = trent(&[
            "audit",
            "verify",
            "--data-dir",
            copy.path().to_str().unwrap(),
            "--public-key",
            pem_file.to_str().unwrap(),
        ]);
        assert!(!ok, "{out}");
    }
}

/// `kill -9` while clients are being answered: every response a client received has its event
/// in the store, and the chain verifies; after a restart the server carries on the same chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_event() {
    use aws_sdk_kms::operation::RequestId as _;
    let data = tempfile::tempdir().unwrap();
    let mut running = start(data.path());
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .endpoint_url(&running.endpoint)
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "AKIDCRASHTEST0001",
            "dev-secret",
            None,
            None,
            "trent-tests",
        ))
        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_kms::Client::from_conf(conf);
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let client = client.clone();
        let acked = std::sync::Arc::clone(&acked);
        tasks.push(tokio::spawn(async move {
            while let Ok(out) = client.generate_random().number_of_bytes(16).send().await {
                acked
                    .lock()
                    .unwrap()
                    .push(out.request_id().unwrap().to_owned());
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let status = Command::new("kill")
        .args(["-KILL", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    running.child.wait().unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 20,
        "only {} responses before the kill",
        acked.len()
    );

    let store = trent_server::open_store(data.path()).await.unwrap();
    let events = store.audit_events(0, 1_000_000).await.unwrap();
    store.close().await;
    let recorded: std::collections::HashSet<String> = events
        .iter()
        .map(|e| {
            let r: Value = serde_json::from_str(&e.record).unwrap();
            r["requestID"].as_str().unwrap().to_owned()
        })
        .collect();
    for id in &acked {
        assert!(
            recorded.contains(id),
            "acknowledged request {id} has no event"
        );
    }
    let (ok, out) = verify(data.path());
    assert!(ok, "{out}");

    // Restarted, the server extends the same chain and signs it at shutdown.
    let running = start(data.path());
    let cli = aws_sdk_kms::Client::from_conf(
        client
            .config()
            .to_builder()
            .endpoint_url(&running.endpoint)
            .build(),
    );
    cli.generate_random()
        .number_of_bytes(8)
        .send()
        .await
        .unwrap();
    terminate(running);
    let (ok, out) = verify(data.path());
    assert!(ok, "{out}");
    assert!(out.contains(" 0 events after the last digest"), "{out}");
}
