//! KMS authorization end to end through the real `aws` CLI: IAM users with identity policies,
//! key policies naming principals and conditions, grants, role sessions, and a second account
//! using a shared key (AWS's snapshot-sharing scenario). The policy logic itself is covered
//! in-process by `authz.rs`; here every identity signs its own requests with its own keys.

use serde_json::{Value, json};

use crate::cli::{Client, blob, dirs, find_aws, text};
use crate::harness::TestServer;
use crate::iam::{allow, session_client, user_with_key};

const A: &str = "000000000000";
const B: &str = "222222222222";

fn policy(statements: Value) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// The statement of AWS's default key policy: the account root, and through it IAM, may do
/// everything with the key.
fn root_statement(account: &str) -> Value {
    json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
           "Action": "kms:*", "Resource": "*"})
}

async fn new_key(client: &Client, key_policy: Option<String>) -> (String, String) {
    let cmd = match key_policy {
        Some(p) => format!("kms create-key --policy {p}"),
        None => "kms create-key".to_string(),
    };
    let key = client.ok(&cmd).await;
    (
        text(&key, "/KeyMetadata/KeyId").to_string(),
        text(&key, "/KeyMetadata/Arn").to_string(),
    )
}

/// Encrypts `plaintext` under `key`; returns the ciphertext as a `fileb://` argument.
async fn encrypt(client: &Client, key: &str, plaintext: &[u8], name: &str) -> String {
    let p = client.fileb(&format!("{name}.plain"), plaintext);
    let out = client
        .ok(&format!("kms encrypt --key-id {key} --plaintext {p}"))
        .await;
    client.fileb(name, &blob(&out, "CiphertextBlob"))
}

