//! Parameter Store through the AWS SDK for Rust (`aws-sdk-ssm`), unchanged but for the endpoint.

use std::collections::{BTreeSet, HashSet};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_ssm::types::{ParameterTier, ParameterType, Tag};
use base64::Engine as _;

use crate::harness::{TestServer, code, message};

const ACCOUNT: &str = "000000000000";

async fn put(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) -> i64 {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {name}: {e:?}"))
        .version()
}

async fn value_of(ssm: &aws_sdk_ssm::Client, name: &str, decrypt: bool) -> String {
    ssm.get_parameter()
        .name(name)
        .with_decryption(decrypt)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {name}: {e:?}"))
        .parameter()
        .unwrap()
        .value()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn ssm_put_get_overwrite_and_selectors() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();

    let out = ssm
        .put_parameter()
        .name("/app/db/host")
        .value("db1.internal")
        .r#type(ParameterType::String)
        .description("database host")
        .tags(Tag::builder().key("team").value("core").build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.version(), 1);
    assert_eq!(out.tier(), Some(&ParameterTier::Standard));

    let got = ssm
        .get_parameter()
        .name("/app/db/host")
        .send()
        .await
        .unwrap();
    let p = got.parameter().unwrap();
    assert_eq!(p.name(), Some("/app/db/host"));
    assert_eq!(p.value(), Some("db1.internal"));
    assert_eq!(p.version(), 1);
    assert_eq!(p.r#type(), Some(&ParameterType::String));
    assert_eq!(p.data_type(), Some("text"));
    assert_eq!(
        p.arn(),
        Some(format!("arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/app/db/host").as_str())
    );
    assert!(p.selector().is_none());
    assert!(p.last_modified_date().is_some());

    // Without Overwrite an existing name is refused; with it, a new version.
    let err = ssm
        .put_parameter()
        .name("/app/db/host")
        .value("db2")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterAlreadyExists");
    // Overwrite without Type keeps the type; Description is kept.
    let out = ssm
        .put_parameter()
        .name("/app/db/host")
        .value("db2.internal")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    assert_eq!(out.version(), 2);
    assert_eq!(value_of(&ssm, "/app/db/host", false).await, "db2.internal");

    // Selectors: a version, echoed.
    let got = ssm
        .get_parameter()
        .name("/app/db/host:1")
        .send()
        .await
        .unwrap();
    let p = got.parameter().unwrap();
    assert_eq!((p.value(), p.version()), (Some("db1.internal"), 1));
    assert_eq!(p.selector(), Some(":1"));
    assert_eq!(p.name(), Some("/app/db/host"));
    let err = ssm
        .get_parameter()
        .name("/app/db/host:7")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterVersionNotFound");
    let err = ssm
        .get_parameter()
        .name("/app/db/host:nolabel")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterVersionNotFound");
    let err = ssm
        .get_parameter()
        .name("/app/none")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterNotFound");

    // History keeps the description and the user.
    let h = ssm
        .get_parameter_history()
        .name("/app/db/host")
        .send()
        .await
        .unwrap();
    let versions: Vec<i64> = h.parameters().iter().map(|v| v.version()).collect();
    assert_eq!(versions, [1, 2]);
    for v in h.parameters() {
        assert_eq!(v.description(), Some("database host"));
        assert_eq!(
            v.last_modified_user(),
            Some(format!("arn:aws:iam::{ACCOUNT}:root").as_str())
        );
        assert_eq!(v.tier(), Some(&ParameterTier::Standard));
    }

    // StringList comes back as given.
    ssm.put_parameter()
        .name("/app/hosts")
        .value("a,b,c")
        .r#type(ParameterType::StringList)
        .send()
        .await
        .unwrap();
    let got = ssm.get_parameter().name("/app/hosts").send().await.unwrap();
    assert_eq!(got.parameter().unwrap().value(), Some("a,b,c"));
    assert_eq!(
        got.parameter().unwrap().r#type(),
        Some(&ParameterType::StringList)
    );

    // A type is needed to create, and cannot change.
    let err = ssm
        .put_parameter()
        .name("/app/untyped")
        .value("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = ssm
        .put_parameter()
        .name("/app/hosts")
        .value("x")
        .r#type(ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "HierarchyTypeMismatchException");
    server.stop().await;
}

#[tokio::test]
async fn ssm_name_rules() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    let try_put = |name: String| {
        let ssm = ssm.clone();
        async move {
            ssm.put_parameter()
                .name(name)
                .value("v")
                .r#type(ParameterType::String)
                .send()
                .await
        }
    };
    for bad in [
        "aws",
        "awsx",
        "/aws/x",
        "AWS-thing",
        "/Ssm/x",
        "ssm",
        "a b",
        "a/b",
        "/a//b",
        "/a/",
        "a:b",
        "/a$",
    ] {
        let err = try_put(bad.to_string()).await.unwrap_err();
        assert_eq!(code(&err), "ValidationException", "{bad}");
    }
    let err = try_put(String::new()).await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    assert!(message(&err).contains("'name'"), "{}", message(&err));

    // Fifteen levels, not sixteen.
    try_put("/l".repeat(15)).await.unwrap();
    let err = try_put("/l".repeat(16)).await.unwrap_err();
    assert_eq!(code(&err), "HierarchyLevelLimitExceededException");

    // `/x` and `x` are distinct names; the name is trimmed of surrounding spaces.
    try_put("plain".to_string()).await.unwrap();
    try_put("/plain".to_string()).await.unwrap();
    assert_eq!(
        ssm.get_parameter()
            .name("plain")
            .send()
            .await
            .unwrap()
            .parameter()
            .unwrap()
            .arn(),
        Some(format!("arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/plain").as_str())
    );
    try_put("  /trimmed ".to_string()).await.unwrap();
    assert_eq!(value_of(&ssm, "/trimmed", false).await, "v");
    server.stop().await;
}

#[tokio::test]
async fn ssm_values_tiers_patterns_and_request_rules() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    let put_tier = |name: &'static str, len: usize, tier: Option<ParameterTier>| {
        let ssm = ssm.clone();
        async move {
            ssm.put_parameter()
                .name(name)
                .value("x".repeat(len))
                .r#type(ParameterType::String)
                .set_tier(tier)
                .overwrite(true)
                .send()
                .await
        }
    };
    // Standard holds 4096 characters; 4097 needs Advanced.
    put_tier("/t/std", 4096, None).await.unwrap();
    let err = put_tier("/t/std", 4097, None).await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    assert!(message(&err).contains("4096"), "{}", message(&err));
    let err = put_tier("/t/std2", 4097, Some(ParameterTier::Standard))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    // Advanced holds 8192.
    let out = put_tier("/t/adv", 8192, Some(ParameterTier::Advanced))
        .await
        .unwrap();
    assert_eq!(out.tier(), Some(&ParameterTier::Advanced));
    let err = put_tier("/t/adv", 8193, Some(ParameterTier::Advanced))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    // No downgrade; without a tier an Advanced parameter stays Advanced.
    let err = put_tier("/t/adv", 10, Some(ParameterTier::Standard))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    assert!(message(&err).contains("downgrade"), "{}", message(&err));
    let out = put_tier("/t/adv", 10, None).await.unwrap();
    assert_eq!(out.tier(), Some(&ParameterTier::Advanced));
    // Intelligent-Tiering chooses by size.
    let out = put_tier("/t/it", 10, Some(ParameterTier::IntelligentTiering))
        .await
        .unwrap();
    assert_eq!(out.tier(), Some(&ParameterTier::Standard));
    let out = put_tier("/t/it", 5000, Some(ParameterTier::IntelligentTiering))
        .await
        .unwrap();
    assert_eq!(out.tier(), Some(&ParameterTier::Advanced));

    // AllowedPattern matches the whole value, and stays for later versions.
    ssm.put_parameter()
        .name("/t/port")
        .value("8080")
        .r#type(ParameterType::String)
        .allowed_pattern("^\\d+$")
        .send()
        .await
        .unwrap();
    let err = ssm
        .put_parameter()
        .name("/t/port")
        .value("80a")
        .overwrite(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterPatternMismatchException");
    let err = ssm
        .put_parameter()
        .name("/t/bad-pattern")
        .value("x")
        .r#type(ParameterType::String)
        .allowed_pattern("(")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidAllowedPatternException");

    // Tags only at creation; KeyId only for SecureString; value required and non-empty;
    // unsupported data types and policies refused.
    let err = ssm
        .put_parameter()
        .name("/t/port")
        .value("1")
        .overwrite(true)
        .tags(Tag::builder().key("k").value("v").build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    assert!(
        message(&err).contains("tags and overwrite"),
        "{}",
        message(&err)
    );
    let err = ssm
        .put_parameter()
        .name("/t/k")
        .value("1")
        .r#type(ParameterType::String)
        .key_id("alias/aws/ssm")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = ssm
        .put_parameter()
        .name("/t/empty")
        .value("")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = ssm
        .put_parameter()
        .name("/t/dt")
        .value("1")
        .r#type(ParameterType::String)
        .data_type("integer")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = ssm
        .put_parameter()
        .name("/t/desc")
        .value("1")
        .r#type(ParameterType::String)
        .description("d".repeat(1025))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    assert!(
        message(&err).contains("'description' failed to satisfy constraint"),
        "{}",
        message(&err)
    );
    server.stop().await;
}

#[tokio::test]
async fn ssm_get_parameters_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    put(&ssm, "/g/a", "1").await;
    put(&ssm, "/g/a", "2").await;
    put(&ssm, "/g/b", "3").await;
    ssm.label_parameter_version()
        .name("/g/a")
        .parameter_version(1)
        .labels("old")
        .send()
        .await
        .unwrap();

    let out = ssm
        .get_parameters()
        .names("/g/a")
        .names("/g/a:old")
        .names("/g/b:1")
        .names("/g/missing")
        .names("/g/b:9")
        .names("/g/a:nolabel")
        .send()
        .await
        .unwrap();
    let got: Vec<(String, String, Option<String>)> = out
        .parameters()
        .iter()
        .map(|p| {
            (
                p.name().unwrap().to_string(),
                p.value().unwrap().to_string(),
                p.selector().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("/g/a".to_string(), "2".to_string(), None),
            (
                "/g/a".to_string(),
                "1".to_string(),
                Some(":old".to_string())
            ),
            ("/g/b".to_string(), "3".to_string(), Some(":1".to_string())),
        ]
    );
    assert_eq!(
        out.invalid_parameters(),
        ["/g/missing", "/g/b:9", "/g/a:nolabel"]
    );
    let err = ssm
        .get_parameters()
        .set_names(Some((0..11).map(|i| format!("/n{i}")).collect()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");

    let out = ssm
        .delete_parameters()
        .names("/g/a")
        .names("/g/nothing")
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted_parameters(), ["/g/a"]);
    assert_eq!(out.invalid_parameters(), ["/g/nothing"]);
    ssm.delete_parameter().name("/g/b").send().await.unwrap();
    let err = ssm
        .delete_parameter()
        .name("/g/b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterNotFound");
    let err = ssm.get_parameter().name("/g/a").send().await.unwrap_err();
    assert_eq!(code(&err), "ParameterNotFound");
    // A re-created parameter starts again at version 1.
    assert_eq!(put(&ssm, "/g/a", "new").await, 1);
    server.stop().await;
}

#[tokio::test]
async fn ssm_labels_move_between_versions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    for v in ["one", "two", "three"] {
        put(&ssm, "/l/p", v).await;
    }
    // Without a version, the latest.
    let out = ssm
        .label_parameter_version()
        .name("/l/p")
        .labels("prod")
        .labels("1bad")
        .labels("awsy")
        .labels("Ssm-x")
        .labels("has space")
        .send()
        .await
        .unwrap();
    assert_eq!(out.parameter_version(), 3);
    assert_eq!(out.invalid_labels(), ["1bad", "awsy", "Ssm-x", "has space"]);
    assert_eq!(value_of(&ssm, "/l/p:prod", false).await, "three");

    // The label moves to version 1.
    ssm.label_parameter_version()
        .name("/l/p")
        .parameter_version(1)
        .labels("prod")
        .send()
        .await
        .unwrap();
    assert_eq!(value_of(&ssm, "/l/p:prod", false).await, "one");
    let h = ssm
        .get_parameter_history()
        .name("/l/p")
        .send()
        .await
        .unwrap();
    let labels: Vec<Vec<String>> = h.parameters().iter().map(|v| v.labels().to_vec()).collect();
    assert_eq!(labels, [vec!["prod".to_string()], vec![], vec![]]);

    // At most 10 labels on a version.
    let ten: Vec<String> = (0..10).map(|i| format!("l{i}")).collect();
    ssm.label_parameter_version()
        .name("/l/p")
        .parameter_version(2)
        .set_labels(Some(ten))
        .send()
        .await
        .unwrap();
    let err = ssm
        .label_parameter_version()
        .name("/l/p")
        .parameter_version(2)
        .labels("eleventh")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterVersionLabelLimitExceeded");
    let err = ssm
        .label_parameter_version()
        .name("/l/p")
        .parameter_version(2)
        .labels("x".repeat(101))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = ssm
        .label_parameter_version()
        .name("/l/p")
        .parameter_version(9)
        .labels("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterVersionNotFound");
    let err = ssm
        .label_parameter_version()
        .name("/l/none")
        .labels("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterNotFound");

    // Unlabel: labels not on that version come back as invalid.
    let out = ssm
        .unlabel_parameter_version()
        .name("/l/p")
        .parameter_version(1)
        .labels("prod")
        .labels("l0")
        .send()
        .await
        .unwrap();
    assert_eq!(out.removed_labels(), ["prod"]);
    assert_eq!(out.invalid_labels(), ["l0"]);
    let err = ssm
        .get_parameter()
        .name("/l/p:prod")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterVersionNotFound");
    server.stop().await;
}

#[tokio::test]
async fn ssm_history_past_100_versions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    for i in 1..=100 {
        assert_eq!(put(&ssm, "/h/p", &format!("v{i}")).await, i);
    }
    // The 101st write drops version 1.
    assert_eq!(put(&ssm, "/h/p", "v101").await, 101);
    let err = ssm.get_parameter().name("/h/p:1").send().await.unwrap_err();
    assert_eq!(code(&err), "ParameterVersionNotFound");
    assert_eq!(value_of(&ssm, "/h/p:2", false).await, "v2");

    // All kept versions, 50 a page at most, oldest first.
    let mut versions = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let out = ssm
            .get_parameter_history()
            .name("/h/p")
            .max_results(30)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        pages += 1;
        versions.extend(out.parameters().iter().map(|p| p.version()));
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(versions, (2..=101).collect::<Vec<i64>>());
    let err = ssm
        .get_parameter_history()
        .name("/h/p")
        .max_results(51)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = ssm
        .get_parameter_history()
        .name("/h/p")
        .next_token("not a token!")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidNextToken");
    let err = ssm
        .get_parameter_history()
        .name("/h/none")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterNotFound");

    // A label on the oldest version blocks the write that would drop it.
    ssm.label_parameter_version()
        .name("/h/p")
        .parameter_version(2)
        .labels("keep")
        .send()
        .await
        .unwrap();
    let err = ssm
        .put_parameter()
        .name("/h/p")
        .value("v102")
        .overwrite(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ParameterMaxVersionLimitExceeded");
    assert!(message(&err).contains("Version 2"), "{}", message(&err));
    // Moving the label away lets it through.
    ssm.label_parameter_version()
        .name("/h/p")
        .parameter_version(101)
        .labels("keep")
        .send()
        .await
        .unwrap();
    assert_eq!(put(&ssm, "/h/p", "v102").await, 102);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ssm_concurrent_overwrites_lose_no_version() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    assert_eq!(put(&ssm, "/c/p", "start").await, 1);
    let writers = 8;
    let mut tasks = Vec::new();
    for i in 0..writers {
        let ssm = ssm.clone();
        tasks.push(tokio::spawn(async move {
            let v = put(&ssm, "/c/p", &format!("w{i}")).await;
            (v, format!("w{i}"))
        }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    let versions: BTreeSet<i64> = got.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions, (2..=1 + writers).collect::<BTreeSet<i64>>());
    // Each writer's version holds that writer's value.
    for (v, value) in &got {
        assert_eq!(&value_of(&ssm, &format!("/c/p:{v}"), false).await, value);
    }
    server.stop().await;
}

#[tokio::test]
async fn ssm_secure_string_default_custom_and_disabled_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    let kms = server.client();

    // The default key is the AWS managed alias/aws/ssm, made on first use.
    let aliases = kms.list_aliases().send().await.unwrap();
    assert!(
        aliases
            .aliases()
            .iter()
            .all(|a| a.alias_name() != Some("alias/aws/ssm"))
    );
    ssm.put_parameter()
        .name("/s/db-password")
        .value("hunter2")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let key = kms
        .describe_key()
        .key_id("alias/aws/ssm")
        .send()
        .await
        .unwrap();
    let meta = key.key_metadata().unwrap();
    assert_eq!(
        meta.key_manager(),
        Some(&aws_sdk_kms::types::KeyManagerType::Aws)
    );
    assert_eq!(value_of(&ssm, "/s/db-password", true).await, "hunter2");

    // Without decryption: the ciphertext, base64. The AWS managed key's policy lets the
    // account use it only through Parameter Store (kms:ViaService), so a direct Decrypt is
    // refused even to the account root.
    let stored = value_of(&ssm, "/s/db-password", false).await;
    assert_ne!(stored, "hunter2");
    let blob = base64::engine::general_purpose::STANDARD
        .decode(&stored)
        .unwrap();
    let arn = format!("arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/s/db-password");
    let err = kms
        .decrypt()
        .ciphertext_blob(Blob::new(blob))
        .encryption_context("PARAMETER_ARN", &arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    assert_eq!(
        message(&err),
        format!(
            "User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: kms:Decrypt on \
             resource: {} because no resource-based policy allows the kms:Decrypt action",
            meta.arn().unwrap()
        )
    );
    // A second SecureString reuses the same managed key.
    ssm.put_parameter()
        .name("/s/other")
        .value("x")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let managed: Vec<_> = kms
        .list_aliases()
        .send()
        .await
        .unwrap()
        .aliases()
        .iter()
        .filter(|a| a.alias_name() == Some("alias/aws/ssm"))
        .map(|a| a.target_key_id().unwrap().to_string())
        .collect();
    assert_eq!(managed.len(), 1);

    // A customer key, by alias; history records the KeyId and decrypts when asked.
    let custom = kms.create_key().send().await.unwrap();
    let custom_id = custom.key_metadata().unwrap().key_id().to_string();
    kms.create_alias()
        .alias_name("alias/params")
        .target_key_id(&custom_id)
        .send()
        .await
        .unwrap();
    ssm.put_parameter()
        .name("/s/api-key")
        .value("k-123")
        .r#type(ParameterType::SecureString)
        .key_id("alias/params")
        .send()
        .await
        .unwrap();
    assert_eq!(value_of(&ssm, "/s/api-key", true).await, "k-123");
    // The stored ciphertext opens under KMS only with the parameter's ARN as encryption context.
    let blob = base64::engine::general_purpose::STANDARD
        .decode(value_of(&ssm, "/s/api-key", false).await)
        .unwrap();
    let arn = format!("arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/s/api-key");
    let plain = kms
        .decrypt()
        .ciphertext_blob(Blob::new(blob.clone()))
        .encryption_context("PARAMETER_ARN", &arn)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"k-123");
    assert_eq!(plain.key_id(), custom.key_metadata().unwrap().arn());
    let err = kms
        .decrypt()
        .ciphertext_blob(Blob::new(blob))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidCiphertextException");
    let h = ssm
        .get_parameter_history()
        .name("/s/api-key")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(h.parameters()[0].key_id(), Some("alias/params"));
    assert_eq!(h.parameters()[0].value(), Some("k-123"));
    let h = ssm
        .get_parameter_history()
        .name("/s/db-password")
        .send()
        .await
        .unwrap();
    assert_eq!(h.parameters()[0].key_id(), Some("alias/aws/ssm"));
    assert_ne!(h.parameters()[0].value(), Some("hunter2"));

    // A disabled key: no decryption, no new values; without decryption the ciphertext still
    // comes back.
    kms.disable_key().key_id(&custom_id).send().await.unwrap();
    let err = ssm
        .get_parameter()
        .name("/s/api-key")
        .with_decryption(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidKeyId");
    assert!(message(&err).contains("disabled"), "{}", message(&err));
    assert_ne!(value_of(&ssm, "/s/api-key", false).await, "k-123");
    let err = ssm
        .put_parameter()
        .name("/s/api-key")
        .value("k-456")
        .key_id(&custom_id)
        .overwrite(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidKeyId");
    let out = ssm
        .get_parameters()
        .names("/s/api-key")
        .with_decryption(true)
        .send()
        .await;
    assert_eq!(code(&out.unwrap_err()), "InvalidKeyId");
    kms.enable_key().key_id(&custom_id).send().await.unwrap();
    assert_eq!(value_of(&ssm, "/s/api-key", true).await, "k-123");

    // A key that does not exist.
    let err = ssm
        .put_parameter()
        .name("/s/nokey")
        .value("v")
        .r#type(ParameterType::SecureString)
        .key_id("alias/no-such-key")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidKeyId");
    let err = ssm
        .put_parameter()
        .name("/s/nokey")
        .value("v")
        .r#type(ParameterType::SecureString)
        .key_id("1234abcd-12ab-34cd-56ef-1234567890ab")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidKeyId");
    server.stop().await;
}

#[tokio::test]
async fn ssm_hierarchy_by_path_with_pagination() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    // 300 parameters: /app/<svc>/<n> and /app/<svc>/deep/<n>, plus neighbours that must not
    // show up under /app.
    let mut all = HashSet::new();
    let mut one_level = HashSet::new();
    for svc in 0..10 {
        for n in 0..20 {
            let name = format!("/app/svc{svc}/p{n:02}");
            put(&ssm, &name, &name).await;
            all.insert(name.clone());
            if svc == 3 {
                one_level.insert(name);
            }
        }
        for n in 0..10 {
            let name = format!("/app/svc{svc}/deep/p{n}");
            put(&ssm, &name, &name).await;
            all.insert(name);
        }
    }
    put(&ssm, "/application", "neighbour").await;
    put(&ssm, "/app-other/x", "neighbour").await;
    put(&ssm, "app", "no slash").await;
    ssm.put_parameter()
        .name("/app/svc3/secret")
        .value("s3cr3t")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    all.insert("/app/svc3/secret".to_string());
    one_level.insert("/app/svc3/secret".to_string());

    let list = |path: &'static str, recursive: bool, decrypt: bool| {
        let ssm = ssm.clone();
        async move {
            let mut names = Vec::new();
            let mut values = Vec::new();
            let mut token = None;
            loop {
                let out = ssm
                    .get_parameters_by_path()
                    .path(path)
                    .recursive(recursive)
                    .with_decryption(decrypt)
                    .max_results(10)
                    .set_next_token(token)
                    .send()
                    .await
                    .unwrap();
                assert!(out.parameters().len() <= 10);
                for p in out.parameters() {
                    names.push(p.name().unwrap().to_string());
                    values.push(p.value().unwrap().to_string());
                }
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    return (names, values);
                }
            }
        }
    };
    let (names, _) = list("/app", true, false).await;
    assert_eq!(names.len(), all.len(), "every parameter exactly once");
    assert_eq!(names.iter().cloned().collect::<HashSet<_>>(), all);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "name order");

    // One level: the parameters directly under the path, also with a trailing slash.
    let (names, values) = list("/app/svc3/", false, true).await;
    assert_eq!(names.iter().cloned().collect::<HashSet<_>>(), one_level);
    assert!(values.contains(&"s3cr3t".to_string()));
    let (names, values) = list("/app/svc3", false, false).await;
    assert_eq!(names.len(), one_level.len());
    assert!(!values.contains(&"s3cr3t".to_string()));
    // Nothing directly under /app.
    let (names, _) = list("/app", false, false).await;
    assert!(names.is_empty(), "{names:?}");
    // The root, one level: the top-level hierarchical names only.
    let (names, _) = list("/", false, false).await;
    assert_eq!(names, ["/application"]);

    let err = ssm
        .get_parameters_by_path()
        .path("/app")
        .max_results(11)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = ssm
        .get_parameters_by_path()
        .path("/app")
        .next_token("@@@")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidNextToken");
    let err = ssm
        .get_parameters_by_path()
        .path("app")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    server.stop().await;
}

