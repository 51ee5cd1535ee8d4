//! IAM and STS through the real `aws` CLI and boto3: users, access keys, inline and managed
//! policies taking effect on the next request, roles and AssumeRole (trust policies,
//! ExternalId, expiry, a second account), the Query protocol's XML errors, and dev mode.

use serde_json::Value;

use crate::cli::{Client, dirs, find_aws, find_python};
use crate::harness::TestServer;

const ACCOUNT: &str = "000000000000";

pub(crate) fn allow(action: &str, resource: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"{resource}"}}]}}"#
    )
}

pub(crate) fn deny(action: &str, resource: &str) -> String {
    allow(action, resource).replace("\"Allow\"", "\"Deny\"")
}

/// Creates `name` with an access key (as `root`); returns a client signing as the new user.
pub(crate) async fn user_with_key(
    root: &Client,
    name: &str,
    aws: &std::path::Path,
    server: &TestServer,
    scratch: &std::path::Path,
) -> (Client, String) {
    root.ok(&format!("iam create-user --user-name {name}"))
        .await;
    let key = root
        .ok(&format!("iam create-access-key --user-name {name}"))
        .await;
    let id = key["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = key["AccessKey"]["SecretAccessKey"].as_str().unwrap();
    assert!(id.starts_with("AKIA") && id.len() == 20, "{id}");
    (Client::with_keys(aws, server, scratch, &id, secret), id)
}

pub(crate) fn session_client(
    aws: &std::path::Path,
    server: &TestServer,
    scratch: &std::path::Path,
    out: &Value,
) -> Client {
    let c = &out["Credentials"];
    let id = c["AccessKeyId"].as_str().unwrap();
    assert!(id.starts_with("ASIA"), "{id}");
    let mut client = Client::with_keys(
        aws,
        server,
        scratch,
        id,
        c["SecretAccessKey"].as_str().unwrap(),
    );
    client.set_env("AWS_SESSION_TOKEN", c["SessionToken"].as_str().unwrap());
    client
}

#[tokio::test(flavor = "multi_thread")]
async fn users_keys_and_inline_policies_take_effect_at_once() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let root = Client::new(&aws, &server, scratch.path());

    let root_id = root.ok("sts get-caller-identity").await;
    assert_eq!(root_id["Arn"], format!("arn:aws:iam::{ACCOUNT}:root"));
    assert_eq!(root_id["Account"], ACCOUNT);

    let created = root
        .ok("iam create-user --user-name alice --path /eng/ --tags Key=team,Value=blue")
        .await;
    let user_id = created["User"]["UserId"].as_str().unwrap().to_string();
    assert!(user_id.starts_with("AIDA"), "{user_id}");
    assert_eq!(
        created["User"]["Arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/eng/alice")
    );
    root.fails("iam create-user --user-name ALICE", "EntityAlreadyExists")
        .await;
    let key = root.ok("iam create-access-key --user-name alice").await;
    let key_id = key["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let alice = Client::with_keys(
        &aws,
        &server,
        scratch.path(),
        &key_id,
        key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
    );

    let me = alice.ok("sts get-caller-identity").await;
    assert_eq!(me["Arn"], format!("arn:aws:iam::{ACCOUNT}:user/eng/alice"));
    assert_eq!(me["UserId"], user_id.as_str());
    assert_eq!(me["Account"], ACCOUNT);

    // No policy: denied, with AWS's message.
    let err = alice
        .fails("iam create-user --user-name bob", "AccessDenied")
        .await;
    assert!(
        err.contains(&format!(
            "User: arn:aws:iam::{ACCOUNT}:user/eng/alice is not authorized to perform: \
             iam:CreateUser on resource: arn:aws:iam::{ACCOUNT}:user/bob because no \
             identity-based policy allows the iam:CreateUser action"
        )),
        "{err}"
    );

    // An inline policy allows the very next request.
    let policy = allow("iam:CreateUser", &format!("arn:aws:iam::{ACCOUNT}:user/*"));
    root.ok(&format!(
        "iam put-user-policy --user-name alice --policy-name create --policy-document {policy}"
    ))
    .await;
    alice.ok("iam create-user --user-name bob").await;
    let got = root
        .ok("iam get-user-policy --user-name alice --policy-name create")
        .await;
    assert_eq!(
        got["PolicyDocument"]["Statement"][0]["Action"],
        "iam:CreateUser"
    );
    let names = root.ok("iam list-user-policies --user-name alice").await;
    assert_eq!(names["PolicyNames"], serde_json::json!(["create"]));

    // An explicit deny wins, with its own message.
    let no = deny("iam:CreateUser", "*");
    root.ok(&format!(
        "iam put-user-policy --user-name alice --policy-name no --policy-document {no}"
    ))
    .await;
    let err = alice
        .fails("iam create-user --user-name carol", "AccessDenied")
        .await;
    assert!(
        err.contains("with an explicit deny in an identity-based policy"),
        "{err}"
    );
    root.ok("iam delete-user-policy --user-name alice --policy-name no")
        .await;
    alice.ok("iam create-user --user-name carol").await;

    // A deactivated key is refused at once; reactivated, it works again.
    root.ok(&format!(
        "iam update-access-key --user-name alice --access-key-id {key_id} --status Inactive"
    ))
    .await;
    alice
        .fails("sts get-caller-identity", "InvalidClientTokenId")
        .await;
    let listed = root.ok("iam list-access-keys --user-name alice").await;
    assert_eq!(listed["AccessKeyMetadata"][0]["Status"], "Inactive");
    root.ok(&format!(
        "iam update-access-key --user-name alice --access-key-id {key_id} --status Active"
    ))
    .await;
    alice.ok("sts get-caller-identity").await;

    // A user with keys and policies cannot be deleted until they are gone.
    root.fails("iam delete-user --user-name alice", "DeleteConflict")
        .await;
    root.ok(&format!(
        "iam delete-access-key --user-name alice --access-key-id {key_id}"
    ))
    .await;
    alice
        .fails("sts get-caller-identity", "InvalidClientTokenId")
        .await;
    root.fails("iam delete-user --user-name alice", "DeleteConflict")
        .await;
    root.ok("iam delete-user-policy --user-name alice --policy-name create")
        .await;
    root.ok("iam delete-user --user-name alice").await;
    root.fails("iam get-user --user-name alice", "NoSuchEntity")
        .await;

    // The root manages its own access keys.
    let own = root.ok("iam create-access-key").await;
    let own_id = own["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let root2 = Client::with_keys(
        &aws,
        &server,
        scratch.path(),
        &own_id,
        own["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
    );
    assert_eq!(
        root2.ok("sts get-caller-identity").await["Arn"],
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
    let keys = root.ok("iam list-access-keys").await;
    assert_eq!(keys["AccessKeyMetadata"].as_array().unwrap().len(), 2);
    root.fails("iam create-access-key", "LimitExceeded").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_policies_attach_and_detach_immediately() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let root = Client::new(&aws, &server, scratch.path());
    let (dave, _) = user_with_key(&root, "dave", &aws, &server, scratch.path()).await;

    let doc = allow("iam:ListUsers", "*");
    let created = root
        .ok(&format!(
            "iam create-policy --policy-name list --path /ops/ --policy-document {doc}"
        ))
        .await;
    let arn = created["Policy"]["Arn"].as_str().unwrap().to_string();
    assert_eq!(arn, format!("arn:aws:iam::{ACCOUNT}:policy/ops/list"));
    assert!(
        created["Policy"]["PolicyId"]
            .as_str()
            .unwrap()
            .starts_with("ANPA")
    );

    dave.fails("iam list-users", "AccessDenied").await;
    root.ok(&format!(
        "iam attach-user-policy --user-name dave --policy-arn {arn}"
    ))
    .await;
    let users = dave.ok("iam list-users").await;
    assert_eq!(users["Users"][0]["UserName"], "dave");
    let attached = root
        .ok("iam list-attached-user-policies --user-name dave")
        .await;
    assert_eq!(attached["AttachedPolicies"][0]["PolicyArn"], arn.as_str());
    assert_eq!(
        root.ok(&format!("iam get-policy --policy-arn {arn}")).await["Policy"]["AttachmentCount"],
        1
    );
    let version = root
        .ok(&format!(
            "iam get-policy-version --policy-arn {arn} --version-id v1"
        ))
        .await;
    assert_eq!(
        version["PolicyVersion"]["Document"]["Statement"][0]["Action"],
        "iam:ListUsers"
    );

    root.fails(
        &format!("iam delete-policy --policy-arn {arn}"),
        "DeleteConflict",
    )
    .await;
    root.ok(&format!(
        "iam detach-user-policy --user-name dave --policy-arn {arn}"
    ))
    .await;
    dave.fails("iam list-users", "AccessDenied").await;
    root.ok(&format!("iam delete-policy --policy-arn {arn}"))
        .await;
    root.fails(
        &format!("iam get-policy --policy-arn {arn}"),
        "NoSuchEntity",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_documents_are_validated() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let root = Client::new(&aws, &server, scratch.path());
    root.ok("iam create-user --user-name erin").await;

    let err = root
        .fails(
            r#"iam put-user-policy --user-name erin --policy-name p --policy-document {"Version":"2012-10-17"}"#,
            "MalformedPolicyDocument",
        )
        .await;
    assert!(err.contains("Statement"), "{err}");
    // A principal has no place in an identity policy.
    let with_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"iam:*","Resource":"*"}]}"#;
    root.fails(
        &format!("iam put-user-policy --user-name erin --policy-name p --policy-document {with_principal}"),
        "MalformedPolicyDocument",
    )
    .await;
    // A trust policy needs one.
    let no_principal = allow("sts:AssumeRole", "*");
    root.fails(
        &format!("iam create-role --role-name r --assume-role-policy-document {no_principal}"),
        "MalformedPolicyDocument",
    )
    .await;
    // Over the 2048-character quota of user inline policies (whitespace does not count).
    let actions: Vec<String> = (0..120).map(|i| format!("\"iam:GetUser{i:03}\"")).collect();
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":[{}],"Resource":"*"}}]}}"#,
        actions.join(",")
    );
    let err = root
        .fails(
            &format!(
                "iam put-user-policy --user-name erin --policy-name p --policy-document {big}"
            ),
            "LimitExceeded",
        )
        .await;
    assert!(
        err.contains("Cannot exceed quota for PolicySize: 2048"),
        "{err}"
    );
    // A role's inline quota is larger.
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ACCOUNT}"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    root.ok(&format!(
        "iam create-role --role-name r --assume-role-policy-document {trust}"
    ))
    .await;
    root.ok(&format!(
        "iam put-role-policy --role-name r --policy-name p --policy-document {big}"
    ))
    .await;
    root.fails("iam create-user --user-name bad/name", "ValidationError")
        .await;
    root.fails("iam get-role --role-name nobody", "NoSuchEntity")
        .await;
    root.fails("iam delete-role --role-name r", "DeleteConflict")
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn assume_role_trust_external_id_and_expiry() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let root = Client::new(&aws, &server, scratch.path());
    let (frank, _) = user_with_key(&root, "frank", &aws, &server, scratch.path()).await;
    let (grace, _) = user_with_key(&root, "grace", &aws, &server, scratch.path()).await;

    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/frank"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"sts:ExternalId":"ticket-42"}}}}}}]}}"#
    );
    let role = root
        .ok(&format!(
            "iam create-role --role-name deployer --path /ci/ --max-session-duration 7200 \
             --assume-role-policy-document {trust} --tags Key=env,Value=prod"
        ))
        .await;
    let role_arn = role["Role"]["Arn"].as_str().unwrap().to_string();
    assert_eq!(role_arn, format!("arn:aws:iam::{ACCOUNT}:role/ci/deployer"));
    let role_id = role["Role"]["RoleId"].as_str().unwrap().to_string();
    assert_eq!(
        root.ok("iam get-role --role-name deployer").await["Role"]["AssumeRolePolicyDocument"]["Statement"]
            [0]["Condition"]["StringEquals"]["sts:ExternalId"],
        "ticket-42"
    );
    root.ok(&format!(
        "iam put-role-policy --role-name deployer --policy-name list --policy-document {}",
        allow("iam:ListRoles", "*")
    ))
    .await;

    // Without the external id, and for a caller the trust policy does not name: denied.
    let err = frank
        .fails(
            &format!("sts assume-role --role-arn {role_arn} --role-session-name s1"),
            "AccessDenied",
        )
        .await;
    assert!(
        err.contains(&format!(
            "User: arn:aws:iam::{ACCOUNT}:user/frank is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        )),
        "{err}"
    );
    grace
        .fails(
            &format!(
                "sts assume-role --role-arn {role_arn} --role-session-name s1 --external-id ticket-42"
            ),
            "AccessDenied",
        )
        .await;
    frank
        .fails(
            &format!(
                "sts assume-role --role-arn {role_arn} --role-session-name s1 --external-id ticket-42 --duration-seconds 7201"
            ),
            "ValidationError",
        )
        .await;

    // Start the session ten minutes in the server's past, so that it can expire without the
    // CLI's signatures (made with the system clock) leaving the 15-minute skew window.
    use trent_store::clock::Clock as _;
    let now = server.clock.now_ms();
    server.clock.set_ms(now - 600_000);
    let out = frank
        .ok(&format!(
            "sts assume-role --role-arn {role_arn} --role-session-name s1 --external-id ticket-42 --duration-seconds 900"
        ))
        .await;
    server.clock.set_ms(now);
    let session_arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/deployer/s1");
    assert_eq!(out["AssumedRoleUser"]["Arn"], session_arn.as_str());
    assert_eq!(
        out["AssumedRoleUser"]["AssumedRoleId"],
        format!("{role_id}:s1")
    );
    let session = session_client(&aws, &server, scratch.path(), &out);
    let me = session.ok("sts get-caller-identity").await;
    assert_eq!(me["Arn"], session_arn.as_str());
    assert_eq!(me["UserId"], format!("{role_id}:s1"));
    // The session has the role's policies, and only them.
    session.ok("iam list-roles").await;
    session.fails("iam list-users", "AccessDenied").await;

    // A wrong token is refused; after DurationSeconds the session is expired.
    let mut forged = session_client(&aws, &server, scratch.path(), &out);
    forged.set_env("AWS_SESSION_TOKEN", "bm90IHRoZSB0b2tlbg==");
    forged
        .fails("sts get-caller-identity", "InvalidClientTokenId")
        .await;
    server.clock.set_ms(now + 301_000);
    let err = session
        .fails("sts get-caller-identity", "ExpiredToken")
        .await;
    assert!(
        err.contains("The security token included in the request is expired"),
        "{err}"
    );
    server.clock.set_ms(now);

    // A trust policy naming only the account also needs an identity-policy allow.
    let account_trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    root.ok(&format!(
        "iam create-role --role-name reader --assume-role-policy-document {account_trust}"
    ))
    .await;
    let reader = format!("arn:aws:iam::{ACCOUNT}:role/reader");
    let err = grace
        .fails(
            &format!("sts assume-role --role-arn {reader} --role-session-name gg"),
            "AccessDenied",
        )
        .await;
    assert!(
        err.contains("because no identity-based policy allows the sts:AssumeRole action"),
        "{err}"
    );
    root.ok(&format!(
        "iam put-user-policy --user-name grace --policy-name assume --policy-document {}",
        allow("sts:AssumeRole", &reader)
    ))
    .await;
    let out = grace
        .ok(&format!(
            "sts assume-role --role-arn {reader} --role-session-name gg"
        ))
        .await;
    assert_eq!(
        out["AssumedRoleUser"]["Arn"],
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/reader/gg")
    );

    // Deleting the role ends its sessions.
    let reader_session = session_client(&aws, &server, scratch.path(), &out);
    reader_session.ok("sts get-caller-identity").await;
    root.ok("iam delete-role --role-name reader").await;
    reader_session
        .fails("sts get-caller-identity", "InvalidClientTokenId")
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn second_account_and_cross_account_assume_role() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let root = Client::new(&aws, &server, scratch.path());
    let other = server
        .state
        .create_account(Some("111111111111"))
        .await
        .unwrap();
    assert!(
        server
            .state
            .create_account(Some("111111111111"))
            .await
            .is_err()
    );
    let secret = std::str::from_utf8(other.secret_access_key.expose_secret()).unwrap();
    let other_root = Client::with_keys(&aws, &server, scratch.path(), &other.access_key_id, secret);
    let me = other_root.ok("sts get-caller-identity").await;
    assert_eq!(me["Arn"], "arn:aws:iam::111111111111:root");

    // IAM entities are per account.
    other_root.ok("iam create-user --user-name henry").await;
    root.fails("iam get-user --user-name henry", "NoSuchEntity")
        .await;
    let key = other_root
        .ok("iam create-access-key --user-name henry")
        .await;
    let henry = Client::with_keys(
        &aws,
        &server,
        scratch.path(),
        key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
    );

    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"}]}"#;
    root.ok(&format!(
        "iam create-role --role-name partner --assume-role-policy-document {trust}"
    ))
    .await;
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/partner");

    // The other account's root: the trust policy allows it and it needs no identity policy.
    let out = other_root
        .ok(&format!(
            "sts assume-role --role-arn {role_arn} --role-session-name xx"
        ))
        .await;
    let session = session_client(&aws, &server, scratch.path(), &out);
    let me = session.ok("sts get-caller-identity").await;
    assert_eq!(me["Account"], ACCOUNT);
    assert_eq!(
        me["Arn"],
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/partner/xx")
    );

    // A user of the other account also needs its own account's allow.
    henry
        .fails(
            &format!("sts assume-role --role-arn {role_arn} --role-session-name hh"),
            "AccessDenied",
        )
        .await;
    other_root
        .ok(&format!(
            "iam put-user-policy --user-name henry --policy-name p --policy-document {}",
            allow("sts:AssumeRole", &role_arn)
        ))
        .await;
    henry
        .ok(&format!(
            "sts assume-role --role-arn {role_arn} --role-session-name hh"
        ))
        .await;
    // An account the trust policy does not name is refused even as root.
    let third = server.state.create_account(None).await.unwrap();
    let third_root = Client::with_keys(
        &aws,
        &server,
        scratch.path(),
        &third.access_key_id,
        std::str::from_utf8(third.secret_access_key.expose_secret()).unwrap(),
    );
    third_root
        .fails(
            &format!("sts assume-role --role-arn {role_arn} --role-session-name tt"),
            "AccessDenied",
        )
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_mode_accepts_any_credentials_and_verifies_issued_ones() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start_with(data.path(), |o| o.dev = true).await;
    let anyone = Client::with_keys(
        &aws,
        &server,
        scratch.path(),
        "AKIAANYTHINGATALL",
        "whatever",
    );
    let me = anyone.ok("sts get-caller-identity").await;
    assert_eq!(me["Arn"], format!("arn:aws:iam::{ACCOUNT}:root"));
    let (ivy, key_id) = user_with_key(&anyone, "ivy", &aws, &server, scratch.path()).await;
    assert_eq!(
        ivy.ok("sts get-caller-identity").await["Arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/ivy")
    );
    ivy.fails("iam list-users", "AccessDenied").await;
    // An issued key with the wrong secret does not fall back to the root.
    let wrong = Client::with_keys(&aws, &server, scratch.path(), &key_id, "not-the-secret");
    wrong
        .fails("sts get-caller-identity", "SignatureDoesNotMatch")
        .await;
    server.stop().await;
}

const XML_SCRIPT: &str = r#"
import json, os, urllib.request, urllib.error
import boto3, botocore.auth, botocore.awsrequest, botocore.credentials
from botocore.exceptions import ClientError
out = {}
iam = boto3.client("iam")
try:
    iam.get_user(UserName="nobody")
except ClientError as e:
    out["code"] = e.response["Error"]["Code"]
    out["status"] = e.response["ResponseMetadata"]["HTTPStatusCode"]
    out["message"] = e.response["Error"]["Message"]
iam.create_user(UserName="jo", Tags=[{"Key": "team:a+b", "Value": "x/y=z"}])
out["tags"] = iam.list_user_tags(UserName="jo")["Tags"]
trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"000000000000"},"Action":"sts:AssumeRole"}]}'
iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust, Description="<a&b> 'c' \"d\"")
role = iam.get_role(RoleName="r")["Role"]
out["description"] = role["Description"]
out["trust"] = role["AssumeRolePolicyDocument"]
creds = botocore.credentials.Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
def raw(body):
    req = botocore.awsrequest.AWSRequest(method="POST", url=os.environ["AWS_ENDPOINT_URL"] + "/", data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    botocore.auth.SigV4Auth(creds, "iam", "us-east-1").add_auth(req)
    p = req.prepare()
    try:
        body = p.body.encode() if isinstance(p.body, str) else p.body
        r = urllib.request.urlopen(urllib.request.Request(p.url, data=body, headers=dict(p.headers), method="POST"))
        return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()
out["invalid_action"] = raw("Action=NoSuchThing&Version=2010-05-08")
out["get_user"] = raw("Action=GetUser&Version=2010-05-08&UserName=jo")
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn boto3_reads_query_protocol_errors_and_documents() {
    let Some(python) = find_python().await else {
        return;
    };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let py = Client::new(&python, &server, scratch.path());
    let stdout = match py.exec(vec!["-c".into(), XML_SCRIPT.into()]).await {
        Ok(s) => s,
        Err((status, stderr)) => panic!("the boto3 script exited {status}: {stderr}"),
    };
    let out: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(out["code"], "NoSuchEntity");
    assert_eq!(out["status"], 404);
    assert_eq!(out["message"], "The user with name nobody cannot be found.");
    assert_eq!(
        out["tags"],
        serde_json::json!([{"Key": "team:a+b", "Value": "x/y=z"}])
    );
    // Markup characters survive the XML round trip; the trust policy is URL-decoded JSON.
    assert_eq!(out["description"], "<a&b> 'c' \"d\"");
    assert_eq!(out["trust"]["Statement"][0]["Principal"]["AWS"], ACCOUNT);
    let invalid = &out["invalid_action"];
    assert_eq!(invalid[0], 400);
    assert_eq!(invalid[1], "text/xml");
    let body = invalid[2].as_str().unwrap();
    assert!(
        body.starts_with(r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>InvalidAction</Code>"#),
        "{body}"
    );
    assert!(body.contains("<RequestId>"), "{body}");
    let ok = &out["get_user"];
    assert_eq!(ok[0], 200);
    let body = ok[2].as_str().unwrap();
    assert!(
        body.starts_with(r#"<GetUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetUserResult><User><Path>/</Path><UserName>jo</UserName>"#),
        "{body}"
    );
    assert!(
        body.contains("<Key>team:a+b</Key><Value>x/y=z</Value>"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn principal_and_session_tags_feed_conditions() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let root = Client::new(&aws, &server, scratch.path());
    root.ok("iam create-user --user-name kim --tags Key=team,Value=blue")
        .await;
    let key = root.ok("iam create-access-key --user-name kim").await;
    let kim = Client::with_keys(
        &aws,
        &server,
        scratch.path(),
        key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
    );
    let blue_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ListUsers","sts:AssumeRole","sts:TagSession"],"Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"blue"}}}]}"#;
    root.ok(&format!(
        "iam put-user-policy --user-name kim --policy-name blue --policy-document {blue_only}"
    ))
    .await;
    kim.ok("iam list-users").await;
    // Retagging the user changes the decision on the next request.
    root.ok("iam tag-user --user-name kim --tags Key=team,Value=red")
        .await;
    assert_eq!(
        root.ok("iam list-user-tags --user-name kim").await["Tags"],
        serde_json::json!([{"Key": "team", "Value": "red"}])
    );
    kim.fails("iam list-users", "AccessDenied").await;
    root.ok("iam tag-user --user-name kim --tags Key=team,Value=blue")
        .await;
    kim.ok("iam list-users").await;
    root.ok("iam untag-user --user-name kim --tag-keys TEAM")
        .await;
    assert_eq!(
        root.ok("iam list-user-tags --user-name kim").await["Tags"],
        serde_json::json!([])
    );
    kim.fails("iam list-users", "AccessDenied").await;
    root.ok("iam tag-user --user-name kim --tags Key=team,Value=blue")
        .await;

    // Session tags: the trust policy must allow sts:TagSession too, and the tags become the
    // session's principal tags (over the role's own).
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/kim"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    root.ok(&format!(
        "iam create-role --role-name tagged --tags Key=team,Value=red --assume-role-policy-document {trust}"
    ))
    .await;
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/tagged");
    root.ok(&format!(
        "iam put-role-policy --role-name tagged --policy-name blue --policy-document {blue_only}"
    ))
    .await;
    let plain = kim
        .ok(&format!(
            "sts assume-role --role-arn {role_arn} --role-session-name plain"
        ))
        .await;
    session_client(&aws, &server, scratch.path(), &plain)
        .fails("iam list-users", "AccessDenied")
        .await;
    kim.fails(
        &format!(
            "sts assume-role --role-arn {role_arn} --role-session-name tags --tags Key=team,Value=blue"
        ),
        "AccessDenied",
    )
    .await;
    let with_tag_session = trust.replace(
        "\"sts:AssumeRole\"",
        "[\"sts:AssumeRole\",\"sts:TagSession\"]",
    );
    root.ok(&format!(
        "iam create-role --role-name tagged2 --tags Key=team,Value=red --assume-role-policy-document {with_tag_session}"
    ))
    .await;
    root.ok(&format!(
        "iam put-role-policy --role-name tagged2 --policy-name blue --policy-document {blue_only}"
    ))
    .await;
    let tagged = kim
        .ok(&format!(
            "sts assume-role --role-arn arn:aws:iam::{ACCOUNT}:role/tagged2 --role-session-name tags --tags Key=team,Value=blue"
        ))
        .await;
    session_client(&aws, &server, scratch.path(), &tagged)
        .ok("iam list-users")
        .await;
    server.stop().await;
}

