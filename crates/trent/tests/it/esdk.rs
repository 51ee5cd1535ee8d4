//! The Encryption SDK against the official Python `aws-encryption-sdk`: messages Trent writes
//! with raw AES and raw RSA keyrings decrypt in Python and the other way round, for every
//! algorithm suite, with frame lengths around the edges (empty, one byte, one short of a frame,
//! exact multiples, several frames, non-framed from Python; Trent also writes 1-byte frames,
//! which Python reads but does not write). Tampered messages fail on both sides.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use trent_crypto::SecretBytes;
use trent_crypto::envelope::RsaPadding;
use trent_esdk::keyring::{Keyring, RawAesKeyring, RawRsaKeyring};
use trent_esdk::{
    AlgorithmSuite, ClientConfig, CommitmentPolicy, DecryptRequest, EncryptRequest, decrypt,
    encrypt,
};

use crate::cli::find_python;

const PROVIDER: &str = "trent-interop";
const PY: &str = include_str!("esdk_interop.py");

/// A python that imports aws_encryption_sdk (the same finder as boto3; CI installs both).
pub(crate) async fn find_esdk_python() -> Option<std::path::PathBuf> {
    let python = find_python().await?;
    let probe = Command::new(&python)
        .args(["-c", "import aws_encryption_sdk"])
        .output()
        .is_ok_and(|o| o.status.success());
    if probe {
        return Some(python);
    }
    if std::env::var("TRENT_REQUIRE_CLIENTS").is_ok_and(|v| v == "1") {
        panic!(
            "TRENT_REQUIRE_CLIENTS=1 but {} cannot import aws_encryption_sdk",
            python.display()
        );
    }
    eprintln!("skipping: no aws_encryption_sdk in {}", python.display());
    None
}

struct Keys {
    aes: BTreeMap<&'static str, Vec<u8>>,
    rsa_pkcs8: SecretBytes,
}

impl Keys {
    fn new() -> Keys {
        let aes = [("128", 16), ("192", 24), ("256", 32)]
            .into_iter()
            .map(|(bits, len)| {
                (
                    bits,
                    SecretBytes::random(len).unwrap().expose_secret().to_vec(),
                )
            })
            .collect();
        let rsa_pkcs8 =
            trent_crypto::asymmetric::generate(trent_crypto::AsymmetricSpec::Rsa2048).unwrap();
        Keys { aes, rsa_pkcs8 }
    }

    fn keyring(&self, name: &str) -> Box<dyn Keyring> {
        if let Some(bits) = name.strip_prefix("aes-") {
            let key = SecretBytes::copy_from(&self.aes[bits]);
            return Box::new(RawAesKeyring::new(PROVIDER, name, &key).unwrap());
        }
        let padding = match name {
            "rsa-pkcs1" => RsaPadding::Pkcs1,
            "rsa-oaep-sha1" => RsaPadding::OaepSha1,
            "rsa-oaep-sha256" => RsaPadding::OaepSha256,
            "rsa-oaep-sha384" => RsaPadding::OaepSha384,
            "rsa-oaep-sha512" => RsaPadding::OaepSha512,
            other => panic!("unknown keyring {other}"),
        };
        Box::new(RawRsaKeyring::new(PROVIDER, "rsa", &self.rsa_pkcs8, padding).unwrap())
    }

    /// Writes the keys where the Python side reads them and returns the job file's key fields.
    fn write(&self, dir: &Path) -> Value {
        let mut aes = serde_json::Map::new();
        for (bits, key) in &self.aes {
            let path = dir.join(format!("aes-{bits}.key"));
            std::fs::write(&path, key).unwrap();
            aes.insert((*bits).to_owned(), json!(path));
        }
        let rsa = dir.join("rsa.der");
        std::fs::write(&rsa, self.rsa_pkcs8.expose_secret()).unwrap();
        json!({"aes_keys": aes, "rsa_key": rsa})
    }
}

