//! Writes the committed inputs: the fixed ESDK message parts (`data/`) and the seed corpus
//! (`../../fuzz/seeds/<target>/`). Ignored by default; run after changing a format:
//! `cargo test -p trent-fuzz-targets --test seeds -- --ignored`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use trent_esdk::{ClientConfig, EncryptRequest, MessageEncryptor};
use trent_fuzz_targets::{JsonService, json_selector};
use trent_sigv4::Signer;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn seed(target: &str, name: &str, bytes: &[u8]) {
    let dir = root().join("../../fuzz/seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn signer() -> Signer<'static> {
    Signer {
        access_key_id: trent_fuzz_targets::SIGV4_ACCESS_KEY_ID,
        secret_access_key: trent_fuzz_targets::SIGV4_SECRET,
        region: trent_fuzz_targets::SIGV4_REGION,
        service: trent_fuzz_targets::SIGV4_SERVICE,
        session_token: None,
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(trent_fuzz_targets::NOW_UNIX).unwrap()
}

fn sigv4() {
    let headers = [
        ("host", "localhost:8443"),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "TrentService.Encrypt"),
    ];
    let query = "Action=ListKeys&Limit=10&Marker=a%2Fb+c";
    let out = signer().sign("POST", "/a/./b/../c/", query, &headers, b"", now());
    let get = |n: &str| out.iter().find(|(k, _)| k == n).unwrap().1.clone();
    let (auth, date) = (get("authorization"), get("x-amz-date"));
    seed(
        "sigv4_authorization",
        "signed",
        format!("{auth}\n{date}").as_bytes(),
    );
    seed(
        "sigv4_authorization",
        "spaced",
        b"  AWS4-HMAC-SHA256   Credential=AKID/20260101/eu-west-3/ssm/aws4_request,SignedHeaders=host;x-amz-date,   Signature=0000000000000000000000000000000000000000000000000000000000000000 \n20260101T235959Z",
    );
    let mut request = format!("{auth}\n{date}\nPOST\n/a/./b/../c/\n{query}\n");
    for (n, v) in headers {
        request.push_str(&format!("{n}:{v}\n"));
    }
    request.push_str(&format!("x-amz-date:{date}"));
    seed("sigv4_request", "signed", request.as_bytes());
}

fn json() {
    let blob = blob();
    let b64 = |b: &[u8]| trent_wire::blob::encode(b);
    let cases: &[(JsonService, &str, String)] = &[
        (
            JsonService::Kms,
            "Encrypt",
            r#"{"KeyId":"alias/app","Plaintext":"aGVsbG8=","EncryptionContext":{"tenant":"blue"},"GrantTokens":["t"],"EncryptionAlgorithm":"SYMMETRIC_DEFAULT","DryRun":false}"#.to_owned(),
        ),
        (
            JsonService::Kms,
            "Decrypt",
            format!(r#"{{"CiphertextBlob":"{}","EncryptionContext":{{"tenant":"blue"}},"DryRunModifiers":["IGNORE_CIPHERTEXT"]}}"#, b64(&blob)),
        ),
        (
            JsonService::Kms,
            "CreateKey",
            r#"{"Description":"d","KeyUsage":"ENCRYPT_DECRYPT","KeySpec":"SYMMETRIC_DEFAULT","Origin":"AWS_KMS","MultiRegion":false,"Tags":[{"TagKey":"k","TagValue":"v"}],"Policy":"{\"Version\":\"2012-10-17\",\"Statement\":[]}","BypassPolicyLockoutSafetyCheck":true}"#.to_owned(),
        ),
        (
            JsonService::Kms,
            "CreateGrant",
            r#"{"KeyId":"k","GranteePrincipal":"arn:aws:iam::111122223333:role/App","Operations":["Decrypt"],"Constraints":{"EncryptionContextSubset":{"a":"b"}},"Name":"g"}"#.to_owned(),
        ),
        (
            JsonService::Kms,
            "Sign",
            r#"{"KeyId":"k","Message":"bWVzc2FnZQ==","MessageType":"RAW","SigningAlgorithm":"ECDSA_SHA_256"}"#.to_owned(),
        ),
        (
            JsonService::Kms,
            "ImportKeyMaterial",
            r#"{"KeyId":"k","ImportToken":"AAAA","EncryptedKeyMaterial":"AAAA","ExpirationModel":"KEY_MATERIAL_EXPIRES","ValidTo":1767225600.5}"#.to_owned(),
        ),
        (
            JsonService::Ssm,
            "PutParameter",
            r#"{"Name":"/app/db","Value":"v","Type":"SecureString","KeyId":"alias/aws/ssm","Overwrite":true,"Tier":"Standard","Tags":[{"Key":"k","Value":"v"}]}"#.to_owned(),
        ),
        (
            JsonService::Ssm,
            "GetParametersByPath",
            r#"{"Path":"/app","Recursive":true,"WithDecryption":true,"ParameterFilters":[{"Key":"Type","Option":"Equals","Values":["String"]}],"MaxResults":10,"NextToken":"x"}"#.to_owned(),
        ),
        (
            JsonService::SecretsManager,
            "CreateSecret",
            r#"{"Name":"db","ClientRequestToken":"0123456789abcdef0123456789abcdef","SecretString":"s","Tags":[{"Key":"k","Value":"v"}],"AddReplicaRegions":[{"Region":"eu-west-1"}]}"#.to_owned(),
        ),
        (
            JsonService::SecretsManager,
            "GetSecretValue",
            r#"{"SecretId":"db","VersionStage":"AWSCURRENT"}"#.to_owned(),
        ),
        (
            JsonService::SecretsManager,
            "RotateSecret",
            r#"{"SecretId":"db","RotationRules":{"AutomaticallyAfterDays":30,"ScheduleExpression":"rate(10 days)","Duration":"2h"},"RotateImmediately":false}"#.to_owned(),
        ),
        (
            JsonService::CloudTrail,
            "LookupEvents",
            r#"{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"Decrypt"}],"StartTime":1767000000,"EndTime":1767225600.25,"MaxResults":5,"NextToken":"12.abcdefabcdefabcdefabcdef"}"#.to_owned(),
        ),
    ];
    for (service, op, body) in cases {
        let selector = json_selector(*service, op).unwrap();
        let mut input = vec![selector];
        input.extend_from_slice(body.as_bytes());
        seed("json", op, &input);
    }
}

fn query() {
    seed(
        "query",
        "create_user",
        b"\nAction=CreateUser&Version=2010-05-08&UserName=alice&Path=%2Fteam%2F&Tags.member.1.Key=k&Tags.member.1.Value=v+w&Tags.member.2.Key=x",
    );
    seed(
        "query",
        "untag",
        b"Action=UntagUser&Version=2010-05-08\nUserName=alice&TagKeys.member.2=b&TagKeys.member.1=a",
    );
}

fn blob() -> Vec<u8> {
    let mut b = trent_kms::blob::write_header(
        "111122223333",
        "us-east-1",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        &[7; 32],
        &[8; 16],
        &[9; 12],
        5,
    )
    .unwrap();
    b.extend_from_slice(b"hello");
    b.extend_from_slice(&[0xaa; 16]);
    b
}

fn esdk() {
    let keyring = trent_fuzz_targets::esdk_keyring().unwrap();
    let request = EncryptRequest {
        encryption_context: [("purpose".to_owned(), "fuzz".to_owned())].into(),
        frame_length: 16,
        ..EncryptRequest::default()
    };
    let mut enc = MessageEncryptor::new(&ClientConfig::default(), &keyring, &request).unwrap();
    let header = enc.header().to_vec();
    let mut frames = Vec::new();
    enc.seal_frame(b"sixteen bytes!!!", &mut frames).unwrap();
    let final_plaintext = b"tail";
    enc.finish(final_plaintext, &mut frames).unwrap();
    // Final frame: end marker, sequence number, IV, content length, content, tag.
    let final_len = 4 + 4 + 12 + 4 + final_plaintext.len() + 16;
    let regular_len = 4 + 12 + 16 + 16;
    let footer = frames.split_off(regular_len + final_len);
    let data = root().join("data");
    std::fs::write(data.join("esdk-header.bin"), &header).unwrap();
    std::fs::write(data.join("esdk-frames.bin"), &frames).unwrap();
    std::fs::write(data.join("esdk-footer.bin"), &footer).unwrap();

    let message = [header.as_slice(), &frames, &footer].concat();
    let out = trent_esdk::decrypt(
        &ClientConfig::default(),
        &keyring,
        &trent_esdk::DecryptRequest::default(),
        &message,
    )
    .unwrap();
    assert_eq!(out.plaintext.expose_secret(), b"sixteen bytes!!!tail");

    seed("esdk", "message", &[&[0u8][..], &message].concat());
    seed("esdk", "body", &[&[1u8][..], &frames, &footer].concat());
    seed("esdk", "footer", &[&[2u8][..], &footer].concat());
}

fn policy() {
    seed(
        "policy",
        "key_policy",
        br#"{"Version":"2012-10-17","Id":"key-policy","Statement":[{"Sid":"AllowUse","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/App","111122223333"]},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"${aws:PrincipalTag/tenant}"},"Bool":{"aws:SecureTransport":"true"},"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}},{"Effect":"Deny","NotPrincipal":{"Service":"secretsmanager.amazonaws.com"},"NotAction":"kms:Describe*","Resource":"*","Condition":{"NumericLessThan":{"aws:EpochTime":"1767225600"},"DateGreaterThanEquals":{"aws:CurrentTime":"2026-01-01T00:00:00Z"},"ForAnyValue:StringLike":{"aws:TagKeys":["b*","?"]},"Null":{"kms:GrantConstraintType":"false"}}}]}"#
            .as_slice()
            .iter()
            .copied()
            .fold(vec![2u8], |mut v, b| {
                v.push(b);
                v
            })
            .as_slice(),
    );
    let mut identity = vec![0u8];
    identity.extend_from_slice(br#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:Get*","Resource":"arn:aws:secretsmanager:*:111122223333:secret:db-??????","Condition":{"StringNotEqualsIgnoreCase":{"aws:username":"bob"},"BinaryEquals":{"kms:RecipientAttestation:ImageSha384":"AQID"},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"},"ForAllValues:StringEquals":{"aws:TagKeys":["a","b*",""]},"StringEqualsIfExists":{"aws:RequestTag/x":"y"}}}}"#);
    seed("policy", "identity", &identity);
}

#[test]
#[ignore = "writes the committed seeds and data files"]
fn write_seeds() {
    sigv4();
    json();
    query();
    seed("kms_blob", "blob", &blob());
    esdk();
    policy();
}
