//! The Encryption SDK's AWS KMS keyring against a running Trent: `trent encrypt` / `trent
//! decrypt` with KMS wrapping keys (credentials from a shared credentials file, endpoint from
//! `AWS_ENDPOINT_URL_KMS`), strict and discovery decryption with filters, and messages exchanged
//! with the Python aws-encryption-sdk (boto3 pointed at Trent) and the official
//! `aws-encryption-cli` both ways.

use std::path::Path;
use std::process::{Command, Output};

use crate::cli::find_esdk_cli;
use crate::esdk::find_esdk_python;
use crate::harness::TestServer;

/// Runs `exe args` off the runtime's threads (the server runs on them) with a clean AWS
/// environment: Trent's endpoint, a credentials file, no credential variables.
async fn run(exe: &Path, args: Vec<String>, dir: &Path, endpoint: &str) -> Output {
    let mut cmd = Command::new(exe);
    cmd.args(&args).current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ENDPOINT_URL_KMS", endpoint)
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", dir);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn s(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn kms_wrapping_keys_with_trent_and_python() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    let kms = server.client();
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    let account = arn.split(':').nth(4).unwrap().to_owned();
    kms.create_alias()
        .alias_name("alias/esdk")
        .target_key_id(&arn)
        .send()
        .await
        .unwrap();
    let other = kms.create_key().send().await.unwrap();
    let other_arn = other.key_metadata().unwrap().arn().unwrap().to_string();

    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    std::fs::write(
        dir.join("credentials"),
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            server.access_key_id, server.secret_access_key
        ),
    )
    .unwrap();
    let plain: Vec<u8> = (0..30_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.join("plain"), &plain).unwrap();
    let trent = Path::new(env!("CARGO_BIN_EXE_trent"));
    let ep = server.endpoint.clone();

    // Encrypt under the alias and a second key; each key alone decrypts.
    let key_arn = format!("key={arn}");
    let out = run(
        trent,
        s(&[
            "encrypt",
            "-i",
            "plain",
            "-o",
            "m.enc",
            "-w",
            "key=alias/esdk",
            "-w",
            &format!("key={other_arn}"),
            "-c",
            "purpose=kms",
        ]),
        dir,
        &ep,
    )
    .await;
    ok(&out);
    for wrapping in [key_arn.clone(), format!("key={other_arn}")] {
        let out = run(
            trent,
            s(&[
                "decrypt",
                "-i",
                "m.enc",
                "-o",
                "m.out",
                "-w",
                &wrapping,
                "-c",
                "purpose=kms",
            ]),
            dir,
            &ep,
        )
        .await;
        ok(&out);
        assert_eq!(std::fs::read(dir.join("m.out")).unwrap(), plain);
    }
    // Discovery, with a matching filter, then with a filter that excludes the account.
    let filter = format!("discovery-account={account}");
    let out = run(
        trent,
        s(&[
            "decrypt",
            "-i",
            "m.enc",
            "-o",
            "d.out",
            "-w",
            "discovery=true",
            "discovery-partition=aws",
            &filter,
            "--metadata-output",
            "meta.json",
        ]),
        dir,
        &ep,
    )
    .await;
    ok(&out);
    assert_eq!(std::fs::read(dir.join("d.out")).unwrap(), plain);
    let meta = std::fs::read_to_string(dir.join("meta.json")).unwrap();
    assert!(meta.contains("aws-kms") && meta.contains(&arn), "{meta}");
    let out = run(
        trent,
        s(&[
            "decrypt",
            "-i",
            "m.enc",
            "-o",
            "x.out",
            "-w",
            "discovery=true",
            "discovery-partition=aws",
            "discovery-account=999999999999",
        ]),
        dir,
        &ep,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.join("x.out").exists());
    // A strict keyring for a key that did not wrap the message, and a wrong context (KMS
    // refuses the data key): exit 1.
    let third = kms.create_key().send().await.unwrap();
    let third_arn = third.key_metadata().unwrap().arn().unwrap().to_string();
    let out = run(
        trent,
        s(&[
            "decrypt",
            "-i",
            "m.enc",
            "-o",
            "x.out",
            "-w",
            &format!("key={third_arn}"),
        ]),
        dir,
        &ep,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    // Discovery cannot encrypt; a bad endpoint is reported.
    let out = run(
        trent,
        s(&[
            "encrypt",
            "-i",
            "plain",
            "-o",
            "x.enc",
            "-w",
            "discovery=true",
        ]),
        dir,
        &ep,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let out = run(
        trent,
        s(&[
            "encrypt",
            "-i",
            "plain",
            "-o",
            "x.enc",
            "-w",
            &key_arn,
            "endpoint=http://127.0.0.1:1",
        ]),
        dir,
        &ep,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NetworkError"));
    assert!(!dir.join("x.enc").exists());
    // Without credentials anywhere: a clear error.
    std::fs::rename(dir.join("credentials"), dir.join("credentials.off")).unwrap();
    let out = run(
        trent,
        s(&["encrypt", "-i", "plain", "-o", "x.enc", "-w", &key_arn]),
        dir,
        &ep,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no AWS credentials"));
    std::fs::rename(dir.join("credentials.off"), dir.join("credentials")).unwrap();

    // The Python SDK with boto3 pointed at Trent, both ways.
    let Some(python) = find_esdk_python().await else {
        server.stop().await;
        return;
    };
    std::fs::write(
        dir.join("kms.py"),
        r#"
import sys, aws_encryption_sdk
op, arn, src, dst = sys.argv[1:]
client = aws_encryption_sdk.EncryptionSDKClient()
provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[arn])
data = open(src, "rb").read()
if op == "encrypt":
    out, _ = client.encrypt(source=data, key_provider=provider, encryption_context={"from": "python"})
else:
    out, header = client.decrypt(source=data, key_provider=provider)
    assert header.encryption_context["purpose"] == "kms"
open(dst, "wb").write(out)
"#,
    )
    .unwrap();
    let out = run(
        &python,
        s(&["kms.py", "decrypt", &arn, "m.enc", "py.out"]),
        dir,
        &ep,
    )
    .await;
    ok(&out);
    assert_eq!(std::fs::read(dir.join("py.out")).unwrap(), plain);
    let out = run(
        &python,
        s(&["kms.py", "encrypt", &arn, "plain", "py.enc"]),
        dir,
        &ep,
    )
    .await;
    ok(&out);
    let out = run(
        trent,
        s(&[
            "decrypt",
            "-i",
            "py.enc",
            "-o",
            "py.dec",
            "-w",
            &key_arn,
            "-c",
            "from=python",
        ]),
        dir,
        &ep,
    )
    .await;
    ok(&out);
    assert_eq!(std::fs::read(dir.join("py.dec")).unwrap(), plain);
    server.stop().await;
}

/// The official `aws-encryption-cli` (botocore pointed at Trent by `AWS_ENDPOINT_URL_KMS`)
/// and `trent encrypt` / `trent decrypt` read each other's messages: signed and unsigned suites,
/// one frame, several frames and an empty file, files and standard input/output.
#[tokio::test]
async fn official_encryption_cli_and_trent_both_ways() {
    let Some(esdk_cli) = find_esdk_cli().await else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    let kms = server.client();
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    std::fs::write(
        dir.join("credentials"),
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            server.access_key_id, server.secret_access_key
        ),
    )
    .unwrap();
    let trent = Path::new(env!("CARGO_BIN_EXE_trent"));
    let ep = server.endpoint.clone();
    let wrapping = format!("key={arn}");

    // (file name, size, frame length, official CLI suite name)
    let cases = [
        (
            "empty",
            0usize,
            "4096",
            "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
        ),
        (
            "one-frame",
            4096,
            "4096",
            "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
        ),
        (
            "frames",
            100_001,
            "1024",
            "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
        ),
        (
            "frames-unsigned",
            65_536,
            "512",
            "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
        ),
    ];
    for (name, len, frame, suite) in cases {
        let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(dir.join(name), &plain).unwrap();

        // Official CLI encrypts, Trent decrypts (requiring the context it stored).
        let enc = format!("{name}.cli.enc");
        let out = run(
            &esdk_cli,
            s(&[
                "--encrypt",
                "-i",
                name,
                "-o",
                &enc,
                "-w",
                &wrapping,
                "-c",
                "made-by=cli",
                "--frame-length",
                frame,
                "--algorithm",
                suite,
                "-S",
            ]),
            dir,
            &ep,
        )
        .await;
        ok(&out);
        let dec = format!("{name}.trent.dec");
        let out = run(
            trent,
            s(&[
                "decrypt",
                "-i",
                &enc,
                "-o",
                &dec,
                "-w",
                &wrapping,
                "-c",
                "made-by=cli",
            ]),
            dir,
            &ep,
        )
        .await;
        ok(&out);
        assert_eq!(std::fs::read(dir.join(&dec)).unwrap(), plain, "{name}");
        // A context the message does not hold is refused.
        let out = run(
            trent,
            s(&[
                "decrypt",
                "-i",
                &enc,
                "-o",
                "x",
                "-w",
                &wrapping,
                "-c",
                "made-by=trent",
            ]),
            dir,
            &ep,
        )
        .await;
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(!dir.join("x").exists());

        // Trent encrypts, the official CLI decrypts and reports the stored context.
        let enc = format!("{name}.trent.enc");
        let algorithm = if suite.ends_with("ECDSA_P384") {
            "0x0578"
        } else {
            "0x0478"
        };
        let out = run(
            trent,
            s(&[
                "encrypt",
                "-i",
                name,
                "-o",
                &enc,
                "-w",
                &wrapping,
                "-c",
                "made-by=trent",
                "--frame-length",
                frame,
                "--algorithm",
                algorithm,
            ]),
            dir,
            &ep,
        )
        .await;
        ok(&out);
        let dec = format!("{name}.cli.dec");
        let meta = format!("{name}.meta.json");
        let out = run(
            &esdk_cli,
            s(&[
                "--decrypt",
                "-i",
                &enc,
                "-o",
                &dec,
                "-w",
                &wrapping,
                "--metadata-output",
                &meta,
            ]),
            dir,
            &ep,
        )
        .await;
        ok(&out);
        assert_eq!(std::fs::read(dir.join(&dec)).unwrap(), plain, "{name}");
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(&meta)).unwrap()).unwrap();
        assert_eq!(
            meta["header"]["encryption_context"]["made-by"], "trent",
            "{meta}"
        );
        assert_eq!(
            meta["header"]["frame_length"],
            frame.parse::<u64>().unwrap(),
            "{meta}"
        );
    }

    // Standard input to standard output, through a shell pipe both ways.
    let pipe = format!(
        "set -e -o pipefail; \
         '{cli}' -e -i frames -o - -w {wrapping} -S | '{trent}' decrypt -i - -o - -w {wrapping} > pipe1; \
         '{trent}' encrypt -i frames -o - -w {wrapping} | '{cli}' -d -i - -o - -w {wrapping} -S > pipe2",
        cli = esdk_cli.display(),
        trent = trent.display(),
    );
    let out = run(Path::new("bash"), s(&["-c", &pipe]), dir, &ep).await;
    ok(&out);
    let frames = std::fs::read(dir.join("frames")).unwrap();
    assert_eq!(std::fs::read(dir.join("pipe1")).unwrap(), frames);
    assert_eq!(std::fs::read(dir.join("pipe2")).unwrap(), frames);
    server.stop().await;
}