fn denial(stderr: &str, who: &str, action: &str, resource: &str) {
    assert!(
        stderr.contains(&format!(
            "User: {who} is not authorized to perform: {action} on resource: {resource}"
        )),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn users_key_policies_and_grants_through_the_cli() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let s = scratch.path();
    let root = Client::new(&aws, &server, s);
    let (app, _) = user_with_key(&root, "app", &aws, &server, s).await;
    let (bob, _) = user_with_key(&root, "bob", &aws, &server, s).await;
    let app_arn = format!("arn:aws:iam::{A}:user/app");
    let bob_arn = format!("arn:aws:iam::{A}:user/bob");

    // The default key policy delegates to IAM: without an identity policy, nothing.
    let (key, key_arn) = new_key(&root, None).await;
    let p = app.fileb("p.bin", b"attack at dawn");
    let err = app
        .fails(
            &format!("kms encrypt --key-id {key} --plaintext {p}"),
            "AccessDeniedException",
        )
        .await;
    denial(&err, &app_arn, "kms:Encrypt", &key_arn);
    assert!(
        err.contains("because no identity-based policy allows the kms:Encrypt action"),
        "{err}"
    );
    // A key the caller may not use is not described either, and listing needs its own allow.
    app.fails(
        &format!("kms describe-key --key-id {key}"),
        "AccessDeniedException",
    )
    .await;
    app.fails("kms list-keys", "AccessDeniedException").await;

    // An IAM policy on the key's ARN allows exactly what it names, from the next request on.
    root.ok(&format!(
        "iam put-user-policy --user-name app --policy-name use-key --policy-document {}",
        policy(
            json!([{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"],
                       "Resource": key_arn}])
        )
    ))
    .await;
    let c = encrypt(&app, &key, b"attack at dawn", "c.bin").await;
    let out = app.ok(&format!("kms decrypt --ciphertext-blob {c}")).await;
    assert_eq!(blob(&out, "Plaintext"), b"attack at dawn");
    assert_eq!(out["KeyId"], key_arn.as_str());
    app.fails(
        &format!("kms generate-data-key --key-id {key} --key-spec AES_256"),
        "AccessDeniedException",
    )
    .await;
    // Another of the account's keys is not covered by it.
    let (other, other_arn) = new_key(&root, None).await;
    let err = app
        .fails(
            &format!("kms encrypt --key-id {other} --plaintext {p}"),
            "AccessDeniedException",
        )
        .await;
    denial(&err, &app_arn, "kms:Encrypt", &other_arn);

    // An explicit deny in the key policy wins over the IAM allow.
    let with_deny = policy(json!([
        root_statement(A),
        {"Effect": "Deny", "Principal": {"AWS": app_arn}, "Action": "kms:Decrypt",
         "Resource": "*"}
    ]));
    root.ok(&format!(
        "kms put-key-policy --key-id {key} --policy-name default --policy {with_deny}"
    ))
    .await;
    let err = app
        .fails(
            &format!("kms decrypt --ciphertext-blob {c}"),
            "AccessDeniedException",
        )
        .await;
    denial(&err, &app_arn, "kms:Decrypt", &key_arn);
    assert!(
        err.contains("with an explicit deny in a resource-based policy"),
        "{err}"
    );
    encrypt(&app, &key, b"still allowed", "c2.bin").await;

    // A key policy naming the user allows it without any IAM policy, under its conditions.
    let named = policy(json!([
        root_statement(A),
        {"Effect": "Allow", "Principal": {"AWS": bob_arn}, "Action": "kms:Encrypt",
         "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:purpose": "backup"}}}
    ]));
    let (bkey, bkey_arn) = new_key(&root, Some(named)).await;
    bob.ok(&format!(
        "kms encrypt --key-id {bkey} --plaintext {p} --encryption-context purpose=backup"
    ))
    .await;
    let err = bob
        .fails(
            &format!(
                "kms encrypt --key-id {bkey} --plaintext {p} --encryption-context purpose=other"
            ),
            "AccessDeniedException",
        )
        .await;
    denial(&err, &bob_arn, "kms:Encrypt", &bkey_arn);
    bob.fails(
        &format!("kms encrypt --key-id {bkey} --plaintext {p}"),
        "AccessDeniedException",
    )
    .await;

    // Grants: usable at once by the grantee, for their operations only, until revoked.
    bob.fails(
        &format!("kms decrypt --ciphertext-blob {c}"),
        "AccessDeniedException",
    )
    .await;
    let grant = root
        .ok(&format!(
            "kms create-grant --key-id {key} --grantee-principal {bob_arn} \
             --retiring-principal {app_arn} --operations Decrypt --name restore"
        ))
        .await;
    let grant_id = text(&grant, "/GrantId").to_string();
    let out = bob.ok(&format!("kms decrypt --ciphertext-blob {c}")).await;
    assert_eq!(blob(&out, "Plaintext"), b"attack at dawn");
    bob.fails(
        &format!("kms encrypt --key-id {key} --plaintext {p}"),
        "AccessDeniedException",
    )
    .await;
    let grants = root.ok(&format!("kms list-grants --key-id {key}")).await;
    assert_eq!(grants["Grants"][0]["GranteePrincipal"], bob_arn.as_str());
    assert_eq!(grants["Grants"][0]["Operations"], json!(["Decrypt"]));
    // The retiring principal retires it; the grantee loses the access with the next request.
    app.ok(&format!(
        "kms retire-grant --key-id {key_arn} --grant-id {grant_id}"
    ))
    .await;
    bob.fails(
        &format!("kms decrypt --ciphertext-blob {c}"),
        "AccessDeniedException",
    )
    .await;
    let grant = root
        .ok(&format!(
            "kms create-grant --key-id {key} --grantee-principal {bob_arn} --operations Decrypt"
        ))
        .await;
    bob.ok(&format!("kms decrypt --ciphertext-blob {c}")).await;
    root.ok(&format!(
        "kms revoke-grant --key-id {key} --grant-id {}",
        text(&grant, "/GrantId")
    ))
    .await;
    bob.fails(
        &format!("kms decrypt --ciphertext-blob {c}"),
        "AccessDeniedException",
    )
    .await;

    // The lockout check: a policy that would shut the caller out is refused.
    let lockout = policy(json!([
        {"Effect": "Allow", "Principal": {"AWS": bob_arn}, "Action": "kms:Encrypt",
         "Resource": "*"}
    ]));
    root.fails(
        &format!("kms put-key-policy --key-id {key} --policy-name default --policy {lockout}"),
        "MalformedPolicyDocumentException",
    )
    .await;
    // And the stored policy is unchanged.
    let got = root
        .ok(&format!(
            "kms get-key-policy --key-id {key} --policy-name default"
        ))
        .await;
    let stored: Value = serde_json::from_str(text(&got, "/Policy")).unwrap();
    assert_eq!(stored["Statement"][1]["Effect"], "Deny");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn role_sessions_use_keys_through_the_cli() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let s = scratch.path();
    let root = Client::new(&aws, &server, s);
    let (carol, _) = user_with_key(&root, "carol", &aws, &server, s).await;

    let (key, key_arn) = new_key(&root, None).await;
    let c = encrypt(&root, &key, b"role data", "c.bin").await;

    let trust = policy(json!([{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{A}:root")}, "Action": "sts:AssumeRole"}]));
    root.ok(&format!(
        "iam create-role --role-name decryptor --assume-role-policy-document {trust}"
    ))
    .await;
    let role_arn = format!("arn:aws:iam::{A}:role/decryptor");
    root.ok(&format!(
        "iam put-role-policy --role-name decryptor --policy-name dec --policy-document {}",
        allow("kms:Decrypt", &key_arn)
    ))
    .await;
    root.ok(&format!(
        "iam put-user-policy --user-name carol --policy-name assume --policy-document {}",
        allow("sts:AssumeRole", &role_arn)
    ))
    .await;

    // Carol herself may not decrypt; her session in the role may.
    carol
        .fails(
            &format!("kms decrypt --ciphertext-blob {c}"),
            "AccessDeniedException",
        )
        .await;
    let out = carol
        .ok(&format!(
            "sts assume-role --role-arn {role_arn} --role-session-name job-7"
        ))
        .await;
    let session = session_client(&aws, &server, s, &out);
    let plain = session
        .ok(&format!("kms decrypt --ciphertext-blob {c}"))
        .await;
    assert_eq!(blob(&plain, "Plaintext"), b"role data");
    let session_arn = format!("arn:aws:sts::{A}:assumed-role/decryptor/job-7");
    let p = session.fileb("p.bin", b"x");
    let err = session
        .fails(
            &format!("kms encrypt --key-id {key} --plaintext {p}"),
            "AccessDeniedException",
        )
        .await;
    denial(&err, &session_arn, "kms:Encrypt", &key_arn);

    // A key policy naming the role applies to every session of it, and a condition on the
    // principal's ARN sees the role's ARN (aws:PrincipalArn), not the session's.
    let for_role = policy(json!([
        root_statement(A),
        {"Effect": "Allow", "Principal": {"AWS": role_arn}, "Action": "kms:Encrypt",
         "Resource": "*",
         "Condition": {"ArnEquals": {"aws:PrincipalArn": role_arn}}}
    ]));
    let (rkey, _) = new_key(&root, Some(for_role)).await;
    session
        .ok(&format!("kms encrypt --key-id {rkey} --plaintext {p}"))
        .await;
    carol
        .fails(
            &format!("kms encrypt --key-id {rkey} --plaintext {p}"),
            "AccessDeniedException",
        )
        .await;

    // Removing the role's policy takes the access away from the live session.
    root.ok("iam delete-role-policy --role-name decryptor --policy-name dec")
        .await;
    session
        .fails(
            &format!("kms decrypt --ciphertext-blob {c}"),
            "AccessDeniedException",
        )
        .await;
    server.stop().await;
}

/// AWS's "share an encrypted snapshot with another account" scenario: account A shares its key
/// through the key policy, B's user re-encrypts A's data key under B's own key, and B's copy
/// stays readable after A stops sharing.
#[tokio::test(flavor = "multi_thread")]
async fn cross_account_snapshot_sharing_through_the_cli() {
    let Some(aws) = find_aws().await else { return };
    let (data, scratch) = dirs();
    let server = TestServer::start(data.path()).await;
    let s = scratch.path();
    let a_root = Client::new(&aws, &server, s);
    let b = server.state.create_account(Some(B)).await.unwrap();
    let b_root = Client::with_keys(
        &aws,
        &server,
        s,
        &b.access_key_id,
        std::str::from_utf8(b.secret_access_key.expose_secret()).unwrap(),
    );
    let (restorer, _) = user_with_key(&b_root, "restorer", &aws, &server, s).await;
    let restorer_arn = format!("arn:aws:iam::{B}:user/restorer");

    let (a_key, a_arn) = new_key(&a_root, None).await;
    let dk = a_root
        .ok(&format!(
            "kms generate-data-key --key-id {a_key} --key-spec AES_256"
        ))
        .await;
    let data_key = blob(&dk, "Plaintext");
    let snapshot_key = a_root.fileb("a.bin", &blob(&dk, "CiphertextBlob"));

    // Before sharing, B cannot see the key, and a bare key id means B's own account.
    b_root
        .fails(
            &format!("kms describe-key --key-id {a_arn}"),
            "AccessDeniedException",
        )
        .await;
    b_root
        .fails(
            &format!("kms describe-key --key-id {a_key}"),
            "NotFoundException",
        )
        .await;

    let shared = policy(json!([
        root_statement(A),
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{B}:root")},
         "Action": ["kms:Decrypt", "kms:ReEncrypt*", "kms:DescribeKey", "kms:CreateGrant"],
         "Resource": "*"}
    ]));
    a_root
        .ok(&format!(
            "kms put-key-policy --key-id {a_key} --policy-name default --policy {shared}"
        ))
        .await;

    // B's account is allowed; its user still needs B's own IAM allow.
    let err = restorer
        .fails(
            &format!("kms describe-key --key-id {a_arn}"),
            "AccessDeniedException",
        )
        .await;
    denial(&err, &restorer_arn, "kms:DescribeKey", &a_arn);
    assert!(
        err.contains("because no identity-based policy allows the kms:DescribeKey action"),
        "{err}"
    );
    b_root
        .ok(&format!(
            "iam put-user-policy --user-name restorer --policy-name restore --policy-document {}",
            policy(json!([
                {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:ReEncrypt*", "kms:DescribeKey"],
                 "Resource": a_arn},
                {"Effect": "Allow", "Action": "kms:*",
                 "Resource": format!("arn:aws:kms:us-east-1:{B}:key/*")}
            ]))
        ))
        .await;
    let described = restorer
        .ok(&format!("kms describe-key --key-id {a_arn}"))
        .await;
    assert_eq!(described["KeyMetadata"]["AWSAccountId"], A);
    // Only the operations AWS allows across accounts; management is never one of them.
    restorer
        .fails(
            &format!("kms schedule-key-deletion --key-id {a_arn}"),
            "NotFoundException",
        )
        .await;

    // B re-encrypts A's data key under its own key.
    let (b_key, b_arn) = new_key(&b_root, None).await;
    let re = restorer
        .ok(&format!(
            "kms re-encrypt --ciphertext-blob {snapshot_key} --destination-key-id {b_key}"
        ))
        .await;
    assert_eq!(re["SourceKeyId"], a_arn.as_str());
    assert_eq!(re["KeyId"], b_arn.as_str());
    let b_copy = restorer.fileb("b.bin", &blob(&re, "CiphertextBlob"));

    // A stops sharing: A's blob is closed to B, B's own copy is not.
    a_root
        .ok(&format!(
            "kms put-key-policy --key-id {a_key} --policy-name default --policy {}",
            policy(json!([root_statement(A)]))
        ))
        .await;
    let err = restorer
        .fails(
            &format!("kms decrypt --ciphertext-blob {snapshot_key}"),
            "AccessDeniedException",
        )
        .await;
    denial(&err, &restorer_arn, "kms:Decrypt", &a_arn);
    let mine = restorer
        .ok(&format!("kms decrypt --ciphertext-blob {b_copy}"))
        .await;
    assert_eq!(blob(&mine, "Plaintext"), data_key);
    assert_eq!(mine["KeyId"], b_arn.as_str());
    server.stop().await;
}
