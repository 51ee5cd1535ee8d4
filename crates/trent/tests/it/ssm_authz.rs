//! Authorization of Parameter Store's `ssm:*` actions: identity policies on parameter ARNs,
//! path ARNs for GetParametersByPath, explicit denies, condition keys, and SecureString values
//! under a KMS key the caller may not use. The first tests call the service in-process as the
//! server does after authentication (an identity and its policies); the last drives IAM users
//! through the real `aws` CLI.

use std::sync::Arc;

use serde_json::{Value, json};
use trent_kms::Caller;
use trent_policy::{AwsIdentity, ParseOptions, Policy, Requester};
use trent_store::Scope;

use crate::cli::{Client, dirs, find_aws};
use crate::harness::TestServer;

const A: &str = "111122223333";
const REGION: &str = "us-east-1";

fn who(arn: &str, policies: &[Value]) -> Arc<Requester> {
    let identity = AwsIdentity::from_arn(arn).unwrap();
    let policies: Vec<Policy> = policies
        .iter()
        .map(|p| Policy::parse(&p.to_string(), ParseOptions::IDENTITY).unwrap())
        .collect();
    Arc::new(Requester::new(identity, REGION, 1_800_000_000_000).with_policies(Arc::from(policies)))
}

fn root() -> Arc<Requester> {
    who(&format!("arn:aws:iam::{A}:root"), &[])
}

fn alice(policies: &[Value]) -> Arc<Requester> {
    who(&format!("arn:aws:iam::{A}:user/alice"), policies)
}

fn statement(effect: &str, actions: &[&str], resource: &str) -> Value {
    json!({"Effect": effect, "Action": actions, "Resource": resource})
}

fn policy(statements: Vec<Value>) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

fn arn(name: &str) -> String {
    format!(
        "arn:aws:ssm:{REGION}:{A}:parameter/{}",
        name.trim_start_matches('/')
    )
}

async fn call(
    server: &TestServer,
    who: &Arc<Requester>,
    service: &str,
    op: &str,
    body: Value,
) -> Result<Value, (String, String)> {
    let caller = Caller {
        scope: Scope::new(who.account(), REGION),
        requester: Arc::clone(who),
        request_id: "req-1".into(),
        touched: Default::default(),
    };
    let bytes = body.to_string();
    let out = if service == "kms" {
        server
            .state
            .kms
            .call(&caller, op, bytes.as_bytes())
            .await
            .map_err(|e| e.to_api_error())
    } else {
        server
            .state
            .ssm
            .call(&caller, op, bytes.as_bytes())
            .await
            .map_err(|e| e.to_api_error())
    };
    match out {
        Ok(out) => Ok(serde_json::from_slice(&out).unwrap()),
        Err(api) => Err((api.code.to_string(), api.message)),
    }
}

async fn ok(server: &TestServer, who: &Arc<Requester>, op: &str, body: Value) -> Value {
    call(server, who, "ssm", op, body.clone())
        .await
        .unwrap_or_else(|e| panic!("{op} {body}: {e:?}"))
}

/// The operation is refused as AWS refuses it; returns the message.
async fn denied(server: &TestServer, who: &Arc<Requester>, op: &str, body: Value) -> String {
    match call(server, who, "ssm", op, body.clone()).await {
        Ok(v) => panic!("{op} {body} was allowed: {v}"),
        Err((code, message)) => {
            assert_eq!(code, "AccessDeniedException", "{op}: {message}");
            message
        }
    }
}

fn no_identity_allow(who: &Requester, action: &str, resource: &str) -> String {
    format!(
        "User: {} is not authorized to perform: {action} on resource: {resource} because no \
         identity-based policy allows the {action} action",
        who.arn()
    )
}

fn explicit_deny(who: &Requester, action: &str, resource: &str) -> String {
    format!(
        "User: {} is not authorized to perform: {action} on resource: {resource} with an \
         explicit deny in an identity-based policy",
        who.arn()
    )
}

async fn put(server: &TestServer, name: &str, value: &str) {
    ok(
        server,
        &root(),
        "PutParameter",
        json!({"Name": name, "Value": value, "Type": "String", "Overwrite": true}),
    )
    .await;
}

