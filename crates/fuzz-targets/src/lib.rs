//! Fuzz target bodies: one function per parser that reads untrusted input.
//!
//! Each function takes arbitrary bytes and must return for every input without panicking.
//! Where a parser has a writer beside it, the function also checks a round trip and panics
//! if it breaks (a bug the fuzzer should report). The cargo-fuzz project in `../../fuzz`
//! calls these functions from one-line `fuzz_target!` shims; `tests/smoke.rs` runs each over
//! the committed seeds in `../../fuzz/seeds` and a few thousand deterministic mutations of
//! them, as part of `cargo test`.
//!
//! | function | parser |
//! |---|---|
//! | [`sigv4_authorization`] | the SigV4 `Authorization` header, the credential scope, `X-Amz-Date`, skew |
//! | [`sigv4_request`] | canonical request building and signature verification over arbitrary requests; sign→parse→verify round trip |
//! | [`json`] | the JSON request body of every KMS, Parameter Store, Secrets Manager and CloudTrail `LookupEvents` operation |
//! | [`query`] | the Query protocol (IAM, STS): form parameters, lists, structure lists, XML error rendering |
//! | [`kms_blob`] | the KMS symmetric ciphertext blob; parse→write round trip of its header |
//! | [`esdk`] | the Encryption SDK message: header, encrypted data keys, frames, footer (in memory and streaming) |
//! | [`policy`] | IAM policy documents under each policy kind; evaluation against fixed requests must agree with the statements taken one by one |
//!
//! The JSON target decodes request *shapes* (the serde types of each operation, with their
//! custom blob, context and timestamp deserializers): that is where the protocol layer parses
//! the body. Validation and execution need a store and run in the integration tests instead;
//! driving `Kms::call` against SQLite would cost two orders of magnitude in executions per
//! second. `LookupEvents` is the exception: its validation is store-free and runs in full.

#![forbid(unsafe_code)]

use std::io::Read as _;
use std::sync::OnceLock;

use time::OffsetDateTime;
use trent_crypto::SecretBytes;
use trent_esdk::keyring::RawAesKeyring;
use trent_esdk::{ClientConfig, CommitmentPolicy, DecryptRequest, StreamOptions};
use trent_kms::blob::{Blob, write_header};
use trent_policy::{AwsIdentity, Caller, Effect, ParseOptions, Policy, RequestContext, Statement};
use trent_sigv4::{Request, Signer};
use trent_wire::ApiError;
use trent_wire::query::{Params, XmlWriter};

/// The instant every target treats as "now": 2026-01-01T00:00:00Z.
pub const NOW_UNIX: i64 = 1_767_225_600;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW_UNIX).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

// ---------------------------------------------------------------------------------------------
// SigV4

/// The fixed credentials the SigV4 targets sign and verify with.
pub const SIGV4_ACCESS_KEY_ID: &str = "AKIAFUZZEXAMPLE";
pub const SIGV4_SECRET: &str = "fuzz/secret/access/key";
pub const SIGV4_REGION: &str = "us-east-1";
pub const SIGV4_SERVICE: &str = "kms";

/// The whole input is an `Authorization` header value; its first line may be followed by an
/// `X-Amz-Date` value on the second.
pub fn sigv4_authorization(data: &[u8]) {
    let input = text(data);
    let (header, amz_date) = input.split_once('\n').unwrap_or((&input, ""));
    if let Ok(auth) = trent_sigv4::parse_authorization(header) {
        let _ = format!("{auth:?}");
        let scope = auth.scope();
        assert!(scope.ends_with(trent_sigv4::TERMINATOR));
        assert!(auth.signed_headers.contains(&"host"));
        if let Err(e) = auth.check_scope(SIGV4_REGION, SIGV4_SERVICE) {
            let _ = (e.aws_error_code(), e.message());
        }
    }
    if let Err(e) = trent_sigv4::parse_authorization(header) {
        let _ = (e.aws_error_code(), e.message());
    }
    match trent_sigv4::parse_amz_date(amz_date) {
        Ok(t) => {
            // A parsed date formats back to the same text.
            assert_eq!(trent_sigv4::format_amz_date(t), amz_date);
            let _ = trent_sigv4::check_skew(t, now(), time::Duration::minutes(15));
        }
        Err(e) => {
            let _ = e.message();
        }
    }
}

