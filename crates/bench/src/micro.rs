//! In-process timings of the steps a signed request costs, one core, no I/O: what the client
//! pays to sign, and what the server pays to verify, decode, run the operation's cryptography
//! (Encrypt: derive and seal; Sign: the private-key signature; GenerateMac: the HMAC) and
//! encode. They use the same crates as Trent (trent-sigv4, trent-crypto over aws-lc, base64,
//! serde_json), so they bound how fast the hot path can be before any HTTP or scheduling cost.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use base64::Engine as _;
use time::OffsetDateTime;
use trent_crypto::{
    Aes256GcmKey, AsymmetricKey, AsymmetricSpec, MacAlgorithm, SecretBytes, SigningAlgorithm,
};

use crate::bare::blob_len;
use crate::client::JSON_1_1;

/// Runs `f` repeatedly for about `budget` and returns the mean time per call.
fn time_it(
    budget: Duration,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Duration> {
    // Warm up caches and branch predictors.
    for _ in 0..100 {
        f()?;
    }
    let start = Instant::now();
    let mut n: u32 = 0;
    while start.elapsed() < budget {
        for _ in 0..64 {
            f()?;
        }
        n += 64;
    }
    Ok(start.elapsed() / n.max(1))
}

struct Row {
    name: String,
    side: &'static str,
    per_op: Duration,
}

pub fn run(plaintext_bytes: usize, budget: Duration) -> anyhow::Result<()> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let plaintext = vec![0x42u8; plaintext_bytes];
    let key_arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-4000-8000-000000000000";
    let body = serde_json::to_vec(&serde_json::json!({
        "KeyId": "00000000-0000-4000-8000-000000000000",
        "Plaintext": b64.encode(&plaintext),
    }))?;
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let signer = trent_sigv4::Signer {
        access_key_id: "AKIAIOSFODNN7EXAMPLE",
        secret_access_key: secret,
        region: "us-east-1",
        service: "kms",
        session_token: None,
    };
    let base_headers = [
        ("host", "127.0.0.1:4566"),
        ("content-type", JSON_1_1),
        ("x-amz-target", "TrentService.Encrypt"),
    ];
    let now = OffsetDateTime::now_utc();
    let signed = signer.sign("POST", "/", "", &base_headers, &body, now);
    let mut headers: Vec<(&str, &str)> = base_headers.to_vec();
    for (n, v) in &signed {
        headers.push((n.as_str(), v.as_str()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| anyhow!("no {name} header"))
    };
    let authorization = header("authorization")?;
    let amz_date = header("x-amz-date")?;
    let date_stamp = amz_date.get(..8).context("short date")?;
    let signing_key = trent_sigv4::signing_key(secret.as_bytes(), date_stamp, "us-east-1", "kms");
    let material = SecretBytes::random(32)?;
    let salt: [u8; 16] = trent_crypto::random_array()?;
    let nonce: [u8; 12] = trent_crypto::random_array()?;
    let call_key = Aes256GcmKey::derive_hkdf_sha256(
        material.expose_secret(),
        &salt,
        &[b"trent kms symmetric ciphertext v1"],
    )?;
    let blob = vec![0x5au8; blob_len(plaintext_bytes)];
    let header_len = blob_len(0) - 16;
    let header_fields_len = header_len - 4;

    let mut rows = Vec::new();
    let mut add = |name: &str, side, per_op| {
        rows.push(Row {
            name: name.to_owned(),
            side,
            per_op,
        });
    };

    add(
        "sign request (SHA-256 of body, key ladder, HMAC)",
        "client",
        time_it(budget, || {
            black_box(signer.sign("POST", "/", "", &base_headers, black_box(&body), now));
            Ok(())
        })?,
    );
    add(
        "verify signature (parse header + date, SHA-256 of body, canonical request, HMAC), cached signing key",
        "server",
        time_it(budget, || {
            let auth = trent_sigv4::parse_authorization(black_box(authorization))?;
            trent_sigv4::parse_amz_date(amz_date)?;
            let request = trent_sigv4::Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                payload_sha256: trent_crypto::sha256(black_box(&body)),
            };
            trent_sigv4::verify(&signing_key, &auth, &request, amz_date)?;
            Ok(())
        })?,
    );
    add(
        "  of which SHA-256 of the request body",
        "server",
        time_it(budget, || {
            black_box(trent_crypto::sha256(black_box(&body)));
            Ok(())
        })?,
    );
    add(
        "derive signing key (uncached: 4 HMACs)",
        "server",
        time_it(budget, || {
            black_box(trent_sigv4::signing_key(
                black_box(secret.as_bytes()),
                date_stamp,
                "us-east-1",
                "kms",
            ));
            Ok(())
        })?,
    );
    add(
        "parse request JSON into serde_json::Value (Trent decodes into a typed struct)",
        "server",
        time_it(budget, || {
            black_box(serde_json::from_slice::<serde_json::Value>(black_box(
                &body,
            ))?);
            Ok(())
        })?,
    );
    let encoded_plaintext = b64.encode(&plaintext);
    add(
        "base64-decode plaintext",
        "server",
        time_it(budget, || {
            black_box(b64.decode(black_box(&encoded_plaintext))?);
            Ok(())
        })?,
    );
    add(
        "random salt (16 B) + nonce (12 B)",
        "server",
        time_it(budget, || {
            black_box(trent_crypto::random_array::<16>()?);
            black_box(trent_crypto::random_array::<12>()?);
            Ok(())
        })?,
    );
    let header_fields = blob
        .get(..header_fields_len)
        .context("blob layout")?
        .to_vec();
    add(
        "blob header check (SHA-256 of the header)",
        "server",
        time_it(budget, || {
            black_box(trent_crypto::sha256(black_box(&header_fields)));
            Ok(())
        })?,
    );
    add(
        "HKDF-SHA-256 per-call key + AES key schedule",
        "server",
        time_it(budget, || {
            black_box(Aes256GcmKey::derive_hkdf_sha256(
                material.expose_secret(),
                black_box(&salt),
                &[b"trent kms symmetric ciphertext v1"],
            )?);
            Ok(())
        })?,
    );
    let mut buf = plaintext.clone();
    let aad = blob.get(..header_len).context("blob layout")?.to_vec();
    add(
        "AES-256-GCM seal of the plaintext",
        "server",
        time_it(budget, || {
            black_box(call_key.seal_in_place_separate_tag(nonce, &aad, black_box(&mut buf))?);
            Ok(())
        })?,
    );
    add(
        "encode response (base64 blob + JSON)",
        "server",
        time_it(budget, || {
            let v = serde_json::json!({
                "CiphertextBlob": b64.encode(black_box(&blob)),
                "KeyId": key_arn,
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            });
            black_box(serde_json::to_vec(&v)?);
            Ok(())
        })?,
    );

    println!(
        "micro-benchmarks, plaintext {plaintext_bytes} B, request body {} B, one thread:",
        body.len()
    );
    println!("| step | side | time per request |");
    println!("|---|---|---:|");
    let mut server_total = Duration::ZERO;
    for r in &rows {
        println!(
            "| {} | {} | {:.2} µs |",
            r.name,
            r.side,
            r.per_op.as_secs_f64() * 1e6
        );
        if r.side == "server" && !r.name.starts_with("  ") && !r.name.starts_with("derive") {
            server_total += r.per_op;
        }
    }
    println!(
        "| server steps above, summed (excluding the indented and uncached rows) | server | {:.2} µs |",
        server_total.as_secs_f64() * 1e6
    );
    Ok(())
}

