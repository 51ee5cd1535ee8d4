//! Secrets Manager rotation end to end, through the `aws` CLI: the built-in rotators against the
//! real PostgreSQL and MariaDB servers (single user and alternating users), an HTTP webhook
//! rotator (a boto3 program checking the signature of every call, as a rotation Lambda would
//! work), failures that leave AWSCURRENT alone and show in the audit trail, a `kill -9` between
//! two steps that the restarted server resumes, and scheduled rotation by the injected clock.
//!
//! PostgreSQL runs with `trust` authentication for 127.0.0.1 here, so any password logs in: the
//! tests prove the password change by checking the password against the SCRAM verifier (or md5
//! hash) PostgreSQL stored in `pg_authid`. MariaDB checks passwords, so its tests log in with
//! the old and new ones.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{Client, dirs, find_aws, find_python};
use crate::harness::{TestServer, read_credentials};
use crate::tls::{spawn_serve_with_env, wait_for_log};

const LAMBDA: &str = "arn:aws:lambda:us-east-1:000000000000:function:";
const HOOK_SECRET: &str = "webhook-signing-secret-for-tests";

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// The labels of `version` in DescribeSecret's VersionIdsToStages.
fn stages_of(describe: &Value, version: &str) -> Vec<String> {
    let mut s: Vec<String> = describe["VersionIdsToStages"][version]
        .as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    s.sort();
    s
}

