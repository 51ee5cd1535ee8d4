//! KMS through the real `aws` CLI (v1, botocore) and boto3, run as subprocesses.
//!
//! Finding the clients: `TRENT_TEST_AWS_CLI` (the `aws` executable, else `aws` on PATH) and
//! `TRENT_TEST_PYTHON` (a python with boto3, else `python3` on PATH if it imports boto3). A
//! missing client skips the test with a note on stderr, unless `TRENT_REQUIRE_CLIENTS=1`, which
//! turns the skip into a failure (CI sets it).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;

use crate::asymmetric::Openssl;
use crate::harness::TestServer;

// ---------------------------------------------------------------------------------------------
// Finding the clients

/// The client named by `var`, else `fallback` if `probe` runs successfully with it. When there
/// is none: a failure under `TRENT_REQUIRE_CLIENTS=1`, else a note on stderr and `None`.
async fn find_client(var: &str, fallback: &str, probe: &[&str], missing: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let mut cmd = Command::new(fallback);
    cmd.args(probe);
    let found = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(PathBuf::from(fallback));
    }
    if std::env::var("TRENT_REQUIRE_CLIENTS").is_ok_and(|v| v == "1") {
        panic!("TRENT_REQUIRE_CLIENTS=1 but {missing}");
    }
    eprintln!("skipping: {missing}");
    None
}

/// The `aws` CLI: `TRENT_TEST_AWS_CLI`, else `aws` on PATH.
pub(crate) async fn find_aws() -> Option<PathBuf> {
    let missing = "no aws CLI: set TRENT_TEST_AWS_CLI or put `aws` on PATH";
    find_client("TRENT_TEST_AWS_CLI", "aws", &["--version"], missing).await
}

/// The official `aws-encryption-cli` (PyPI `aws-encryption-sdk-cli`): `TRENT_TEST_ESDK_CLI`,
/// else `aws-encryption-cli` on PATH.
pub(crate) async fn find_esdk_cli() -> Option<PathBuf> {
    let missing =
        "no aws-encryption-cli: set TRENT_TEST_ESDK_CLI or put `aws-encryption-cli` on PATH";
    find_client(
        "TRENT_TEST_ESDK_CLI",
        "aws-encryption-cli",
        &["--version"],
        missing,
    )
    .await
}