/// Times the steps every signed JSON request pays around its operation: the client's
/// signature, the server's verification (signing key cached, as in Trent) and the decoding of
/// the request JSON. `body` is the request body, `target` its `X-Amz-Target`.
fn envelope(target: &str, body: &[u8], budget: Duration) -> anyhow::Result<Vec<Row>> {
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let signer = trent_sigv4::Signer {
        access_key_id: "AKIAIOSFODNN7EXAMPLE",
        secret_access_key: secret,
        region: "us-east-1",
        service: "kms",
        session_token: None,
    };
    let base_headers = [
        ("host", "127.0.0.1:4566"),
        ("content-type", JSON_1_1),
        ("x-amz-target", target),
    ];
    let now = OffsetDateTime::now_utc();
    let signed = signer.sign("POST", "/", "", &base_headers, body, now);
    let mut headers: Vec<(&str, &str)> = base_headers.to_vec();
    for (n, v) in &signed {
        headers.push((n.as_str(), v.as_str()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| anyhow!("no {name} header"))
    };
    let authorization = header("authorization")?;
    let amz_date = header("x-amz-date")?;
    let date_stamp = amz_date.get(..8).context("short date")?;
    let signing_key = trent_sigv4::signing_key(secret.as_bytes(), date_stamp, "us-east-1", "kms");
    Ok(vec![
        Row {
            name: "sign request (SHA-256 of body, key ladder, HMAC)".to_owned(),
            side: "client",
            per_op: time_it(budget, || {
                black_box(signer.sign("POST", "/", "", &base_headers, black_box(body), now));
                Ok(())
            })?,
        },
        Row {
            name: "verify signature (parse header + date, SHA-256 of body, canonical request, HMAC), cached signing key".to_owned(),
            side: "server",
            per_op: time_it(budget, || {
                let auth = trent_sigv4::parse_authorization(black_box(authorization))?;
                trent_sigv4::parse_amz_date(amz_date)?;
                let request = trent_sigv4::Request {
                    method: "POST",
                    path: "/",
                    query: "",
                    headers: &headers,
                    payload_sha256: trent_crypto::sha256(black_box(body)),
                };
                trent_sigv4::verify(&signing_key, &auth, &request, amz_date)?;
                Ok(())
            })?,
        },
        Row {
            name: "parse request JSON into serde_json::Value (Trent decodes into a typed struct)"
                .to_owned(),
            side: "server",
            per_op: time_it(budget, || {
                black_box(serde_json::from_slice::<serde_json::Value>(black_box(
                    body,
                ))?);
                Ok(())
            })?,
        },
    ])
}

/// Times encoding a response with `blob_member` (base64 of `blob`) beside a key ARN and
/// `algorithm_member`.
fn encode_response(
    blob_member: &str,
    blob: &[u8],
    algorithm_member: &str,
    algorithm: &str,
    budget: Duration,
) -> anyhow::Result<Duration> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key_arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-4000-8000-000000000000";
    time_it(budget, || {
        let mut v = serde_json::Map::new();
        v.insert("KeyId".into(), key_arn.into());
        v.insert(algorithm_member.into(), algorithm.into());
        v.insert(blob_member.into(), b64.encode(black_box(blob)).into());
        black_box(serde_json::to_vec(&v)?);
        Ok(())
    })
}

