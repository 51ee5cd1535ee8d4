//! Secrets Manager through the real `aws` CLI and boto3: versions and staging labels,
//! idempotency, ARNs, deletion with a recovery window and the scheduler's purge, filters and
//! pagination, passwords, tags, KMS authorization of values, and state across a restart.

use base64::Engine as _;
use serde_json::Value;

use crate::cli::{Client, dirs, find_aws, find_python};
use crate::harness::TestServer;

const ARN_PREFIX: &str = "arn:aws:secretsmanager:us-east-1:000000000000:secret:";
const TOKEN_A: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const TOKEN_B: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

fn stages(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    s.sort();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_cli_versions_stages_and_idempotency() {
    let Some(aws) = find_aws().await else {
        return;
    };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());

    let created = cli
        .ok(
            "secretsmanager create-secret --name app/db --secret-string first \
             --description database --tags Key=team,Value=core",
        )
        .await;
    let arn = text(&created, "/ARN").to_string();
    let suffix = arn.strip_prefix(&format!("{ARN_PREFIX}app/db-")).unwrap();
    assert_eq!(suffix.len(), 6, "{arn}");
    assert!(suffix.chars().all(|c| c.is_ascii_alphanumeric()), "{arn}");
    assert_eq!(text(&created, "/Name"), "app/db");
    let v1 = text(&created, "/VersionId").to_string();

    // By name, full ARN and partial ARN.
    for id in ["app/db", arn.as_str(), &format!("{ARN_PREFIX}app/db")] {
        let got = cli
            .ok(&format!("secretsmanager get-secret-value --secret-id {id}"))
            .await;
        assert_eq!(text(&got, "/SecretString"), "first");
        assert_eq!(text(&got, "/ARN"), arn);
        assert_eq!(text(&got, "/VersionId"), v1);
        assert_eq!(stages(&got["VersionStages"]), ["AWSCURRENT"]);
        assert!(got["CreatedDate"].is_number() || got["CreatedDate"].is_string());
    }
    cli.fails(
        "secretsmanager get-secret-value --secret-id app/nothing",
        "ResourceNotFoundException",
    )
    .await;
    cli.fails(
        &format!("secretsmanager get-secret-value --secret-id {ARN_PREFIX}app/db-zzzzzz"),
        "ResourceNotFoundException",
    )
    .await;
    cli.fails(
        "secretsmanager create-secret --name app/db --secret-string again",
        "ResourceExistsException",
    )
    .await;

    // A new value: AWSCURRENT moves, the old version becomes AWSPREVIOUS.
    let put = cli
        .ok("secretsmanager put-secret-value --secret-id app/db --secret-string second")
        .await;
    let v2 = text(&put, "/VersionId").to_string();
    assert_eq!(stages(&put["VersionStages"]), ["AWSCURRENT"]);
    let prev = cli
        .ok("secretsmanager get-secret-value --secret-id app/db --version-stage AWSPREVIOUS")
        .await;
    assert_eq!(text(&prev, "/SecretString"), "first");
    assert_eq!(text(&prev, "/VersionId"), v1);

    // The token is the version id: the same token and value again change nothing, the same
    // token with another value is refused.
    let put = cli
        .ok(&format!(
            "secretsmanager put-secret-value --secret-id app/db --secret-string third \
             --client-request-token {TOKEN_A}"
        ))
        .await;
    assert_eq!(text(&put, "/VersionId"), TOKEN_A);
    let again = cli
        .ok(&format!(
            "secretsmanager put-secret-value --secret-id app/db --secret-string third \
             --client-request-token {TOKEN_A}"
        ))
        .await;
    assert_eq!(stages(&again["VersionStages"]), ["AWSCURRENT"]);
    cli.fails(
        &format!(
            "secretsmanager put-secret-value --secret-id app/db --secret-string other \
             --client-request-token {TOKEN_A}"
        ),
        "ResourceExistsException",
    )
    .await;
    // Labels of the caller's choosing leave AWSCURRENT alone.
    let staged = cli
        .ok(&format!(
            "secretsmanager put-secret-value --secret-id app/db --secret-string fourth \
             --client-request-token {TOKEN_B} --version-stages STAGING"
        ))
        .await;
    assert_eq!(stages(&staged["VersionStages"]), ["STAGING"]);
    let cur = cli
        .ok("secretsmanager get-secret-value --secret-id app/db")
        .await;
    assert_eq!(text(&cur, "/SecretString"), "third");
    let staging = cli
        .ok("secretsmanager get-secret-value --secret-id app/db --version-stage STAGING")
        .await;
    assert_eq!(text(&staging, "/SecretString"), "fourth");
    let by_id = cli
        .ok(&format!(
            "secretsmanager get-secret-value --secret-id app/db --version-id {v2}"
        ))
        .await;
    assert_eq!(text(&by_id, "/SecretString"), "second");
    cli.fails(
        &format!(
            "secretsmanager get-secret-value --secret-id app/db --version-id {v2} \
             --version-stage AWSCURRENT"
        ),
        "ResourceNotFoundException",
    )
    .await;
    cli.fails(
        "secretsmanager get-secret-value --secret-id app/db --version-id \
         cccccccc-cccc-4ccc-8ccc-cccccccccccc",
        "ResourceNotFoundException",
    )
    .await;

    // v1 lost its labels: deprecated, listed only on request.
    let described = cli
        .ok("secretsmanager describe-secret --secret-id app/db")
        .await;
    let map = described["VersionIdsToStages"].as_object().unwrap();
    assert_eq!(map.len(), 3, "{described}");
    assert_eq!(stages(&map[&v2]), ["AWSPREVIOUS"]);
    assert_eq!(stages(&map[TOKEN_A]), ["AWSCURRENT"]);
    assert_eq!(stages(&map[TOKEN_B]), ["STAGING"]);
    assert_eq!(text(&described, "/Description"), "database");
    assert_eq!(described["Tags"][0]["Key"], "team");
    assert!(described.get("DeletedDate").is_none());
    assert!(described["CreatedDate"].is_number() || described["CreatedDate"].is_string());
    let listed = cli
        .ok("secretsmanager list-secret-version-ids --secret-id app/db")
        .await;
    assert_eq!(listed["Versions"].as_array().unwrap().len(), 3);
    let listed = cli
        .ok("secretsmanager list-secret-version-ids --secret-id app/db --include-deprecated")
        .await;
    let versions = listed["Versions"].as_array().unwrap();
    assert_eq!(versions.len(), 4);
    assert!(versions.iter().any(|v| v["VersionId"] == v1.as_str()));
    // Each of the four versions was read today, so each carries the day it was last read.
    for v in versions {
        assert!(v.get("LastAccessedDate").is_some(), "{v}");
    }

    // Moving a label held elsewhere needs RemoveFromVersionId; moving AWSCURRENT moves
    // AWSPREVIOUS.
    cli.fails(
        &format!(
            "secretsmanager update-secret-version-stage --secret-id app/db \
             --version-stage AWSCURRENT --move-to-version-id {TOKEN_B}"
        ),
        "InvalidParameterException",
    )
    .await;
    cli.fails(
        &format!(
            "secretsmanager update-secret-version-stage --secret-id app/db \
             --version-stage AWSCURRENT --move-to-version-id {TOKEN_B} \
             --remove-from-version-id {v2}"
        ),
        "InvalidParameterException",
    )
    .await;
    cli.ok(&format!(
        "secretsmanager update-secret-version-stage --secret-id app/db \
         --version-stage AWSCURRENT --move-to-version-id {TOKEN_B} --remove-from-version-id {TOKEN_A}"
    ))
    .await;
    let described = cli
        .ok("secretsmanager describe-secret --secret-id app/db")
        .await;
    let map = described["VersionIdsToStages"].as_object().unwrap();
    assert_eq!(stages(&map[TOKEN_B]), ["AWSCURRENT", "STAGING"]);
    assert_eq!(stages(&map[TOKEN_A]), ["AWSPREVIOUS"]);
    assert!(!map.contains_key(&v2), "{described}");
    cli.fails(
        &format!(
            "secretsmanager update-secret-version-stage --secret-id app/db \
             --version-stage AWSCURRENT --remove-from-version-id {TOKEN_B}"
        ),
        "InvalidParameterException",
    )
    .await;
    cli.ok(&format!(
        "secretsmanager update-secret-version-stage --secret-id app/db \
         --version-stage STAGING --remove-from-version-id {TOKEN_B}"
    ))
    .await;
    cli.fails(
        "secretsmanager get-secret-value --secret-id app/db --version-stage STAGING",
        "ResourceNotFoundException",
    )
    .await;

    // UpdateSecret: description and a new current value.
    let updated = cli
        .ok(
            "secretsmanager update-secret --secret-id app/db --description changed \
             --secret-string fifth",
        )
        .await;
    assert!(updated["VersionId"].is_string(), "{updated}");
    let cur = cli
        .ok("secretsmanager get-secret-value --secret-id app/db")
        .await;
    assert_eq!(text(&cur, "/SecretString"), "fifth");
    let described = cli
        .ok("secretsmanager describe-secret --secret-id app/db")
        .await;
    assert_eq!(text(&described, "/Description"), "changed");
    assert!(described.get("LastAccessedDate").is_some(), "{described}");

    // Tags.
    cli.ok("secretsmanager tag-resource --secret-id app/db --tags Key=env,Value=prod Key=team,Value=ops")
        .await;
    cli.ok("secretsmanager untag-resource --secret-id app/db --tag-keys env")
        .await;
    let described = cli
        .ok("secretsmanager describe-secret --secret-id app/db")
        .await;
    assert_eq!(
        described["Tags"],
        serde_json::json!([{"Key": "team", "Value": "ops"}])
    );
    cli.fails(
        "secretsmanager tag-resource --secret-id app/db --tags Key=aws:x,Value=y",
        "InvalidParameterException",
    )
    .await;

    // Binary values, base64 on the wire.
    let bytes: Vec<u8> = (0u8..=255).collect();
    std::fs::write(scratch.path().join("blob"), &bytes).unwrap();
    cli.ok("secretsmanager create-secret --name bin --secret-binary fileb://blob")
        .await;
    let got = cli
        .ok("secretsmanager get-secret-value --secret-id bin")
        .await;
    assert!(got.get("SecretString").is_none());
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text(&got, "/SecretBinary"))
        .unwrap();
    assert_eq!(decoded, bytes);

    // Bad input.
    cli.fails(
        "secretsmanager create-secret --name bad#name --secret-string x",
        "InvalidParameterException",
    )
    .await;
    cli.fails(
        "secretsmanager create-secret --name both --secret-string x --secret-binary fileb://blob",
        "InvalidParameterException",
    )
    .await;
    std::fs::write(scratch.path().join("big"), "x".repeat(65_537)).unwrap();
    cli.fails(
        "secretsmanager create-secret --name big --secret-string file://big",
        "ValidationException",
    )
    .await;
    std::fs::write(scratch.path().join("max"), "y".repeat(65_536)).unwrap();
    cli.ok("secretsmanager create-secret --name max --secret-string file://max")
        .await;
    cli.fails(
        "secretsmanager put-secret-value --secret-id app/db",
        "InvalidParameterException",
    )
    .await;

    // A secret without a value yet.
    cli.ok("secretsmanager create-secret --name empty").await;
    cli.fails(
        "secretsmanager get-secret-value --secret-id empty",
        "ResourceNotFoundException",
    )
    .await;
    let put = cli
        .ok(
            "secretsmanager put-secret-value --secret-id empty --secret-string now \
             --version-stages CUSTOM",
        )
        .await;
    // The first version always becomes AWSCURRENT.
    assert_eq!(stages(&put["VersionStages"]), ["AWSCURRENT", "CUSTOM"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_cli_deletion_recovery_and_purge() {
    let Some(aws) = find_aws().await else {
        return;
    };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());
    let arn = text(
        &cli.ok("secretsmanager create-secret --name doomed --secret-string v")
            .await,
        "/ARN",
    )
    .to_string();

    let err = cli
        .fails(
            "secretsmanager delete-secret --secret-id doomed --recovery-window-in-days 7 \
             --force-delete-without-recovery",
            "InvalidParameterException",
        )
        .await;
    assert!(err.contains("ForceDeleteWithoutRecovery"), "{err}");
    cli.fails(
        "secretsmanager delete-secret --secret-id doomed --recovery-window-in-days 6",
        "InvalidParameterException",
    )
    .await;
    cli.fails(
        "secretsmanager delete-secret --secret-id doomed --recovery-window-in-days 31",
        "InvalidParameterException",
    )
    .await;
    let deleted = cli
        .ok("secretsmanager delete-secret --secret-id doomed --recovery-window-in-days 7")
        .await;
    assert_eq!(text(&deleted, "/ARN"), arn);
    assert!(deleted.get("DeletionDate").is_some());

    let err = cli
        .fails(
            "secretsmanager get-secret-value --secret-id doomed",
            "InvalidRequestException",
        )
        .await;
    assert!(err.contains("marked for deletion"), "{err}");
    for cmd in [
        "secretsmanager put-secret-value --secret-id doomed --secret-string x",
        "secretsmanager update-secret --secret-id doomed --description x",
        "secretsmanager list-secret-version-ids --secret-id doomed",
        "secretsmanager tag-resource --secret-id doomed --tags Key=a,Value=b",
        "secretsmanager delete-secret --secret-id doomed",
        "secretsmanager create-secret --name doomed --secret-string again",
    ] {
        cli.fails(cmd, "InvalidRequestException").await;
    }
    let described = cli
        .ok("secretsmanager describe-secret --secret-id doomed")
        .await;
    assert!(described.get("DeletedDate").is_some(), "{described}");
    let listed = cli.ok("secretsmanager list-secrets").await;
    assert!(listed["SecretList"].as_array().unwrap().is_empty());
    let listed = cli
        .ok("secretsmanager list-secrets --include-planned-deletion")
        .await;
    assert_eq!(listed["SecretList"][0]["ARN"], arn.as_str());

    cli.ok("secretsmanager restore-secret --secret-id doomed")
        .await;
    let got = cli
        .ok("secretsmanager get-secret-value --secret-id doomed")
        .await;
    assert_eq!(text(&got, "/SecretString"), "v");

    // The default window is 30 days: still there after 29, gone after 30.
    // The scheduler runs in the future; the CLI signs with the system clock, so the clock
    // comes back before each request.
    cli.ok("secretsmanager delete-secret --secret-id doomed")
        .await;
    let run_at = |ms: i64| {
        let server = &server;
        async move {
            server.clock.advance_ms(ms);
            trent_server::scheduler::tick(&server.state).await;
            server.clock.advance_ms(-ms);
        }
    };
    run_at(29 * 86_400_000).await;
    cli.ok("secretsmanager describe-secret --secret-id doomed")
        .await;
    run_at(30 * 86_400_000 + 1000).await;
    cli.fails(
        "secretsmanager describe-secret --secret-id doomed",
        "ResourceNotFoundException",
    )
    .await;
    // The name is free again, with a new ARN.
    let again = cli
        .ok("secretsmanager create-secret --name doomed --secret-string w")
        .await;
    assert_ne!(text(&again, "/ARN"), arn);

    // Force deletion is immediate, also of a secret already scheduled.
    cli.ok("secretsmanager delete-secret --secret-id doomed")
        .await;
    cli.ok("secretsmanager delete-secret --secret-id doomed --force-delete-without-recovery")
        .await;
    cli.fails(
        "secretsmanager describe-secret --secret-id doomed",
        "ResourceNotFoundException",
    )
    .await;
    cli.fails(
        "secretsmanager restore-secret --secret-id doomed",
        "ResourceNotFoundException",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_cli_list_filters_sorting_and_pages() {
    let Some(aws) = find_aws().await else {
        return;
    };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());
    for (name, desc, tag) in [
        ("prod/db", "Primary database", "Key=env,Value=prod"),
        ("prod/api", "API keys", "Key=env,Value=prod"),
        ("dev/db", "Dev database", "Key=env,Value=dev"),
        ("dev/cache", "cache", "Key=tier,Value=cache"),
        ("shared", "shared things", "Key=owner,Value=platform"),
    ] {
        cli.ok(&format!(
            "secretsmanager create-secret --name {name} --secret-string v --description {} --tags {tag}",
            desc.replace(' ', "_")
        ))
        .await;
        server.clock.advance_ms(1000);
    }
    let names = |v: &Value| -> Vec<String> {
        v["SecretList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Name"].as_str().unwrap().to_string())
            .collect()
    };
    let all = cli.ok("secretsmanager list-secrets").await;
    assert_eq!(
        names(&all),
        ["prod/db", "prod/api", "dev/db", "dev/cache", "shared"]
    );
    assert!(all["SecretList"][0]["SecretVersionsToStages"].is_object());
    let desc = cli
        .ok("secretsmanager list-secrets --sort-order desc")
        .await;
    assert_eq!(names(&desc)[0], "shared");
    let by_name = cli.ok("secretsmanager list-secrets --sort-by name").await;
    assert_eq!(names(&by_name)[0], "dev/cache");

    let f = cli
        .ok("secretsmanager list-secrets --filters Key=name,Values=prod/")
        .await;
    assert_eq!(names(&f), ["prod/db", "prod/api"]);
    let f = cli
        .ok("secretsmanager list-secrets --filters Key=name,Values=!prod/")
        .await;
    assert_eq!(names(&f), ["dev/db", "dev/cache", "shared"]);
    let f = cli
        .ok("secretsmanager list-secrets --filters Key=tag-value,Values=prod,dev")
        .await;
    assert_eq!(names(&f), ["prod/db", "prod/api", "dev/db"]);
    let f = cli
        .ok("secretsmanager list-secrets --filters Key=tag-key,Values=env Key=name,Values=dev")
        .await;
    assert_eq!(names(&f), ["dev/db"]);
    let f = cli
        .ok("secretsmanager list-secrets --filters Key=description,Values=dev")
        .await;
    assert_eq!(names(&f), ["dev/db"], "description matches ignoring case");
    let f = cli
        .ok("secretsmanager list-secrets --filters Key=all,Values=platform")
        .await;
    assert_eq!(names(&f), ["shared"]);
    cli.fails(
        "secretsmanager list-secrets --filters Key=color,Values=x",
        "ValidationException",
    )
    .await;

    // Pages of two; NextToken carries on.
    let page = cli
        .ok("secretsmanager list-secrets --no-paginate --max-results 2")
        .await;
    assert_eq!(names(&page), ["prod/db", "prod/api"]);
    let token = text(&page, "/NextToken").to_string();
    let page = cli
        .ok(&format!(
            "secretsmanager list-secrets --no-paginate --max-results 2 --next-token {token}"
        ))
        .await;
    assert_eq!(names(&page), ["dev/db", "dev/cache"]);
    cli.fails(
        "secretsmanager list-secrets --no-paginate --next-token bm9wZQ==",
        "InvalidNextTokenException",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_cli_random_password() {
    let Some(aws) = find_aws().await else {
        return;
    };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());
    let p = cli.ok("secretsmanager get-random-password").await;
    let p = text(&p, "/RandomPassword");
    assert_eq!(p.chars().count(), 32);
    assert!(p.chars().any(|c| c.is_ascii_punctuation()));
    assert!(!p.contains(' '));
    let p = cli
        .ok(
            "secretsmanager get-random-password --password-length 64 --exclude-punctuation \
             --exclude-uppercase --exclude-characters abcdef0123",
        )
        .await;
    let p = text(&p, "/RandomPassword");
    assert_eq!(p.len(), 64);
    assert!(
        p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{p}"
    );
    assert!(!p.chars().any(|c| "abcdef0123".contains(c)), "{p}");
    let p = cli
        .ok(
            "secretsmanager get-random-password --password-length 5 --include-space \
             --require-each-included-type",
        )
        .await;
    assert!(text(&p, "/RandomPassword").contains(' '));
    cli.fails(
        "secretsmanager get-random-password --password-length 4097",
        "ValidationException",
    )
    .await;
    cli.fails(
        "secretsmanager get-random-password --password-length 3",
        "InvalidParameterException",
    )
    .await;
    cli.fails(
        "secretsmanager get-random-password --exclude-numbers --exclude-punctuation \
         --exclude-uppercase --exclude-lowercase",
        "InvalidParameterException",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_values_need_kms_decrypt_and_survive_a_restart() {
    let Some(aws) = find_aws().await else {
        return;
    };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let root = Client::new(&aws, &server, scratch.path());
    let key = root.ok("kms create-key").await;
    let key_arn = text(&key, "/KeyMetadata/Arn").to_string();
    root.ok(&format!(
        "secretsmanager create-secret --name cmk --secret-string guarded --kms-key-id {key_arn}"
    ))
    .await;
    root.ok("secretsmanager create-secret --name managed --secret-string plain")
        .await;
    let described = root
        .ok("secretsmanager describe-secret --secret-id cmk")
        .await;
    assert_eq!(text(&described, "/KmsKeyId"), key_arn);
    // The AWS managed key was created on first use.
    let alias = root.ok("kms list-aliases").await;
    assert!(
        alias["Aliases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["AliasName"] == "alias/aws/secretsmanager"),
        "{alias}"
    );

    root.ok("iam create-user --user-name reader").await;
    let k = root.ok("iam create-access-key --user-name reader").await;
    let reader = Client::with_keys(
        &aws,
        &server,
        scratch.path(),
        text(&k, "/AccessKey/AccessKeyId"),
        text(&k, "/AccessKey/SecretAccessKey"),
    );
    root.ok(
        r#"iam put-user-policy --user-name reader --policy-name sm --policy-document {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#,
    )
    .await;
    // Without kms:Decrypt on the customer key, the value cannot be read.
    let err = reader
        .fails(
            "secretsmanager get-secret-value --secret-id cmk",
            "AccessDeniedException",
        )
        .await;
    assert!(err.contains("Access to KMS is not allowed"), "{err}");
    // The AWS managed key allows the account's principals through Secrets Manager.
    let got = reader
        .ok("secretsmanager get-secret-value --secret-id managed")
        .await;
    assert_eq!(text(&got, "/SecretString"), "plain");
    root.ok(&format!(
        r#"iam put-user-policy --user-name reader --policy-name d --policy-document {{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"{key_arn}"}}]}}"#
    ))
    .await;
    let got = reader
        .ok("secretsmanager get-secret-value --secret-id cmk")
        .await;
    assert_eq!(text(&got, "/SecretString"), "guarded");
    // A disabled key cannot decrypt.
    root.ok(&format!("kms disable-key --key-id {key_arn}"))
        .await;
    root.fails(
        "secretsmanager get-secret-value --secret-id cmk",
        "DecryptionFailure",
    )
    .await;
    root.fails(
        "secretsmanager put-secret-value --secret-id cmk --secret-string x",
        "EncryptionFailure",
    )
    .await;
    root.ok(&format!("kms enable-key --key-id {key_arn}")).await;

    // Nothing in the database file is the plaintext.
    server.stop().await;
    let db = std::fs::read(data.path().join("trent.db")).unwrap_or_default();
    let wal = std::fs::read(data.path().join("trent.db-wal")).unwrap_or_default();
    for file in [&db, &wal] {
        assert!(!file.windows(7).any(|w| w == b"guarded"));
    }
    let server = TestServer::start(data.path()).await;
    let root = Client::new(&aws, &server, scratch.path());
    let got = root
        .ok("secretsmanager get-secret-value --secret-id cmk")
        .await;
    assert_eq!(text(&got, "/SecretString"), "guarded");
    let described = root
        .ok("secretsmanager describe-secret --secret-id managed")
        .await;
    assert_eq!(
        described["VersionIdsToStages"].as_object().unwrap().len(),
        1
    );
    server.stop().await;
}

const BOTO3_SCRIPT: &str = r#"
import json, boto3, botocore
sm = boto3.client("secretsmanager")
out = {}
a = sm.create_secret(Name="batch/a", SecretString="alpha")
b = sm.create_secret(Name="batch/b", SecretBinary=b"\x00\x01beta")
sm.create_secret(Name="other/c", SecretString="gamma")
sm.create_secret(Name="batch/gone", SecretString="x")
sm.delete_secret(SecretId="batch/gone")
r = sm.batch_get_secret_value(SecretIdList=["batch/a", b["ARN"], "batch/missing", "batch/gone"])
out["ids"] = sorted([v["Name"] for v in r["SecretValues"]])
out["binary"] = [v["SecretBinary"].hex() for v in r["SecretValues"] if "SecretBinary" in v]
out["errors"] = sorted([(e["SecretId"], e["ErrorCode"]) for e in r["Errors"]])
r = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": ["batch/"]}], MaxResults=1)
out["filtered_first"] = [v["Name"] for v in r["SecretValues"]]
r = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": ["batch/"]}], MaxResults=1, NextToken=r["NextToken"])
out["filtered_second"] = [v["Name"] for v in r["SecretValues"]]
out["filtered_more"] = "NextToken" in r
try:
    sm.batch_get_secret_value(SecretIdList=["batch/a"], Filters=[{"Key": "name", "Values": ["x"]}])
    out["both"] = "accepted"
except botocore.exceptions.ClientError as e:
    out["both"] = e.response["Error"]["Code"]
try:
    sm.get_secret_value(SecretId="batch/gone")
except botocore.exceptions.ClientError as e:
    out["gone"] = [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
v = sm.get_secret_value(SecretId=a["ARN"])
out["value"] = v["SecretString"]
sm.create_secret(Name="labels", SecretString="base")
for i in range(19):
    sm.put_secret_value(SecretId="labels", SecretString=str(i), VersionStages=["L%d" % i])
try:
    sm.put_secret_value(SecretId="labels", SecretString="x", VersionStages=["L19"])
    out["labels"] = "accepted"
except botocore.exceptions.ClientError as e:
    out["labels"] = e.response["Error"]["Code"]
page = sm.list_secret_version_ids(SecretId="labels", MaxResults=15)
rest = sm.list_secret_version_ids(SecretId="labels", MaxResults=15, NextToken=page["NextToken"])
out["version_pages"] = [len(page["Versions"]), len(rest["Versions"]), "NextToken" in rest]
pw = sm.get_random_password(PasswordLength=20, ExcludePunctuation=True)
out["password_len"] = len(pw["RandomPassword"])
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_boto3_batch_get_and_errors() {
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
    assert_eq!(out["ids"], serde_json::json!(["batch/a", "batch/b"]));
    assert_eq!(out["binary"], serde_json::json!(["000162657461"]));
    assert_eq!(
        out["errors"],
        serde_json::json!([
            ["batch/gone", "InvalidRequestException"],
            ["batch/missing", "ResourceNotFoundException"]
        ])
    );
    assert_eq!(out["filtered_first"], serde_json::json!(["batch/a"]));
    assert_eq!(out["filtered_second"], serde_json::json!(["batch/b"]));
    assert_eq!(out["filtered_more"], false);
    assert_eq!(out["both"], "InvalidParameterException");
    assert_eq!(
        out["gone"],
        serde_json::json!(["InvalidRequestException", 400])
    );
    assert_eq!(out["value"], "alpha");
    assert_eq!(out["password_len"], 20);
    // AWSCURRENT and L0..L18 are 20 labels; a 21st is refused.
    assert_eq!(out["labels"], "LimitExceededException");
    assert_eq!(out["version_pages"], serde_json::json!([15, 5, false]));
    server.stop().await;
}

fn policy(effect: &str, principal: &str, action: &str, resource: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"{effect}","Principal":{principal},"Action":"{action}","Resource":"{resource}"}}]}}"#
    )
}