#[tokio::test]
async fn every_operation_needs_an_identity_allow() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    put(&server, "/app/db/host", "db.internal").await;
    put(&server, "/app/db/port", "5432").await;

    // A user without policies is refused everything, on the resource AWS names.
    let nobody = alice(&[]);
    let name = "/app/db/host";
    let cases: Vec<(&str, Value, String)> = vec![
        ("GetParameter", json!({"Name": "/app/db/host:1"}), arn(name)),
        (
            "GetParameters",
            json!({"Names": [name, "/app/db/port"]}),
            arn(name),
        ),
        (
            "GetParametersByPath",
            json!({"Path": "/app/db", "Recursive": true}),
            arn("/app/db"),
        ),
        (
            "DescribeParameters",
            json!({}),
            format!("arn:aws:ssm:{REGION}:{A}:*"),
        ),
        ("GetParameterHistory", json!({"Name": name}), arn(name)),
        (
            "PutParameter",
            json!({"Name": name, "Value": "x", "Overwrite": true}),
            arn(name),
        ),
        (
            "LabelParameterVersion",
            json!({"Name": name, "Labels": ["prod"]}),
            arn(name),
        ),
        (
            "UnlabelParameterVersion",
            json!({"Name": name, "ParameterVersion": 1, "Labels": ["prod"]}),
            arn(name),
        ),
        (
            "AddTagsToResource",
            json!({"ResourceType": "Parameter", "ResourceId": name, "Tags": [{"Key": "k", "Value": "v"}]}),
            arn(name),
        ),
        (
            "RemoveTagsFromResource",
            json!({"ResourceType": "Parameter", "ResourceId": name, "TagKeys": ["k"]}),
            arn(name),
        ),
        (
            "ListTagsForResource",
            json!({"ResourceType": "Parameter", "ResourceId": name}),
            arn(name),
        ),
        ("DeleteParameter", json!({"Name": name}), arn(name)),
        ("DeleteParameters", json!({"Names": [name]}), arn(name)),
        // A parameter that does not exist is refused the same way: nothing is revealed.
        ("GetParameter", json!({"Name": "/no/such"}), arn("/no/such")),
        ("DeleteParameter", json!({"Name": "nosuch"}), arn("nosuch")),
    ];
    for (op, body, resource) in &cases {
        let message = denied(&server, &nobody, op, body.clone()).await;
        assert_eq!(
            message,
            no_identity_allow(&nobody, &format!("ssm:{op}"), resource),
            "{op}"
        );
    }

    // ssm:* on every parameter allows each of them; the parameter survives until the deletes.
    let everything = alice(&[policy(vec![statement("Allow", &["ssm:*"], "*")])]);
    for (op, body, _) in &cases {
        let got = call(&server, &everything, "ssm", op, body.clone()).await;
        if let Err((code, message)) = &got {
            assert_ne!(code, "AccessDeniedException", "{op}: {message}");
        }
    }
    // The account root needs no policy.
    put(&server, "/app/db/host", "db2.internal").await;
    let got = ok(
        &server,
        &root(),
        "GetParameter",
        json!({"Name": "/app/db/host"}),
    )
    .await;
    assert_eq!(got["Parameter"]["Value"], "db2.internal");
    server.stop().await;
}