/// Waits until `token` is AWSCURRENT; returns DescribeSecret. On a timeout, shows why the
/// rotation stopped when the server is in-process.
async fn wait_rotated(cli: &Client, id: &str, token: &str, server: Option<&TestServer>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = cli
            .ok(&format!("secretsmanager describe-secret --secret-id {id}"))
            .await;
        if stages_of(&d, token).contains(&"AWSCURRENT".to_string()) {
            return d;
        }
        if Instant::now() > deadline {
            let why = match server {
                Some(s) => {
                    let secret = s
                        .state
                        .store
                        .get_secret(&trent_store::Scope::new("000000000000", "us-east-1"), id)
                        .await
                        .unwrap()
                        .unwrap();
                    format!(
                        "{:?}",
                        s.state
                            .store
                            .get_secret_rotation(&secret.scope, &secret.name)
                            .await
                            .unwrap()
                    )
                }
                None => String::new(),
            };
            panic!("{token} did not become AWSCURRENT: {d} {why}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn value(cli: &Client, id: &str, stage: &str) -> String {
    let v = cli
        .ok(&format!(
            "secretsmanager get-secret-value --secret-id {id} --version-stage {stage}"
        ))
        .await;
    text(&v, "/SecretString").to_string()
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-tAc", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Whether `password` matches the hash PostgreSQL stores for `role` (SCRAM-SHA-256 or md5).
fn pg_password_matches(python: &Path, url: &str, role: &str, password: &str) -> bool {
    let stored = psql(
        url,
        &format!("SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'"),
    );
    let script = r#"
import base64, hashlib, hmac, os
stored, pw, role = os.environ["STORED"], os.environ["PW"], os.environ["ROLE"]
if stored.startswith("SCRAM-SHA-256$"):
    iters_salt, keys = stored.split("$", 1)[1].split("$")
    iters, salt = iters_salt.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac("sha256", pw.encode(), base64.b64decode(salt), int(iters))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    ok = hmac.compare_digest(hashlib.sha256(client_key).digest(), base64.b64decode(stored_key))
elif stored.startswith("md5"):
    ok = hmac.compare_digest(stored, "md5" + hashlib.md5((pw + role).encode()).hexdigest())
else:
    raise SystemExit("unknown password hash")
print("yes" if ok else "no")
"#;
    let out = Command::new(python)
        .args(["-c", script])
        .env("STORED", &stored)
        .env("PW", password)
        .env("ROLE", role)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim() == "yes"
}

fn pg_secret(url: &str, user: &str, password: &str, master: Option<&str>) -> String {
    let _ = url;
    let mut v = serde_json::json!({
        "engine": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "username": user,
        "password": password,
        "dbname": "postgres",
    });
    if let Some(m) = master {
        v["masterarn"] = Value::String(m.to_string());
    }
    v.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_postgresql_single_user_and_alternating_users() {
    let Ok(url) = std::env::var("TRENT_TEST_POSTGRES_URL") else {
        eprintln!("skipped: TRENT_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)");
        return;
    };
    let (Some(aws), Some(python)) = (find_aws().await, find_python().await) else {
        return;
    };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());

    // Single user: the role changes its own password.
    let role = unique("trent_rot_single");
    psql(
        &url,
        &format!("CREATE ROLE {role} LOGIN PASSWORD 'old-password-1'"),
    );
    assert!(pg_password_matches(&python, &url, &role, "old-password-1"));
    let secret = format!("pg/{role}");
    // Replicated to a second region, which every step of the rotation reaches.
    cli.ok(&format!(
        "secretsmanager create-secret --name {secret} --secret-string {} \
         --add-replica-regions Region=eu-west-1",
        pg_secret(&url, &role, "old-password-1", None)
    ))
    .await;
    let rotated = cli
        .ok(&format!(
            "secretsmanager rotate-secret --secret-id {secret} --rotation-lambda-arn \
             {LAMBDA}trent-rotator-postgresql-single-user"
        ))
        .await;
    let token = text(&rotated, "/VersionId").to_string();
    let d = wait_rotated(&cli, &secret, &token, Some(&server)).await;
    assert_eq!(stages_of(&d, &token), ["AWSCURRENT"]);
    assert_eq!(d["RotationEnabled"], true);
    assert_eq!(
        text(&d, "/RotationLambdaARN"),
        format!("{LAMBDA}trent-rotator-postgresql-single-user")
    );
    assert!(d.get("LastRotatedDate").is_some(), "{d}");
    let new: Value = serde_json::from_str(&value(&cli, &secret, "AWSCURRENT").await).unwrap();
    let old: Value = serde_json::from_str(&value(&cli, &secret, "AWSPREVIOUS").await).unwrap();
    let new_password = text(&new, "/password");
    assert_eq!(text(&old, "/password"), "old-password-1");
    assert_eq!(new_password.len(), 32);
    assert!(!new_password.contains(['/', '@', '"', '\'', '\\', ':']));
    assert_eq!(text(&new, "/username"), role);
    assert_eq!(new["port"], 5432);
    assert!(pg_password_matches(&python, &url, &role, new_password));
    assert!(!pg_password_matches(&python, &url, &role, "old-password-1"));
    // The replica has the same versions and labels, and the new value.
    let replica = cli
        .ok(&format!(
            "secretsmanager describe-secret --secret-id {secret} --region eu-west-1"
        ))
        .await;
    assert_eq!(
        replica["VersionIdsToStages"], d["VersionIdsToStages"],
        "{replica}"
    );
    let primary = cli
        .ok(&format!(
            "secretsmanager describe-secret --secret-id {secret}"
        ))
        .await;
    assert_eq!(
        primary["ReplicationStatus"][0]["Status"], "InSync",
        "{primary}"
    );
    let got = cli
        .ok(&format!(
            "secretsmanager get-secret-value --secret-id {secret} --region eu-west-1"
        ))
        .await;
    let replicated: Value = serde_json::from_str(text(&got, "/SecretString")).unwrap();
    assert_eq!(text(&replicated, "/password"), new_password);

    // Alternating users: the master secret creates <role>_clone, then the users alternate.
    let app = unique("trent_rot_app");
    psql(
        &url,
        &format!("CREATE ROLE {app} LOGIN PASSWORD 'app-password-1'"),
    );
    let master = format!("pg/master-{app}");
    let m = cli
        .ok(&format!(
            "secretsmanager create-secret --name {master} --secret-string {}",
            pg_secret(&url, "postgres", "unused-with-trust", None)
        ))
        .await;
    let master_arn = text(&m, "/ARN").to_string();
    let secret = format!("pg/{app}");
    cli.ok(&format!(
        "secretsmanager create-secret --name {secret} --secret-string {}",
        pg_secret(&url, &app, "app-password-1", Some(&master_arn))
    ))
    .await;
    let lambda = format!("{LAMBDA}trent-rotator-postgresql-alternating-users");
    let mut previous_password = "app-password-1".to_string();
    for (round, user) in [(1, format!("{app}_clone")), (2, app.clone())] {
        let r = cli
            .ok(&format!(
                "secretsmanager rotate-secret --secret-id {secret} --rotation-lambda-arn {lambda}"
            ))
            .await;
        let token = text(&r, "/VersionId").to_string();
        wait_rotated(&cli, &secret, &token, Some(&server)).await;
        let new: Value = serde_json::from_str(&value(&cli, &secret, "AWSCURRENT").await).unwrap();
        assert_eq!(text(&new, "/username"), user, "round {round}");
        assert_eq!(text(&new, "/masterarn"), master_arn);
        let password = text(&new, "/password").to_string();
        assert!(pg_password_matches(&python, &url, &user, &password));
        assert_ne!(password, previous_password);
        previous_password = password;
    }
    // The clone is a member of the original role, so it has its privileges.
    let member = psql(
        &url,
        &format!(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid \
             JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = '{app}' \
             AND u.rolname = '{app}_clone'"
        ),
    );
    assert_eq!(member, "1");
    // The previous user keeps working until the next rotation: AWSPREVIOUS is the clone.
    let prev: Value = serde_json::from_str(&value(&cli, &secret, "AWSPREVIOUS").await).unwrap();
    assert_eq!(text(&prev, "/username"), format!("{app}_clone"));
    assert!(pg_password_matches(
        &python,
        &url,
        &format!("{app}_clone"),
        text(&prev, "/password")
    ));

    for r in [role, format!("{app}_clone"), app] {
        psql(&url, &format!("DROP ROLE IF EXISTS {r}"));
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// MariaDB

struct MySqlUrl {
    host: String,
    port: String,
    user: String,
    password: String,
}

fn mysql_url(url: &str) -> MySqlUrl {
    let rest = url.strip_prefix("mysql://").expect("mysql:// URL");
    let (auth, hostport) = rest.split_once('@').unwrap_or(("root", rest));
    let hostport = hostport.split('/').next().unwrap();
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    MySqlUrl {
        host: host.into(),
        port: port.into(),
        user: user.into(),
        password: password.into(),
    }
}

/// Runs SQL as `user`; `Err(stderr)` when it fails (a refused login included).
fn mysql_as(db: &MySqlUrl, user: &str, password: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("mysql")
        .args([
            "-h", &db.host, "-P", &db.port, "-u", user, "-N", "-B", "-e", sql,
        ])
        .env("MYSQL_PWD", password)
        .output()
        .expect("mysql client");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap().trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn mysql_root(db: &MySqlUrl, sql: &str) -> String {
    mysql_as(db, &db.user, &db.password, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn logs_in(db: &MySqlUrl, user: &str, password: &str) -> bool {
    mysql_as(db, user, password, "SELECT 1").is_ok()
}

fn my_secret(db: &MySqlUrl, user: &str, password: &str, master: Option<&str>) -> String {
    let mut v = serde_json::json!({
        "engine": "mariadb",
        "host": db.host,
        "port": db.port.parse::<u16>().unwrap(),
        "username": user,
        "password": password,
    });
    if let Some(m) = master {
        v["masterarn"] = Value::String(m.to_string());
    }
    v.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_mariadb_single_user_and_alternating_users() {
    let Ok(url) = std::env::var("TRENT_TEST_MYSQL_URL") else {
        eprintln!("skipped: TRENT_TEST_MYSQL_URL is not set (scripts/test.sh sets it)");
        return;
    };
    let Some(aws) = find_aws().await else {
        return;
    };
    let db = mysql_url(&url);
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());

    // Single user.
    let user = unique("rs").replace('_', "");
    let user = user.get(..user.len().min(24)).unwrap().to_string();
    mysql_root(
        &db,
        &format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'old-password-1'"),
    );
    assert!(logs_in(&db, &user, "old-password-1"));
    let secret = format!("mysql/{user}");
    cli.ok(&format!(
        "secretsmanager create-secret --name {secret} --secret-string {}",
        my_secret(&db, &user, "old-password-1", None)
    ))
    .await;
    // RotateImmediately=false: the rotator's testSecret logs in with a copy of AWSCURRENT,
    // and nothing changes; with a password the database refuses, the test fails.
    cli.ok(&format!(
        "secretsmanager create-secret --name {secret}-wrong --secret-string {}",
        my_secret(&db, &user, "not-the-password", None)
    ))
    .await;
    for (id, outcome) in [
        (secret.clone(), "TestRotationSucceeded"),
        (format!("{secret}-wrong"), "TestRotationFailed"),
    ] {
        cli.ok(&format!(
            "secretsmanager rotate-secret --secret-id {id} --rotation-lambda-arn \
             {LAMBDA}trent-rotator-mariadb-single-user --no-rotate-immediately"
        ))
        .await;
        let ev = test_rotation_events(&cli, outcome, 1).await;
        assert!(ev.to_string().contains(&id), "{ev}");
        wait_for_versions(&cli, &id, 1).await;
    }
    assert!(
        logs_in(&db, &user, "old-password-1"),
        "the trial changed nothing"
    );
    let r = cli
        .ok(&format!(
            "secretsmanager rotate-secret --secret-id {secret} --rotation-lambda-arn \
             {LAMBDA}trent-rotator-mariadb-single-user"
        ))
        .await;
    let token = text(&r, "/VersionId").to_string();
    wait_rotated(&cli, &secret, &token, Some(&server)).await;
    let new: Value = serde_json::from_str(&value(&cli, &secret, "AWSCURRENT").await).unwrap();
    let new_password = text(&new, "/password").to_string();
    assert!(
        logs_in(&db, &user, &new_password),
        "the new password logs in"
    );
    assert!(
        !logs_in(&db, &user, "old-password-1"),
        "the old password no longer logs in"
    );

    // Alternating users, with root as the master secret.
    let app = format!("{user}a");
    let schema = format!("{user}_db");
    mysql_root(&db, &format!("CREATE DATABASE `{schema}`"));
    mysql_root(
        &db,
        &format!("CREATE USER '{app}'@'%' IDENTIFIED BY 'app-password-1'"),
    );
    mysql_root(&db, &format!("GRANT SELECT ON `{schema}`.* TO '{app}'@'%'"));
    let m = cli
        .ok(&format!(
            "secretsmanager create-secret --name mysql/master-{app} --secret-string {}",
            my_secret(&db, &db.user, &db.password, None)
        ))
        .await;
    let master_arn = text(&m, "/ARN").to_string();
    let secret = format!("mysql/{app}");
    cli.ok(&format!(
        "secretsmanager create-secret --name {secret} --secret-string {}",
        my_secret(&db, &app, "app-password-1", Some(&master_arn))
    ))
    .await;
    let lambda = format!("{LAMBDA}trent-rotator-mysql-alternating-users");
    let clone = format!("{app}_clone");
    let mut passwords = Vec::new();
    for (round, expected_user) in [(1, clone.clone()), (2, app.clone())] {
        let r = cli
            .ok(&format!(
                "secretsmanager rotate-secret --secret-id {secret} --rotation-lambda-arn {lambda}"
            ))
            .await;
        let token = text(&r, "/VersionId").to_string();
        wait_rotated(&cli, &secret, &token, Some(&server)).await;
        let new: Value = serde_json::from_str(&value(&cli, &secret, "AWSCURRENT").await).unwrap();
        assert_eq!(text(&new, "/username"), expected_user, "round {round}");
        let password = text(&new, "/password").to_string();
        assert!(logs_in(&db, &expected_user, &password), "round {round}");
        passwords.push(password);
    }
    // The clone got the user's grants.
    let grants = mysql_root(&db, &format!("SHOW GRANTS FOR '{clone}'@'%'"));
    assert!(grants.contains(&schema), "{grants}");
    // After two rounds: the user has a new password, its old one is refused, and the clone
    // (AWSPREVIOUS) still logs in.
    assert!(!logs_in(&db, &app, "app-password-1"));
    assert!(logs_in(&db, &clone, &passwords[0]));

    for u in [&user, &app, &clone] {
        mysql_root(&db, &format!("DROP USER IF EXISTS '{u}'@'%'"));
    }
    mysql_root(&db, &format!("DROP DATABASE IF EXISTS `{schema}`"));
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Webhook rotator

/// A rotation endpoint in Python with boto3, as a rotation Lambda function would be written.
/// It checks each call's signature in constant time, logs the steps to `<control>/log`, keeps
/// the "target system" credential in `<control>/target`, and reads `<control>/mode`
/// (`ok`, `fail:<step>` to answer 500, `hang:<step>` to wait while the mode stays),
/// `<control>/endpoint`, `<control>/keys` and `<control>/offset` (seconds added to the clock
/// boto3 signs with, for tests that move the server's clock).
const WEBHOOK: &str = r#"
import datetime, hashlib, hmac, json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import boto3, botocore.auth

CONTROL = os.environ["ROTATION_CONTROL"]
SECRET = os.environ["ROTATION_WEBHOOK_SECRET"].encode()

def read(name, default=""):
    try:
        with open(os.path.join(CONTROL, name)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return default

_real_now = botocore.auth.get_current_datetime
def _now(*a, **k):
    return _real_now(*a, **k) + datetime.timedelta(seconds=float(read("offset", "0")))
botocore.auth.get_current_datetime = _now

def client():
    key, secret = read("keys").split()
    return boto3.client("secretsmanager", endpoint_url=read("endpoint"), region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret)

def log(entry):
    with open(os.path.join(CONTROL, "log"), "a") as f:
        f.write(json.dumps(entry) + "\n")

def verify(headers, body):
    ts = headers.get("X-Trent-Timestamp", "")
    expected = "sha256=" + hmac.new(SECRET, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(headers.get("X-Trent-Signature", ""), expected):
        return False
    return ts.isdigit() and abs(time.time() - int(ts)) <= 300

def handle(step, arn, token, rotation_token):
    sm = client()
    md = sm.describe_secret(SecretId=arn)
    stages = md["VersionIdsToStages"].get(token)
    if stages is None:
        raise Exception("unknown version")
    if "AWSCURRENT" in stages:
        return
    if "AWSPENDING" not in stages:
        raise Exception("not pending")
    if step == "createSecret":
        try:
            sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
        except sm.exceptions.ResourceNotFoundException:
            sm.put_secret_value(SecretId=arn, ClientRequestToken=token,
                                SecretString="rotated-" + token, VersionStages=["AWSPENDING"],
                                RotationToken=rotation_token)
    elif step == "setSecret":
        v = sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
        with open(os.path.join(CONTROL, "target"), "w") as f:
            f.write(v["SecretString"])
    elif step == "testSecret":
        v = sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
        if read("target") != v["SecretString"]:
            raise Exception("the target does not have the pending value")
    elif step == "finishSecret":
        current = [v for v, s in md["VersionIdsToStages"].items() if "AWSCURRENT" in s][0]
        sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                       MoveToVersionId=token, RemoveFromVersionId=current)

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status):
        try:
            self.send_response(status)
            self.end_headers()
        except OSError:
            pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not verify(self.headers, body):
            log({"bad_signature": True})
            return self.answer(401)
        event = json.loads(body)
        step, token = event["Step"], event["ClientRequestToken"]
        log({"step": step, "token": token, "secret": event["SecretId"]})
        if read("mode", "ok") == "fail:" + step:
            return self.answer(500)
        while read("mode", "ok") == "hang:" + step:
            time.sleep(0.05)
        try:
            handle(step, event["SecretId"], token, event["RotationToken"])
        except Exception as e:
            log({"error": step, "what": type(e).__name__, "message": str(e)})
            return self.answer(500)
        self.answer(200)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

struct Hook {
    child: Child,
    control: PathBuf,
    url: String,
}

impl Hook {
    fn start(python: &Path, control: &Path) -> Hook {
        let mut child = Command::new(python)
            .args(["-c", WEBHOOK])
            .env("ROTATION_CONTROL", control)
            .env("ROTATION_WEBHOOK_SECRET", HOOK_SECRET)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("{line}"));
        Hook {
            child,
            control: control.to_path_buf(),
            url: format!("http://127.0.0.1:{port}/"),
        }
    }

    fn set(&self, name: &str, value: &str) {
        std::fs::write(self.control.join(name), value).unwrap();
    }

    fn target(&self, endpoint: &str, key: &str, secret: &str) {
        self.set("endpoint", endpoint);
        self.set("keys", &format!("{key} {secret}"));
    }

    fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.control.join("log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn steps(&self) -> Vec<String> {
        self.log()
            .iter()
            .filter_map(|e| e["step"].as_str().map(str::to_string))
            .collect()
    }

    fn webhook(&self) -> trent_server::rotators::RotationWebhook {
        trent_server::rotators::RotationWebhook::parse(&format!("hook={}", self.url), |_| {
            Some(HOOK_SECRET.to_string())
        })
        .unwrap()
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for at least `n` RotationFailed events; returns them, newest first.
async fn rotation_failed_events(cli: &Client, n: usize) -> Value {
    // The failure is written before its audit event: wait for the event itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ev = cli
            .ok("cloudtrail lookup-events --lookup-attributes \
                 AttributeKey=EventName,AttributeValue=RotationFailed")
            .await;
        if ev["Events"].as_array().is_some_and(|a| a.len() >= n) {
            return ev;
        }
        assert!(Instant::now() < deadline, "no RotationFailed event");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for at least `n` events named `name` (TestRotationSucceeded, TestRotationFailed);
/// returns them, newest first.
async fn test_rotation_events(cli: &Client, name: &str, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ev = cli
            .ok(&format!(
                "cloudtrail lookup-events --lookup-attributes \
                 AttributeKey=EventName,AttributeValue={name}"
            ))
            .await;
        if ev["Events"].as_array().is_some_and(|a| a.len() >= n) {
            return ev;
        }
        assert!(Instant::now() < deadline, "no {name} event");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_webhook_signed_steps_failures_and_audit() {
    let (Some(aws), Some(python)) = (find_aws().await, find_python().await) else {
        return;
    };
    let (data, scratch) = dirs();
    let control = tempfile::tempdir().unwrap();
    let hook = Hook::start(&python, control.path());
    let webhook = hook.webhook();
    let server = TestServer::start_with(data.path(), move |o| {
        o.rotation_webhooks = vec![webhook];
    })
    .await;
    hook.target(
        &server.endpoint,
        &server.access_key_id,
        &server.secret_access_key,
    );
    let cli = Client::new(&aws, &server, scratch.path());
    let created = cli
        .ok("secretsmanager create-secret --name app/hooked --secret-string original-value")
        .await;
    let v1 = text(&created, "/VersionId").to_string();

    // No rotator named: refused as AWS refuses it; an unknown function cannot be invoked.
    let e = cli
        .fails(
            "secretsmanager rotate-secret --secret-id app/hooked",
            "InvalidRequestException",
        )
        .await;
    assert!(e.contains("No Lambda rotation function ARN"), "{e}");
    cli.fails(
        &format!(
            "secretsmanager rotate-secret --secret-id app/hooked --rotation-lambda-arn \
             {LAMBDA}nothing-here"
        ),
        "AccessDeniedException",
    )
    .await;
    cli.fails(
        &format!(
            "secretsmanager rotate-secret --secret-id app/hooked --rotation-lambda-arn \
             {LAMBDA}hook --rotation-rules AutomaticallyAfterDays=2,ScheduleExpression=rate(2days)"
        ),
        "InvalidParameterException",
    )
    .await;
    cli.fails(
        &format!(
            "secretsmanager rotate-secret --secret-id app/hooked --rotation-lambda-arn \
             {LAMBDA}hook --rotation-rules ScheduleExpression=rate(1hours)"
        ),
        "InvalidParameterException",
    )
    .await;
    let d = cli
        .ok("secretsmanager describe-secret --secret-id app/hooked")
        .await;
    assert_eq!(d["RotationEnabled"], false);

    // A failing createSecret: the pending version stays without a value.
    hook.set("mode", "fail:createSecret");
    let r = cli
        .ok(&format!(
            "secretsmanager rotate-secret --secret-id app/hooked --rotation-lambda-arn {LAMBDA}hook"
        ))
        .await;
    let token = text(&r, "/VersionId").to_string();
    wait_until("the failed createSecret", || {
        hook.steps() == ["createSecret"]
    })
    .await;
    let failed = rotation_failed_events(&cli, 1).await;
    let record: Value = serde_json::from_str(text(&failed, "/Events/0/CloudTrailEvent")).unwrap();
    assert_eq!(record["serviceEventDetails"]["failedStep"], "createSecret");
    let d = cli
        .ok("secretsmanager describe-secret --secret-id app/hooked")
        .await;
    assert_eq!(stages_of(&d, &token), ["AWSPENDING"]);
    assert_eq!(stages_of(&d, &v1), ["AWSCURRENT"]);
    let e = cli
        .fails(
            "secretsmanager get-secret-value --secret-id app/hooked --version-stage AWSPENDING",
            "ResourceNotFoundException",
        )
        .await;
    assert!(e.contains(&token), "{e}");
    let listed = cli
        .ok("secretsmanager list-secrets --filters Key=name,Values=app/hooked")
        .await;
    assert_eq!(listed["SecretList"][0]["RotationEnabled"], true, "{listed}");

    // A failing setSecret (the rotation tried again by RotateSecret, with the same version):
    // AWSCURRENT stays, the pending version keeps its value, rotation stays on.
    hook.set("mode", "fail:setSecret");
    let e = cli
        .fails(
            "secretsmanager rotate-secret --secret-id app/hooked",
            "InvalidRequestException",
        )
        .await;
    assert!(e.contains("A previous rotation isn't complete"), "{e}");
    wait_until("the failed setSecret", || {
        hook.steps() == ["createSecret", "createSecret", "setSecret"]
    })
    .await;
    let failed = rotation_failed_events(&cli, 2).await;
    let record: Value = serde_json::from_str(text(&failed, "/Events/0/CloudTrailEvent")).unwrap();
    assert_eq!(record["eventType"], "AwsServiceEvent");
    assert_eq!(record["eventSource"], "secretsmanager.amazonaws.com");
    assert_eq!(
        record["userIdentity"]["invokedBy"],
        "secretsmanager.amazonaws.com"
    );
    assert_eq!(record["serviceEventDetails"]["failedStep"], "setSecret");
    assert!(
        text(&record, "/additionalEventData/SecretId").starts_with("arn:aws:secretsmanager:"),
        "{record}"
    );
    let d = cli
        .ok("secretsmanager describe-secret --secret-id app/hooked")
        .await;
    assert_eq!(d["RotationEnabled"], true);
    assert_eq!(stages_of(&d, &v1), ["AWSCURRENT"]);
    assert_eq!(stages_of(&d, &token), ["AWSPENDING"]);
    assert_eq!(
        value(&cli, "app/hooked", "AWSCURRENT").await,
        "original-value"
    );
    assert_eq!(
        value(&cli, "app/hooked", "AWSPENDING").await,
        format!("rotated-{token}")
    );
    // A RotationToken that is not this rotation's is refused.
    cli.fails(
        "secretsmanager put-secret-value --secret-id app/hooked --secret-string x \
         --rotation-token 00000000-0000-4000-8000-000000000000",
        "InvalidRequestException",
    )
    .await;

    // Rotating again: refused as in AWS, and the failed rotation is tried again.
    hook.set("mode", "ok");
    let e = cli
        .fails(
            "secretsmanager rotate-secret --secret-id app/hooked",
            "InvalidRequestException",
        )
        .await;
    assert!(e.contains("A previous rotation isn't complete"), "{e}");
    let d = wait_rotated(&cli, "app/hooked", &token, Some(&server)).await;
    assert_eq!(stages_of(&d, &token), ["AWSCURRENT"]);
    assert_eq!(stages_of(&d, &v1), ["AWSPREVIOUS"]);
    assert_eq!(
        value(&cli, "app/hooked", "AWSCURRENT").await,
        format!("rotated-{token}")
    );
    assert_eq!(
        std::fs::read_to_string(control.path().join("target")).unwrap(),
        format!("rotated-{token}")
    );
    // Every call was signed; a forged one is refused by the endpoint.
    assert!(hook.log().iter().all(|e| e.get("bad_signature").is_none()));
    let forged = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "X-Trent-Timestamp: 1",
            "-H",
            "X-Trent-Signature: sha256=00",
            "-d",
            "{}",
            &hook.url,
        ])
        .output();
    if let Ok(out) = forged {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
    }
    // Succeeded is in the trail too, and no value ever is.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ev = cli
            .ok("cloudtrail lookup-events --lookup-attributes \
                 AttributeKey=EventName,AttributeValue=RotationSucceeded")
            .await;
        if ev["Events"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "no RotationSucceeded event");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = cli.ok("cloudtrail lookup-events --max-results 50").await;
    let all = all.to_string();
    assert!(!all.contains("rotated-"), "a value reached the audit trail");
    assert!(!all.contains("original-value"));
    assert!(all.contains("RotateSecret"));

    // CancelRotateSecret turns rotation off.
    let c = cli
        .ok("secretsmanager cancel-rotate-secret --secret-id app/hooked")
        .await;
    assert_eq!(text(&c, "/Name"), "app/hooked");
    let d = cli
        .ok("secretsmanager describe-secret --secret-id app/hooked")
        .await;
    assert_eq!(d["RotationEnabled"], false);
    assert_eq!(text(&d, "/RotationLambdaARN"), format!("{LAMBDA}hook"));

    // RotateImmediately=false tests the configuration: testSecret on a copy of AWSCURRENT,
    // removed afterwards. A failing test is reported and changes nothing.
    hook.set("mode", "fail:testSecret");
    let before = hook.steps().len();
    cli.ok(&format!(
        "secretsmanager rotate-secret --secret-id app/hooked --rotation-lambda-arn {LAMBDA}hook \
         --rotation-rules AutomaticallyAfterDays=30 --no-rotate-immediately"
    ))
    .await;
    wait_until("the trial testSecret", || {
        hook.steps()[before..] == ["testSecret"]
    })
    .await;
    let failed = test_rotation_events(&cli, "TestRotationFailed", 1).await;
    let record: Value = serde_json::from_str(text(&failed, "/Events/0/CloudTrailEvent")).unwrap();
    assert_eq!(record["eventType"], "AwsServiceEvent");
    assert_eq!(record["serviceEventDetails"]["failedStep"], "testSecret");
    let trial = text(&record, "/serviceEventDetails/versionId").to_string();
    let d = wait_for_versions(&cli, "app/hooked", 2).await;
    assert!(d["VersionIdsToStages"].get(&trial).is_none(), "{d}");
    assert_eq!(stages_of(&d, &token), ["AWSCURRENT"]);
    assert_eq!(d["RotationEnabled"], true);
    assert_eq!(
        value(&cli, "app/hooked", "AWSCURRENT").await,
        format!("rotated-{token}")
    );
    // The failed trial does not block the next one, which passes: the target has AWSCURRENT.
    hook.set("mode", "ok");
    cli.ok("secretsmanager rotate-secret --secret-id app/hooked --no-rotate-immediately")
        .await;
    test_rotation_events(&cli, "TestRotationSucceeded", 1).await;
    assert_eq!(hook.steps()[before..], ["testSecret", "testSecret"]);
    let d = wait_for_versions(&cli, "app/hooked", 2).await;
    assert_eq!(stages_of(&d, &token), ["AWSCURRENT"]);
    server.stop().await;
}

/// Waits until the secret lists `n` versions (a trial's copy is removed after its event).
async fn wait_for_versions(cli: &Client, id: &str, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = cli
            .ok(&format!("secretsmanager describe-secret --secret-id {id}"))
            .await;
        if d["VersionIdsToStages"].as_object().map(|m| m.len()) == Some(n) {
            return d;
        }
        assert!(Instant::now() < deadline, "versions: {d}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_resumes_after_kill_9_between_steps() {
    let (Some(aws), Some(python)) = (find_aws().await, find_python().await) else {
        return;
    };
    let (data, scratch) = dirs();
    let control = tempfile::tempdir().unwrap();
    let hook = Hook::start(&python, control.path());
    let spec = format!("hook={}", hook.url);
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--scheduler-interval-secs",
        "1",
        "--rotation-webhook",
        spec.as_str(),
    ];
    let env = [("TRENT_ROTATION_WEBHOOK_SECRET_HOOK", HOOK_SECRET)];
    let start = |data: &Path| {
        let (child, log) = spawn_serve_with_env(data, &args, &env);
        let event = wait_for_log(&log, "Trent is listening");
        let endpoint = format!("http://{}", event["addr"].as_str().unwrap());
        (child, log, endpoint)
    };

    let (mut child, _log, endpoint) = start(data.path());
    let (key, secret) = read_credentials(data.path());
    hook.target(&endpoint, &key, &secret);
    let cli = Client::for_endpoint(&aws, &endpoint, scratch.path(), &key, &secret);
    let created = cli
        .ok("secretsmanager create-secret --name app/crash --secret-string before-crash")
        .await;
    let v1 = text(&created, "/VersionId").to_string();
    hook.set("mode", "hang:setSecret");
    let r = cli
        .ok(&format!(
            "secretsmanager rotate-secret --secret-id app/crash --rotation-lambda-arn {LAMBDA}hook"
        ))
        .await;
    let token = text(&r, "/VersionId").to_string();
    wait_until("setSecret to start", || {
        hook.steps() == ["createSecret", "setSecret"]
    })
    .await;
    // createSecret is done (the pending version has its value); setSecret is under way.
    assert_eq!(
        value(&cli, "app/crash", "AWSPENDING").await,
        format!("rotated-{token}")
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    hook.set("mode", "ok");

    // The restarted server resumes at setSecret (createSecret is not run again).
    let (mut child, _log, endpoint) = start(data.path());
    hook.target(&endpoint, &key, &secret);
    let cli = Client::for_endpoint(&aws, &endpoint, scratch.path(), &key, &secret);
    let d = wait_rotated(&cli, "app/crash", &token, None).await;
    assert_eq!(stages_of(&d, &token), ["AWSCURRENT"]);
    assert_eq!(stages_of(&d, &v1), ["AWSPREVIOUS"]);
    let steps = hook.steps();
    assert_eq!(
        steps.iter().filter(|s| *s == "createSecret").count(),
        1,
        "{steps:?}"
    );
    assert_eq!(steps.last().map(String::as_str), Some("finishSecret"));
    assert!(steps.contains(&"testSecret".to_string()));
    // The target system and the secret agree.
    let current = value(&cli, "app/crash", "AWSCURRENT").await;
    assert_eq!(current, format!("rotated-{token}"));
    assert_eq!(
        std::fs::read_to_string(control.path().join("target")).unwrap(),
        current
    );

    // A trial of RotateImmediately=false cut short by kill -9 leaves its copy of AWSCURRENT
    // labelled AWSPENDING; after the restart it is cleaned up and does not block the next one.
    hook.set("mode", "hang:testSecret");
    let before = hook.steps().len();
    cli.ok("secretsmanager rotate-secret --secret-id app/crash --no-rotate-immediately")
        .await;
    wait_until("the trial's testSecret to start", || {
        hook.steps().len() == before + 1
    })
    .await;
    let d = cli
        .ok("secretsmanager describe-secret --secret-id app/crash")
        .await;
    assert_eq!(d["VersionIdsToStages"].as_object().unwrap().len(), 3, "{d}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    hook.set("mode", "ok");
    let (mut child, _log, endpoint) = start(data.path());
    hook.target(&endpoint, &key, &secret);
    let cli = Client::for_endpoint(&aws, &endpoint, scratch.path(), &key, &secret);
    cli.ok("secretsmanager rotate-secret --secret-id app/crash --no-rotate-immediately")
        .await;
    test_rotation_events(&cli, "TestRotationSucceeded", 1).await;
    let d = wait_for_versions(&cli, "app/crash", 2).await;
    assert_eq!(stages_of(&d, &token), ["AWSCURRENT"]);
    assert_eq!(stages_of(&d, &v1), ["AWSPREVIOUS"]);
    assert_eq!(value(&cli, "app/crash", "AWSCURRENT").await, current);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_on_schedule_by_the_clock() {
    let (Some(aws), Some(python)) = (find_aws().await, find_python().await) else {
        return;
    };
    let (data, scratch) = dirs();
    let control = tempfile::tempdir().unwrap();
    let hook = Hook::start(&python, control.path());
    let webhook = hook.webhook();
    let server = TestServer::start_with(data.path(), move |o| {
        o.rotation_webhooks = vec![webhook];
    })
    .await;
    hook.target(
        &server.endpoint,
        &server.access_key_id,
        &server.secret_access_key,
    );
    let cli = Client::new(&aws, &server, scratch.path());
    let created = cli
        .ok("secretsmanager create-secret --name app/scheduled --secret-string v0")
        .await;
    let v0 = text(&created, "/VersionId").to_string();
    // The target system has the current credential: the trial testSecret of
    // RotateImmediately=false passes.
    hook.set("target", "v0");
    let r = cli
        .ok(&format!(
            "secretsmanager rotate-secret --secret-id app/scheduled --rotation-lambda-arn \
             {LAMBDA}hook --rotation-rules AutomaticallyAfterDays=2 --no-rotate-immediately"
        ))
        .await;
    assert!(r.get("VersionId").is_none(), "{r}");
    wait_until("the trial testSecret", || hook.steps() == ["testSecret"]).await;
    test_rotation_events(&cli, "TestRotationSucceeded", 1).await;
    // The trial's copy of AWSCURRENT is gone again; nothing else changed.
    let d = wait_for_versions(&cli, "app/scheduled", 1).await;
    assert_eq!(stages_of(&d, &v0), ["AWSCURRENT"]);
    assert_eq!(value(&cli, "app/scheduled", "AWSCURRENT").await, "v0");
    assert_eq!(d["RotationEnabled"], true);
    assert_eq!(d["RotationRules"]["AutomaticallyAfterDays"], 2);
    let day = 86_400_000i64;
    use trent_store::clock::Clock as _;
    let now = server.clock.now_ms();
    let window_start = now - now.rem_euclid(day) + 2 * day;
    let next = d["NextRotationDate"].as_f64().unwrap();
    // The last second of the window: the whole day, two days on.
    assert_eq!((next * 1000.0) as i64, window_start + day - 1000, "{d}");
    let listed = cli
        .ok("secretsmanager list-secrets --filters Key=name,Values=app/scheduled")
        .await;
    assert_eq!(
        listed["SecretList"][0]["NextRotationDate"],
        d["NextRotationDate"]
    );
    assert_eq!(
        listed["SecretList"][0]["RotationRules"]["AutomaticallyAfterDays"],
        2
    );

    // Before the window nothing more happens.
    trent_server::scheduler::tick(&server.state).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hook.steps(), ["testSecret"]);

    // In the window the scheduler rotates, once.
    let advance = window_start + 3_600_000 - now;
    server.clock.advance_ms(advance);
    let offset = (advance / 1000).to_string();
    hook.set("offset", &offset);
    trent_server::scheduler::tick(&server.state).await;
    wait_until("the scheduled rotation", || {
        hook.steps().last().map(String::as_str) == Some("finishSecret")
    })
    .await;
    trent_server::scheduler::tick(&server.state).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hook.steps().len(), 5, "{:?}", hook.steps());

    // The server's clock moved two days, so read the result through the store directly.
    let scope = trent_store::Scope::new("000000000000", "us-east-1");
    let secret = server
        .state
        .store
        .get_secret(&scope, "app/scheduled")
        .await
        .unwrap()
        .unwrap();
    let current = secret
        .versions
        .iter()
        .find(|v| v.stages.contains(&"AWSCURRENT".to_string()))
        .unwrap();
    let token = hook
        .log()
        .iter()
        .find(|e| e["step"] == "createSecret")
        .and_then(|e| e["token"].as_str())
        .unwrap()
        .to_string();
    assert_eq!(current.version_id, token);
    let rotation = server
        .state
        .store
        .get_secret_rotation(&scope, "app/scheduled")
        .await
        .unwrap()
        .unwrap();
    let rotated_at = rotation.last_rotated_ms.unwrap();
    assert!(rotated_at >= window_start);
    // The next window opens two days after the day of this rotation.
    assert_eq!(
        rotation.window_start_ms,
        Some(rotated_at - rotated_at.rem_euclid(day) + 2 * day)
    );

    // A manual PutSecretValue a day later counts as a rotation (AutomaticallyAfterDays): the
    // window that was due does not rotate, the one two days after the change does.
    let next_window = rotation.window_start_ms.unwrap();
    server.clock.advance_ms(day);
    let caller = trent_kms::Caller {
        scope: scope.clone(),
        requester: std::sync::Arc::new(
            trent_policy::Requester::root("000000000000", "us-east-1", server.clock.now_ms())
                .unwrap(),
        ),
        request_id: "manual-change".to_string(),
        touched: Default::default(),
    };
    server
        .state
        .secrets
        .call(
            &caller,
            "PutSecretValue",
            br#"{"SecretId":"app/scheduled","SecretString":"changed by hand"}"#,
        )
        .await
        .unwrap();
    server.clock.set_ms(next_window + 3_600_000);
    trent_server::scheduler::tick(&server.state).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hook.steps().len(), 5, "{:?}", hook.steps());
    let moved = server
        .state
        .store
        .get_secret_rotation(&scope, "app/scheduled")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.window_start_ms, Some(next_window + day));
    server.clock.set_ms(next_window + day + 3_600_000);
    let real_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    hook.set(
        "offset",
        &((server.clock.now_ms() - real_now) / 1000).to_string(),
    );
    trent_server::scheduler::tick(&server.state).await;
    wait_until("the postponed rotation", || hook.steps().len() == 9).await;
    server.stop().await;
}
