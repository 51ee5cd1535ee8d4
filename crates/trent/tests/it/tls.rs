//! TLS on the listener, through the real `trent` binary: a certificate from a test CA trusted by
//! the `aws` CLI (`AWS_CA_BUNDLE`) and the AWS SDK for Rust, refused under a wrong CA,
//! `aws:SecureTransport` telling the listeners apart, reload on SIGHUP (and a failed reload
//! keeping the old certificate), and the self-signed first-run certificate with HTTPS only.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use serde_json::Value;

use crate::cli::{Client, find_aws};
use crate::harness::read_credentials;

/// A CA and certificates it issues for 127.0.0.1 and localhost.
struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa { cert, key }
    }

    /// Writes a new leaf certificate and key; returns the leaf's DER.
    fn issue(&self, cert_path: &Path, key_path: &Path) -> Vec<u8> {
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "trent test server");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        std::fs::write(cert_path, cert.pem()).unwrap();
        std::fs::write(key_path, key.serialize_pem()).unwrap();
        cert.der().to_vec()
    }

    fn write_pem(&self, path: &Path) {
        std::fs::write(path, self.cert.pem()).unwrap();
    }
}

/// `sha256:AA:BB:...` of DER bytes, as the server logs it.
fn fingerprint(der: &[u8]) -> String {
    let digest = trent_crypto::sha256(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    format!("sha256:{}", hex.join(":"))
}

struct Running {
    child: Child,
    /// `http://...` when the plain listener is on.
    http: Option<String>,
    https: String,
    /// The fingerprint the server logged for its certificate.
    fingerprint: String,
    log: std::sync::mpsc::Receiver<Value>,
}

impl Running {
    /// Waits for a log event whose message contains `text`.
    fn wait_for_log(&self, text: &str) -> Value {
        wait_for_log(&self.log, text)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn stop(mut self) {
        self.signal("-TERM");
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "trent exited with {exit:?}");
    }
}

/// Starts `trent serve --log-format json <args> --data-dir <data_dir>`; its log events arrive
/// on the receiver.
// The child is handed to the caller, who stops it.
#[allow(clippy::zombie_processes)]
pub(crate) fn spawn_serve(
    data_dir: &Path,
    args: &[&str],
) -> (Child, std::sync::mpsc::Receiver<Value>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["serve", "--log-format", "json"])
        .args(args)
        .arg("--data-dir")
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
            let event: Value = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("log line is not JSON: {line}"));
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits for a log event whose message contains `text`.
pub(crate) fn wait_for_log(log: &std::sync::mpsc::Receiver<Value>, text: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let event = log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no log event saying '{text}'"));
        if event["message"].as_str().is_some_and(|m| m.contains(text)) {
            return event;
        }
    }
}

fn start(data_dir: &Path, args: &[&str], with_http: bool) -> Running {
    let mut all = vec!["--tls-addr", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let (child, rx) = spawn_serve(data_dir, &all);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut http, mut https, mut fingerprint) = (None, None, None);
    while https.is_none() || (with_http && http.is_none()) {
        let event = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("trent did not report its addresses in time");
        let Some(addr) = event["addr"].as_str() else {
            continue;
        };
        match event["fingerprint"].as_str() {
            Some(f) => {
                https = Some(format!("https://{addr}"));
                fingerprint = Some(f.to_string());
            }
            None => http = Some(format!("http://{addr}")),
        }
    }
    Running {
        child,
        http,
        https: https.unwrap(),
        fingerprint: fingerprint.unwrap(),
        log: rx,
    }
}

fn sdk(endpoint: &str, data_dir: &Path, ca_pem: &[u8]) -> aws_sdk_kms::Client {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(TrustStore::empty().with_pem_certificate(ca_pem.to_vec()))
                .build()
                .unwrap(),
        )
        .build_https();
    let (id, secret) = read_credentials(data_dir);
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .http_client(http)
        .credentials_provider(Credentials::new(id, secret, None, None, "trent-tests"))
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

