//! KMS authorization on a real server's KMS service: key policies, IAM policies, grants,
//! cross-account use, the lockout check and AWS's denial messages. Callers are built directly
//! as the server builds them after authentication (an identity and its IAM policies), so every
//! kind of principal can be exercised without going through IAM.

use std::sync::Arc;

use serde_json::{Value, json};
use trent_kms::Caller;
use trent_policy::{AwsIdentity, ParseOptions, Policy, Requester};
use trent_store::Scope;

use crate::harness::TestServer;

const A: &str = "111122223333";
const B: &str = "444455556666";
const REGION: &str = "us-east-1";

struct Who {
    requester: Arc<Requester>,
}

impl Who {
    fn new(arn: &str, policies: &[Value]) -> Who {
        Self::tagged(arn, policies, &[])
    }

    fn tagged(arn: &str, policies: &[Value], tags: &[(&str, &str)]) -> Who {
        let mut identity = AwsIdentity::from_arn(arn).unwrap();
        for (k, v) in tags {
            identity = identity.with_tag(k, *v);
        }
        let policies: Vec<Policy> = policies
            .iter()
            .map(|p| Policy::parse(&p.to_string(), ParseOptions::IDENTITY).unwrap())
            .collect();
        let requester =
            Requester::new(identity, REGION, 1_800_000_000_000).with_policies(Arc::from(policies));
        Who {
            requester: Arc::new(requester),
        }
    }

    fn root(account: &str) -> Who {
        Who::new(&format!("arn:aws:iam::{account}:root"), &[])
    }

    fn arn(&self) -> &str {
        self.requester.arn()
    }
}

/// Calls a KMS operation as `who`; the error is (code, message) as the wire would carry them.
async fn call(
    server: &TestServer,
    who: &Who,
    op: &str,
    body: Value,
) -> Result<Value, (String, String)> {
    let caller = Caller {
        scope: Scope::new(who.requester.account(), REGION),
        requester: Arc::clone(&who.requester),
        request_id: "test".into(),
        touched: Default::default(),
    };
    match server
        .state
        .kms
        .call(&caller, op, body.to_string().as_bytes())
        .await
    {
        Ok(out) => Ok(serde_json::from_slice(&out).unwrap()),
        Err(e) => {
            let api = e.to_api_error();
            Err((api.code.to_string(), api.message))
        }
    }
}

async fn ok(server: &TestServer, who: &Who, op: &str, body: Value) -> Value {
    match call(server, who, op, body).await {
        Ok(v) => v,
        Err(e) => panic!("{op} as {} failed: {e:?}", who.arn()),
    }
}

async fn denied(server: &TestServer, who: &Who, op: &str, body: Value) -> String {
    match call(server, who, op, body).await {
        Ok(v) => panic!("{op} as {} was allowed: {v}", who.arn()),
        Err((code, message)) => {
            assert_eq!(code, "AccessDeniedException", "{message}");
            message
        }
    }
}

fn allow(actions: &[&str], resource: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": resource}]})
}

fn user(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:user/{name}")
}

async fn new_key(server: &TestServer, who: &Who, policy: Option<Value>) -> (String, String) {
    let mut body = json!({});
    if let Some(p) = policy {
        body["Policy"] = json!(p.to_string());
    }
    let out = ok(server, who, "CreateKey", body).await;
    let meta = &out["KeyMetadata"];
    (
        meta["KeyId"].as_str().unwrap().to_string(),
        meta["Arn"].as_str().unwrap().to_string(),
    )
}

fn encrypt_body(key: &str) -> Value {
    json!({"KeyId": key, "Plaintext": "aGVsbG8="})
}