#[tokio::test]
async fn ssm_state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    put(&ssm, "/r/plain", "one").await;
    put(&ssm, "/r/plain", "two").await;
    ssm.label_parameter_version()
        .name("/r/plain")
        .parameter_version(1)
        .labels("first")
        .send()
        .await
        .unwrap();
    ssm.put_parameter()
        .name("/r/secret")
        .value("s")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    assert_eq!(value_of(&ssm, "/r/plain", false).await, "two");
    assert_eq!(value_of(&ssm, "/r/plain:first", false).await, "one");
    assert_eq!(value_of(&ssm, "/r/secret", true).await, "s");
    assert_eq!(put(&ssm, "/r/plain", "three").await, 3);
    server.stop().await;
}

#[tokio::test]
async fn ssm_tags_on_parameters() {
    use aws_sdk_ssm::types::ResourceTypeForTagging;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    ssm.put_parameter()
        .name("/tags/p")
        .value("v")
        .r#type(ParameterType::String)
        .tags(tag("team", "core"))
        .send()
        .await
        .unwrap();
    let list = |id: &'static str| {
        let ssm = ssm.clone();
        async move {
            ssm.list_tags_for_resource()
                .resource_type(ResourceTypeForTagging::Parameter)
                .resource_id(id)
                .send()
                .await
        }
    };
    let pairs =
        |out: &aws_sdk_ssm::operation::list_tags_for_resource::ListTagsForResourceOutput| {
            let mut p: Vec<(String, String)> = out
                .tag_list()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            p.sort();
            p
        };
    assert_eq!(
        pairs(&list("/tags/p").await.unwrap()),
        [("team".to_string(), "core".to_string())]
    );

    // Add replaces a key's value; remove ignores unknown keys.
    ssm.add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/tags/p")
        .tags(tag("team", "platform"))
        .tags(tag("env", "prod"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        pairs(&list("/tags/p").await.unwrap()),
        [
            ("env".to_string(), "prod".to_string()),
            ("team".to_string(), "platform".to_string())
        ]
    );
    ssm.remove_tags_from_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/tags/p")
        .tag_keys("team")
        .tag_keys("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(
        pairs(&list("/tags/p").await.unwrap()),
        [("env".to_string(), "prod".to_string())]
    );
    // Tags do not make versions.
    assert_eq!(value_of(&ssm, "/tags/p:1", false).await, "v");
    assert_eq!(put(&ssm, "/tags/p", "w").await, 2);
    assert_eq!(pairs(&list("/tags/p").await.unwrap()).len(), 1);

    // 50 tags at most.
    let err = ssm
        .add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/tags/p")
        .set_tags(Some((0..50).map(|i| tag(&format!("k{i}"), "v")).collect()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "TooManyTagsError");
    let err = list("/tags/none").await.unwrap_err();
    assert_eq!(code(&err), "InvalidResourceId");
    let err = ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Document)
        .resource_id("/tags/p")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidResourceType");
    let err = ssm
        .add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("/tags/p")
        .tags(tag("bad*key", "v"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    server.stop().await;
}

#[tokio::test]
async fn ssm_describe_parameters_filters_and_pagination() {
    use aws_sdk_ssm::types::{ParameterStringFilter, ParametersFilter, ParametersFilterKey};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ssm = server.ssm();
    for i in 0..60 {
        put(&ssm, &format!("/d/app/p{i:02}"), "v").await;
    }
    put(&ssm, "/d/app/deep/x", "v").await;
    put(&ssm, "/d/other", "v").await;
    ssm.put_parameter()
        .name("/d/app/secret")
        .value("s")
        .r#type(ParameterType::SecureString)
        .description("the secret")
        .tags(Tag::builder().key("env").value("prod").build().unwrap())
        .send()
        .await
        .unwrap();
    ssm.put_parameter()
        .name("/d/big")
        .value("x")
        .r#type(ParameterType::String)
        .tier(ParameterTier::Advanced)
        .send()
        .await
        .unwrap();

    let describe = |filters: Vec<ParameterStringFilter>| {
        let ssm = ssm.clone();
        async move {
            let mut names = Vec::new();
            let mut token = None;
            let mut pages = 0;
            loop {
                let out = ssm
                    .describe_parameters()
                    .set_parameter_filters(Some(filters.clone()))
                    .max_results(50)
                    .set_next_token(token)
                    .send()
                    .await?;
                pages += 1;
                names.extend(
                    out.parameters()
                        .iter()
                        .map(|p| p.name().unwrap().to_string()),
                );
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    return Ok::<_, aws_sdk_ssm::error::SdkError<_, _>>((names, pages));
                }
            }
        }
    };
    let f = |key: &str, option: Option<&str>, values: &[&str]| {
        ParameterStringFilter::builder()
            .key(key)
            .set_option(option.map(str::to_string))
            .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
            .build()
            .unwrap()
    };
    // Everything, two pages of at most 50.
    let (names, pages) = describe(vec![]).await.unwrap();
    assert_eq!((names.len(), pages), (64, 2));
    // One level under /d/app: the 60, the secret, not deep/x.
    let (names, _) = describe(vec![f("Path", None, &["/d/app"])]).await.unwrap();
    assert_eq!(names.len(), 61);
    assert!(!names.contains(&"/d/app/deep/x".to_string()));
    let (names, _) = describe(vec![f("Path", Some("Recursive"), &["/d/app"])])
        .await
        .unwrap();
    assert_eq!(names.len(), 62);
    let (names, _) = describe(vec![f("Name", Some("BeginsWith"), &["/d/app/p5"])])
        .await
        .unwrap();
    assert_eq!(names.len(), 10);
    let (names, _) = describe(vec![f("Type", None, &["SecureString"])])
        .await
        .unwrap();
    assert_eq!(names, ["/d/app/secret"]);
    let (names, _) = describe(vec![f("tag:env", None, &["prod"])]).await.unwrap();
    assert_eq!(names, ["/d/app/secret"]);
    let (names, _) = describe(vec![f("Tier", None, &["Advanced"])])
        .await
        .unwrap();
    assert_eq!(names, ["/d/big"]);
    let (names, _) = describe(vec![
        f("Path", Some("Recursive"), &["/d"]),
        f("Name", Some("Contains"), &["deep"]),
    ])
    .await
    .unwrap();
    assert_eq!(names, ["/d/app/deep/x"]);

    // Metadata, never the value.
    let out = ssm
        .describe_parameters()
        .filters(
            ParametersFilter::builder()
                .key(ParametersFilterKey::Name)
                .values("/d/app/secret")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let m = &out.parameters()[0];
    assert_eq!(m.key_id(), Some("alias/aws/ssm"));
    assert_eq!(m.description(), Some("the secret"));
    assert_eq!(m.version(), 1);
    assert_eq!(m.tier(), Some(&ParameterTier::Standard));

    // Filter errors.
    let err = describe(vec![f("Label", None, &["x"])]).await.unwrap_err();
    assert_eq!(code(&err), "InvalidFilterKey");
    let err = describe(vec![f("Path", Some("Equals"), &["/d"])])
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidFilterOption");
    let err = describe(vec![f("Type", None, &["Number"])])
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidFilterValue");
    let err = ssm
        .describe_parameters()
        .max_results(51)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = ssm
        .describe_parameters()
        .next_token("!!")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidNextToken");
    server.stop().await;
}

/// GetParameter answers from a cache of latest versions: every write must be visible to the
/// next read, also while other readers keep refilling the cache from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ssm_reads_see_every_completed_write_under_concurrent_reads() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    let ssm = server.ssm();
    put(&ssm, "/cache/p", "0").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let ssm = ssm.clone();
        let stop = stop.clone();
        readers.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = ssm.get_parameter().name("/cache/p").send().await;
            }
        }));
    }
    for i in 1..=40 {
        let version = put(&ssm, "/cache/p", &i.to_string()).await;
        let got = ssm.get_parameter().name("/cache/p").send().await.unwrap();
        let p = got.parameter().unwrap();
        assert_eq!(p.version(), version);
        assert_eq!(p.value(), Some(i.to_string().as_str()));
        if i % 10 == 0 {
            // A label and a deletion are writes too.
            ssm.label_parameter_version()
                .name("/cache/p")
                .labels(format!("l{i}"))
                .send()
                .await
                .unwrap();
            ssm.delete_parameter()
                .name("/cache/p")
                .send()
                .await
                .unwrap();
            let err = ssm
                .get_parameter()
                .name("/cache/p")
                .send()
                .await
                .unwrap_err();
            assert_eq!(code(&err), "ParameterNotFound");
            put(&ssm, "/cache/p", &i.to_string()).await;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    server.stop().await;
}