/// A python with boto3: `TRENT_TEST_PYTHON`, else `python3` on PATH if it imports boto3.
pub(crate) async fn find_python() -> Option<PathBuf> {
    let missing = "no boto3: set TRENT_TEST_PYTHON or make `python3 -c 'import boto3'` work";
    find_client(
        "TRENT_TEST_PYTHON",
        "python3",
        &["-c", "import boto3"],
        missing,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Running them

/// How to run one client against one server: the executable and its whole AWS environment.
/// It runs in `scratch`, so `fileb://name` names a file written with [`Client::fileb`].
pub(crate) struct Client {
    exe: PathBuf,
    scratch: PathBuf,
    env: Vec<(String, String)>,
}

impl Client {
    /// The server's root credentials, passed as environment variables.
    pub(crate) fn new(exe: &Path, server: &TestServer, scratch: &Path) -> Client {
        Self::with_keys(
            exe,
            server,
            scratch,
            &server.access_key_id,
            &server.secret_access_key,
        )
    }

    pub(crate) fn with_keys(
        exe: &Path,
        server: &TestServer,
        scratch: &Path,
        key: &str,
        secret: &str,
    ) -> Client {
        Self::for_endpoint(exe, &server.endpoint, scratch, key, secret)
    }

    /// A client of the server at `endpoint` (which may be `https://`).
    pub(crate) fn for_endpoint(
        exe: &Path,
        endpoint: &str,
        scratch: &Path,
        key: &str,
        secret: &str,
    ) -> Client {
        let mut c = Self::without_keys(exe, endpoint, scratch);
        c.set_env("AWS_ACCESS_KEY_ID", key);
        c.set_env("AWS_SECRET_ACCESS_KEY", secret);
        c
    }

    /// Endpoint and region only; the config and shared-credentials files point nowhere.
    fn without_keys(exe: &Path, endpoint: &str, scratch: &Path) -> Client {
        let nowhere = |name: &str| scratch.join(name).to_string_lossy().into_owned();
        let env = [
            ("AWS_ENDPOINT_URL", endpoint.to_string()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_CONFIG_FILE", nowhere("no-such-config")),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                nowhere("no-such-credentials"),
            ),
            ("AWS_PAGER", String::new()),
            ("AWS_RETRY_MODE", "standard".into()),
            ("AWS_MAX_ATTEMPTS", "1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ];
        Client {
            exe: exe.to_path_buf(),
            scratch: scratch.to_path_buf(),
            env: env.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        }
    }

    pub(crate) fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.into(), value.into()));
    }

    /// Runs the executable off the runtime's threads: `Ok(stdout)` on exit 0, else
    /// `Err((exit code, stderr))`. None of the caller's own `AWS_*` variables leak through.
    pub(crate) async fn exec(&self, args: Vec<String>) -> Result<String, (i32, String)> {
        let mut cmd = Command::new(&self.exe);
        cmd.args(&args).current_dir(&self.scratch);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(name);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap();
        let out = out.unwrap_or_else(|e| panic!("cannot run {}: {e}", self.exe.display()));
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            Err((out.status.code().unwrap_or(-1), stderr))
        }
    }

    /// `aws <cmd>`, the command split at whitespace (so no argument may contain any).
    async fn raw(&self, cmd: &str) -> Result<String, (i32, String)> {
        self.exec(cmd.split_whitespace().map(str::to_string).collect())
            .await
    }

    /// `aws <cmd> --output json`: the parsed output (`Null` when the command prints nothing).
    pub(crate) async fn aws(&self, cmd: &str) -> Result<Value, (i32, String)> {
        let stdout = self.raw(&format!("{cmd} --output json")).await?;
        if stdout.trim().is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("aws {cmd}: {e}: {stdout}")))
    }

    /// `aws <cmd>` that must succeed.
    pub(crate) async fn ok(&self, cmd: &str) -> Value {
        match self.aws(cmd).await {
            Ok(v) => v,
            Err((status, stderr)) => panic!("aws {cmd} exited {status}: {stderr}"),
        }
    }

    /// `aws <cmd>` that must fail with the service error `code`; returns stderr.
    pub(crate) async fn fails(&self, cmd: &str, code: &str) -> String {
        match self.aws(cmd).await {
            Ok(v) => panic!("aws {cmd} succeeded, wanted {code}: {v}"),
            Err((status, stderr)) => {
                // The service answered (CLI v1 exits 255 on a service error, v2 254), with
                // this code.
                assert!(
                    status == 255 || status == 254,
                    "aws {cmd} exited {status}: {stderr}"
                );
                assert!(
                    stderr.contains(&format!("({code}) when calling the")),
                    "aws {cmd} exited {status}, wanted {code}: {stderr}"
                );
                stderr
            }
        }
    }

    /// Writes `bytes` to a scratch file; returns its `fileb://` form.
    pub(crate) fn fileb(&self, name: &str, bytes: &[u8]) -> String {
        std::fs::write(self.scratch.join(name), bytes).unwrap();
        format!("fileb://{name}")
    }
}

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A base64 blob field of CLI JSON output, decoded.
pub(crate) fn blob(v: &Value, field: &str) -> Vec<u8> {
    b64(v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {v}")))
}

pub(crate) fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

/// A tempdir for a data directory, another for the client's files.
pub(crate) fn dirs() -> (tempfile::TempDir, tempfile::TempDir) {
    (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap())
}

// ---------------------------------------------------------------------------------------------
// The aws CLI

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_alias_encrypt_decrypt_with_context() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());

    let key = cli.ok("kms create-key --description from-the-cli").await;
    let id = text(&key, "/KeyMetadata/KeyId").to_string();
    let arn = text(&key, "/KeyMetadata/Arn").to_string();
    assert_eq!(arn, format!("arn:aws:kms:us-east-1:000000000000:key/{id}"));
    assert_eq!(text(&key, "/KeyMetadata/Description"), "from-the-cli");
    assert_eq!(text(&key, "/KeyMetadata/KeyState"), "Enabled");
    let created = cli
        .ok(&format!(
            "kms create-alias --alias-name alias/cli --target-key-id {id}"
        ))
        .await;
    assert_eq!(created, Value::Null, "CreateAlias has no output");

    // With a context, through the alias.
    let plaintext = b"attack at dawn\x00\xff, binary too";
    let input = cli.fileb("plain.bin", plaintext);
    let enc = cli
        .ok(&format!(
            "kms encrypt --key-id alias/cli --plaintext {input} --encryption-context app=web"
        ))
        .await;
    assert_eq!(text(&enc, "/KeyId"), arn);
    assert_eq!(text(&enc, "/EncryptionAlgorithm"), "SYMMETRIC_DEFAULT");
    let sealed = blob(&enc, "CiphertextBlob");
    assert!(
        sealed.len() > plaintext.len() && sealed.len() <= 6144,
        "{}",
        sealed.len()
    );
    let sealed = cli.fileb("sealed.bin", &sealed);
    let dec = cli
        .ok(&format!(
            "kms decrypt --ciphertext-blob {sealed} --encryption-context app=web"
        ))
        .await;
    assert_eq!(blob(&dec, "Plaintext"), plaintext);
    assert_eq!(text(&dec, "/KeyId"), arn);

    // The context must match exactly.
    let decrypt = format!("kms decrypt --ciphertext-blob {sealed}");
    cli.fails(&decrypt, "InvalidCiphertextException").await;
    for wrong in ["app=api", "App=web", "app=web,env=prod"] {
        let cmd = format!("{decrypt} --encryption-context {wrong}");
        cli.fails(&cmd, "InvalidCiphertextException").await;
    }

    // Without a context, by key id; then a context where there was none is wrong too.
    let enc = cli
        .ok(&format!("kms encrypt --key-id {id} --plaintext {input}"))
        .await;
    let bare = cli.fileb("bare.bin", &blob(&enc, "CiphertextBlob"));
    let dec = cli
        .ok(&format!("kms decrypt --ciphertext-blob {bare}"))
        .await;
    assert_eq!(blob(&dec, "Plaintext"), plaintext);
    let cmd = format!("kms decrypt --ciphertext-blob {bare} --encryption-context app=web");
    cli.fails(&cmd, "InvalidCiphertextException").await;

    let d = cli.ok("kms describe-key --key-id alias/cli").await;
    assert_eq!(text(&d, "/KeyMetadata/KeyId"), id);
    assert_eq!(text(&d, "/KeyMetadata/KeyState"), "Enabled");
    assert_eq!(d["KeyMetadata"]["Enabled"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_disable_enable_and_deletion() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());
    let key = cli.ok("kms create-key").await;
    let id = text(&key, "/KeyMetadata/KeyId").to_string();
    let arn = text(&key, "/KeyMetadata/Arn").to_string();
    let encrypt = format!(
        "kms encrypt --key-id {id} --plaintext {}",
        cli.fileb("p.bin", b"p")
    );
    let describe = format!("kms describe-key --key-id {id}");
    let state = |v: &Value| text(v, "/KeyMetadata/KeyState").to_string();

    cli.ok(&encrypt).await;
    assert_eq!(
        cli.ok(&format!("kms disable-key --key-id {id}")).await,
        Value::Null
    );
    let stderr = cli.fails(&encrypt, "DisabledException").await;
    assert!(stderr.contains(&format!("{arn} is disabled.")), "{stderr}");
    assert_eq!(state(&cli.ok(&describe).await), "Disabled");
    cli.ok(&format!("kms enable-key --key-id {id}")).await;
    cli.ok(&encrypt).await;
    assert_eq!(state(&cli.ok(&describe).await), "Enabled");

    let s = cli
        .ok(&format!(
            "kms schedule-key-deletion --key-id {id} --pending-window-in-days 7"
        ))
        .await;
    assert_eq!(text(&s, "/KeyId"), arn);
    assert_eq!(text(&s, "/KeyState"), "PendingDeletion");
    assert_eq!(s["PendingWindowInDays"], 7);
    assert!(s.get("DeletionDate").is_some(), "{s}");
    let d = cli.ok(&describe).await;
    assert_eq!(state(&d), "PendingDeletion");
    assert_eq!(d["KeyMetadata"]["PendingDeletionWindowInDays"], 7);
    let stderr = cli.fails(&encrypt, "KMSInvalidStateException").await;
    assert!(
        stderr.contains(&format!("{arn} is pending deletion.")),
        "{stderr}"
    );

    let c = cli
        .ok(&format!("kms cancel-key-deletion --key-id {id}"))
        .await;
    assert_eq!(text(&c, "/KeyId"), arn);
    let d = cli.ok(&describe).await;
    assert_eq!(
        state(&d),
        "Disabled",
        "cancelling leaves the key disabled, as in AWS"
    );
    assert!(d["KeyMetadata"].get("DeletionDate").is_none(), "{d}");
    cli.fails(&encrypt, "DisabledException").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_tags_round_trip() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());
    let key = cli.ok("kms create-key").await;
    let id = text(&key, "/KeyMetadata/KeyId").to_string();
    let list = format!("kms list-resource-tags --key-id {id}");
    let tags = |v: &Value| {
        let mut got: Vec<String> = v["Tags"]
            .as_array()
            .unwrap_or_else(|| panic!("no Tags in {v}"))
            .iter()
            .map(|t| format!("{}={}", text(t, "/TagKey"), text(t, "/TagValue")))
            .collect();
        got.sort();
        got
    };

    assert!(tags(&cli.ok(&list).await).is_empty());
    let tagged = cli
        .ok(&format!(
            "kms tag-resource --key-id {id} --tags TagKey=env,TagValue=prod TagKey=team,TagValue=payments"
        ))
        .await;
    assert_eq!(tagged, Value::Null);
    assert_eq!(tags(&cli.ok(&list).await), ["env=prod", "team=payments"]);
    // Tagging a key that is already there replaces its value.
    cli.ok(&format!(
        "kms tag-resource --key-id {id} --tags TagKey=team,TagValue=billing"
    ))
    .await;
    assert_eq!(tags(&cli.ok(&list).await), ["env=prod", "team=billing"]);
    cli.ok(&format!("kms untag-resource --key-id {id} --tag-keys team"))
        .await;
    assert_eq!(tags(&cli.ok(&list).await), ["env=prod"]);
    let cmd = format!("kms tag-resource --key-id {id} --tags TagKey=aws:x,TagValue=y");
    cli.fails(&cmd, "TagException").await;
    assert_eq!(tags(&cli.ok(&list).await), ["env=prod"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_list_keys_pagination() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let kms = server.client();
    let mut created = Vec::new();
    for _ in 0..150 {
        let k = kms.create_key().send().await.unwrap();
        created.push(k.key_metadata().unwrap().key_id().to_string());
    }
    let cli = Client::new(&aws, &server, scratch.path());
    let ids = |v: &Value| -> Vec<String> {
        v["Keys"]
            .as_array()
            .unwrap_or_else(|| panic!("no Keys in {v}"))
            .iter()
            .map(|k| text(k, "/KeyId").to_string())
            .collect()
    };

    // The CLI follows the markers itself, in pages of 40.
    let all = cli.ok("kms list-keys --page-size 40").await;
    assert!(all.get("NextToken").is_none(), "{all}");
    assert_eq!(ids(&all), created, "every key once, in creation order");

    // --max-items: the CLI's own tokens (which wrap the server's marker), resumed with
    // --starting-token. Once with the server's default page size (100: the CLI resumes inside a
    // server page) and once with pages of 40 (resuming exactly on a marker).
    for paging in ["", "--page-size 40"] {
        let mut seen: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        let mut calls = 0;
        loop {
            let mut cmd = format!("kms list-keys --max-items 40 {paging}");
            if let Some(t) = &token {
                cmd.push_str(&format!(" --starting-token {t}"));
            }
            let page = cli.ok(&cmd).await;
            calls += 1;
            let got = ids(&page);
            assert!(
                !got.is_empty() && got.len() <= 40,
                "{paging:?}: {} keys",
                got.len()
            );
            seen.extend(got);
            match page.get("NextToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
            assert!(calls < 10, "{paging:?}: the pages do not end");
        }
        assert_eq!(calls, 4, "{paging:?}: 40 + 40 + 40 + 30");
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), 150, "{paging:?}: no duplicates");
        assert_eq!(seen, created, "{paging:?}: none missing, in creation order");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_decrypts_after_restart() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());
    let key = cli.ok("kms create-key").await;
    let id = text(&key, "/KeyMetadata/KeyId").to_string();
    cli.ok(&format!(
        "kms create-alias --alias-name alias/durable --target-key-id {id}"
    ))
    .await;
    let input = cli.fileb("plain.bin", b"still here after a restart");
    let enc = cli
        .ok(&format!(
            "kms encrypt --key-id alias/durable --plaintext {input} --encryption-context app=web"
        ))
        .await;
    let sealed = cli.fileb("sealed.bin", &blob(&enc, "CiphertextBlob"));
    let (key_id, secret) = (
        server.access_key_id.clone(),
        server.secret_access_key.clone(),
    );
    server.stop().await;

    let server = TestServer::start(data.path()).await;
    // The credentials from before the restart, at the new address.
    let cli = Client::with_keys(&aws, &server, scratch.path(), &key_id, &secret);
    let dec = cli
        .ok(&format!(
            "kms decrypt --ciphertext-blob {sealed} --encryption-context app=web"
        ))
        .await;
    assert_eq!(blob(&dec, "Plaintext"), b"still here after a restart");
    assert_eq!(text(&dec, "/KeyId"), text(&key, "/KeyMetadata/Arn"));
    let d = cli.ok("kms describe-key --key-id alias/durable").await;
    assert_eq!(text(&d, "/KeyMetadata/KeyId"), id);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_authentication_failures() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let dir = scratch.path();
    let list = "kms list-keys";

    // The right credentials work, so the failures below are about the credentials.
    let good = Client::new(&aws, &server, dir);
    assert_eq!(good.ok(list).await["Keys"], serde_json::json!([]));

    // A known access key with the wrong secret.
    let wrong_secret = Client::with_keys(&aws, &server, dir, &server.access_key_id, "not-it");
    let stderr = wrong_secret.fails(list, "InvalidSignatureException").await;
    assert!(
        !stderr.contains(&server.secret_access_key),
        "the secret leaked: {stderr}"
    );

    // An access key Trent never issued.
    let stranger = Client::with_keys(&aws, &server, dir, "AKIAIOSFODNN7EXAMPLE", "whatever");
    stranger.fails(list, "UnrecognizedClientException").await;

    // The CLI signs with the real time; 20 minutes of skew is outside the 15-minute window.
    // botocore does not correct for skew, and with AWS_MAX_ATTEMPTS=1 it does not retry.
    server.clock.advance_ms(20 * 60 * 1000);
    let stderr = good.fails(list, "InvalidSignatureException").await;
    assert!(stderr.contains("Signature expired"), "{stderr}");
    server.clock.advance_ms(-40 * 60 * 1000);
    let stderr = good.fails(list, "InvalidSignatureException").await;
    assert!(stderr.contains("Signature not yet current"), "{stderr}");
    // Back in sync, the same client is accepted again.
    server.clock.advance_ms(20 * 60 * 1000);
    good.ok(list).await;
    server.stop().await;
}

