//! The `trent` binary itself: start on port 0, serve, stop on SIGTERM, start again with the
//! same data directory.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::primitives::Blob;

use crate::harness::read_credentials;

struct Running {
    child: Child,
    endpoint: String,
    log: std::sync::mpsc::Receiver<String>,
}

// The child is handed to the caller, who waits for it; a failed start panics the test.
#[allow(clippy::zombie_processes)]
fn start(data_dir: &std::path::Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
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
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("trent did not report its address in time");
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("log line is not JSON: {line}"));
        if let Some(addr) = event["addr"].as_str() {
            return Running {
                child,
                endpoint: format!("http://{addr}"),
                log: rx,
            };
        }
    }
}

fn terminate(mut running: Running) -> Vec<String> {
    let status = Command::new("kill")
        .args(["-TERM", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = running.child.wait().unwrap();
    assert!(exit.success(), "trent exited with {exit:?}");
    running.log.try_iter().collect()
}

fn client(endpoint: &str, data_dir: &std::path::Path) -> aws_sdk_kms::Client {
    let (id, secret) = read_credentials(data_dir);
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(id, secret, None, None, "trent-tests"))
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

#[tokio::test]
async fn serves_stops_on_sigterm_and_restarts_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for file in ["root.key", "root-credentials"] {
            let mode = std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }
    let kms = client(&first.endpoint, dir.path());
    let key = kms.create_key().send().await.unwrap();
    let id = key.key_metadata().unwrap().key_id().to_string();
    let blob = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"across restarts".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    let health = reqwest_free_get(&first.endpoint).await;
    assert!(health.contains("\"ok\""));
    let log = terminate(first);
    assert!(log.iter().any(|l| l.contains("\"stopped\"")), "{log:?}");
    for line in &log {
        assert!(!line.contains("across restarts"));
    }

    let second = start(dir.path());
    let kms = client(&second.endpoint, dir.path());
    let out = kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(out.plaintext().unwrap().as_ref(), b"across restarts");
    terminate(second);
}

/// GET /health over a bare TCP connection.
async fn reqwest_free_get(endpoint: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = endpoint.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[test]
fn help_describes_the_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_trent"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("serve"));
    let out = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--data-dir",
        "--addr",
        "--dev",
        "--log-format",
        "--account-id",
    ] {
        assert!(text.contains(flag), "{flag} missing from serve --help");
    }
}

/// The reader of the server's log going away (a log collector restarting) does not crash it:
/// log lines that cannot be written are dropped, and it still serves and stops cleanly.
#[tokio::test]
async fn survives_losing_its_log_reader() {
    let dir = tempfile::tempdir().unwrap();
    let Running {
        mut child,
        endpoint,
        log,
    } = start(dir.path());
    // The thread reading stderr stops at its next line, closing the pipe.
    drop(log);
    let kms = client(&endpoint, dir.path());
    for _ in 0..3 {
        kms.create_key().send().await.unwrap();
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "trent exited with {exit:?}");
}