#[tokio::test]
async fn resources_actions_and_explicit_denies() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    for (n, v) in [
        ("/app/config/url", "https://example.test"),
        ("/app/config/mode", "fast"),
        ("/app/secret/token", "t0k3n"),
        ("/other/x", "x"),
    ] {
        put(&server, n, v).await;
    }
    let reader = alice(&[
        policy(vec![statement(
            "Allow",
            &["ssm:GetParameter*"],
            &format!("arn:aws:ssm:*:{A}:parameter/app/*"),
        )]),
        policy(vec![statement(
            "Deny",
            &["ssm:GetParameter", "ssm:GetParameters"],
            &format!("arn:aws:ssm:{REGION}:{A}:parameter/app/secret/*"),
        )]),
    ]);
    // A wildcard resource covers the hierarchy under it, and nothing else.
    let got = ok(
        &server,
        &reader,
        "GetParameter",
        json!({"Name": "/app/config/url"}),
    )
    .await;
    assert_eq!(got["Parameter"]["Value"], "https://example.test");
    let message = denied(
        &server,
        &reader,
        "GetParameter",
        json!({"Name": "/other/x"}),
    )
    .await;
    assert_eq!(
        message,
        no_identity_allow(&reader, "ssm:GetParameter", &arn("/other/x"))
    );
    // The explicit deny wins over the allow.
    let message = denied(
        &server,
        &reader,
        "GetParameter",
        json!({"Name": "/app/secret/token"}),
    )
    .await;
    assert_eq!(
        message,
        explicit_deny(&reader, "ssm:GetParameter", &arn("/app/secret/token"))
    );
    // GetParameters: one denied name fails the whole call and names that parameter; missing
    // names that are allowed are still InvalidParameters.
    let message = denied(
        &server,
        &reader,
        "GetParameters",
        json!({"Names": ["/app/config/url", "/app/secret/token"]}),
    )
    .await;
    assert_eq!(
        message,
        explicit_deny(&reader, "ssm:GetParameters", &arn("/app/secret/token"))
    );
    let got = ok(
        &server,
        &reader,
        "GetParameters",
        json!({"Names": ["/app/config/url", "/app/config/nope"]}),
    )
    .await;
    assert_eq!(got["Parameters"].as_array().unwrap().len(), 1);
    assert_eq!(got["InvalidParameters"], json!(["/app/config/nope"]));
    // Actions are authorized one by one: the history is not covered by the deny above.
    let got = ok(
        &server,
        &reader,
        "GetParameterHistory",
        json!({"Name": "/app/secret/token"}),
    )
    .await;
    assert_eq!(got["Parameters"][0]["Value"], "t0k3n");
    // GetParametersByPath is authorized on the path, as AWS does: allowed on /app (whose
    // ARN parameter/app the pattern parameter/app/* does not match) only with a pattern that
    // names it.
    let message = denied(
        &server,
        &reader,
        "GetParametersByPath",
        json!({"Path": "/app", "Recursive": true}),
    )
    .await;
    assert_eq!(
        message,
        no_identity_allow(&reader, "ssm:GetParametersByPath", &arn("/app"))
    );
    let got = ok(
        &server,
        &reader,
        "GetParametersByPath",
        json!({"Path": "/app/config"}),
    )
    .await;
    assert_eq!(got["Parameters"].as_array().unwrap().len(), 2);
    // No write action is allowed.
    let message = denied(
        &server,
        &reader,
        "PutParameter",
        json!({"Name": "/app/config/url", "Value": "x", "Overwrite": true}),
    )
    .await;
    assert_eq!(
        message,
        no_identity_allow(&reader, "ssm:PutParameter", &arn("/app/config/url"))
    );
    // Parameter names without a leading slash have ARNs with one.
    put(&server, "flat", "f").await;
    let flat = alice(&[policy(vec![statement(
        "Allow",
        &["ssm:GetParameter"],
        &arn("flat"),
    )])]);
    let got = ok(&server, &flat, "GetParameter", json!({"Name": "flat"})).await;
    assert_eq!(got["Parameter"]["Value"], "f");
    assert_eq!(got["Parameter"]["ARN"], arn("flat"));
    server.stop().await;
}