fn print_rows(title: &str, rows: &[Row]) {
    println!("{title}");
    println!("| step | side | time per request | per second, one core |");
    println!("|---|---|---:|---:|");
    for r in rows {
        let secs = r.per_op.as_secs_f64();
        println!(
            "| {} | {} | {:.2} µs | {:.0} |",
            r.name,
            r.side,
            secs * 1e6,
            1.0 / secs.max(1e-12)
        );
    }
}

/// The Sign table: the signature itself for ECDSA P-256 and both RSA-2048 paddings (with the
/// key parsed once, as Trent's key cache holds it), parsing the key (what a cache miss adds),
/// and the request's other steps.
pub fn run_sign(message_bytes: usize, budget: Duration) -> anyhow::Result<()> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let message: Vec<u8> = (0..message_bytes).map(|i| (i % 251) as u8).collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "KeyId": "00000000-0000-4000-8000-000000000000",
        "Message": b64.encode(&message),
        "MessageType": "RAW",
        "SigningAlgorithm": "ECDSA_SHA_256",
    }))?;
    let mut rows = envelope("TrentService.Sign", &body, budget)?;
    let cases = [
        (
            AsymmetricSpec::EccP256,
            SigningAlgorithm::EcdsaSha256,
            "ECDSA P-256",
        ),
        (
            AsymmetricSpec::Rsa2048,
            SigningAlgorithm::RsassaPkcs1V15Sha256,
            "RSA-2048",
        ),
        (
            AsymmetricSpec::Rsa2048,
            SigningAlgorithm::RsassaPssSha256,
            "RSA-2048",
        ),
    ];
    let mut parsed_specs = Vec::new();
    for (spec, alg, label) in cases {
        let pkcs8 = trent_crypto::asymmetric::generate(spec)?;
        let key = AsymmetricKey::parse(spec, &pkcs8)?;
        let mut signature = Vec::new();
        let per_op = time_it(budget, || {
            signature = key.sign(alg, black_box(&message), false)?;
            Ok(())
        })?;
        rows.push(Row {
            name: (format!(
                "AsymmetricKey::sign, {} ({label}, RAW {message_bytes} B)",
                alg.kms_name()
            )),
            side: "server",
            per_op,
        });
        rows.push(Row {
            name: (format!(
                "  encode response ({} B signature, base64 + JSON)",
                signature.len()
            )),
            side: "server",
            per_op: encode_response(
                "Signature",
                &signature,
                "SigningAlgorithm",
                alg.kms_name(),
                budget,
            )?,
        });
        if !parsed_specs.contains(&label) {
            parsed_specs.push(label);
            rows.push(Row {
                name: (format!("  AsymmetricKey::parse, {label} PKCS#8 (key cache miss only)")),
                side: "server",
                per_op: time_it(budget, || {
                    black_box(AsymmetricKey::parse(spec, black_box(&pkcs8))?);
                    Ok(())
                })?,
            });
        }
    }
    print_rows(
        &format!(
            "micro-benchmarks, Sign, message {message_bytes} B, request body {} B, one thread:",
            body.len()
        ),
        &rows,
    );
    Ok(())
}