fn cli(aws: &Path, endpoint: &str, data_dir: &Path, scratch: &Path, ca: &Path) -> Client {
    let (id, secret) = read_credentials(data_dir);
    let mut c = Client::for_endpoint(aws, endpoint, scratch, &id, &secret);
    c.set_env("AWS_CA_BUNDLE", &ca.to_string_lossy());
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_listener_serves_trusting_clients_and_reloads_on_sighup() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let f = |name: &str| -> PathBuf { files.path().join(name) };
    let ca = TestCa::new("trent test CA");
    ca.write_pem(&f("ca.pem"));
    let leaf = ca.issue(&f("cert.pem"), &f("key.pem"));
    let wrong = TestCa::new("some other CA");
    wrong.write_pem(&f("wrong-ca.pem"));

    let cert = f("cert.pem");
    let key = f("key.pem");
    let running = start(
        data.path(),
        &[
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        true,
    );
    assert_eq!(running.fingerprint, fingerprint(&leaf));
    let ca_pem = std::fs::read(f("ca.pem")).unwrap();

    // The AWS SDK for Rust over TLS, trusting the test CA.
    let kms = sdk(&running.https, data.path(), &ca_pem);
    let key_id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    // Under another CA the handshake fails: nothing is sent.
    let untrusting = sdk(
        &running.https,
        data.path(),
        &std::fs::read(f("wrong-ca.pem")).unwrap(),
    );
    let err = untrusting.list_keys().send().await.unwrap_err();
    assert!(
        matches!(err, aws_sdk_kms::error::SdkError::DispatchFailure(_)),
        "{err:?}"
    );

    if let Some(aws) = find_aws().await {
        let https = cli(
            &aws,
            &running.https,
            data.path(),
            scratch.path(),
            &f("ca.pem"),
        );
        let described = https
            .ok(&format!("kms describe-key --key-id {key_id}"))
            .await;
        assert_eq!(described["KeyMetadata"]["KeyId"], key_id.as_str());
        let refused = cli(
            &aws,
            &running.https,
            data.path(),
            scratch.path(),
            &f("wrong-ca.pem"),
        );
        let (_, stderr) = refused.aws("kms list-keys").await.unwrap_err();
        assert!(
            stderr.contains("SSL") && stderr.contains("CERTIFICATE_VERIFY_FAILED"),
            "{stderr}"
        );

        // aws:SecureTransport tells the listeners apart: a user allowed CreateKey only over
        // TLS is refused on the plain listener.
        let plain = cli(
            &aws,
            running.http.as_deref().unwrap(),
            data.path(),
            scratch.path(),
            &f("ca.pem"),
        );
        plain.ok("iam create-user --user-name tls-only").await;
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#;
        plain
            .ok(&format!(
                "iam put-user-policy --user-name tls-only --policy-name p --policy-document {policy}"
            ))
            .await;
        let k = plain.ok("iam create-access-key --user-name tls-only").await;
        let (id, secret) = (
            k["AccessKey"]["AccessKeyId"].as_str().unwrap(),
            k["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
        );
        let mut user_plain = Client::for_endpoint(
            &aws,
            running.http.as_deref().unwrap(),
            scratch.path(),
            id,
            secret,
        );
        user_plain.set_env("AWS_CA_BUNDLE", &f("ca.pem").to_string_lossy());
        user_plain
            .fails("kms create-key", "AccessDeniedException")
            .await;
        let mut user_tls = Client::for_endpoint(&aws, &running.https, scratch.path(), id, secret);
        user_tls.set_env("AWS_CA_BUNDLE", &f("ca.pem").to_string_lossy());
        user_tls.ok("kms create-key").await;
    }

    // SIGHUP with a broken key file: the old certificate stays in service.
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    running.signal("-HUP");
    running.wait_for_log("TLS reload failed");
    kms.list_keys().send().await.unwrap();

    // SIGHUP with a new certificate and key: new connections get them.
    let new_leaf = ca.issue(&cert, &key);
    running.signal("-HUP");
    let event = running.wait_for_log("reloaded the TLS certificate");
    assert_eq!(event["fingerprint"], fingerprint(&new_leaf));
    let fresh = sdk(&running.https, data.path(), &ca_pem);
    fresh.list_keys().send().await.unwrap();
    running.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn self_signed_https_only_first_run() {
    let data = tempfile::tempdir().unwrap();
    let running = start(data.path(), &["--tls-self-signed", "--no-http"], false);
    assert!(running.http.is_none());
    let cert = data.path().join("tls/self-signed-cert.pem");
    let pem = std::fs::read(&cert).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.path().join("tls/self-signed-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let kms = sdk(&running.https, data.path(), &pem);
    kms.create_key().send().await.unwrap();
    if let Some(aws) = find_aws().await {
        let scratch = tempfile::tempdir().unwrap();
        let c = cli(&aws, &running.https, data.path(), scratch.path(), &cert);
        let keys = c.ok("kms list-keys").await;
        assert_eq!(keys["Keys"].as_array().unwrap().len(), 1);
    }
    let first = running.fingerprint.clone();
    running.stop();

    // The next start reuses the certificate.
    let running = start(data.path(), &["--tls-self-signed", "--no-http"], false);
    assert_eq!(running.fingerprint, first);
    running.stop();

    // HTTPS only needs a certificate.
    let out = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["serve", "--no-http", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--no-http needs"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