/// The README's tour, command for command, with the credentials file Trent writes rather than
/// keys in the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_readme_tour_with_the_credentials_file() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let mut cli = Client::without_keys(&aws, &server.endpoint, scratch.path());
    let creds = server.data_dir.join("root-credentials");
    cli.set_env("AWS_SHARED_CREDENTIALS_FILE", &creds.to_string_lossy());
    cli.set_env("AWS_PROFILE", "trent");
    let text_of = |r: Result<String, (i32, String)>| match r {
        Ok(out) => out.trim().to_string(),
        Err((status, stderr)) => panic!("exited {status}: {stderr}"),
    };

    let key = text_of(
        cli.raw("kms create-key --description demo --query KeyMetadata.KeyId --output text")
            .await,
    );
    assert_eq!(key.len(), 36, "a key id: {key}");
    cli.ok(&format!(
        "kms create-alias --alias-name alias/demo --target-key-id {key}"
    ))
    .await;

    cli.fileb("secret.txt", b"the launch codes");
    let sealed = text_of(
        cli.raw(
            "kms encrypt --key-id alias/demo --plaintext fileb://secret.txt \
             --encryption-context app=web --query CiphertextBlob --output text",
        )
        .await,
    );
    cli.fileb("secret.blob", &b64(&sealed));
    let opened = text_of(
        cli.raw(
            "kms decrypt --ciphertext-blob fileb://secret.blob --encryption-context app=web \
             --query Plaintext --output text",
        )
        .await,
    );
    assert_eq!(b64(&opened), b"the launch codes");
    cli.fails(
        "kms decrypt --ciphertext-blob fileb://secret.blob",
        "InvalidCiphertextException",
    )
    .await;

    let dk = cli
        .ok("kms generate-data-key --key-id alias/demo --key-spec AES_256")
        .await;
    assert_eq!(blob(&dk, "Plaintext").len(), 32);
    assert_eq!(
        text(&dk, "/KeyId"),
        format!("arn:aws:kms:us-east-1:000000000000:key/{key}")
    );
    let s = cli
        .ok(&format!(
            "kms schedule-key-deletion --key-id {key} --pending-window-in-days 7"
        ))
        .await;
    assert_eq!(text(&s, "/KeyState"), "PendingDeletion");
    cli.ok(&format!("kms cancel-key-deletion --key-id {key}"))
        .await;
    let d = cli.ok("kms describe-key --key-id alias/demo").await;
    assert_eq!(
        text(&d, "/KeyMetadata/KeyState"),
        "Disabled",
        "the key comes back Disabled"
    );

    // The profile is what authenticated: with another one the CLI has no credentials at all.
    cli.set_env("AWS_PROFILE", "default");
    let (_, stderr) = cli.aws("kms list-keys").await.unwrap_err();
    assert!(
        !stderr.contains("when calling the"),
        "reached the server: {stderr}"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The aws CLI with asymmetric, HMAC and rotating keys

/// A JSON array of strings, as a Vec.
fn strings(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no array at {pointer} in {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_ecc_sign_verify_checked_by_openssl() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());
    let ossl = Openssl::new();

    let key = cli
        .ok("kms create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY")
        .await;
    let id = text(&key, "/KeyMetadata/KeyId").to_string();
    let arn = text(&key, "/KeyMetadata/Arn").to_string();
    assert_eq!(text(&key, "/KeyMetadata/KeySpec"), "ECC_NIST_P256");
    assert_eq!(text(&key, "/KeyMetadata/KeyUsage"), "SIGN_VERIFY");
    assert_eq!(
        strings(&key, "/KeyMetadata/SigningAlgorithms"),
        ["ECDSA_SHA_256"]
    );
    assert!(
        key["KeyMetadata"].get("EncryptionAlgorithms").is_none(),
        "{key}"
    );

    let public = cli.ok(&format!("kms get-public-key --key-id {id}")).await;
    assert_eq!(text(&public, "/KeyId"), arn);
    assert_eq!(text(&public, "/KeySpec"), "ECC_NIST_P256");
    assert_eq!(text(&public, "/KeyUsage"), "SIGN_VERIFY");
    assert_eq!(strings(&public, "/SigningAlgorithms"), ["ECDSA_SHA_256"]);
    let spki = blob(&public, "PublicKey");
    assert!(ossl.describe_public(&spki).contains("NIST CURVE: P-256"));

    let message = b"signed through the aws CLI\x00\xff".as_slice();
    let msg = cli.fileb("message.bin", message);
    let signed = cli
        .ok(&format!(
            "kms sign --key-id {id} --message {msg} --message-type RAW \
             --signing-algorithm ECDSA_SHA_256"
        ))
        .await;
    assert_eq!(text(&signed, "/KeyId"), arn);
    assert_eq!(text(&signed, "/SigningAlgorithm"), "ECDSA_SHA_256");
    let signature = blob(&signed, "Signature");
    if let Err(e) = ossl.verify(&spki, "ECDSA_SHA_256", message, None, &signature) {
        panic!("openssl rejects the CLI's signature: {e}");
    }
    let sig = cli.fileb("signature.bin", &signature);
    let verified = cli
        .ok(&format!(
            "kms verify --key-id {id} --message {msg} --signature {sig} \
             --signing-algorithm ECDSA_SHA_256"
        ))
        .await;
    assert_eq!(verified["SignatureValid"], true);
    assert_eq!(text(&verified, "/KeyId"), arn);

    // DIGEST: the SHA-256 of the message, computed here.
    let digest = cli.fileb("digest.bin", &trent_crypto::sha256(message));
    let signed = cli
        .ok(&format!(
            "kms sign --key-id {id} --message {digest} --message-type DIGEST \
             --signing-algorithm ECDSA_SHA_256"
        ))
        .await;
    let digest_signature = blob(&signed, "Signature");
    if let Err(e) = ossl.verify(&spki, "ECDSA_SHA_256", message, None, &digest_signature) {
        panic!("openssl rejects the DIGEST signature: {e}");
    }
    let dsig = cli.fileb("digest-signature.bin", &digest_signature);
    for (input, kind, signature) in [
        (&digest, "DIGEST", &dsig),
        (&msg, "RAW", &dsig),
        (&digest, "DIGEST", &sig),
    ] {
        let v = cli
            .ok(&format!(
                "kms verify --key-id {id} --message {input} --message-type {kind} \
                 --signature {signature} --signing-algorithm ECDSA_SHA_256"
            ))
            .await;
        assert_eq!(v["SignatureValid"], true, "{input} {kind} {signature}");
    }

    // Another message, a digest of the wrong length, an algorithm the key does not have.
    let other = cli.fileb("other.bin", b"not what was signed");
    cli.fails(
        &format!(
            "kms verify --key-id {id} --message {other} --signature {sig} \
             --signing-algorithm ECDSA_SHA_256"
        ),
        "KMSInvalidSignatureException",
    )
    .await;
    cli.fails(
        &format!(
            "kms sign --key-id {id} --message {msg} --message-type DIGEST \
             --signing-algorithm ECDSA_SHA_256"
        ),
        "ValidationException",
    )
    .await;
    cli.fails(
        &format!("kms sign --key-id {id} --message {msg} --signing-algorithm ECDSA_SHA_384"),
        "InvalidKeyUsageException",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_rsa_encrypt_decrypt() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());
    let ossl = Openssl::new();

    let key = cli
        .ok("kms create-key --key-spec RSA_2048 --key-usage ENCRYPT_DECRYPT")
        .await;
    let id = text(&key, "/KeyMetadata/KeyId").to_string();
    let arn = text(&key, "/KeyMetadata/Arn").to_string();
    assert_eq!(
        strings(&key, "/KeyMetadata/EncryptionAlgorithms"),
        ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    );
    let plain = cli.fileb("plain.bin", b"for the RSA key\x00\xff");
    let enc = cli
        .ok(&format!(
            "kms encrypt --key-id {id} --plaintext {plain} \
             --encryption-algorithm RSAES_OAEP_SHA_256"
        ))
        .await;
    assert_eq!(text(&enc, "/KeyId"), arn);
    assert_eq!(text(&enc, "/EncryptionAlgorithm"), "RSAES_OAEP_SHA_256");
    let ciphertext = blob(&enc, "CiphertextBlob");
    assert_eq!(ciphertext.len(), 256);
    let sealed = cli.fileb("sealed.bin", &ciphertext);
    let decrypt = format!(
        "kms decrypt --key-id {id} --ciphertext-blob {sealed} \
         --encryption-algorithm RSAES_OAEP_SHA_256"
    );
    let dec = cli.ok(&decrypt).await;
    assert_eq!(blob(&dec, "Plaintext"), b"for the RSA key\x00\xff");
    assert_eq!(text(&dec, "/KeyId"), arn);
    assert_eq!(text(&dec, "/EncryptionAlgorithm"), "RSAES_OAEP_SHA_256");

    // Made off-line from get-public-key, with SHA-1 this time.
    let public = cli.ok(&format!("kms get-public-key --key-id {id}")).await;
    assert_eq!(
        strings(&public, "/EncryptionAlgorithms"),
        ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    );
    let offline = ossl.oaep_encrypt(
        &blob(&public, "PublicKey"),
        "RSAES_OAEP_SHA_1",
        b"made by openssl",
    );
    let offline = cli.fileb("offline.bin", &offline);
    let dec = cli
        .ok(&format!(
            "kms decrypt --key-id {arn} --ciphertext-blob {offline} \
             --encryption-algorithm RSAES_OAEP_SHA_1"
        ))
        .await;
    assert_eq!(blob(&dec, "Plaintext"), b"made by openssl");

    // Without the key, or the algorithm, or with a context.
    cli.fails(
        &format!(
            "kms decrypt --ciphertext-blob {sealed} --encryption-algorithm RSAES_OAEP_SHA_256"
        ),
        "InvalidCiphertextException",
    )
    .await;
    cli.fails(
        &format!("kms encrypt --key-id {id} --plaintext {plain}"),
        "InvalidKeyUsageException",
    )
    .await;
    cli.fails(
        &format!("{decrypt} --encryption-context app=web"),
        "ValidationException",
    )
    .await;
    let long = cli.fileb("long.bin", &[7u8; 191]);
    cli.fails(
        &format!(
            "kms encrypt --key-id {id} --plaintext {long} \
             --encryption-algorithm RSAES_OAEP_SHA_256"
        ),
        "ValidationException",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_hmac_generate_verify_mac() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());

    let key = cli
        .ok("kms create-key --key-spec HMAC_384 --key-usage GENERATE_VERIFY_MAC")
        .await;
    let id = text(&key, "/KeyMetadata/KeyId").to_string();
    let arn = text(&key, "/KeyMetadata/Arn").to_string();
    assert_eq!(
        strings(&key, "/KeyMetadata/MacAlgorithms"),
        ["HMAC_SHA_384"]
    );
    let message = b"authenticate me".as_slice();
    let msg = cli.fileb("message.bin", message);
    let out = cli
        .ok(&format!(
            "kms generate-mac --key-id {id} --message {msg} --mac-algorithm HMAC_SHA_384"
        ))
        .await;
    assert_eq!(text(&out, "/KeyId"), arn);
    assert_eq!(text(&out, "/MacAlgorithm"), "HMAC_SHA_384");
    let tag = blob(&out, "Mac");
    // HMAC-SHA-384 of the message under the stored key.
    let scope = trent_store::Scope::new("000000000000", "us-east-1");
    let materials = server.state.store.key_materials(&scope, &id).await.unwrap();
    assert_eq!(
        trent_crypto::mac(
            trent_crypto::MacAlgorithm::HmacSha384,
            &materials[0].secret,
            message
        ),
        tag
    );
    let mac = cli.fileb("mac.bin", &tag);
    let verified = cli
        .ok(&format!(
            "kms verify-mac --key-id {id} --message {msg} --mac {mac} \
             --mac-algorithm HMAC_SHA_384"
        ))
        .await;
    assert_eq!(verified["MacValid"], true);
    assert_eq!(text(&verified, "/KeyId"), arn);

    let mut bad = tag.clone();
    bad[0] ^= 1;
    let bad = cli.fileb("bad.bin", &bad);
    cli.fails(
        &format!(
            "kms verify-mac --key-id {id} --message {msg} --mac {bad} \
             --mac-algorithm HMAC_SHA_384"
        ),
        "KMSInvalidMacException",
    )
    .await;
    cli.fails(
        &format!("kms generate-mac --key-id {id} --message {msg} --mac-algorithm HMAC_SHA_256"),
        "InvalidKeyUsageException",
    )
    .await;
    cli.fails(
        &format!("kms encrypt --key-id {id} --plaintext {msg}"),
        "InvalidKeyUsageException",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_key_rotation() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());
    let key = cli.ok("kms create-key").await;
    let id = text(&key, "/KeyMetadata/KeyId").to_string();
    let arn = text(&key, "/KeyMetadata/Arn").to_string();
    let first_material = text(&key, "/KeyMetadata/CurrentKeyMaterialId").to_string();
    let status = format!("kms get-key-rotation-status --key-id {id}");

    let s = cli.ok(&status).await;
    assert_eq!(s["KeyRotationEnabled"], false, "{s}");
    let enabled = cli
        .ok(&format!(
            "kms enable-key-rotation --key-id {id} --rotation-period-in-days 180"
        ))
        .await;
    assert_eq!(enabled, Value::Null, "EnableKeyRotation has no output");
    let s = cli.ok(&status).await;
    assert_eq!(s["KeyRotationEnabled"], true, "{s}");
    assert_eq!(s["RotationPeriodInDays"], 180, "{s}");
    assert_eq!(text(&s, "/KeyId"), arn);
    assert!(s.get("NextRotationDate").is_some(), "{s}");

    let plain = cli.fileb("plain.bin", b"from before the rotation");
    let enc = cli
        .ok(&format!("kms encrypt --key-id {id} --plaintext {plain}"))
        .await;
    let old = cli.fileb("old.bin", &blob(&enc, "CiphertextBlob"));

    let rotated = cli
        .ok(&format!("kms rotate-key-on-demand --key-id {id}"))
        .await;
    assert_eq!(text(&rotated, "/KeyId"), arn);
    let d = cli.ok(&format!("kms describe-key --key-id {id}")).await;
    let second_material = text(&d, "/KeyMetadata/CurrentKeyMaterialId").to_string();
    assert_ne!(second_material, first_material);

    let list = cli
        .ok(&format!("kms list-key-rotations --key-id {id}"))
        .await;
    let rotations = list["Rotations"].as_array().unwrap();
    assert_eq!(rotations.len(), 1, "{list}");
    assert_eq!(text(&rotations[0], "/RotationType"), "ON_DEMAND");
    assert_eq!(text(&rotations[0], "/KeyMaterialId"), second_material);
    assert_eq!(text(&rotations[0], "/KeyId"), arn);
    let all = cli
        .ok(&format!(
            "kms list-key-rotations --key-id {id} --include-key-material ALL_KEY_MATERIAL"
        ))
        .await;
    let materials: Vec<&str> = all["Rotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| text(r, "/KeyMaterialId"))
        .collect();
    assert_eq!(
        materials.len(),
        2,
        "the original material and the rotation: {all}"
    );
    assert!(materials.contains(&first_material.as_str()), "{all}");

    // Old ciphertexts still decrypt, with the material they were made under.
    let dec = cli
        .ok(&format!("kms decrypt --ciphertext-blob {old}"))
        .await;
    assert_eq!(blob(&dec, "Plaintext"), b"from before the rotation");
    assert_eq!(text(&dec, "/KeyMaterialId"), first_material);

    cli.ok(&format!("kms disable-key-rotation --key-id {id}"))
        .await;
    assert_eq!(cli.ok(&status).await["KeyRotationEnabled"], false);

    // Asymmetric and HMAC keys do not rotate.
    for spec in [
        "--key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY",
        "--key-spec HMAC_256 --key-usage GENERATE_VERIFY_MAC",
    ] {
        let k = cli.ok(&format!("kms create-key {spec}")).await;
        let kid = text(&k, "/KeyMetadata/KeyId").to_string();
        cli.fails(
            &format!("kms enable-key-rotation --key-id {kid}"),
            "UnsupportedOperationException",
        )
        .await;
        cli.fails(
            &format!("kms rotate-key-on-demand --key-id {kid}"),
            "UnsupportedOperationException",
        )
        .await;
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// boto3

const BOTO3_SCRIPT: &str = r#"
import json, os
import boto3
from botocore.exceptions import ClientError

kms = boto3.client("kms", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
out = {}
a = kms.create_key(Description="boto3")["KeyMetadata"]
b = kms.create_key()["KeyMetadata"]
c = kms.create_key()["KeyMetadata"]
out["arns"] = [a["Arn"], b["Arn"], c["Arn"]]
out["key_ids"] = [a["KeyId"], b["KeyId"], c["KeyId"]]
kms.create_alias(AliasName="alias/boto", TargetKeyId=a["KeyId"])
ctx = {"app": "web", "env": "prod"}
message = b"boto3 says hello \x00\xff"

enc = kms.encrypt(KeyId="alias/boto", Plaintext=message, EncryptionContext=ctx)
out["encrypt_key_id"] = enc["KeyId"]
dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext=dict(reversed(ctx.items())))
out["decrypt_key_id"] = dec["KeyId"]
out["round_trip"] = dec["Plaintext"] == message

dk = kms.generate_data_key(KeyId=a["KeyId"], KeySpec="AES_256")
out["data_key_len"] = len(dk["Plaintext"])
out["data_key_key_id"] = dk["KeyId"]
opened = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])
out["data_key_round_trip"] = opened["Plaintext"] == dk["Plaintext"]

re = kms.re_encrypt(
    CiphertextBlob=enc["CiphertextBlob"],
    SourceEncryptionContext=ctx,
    DestinationKeyId=b["KeyId"],
    DestinationEncryptionContext={"moved": "yes"},
)
out["re_encrypt"] = {"KeyId": re["KeyId"], "SourceKeyId": re["SourceKeyId"]}
moved = kms.decrypt(CiphertextBlob=re["CiphertextBlob"], EncryptionContext={"moved": "yes"})
out["re_encrypt_round_trip"] = moved["Plaintext"] == message
out["re_encrypt_decrypt_key_id"] = moved["KeyId"]

try:
    kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext={"app": "web"})
    out["mismatch"] = None
except ClientError as e:
    out["mismatch"] = {
        "code": e.response["Error"]["Code"],
        "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
    }

pages = []
for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 1}):
    pages.append([k["KeyId"] for k in page["Keys"]])