#[tokio::test]
async fn default_policy_delegates_to_iam() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let root = Who::root(A);
    let (key_id, arn) = new_key(&server, &root, None).await;

    // A user with no IAM policy: the key policy names only the account.
    let alice = Who::new(&user(A, "alice"), &[]);
    let msg = denied(&server, &alice, "Encrypt", encrypt_body(&key_id)).await;
    assert_eq!(
        msg,
        format!(
            "User: {} is not authorized to perform: kms:Encrypt on resource: {arn} because no \
             identity-based policy allows the kms:Encrypt action",
            alice.arn()
        )
    );

    // An IAM policy on the key ARN allows; one on another key does not.
    let bob = Who::new(
        &user(A, "bob"),
        &[allow(&["kms:Encrypt", "kms:Decrypt"], &arn)],
    );
    let out = ok(&server, &bob, "Encrypt", encrypt_body(&key_id)).await;
    let blob = out["CiphertextBlob"].as_str().unwrap().to_string();
    ok(&server, &bob, "Decrypt", json!({"CiphertextBlob": blob})).await;
    let carol = Who::new(
        &user(A, "carol"),
        &[allow(
            &["kms:*"],
            &format!("arn:aws:kms:{REGION}:{A}:key/other"),
        )],
    );
    denied(&server, &carol, "Encrypt", encrypt_body(&key_id)).await;
    // Decrypt is authorized against the key the blob names, not the request's resource.
    let enc_only = Who::new(&user(A, "dave"), &[allow(&["kms:Encrypt"], "*")]);
    let msg = denied(
        &server,
        &enc_only,
        "Decrypt",
        json!({"CiphertextBlob": blob}),
    )
    .await;
    assert!(
        msg.contains(&format!("kms:Decrypt on resource: {arn}")),
        "{msg}"
    );

    // An explicit deny in an IAM policy wins over the allow.
    let eve = Who::new(
        &user(A, "eve"),
        &[
            allow(&["kms:*"], "*"),
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}]}),
        ],
    );
    let msg = denied(&server, &eve, "Encrypt", encrypt_body(&key_id)).await;
    assert!(
        msg.ends_with("with an explicit deny in an identity-based policy"),
        "{msg}"
    );
    ok(&server, &eve, "DescribeKey", json!({"KeyId": key_id})).await;

    // Keyless operations are IAM-only.
    denied(&server, &alice, "ListKeys", json!({})).await;
    denied(&server, &alice, "CreateKey", json!({})).await;
    ok(&server, &eve, "ListKeys", json!({})).await;
    let msg = denied(
        &server,
        &alice,
        "GenerateRandom",
        json!({"NumberOfBytes": 8}),
    )
    .await;
    assert!(msg.contains("kms:GenerateRandom on resource: *"), "{msg}");
}

#[tokio::test]
async fn key_policy_naming_principals_and_conditions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let root = Who::root(A);
    let app = format!("arn:aws:iam::{A}:role/App");
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:root")},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "AppUse", "Effect": "Allow", "Principal": {"AWS": app},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "${aws:PrincipalTag/tenant}"}}},
        {"Sid": "NoRawDecryptForRoot", "Effect": "Deny",
         "Principal": {"AWS": format!("arn:aws:iam::{A}:root")},
         "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"Null": {"kms:EncryptionContext:tenant": "true"}}}
    ]});
    let (key_id, arn) = new_key(&server, &root, Some(policy)).await;

    // A role session, named by its role in the key policy, needs no IAM policy; the tag must
    // match the context.
    let session = Who::tagged(
        &format!("arn:aws:sts::{A}:assumed-role/App/worker-1"),
        &[],
        &[("tenant", "blue")],
    );
    let blue =
        json!({"KeyId": key_id, "Plaintext": "aGk=", "EncryptionContext": {"tenant": "blue"}});
    let out = ok(&server, &session, "Encrypt", blue.clone()).await;
    let blob = out["CiphertextBlob"].as_str().unwrap().to_string();
    let red = json!({"KeyId": key_id, "Plaintext": "aGk=", "EncryptionContext": {"tenant": "red"}});
    // The key policy still names the session's account (the Admin statement), so the answer is
    // that no IAM policy completes the delegation.
    let msg = denied(&server, &session, "Encrypt", red).await;
    assert!(
        msg.ends_with("because no identity-based policy allows the kms:Encrypt action"),
        "{msg}"
    );
    denied(&server, &session, "Encrypt", encrypt_body(&key_id)).await;
    // The same decision through an alias, and GenerateDataKey with the context.
    ok(
        &server,
        &root,
        "CreateAlias",
        json!({"AliasName": "alias/app", "TargetKeyId": key_id}),
    )
    .await;
    ok(
        &server,
        &session,
        "GenerateDataKey",
        json!({"KeyId": "alias/app", "KeySpec": "AES_256", "EncryptionContext": {"tenant": "blue"}}),
    )
    .await;
    ok(
        &server,
        &session,
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": {"tenant": "blue"}}),
    )
    .await;
    // Not an operation the statement names.
    denied(&server, &session, "DescribeKey", json!({"KeyId": key_id})).await;

    // The root's explicit deny: no Decrypt without a tenant.
    let out = ok(&server, &root, "Encrypt", encrypt_body(&key_id)).await;
    let bare = out["CiphertextBlob"].as_str().unwrap().to_string();
    let msg = denied(&server, &root, "Decrypt", json!({"CiphertextBlob": bare})).await;
    assert_eq!(
        msg,
        format!(
            "User: arn:aws:iam::{A}:root is not authorized to perform: kms:Decrypt on \
             resource: {arn} with an explicit deny in a resource-based policy"
        )
    );
}