/// Lines: `Authorization` value, `X-Amz-Date` value, method, path, query, then one header per
/// line as `name:value`.
///
/// Runs verification of the given `Authorization` over the given request, then signs the
/// request with [`Signer`] and requires that the header it produces parses and verifies.
pub fn sigv4_request(data: &[u8]) {
    let input = text(data);
    let mut lines = input.split('\n');
    let authorization = lines.next().unwrap_or_default();
    let amz_date = lines.next().unwrap_or_default();
    let method = lines.next().unwrap_or_default();
    let path = lines.next().unwrap_or_default();
    let query = lines.next().unwrap_or_default();
    let headers: Vec<(&str, &str)> = lines
        .take(64)
        .map(|l| l.split_once(':').unwrap_or((l, "")))
        .collect();
    let payload_sha256 = trent_crypto::sha256(b"");

    let request = Request {
        method,
        path,
        query,
        headers: &headers,
        payload_sha256,
    };
    if let Ok(auth) = trent_sigv4::parse_authorization(authorization) {
        let _ = trent_sigv4::canonical_request(&request, &auth.signed_headers);
        let key = trent_sigv4::signing_key(
            SIGV4_SECRET.as_bytes(),
            auth.date,
            auth.region,
            auth.service,
        );
        let _ = trent_sigv4::verify(&key, &auth, &request, amz_date);
    }

    // Round trip: what the signer signs, the verifier accepts.
    let signer = Signer {
        access_key_id: SIGV4_ACCESS_KEY_ID,
        secret_access_key: SIGV4_SECRET,
        region: SIGV4_REGION,
        service: SIGV4_SERVICE,
        session_token: None,
    };
    let signed = signer.sign(method, path, query, &headers, b"", now());
    let find = |name: &str| {
        signed
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(signed_date), Some(signed_auth)) = (find("x-amz-date"), find("authorization")) else {
        unreachable_signer_output();
        return;
    };
    // The parser accepts only sorted, lower-case, graphic names with `host` among them; the
    // signer takes any names, so only well-formed requests are required to round-trip.
    let well_formed = headers.iter().all(|(n, _)| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) && headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host"));
    let parsed = trent_sigv4::parse_authorization(signed_auth);
    if !well_formed {
        return;
    }
    let auth = match parsed {
        Ok(auth) => auth,
        Err(e) => round_trip_failed("parse", &e.message()),
    };
    let mut with_date = headers.clone();
    with_date.push(("x-amz-date", signed_date));
    let request = Request {
        headers: &with_date,
        ..request
    };
    let key = trent_sigv4::signing_key(
        SIGV4_SECRET.as_bytes(),
        auth.date,
        SIGV4_REGION,
        SIGV4_SERVICE,
    );
    if let Err(e) = trent_sigv4::verify(&key, &auth, &request, signed_date) {
        round_trip_failed("verify", &e.message());
    }
}

#[allow(clippy::panic)] // a broken invariant is what the fuzzer is looking for
fn round_trip_failed(step: &str, message: &str) -> ! {
    panic!("signed request failed to {step}: {message}")
}

#[allow(clippy::panic)]
fn unreachable_signer_output() {
    panic!("the signer returned no x-amz-date or authorization header")
}

// ---------------------------------------------------------------------------------------------
// JSON protocol

/// The services whose JSON operations [`json`] decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonService {
    Kms,
    Ssm,
    SecretsManager,
    CloudTrail,
}