#[tokio::test]
async fn condition_keys() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    ok(
        &server,
        &root(),
        "PutParameter",
        json!({"Name": "/t/blue", "Value": "b", "Type": "String", "Tags": [{"Key": "team", "Value": "blue"}]}),
    )
    .await;
    ok(
        &server,
        &root(),
        "PutParameter",
        json!({"Name": "/t/red", "Value": "r", "Type": "String", "Tags": [{"Key": "team", "Value": "red"}]}),
    )
    .await;

    // aws:ResourceTag: the parameter's tags.
    let blue = alice(&[policy(vec![json!({
        "Effect": "Allow",
        "Action": ["ssm:GetParameter", "ssm:PutParameter", "ssm:AddTagsToResource",
                   "ssm:RemoveTagsFromResource", "ssm:GetParametersByPath"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}
    })])]);
    let got = ok(&server, &blue, "GetParameter", json!({"Name": "/t/blue"})).await;
    assert_eq!(got["Parameter"]["Value"], "b");
    denied(&server, &blue, "GetParameter", json!({"Name": "/t/red"})).await;
    // A parameter that does not exist has no tags.
    denied(&server, &blue, "GetParameter", json!({"Name": "/t/none"})).await;
    // Retagging the parameter changes the answer at once.
    ok(
        &server,
        &root(),
        "AddTagsToResource",
        json!({"ResourceType": "Parameter", "ResourceId": "/t/red", "Tags": [{"Key": "team", "Value": "blue"}]}),
    )
    .await;
    ok(&server, &blue, "GetParameter", json!({"Name": "/t/red"})).await;

    // aws:RequestTag and aws:TagKeys on PutParameter and the tagging operations.
    let tagger = alice(&[policy(vec![
        json!({
            "Effect": "Allow",
            "Action": ["ssm:PutParameter", "ssm:AddTagsToResource"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:RequestTag/env": "dev"},
                "ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}
            }
        }),
        json!({
            "Effect": "Allow",
            "Action": "ssm:RemoveTagsFromResource",
            "Resource": "*",
            "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}
        }),
    ])]);
    ok(
        &server,
        &tagger,
        "PutParameter",
        json!({"Name": "/t/new", "Value": "n", "Type": "String", "Tags": [{"Key": "env", "Value": "dev"}]}),
    )
    .await;
    denied(
        &server,
        &tagger,
        "PutParameter",
        json!({"Name": "/t/new2", "Value": "n", "Type": "String", "Tags": [{"Key": "env", "Value": "prod"}]}),
    )
    .await;
    denied(
        &server,
        &tagger,
        "PutParameter",
        json!({"Name": "/t/new3", "Value": "n", "Type": "String",
               "Tags": [{"Key": "env", "Value": "dev"}, {"Key": "owner", "Value": "me"}]}),
    )
    .await;
    // Without tags aws:RequestTag/env is absent: StringEquals does not match.
    denied(
        &server,
        &tagger,
        "PutParameter",
        json!({"Name": "/t/new4", "Value": "n", "Type": "String"}),
    )
    .await;
    ok(
        &server,
        &tagger,
        "AddTagsToResource",
        json!({"ResourceType": "Parameter", "ResourceId": "/t/new", "Tags": [{"Key": "env", "Value": "dev"}]}),
    )
    .await;
    denied(
        &server,
        &tagger,
        "AddTagsToResource",
        json!({"ResourceType": "Parameter", "ResourceId": "/t/new", "Tags": [{"Key": "cost", "Value": "dev"}]}),
    )
    .await;
    ok(
        &server,
        &tagger,
        "RemoveTagsFromResource",
        json!({"ResourceType": "Parameter", "ResourceId": "/t/new", "TagKeys": ["env"]}),
    )
    .await;
    denied(
        &server,
        &tagger,
        "RemoveTagsFromResource",
        json!({"ResourceType": "Parameter", "ResourceId": "/t/new", "TagKeys": ["team"]}),
    )
    .await;
    let tags = ok(
        &server,
        &root(),
        "ListTagsForResource",
        json!({"ResourceType": "Parameter", "ResourceId": "/t/new"}),
    )
    .await;
    assert_eq!(tags["TagList"], json!([]));

    // ssm:Overwrite: create, but never overwrite.
    let creator = alice(&[policy(vec![
        statement("Allow", &["ssm:PutParameter"], &arn("/c/*")),
        json!({
            "Effect": "Deny",
            "Action": "ssm:PutParameter",
            "Resource": "*",
            "Condition": {"Bool": {"ssm:Overwrite": "true"}}
        }),
    ])]);
    ok(
        &server,
        &creator,
        "PutParameter",
        json!({"Name": "/c/one", "Value": "1", "Type": "String"}),
    )
    .await;
    let message = denied(
        &server,
        &creator,
        "PutParameter",
        json!({"Name": "/c/one", "Value": "2", "Overwrite": true}),
    )
    .await;
    assert_eq!(
        message,
        explicit_deny(&creator, "ssm:PutParameter", &arn("/c/one"))
    );

    // ssm:Recursive: one level only.
    let shallow = alice(&[policy(vec![
        statement("Allow", &["ssm:GetParametersByPath"], "*"),
        json!({
            "Effect": "Deny",
            "Action": "ssm:GetParametersByPath",
            "Resource": "*",
            "Condition": {"StringEquals": {"ssm:Recursive": "true"}}
        }),
    ])]);
    let got = ok(
        &server,
        &shallow,
        "GetParametersByPath",
        json!({"Path": "/t"}),
    )
    .await;
    assert_eq!(got["Parameters"].as_array().unwrap().len(), 3);
    denied(
        &server,
        &shallow,
        "GetParametersByPath",
        json!({"Path": "/t", "Recursive": true}),
    )
    .await;
    server.stop().await;
}