#[tokio::test]
async fn request_alias_and_via_service_conditions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let root = Who::root(A);
    let (key_id, _arn) = new_key(&server, &root, None).await;
    ok(
        &server,
        &root,
        "CreateAlias",
        json!({"AliasName": "alias/finance", "TargetKeyId": key_id}),
    )
    .await;
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:RequestAlias": "alias/finance"}}},
        {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*",
         "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/finance"}}}
    ]});
    let fin = Who::new(&user(A, "fin"), &[policy]);
    ok(&server, &fin, "Encrypt", encrypt_body("alias/finance")).await;
    ok(
        &server,
        &fin,
        "Encrypt",
        encrypt_body(&format!("arn:aws:kms:{REGION}:{A}:alias/finance")),
    )
    .await;
    denied(&server, &fin, "Encrypt", encrypt_body(&key_id)).await;
    ok(&server, &fin, "DescribeKey", json!({"KeyId": key_id})).await;
    ok(
        &server,
        &root,
        "DeleteAlias",
        json!({"AliasName": "alias/finance"}),
    )
    .await;
    denied(&server, &fin, "DescribeKey", json!({"KeyId": key_id})).await;
}

#[tokio::test]
async fn lockout_safety_check() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let admin = Who::new(&user(A, "admin"), &[allow(&["kms:*"], "*")]);
    let only_others = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": user(A, "someone-else")},
         "Action": "kms:*", "Resource": "*"}]});
    let err = call(
        &server,
        &admin,
        "CreateKey",
        json!({"Policy": only_others.to_string()}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        (
            "MalformedPolicyDocumentException".to_string(),
            "The new key policy will not allow you to update the key policy in the future."
                .to_string()
        )
    );
    let (key_id, _) = ok(
        &server,
        &admin,
        "CreateKey",
        json!({"Policy": only_others.to_string(), "BypassPolicyLockoutSafetyCheck": true}),
    )
    .await["KeyMetadata"]["KeyId"]
        .as_str()
        .map(|id| (id.to_string(), ()))
        .unwrap();
    // Locked out for real now: the admin's IAM policy does not help.
    denied(&server, &admin, "DescribeKey", json!({"KeyId": key_id})).await;

    // Delegation to the account counts when the caller's IAM policy allows PutKeyPolicy.
    let (key_id, _) = new_key(&server, &admin, None).await;
    let account_only = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": A}, "Action": "kms:*", "Resource": "*"}]});
    ok(
        &server,
        &admin,
        "PutKeyPolicy",
        json!({"KeyId": key_id, "PolicyName": "default", "Policy": account_only.to_string()}),
    )
    .await;
    let err = call(
        &server,
        &admin,
        "PutKeyPolicy",
        json!({"KeyId": key_id, "PolicyName": "default", "Policy": only_others.to_string()}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.0, "MalformedPolicyDocumentException");
}

#[tokio::test]
async fn grants_allow_retire_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let root = Who::root(A);
    let (key_id, arn) = new_key(&server, &root, None).await;
    let worker = Who::new(&user(A, "worker"), &[]);
    let retirer = Who::new(&user(A, "retirer"), &[]);
    denied(&server, &worker, "Encrypt", encrypt_body(&key_id)).await;

    let grant = ok(
        &server,
        &root,
        "CreateGrant",
        json!({"KeyId": key_id, "GranteePrincipal": worker.arn(),
               "RetiringPrincipal": retirer.arn(), "Name": "batch",
               "Operations": ["Encrypt", "Decrypt", "DescribeKey"],
               "Constraints": {"EncryptionContextSubset": {"Job": "nightly"}}}),
    )
    .await;
    let grant_id = grant["GrantId"].as_str().unwrap().to_string();
    let token = grant["GrantToken"].as_str().unwrap().to_string();
    assert_eq!(grant_id.len(), 64);
    // A retry with the same name is the same grant.
    let again = ok(
        &server,
        &root,
        "CreateGrant",
        json!({"KeyId": key_id, "GranteePrincipal": worker.arn(),
               "RetiringPrincipal": retirer.arn(), "Name": "batch",
               "Operations": ["Decrypt", "Encrypt", "DescribeKey"],
               "Constraints": {"EncryptionContextSubset": {"Job": "nightly"}}}),
    )
    .await;
    assert_eq!(again["GrantId"], grant_id);

    // Usable at once, within its constraints (keys without case, values with).
    let with_ctx = |job: &str| {
        json!({"KeyId": key_id, "Plaintext": "aGk=", "GrantTokens": [token],
               "EncryptionContext": {"job": job, "extra": "x"}})
    };
    ok(&server, &worker, "Encrypt", with_ctx("nightly")).await;
    denied(&server, &worker, "Encrypt", with_ctx("Nightly")).await;
    denied(&server, &worker, "Encrypt", encrypt_body(&key_id)).await;
    // Constraints do not apply to DescribeKey; operations outside the grant stay denied.
    ok(&server, &worker, "DescribeKey", json!({"KeyId": key_id})).await;
    denied(
        &server,
        &worker,
        "GenerateDataKey",
        json!({"KeyId": key_id, "KeySpec": "AES_256",
        "EncryptionContext": {"Job": "nightly"}}),
    )
    .await;

    let list = ok(&server, &root, "ListGrants", json!({"KeyId": key_id})).await;
    let grants = list["Grants"].as_array().unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["GrantId"], grant_id);
    assert_eq!(grants[0]["KeyId"], arn);
    assert_eq!(grants[0]["GranteePrincipal"], worker.arn());
    assert_eq!(
        grants[0]["IssuingAccount"],
        format!("arn:aws:iam::{A}:root")
    );
    assert_eq!(
        grants[0]["Constraints"],
        json!({"EncryptionContextSubset": {"Job": "nightly"}})
    );
    let retirable = ok(
        &server,
        &root,
        "ListRetirableGrants",
        json!({"RetiringPrincipal": retirer.arn()}),
    )
    .await;
    assert_eq!(retirable["Grants"].as_array().unwrap().len(), 1);

    // Someone else cannot retire it; the retiring principal can, by token.
    let stranger = Who::new(&user(A, "stranger"), &[]);
    denied(
        &server,
        &stranger,
        "RetireGrant",
        json!({"GrantToken": token}),
    )
    .await;
    ok(
        &server,
        &retirer,
        "RetireGrant",
        json!({"GrantToken": token}),
    )
    .await;
    denied(&server, &worker, "Encrypt", with_ctx("nightly")).await;
    let err = call(
        &server,
        &retirer,
        "RetireGrant",
        json!({"GrantToken": token}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.0, "NotFoundException");
    let err = call(
        &server,
        &retirer,
        "RetireGrant",
        json!({"GrantToken": "bogus"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.0, "InvalidGrantTokenException");

    // RevokeGrant by the key's administrators; a grant with CreateGrant cannot be widened.
    let g = ok(
        &server,
        &root,
        "CreateGrant",
        json!({"KeyId": key_id, "GranteePrincipal": worker.arn(),
               "Operations": ["Encrypt", "CreateGrant"]}),
    )
    .await;
    let delegate = Who::new(&user(A, "delegate"), &[]);
    ok(
        &server,
        &worker,
        "CreateGrant",
        json!({"KeyId": key_id, "GranteePrincipal": delegate.arn(), "Operations": ["Encrypt"]}),
    )
    .await;
    ok(&server, &delegate, "Encrypt", encrypt_body(&key_id)).await;
    denied(
        &server,
        &worker,
        "CreateGrant",
        json!({"KeyId": key_id, "GranteePrincipal": delegate.arn(), "Operations": ["Decrypt"]}),
    )
    .await;
    denied(
        &server,
        &worker,
        "RevokeGrant",
        json!({"KeyId": key_id, "GrantId": g["GrantId"]}),
    )
    .await;
    ok(
        &server,
        &root,
        "RevokeGrant",
        json!({"KeyId": key_id, "GrantId": g["GrantId"]}),
    )
    .await;
    denied(&server, &worker, "Encrypt", encrypt_body(&key_id)).await;
    let err = call(
        &server,
        &root,
        "RevokeGrant",
        json!({"KeyId": key_id, "GrantId": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.0, "InvalidGrantIdException");

    // Operations the key cannot perform are refused.
    let err = call(
        &server,
        &root,
        "CreateGrant",
        json!({"KeyId": key_id, "GranteePrincipal": worker.arn(), "Operations": ["Sign"]}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.0, "ValidationException");
    // An explicit deny beats a grant.
    ok(
        &server,
        &root,
        "CreateGrant",
        json!({"KeyId": key_id, "GranteePrincipal": user(A, "denied"), "Operations": ["Encrypt"]}),
    )
    .await;
    let denied_user = Who::new(
        &user(A, "denied"),
        &[json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]})],
    );
    denied(&server, &denied_user, "Encrypt", encrypt_body(&key_id)).await;
}

/// AWS's snapshot-sharing scenario: account A shares its key with account B through the key
/// policy; B re-encrypts A's data key under its own key; after A stops sharing, B's copy stays
/// readable and A's is closed to B.
#[tokio::test]
async fn cross_account_sharing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let a_root = Who::root(A);
    let (a_key, a_arn) = new_key(&server, &a_root, None).await;
    let dk = ok(
        &server,
        &a_root,
        "GenerateDataKey",
        json!({"KeyId": a_key, "KeySpec": "AES_256"}),
    )
    .await;
    let a_blob = dk["CiphertextBlob"].as_str().unwrap().to_string();
    let plaintext = dk["Plaintext"].as_str().unwrap().to_string();

    let b_root = Who::root(B);
    let b_user = Who::new(&user(B, "restorer"), &[]);
    // Before sharing: B sees nothing.
    denied(&server, &b_root, "DescribeKey", json!({"KeyId": a_arn})).await;
    // A bare key id always means the caller's own account.
    let err = call(&server, &b_root, "DescribeKey", json!({"KeyId": a_key}))
        .await
        .unwrap_err();
    assert_eq!(err.0, "NotFoundException");

    let shared = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:root")},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{B}:root")},
         "Action": ["kms:Decrypt", "kms:ReEncrypt*", "kms:DescribeKey", "kms:CreateGrant"],
         "Resource": "*"}]});
    ok(
        &server,
        &a_root,
        "PutKeyPolicy",
        json!({"KeyId": a_key, "PolicyName": "default", "Policy": shared.to_string()}),
    )
    .await;

    // B's root acts for its account; B's users need their own IAM policy too.
    ok(&server, &b_root, "DescribeKey", json!({"KeyId": a_arn})).await;
    let msg = denied(&server, &b_user, "DescribeKey", json!({"KeyId": a_arn})).await;
    assert!(
        msg.ends_with("because no identity-based policy allows the kms:DescribeKey action"),
        "{msg}"
    );
    let b_user = Who::new(
        &user(B, "restorer"),
        &[
            allow(
                &["kms:Decrypt", "kms:ReEncrypt*", "kms:DescribeKey"],
                &a_arn,
            ),
            allow(&["kms:*"], &format!("arn:aws:kms:{REGION}:{B}:key/*")),
        ],
    );
    ok(&server, &b_user, "DescribeKey", json!({"KeyId": a_arn})).await;
    // Only the operations AWS allows across accounts, and never by bare id.
    let err = call(
        &server,
        &b_root,
        "ScheduleKeyDeletion",
        json!({"KeyId": a_arn}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.0, "NotFoundException");
    // Not in the shared statement.
    denied(&server, &b_root, "Encrypt", encrypt_body(&a_arn)).await;

    // B re-encrypts A's data key under B's own key.
    let (b_key, b_arn) = new_key(&server, &b_root, None).await;
    let re = ok(
        &server,
        &b_user,
        "ReEncrypt",
        json!({"CiphertextBlob": a_blob, "DestinationKeyId": b_key}),
    )
    .await;
    assert_eq!(re["SourceKeyId"], a_arn);
    assert_eq!(re["KeyId"], b_arn);
    let b_blob = re["CiphertextBlob"].as_str().unwrap().to_string();
    let direct = ok(
        &server,
        &b_user,
        "Decrypt",
        json!({"CiphertextBlob": a_blob}),
    )
    .await;
    assert_eq!(direct["Plaintext"], plaintext);

    // A stops sharing.
    ok(
        &server,
        &a_root,
        "PutKeyPolicy",
        json!({"KeyId": a_key, "PolicyName": "default",
               "Policy": serde_json::to_string(&json!({"Version": "2012-10-17", "Statement": [
                   {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:root")},
                    "Action": "kms:*", "Resource": "*"}]})).unwrap()}),
    )
    .await;
    let msg = denied(
        &server,
        &b_user,
        "Decrypt",
        json!({"CiphertextBlob": a_blob}),
    )
    .await;
    assert!(
        msg.contains(&format!("kms:Decrypt on resource: {a_arn}")),
        "{msg}"
    );
    let mine = ok(
        &server,
        &b_user,
        "Decrypt",
        json!({"CiphertextBlob": b_blob}),
    )
    .await;
    assert_eq!(mine["Plaintext"], plaintext);
    assert_eq!(mine["KeyId"], b_arn);
}