/// One message to make on one side and open on the other.
struct Case {
    keyring: &'static str,
    suite: AlgorithmSuite,
    frame: u32,
    len: usize,
}

fn cases(python_encrypts: bool) -> Vec<Case> {
    let mut out = Vec::new();
    for suite in AlgorithmSuite::ALL {
        let mut shapes = vec![
            (64, 0),
            (64, 1),
            (64, 63),
            (64, 64),
            (64, 65),
            (64, 128),
            (64, 200),
            (1, 3),
            (4096, 10_000),
        ];
        if python_encrypts {
            // Python only writes frame lengths that are multiples of 128 (the AES block size
            // in bits, which it compares with a byte count).
            shapes = vec![
                (128, 0),
                (128, 1),
                (128, 127),
                (128, 128),
                (128, 129),
                (128, 256),
                (128, 300),
                (4096, 10_000),
            ];
            shapes.push((0, 100)); // non-framed
            shapes.push((0, 0));
        }
        for (frame, len) in shapes {
            out.push(Case {
                keyring: "aes-256",
                suite,
                frame,
                len,
            });
        }
    }
    for keyring in ["aes-128", "aes-192"] {
        for suite in [0x0578, 0x0478, 0x0014] {
            let suite = AlgorithmSuite::from_id(suite).unwrap();
            out.push(Case {
                keyring,
                suite,
                frame: 128,
                len: 300,
            });
        }
    }
    for keyring in [
        "rsa-pkcs1",
        "rsa-oaep-sha1",
        "rsa-oaep-sha256",
        "rsa-oaep-sha384",
        "rsa-oaep-sha512",
    ] {
        for suite in [0x0578, 0x0478, 0x0378] {
            let suite = AlgorithmSuite::from_id(suite).unwrap();
            out.push(Case {
                keyring,
                suite,
                frame: 128,
                len: 300,
            });
        }
    }
    out
}

fn plaintext(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (j * 31 + i * 7) as u8).collect()
}