/// Every JSON operation in the order [`json`] indexes them (by the first input byte, modulo
/// the length).
pub fn json_operations() -> &'static [(JsonService, &'static str)] {
    static OPS: OnceLock<Vec<(JsonService, &'static str)>> = OnceLock::new();
    OPS.get_or_init(|| {
        let mut ops = Vec::new();
        ops.extend(
            trent_kms::Kms::operations()
                .iter()
                .map(|o| (JsonService::Kms, *o)),
        );
        ops.extend(
            trent_ssm::Ssm::operations()
                .iter()
                .map(|o| (JsonService::Ssm, *o)),
        );
        ops.extend(
            trent_secrets::Secrets::operations()
                .iter()
                .map(|o| (JsonService::SecretsManager, *o)),
        );
        ops.push((JsonService::CloudTrail, "LookupEvents"));
        ops
    })
}

/// The selector byte that makes [`json`] decode `operation` of `service`.
pub fn json_selector(service: JsonService, operation: &str) -> Option<u8> {
    json_operations()
        .iter()
        .position(|(s, o)| *s == service && *o == operation)
        .and_then(|i| u8::try_from(i).ok())
}

/// First byte: the operation (see [`json_operations`]); the rest: its request body.
pub fn json(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let ops = json_operations();
    let Some(&(service, operation)) = ops.get(usize::from(selector) % ops.len().max(1)) else {
        return;
    };
    let result = match service {
        JsonService::Kms => trent_kms::Kms::decode_request(operation, body),
        JsonService::Ssm => trent_ssm::Ssm::decode_request(operation, body),
        JsonService::SecretsManager => trent_secrets::Secrets::decode_request(operation, body),
        JsonService::CloudTrail => Some(
            trent_audit::lookup::parse_request("111122223333", body, NOW_UNIX * 1000).map(drop),
        ),
    };
    match result {
        None => unknown_operation(operation),
        Some(Ok(())) => {}
        Some(Err(e)) => check_error_json(&e),
    }
}

#[allow(clippy::panic)]
fn unknown_operation(operation: &str) {
    panic!("{operation} is listed but not decoded")
}

/// An error renders as a JSON object with `__type` and `message`.
fn check_error_json(e: &ApiError) {
    let rendered = e.to_json();
    let value: Result<serde_json::Value, _> = serde_json::from_slice(&rendered);
    assert!(
        value.as_ref().is_ok_and(|v| v.get("__type").is_some()),
        "error does not render as AWS JSON: {}",
        String::from_utf8_lossy(&rendered)
    );
}

// ---------------------------------------------------------------------------------------------
// Query protocol

/// First line: the URL query string; the rest: the form-encoded body.
pub fn query(data: &[u8]) {
    let (query, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (
            data.get(..i).unwrap_or_default(),
            data.get(i + 1..).unwrap_or_default(),
        ),
        None => (&[][..], data),
    };
    let query = text(query);
    match Params::parse(&query, body) {
        Err(e) => {
            let xml = trent_wire::query::error_response(
                &e,
                "https://iam.amazonaws.com/doc/2010-05-08/",
                "r",
            );
            assert!(xml.starts_with(b"<ErrorResponse"));
        }
        Ok(params) => {
            let action = params.action().unwrap_or("Unknown");
            let _ = params.get("Version");
            for prefix in ["Tags", "TagKeys", "PolicyArns", "ThumbprintList"] {
                if let Ok(items) = params.list(prefix) {
                    let mut xml = XmlWriter::new();
                    xml.open("member");
                    for item in items {
                        xml.text("Value", item);
                    }
                    xml.close("member");
                    let _ = xml.into_string();
                }
                if let Ok(rows) = params.struct_list(prefix, &["Key", "Value"]) {
                    assert!(rows.iter().all(|r| r.len() == 2));
                    assert!(rows.iter().all(|r| r.iter().any(Option::is_some)));
                }
            }
            let mut xml = XmlWriter::new();
            xml.text("Action", action)
                .opt("Version", params.get("Version"));
            let out = trent_wire::query::response(
                action,
                "https://sts.amazonaws.com/doc/2011-06-15/",
                "r",
                Some(&xml.into_string()),
            );
            let _ = out;
            let _ = trent_wire::query::url_encode(action);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// KMS ciphertext blob

/// The whole input is a ciphertext blob. A blob that parses must re-encode to the same header.
pub fn kms_blob(data: &[u8]) {
    let Ok(blob) = Blob::parse(data) else {
        return;
    };
    assert_eq!(
        blob.header.len() + blob.ciphertext_and_tag.len(),
        data.len()
    );
    assert!(blob.ciphertext_and_tag.len() >= trent_crypto::GCM_TAG_LEN);
    let rewritten = write_header(
        blob.account_id,
        blob.region,
        blob.key_id,
        &blob.material_id,
        &blob.salt,
        &blob.nonce,
        blob.ciphertext_and_tag.len(),
    );
    assert_eq!(rewritten.as_deref().ok(), Some(blob.header));
}

// ---------------------------------------------------------------------------------------------
// Encryption SDK messages

/// The raw AES keyring every ESDK input is decrypted with.
pub const ESDK_KEY_NAMESPACE: &str = "trent-fuzz";
pub const ESDK_KEY_NAME: &str = "fixed-key";
pub const ESDK_KEY: [u8; 32] = [0x42; 32];

/// A message made with [`esdk_keyring`] (suite 0x0578, 16-byte frames, one regular frame and
/// a final frame), cut into its three parts so that the frames and the footer can be fuzzed
/// behind a header (and frames) that authenticate. Regenerate with
/// `cargo test -p trent-fuzz-targets --test seeds -- --ignored`.
pub const ESDK_HEADER: &[u8] = include_bytes!("../data/esdk-header.bin");
pub const ESDK_FRAMES: &[u8] = include_bytes!("../data/esdk-frames.bin");
pub const ESDK_FOOTER: &[u8] = include_bytes!("../data/esdk-footer.bin");

/// The keyring the ESDK target decrypts with.
pub fn esdk_keyring() -> Option<RawAesKeyring> {
    RawAesKeyring::new(
        ESDK_KEY_NAMESPACE,
        ESDK_KEY_NAME,
        &SecretBytes::copy_from(&ESDK_KEY),
    )
    .ok()
}

/// First byte, modulo 3: 0 — the rest is a whole message; 1 — the rest follows the fixed
/// header (frames and footer are fuzzed); 2 — the rest follows the fixed header and frames
/// (the footer is fuzzed). Each message is decrypted in memory and through the streaming
/// reader; when both succeed they must agree.
pub fn esdk(data: &[u8]) {
    static KEYRING: OnceLock<Option<RawAesKeyring>> = OnceLock::new();
    let Some(keyring) = KEYRING.get_or_init(esdk_keyring) else {
        return;
    };
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut message = Vec::with_capacity(ESDK_HEADER.len() + ESDK_FRAMES.len() + rest.len());
    match mode % 3 {
        0 => {}
        1 => message.extend_from_slice(ESDK_HEADER),
        _ => {
            message.extend_from_slice(ESDK_HEADER);
            message.extend_from_slice(ESDK_FRAMES);
        }
    }
    message.extend_from_slice(rest);

    let config = ClientConfig {
        commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
        max_encrypted_data_keys: None,
    };
    let request = DecryptRequest::default();
    let _ = trent_esdk::Header::parse(&message);
    let in_memory = trent_esdk::decrypt(&config, keyring, &request, &message);
    let streamed = trent_esdk::DecryptingReader::new(
        &config,
        keyring,
        &request,
        StreamOptions::default(),
        message.as_slice(),
    )
    .ok()
    .and_then(|mut reader| {
        let mut out = Vec::new();
        reader.read_to_end(&mut out).ok().map(|_| out)
    });
    if let (Ok(whole), Some(stream)) = (&in_memory, &streamed) {
        assert!(
            whole.plaintext.expose_secret() == stream.as_slice(),
            "in-memory and streaming decryption disagree"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Policy documents

const POLICY_KINDS: [ParseOptions; 4] = [
    ParseOptions::IDENTITY,
    ParseOptions::RESOURCE,
    ParseOptions::KEY_POLICY,
    ParseOptions::TRUST,
];

const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn policy_contexts() -> Vec<RequestContext> {
    let mut out = Vec::new();
    if let Ok(role) = AwsIdentity::from_arn("arn:aws:sts::111122223333:assumed-role/App/worker-1") {
        let role = role
            .with_role_arn("arn:aws:iam::111122223333:role/App")
            .with_user_id("AROAEXAMPLE:worker-1")
            .with_tag("tenant", "blue");
        let ip: std::net::IpAddr = std::net::Ipv4Addr::new(10, 1, 2, 3).into();
        out.push(
            RequestContext::new(Caller::Aws(role), "kms:Decrypt", KEY_ARN)
                .with("kms:EncryptionContext:tenant", "blue")
                .with("aws:SecureTransport", true)
                .with("aws:SourceIp", ip)
                .with("kms:GrantConstraintType", "EncryptionContextEquals")
                .with("aws:EpochTime", 1_767_225_600_i64)
                .with(
                    "aws:CurrentTime",
                    trent_policy::Timestamp::from_unix_seconds(NOW_UNIX),
                )
                .with("kms:RecipientAttestation:ImageSha384", vec![1u8, 2, 3])
                .with_multi("aws:TagKeys", ["a", "b*", ""]),
        );
    }
    if let Ok(user) = AwsIdentity::from_arn("arn:aws:iam::444455556666:user/path/alice") {
        out.push(RequestContext::new(
            Caller::Aws(user),
            "secretsmanager:GetSecretValue",
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf",
        ));
    }
    out.push(RequestContext::new(
        Caller::Service("secretsmanager.amazonaws.com".to_owned()),
        "kms:GenerateDataKey",
        KEY_ARN,
    ));
    out.push(RequestContext::new(Caller::Anonymous, "iam:GetUser", "*"));
    out
}

/// First byte, modulo 4: the policy kind (identity, resource, key, trust); the rest: the
/// document. A document that parses is evaluated against fixed requests.
pub fn policy(data: &[u8]) {
    let Some((&kind, document)) = data.split_first() else {
        return;
    };
    let options = POLICY_KINDS
        .get(usize::from(kind % 4))
        .copied()
        .unwrap_or(ParseOptions::IDENTITY);
    let document = text(document);
    match Policy::parse(&document, options) {
        Err(e) => {
            let _ = (e.to_string(), e.location(), e.problem());
        }
        Ok(policy) => {
            let _ = policy.uses_condition_key("kms:EncryptionContext:tenant");
            let _ = policy.uses_condition_key_prefix("kms:EncryptionContext:");
            static CONTEXTS: OnceLock<Vec<RequestContext>> = OnceLock::new();
            for ctx in CONTEXTS.get_or_init(policy_contexts) {
                // Evaluation agrees with the statements taken one by one: an applying Deny
                // wins, then an applying Allow, else the implicit deny.
                let applying: Vec<Effect> = policy
                    .statements()
                    .iter()
                    .filter(|s| s.applies(ctx).is_some())
                    .map(Statement::effect)
                    .collect();
                let deny = applying.contains(&Effect::Deny);
                let allow = applying.contains(&Effect::Allow);
                let decision = policy.evaluate(ctx);
                assert_eq!(decision.is_explicit_deny(), deny, "{decision:?}");
                assert_eq!(decision.is_allow(), !deny && allow, "{decision:?}");
            }
        }
    }
}