/// Reads `[trent]` credentials from a shared-credentials file.
fn credentials_in(path: &std::path::Path) -> (String, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
            })
            .unwrap()
    };
    (field("aws_access_key_id"), field("aws_secret_access_key"))
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_create_account_command_writes_working_credentials() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_trent"))
            .args(["admin", "create-account", "--data-dir"])
            .arg(data.path())
            .args(args)
            .env_remove("TRENT_DATA_DIR")
            .output()
            .unwrap()
    };
    // The command runs beside the live server, on the same data directory.
    let out = tokio::task::block_in_place(|| run(&["--account-id", "222233334444"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = data.path().join("root-credentials-222233334444");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let (id, secret) = credentials_in(&path);
    let other = Client::with_keys(&aws, &server, scratch.path(), &id, &secret);
    assert_eq!(
        other.ok("sts get-caller-identity").await["Arn"],
        "arn:aws:iam::222233334444:root"
    );
    let again = tokio::task::block_in_place(|| run(&["--account-id", "222233334444"]));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = tokio::task::block_in_place(|| run(&["--account-id", "12"]));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("12 digits"));
    server.stop().await;
}

/// Signs and sends one Query request; returns (status, content type, body).
async fn query_raw(server: &TestServer, service: &str, body: &[u8]) -> (u16, String, String) {
    use http_body_util::BodyExt as _;
    let credentials = (
        server.access_key_id.as_str(),
        server.secret_access_key.as_str(),
    );
    let req = server.signed_post(
        credentials,
        service,
        &[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        body,
    );
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ct, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn no_query_input_answers_5xx() {
    use trent_iam::{Iam, QueryService};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let junk: &[&str] = &[
        "",
        "UserName=&RoleName=&PolicyName=&PolicyArn=&PolicyDocument=",
        "UserName=%00%01&RoleName=%E2%80%AE&PolicyArn=arn:aws:iam::000000000000:policy/x",
        "UserName=a&PolicyName=p&PolicyDocument=%7B&AssumeRolePolicyDocument=null",
        "UserName=a&MaxItems=0&Marker=&PathPrefix=x",
        "UserName=a&MaxItems=99999999999999999999&DurationSeconds=-1&MaxSessionDuration=abc",
        "Tags.member.0.Key=k&Tags.member.x.Value=v",
        "Tags.member.1.Key=&Tags.member.1.Value=&Tags.member.2.Key=a",
        "RoleArn=arn:aws:iam::000000000000:role/&RoleSessionName=%F0%9F%92%A5%F0%9F%92%A5",
        "RoleArn=arn&RoleSessionName=ab&ExternalId=%20&Policy=%7B%7D",
        "AccessKeyId=AKIA0000000000000000&Status=Maybe&VersionId=v0",
        "UserName=a%ZZ",
    ];
    let long = format!(
        "UserName={}&PolicyDocument={}",
        "a".repeat(5000),
        "x".repeat(200_000)
    );
    for (service, name) in [(QueryService::Iam, "iam"), (QueryService::Sts, "sts")] {
        for action in Iam::actions(service) {
            for params in junk.iter().copied().chain([long.as_str()]) {
                let body = format!("Action={action}&Version={}&{params}", service.version());
                let (status, ct, text) = query_raw(&server, name, body.as_bytes()).await;
                assert!(status < 500, "{action} {params}: {status} {text}");
                assert_eq!(ct, "text/xml", "{action} {params}: {text}");
                assert!(
                    text.starts_with("<ErrorResponse")
                        || text.starts_with(&format!("<{action}Response")),
                    "{action} {params}: {text}"
                );
            }
        }
    }
    // An unknown or missing action, and a body that is not UTF-8.
    let (status, _, text) = query_raw(&server, "sts", b"Action=Nope&Version=2011-06-15").await;
    assert_eq!(status, 400);
    assert!(
        text.contains("<Code>InvalidAction</Code>")
            && text.contains("https://sts.amazonaws.com/doc/2011-06-15/"),
        "{text}"
    );
    let (status, _, text) = query_raw(&server, "iam", b"Version=2010-05-08").await;
    assert_eq!(status, 400);
    assert!(text.contains("<Code>MissingAction</Code>"), "{text}");
    let (status, _, text) = query_raw(&server, "iam", b"Action=GetUser&\xff").await;
    assert_eq!(status, 400, "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_is_global_whatever_regions_are_served() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server =
        TestServer::start_with(data.path(), |o| o.regions = vec!["eu-west-1".into()]).await;
    let mut root = Client::new(&aws, &server, scratch.path());
    root.set_env("AWS_DEFAULT_REGION", "eu-west-1");
    root.set_env("AWS_REGION", "eu-west-1");
    // The CLI signs IAM for us-east-1 even here; STS for the client's region.
    root.ok("iam create-user --user-name lee").await;
    assert_eq!(
        root.ok("iam list-users").await["Users"][0]["UserName"],
        "lee"
    );
    root.ok("sts get-caller-identity").await;
    // KMS still refuses a region that is not served.
    let mut elsewhere = Client::new(&aws, &server, scratch.path());
    elsewhere.set_env("AWS_DEFAULT_REGION", "us-west-2");
    elsewhere.set_env("AWS_REGION", "us-west-2");
    elsewhere
        .fails("kms list-keys", "InvalidSignatureException")
        .await;
    elsewhere.ok("iam list-users").await;
    server.stop().await;
}