async fn user(
    root: &Client,
    aws: &std::path::Path,
    server: &TestServer,
    scratch: &std::path::Path,
    name: &str,
) -> Client {
    root.ok(&format!("iam create-user --user-name {name}"))
        .await;
    let k = root
        .ok(&format!("iam create-access-key --user-name {name}"))
        .await;
    Client::with_keys(
        aws,
        server,
        scratch,
        text(&k, "/AccessKey/AccessKeyId"),
        text(&k, "/AccessKey/SecretAccessKey"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_identity_and_resource_policies_decide() {
    let Some(aws) = find_aws().await else {
        return;
    };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let root = Client::new(&aws, &server, scratch.path());
    let shared = text(
        &root
            .ok("secretsmanager create-secret --name shared/db --secret-string one")
            .await,
        "/ARN",
    )
    .to_string();
    let private = text(
        &root
            .ok("secretsmanager create-secret --name private --secret-string two")
            .await,
        "/ARN",
    )
    .to_string();
    let alice = user(&root, &aws, &server, scratch.path(), "alice").await;
    let alice_arn = "arn:aws:iam::000000000000:user/alice";

    // No policy: denied, and a missing name is not revealed.
    let err = alice
        .fails(
            "secretsmanager get-secret-value --secret-id shared/db",
            "AccessDeniedException",
        )
        .await;
    assert!(
        err.contains("is not authorized to perform: secretsmanager:GetSecretValue"),
        "{err}"
    );
    alice
        .fails(
            "secretsmanager describe-secret --secret-id no/such",
            "AccessDeniedException",
        )
        .await;
    alice
        .fails("secretsmanager list-secrets", "AccessDeniedException")
        .await;

    // An identity policy on a name prefix.
    root.ok(
        r#"iam put-user-policy --user-name alice --policy-name p --policy-document {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"arn:aws:secretsmanager:us-east-1:000000000000:secret:shared/*"}]}"#,
    )
    .await;
    let got = alice
        .ok("secretsmanager get-secret-value --secret-id shared/db")
        .await;
    assert_eq!(text(&got, "/SecretString"), "one");
    alice
        .fails(
            "secretsmanager describe-secret --secret-id shared/nothing",
            "ResourceNotFoundException",
        )
        .await;
    alice
        .fails(
            "secretsmanager get-secret-value --secret-id private",
            "AccessDeniedException",
        )
        .await;
    alice
        .fails(
            "secretsmanager put-secret-value --secret-id shared/db --secret-string x",
            "AccessDeniedException",
        )
        .await;

    // Same account: a resource policy naming the user is enough on its own.
    root.ok(&format!(
        "secretsmanager put-resource-policy --secret-id private --resource-policy {}",
        policy(
            "Allow",
            &format!(r#"{{"AWS":"{alice_arn}"}}"#),
            "secretsmanager:GetSecretValue",
            "*"
        )
    ))
    .await;
    let got = alice
        .ok("secretsmanager get-secret-value --secret-id private")
        .await;
    assert_eq!(text(&got, "/SecretString"), "two");
    let got = root
        .ok("secretsmanager get-resource-policy --secret-id private")
        .await;
    assert!(text(&got, "/ResourcePolicy").contains(alice_arn));
    assert_eq!(text(&got, "/ARN"), private);

    // A resource policy naming only the account delegates to IAM: bob has no identity policy.
    let bob = user(&root, &aws, &server, scratch.path(), "bob").await;
    root.ok(&format!(
        "secretsmanager put-resource-policy --secret-id private --resource-policy {}",
        policy(
            "Allow",
            r#"{"AWS":"arn:aws:iam::000000000000:root"}"#,
            "secretsmanager:GetSecretValue",
            "*"
        )
    ))
    .await;
    bob.fails(
        "secretsmanager get-secret-value --secret-id private",
        "AccessDeniedException",
    )
    .await;

    // An explicit deny in the resource policy beats alice's identity allow.
    root.ok(&format!(
        "secretsmanager put-resource-policy --secret-id {shared} --resource-policy {}",
        policy(
            "Deny",
            &format!(r#"{{"AWS":"{alice_arn}"}}"#),
            "secretsmanager:*",
            "*"
        )
    ))
    .await;
    let err = alice
        .fails(
            "secretsmanager get-secret-value --secret-id shared/db",
            "AccessDeniedException",
        )
        .await;
    assert!(
        err.contains("explicit deny in a resource-based policy"),
        "{err}"
    );
    root.ok("secretsmanager delete-resource-policy --secret-id shared/db")
        .await;
    let got = root
        .ok("secretsmanager get-resource-policy --secret-id shared/db")
        .await;
    assert!(got.get("ResourcePolicy").is_none(), "{got}");
    alice
        .ok("secretsmanager get-secret-value --secret-id shared/db")
        .await;

    // BlockPublicPolicy and ValidateResourcePolicy.
    let public = policy("Allow", r#""*""#, "secretsmanager:GetSecretValue", "*");
    root.fails(
        &format!(
            "secretsmanager put-resource-policy --secret-id private --block-public-policy              --resource-policy {public}"
        ),
        "PublicPolicyException",
    )
    .await;
    let checked = root
        .ok(&format!(
            "secretsmanager validate-resource-policy --secret-id private --resource-policy {public}"
        ))
        .await;
    assert_eq!(checked["PolicyValidationPassed"], false, "{checked}");
    let narrow = policy(
        "Allow",
        &format!(r#"{{"AWS":"{alice_arn}"}}"#),
        "secretsmanager:GetSecretValue",
        "*",
    );
    let checked = root
        .ok(&format!(
            "secretsmanager validate-resource-policy --resource-policy {narrow}"
        ))
        .await;
    assert_eq!(checked["PolicyValidationPassed"], true, "{checked}");
    root.ok(&format!(
        "secretsmanager put-resource-policy --secret-id private --block-public-policy          --resource-policy {narrow}"
    ))
    .await;
    root.fails(
        "secretsmanager put-resource-policy --secret-id private --resource-policy {\"Version\":1}",
        "MalformedPolicyDocumentException",
    )
    .await;

    // Another account: the resource policy and the caller's own identity policies must both
    // allow.
    let other = server
        .state
        .create_account(Some("111111111111"))
        .await
        .unwrap();
    let other_root = Client::with_keys(
        &aws,
        &server,
        scratch.path(),
        &other.access_key_id,
        std::str::from_utf8(other.secret_access_key.expose_secret()).unwrap(),
    );
    other_root
        .fails(
            &format!("secretsmanager describe-secret --secret-id {shared}"),
            "AccessDeniedException",
        )
        .await;
    root.ok(&format!(
        "secretsmanager put-resource-policy --secret-id shared/db --resource-policy {}",
        policy(
            "Allow",
            r#"{"AWS":"arn:aws:iam::111111111111:root"}"#,
            "secretsmanager:DescribeSecret",
            "*"
        )
    ))
    .await;
    let described = other_root
        .ok(&format!(
            "secretsmanager describe-secret --secret-id {shared}"
        ))
        .await;
    assert_eq!(text(&described, "/ARN"), shared);
    // The name alone means the caller's own account.
    other_root
        .fails(
            "secretsmanager describe-secret --secret-id shared/db",
            "ResourceNotFoundException",
        )
        .await;
    let henry = user(&other_root, &aws, &server, scratch.path(), "henry").await;
    henry
        .fails(
            &format!("secretsmanager describe-secret --secret-id {shared}"),
            "AccessDeniedException",
        )
        .await;
    other_root
        .ok(
            r#"iam put-user-policy --user-name henry --policy-name p --policy-document {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:DescribeSecret","Resource":"*"}]}"#,
        )
        .await;
    henry
        .ok(&format!(
            "secretsmanager describe-secret --secret-id {shared}"
        ))
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_store_references_read_secrets() {
    let Some(aws) = find_aws().await else {
        return;
    };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());
    let created = cli
        .ok("secretsmanager create-secret --name app/db --secret-string first")
        .await;
    let arn = text(&created, "/ARN").to_string();
    let v1 = text(&created, "/VersionId").to_string();
    cli.ok("secretsmanager put-secret-value --secret-id app/db --secret-string second")
        .await;
    let reference = "/aws/reference/secretsmanager/app/db";

    let got = cli
        .ok(&format!(
            "ssm get-parameter --name {reference} --with-decryption"
        ))
        .await;
    let p = &got["Parameter"];
    assert_eq!(p["Name"], reference);
    assert_eq!(p["Type"], "SecureString");
    assert_eq!(p["Value"], "second");
    assert_eq!(p["Version"], 0);
    assert_eq!(p["ARN"], arn.as_str());
    assert_eq!(p["DataType"], "text");
    assert!(p.get("Selector").is_none());
    let source: Value = serde_json::from_str(text(p, "/SourceResult")).unwrap();
    assert_eq!(source["Name"], "app/db");
    assert_eq!(source["ARN"], arn.as_str());
    assert_eq!(source["VersionIdsToStages"].as_object().unwrap().len(), 2);

    let got = cli
        .ok(&format!(
            "ssm get-parameter --name {reference}:AWSPREVIOUS --with-decryption"
        ))
        .await;
    assert_eq!(got["Parameter"]["Value"], "first");
    assert_eq!(got["Parameter"]["Selector"], ":AWSPREVIOUS");
    let got = cli
        .ok(&format!(
            "ssm get-parameter --name {reference}:{v1} --with-decryption"
        ))
        .await;
    assert_eq!(got["Parameter"]["Value"], "first");
    cli.fails(
        &format!("ssm get-parameter --name {reference}:NOLABEL --with-decryption"),
        "ParameterNotFound",
    )
    .await;
    cli.fails(
        &format!("ssm get-parameter --name {reference}"),
        "ValidationException",
    )
    .await;
    cli.fails(
        "ssm get-parameter --name /aws/reference/secretsmanager/none --with-decryption",
        "ParameterNotFound",
    )
    .await;
    let got = cli
        .ok(&format!(
            "ssm get-parameters --names {reference} /aws/reference/secretsmanager/none \
             --with-decryption"
        ))
        .await;
    assert_eq!(got["Parameters"][0]["Value"], "second");
    assert_eq!(
        got["InvalidParameters"],
        serde_json::json!(["/aws/reference/secretsmanager/none"])
    );

    // Binary secrets come back base64-encoded.
    std::fs::write(scratch.path().join("blob"), [0u8, 1, 2, 255]).unwrap();
    cli.ok("secretsmanager create-secret --name bin --secret-binary fileb://blob")
        .await;
    let got = cli
        .ok("ssm get-parameter --name /aws/reference/secretsmanager/bin --with-decryption")
        .await;
    assert_eq!(got["Parameter"]["Value"], "AAEC/w==");

    // A secret scheduled for deletion is not found; a caller without GetSecretValue is denied.
    cli.ok("secretsmanager delete-secret --secret-id bin").await;
    cli.fails(
        "ssm get-parameter --name /aws/reference/secretsmanager/bin --with-decryption",
        "ParameterNotFound",
    )
    .await;
    let carol = user(&cli, &aws, &server, scratch.path(), "carol").await;
    cli.ok(
        r#"iam put-user-policy --user-name carol --policy-name p --policy-document {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameter","Resource":"*"}]}"#,
    )
    .await;
    carol
        .fails(
            &format!("ssm get-parameter --name {reference} --with-decryption"),
            "AccessDeniedException",
        )
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_request_condition_keys() {
    let Some(aws) = find_aws().await else {
        return;
    };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let root = Client::new(&aws, &server, scratch.path());
    let dana = user(&root, &aws, &server, scratch.path(), "dana").await;
    root.ok(
        r#"iam put-user-policy --user-name dana --policy-name p --policy-document {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:CreateSecret","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/team":"core"}}},{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","secretsmanager:UntagResource"],"Resource":"*"},{"Effect":"Deny","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"secretsmanager:VersionStage":"AWSPREVIOUS"}}},{"Effect":"Deny","Action":"secretsmanager:UntagResource","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":"team"}}}]}"#,
    )
    .await;
    dana.fails(
        "secretsmanager create-secret --name t1 --secret-string x",
        "AccessDeniedException",
    )
    .await;
    dana.fails(
        "secretsmanager create-secret --name t1 --secret-string x --tags Key=team,Value=web",
        "AccessDeniedException",
    )
    .await;
    dana.ok("secretsmanager create-secret --name t1 --secret-string x \
         --tags Key=team,Value=core Key=env,Value=dev")
        .await;
    root.ok("secretsmanager put-secret-value --secret-id t1 --secret-string y")
        .await;
    let got = dana
        .ok("secretsmanager get-secret-value --secret-id t1")
        .await;
    assert_eq!(text(&got, "/SecretString"), "y");
    dana.fails(
        "secretsmanager get-secret-value --secret-id t1 --version-stage AWSPREVIOUS",
        "AccessDeniedException",
    )
    .await;
    dana.ok("secretsmanager untag-resource --secret-id t1 --tag-keys env")
        .await;
    dana.fails(
        "secretsmanager untag-resource --secret-id t1 --tag-keys team",
        "AccessDeniedException",
    )
    .await;
    server.stop().await;
}