/// The GenerateMac table: HMAC-SHA-256 as Trent computes it (key set up on every call), and
/// the request's other steps.
pub fn run_mac(message_bytes: usize, budget: Duration) -> anyhow::Result<()> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let message: Vec<u8> = (0..message_bytes).map(|i| (i % 251) as u8).collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "KeyId": "00000000-0000-4000-8000-000000000000",
        "Message": b64.encode(&message),
        "MacAlgorithm": "HMAC_SHA_256",
    }))?;
    let mut rows = envelope("TrentService.GenerateMac", &body, budget)?;
    let alg = MacAlgorithm::HmacSha256;
    let key = trent_crypto::generate_mac_key(alg)?;
    let mut mac = Vec::new();
    rows.push(Row {
        name: (format!(
            "trent_crypto::mac, HMAC_SHA_256 of {message_bytes} B (key set up per call)"
        )),
        side: "server",
        per_op: time_it(budget, || {
            mac = trent_crypto::mac(alg, &key, black_box(&message));
            Ok(())
        })?,
    });
    rows.push(Row {
        name: "  encode response (32 B MAC, base64 + JSON)".to_owned(),
        side: "server",
        per_op: encode_response("Mac", &mac, "MacAlgorithm", alg.kms_name(), budget)?,
    });
    print_rows(
        &format!(
            "micro-benchmarks, GenerateMac, message {message_bytes} B, request body {} B, one thread:",
            body.len()
        ),
        &rows,
    );
    Ok(())
}