/// A SecureString under a customer managed key: `ssm:GetParameter` alone reads the ciphertext;
/// decryption also needs `kms:Decrypt` on the key, and without it the answer is KMS's denial
/// as Parameter Store passes it on, with no value.
#[tokio::test]
async fn secure_string_with_a_denied_key() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    let key = call(
        &server,
        &root(),
        "kms",
        "CreateKey",
        json!({"Description": "params"}),
    )
    .await
    .unwrap();
    let key_arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    ok(
        &server,
        &root(),
        "PutParameter",
        json!({"Name": "/s/pw", "Value": "hunter2", "Type": "SecureString", "KeyId": key_arn}),
    )
    .await;
    let reader = alice(&[policy(vec![statement(
        "Allow",
        &["ssm:GetParameter", "ssm:GetParameters", "ssm:PutParameter"],
        &arn("/s/*"),
    )])]);
    let got = ok(&server, &reader, "GetParameter", json!({"Name": "/s/pw"})).await;
    assert_ne!(got["Parameter"]["Value"], "hunter2");
    for (op, body) in [
        (
            "GetParameter",
            json!({"Name": "/s/pw", "WithDecryption": true}),
        ),
        (
            "GetParameters",
            json!({"Names": ["/s/pw"], "WithDecryption": true}),
        ),
    ] {
        let message = denied(&server, &reader, op, body).await;
        assert_eq!(
            message,
            format!(
                "User: arn:aws:iam::{A}:user/alice is not authorized to perform: kms:Decrypt on \
                 resource: {key_arn} because no identity-based policy allows the kms:Decrypt \
                 action (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; \
                 Request ID: req-1; Proxy: null)"
            )
        );
        assert!(!message.contains("hunter2"));
    }
    // Writing needs kms:Encrypt likewise.
    let message = denied(
        &server,
        &reader,
        "PutParameter",
        json!({"Name": "/s/pw2", "Value": "x", "Type": "SecureString", "KeyId": key_arn}),
    )
    .await;
    assert!(
        message.contains("kms:Encrypt") && message.contains("Service: AWSKMS"),
        "{message}"
    );
    // With kms:Decrypt on the key (the default key policy delegates to IAM) the value reads.
    let both = alice(&[policy(vec![
        statement("Allow", &["ssm:GetParameter"], &arn("/s/*")),
        statement("Allow", &["kms:Decrypt"], &key_arn),
    ])]);
    let got = ok(
        &server,
        &both,
        "GetParameter",
        json!({"Name": "/s/pw", "WithDecryption": true}),
    )
    .await;
    assert_eq!(got["Parameter"]["Value"], "hunter2");
    // An explicit deny of kms:Decrypt beats it.
    let denied_key = alice(&[policy(vec![
        statement("Allow", &["ssm:GetParameter", "kms:Decrypt"], "*"),
        statement("Deny", &["kms:Decrypt"], &key_arn),
    ])]);
    let message = denied(
        &server,
        &denied_key,
        "GetParameter",
        json!({"Name": "/s/pw", "WithDecryption": true}),
    )
    .await;
    assert!(
        message.contains("kms:Decrypt") && message.contains("explicit deny"),
        "{message}"
    );
    server.stop().await;
}