/// A TCP proxy in front of the server that counts `GenerateDataKey` requests passing through.
async fn counting_proxy(
    target: std::net::SocketAddr,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let server = tokio::net::TcpStream::connect(target).await.unwrap();
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async move {
                    let needle = b"TrentService.GenerateDataKey\r";
                    let mut tail: Vec<u8> = Vec::new();
                    let mut buf = vec![0u8; 1 << 16];
                    loop {
                        let n = cr.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        tail.extend_from_slice(&buf[..n]);
                        let hits = tail.windows(needle.len()).filter(|w| w == needle).count();
                        counter.fetch_add(hits, Ordering::SeqCst);
                        let keep = tail.len().min(needle.len() - 1);
                        tail.drain(..tail.len() - keep);
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                };
                tokio::join!(up, down);
            });
        }
    });
    (format!("http://{addr}"), count)
}

#[tokio::test]
async fn the_caching_materials_manager_saves_generate_data_key_calls() {
    use std::sync::atomic::Ordering;
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    let kms = server.client();
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    let (endpoint, count) = counting_proxy(server.addr).await;

    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    std::fs::write(
        dir.join("credentials"),
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            server.access_key_id, server.secret_access_key
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.join("in")).unwrap();
    for i in 0..5 {
        std::fs::write(dir.join(format!("in/f{i}")), vec![i as u8; 100]).unwrap();
    }
    let trent = Path::new(env!("CARGO_BIN_EXE_trent"));
    let key_arg = format!("key={arn}");
    let encrypt = |out: &str, caching: &[&str]| {
        let mut a = s(&["encrypt", "-r", "-i", "in", "-o", out, "-w", &key_arg]);
        if !caching.is_empty() {
            a.push("--caching".into());
            a.extend(s(caching));
        }
        a
    };
    // Without caching: one GenerateDataKey per file.
    ok(&run(trent, encrypt("plain", &[]), dir, &endpoint).await);
    assert_eq!(count.swap(0, Ordering::SeqCst), 5);
    // Two messages per data key: 3 calls for 5 files.
    let caching = ["capacity=10", "max_age=300", "max_messages_encrypted=2"];
    ok(&run(trent, encrypt("cached", &caching), dir, &endpoint).await);
    assert_eq!(count.swap(0, Ordering::SeqCst), 3);
    // A byte limit of 250: two 100-byte files per data key, again 3 calls.
    let caching = ["capacity=10", "max_age=300", "max_bytes_encrypted=250"];
    ok(&run(trent, encrypt("bytes", &caching), dir, &endpoint).await);
    assert_eq!(count.swap(0, Ordering::SeqCst), 3);
    // Within every limit: one call.
    let caching = ["capacity=1", "max_age=300", "partition=p"];
    ok(&run(trent, encrypt("once", &caching), dir, &endpoint).await);
    assert_eq!(count.swap(0, Ordering::SeqCst), 1);
    // Every file still decrypts (it calls Decrypt, not GenerateDataKey).
    let out = run(
        trent,
        s(&["decrypt", "-r", "-i", "once", "-o", "back", "-w", &key_arg]),
        dir,
        &endpoint,
    )
    .await;
    ok(&out);
    for i in 0..5 {
        let back = std::fs::read(dir.join(format!("back/f{i}.encrypted.decrypted"))).unwrap();
        assert_eq!(back, vec![i as u8; 100]);
    }
    assert_eq!(count.load(Ordering::SeqCst), 0);
    // Bad caching settings are usage errors.
    for bad in [
        &["max_age=300"][..],
        &["capacity=1"],
        &["capacity=1", "max_age=0"],
        &["capacity=1", "max_age=1", "x=1"],
    ] {
        let out = run(trent, encrypt("bad", bad), dir, &endpoint).await;
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    server.stop().await;
}