/// Every operation is authorized: a user without any policy is refused each of them, with
/// AccessDeniedException, before anything else about the request is looked at.
#[tokio::test]
async fn every_operation_is_authorized() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let root = Who::root(A);
    let (key, _) = new_key(&server, &root, None).await;
    let hmac = ok(
        &server,
        &root,
        "CreateKey",
        json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}),
    )
    .await["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let sign = ok(
        &server,
        &root,
        "CreateKey",
        json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}),
    )
    .await["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let agree = ok(
        &server,
        &root,
        "CreateKey",
        json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"}),
    )
    .await["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let external = ok(&server, &root, "CreateKey", json!({"Origin": "EXTERNAL"})).await
        ["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let mrk =
        ok(&server, &root, "CreateKey", json!({"MultiRegion": true})).await["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_string();
    ok(
        &server,
        &root,
        "CreateAlias",
        json!({"AliasName": "alias/guarded", "TargetKeyId": key}),
    )
    .await;
    let blob = ok(&server, &root, "Encrypt", encrypt_body(&key)).await["CiphertextBlob"].clone();
    let grant_id = ok(
        &server,
        &root,
        "CreateGrant",
        json!({"KeyId": key, "GranteePrincipal": user(A, "g"), "Operations": ["Encrypt"]}),
    )
    .await["GrantId"]
        .clone();
    let pubkey =
        ok(&server, &root, "GetPublicKey", json!({"KeyId": agree})).await["PublicKey"].clone();
    let policy = serde_json::to_string(&json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": A}, "Action": "kms:*", "Resource": "*"}]}))
    .unwrap();

    let nobody = Who::new(&user(A, "nobody"), &[]);
    let cases: Vec<(&str, Value)> = vec![
        ("CancelKeyDeletion", json!({"KeyId": key})),
        (
            "CreateAlias",
            json!({"AliasName": "alias/new", "TargetKeyId": key}),
        ),
        (
            "CreateGrant",
            json!({"KeyId": key, "GranteePrincipal": user(A, "x"), "Operations": ["Encrypt"]}),
        ),
        ("CreateKey", json!({})),
        ("Decrypt", json!({"CiphertextBlob": blob})),
        ("DeleteAlias", json!({"AliasName": "alias/guarded"})),
        ("DeleteImportedKeyMaterial", json!({"KeyId": external})),
        (
            "DeriveSharedSecret",
            json!({"KeyId": agree, "KeyAgreementAlgorithm": "ECDH", "PublicKey": pubkey}),
        ),
        ("DescribeKey", json!({"KeyId": key})),
        ("DisableKey", json!({"KeyId": key})),
        ("DisableKeyRotation", json!({"KeyId": key})),
        ("EnableKey", json!({"KeyId": key})),
        ("EnableKeyRotation", json!({"KeyId": key})),
        ("Encrypt", encrypt_body(&key)),
        (
            "GenerateDataKey",
            json!({"KeyId": key, "KeySpec": "AES_256"}),
        ),
        (
            "GenerateDataKeyPair",
            json!({"KeyId": key, "KeyPairSpec": "ECC_NIST_P256"}),
        ),
        (
            "GenerateDataKeyPairWithoutPlaintext",
            json!({"KeyId": key, "KeyPairSpec": "ECC_NIST_P256"}),
        ),
        (
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": key, "KeySpec": "AES_256"}),
        ),
        (
            "GenerateMac",
            json!({"KeyId": hmac, "Message": "aGk=", "MacAlgorithm": "HMAC_SHA_256"}),
        ),
        ("GenerateRandom", json!({"NumberOfBytes": 8})),
        ("GetKeyLastUsage", json!({"KeyId": key})),
        ("GetKeyPolicy", json!({"KeyId": key})),
        ("GetKeyRotationStatus", json!({"KeyId": key})),
        (
            "GetParametersForImport",
            json!({"KeyId": external, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}),
        ),
        ("GetPublicKey", json!({"KeyId": sign})),
        (
            "ImportKeyMaterial",
            json!({"KeyId": external, "ImportToken": "aGk=", "EncryptedKeyMaterial": "aGk=", "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
        ),
        ("ListAliases", json!({})),
        ("ListGrants", json!({"KeyId": key})),
        ("ListKeyPolicies", json!({"KeyId": key})),
        ("ListKeyRotations", json!({"KeyId": key})),
        ("ListKeys", json!({})),
        ("ListResourceTags", json!({"KeyId": key})),
        (
            "ListRetirableGrants",
            json!({"RetiringPrincipal": user(A, "r")}),
        ),
        (
            "PutKeyPolicy",
            json!({"KeyId": key, "PolicyName": "default", "Policy": policy}),
        ),
        (
            "ReEncrypt",
            json!({"CiphertextBlob": blob, "DestinationKeyId": key}),
        ),
        (
            "ReplicateKey",
            json!({"KeyId": mrk, "ReplicaRegion": "eu-west-1"}),
        ),
        ("RetireGrant", json!({"KeyId": key, "GrantId": grant_id})),
        ("RevokeGrant", json!({"KeyId": key, "GrantId": grant_id})),
        ("RotateKeyOnDemand", json!({"KeyId": key})),
        ("ScheduleKeyDeletion", json!({"KeyId": key})),
        (
            "Sign",
            json!({"KeyId": sign, "Message": "aGk=", "SigningAlgorithm": "ECDSA_SHA_256"}),
        ),
        (
            "TagResource",
            json!({"KeyId": key, "Tags": [{"TagKey": "a", "TagValue": "b"}]}),
        ),
        ("UntagResource", json!({"KeyId": key, "TagKeys": ["a"]})),
        (
            "UpdateAlias",
            json!({"AliasName": "alias/guarded", "TargetKeyId": key}),
        ),
        (
            "UpdateKeyDescription",
            json!({"KeyId": key, "Description": "d"}),
        ),
        (
            "UpdatePrimaryRegion",
            json!({"KeyId": mrk, "PrimaryRegion": "eu-west-1"}),
        ),
        (
            "Verify",
            json!({"KeyId": sign, "Message": "aGk=", "Signature": "aGk=", "SigningAlgorithm": "ECDSA_SHA_256"}),
        ),
        (
            "VerifyMac",
            json!({"KeyId": hmac, "Message": "aGk=", "Mac": "aGk=", "MacAlgorithm": "HMAC_SHA_256"}),
        ),
    ];
    let mut covered: Vec<&str> = cases.iter().map(|(op, _)| *op).collect();
    for (op, body) in cases {
        denied(&server, &nobody, op, body).await;
    }
    // The list above is every operation the server serves.
    covered.sort_unstable();
    let mut served: Vec<&str> = trent_kms::Kms::operations().to_vec();
    served.sort_unstable();
    assert_eq!(covered, served);
}

/// `DryRun` with `IGNORE_CIPHERTEXT` tests only the permissions on the keys the request names:
/// no ciphertext is needed, and the answer is the one the real call would get from
/// authorization and the key's state.
#[tokio::test]
async fn dry_run_ignoring_the_ciphertext_checks_permissions_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let root = Who::root(A);
    let (key, key_arn) = new_key(&server, &root, None).await;
    let (dest, dest_arn) = new_key(&server, &root, None).await;
    let reader = Who::new(
        &user(A, "reader"),
        &[allow(&["kms:Decrypt", "kms:ReEncryptFrom"], &key_arn)],
    );
    let nobody = Who::new(&user(A, "nobody"), &[]);
    let modifiers = json!(["IGNORE_CIPHERTEXT"]);

    let dry = json!({"KeyId": key, "DryRun": true, "DryRunModifiers": modifiers});
    let err = call(&server, &reader, "Decrypt", dry.clone())
        .await
        .unwrap_err();
    assert_eq!(err.0, "DryRunOperationException", "{err:?}");
    let msg = denied(&server, &nobody, "Decrypt", dry.clone()).await;
    assert!(
        msg.contains(&format!("kms:Decrypt on resource: {key_arn}")),
        "{msg}"
    );
    // KeyId is required in place of the ciphertext; without DryRun the ciphertext is.
    let err = call(
        &server,
        &reader,
        "Decrypt",
        json!({"DryRun": true, "DryRunModifiers": modifiers}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.0, "ValidationException");
    assert!(err.1.contains("'keyId'"), "{err:?}");
    let err = call(
        &server,
        &reader,
        "Decrypt",
        json!({"KeyId": key, "DryRunModifiers": modifiers}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.0, "ValidationException");
    assert!(err.1.contains("'ciphertextBlob'"), "{err:?}");

    // ReEncrypt: both keys' permissions, and SourceKeyId in place of the ciphertext.
    let re = json!({"SourceKeyId": key_arn, "DestinationKeyId": dest, "DryRun": true,
                    "DryRunModifiers": modifiers});
    let msg = denied(&server, &reader, "ReEncrypt", re.clone()).await;
    assert!(
        msg.contains(&format!("kms:ReEncryptTo on resource: {dest_arn}")),
        "{msg}"
    );
    let both = Who::new(
        &user(A, "mover"),
        &[
            allow(&["kms:ReEncryptFrom"], &key_arn),
            allow(&["kms:ReEncryptTo"], &dest_arn),
        ],
    );
    let err = call(&server, &both, "ReEncrypt", re.clone())
        .await
        .unwrap_err();
    assert_eq!(err.0, "DryRunOperationException", "{err:?}");
    let to_only = Who::new(&user(A, "half"), &[allow(&["kms:ReEncryptTo"], &dest_arn)]);
    let msg = denied(&server, &to_only, "ReEncrypt", re.clone()).await;
    assert!(
        msg.contains(&format!("kms:ReEncryptFrom on resource: {key_arn}")),
        "{msg}"
    );
    let err = call(
        &server,
        &both,
        "ReEncrypt",
        json!({"DestinationKeyId": dest, "DryRun": true, "DryRunModifiers": modifiers}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.0, "ValidationException");
    assert!(err.1.contains("'sourceKeyId'"), "{err:?}");

    // The key's state still answers: a disabled key is refused as the real call would be.
    ok(&server, &root, "DisableKey", json!({"KeyId": key})).await;
    let err = call(&server, &reader, "Decrypt", dry).await.unwrap_err();
    assert_eq!(err.0, "DisabledException", "{err:?}");
}

/// UpdatePrimaryRegion needs the permission on the replica too, under the replica's own policy.
#[tokio::test]
async fn update_primary_region_is_authorized_on_both_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let root = Who::root(A);
    let out = ok(&server, &root, "CreateKey", json!({"MultiRegion": true})).await;
    let key = out["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    let operator = user(A, "operator");
    let replica_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:root")},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": operator}, "Action": "kms:UpdatePrimaryRegion",
         "Resource": "*"}]});
    ok(
        &server,
        &root,
        "ReplicateKey",
        json!({"KeyId": key, "ReplicaRegion": "eu-west-1", "Policy": replica_policy.to_string()}),
    )
    .await;
    let who = Who::new(&operator, &[allow(&["kms:UpdatePrimaryRegion"], "*")]);
    let msg = denied(
        &server,
        &who,
        "UpdatePrimaryRegion",
        json!({"KeyId": key, "PrimaryRegion": "eu-west-1"}),
    )
    .await;
    assert!(
        msg.contains(&format!(
            "kms:UpdatePrimaryRegion on resource: arn:aws:kms:eu-west-1:{A}:key/{key}"
        )) && msg.contains("explicit deny in a resource-based policy"),
        "{msg}"
    );
    // Nothing changed; the root, allowed on both, can make the move.
    let described = ok(&server, &root, "DescribeKey", json!({"KeyId": key})).await;
    assert_eq!(
        described["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "PRIMARY"
    );
    ok(
        &server,
        &root,
        "UpdatePrimaryRegion",
        json!({"KeyId": key, "PrimaryRegion": "eu-west-1"}),
    )
    .await;
    let described = ok(&server, &root, "DescribeKey", json!({"KeyId": key})).await;
    assert_eq!(
        described["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "REPLICA"
    );
}

/// A grant token is not a credential: presenting one, even a real one, adds no permission, and
/// a revoked grant stops working whatever token its grantee still holds.
#[tokio::test]
async fn grant_tokens_grant_nothing_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let root = Who::root(A);
    let (key_id, _) = new_key(&server, &root, None).await;
    let worker = Who::new(&user(A, "worker"), &[]);
    let stranger = Who::new(&user(A, "stranger"), &[]);
    let grant = ok(
        &server,
        &root,
        "CreateGrant",
        json!({"KeyId": key_id, "GranteePrincipal": worker.arn(), "Operations": ["Encrypt"]}),
    )
    .await;
    let token = grant["GrantToken"].as_str().unwrap().to_string();
    let with_token =
        |token: &str| json!({"KeyId": key_id, "Plaintext": "aGVsbG8=", "GrantTokens": [token]});
    ok(&server, &worker, "Encrypt", with_token(&token)).await;
    // Someone else holding the grantee's token is not the grantee.
    denied(&server, &stranger, "Encrypt", with_token(&token)).await;
    // Revoked: the grantee's token no longer helps either.
    ok(
        &server,
        &root,
        "RevokeGrant",
        json!({"KeyId": key_id, "GrantId": grant["GrantId"]}),
    )
    .await;
    denied(&server, &worker, "Encrypt", with_token(&token)).await;
    denied(&server, &worker, "Encrypt", encrypt_body(&key_id)).await;
    server.stop().await;
}