/// The same rules for IAM users signing with their own keys through the `aws` CLI.
#[tokio::test(flavor = "multi_thread")]
async fn iam_users_through_the_aws_cli() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let root = Client::new(&aws, &server, scratch.path());
    let account = "000000000000";
    let param_arn = |name: &str| {
        format!(
            "arn:aws:ssm:us-east-1:{account}:parameter/{}",
            name.trim_start_matches('/')
        )
    };
    for (n, v) in [
        ("/web/prod/url", "prod.example"),
        ("/web/prod/flag", "on"),
        ("/web/admin/pw", "secret"),
    ] {
        root.ok(&format!(
            "ssm put-parameter --name {n} --value {v} --type String"
        ))
        .await;
    }
    let key = root.ok("kms create-key --description ssm").await;
    let key_arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    root.ok(&format!(
        "ssm put-parameter --name /web/prod/db --value s3cr3t --type SecureString --key-id {key_arn}"
    ))
    .await;

    root.ok("iam create-user --user-name web").await;
    let key = root.ok("iam create-access-key --user-name web").await;
    let web = Client::with_keys(
        &aws,
        &server,
        scratch.path(),
        key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
    );
    let user_arn = format!("arn:aws:iam::{account}:user/web");

    // No policy: denied, with AWS's message.
    let stderr = web
        .fails(
            "ssm get-parameter --name /web/prod/url",
            "AccessDeniedException",
        )
        .await;
    assert!(
        stderr.contains(&format!(
            "User: {user_arn} is not authorized to perform: ssm:GetParameter on resource: {} \
             because no identity-based policy allows the ssm:GetParameter action",
            param_arn("/web/prod/url")
        )),
        "{stderr}"
    );

    // A wildcard on the path allows the hierarchy; an explicit deny carves out /web/admin.
    let allow = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:GetParameters",
            "ssm:GetParametersByPath"], "Resource": format!("arn:aws:ssm:*:{account}:parameter/web/*")},
        {"Effect": "Deny", "Action": "ssm:GetParameter*",
            "Resource": format!("arn:aws:ssm:*:{account}:parameter/web/admin/*")}
    ]});
    root.ok(&format!(
        "iam put-user-policy --user-name web --policy-name read --policy-document {allow}"
    ))
    .await;
    let got = web.ok("ssm get-parameter --name /web/prod/url").await;
    assert_eq!(got["Parameter"]["Value"], "prod.example");
    let got = web
        .ok("ssm get-parameters-by-path --path /web/prod --recursive")
        .await;
    assert_eq!(got["Parameters"].as_array().unwrap().len(), 3);
    let stderr = web
        .fails(
            "ssm get-parameter --name /web/admin/pw",
            "AccessDeniedException",
        )
        .await;
    assert!(
        stderr.contains("with an explicit deny in an identity-based policy"),
        "{stderr}"
    );
    web.fails(
        "ssm get-parameters --names /web/prod/url /web/admin/pw",
        "AccessDeniedException",
    )
    .await;
    web.fails(
        "ssm put-parameter --name /web/prod/url --value x --overwrite",
        "AccessDeniedException",
    )
    .await;
    web.fails("ssm describe-parameters", "AccessDeniedException")
        .await;

    // The SecureString: readable as ciphertext, refused with decryption (no kms:Decrypt).
    let got = web.ok("ssm get-parameter --name /web/prod/db").await;
    assert_ne!(got["Parameter"]["Value"], "s3cr3t");
    let stderr = web
        .fails(
            "ssm get-parameter --name /web/prod/db --with-decryption",
            "AccessDeniedException",
        )
        .await;
    assert!(
        stderr.contains(&format!(
            "User: {user_arn} is not authorized to perform: kms:Decrypt on resource: {key_arn}"
        )) && stderr
            .contains("(Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException;"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cr3t"));
    let decrypt = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn}
    ]});
    root.ok(&format!(
        "iam put-user-policy --user-name web --policy-name decrypt --policy-document {decrypt}"
    ))
    .await;
    let got = web
        .ok("ssm get-parameter --name /web/prod/db --with-decryption")
        .await;
    assert_eq!(got["Parameter"]["Value"], "s3cr3t");
    server.stop().await;
}
