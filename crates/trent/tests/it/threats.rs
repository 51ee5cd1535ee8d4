//! Attacks from the threat model (docs/security.md) tried against a real server: nonce reuse,
//! oracles in Decrypt's errors, replay of a signed request, and use of a key across a change of
//! its state.

use std::collections::HashSet;
use std::time::Instant;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{EncryptionAlgorithmSpec, KeySpec, KeyUsageType};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::harness::{TestServer, code, message};

fn ec(pairs: &[(&str, &str)]) -> Option<std::collections::HashMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// The salt and nonce of a symmetric ciphertext blob (layout in crates/kms/src/blob.rs).
fn salt_and_nonce(blob: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut pos = 1; // format version
    for _ in 0..3 {
        // account, region, key id: each length-prefixed
        pos += 1 + usize::from(blob[pos]);
    }
    pos += 32; // material id
    (
        blob[pos..pos + 16].to_vec(),
        blob[pos + 16..pos + 28].to_vec(),
    )
}

#[tokio::test]
async fn symmetric_ciphertexts_never_share_a_salt_or_a_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let key = kms.create_key().send().await.unwrap();
    let id = key.key_metadata().unwrap().key_id();
    let (mut salts, mut nonces) = (HashSet::new(), HashSet::new());
    const N: usize = 200;
    for _ in 0..N {
        // The same key, plaintext and context every time: only fresh randomness tells them apart.
        let blob = kms
            .encrypt()
            .key_id(id)
            .plaintext(Blob::new(b"same plaintext".to_vec()))
            .set_encryption_context(ec(&[("k", "v")]))
            .send()
            .await
            .unwrap()
            .ciphertext_blob()
            .unwrap()
            .as_ref()
            .to_vec();
        let (salt, nonce) = salt_and_nonce(&blob);
        salts.insert(salt);
        nonces.insert(nonce);
    }
    assert_eq!(salts.len(), N, "a salt was drawn twice");
    assert_eq!(nonces.len(), N, "a nonce was drawn twice");
    server.stop().await;
}