out["pages"] = pages

print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_round_trip() {
    let Some(python) = find_python().await else {
        return;
    };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let py = Client::new(&python, &server, scratch.path());
    let stdout = match py.exec(vec!["-c".into(), BOTO3_SCRIPT.into()]).await {
        Ok(s) => s,
        Err((status, stderr)) => panic!("the boto3 script exited {status}: {stderr}"),
    };
    let out: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));

    let arns: Vec<&str> = out["arns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let key_ids: Vec<&str> = out["key_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for (arn, id) in arns.iter().zip(&key_ids) {
        assert_eq!(*arn, format!("arn:aws:kms:us-east-1:000000000000:key/{id}"));
    }
    let (a, b) = (arns[0], arns[1]);
    assert_eq!(out["encrypt_key_id"], a);
    assert_eq!(out["decrypt_key_id"], a, "Decrypt returns the key ARN");
    assert_eq!(out["round_trip"], true);
    assert_eq!(out["data_key_len"], 32);
    assert_eq!(out["data_key_key_id"], a);
    assert_eq!(out["data_key_round_trip"], true);
    assert_eq!(out["re_encrypt"]["KeyId"], b);
    assert_eq!(out["re_encrypt"]["SourceKeyId"], a);
    assert_eq!(out["re_encrypt_round_trip"], true);
    assert_eq!(out["re_encrypt_decrypt_key_id"], b);
    assert_eq!(
        out["mismatch"],
        serde_json::json!({"code": "InvalidCiphertextException", "status": 400})
    );

    // One key a page, every key once, in creation order.
    let pages = out["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 3, "{pages:?}");
    let listed: Vec<&str> = pages
        .iter()
        .flat_map(|p| {
            let p = p.as_array().unwrap();
            assert_eq!(p.len(), 1, "{pages:?}");
            p.iter().map(|k| k.as_str().unwrap())
        })
        .collect();
    assert_eq!(listed, key_ids);
    server.stop().await;
}

const BOTO3_SIGN_SCRIPT: &str = r#"
import base64, hashlib, json, os
import boto3
from botocore.exceptions import ClientError

kms = boto3.client("kms", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
b64 = lambda b: base64.b64encode(b).decode()
message = b"boto3 signs this \x00\xff"
out = {}
for spec, alg, hash_name in [
    ("ECC_NIST_P384", "ECDSA_SHA_384", "sha384"),
    ("RSA_2048", "RSASSA_PSS_SHA_256", "sha256"),
    ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512", None),
]:
    key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    kid = key["KeyId"]
    pub = kms.get_public_key(KeyId=kid)
    sig = kms.sign(KeyId=kid, Message=message, MessageType="RAW", SigningAlgorithm=alg)
    ver = kms.verify(
        KeyId=kid, Message=message, MessageType="RAW", Signature=sig["Signature"],
        SigningAlgorithm=alg,
    )
    r = {
        "arn": key["Arn"],
        "public_key": b64(pub["PublicKey"]),
        "signing_algorithms": pub["SigningAlgorithms"],
        "signature": b64(sig["Signature"]),
        "sign_key_id": sig["KeyId"],
        "sign_algorithm": sig["SigningAlgorithm"],
        "valid": ver["SignatureValid"],
        "verify_key_id": ver["KeyId"],
    }
    if hash_name:
        digest = hashlib.new(hash_name, message).digest()
        dsig = kms.sign(KeyId=kid, Message=digest, MessageType="DIGEST", SigningAlgorithm=alg)
        r["digest_signature"] = b64(dsig["Signature"])
        r["digest_signature_valid_as_raw"] = kms.verify(
            KeyId=kid, Message=message, MessageType="RAW", Signature=dsig["Signature"],
            SigningAlgorithm=alg,
        )["SignatureValid"]
    try:
        kms.verify(
            KeyId=kid, Message=message + b"!", MessageType="RAW", Signature=sig["Signature"],
            SigningAlgorithm=alg,
        )
        r["tampered"] = None
    except ClientError as e:
        r["tampered"] = e.response["Error"]["Code"]
    out[spec] = r
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_sign_verify_checked_by_openssl() {
    let Some(python) = find_python().await else {
        return;
    };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let py = Client::new(&python, &server, scratch.path());
    let stdout = match py.exec(vec!["-c".into(), BOTO3_SIGN_SCRIPT.into()]).await {
        Ok(s) => s,
        Err((status, stderr)) => panic!("the boto3 script exited {status}: {stderr}"),
    };
    let out: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let ossl = Openssl::new();
    let message = b"boto3 signs this \x00\xff".as_slice();
    for (spec, alg) in [
        ("ECC_NIST_P384", "ECDSA_SHA_384"),
        ("RSA_2048", "RSASSA_PSS_SHA_256"),
        ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512"),
    ] {
        let r = &out[spec];
        let arn = text(r, "/arn");
        assert_eq!(text(r, "/sign_key_id"), arn, "{spec}");
        assert_eq!(text(r, "/verify_key_id"), arn, "{spec}");
        assert_eq!(text(r, "/sign_algorithm"), alg, "{spec}");
        assert_eq!(r["valid"], true, "{spec}");
        assert!(strings(r, "/signing_algorithms").contains(&alg.to_string()));
        assert_eq!(r["tampered"], "KMSInvalidSignatureException", "{spec}");
        let spki = blob(r, "public_key");
        assert!(
            ossl.describe_public(&spki)
                .contains(crate::asymmetric::openssl_marker(spec))
        );
        if let Err(e) = ossl.verify(&spki, alg, message, None, &blob(r, "signature")) {
            panic!("{spec}: openssl rejects boto3's signature: {e}");
        }
        if alg != "ED25519_SHA_512" {
            assert_eq!(r["digest_signature_valid_as_raw"], true, "{spec}");
            let sig = blob(r, "digest_signature");
            if let Err(e) = ossl.verify(&spki, alg, message, None, &sig) {
                panic!("{spec}: openssl rejects boto3's DIGEST signature: {e}");
            }
        }
    }
    server.stop().await;
}

/// Importing key material exactly as the AWS guide does it: the CLI for the calls, openssl for
/// the material and its wrapping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_import_key_material_as_the_aws_guide_does() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());
    let ossl = Openssl::new();

    let key = cli.ok("kms create-key --origin EXTERNAL").await;
    let id = text(&key, "/KeyMetadata/KeyId").to_string();
    assert_eq!(text(&key, "/KeyMetadata/KeyState"), "PendingImport");
    assert_eq!(text(&key, "/KeyMetadata/Origin"), "EXTERNAL");

    let params = cli
        .ok(&format!(
            "kms get-parameters-for-import --key-id {id} \
             --wrapping-algorithm RSAES_OAEP_SHA_256 --wrapping-key-spec RSA_2048"
        ))
        .await;
    let public_key = ossl.file("WrappingPublicKey.bin", &blob(&params, "PublicKey"));
    let token = cli.fileb("ImportToken.bin", &blob(&params, "ImportToken"));
    let material_path = ossl.path("PlaintextKeyMaterial.bin");
    ossl.run(&["rand", "-out", &material_path, "32"]).unwrap();
    let material = std::fs::read(&material_path).unwrap();
    let wrapped = ossl
        .run(&[
            "pkeyutl",
            "-encrypt",
            "-in",
            &material_path,
            "-inkey",
            &public_key,
            "-keyform",
            "DER",
            "-pubin",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ])
        .unwrap();
    let wrapped = cli.fileb("EncryptedKeyMaterial.bin", &wrapped);
    let imported = cli
        .ok(&format!(
            "kms import-key-material --key-id {id} --encrypted-key-material {wrapped} \
             --import-token {token} --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE"
        ))
        .await;
    assert_eq!(text(&imported, "/KeyMaterialId").len(), 64);
    let d = cli.ok(&format!("kms describe-key --key-id {id}")).await;
    assert_eq!(text(&d, "/KeyMetadata/KeyState"), "Enabled");
    assert_eq!(
        text(&d, "/KeyMetadata/ExpirationModel"),
        "KEY_MATERIAL_DOES_NOT_EXPIRE"
    );

    let input = cli.fileb("plain.bin", b"under my own key material");
    let enc = cli
        .ok(&format!("kms encrypt --key-id {id} --plaintext {input}"))
        .await;
    let sealed_bytes = blob(&enc, "CiphertextBlob");
    let sealed = cli.fileb("sealed.bin", &sealed_bytes);
    let dec = cli
        .ok(&format!("kms decrypt --ciphertext-blob {sealed}"))
        .await;
    assert_eq!(blob(&dec, "Plaintext"), b"under my own key material");

    // Deleting the material makes the key wait for it again; the same material brings the
    // old ciphertext back, other material is refused.
    cli.ok(&format!("kms delete-imported-key-material --key-id {id}"))
        .await;
    cli.fails(
        &format!("kms decrypt --ciphertext-blob {sealed}"),
        "KMSInvalidStateException",
    )
    .await;
    let other = ossl.file("Other.bin", &[7u8; 32]);
    let wrap_again = |path: String| {
        ossl.run(&[
            "pkeyutl",
            "-encrypt",
            "-in",
            &path,
            "-inkey",
            &public_key,
            "-keyform",
            "DER",
            "-pubin",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ])
        .unwrap()
    };
    let wrong = cli.fileb("Wrong.bin", &wrap_again(other));
    cli.fails(
        &format!(
            "kms import-key-material --key-id {id} --encrypted-key-material {wrong} \
             --import-token {token} --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE"
        ),
        "IncorrectKeyMaterialException",
    )
    .await;
    let same = cli.fileb("Same.bin", &wrap_again(ossl.file("Same.bin", &material)));
    cli.ok(&format!(
        "kms import-key-material --key-id {id} --encrypted-key-material {same} \
         --import-token {token} --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE"
    ))
    .await;
    let dec = cli
        .ok(&format!("kms decrypt --ciphertext-blob {sealed}"))
        .await;
    assert_eq!(blob(&dec, "Plaintext"), b"under my own key material");
    server.stop().await;
}

/// Multi-Region keys through the CLI: replicate, decrypt in the other region, move the primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_multi_region_keys() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start_with(data.path(), |o| {
        o.regions = vec!["us-east-1".to_string(), "eu-west-1".to_string()];
    })
    .await;
    let cli = Client::new(&aws, &server, scratch.path());
    let key = cli.ok("kms create-key --multi-region").await;
    let id = text(&key, "/KeyMetadata/KeyId").to_string();
    assert!(id.starts_with("mrk-"), "{id}");
    assert_eq!(
        text(
            &key,
            "/KeyMetadata/MultiRegionConfiguration/MultiRegionKeyType"
        ),
        "PRIMARY"
    );
    let replica = cli
        .ok(&format!(
            "kms replicate-key --key-id {id} --replica-region eu-west-1 --description replica"
        ))
        .await;
    assert_eq!(
        text(&replica, "/ReplicaKeyMetadata/Arn"),
        format!("arn:aws:kms:eu-west-1:000000000000:key/{id}")
    );
    let d = cli
        .ok(&format!(
            "kms describe-key --key-id {id} --region eu-west-1"
        ))
        .await;
    assert_eq!(
        text(
            &d,
            "/KeyMetadata/MultiRegionConfiguration/MultiRegionKeyType"
        ),
        "REPLICA"
    );
    assert_eq!(
        text(
            &d,
            "/KeyMetadata/MultiRegionConfiguration/PrimaryKey/Region"
        ),
        "us-east-1"
    );

    let input = cli.fileb("plain.bin", b"from us-east-1");
    let enc = cli
        .ok(&format!("kms encrypt --key-id {id} --plaintext {input}"))
        .await;
    let sealed = cli.fileb("sealed.bin", &blob(&enc, "CiphertextBlob"));
    let dec = cli
        .ok(&format!(
            "kms decrypt --ciphertext-blob {sealed} --region eu-west-1"
        ))
        .await;
    assert_eq!(blob(&dec, "Plaintext"), b"from us-east-1");
    assert_eq!(
        text(&dec, "/KeyId"),
        format!("arn:aws:kms:eu-west-1:000000000000:key/{id}")
    );

    cli.ok(&format!(
        "kms update-primary-region --key-id {id} --primary-region eu-west-1"
    ))
    .await;
    let d = cli.ok(&format!("kms describe-key --key-id {id}")).await;
    assert_eq!(
        text(
            &d,
            "/KeyMetadata/MultiRegionConfiguration/MultiRegionKeyType"
        ),
        "REPLICA"
    );
    cli.fails(
        &format!("kms replicate-key --key-id {id} --replica-region eu-west-1"),
        "UnsupportedOperationException",
    )
    .await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Parameter Store

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_ssm_parameters_hierarchy_labels_history() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());

    let out = cli
        .ok("ssm put-parameter --name /cli/db/host --value db1 --type String")
        .await;
    assert_eq!(out["Version"], 1);
    assert_eq!(out["Tier"], "Standard");
    cli.ok("ssm put-parameter --name /cli/db/host --value db2 --overwrite")
        .await;
    cli.ok("ssm put-parameter --name /cli/db/password --value s3cret --type SecureString")
        .await;
    for i in 0..5 {
        cli.ok(&format!(
            "ssm put-parameter --name /cli/app/setting{i} --value v{i} --type String"
        ))
        .await;
    }

    let got = cli
        .ok("ssm get-parameter --name /cli/db/password --with-decryption")
        .await;
    assert_eq!(text(&got, "/Parameter/Value"), "s3cret");
    assert_eq!(text(&got, "/Parameter/Type"), "SecureString");
    let got = cli.ok("ssm get-parameter --name /cli/db/password").await;
    assert_ne!(text(&got, "/Parameter/Value"), "s3cret");

    // The CLI follows NextToken itself; two a page makes it take several.
    let listed = cli
        .ok("ssm get-parameters-by-path --path /cli --recursive --page-size 2")
        .await;
    let names: Vec<&str> = listed["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 7, "{names:?}");
    assert_eq!(names.iter().collect::<HashSet<_>>().len(), 7);

    cli.ok("ssm label-parameter-version --name /cli/db/host --parameter-version 1 --labels stable")
        .await;
    let got = cli.ok("ssm get-parameter --name /cli/db/host:stable").await;
    assert_eq!(text(&got, "/Parameter/Value"), "db1");
    assert_eq!(text(&got, "/Parameter/Selector"), ":stable");
    let history = cli
        .ok("ssm get-parameter-history --name /cli/db/host")
        .await;
    assert_eq!(history["Parameters"][0]["Labels"][0], "stable");
    assert_eq!(history["Parameters"][1]["Version"], 2);

    cli.fails(
        "ssm get-parameter --name /cli/db/missing",
        "ParameterNotFound",
    )
    .await;
    cli.fails(
        "ssm put-parameter --name /cli/db/host --value x --type String",
        "ParameterAlreadyExists",
    )
    .await;
    cli.fails(
        "ssm put-parameter --name /aws/reserved --value x --type String",
        "ValidationException",
    )
    .await;
    cli.ok("ssm delete-parameter --name /cli/db/host").await;
    cli.fails(
        "ssm delete-parameter --name /cli/db/host",
        "ParameterNotFound",
    )
    .await;
    server.stop().await;
}