fn context() -> BTreeMap<String, String> {
    [("purpose", "interop"), ("ünïcødé", "✓ value")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn config_for(suite: AlgorithmSuite) -> ClientConfig {
    ClientConfig {
        commitment_policy: if suite.is_committing() {
            CommitmentPolicy::RequireEncryptAllowDecrypt
        } else {
            CommitmentPolicy::ForbidEncryptAllowDecrypt
        },
        max_encrypted_data_keys: None,
    }
}

fn run_python(python: &Path, dir: &Path, keys: &Keys, jobs: Vec<Value>) -> Vec<Value> {
    let script = dir.join("esdk_interop.py");
    std::fs::write(&script, PY).unwrap();
    let mut spec = keys.write(dir);
    spec["jobs"] = Value::Array(jobs);
    let spec_path = dir.join("jobs.json");
    std::fs::write(&spec_path, serde_json::to_vec(&spec).unwrap()).unwrap();
    let out = Command::new(python)
        .arg(&script)
        .arg(&spec_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn trent_messages_decrypt_in_python() {
    let Some(python) = find_esdk_python().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    let cases = cases(false);
    let mut jobs = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let request = EncryptRequest {
            encryption_context: context(),
            suite: Some(c.suite),
            frame_length: c.frame,
            ..Default::default()
        };
        let keyring = keys.keyring(c.keyring);
        let m = encrypt(
            &config_for(c.suite),
            keyring.as_ref(),
            &request,
            &plaintext(i, c.len),
        )
        .unwrap();
        let input = dir.path().join(format!("{i}.trent"));
        std::fs::write(&input, &m.ciphertext).unwrap();
        jobs.push(
            json!({"op": "decrypt", "keyring": c.keyring, "suite": c.suite.id(),
            "frame": c.frame, "input": input, "output": dir.path().join(format!("{i}.out")),
            "ec": context()}),
        );
    }
    // A tampered message (a flipped byte in the last frame) must fail in Python too.
    let tampered = dir.path().join("tampered.trent");
    let mut bad = std::fs::read(dir.path().join("5.trent")).unwrap();
    let at = bad.len() - 120;
    bad[at] ^= 1;
    std::fs::write(&tampered, bad).unwrap();
    jobs.push(
        json!({"op": "decrypt", "keyring": "aes-256", "suite": null, "frame": 64,
        "input": tampered, "output": dir.path().join("tampered.out"), "ec": {}}),
    );

    let results = run_python(&python, dir.path(), &keys, jobs);
    assert_eq!(results.len(), cases.len() + 1);
    for (i, c) in cases.iter().enumerate() {
        let what = format!(
            "{} suite 0x{:04x} frame {} len {}",
            c.keyring,
            c.suite.id(),
            c.frame,
            c.len
        );
        assert_eq!(results[i], json!({"ok": true}), "{what}");
        let got = std::fs::read(dir.path().join(format!("{i}.out"))).unwrap();
        assert_eq!(got, plaintext(i, c.len), "{what}");
    }
    assert!(
        results[cases.len()].get("error").is_some(),
        "tampered message decrypted"
    );
}

#[tokio::test]
async fn python_messages_decrypt_in_trent() {
    let Some(python) = find_esdk_python().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    let cases = cases(true);
    let mut jobs = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let input = dir.path().join(format!("{i}.plain"));
        std::fs::write(&input, plaintext(i, c.len)).unwrap();
        jobs.push(
            json!({"op": "encrypt", "keyring": c.keyring, "suite": c.suite.id(),
            "frame": c.frame, "input": input, "output": dir.path().join(format!("{i}.py")),
            "ec": context()}),
        );
    }
    let results = run_python(&python, dir.path(), &keys, jobs);
    assert_eq!(results.len(), cases.len());
    let mut non_framed = 0;
    for (i, c) in cases.iter().enumerate() {
        let what = format!(
            "{} suite 0x{:04x} frame {} len {}",
            c.keyring,
            c.suite.id(),
            c.frame,
            c.len
        );
        assert_eq!(results[i], json!({"ok": true}), "{what}");
        let message = std::fs::read(dir.path().join(format!("{i}.py"))).unwrap();
        let header = trent_esdk::Header::parse(&message).unwrap();
        assert_eq!(header.suite, c.suite, "{what}");
        if c.frame == 0 {
            assert_eq!(
                header.content_type,
                trent_esdk::ContentType::NonFramed,
                "{what}"
            );
            non_framed += 1;
        }
        let keyring = keys.keyring(c.keyring);
        let config = config_for(c.suite);
        let reproduced = DecryptRequest {
            encryption_context: context(),
            ..Default::default()
        };
        let out = decrypt(&config, keyring.as_ref(), &reproduced, &message)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            out.plaintext.expose_secret(),
            plaintext(i, c.len).as_slice(),
            "{what}"
        );
        // Strict policy: only committing suites are read.
        let strict = decrypt(
            &ClientConfig::default(),
            keyring.as_ref(),
            &reproduced,
            &message,
        );
        assert_eq!(strict.is_ok(), c.suite.is_committing(), "{what}");
        // A flipped byte in the body or footer, a truncation and a wrong context fail.
        let mut bad = message.clone();
        // The last 36 bytes are always body or footer (the smallest body: an empty
        // non-framed block).
        let at = message.len() - 1 - i % 36;
        bad[at] ^= 0x10;
        assert!(
            decrypt(&config, keyring.as_ref(), &reproduced, &bad).is_err(),
            "{what}: flip"
        );
        let cut = &message[..message.len() - 1];
        assert!(
            decrypt(&config, keyring.as_ref(), &reproduced, cut).is_err(),
            "{what}: cut"
        );
        let mut wrong = context();
        wrong.insert("purpose".into(), "other".into());
        let wrong = DecryptRequest {
            encryption_context: wrong,
            ..Default::default()
        };
        assert!(
            decrypt(&config, keyring.as_ref(), &wrong, &message).is_err(),
            "{what}: ec"
        );
    }
    assert_eq!(non_framed, 22);
}
