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
    assert_eq!(out.trim(), "ok: unsealed and serving");
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