/// Policies, GetParametersByPath filters and their errors through the aws CLI; expiry by the
/// scheduler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_ssm_policies_and_filters() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());
    use trent_store::clock::Clock as _;
    let at = time::OffsetDateTime::from_unix_timestamp(server.clock.now_ms() / 1000 + 7 * 86_400)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let policies = format!(
        r#"[{{"Type":"Expiration","Version":"1.0","Attributes":{{"Timestamp":"{at}"}}}},
            {{"Type":"ExpirationNotification","Version":"1.0","Attributes":{{"Before":"1","Unit":"Days"}}}}]"#
    );
    std::fs::write(scratch.path().join("policies.json"), &policies).unwrap();
    let out = cli
        .ok(
            "ssm put-parameter --name /cli/tok --value t0k --type SecureString \
             --tier Intelligent-Tiering --policies file://policies.json",
        )
        .await;
    assert_eq!(out["Tier"], "Advanced");
    let described = cli
        .ok("ssm describe-parameters --parameter-filters Key=Name,Values=/cli/tok")
        .await;
    let types: Vec<&str> = described["Parameters"][0]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["PolicyType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Expiration", "ExpirationNotification"]);
    cli.ok("ssm put-parameter --name /cli/plain --value p --type String")
        .await;
    let listed = cli
        .ok("ssm get-parameters-by-path --path /cli --parameter-filters Key=Type,Values=SecureString")
        .await;
    assert_eq!(listed["Parameters"].as_array().unwrap().len(), 1);
    assert_eq!(listed["Parameters"][0]["Name"], "/cli/tok");

    cli.fails(
        "ssm put-parameter --name /cli/std --value v --type String --tier Standard \
         --policies file://policies.json",
        "ValidationException",
    )
    .await;
    std::fs::write(
        scratch.path().join("bad.json"),
        r#"[{"Type":"Rotation","Version":"1.0","Attributes":{}}]"#,
    )
    .unwrap();
    cli.fails(
        "ssm put-parameter --name /cli/bad --value v --type String --tier Advanced \
         --policies file://bad.json",
        "InvalidPolicyTypeException",
    )
    .await;
    cli.fails(
        "ssm get-parameters-by-path --path /cli --parameter-filters Key=Name,Values=x",
        "InvalidFilterKey",
    )
    .await;
    cli.fails(
        "ssm get-parameters-by-path --path /cli --parameter-filters Key=Label,Option=BeginsWith,Values=x",
        "InvalidFilterOption",
    )
    .await;

    // A week on, the scheduler deletes it (read with the SDK, which signs with the server's
    // clock).
    server.clock.advance_days(8);
    trent_server::scheduler::tick(&server.state).await;
    let ssm = server.ssm();
    let err = ssm
        .get_parameter()
        .name("/cli/tok")
        .send()
        .await
        .unwrap_err();
    assert_eq!(crate::harness::code(&err), "ParameterNotFound");
    assert!(ssm.get_parameter().name("/cli/plain").send().await.is_ok());
    server.stop().await;
}