#[tokio::test]
async fn every_decrypt_failure_gives_the_same_error_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let key = kms.create_key().send().await.unwrap();
    let id = key.key_metadata().unwrap().key_id();
    let blob = kms
        .encrypt()
        .key_id(id)
        .plaintext(Blob::new(b"0123456789abcdef".to_vec()))
        .set_encryption_context(ec(&[("purpose", "test")]))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .as_ref()
        .to_vec();
    let flip = |i: usize| {
        let mut t = blob.clone();
        t[i] ^= 0x01;
        t
    };
    let cases = [
        ("tag byte", flip(blob.len() - 1), ec(&[("purpose", "test")])),
        (
            "ciphertext byte",
            flip(blob.len() - 17),
            ec(&[("purpose", "test")]),
        ),
        ("header byte", flip(5), ec(&[("purpose", "test")])),
        (
            "truncated",
            blob[..blob.len() - 1].to_vec(),
            ec(&[("purpose", "test")]),
        ),
        ("context value", blob.clone(), ec(&[("purpose", "Test")])),
        ("context missing", blob.clone(), None),
        (
            "context extra pair",
            blob.clone(),
            ec(&[("purpose", "test"), ("x", "y")]),
        ),
        (
            "context key and value shifted",
            blob.clone(),
            ec(&[("purposet", "est")]),
        ),
    ];
    let mut messages = HashSet::new();
    for (what, ciphertext, context) in cases {
        let err = kms
            .decrypt()
            .ciphertext_blob(Blob::new(ciphertext))
            .set_encryption_context(context)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidCiphertextException", "{what}");
        messages.insert(message(&err));
    }
    assert_eq!(messages.len(), 1, "{messages:?}");

    // RSAES-OAEP: a ciphertext of random bytes and a changed valid one fail alike.
    let rsa = kms
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .unwrap();
    let rsa_id = rsa.key_metadata().unwrap().key_id();
    let good = kms
        .encrypt()
        .key_id(rsa_id)
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .plaintext(Blob::new(b"data key".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .as_ref()
        .to_vec();
    let mut changed = good.clone();
    changed[100] ^= 0x80;
    let mut rsa_messages = HashSet::new();
    for ciphertext in [changed, vec![0x5a; good.len()], vec![0u8; good.len()]] {
        let err = kms
            .decrypt()
            .key_id(rsa_id)
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .ciphertext_blob(Blob::new(ciphertext))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidCiphertextException");
        rsa_messages.insert(message(&err));
    }
    assert_eq!(rsa_messages.len(), 1, "{rsa_messages:?}");
    server.stop().await;
}

/// Sends the same signed request bytes every time (a captured request, replayed).
async fn send_captured(
    endpoint: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("{endpoint}/"));
    for (k, v) in headers {
        if k != "host" {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body.to_vec()))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn a_captured_request_replays_only_within_the_clock_skew_window() {
    use trent_store::clock::Clock as _;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let host = server.addr.to_string();
    let body = br#"{"NumberOfBytes":16}"#;
    let mut headers = vec![
        ("host".to_owned(), host.clone()),
        (
            "content-type".to_owned(),
            "application/x-amz-json-1.1".to_owned(),
        ),
        (
            "x-amz-target".to_owned(),
            "TrentService.GenerateRandom".to_owned(),
        ),
    ];
    let signer = trent_sigv4::Signer {
        access_key_id: &server.access_key_id,
        secret_access_key: &server.secret_access_key,
        region: "us-east-1",
        service: "kms",
        session_token: None,
    };
    let signed_at =
        time::OffsetDateTime::from_unix_timestamp(server.clock.now_ms() / 1000).unwrap();
    let borrowed: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let added = signer.sign("POST", "/", "", &borrowed, body, signed_at);
    headers.extend(added);

    // Within the window the very same bytes are accepted again, as AWS accepts them: SigV4
    // has no nonce. The window is the guard.
    for _ in 0..2 {
        let (status, answer) = send_captured(&server.endpoint, &headers, body).await;
        assert_eq!(status, 200, "{answer}");
    }
    // 15 minutes after signing (to the second, as X-Amz-Date has no finer resolution): still
    // accepted. One second later: refused.
    let elapsed = server.clock.now_ms() - signed_at.unix_timestamp() * 1000;
    server.clock.advance_ms(15 * 60 * 1000 - elapsed);
    let (status, answer) = send_captured(&server.endpoint, &headers, body).await;
    assert_eq!(status, 200, "{answer}");
    server.clock.advance_ms(1000);
    let (status, answer) = send_captured(&server.endpoint, &headers, body).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["__type"], "InvalidSignatureException");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("Signature expired"),
        "{answer}"
    );
    server.stop().await;
}

/// Encrypts in a loop until `stop`, recording for each call when it was sent and how it ended.
async fn encrypt_loop(
    kms: aws_sdk_kms::Client,
    id: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<(Instant, Result<(), String>)> {
    let mut out = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let sent = Instant::now();
        let result = kms
            .encrypt()
            .key_id(&id)
            .plaintext(Blob::new(b"p".to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e));
        out.push((sent, result));
    }
    out
}

#[tokio::test]
async fn no_request_sent_after_a_state_change_returns_uses_the_old_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    for (change, refused_with) in [
        ("DisableKey", "DisabledException"),
        ("ScheduleKeyDeletion", "KMSInvalidStateException"),
    ] {
        let key = kms.create_key().send().await.unwrap();
        let id = key.key_metadata().unwrap().key_id().to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let loops: Vec<_> = (0..4)
            .map(|_| {
                tokio::spawn(encrypt_loop(
                    server.client(),
                    id.clone(),
                    std::sync::Arc::clone(&stop),
                ))
            })
            .collect();
        // Let the loops warm the key cache on every path before the change.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        match change {
            "DisableKey" => {
                kms.disable_key().key_id(&id).send().await.unwrap();
            }
            _ => {
                kms.schedule_key_deletion()
                    .key_id(&id)
                    .pending_window_in_days(7)
                    .send()
                    .await
                    .unwrap();
            }
        }
        let changed = Instant::now();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut before = 0;
        let mut after = 0;
        for handle in loops {
            for (sent, result) in handle.await.unwrap() {
                if sent < changed {
                    before += 1;
                    continue;
                }
                after += 1;
                assert_eq!(
                    result,
                    Err(refused_with.to_owned()),
                    "{change}: a request sent after it returned"
                );
            }
        }
        assert!(
            before > 0 && after > 0,
            "{change}: {before} before, {after} after"
        );
    }
    server.stop().await;
}
