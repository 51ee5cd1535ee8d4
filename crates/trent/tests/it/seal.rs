//! The Shamir seal through the real binary: `trent operator init` hands out shares, the server
//! starts sealed and refuses the API, `trent operator unseal` takes shares (refusing a damaged
//! one by name), any threshold of shares unseals to the same root key across restarts, and the
//! data stays readable.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use aws_sdk_kms::primitives::Blob;
use serde_json::Value;

use crate::harness::read_credentials;
use crate::tls::{spawn_serve, wait_for_log};

fn trent(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A raw HTTP/1.1 request; returns the status and the body.
fn raw(addr: &str, request: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

fn share(dir: &Path, i: usize) -> String {
    std::fs::read_to_string(dir.join(format!("share-{i}")))
        .unwrap()
        .trim()
        .to_string()
}

fn kms(endpoint: &str, data_dir: &Path) -> aws_sdk_kms::Client {
    use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
    let (id, secret) = read_credentials(data_dir);
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(id, secret, None, None, "trent-tests"))
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

/// Starts a sealed server; returns it, its log and `host:port`.
fn start_sealed(
    data: &Path,
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<Value>,
    String,
) {
    let (child, log) = spawn_serve(data, &["--addr", "127.0.0.1:0"]);
    let event = wait_for_log(&log, "SEALED");
    let addr = event["addr"].as_str().unwrap().to_string();
    (child, log, addr)
}

fn stop(mut child: std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn shamir_seal_init_unseal_restart() {
    let data = tempfile::tempdir().unwrap();
    let shares = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let s = shares.path().to_str().unwrap();
    let (ok, out, err) = trent(
        &[
            "operator",
            "init",
            "--data-dir",
            d,
            "--shares",
            "3",
            "--threshold",
            "2",
            "--share-dir",
            s,
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(out.contains("any 2 of which unseal it"), "{out}");
    assert!(!data.path().join("root.key").exists());
    // A second init is refused.
    let (ok, _, err) = trent(&["operator", "init", "--data-dir", d], None);
    assert!(!ok && err.contains("already exists"), "{err}");

    let (child, log, addr) = start_sealed(data.path());
    let endpoint = format!("http://{addr}");
    let (ok, out, _) = trent(&["operator", "status", "--endpoint", &endpoint], None);
    assert!(ok);
    assert_eq!(out.trim(), "sealed (shamir seal): 0 of 2 key shares given");
    // The API is refused while sealed, with a clear error.
    let (status, body) = raw(
        &addr,
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\n\
         Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(status, 503);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["__type"], "ServiceUnavailableException");
    assert!(v["message"].as_str().unwrap().contains("sealed"), "{body}");
    // The server's data cannot be administered without the key either.
    let (ok, _, err) = trent(&["admin", "create-account", "--data-dir", d], None);
    assert!(!ok && err.contains("sealed"), "{err}");

    // A damaged share is refused by name and does not count.
    let mut typo = share(shares.path(), 1);
    let last = typo.pop().unwrap();
    typo.push(if last == 'a' { 'b' } else { 'a' });
    let (ok, _, err) = trent(
        &[
            "operator",
            "unseal",
            "--endpoint",
            &endpoint,
            "--share",
            &typo,
        ],
        None,
    );
    assert!(!ok && err.contains("damaged"), "{err}");
    // One share from stdin, then another on the command line.
    let (ok, out, err) = trent(
        &["operator", "unseal", "--endpoint", &endpoint],
        Some(&share(shares.path(), 1)),
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "sealed: 1 of 2 key shares given");
    let (ok, _, err) = trent(
        &[
            "operator",
            "unseal",
            "--endpoint",
            &endpoint,
            "--share",
            &share(shares.path(), 1),
        ],
        None,
    );
    assert!(!ok && err.contains("already given"), "{err}");
    let (ok, out, err) = trent(
        &[
            "operator",
            "unseal",
            "--endpoint",
            &endpoint,
            "--share",
            &share(shares.path(), 3),
        ],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "unsealed");
    wait_for_log(&log, "Trent is listening");
    // No share ever reaches the log.
    let secrets: Vec<String> = (1..=3).map(|i| share(shares.path(), i)).collect();

    let client = kms(&endpoint, data.path());
    let key = client.create_key().send().await.unwrap();
    let key_id = key.key_metadata.unwrap().key_id;
    let blob = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"sealed away".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let (ok, out, _) = trent(&["operator", "status", "--endpoint", &endpoint], None);
    assert!(ok);
    assert_eq!(out.trim(), "ok: unsealed and serving (shamir seal)");
    stop(child);
    for event in log.try_iter() {
        let line = event.to_string();
        for s in &secrets {
            assert!(
                !line.contains(s.trim_start_matches("trent-share-v1-")),
                "{line}"
            );
        }
    }

    // After a restart it is sealed again; two other shares give the same root key.
    let (child, log, addr) = start_sealed(data.path());
    let endpoint = format!("http://{addr}");
    for i in [2, 3] {
        let (ok, _, err) = trent(
            &[
                "operator",
                "unseal",
                "--endpoint",
                &endpoint,
                "--share",
                &share(shares.path(), i),
            ],
            None,
        );
        assert!(ok, "{err}");
    }
    wait_for_log(&log, "Trent is listening");
    let client = kms(&endpoint, data.path());
    let plain = client
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap();
    assert_eq!(plain.as_ref(), b"sealed away");
    stop(child);
}

/// Starts a file-sealed server; returns it, its log (which must stay open while it runs) and
/// its endpoint.
fn start_open(
    data: &Path,
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<Value>,
    String,
) {
    let (child, log) = spawn_serve(data, &["--addr", "127.0.0.1:0"]);
    let event = wait_for_log(&log, "Trent is listening");
    let addr = event["addr"].as_str().unwrap().to_string();
    (child, log, format!("http://{addr}"))
}

async fn decrypts(endpoint: &str, data: &Path, blob: &Blob, want: &[u8]) {
    let plain = kms(endpoint, data)
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap();
    assert_eq!(plain.as_ref(), want);
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_between_seals_and_rekey_keep_the_data() {
    let data = tempfile::tempdir().unwrap();
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();

    // A file-sealed server with a key and a ciphertext.
    let (child, _log, endpoint) = start_open(data.path());
    let client = kms(&endpoint, data.path());
    let key_id = client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let blob = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"moved".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    stop(child);

    // File -> Shamir: the key file goes away.
    let (ok, out, err) = trent(
        &[
            "operator",
            "migrate-seal",
            "--data-dir",
            d,
            "--to",
            "shamir",
            "--shares",
            "3",
            "--threshold",
            "2",
            "--share-dir",
            first.path().to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(out.contains("moved to the Shamir seal"), "{out}");
    assert!(!data.path().join("root.key").exists());

    // Rekey with two current shares: four new ones, three needed.
    let f = |dir: &tempfile::TempDir, i: usize| {
        dir.path()
            .join(format!("share-{i}"))
            .to_str()
            .unwrap()
            .to_string()
    };
    let (ok, _, err) = trent(
        &[
            "operator",
            "rekey",
            "--data-dir",
            d,
            "--share-file",
            &f(&first, 1),
            "--share-file",
            &f(&first, 3),
            "--shares",
            "4",
            "--threshold",
            "3",
            "--share-dir",
            second.path().to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{err}");

    let (child, log, addr) = start_sealed(data.path());
    let endpoint = format!("http://{addr}");
    let unseal = |s: String| {
        trent(
            &["operator", "unseal", "--endpoint", &endpoint, "--share", &s],
            None,
        )
    };
    let (ok, _, err) = unseal(share(first.path(), 2));
    assert!(!ok && err.contains("another initialization"), "{err}");
    for i in [4, 1, 2] {
        let (ok, _, err) = unseal(share(second.path(), i));
        assert!(ok, "{err}");
    }
    wait_for_log(&log, "Trent is listening");
    decrypts(&endpoint, data.path(), &blob, b"moved").await;
    stop(child);

    // Shamir -> file, shares on stdin: the server starts without unsealing.
    let stdin = format!(
        "{}\n{}\n{}\n",
        share(second.path(), 2),
        share(second.path(), 3),
        share(second.path(), 4)
    );
    let (ok, out, err) = trent(
        &["operator", "migrate-seal", "--data-dir", d, "--to", "file"],
        Some(&stdin),
    );
    assert!(ok, "{err}");
    assert!(out.contains("moved"), "{out}");
    let (child, _log, endpoint) = start_open(data.path());
    decrypts(&endpoint, data.path(), &blob, b"moved").await;
    stop(child);
}

/// A fresh SoftHSM2 token labelled `trent` (user PIN 271828) in a directory of its own;
/// returns the directory and the `SOFTHSM2_CONF` file naming it.
fn softhsm_token() -> (tempfile::TempDir, String) {
    let hsm = tempfile::tempdir().unwrap();
    std::fs::create_dir(hsm.path().join("tokens")).unwrap();
    let conf = hsm.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            hsm.path().join("tokens").display()
        ),
    )
    .unwrap();
    let conf = conf.to_str().unwrap().to_string();
    let init = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "trent",
            "--pin",
            "271828",
            "--so-pin",
            "314159",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    (hsm, conf)
}

/// The PKCS#11 seal against SoftHSM2: `init` makes a non-extractable wrapping key on the token
/// and wraps a new root key with it; the server unwraps it at start with the PIN from the
/// environment or a file, refuses to start with a wrong PIN (without logging it), and keeps its
/// data across restarts.
#[tokio::test(flavor = "multi_thread")]
async fn pkcs11_seal_with_softhsm() {
    let Ok(library) = std::env::var("TRENT_TEST_SOFTHSM_LIB") else {
        eprintln!(
            "skipping pkcs11_seal_with_softhsm: TRENT_TEST_SOFTHSM_LIB is not set (scripts/test.sh \
             sets it after installing softhsm2)"
        );
        return;
    };
    let (hsm, conf) = softhsm_token();
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let operator = |args: &[&str], pin: &str| {
        Command::new(env!("CARGO_BIN_EXE_trent"))
            .args(args)
            .env("SOFTHSM2_CONF", &conf)
            .env("TRENT_PKCS11_PIN", pin)
            .env_remove("TRENT_PKCS11_PIN_FILE")
            .output()
            .unwrap()
    };
    let out = operator(
        &[
            "operator",
            "init",
            "--seal",
            "pkcs11",
            "--pkcs11-library",
            &library,
            "--data-dir",
            d,
        ],
        "271828",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("the new key"));
    assert!(!data.path().join("root.key").exists());
    let seal = std::fs::read_to_string(data.path().join("seal.json")).unwrap();
    assert!(
        seal.contains("\"pkcs11\"") && !seal.contains("271828"),
        "{seal}"
    );

    // Started with the PIN in the environment.
    let env = [
        ("SOFTHSM2_CONF", conf.as_str()),
        ("TRENT_PKCS11_PIN", "271828"),
    ];
    let (child, log) =
        crate::tls::spawn_serve_with_env(data.path(), &["--addr", "127.0.0.1:0"], &env);
    let event = wait_for_log(&log, "Trent is listening");
    let endpoint = format!("http://{}", event["addr"].as_str().unwrap());
    let client = kms(&endpoint, data.path());
    let key_id = client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let blob = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"in the hsm's care".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    stop(child);

    // A wrong PIN: no start, a clear reason, no PIN in the log.
    let env = [
        ("SOFTHSM2_CONF", conf.as_str()),
        ("TRENT_PKCS11_PIN", "999999"),
    ];
    let (mut child, log) =
        crate::tls::spawn_serve_with_env(data.path(), &["--addr", "127.0.0.1:0"], &env);
    assert!(!child.wait().unwrap().success());
    // The reader thread delivers what is left once the process has gone.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let lines: Vec<String> = log.try_iter().map(|e| e.to_string()).collect();
    assert!(lines.iter().any(|l| l.contains("C_Login")), "{lines:?}");
    assert!(lines.iter().all(|l| !l.contains("999999")), "{lines:?}");

    // With the PIN in a file the data is back.
    let pin_file = hsm.path().join("pin");
    std::fs::write(&pin_file, "271828\n").unwrap();
    let pin_path = pin_file.to_str().unwrap().to_string();
    let env = [
        ("SOFTHSM2_CONF", conf.as_str()),
        ("TRENT_PKCS11_PIN_FILE", pin_path.as_str()),
    ];
    let (child, log) =
        crate::tls::spawn_serve_with_env(data.path(), &["--addr", "127.0.0.1:0"], &env);
    let event = wait_for_log(&log, "Trent is listening");
    let endpoint = format!("http://{}", event["addr"].as_str().unwrap());
    let plain = kms(&endpoint, data.path())
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap();
    assert_eq!(plain.as_ref(), b"in the hsm's care");
    stop(child);

    // Another data directory on the same token reuses its wrapping key.
    let other = tempfile::tempdir().unwrap();
    let out = operator(
        &[
            "operator",
            "init",
            "--seal",
            "pkcs11",
            "--pkcs11-library",
            &library,
            "--data-dir",
            other.path().to_str().unwrap(),
        ],
        "271828",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("the existing key"));
}

/// `trent <args>` with exactly this AWS environment (nothing of the caller's `AWS_*`).
fn trent_with_aws(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trent"));
    cmd.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(name);
        }
    }
    let out = cmd.envs(env.iter().copied()).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// GET /health: the status and the parsed body.
fn health(addr: &str) -> (u16, Value) {
    let (status, body) = raw(
        addr,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    (status, serde_json::from_str(&body).unwrap())
}

/// A parameter (SecureString) and a secret written through the `aws` CLI, then read back.
async fn write_parameter_and_secret(aws: &Path, endpoint: &str, data: &Path, scratch: &Path) {
    let (id, secret) = read_credentials(data);
    let cli = crate::cli::Client::for_endpoint(aws, endpoint, scratch, &id, &secret);
    cli.ok("ssm put-parameter --name /sealed/p --type SecureString --value parameter-value")
        .await;
    cli.ok("secretsmanager create-secret --name sealed/s --secret-string secret-value")
        .await;
}

async fn read_parameter_and_secret(aws: &Path, endpoint: &str, data: &Path, scratch: &Path) {
    let (id, secret) = read_credentials(data);
    let cli = crate::cli::Client::for_endpoint(aws, endpoint, scratch, &id, &secret);
    let p = cli
        .ok("ssm get-parameter --name /sealed/p --with-decryption")
        .await;
    assert_eq!(p["Parameter"]["Value"], "parameter-value", "{p}");
    let s = cli
        .ok("secretsmanager get-secret-value --secret-id sealed/s")
        .await;
    assert_eq!(s["SecretString"], "secret-value", "{s}");
}

/// The KMS seal against a second Trent process: `init` has the other Trent encrypt a new root
/// key (bound to the seal id by the encryption context), the server has it decrypted at every
/// start, keys, parameters and secrets survive restarts; with the other Trent's key disabled
/// the server starts sealed, says why in `/health` and `operator status` (never the key), and
/// unseals by itself once the key is enabled again.
#[tokio::test(flavor = "multi_thread")]
async fn kms_seal_auto_unseals_through_a_second_trent() {
    let Some(aws) = crate::cli::find_aws().await else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    // The other KMS: a file-sealed Trent with a symmetric key.
    let outer = tempfile::tempdir().unwrap();
    let (outer_child, _outer_log, outer_endpoint) = start_open(outer.path());
    let outer_kms = kms(&outer_endpoint, outer.path());
    let wrapping = outer_kms
        .create_key()
        .description("wraps the root key of another Trent")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let arn = wrapping.arn.unwrap();
    let (id, secret) = read_credentials(outer.path());
    let nowhere = scratch.path().join("nowhere");
    let nowhere = nowhere.to_str().unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_CONFIG_FILE", nowhere),
        ("AWS_SHARED_CREDENTIALS_FILE", nowhere),
    ];

    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let (ok, out, err) = trent_with_aws(
        &[
            "operator",
            "init",
            "--seal",
            "kms",
            "--kms-key-id",
            &arn,
            "--kms-endpoint",
            &outer_endpoint,
            "--data-dir",
            d,
        ],
        &env,
    );
    assert!(ok, "{err}");
    assert!(out.contains("with the kms seal"), "{out}");
    assert!(!data.path().join("root.key").exists());
    let seal: Value =
        serde_json::from_str(&std::fs::read_to_string(data.path().join("seal.json")).unwrap())
            .unwrap();
    assert_eq!(seal["type"], "kms");
    assert_eq!(seal["key_id"], arn.as_str());
    assert_eq!(seal["region"], "us-east-1");
    // The stored blob is the other Trent's ciphertext, bound to this seal's id.
    let blob = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        seal["ciphertext"].as_str().unwrap(),
    )
    .unwrap();
    let wrong_context = outer_kms
        .decrypt()
        .ciphertext_blob(Blob::new(blob.clone()))
        .send()
        .await;
    assert!(wrong_context.is_err(), "decrypted without the seal id");
    let root = outer_kms
        .decrypt()
        .ciphertext_blob(Blob::new(blob))
        .encryption_context("trent:seal-id", seal["seal_id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(root.plaintext.unwrap().as_ref().len(), 32);
    // A second init is refused before anything is asked of the KMS.
    let (ok, _, err) = trent_with_aws(
        &[
            "operator",
            "init",
            "--seal",
            "kms",
            "--kms-key-id",
            &arn,
            "--kms-endpoint",
            &outer_endpoint,
            "--data-dir",
            d,
        ],
        &env,
    );
    assert!(!ok && err.contains("already exists"), "{err}");

    // It starts unsealed; a key, a parameter and a secret are written.
    let start = || {
        let (child, log) =
            crate::tls::spawn_serve_with_env(data.path(), &["--addr", "127.0.0.1:0"], &env);
        (child, log)
    };
    let (child, log) = start();
    let event = wait_for_log(&log, "Trent is listening");
    let addr = event["addr"].as_str().unwrap().to_string();
    let endpoint = format!("http://{addr}");
    let (status, h) = health(&addr);
    assert_eq!(
        (status, h["status"].as_str(), h["seal"].as_str()),
        (200, Some("ok"), Some("kms"))
    );
    let client = kms(&endpoint, data.path());
    let key_id = client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let ciphertext = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"auto-unsealed".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    write_parameter_and_secret(&aws, &endpoint, data.path(), scratch.path()).await;
    stop(child);
    drop(log);

    // After a restart everything is readable.
    let (child, log) = start();
    let event = wait_for_log(&log, "Trent is listening");
    let endpoint = format!("http://{}", event["addr"].as_str().unwrap());
    decrypts(&endpoint, data.path(), &ciphertext, b"auto-unsealed").await;
    read_parameter_and_secret(&aws, &endpoint, data.path(), scratch.path()).await;
    stop(child);
    drop(log);

    // With the wrapping key disabled the server starts sealed and says why.
    outer_kms.disable_key().key_id(&arn).send().await.unwrap();
    let (child, log) = start();
    let event = wait_for_log(&log, "SEALED");
    let addr = event["addr"].as_str().unwrap().to_string();
    let (status, h) = health(&addr);
    assert_eq!(status, 503);
    assert_eq!(h["status"], "sealed");
    assert_eq!(h["seal"], "kms");
    let reason = h["reason"].as_str().unwrap();
    assert!(
        reason.contains("DisabledException") && reason.contains(&arn),
        "{reason}"
    );
    let (status, body) = raw(
        &addr,
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\n\
         Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(status, 503);
    assert!(
        body.contains("ServiceUnavailableException") && body.contains("DisabledException"),
        "{body}"
    );
    let (ok, out, err) = trent(
        &[
            "operator",
            "status",
            "--endpoint",
            &format!("http://{addr}"),
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(
        out.starts_with("sealed (kms seal): the kms seal could not give the root key"),
        "{out}"
    );
    // Enabled again: the retry unseals it without a restart.
    outer_kms.enable_key().key_id(&arn).send().await.unwrap();
    wait_for_log(&log, "Trent is listening");
    let endpoint = format!("http://{addr}");
    decrypts(&endpoint, data.path(), &ciphertext, b"auto-unsealed").await;
    read_parameter_and_secret(&aws, &endpoint, data.path(), scratch.path()).await;
    stop(child);
    stop(outer_child);
}

/// `trent operator seal` against `endpoint` signed with these credentials.
fn operator_seal(endpoint: &str, id: &str, secret: &str) -> (bool, String, String) {
    trent_with_aws(
        &["operator", "seal", "--endpoint", endpoint],
        &[
            ("AWS_ACCESS_KEY_ID", id),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ],
    )
}

/// `trent operator seal` makes a running server drop its root key: only the default
/// account's root or an IAM principal allowed `trent:Seal` may, never an unsigned request;
/// the server then answers 503 as at start until a threshold of shares is given again, and
/// its data is intact. `trent operator status` reports the seal and the TLS certificate's
/// expiry on both listeners.
#[tokio::test(flavor = "multi_thread")]
async fn operator_seal_and_status_with_tls_expiry() {
    let Some(aws) = crate::cli::find_aws().await else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let shares = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let (ok, _, err) = trent(
        &[
            "operator",
            "init",
            "--data-dir",
            d,
            "--shares",
            "3",
            "--threshold",
            "2",
            "--share-dir",
            shares.path().to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{err}");
    let (child, log) = spawn_serve(
        data.path(),
        &[
            "--addr",
            "127.0.0.1:0",
            "--tls-self-signed",
            "--tls-addr",
            "127.0.0.1:0",
        ],
    );
    let mut sealed = Vec::new();
    while sealed.len() < 2 {
        let event = wait_for_log(&log, "SEALED");
        sealed.push(event["addr"].as_str().unwrap().to_string());
    }
    let (addr, tls_addr) = (sealed[0].clone(), sealed[1].clone());
    let endpoint = format!("http://{addr}");
    let https = format!("https://{tls_addr}");
    let ca = data.path().join("tls/self-signed-cert.pem");
    let ca = ca.to_str().unwrap();
    let unseal_with = |i: usize| {
        let (ok, _, err) = trent(
            &[
                "operator",
                "unseal",
                "--endpoint",
                &https,
                "--ca-bundle",
                ca,
                "--share",
                &share(shares.path(), i),
            ],
            None,
        );
        assert!(ok, "{err}");
    };
    // Sealed, over HTTPS: the shares and the certificate's expiry.
    let (ok, out, err) = trent(
        &[
            "operator",
            "status",
            "--endpoint",
            &https,
            "--ca-bundle",
            ca,
        ],
        None,
    );
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "sealed (shamir seal): 0 of 2 key shares given",
        "{out}"
    );
    let days = |line: &str| -> i64 {
        let (_, rest) = line.split_once('(').unwrap();
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    assert!(lines[1].starts_with("TLS certificate: expires "), "{out}");
    // The self-signed certificate is valid for ten years from its creation.
    assert!((3648..=3650).contains(&days(lines[1])), "{out}");
    unseal_with(1);
    unseal_with(3);
    wait_for_log(&log, "Trent is listening");

    let client = kms(&endpoint, data.path());
    let key_id = client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let blob = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"sealed and unsealed".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    // Unsealed, over plain HTTP: the TLS listener's certificate is still reported.
    let (ok, out, err) = trent(&["operator", "status", "--endpoint", &endpoint], None);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "ok: unsealed and serving (shamir seal)", "{out}");
    assert!((3648..=3650).contains(&days(lines[1])), "{out}");

    // Not without a signature, not by an IAM user without trent:Seal.
    let (status, body) = raw(
        &addr,
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentOperator.Seal\r\n\
         Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("MissingAuthenticationTokenException"),
        "{body}"
    );
    let (root_id, root_secret) = read_credentials(data.path());
    let iam =
        crate::cli::Client::for_endpoint(&aws, &endpoint, scratch.path(), &root_id, &root_secret);
    iam.ok("iam create-user --user-name operator").await;
    let key = iam.ok("iam create-access-key --user-name operator").await;
    let user_id = key["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let user_secret = key["AccessKey"]["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_string();
    let (ok, _, err) = operator_seal(&endpoint, &user_id, &user_secret);
    assert!(!ok && err.contains("trent:Seal"), "{err}");
    decrypts(&endpoint, data.path(), &blob, b"sealed and unsealed").await;

    // The root seals it: 503 as at start, and shares are needed again.
    let (ok, out, err) = operator_seal(&endpoint, &root_id, &root_secret);
    assert!(ok, "{err}");
    assert!(out.starts_with("sealed"), "{out}");
    wait_for_log(&log, "SEALED");
    let (status, body) = raw(
        &addr,
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\n\
         Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(status, 503);
    assert!(body.contains("needs 2 key shares (0 given)"), "{body}");
    let (ok, out, _) = trent(&["operator", "status", "--endpoint", &endpoint], None);
    assert!(ok);
    assert_eq!(
        out.lines().next(),
        Some("sealed (shamir seal): 0 of 2 key shares given")
    );
    unseal_with(2);
    unseal_with(3);
    wait_for_log(&log, "Trent is listening");
    decrypts(&endpoint, data.path(), &blob, b"sealed and unsealed").await;

    // An IAM user whose policy allows trent:Seal may seal it too.
    iam.ok(
        r#"iam put-user-policy --user-name operator --policy-name seal --policy-document {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"trent:Seal","Resource":"*"}]}"#,
    )
    .await;
    // Rekeyed while it runs: once sealed, it asks for the new shares.
    let rekeyed = tempfile::tempdir().unwrap();
    let (ok, _, err) = trent(
        &[
            "operator",
            "rekey",
            "--data-dir",
            d,
            "--shares",
            "2",
            "--threshold",
            "2",
            "--share-dir",
            rekeyed.path().to_str().unwrap(),
        ],
        Some(&format!(
            "{}\n{}\n",
            share(shares.path(), 1),
            share(shares.path(), 2)
        )),
    );
    assert!(ok, "{err}");
    let (ok, _, err) = operator_seal(&endpoint, &user_id, &user_secret);
    assert!(ok, "{err}");
    wait_for_log(&log, "SEALED");
    let (status, _) = health(&addr);
    assert_eq!(status, 503);
    let unseal = |s: String| {
        trent(
            &["operator", "unseal", "--endpoint", &endpoint, "--share", &s],
            None,
        )
    };
    let (ok, _, err) = unseal(share(shares.path(), 1));
    assert!(!ok && err.contains("another initialization"), "{err}");
    for i in [2, 1] {
        let (ok, _, err) = unseal(share(rekeyed.path(), i));
        assert!(ok, "{err}");
    }
    wait_for_log(&log, "Trent is listening");
    decrypts(&endpoint, data.path(), &blob, b"sealed and unsealed").await;
    stop(child);
}

/// `migrate-seal` to and from the PKCS#11 seal (SoftHSM2) and the KMS seal (a second Trent):
/// a key, a ciphertext, a SecureString parameter and a secret written under the file seal are
/// readable after every move: file → pkcs11 → kms → shamir → pkcs11 → file. Each move leaves
/// only the new seal's material (no key file once sealed elsewhere).
#[tokio::test(flavor = "multi_thread")]
async fn migrate_to_and_from_pkcs11_and_kms_keeps_every_key_parameter_and_secret() {
    let Ok(library) = std::env::var("TRENT_TEST_SOFTHSM_LIB") else {
        eprintln!(
            "skipping migrate_to_and_from_pkcs11_and_kms: TRENT_TEST_SOFTHSM_LIB is not set \
             (scripts/test.sh sets it after installing softhsm2)"
        );
        return;
    };
    let Some(aws) = crate::cli::find_aws().await else {
        return;
    };
    let (_hsm, conf) = softhsm_token();
    let scratch = tempfile::tempdir().unwrap();
    let outer = tempfile::tempdir().unwrap();
    let (outer_child, _outer_log, outer_endpoint) = start_open(outer.path());
    let arn = kms(&outer_endpoint, outer.path())
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let (id, secret) = read_credentials(outer.path());
    let env = [
        ("AWS_ACCESS_KEY_ID", id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("SOFTHSM2_CONF", conf.as_str()),
        ("TRENT_PKCS11_PIN", "271828"),
    ];

    // Data written under the file seal.
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let (child, _log, endpoint) = start_open(data.path());
    let client = kms(&endpoint, data.path());
    let key_id = client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let blob = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"through every seal".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    write_parameter_and_secret(&aws, &endpoint, data.path(), scratch.path()).await;
    stop(child);

    let check = |expected_seal: &'static str| {
        let data = data.path().to_path_buf();
        let blob = blob.clone();
        let aws = aws.clone();
        let scratch = scratch.path().to_path_buf();
        async move {
            let seal: Value = serde_json::from_str(
                &std::fs::read_to_string(data.join("seal.json")).unwrap_or_default(),
            )
            .unwrap_or_default();
            assert_eq!(seal["type"].as_str().unwrap_or("file"), expected_seal);
            assert_eq!(data.join("root.key").exists(), expected_seal == "file");
            let (child, log) =
                crate::tls::spawn_serve_with_env(&data, &["--addr", "127.0.0.1:0"], &env);
            let event = wait_for_log(&log, "Trent is listening");
            let endpoint = format!("http://{}", event["addr"].as_str().unwrap());
            decrypts(&endpoint, &data, &blob, b"through every seal").await;
            read_parameter_and_secret(&aws, &endpoint, &data, &scratch).await;
            stop(child);
        }
    };
    let migrate = |args: &[&str], stdin: Option<&str>| {
        let mut all = vec!["operator", "migrate-seal", "--data-dir", d];
        all.extend_from_slice(args);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trent"));
        cmd.args(&all)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };

    let out = migrate(&["--to", "pkcs11", "--pkcs11-library", &library], None);
    assert!(
        out.contains("to the pkcs11 seal from the file seal"),
        "{out}"
    );
    check("pkcs11").await;

    let out = migrate(
        &[
            "--to",
            "kms",
            "--kms-key-id",
            &arn,
            "--kms-endpoint",
            &outer_endpoint,
        ],
        None,
    );
    assert!(
        out.contains("to the kms seal from the pkcs11 seal"),
        "{out}"
    );
    check("kms").await;

    let shares = tempfile::tempdir().unwrap();
    let out = migrate(
        &[
            "--to",
            "shamir",
            "--shares",
            "3",
            "--threshold",
            "2",
            "--share-dir",
            shares.path().to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.contains("moved to the Shamir seal from the kms seal"),
        "{out}"
    );
    let stdin = format!("{}\n{}\n", share(shares.path(), 3), share(shares.path(), 1));
    let out = migrate(
        &["--to", "pkcs11", "--pkcs11-library", &library],
        Some(&stdin),
    );
    assert!(
        out.contains("to the pkcs11 seal from the shamir seal"),
        "{out}"
    );
    check("pkcs11").await;

    let out = migrate(&["--to", "file"], None);
    assert!(
        out.contains("to the file seal from the pkcs11 seal"),
        "{out}"
    );
    check("file").await;
    stop(outer_child);
}

/// `trent operator rotate-root`: beside a running file-sealed server, a new root key is made;
/// the running server keeps serving (and writing) with its key, and after a restart every key,
/// parameter and secret written before or during the rotation is readable while the old key
/// file no longer opens the store. Under the Shamir seal the rotation hands out new shares and
/// the old ones stop working.
#[tokio::test(flavor = "multi_thread")]
async fn rotate_root_keeps_the_data_and_retires_the_old_key() {
    let Some(aws) = crate::cli::find_aws().await else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let (child, _log, endpoint) = start_open(data.path());
    let client = kms(&endpoint, data.path());
    let key_id = client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let encrypt = |text: &'static [u8]| {
        let client = client.clone();
        let key_id = key_id.clone();
        async move {
            client
                .encrypt()
                .key_id(&key_id)
                .plaintext(Blob::new(text.to_vec()))
                .send()
                .await
                .unwrap()
                .ciphertext_blob
                .unwrap()
        }
    };
    let before = encrypt(b"before the rotation").await;
    write_parameter_and_secret(&aws, &endpoint, data.path(), scratch.path()).await;
    let old_key_file = std::fs::read(data.path().join("root.key")).unwrap();

    // Rotated while the server runs; it goes on serving with its key.
    let (ok, out, err) = trent(&["operator", "rotate-root", "--data-dir", d], None);
    assert!(ok, "{err}");
    assert!(out.contains("rotated the root key"), "{out}");
    assert_ne!(
        std::fs::read(data.path().join("root.key")).unwrap(),
        old_key_file
    );
    let during = encrypt(b"during the rotation").await;
    let new_key = client
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    stop(child);

    let (child, _log, endpoint) = start_open(data.path());
    decrypts(&endpoint, data.path(), &before, b"before the rotation").await;
    decrypts(&endpoint, data.path(), &during, b"during the rotation").await;
    read_parameter_and_secret(&aws, &endpoint, data.path(), scratch.path()).await;
    let client = kms(&endpoint, data.path());
    let after = client
        .encrypt()
        .key_id(&new_key)
        .plaintext(Blob::new(b"after".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    stop(child);

    // The old key file no longer opens the store.
    let new_key_file = std::fs::read(data.path().join("root.key")).unwrap();
    std::fs::write(data.path().join("root.key"), &old_key_file).unwrap();
    let (mut child, log) = spawn_serve(data.path(), &["--addr", "127.0.0.1:0"]);
    assert!(!child.wait().unwrap().success());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let lines: Vec<String> = log.try_iter().map(|e| e.to_string()).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("root key does not open this store")),
        "{lines:?}"
    );
    std::fs::write(data.path().join("root.key"), &new_key_file).unwrap();

    // Under the Shamir seal: new shares, the old ones refused, the data still there.
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let (ok, _, err) = trent(
        &[
            "operator",
            "migrate-seal",
            "--data-dir",
            d,
            "--to",
            "shamir",
            "--shares",
            "3",
            "--threshold",
            "2",
            "--share-dir",
            first.path().to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{err}");
    let stdin = format!("{}\n{}\n", share(first.path(), 1), share(first.path(), 2));
    let (ok, out, err) = trent(
        &[
            "operator",
            "rotate-root",
            "--data-dir",
            d,
            "--share-dir",
            second.path().to_str().unwrap(),
        ],
        Some(&stdin),
    );
    assert!(ok, "{err}");
    assert!(out.contains("any 2 of which"), "{out}");
    let (child, log, addr) = start_sealed(data.path());
    let endpoint = format!("http://{addr}");
    let unseal = |s: String| {
        trent(
            &["operator", "unseal", "--endpoint", &endpoint, "--share", &s],
            None,
        )
    };
    let (ok, _, err) = unseal(share(first.path(), 3));
    assert!(!ok && err.contains("another initialization"), "{err}");
    for i in [3, 1] {
        let (ok, _, err) = unseal(share(second.path(), i));
        assert!(ok, "{err}");
    }
    wait_for_log(&log, "Trent is listening");
    decrypts(&endpoint, data.path(), &before, b"before the rotation").await;
    decrypts(&endpoint, data.path(), &during, b"during the rotation").await;
    decrypts(&endpoint, data.path(), &after, b"after").await;
    read_parameter_and_secret(&aws, &endpoint, data.path(), scratch.path()).await;
    stop(child);
}