const BOTO3_SSM_SCRIPT: &str = r#"
import json, os
import boto3
from botocore.exceptions import ClientError

ssm = boto3.client("ssm", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
out = {}
for i in range(25):
    ssm.put_parameter(Name=f"/boto/svc{i % 3}/p{i}", Value=f"v{i}", Type="String")
ssm.put_parameter(Name="/boto/secret", Value="pa55", Type="SecureString")
pages = ssm.get_paginator("get_parameters_by_path").paginate(
    Path="/boto", Recursive=True, WithDecryption=True, PaginationConfig={"PageSize": 4}
)
names, values, page_count = [], {}, 0
for page in pages:
    page_count += 1
    for p in page["Parameters"]:
        names.append(p["Name"])
        values[p["Name"]] = p["Value"]
out["names"] = names
out["pages"] = page_count
out["secret"] = values.get("/boto/secret")
got = ssm.get_parameters(Names=["/boto/svc0/p0", "/boto/nope", "/boto/svc0/p0:3"])
out["got"] = [p["Value"] for p in got["Parameters"]]
out["invalid"] = got["InvalidParameters"]
v = ssm.put_parameter(Name="/boto/svc0/p0", Value="again", Overwrite=True)
out["version"] = v["Version"]
try:
    ssm.put_parameter(Name="/boto/big", Value="x" * 4097, Type="String")
    out["big"] = None
except ClientError as e:
    out["big"] = e.response["Error"]["Code"]
try:
    ssm.get_parameter(Name="/boto/svc0/p0:9")
    out["missing_version"] = None
except ClientError as e:
    out["missing_version"] = e.response["Error"]["Code"]
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_ssm_paginated_hierarchy_and_errors() {
    let Some(python) = find_python().await else {
        return;
    };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let py = Client::new(&python, &server, scratch.path());
    let stdout = match py.exec(vec!["-c".into(), BOTO3_SSM_SCRIPT.into()]).await {
        Ok(s) => s,
        Err((status, stderr)) => panic!("the boto3 script exited {status}: {stderr}"),
    };
    let out: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let names: Vec<&str> = out["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 26, "{names:?}");
    assert_eq!(names.iter().collect::<HashSet<_>>().len(), 26);
    assert_eq!(out["pages"], 7);
    assert_eq!(out["secret"], "pa55");
    assert_eq!(out["got"], serde_json::json!(["v0"]));
    assert_eq!(
        out["invalid"],
        serde_json::json!(["/boto/nope", "/boto/svc0/p0:3"])
    );
    assert_eq!(out["version"], 2);
    assert_eq!(out["big"], "ValidationException");
    assert_eq!(out["missing_version"], "ParameterVersionNotFound");
    server.stop().await;
}

const BOTO3_SSM_HIERARCHY_SCRIPT: &str = r#"
import datetime, json, os
import boto3
from botocore.exceptions import ClientError

ssm = boto3.client("ssm", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
out = {}
def walk(**kwargs):
    names, pages = [], 0
    for page in ssm.get_paginator("get_parameters_by_path").paginate(**kwargs):
        pages += 1
        names.extend(p["Name"] for p in page["Parameters"])
    return names, pages
out["all"], out["all_pages"] = walk(Path="/big", Recursive=True)
out["one"], _ = walk(Path="/big/svc3")
out["deep"], _ = walk(Path="/big/svc3/deep", Recursive=True, PaginationConfig={"PageSize": 7})
described = []
for page in ssm.get_paginator("describe_parameters").paginate(
    ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": ["/big/svc9"]}]
):
    described.extend(p["Name"] for p in page["Parameters"])
out["described"] = len(described)

at = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
policies = json.dumps([
    {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": at}},
    {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": "10", "Unit": "Days"}},
])
r = ssm.put_parameter(Name="/pol/boto", Value="v", Type="String", Policies=policies, Tier="Intelligent-Tiering")
out["tier"] = r["Tier"]
d = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/pol/boto"]}])
out["policies"] = [(p["PolicyType"], p["PolicyStatus"]) for p in d["Parameters"][0]["Policies"]]
try:
    ssm.put_parameter(Name="/pol/std", Value="v", Type="String", Policies=policies, Tier="Standard")
    out["standard"] = None
except ClientError as e:
    out["standard"] = e.response["Error"]["Code"]
try:
    ssm.put_parameter(Name="/pol/bad", Value="v", Type="String", Tier="Advanced",
                      Policies='[{"Type":"Forever","Version":"1.0","Attributes":{}}]')
    out["bad_type"] = None
except ClientError as e:
    out["bad_type"] = e.response["Error"]["Code"]
try:
    ssm.get_parameters_by_path(Path="/big", ParameterFilters=[{"Key": "Name", "Values": ["x"]}])
    out["bad_filter"] = None
except ClientError as e:
    out["bad_filter"] = e.response["Error"]["Code"]
print(json.dumps(out))
"#;

/// 3,000 parameters listed through boto3's paginators; policies and filter errors through boto3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_ssm_3000_parameter_hierarchy_and_policies() {
    let Some(python) = find_python().await else {
        return;
    };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let names = crate::ssm_events::put_hierarchy(&server.ssm(), "/big").await;
    let py = Client::new(&python, &server, scratch.path());
    let stdout = match py
        .exec(vec!["-c".into(), BOTO3_SSM_HIERARCHY_SCRIPT.into()])
        .await
    {
        Ok(s) => s,
        Err((status, stderr)) => panic!("the boto3 script exited {status}: {stderr}"),
    };
    let out: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let list = |key: &str| -> Vec<String> {
        out[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let mut expected: Vec<String> = names.into_iter().collect();
    expected.sort();
    assert_eq!(list("all"), expected);
    assert_eq!(out["all_pages"], 300);
    let one = list("one");
    assert_eq!(one.len(), 100);
    assert!(one.iter().all(|n| n.starts_with("/big/svc3/p")));
    assert_eq!(list("deep").len(), 200);
    assert_eq!(out["described"], 300);
    assert_eq!(out["tier"], "Advanced");
    assert_eq!(
        out["policies"],
        serde_json::json!([
            ["Expiration", "Pending"],
            ["NoChangeNotification", "Pending"]
        ])
    );
    assert_eq!(out["standard"], "ValidationException");
    assert_eq!(out["bad_type"], "InvalidPolicyTypeException");
    assert_eq!(out["bad_filter"], "InvalidFilterKey");
    server.stop().await;
}
