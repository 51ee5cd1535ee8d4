//! The decrypt test vectors in `../shared/esdk-vectors` (or `$TRENT_ESDK_VECTORS`).
//!
//! Every vector whose keys are raw AES or raw RSA keys (or whose data key is given) must decrypt
//! to its plaintext; every negative vector must fail. Each test asserts the exact number of
//! vectors it ran, so a manifest that silently stops matching fails the test. When the
//! directory is absent the tests print why and pass without running anything.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use trent_crypto::SecretBytes;
use trent_esdk::keyring::{
    EncryptedDataKey, Keyring, MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding,
};
use trent_esdk::{
    AlgorithmSuite, CommitmentPolicy, DecryptConfig, DecryptRequest, Decrypted, DecryptingReader,
    EncryptionContext, Error, StreamOptions, decrypt,
};

type BoxedKeyring = Box<dyn Keyring + Send + Sync>;

fn vectors_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("TRENT_ESDK_VECTORS") {
        Some(d) => PathBuf::from(d),
        // The repository root is two levels above this crate.
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/esdk-vectors"),
    };
    if dir.join("index.json").is_file() {
        Some(dir)
    } else {
        println!(
            "SKIPPED: no ESDK test vectors at {} (set TRENT_ESDK_VECTORS)",
            dir.display()
        );
        None
    }
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn uri(base: &Path, u: &str) -> PathBuf {
    base.join(u.strip_prefix("file://").unwrap_or(u))
}

/// Key material given as one string or a list of lines.
fn material(v: &Value, sep: &str) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect::<Vec<_>>()
            .join(sep),
        _ => panic!("bad key material"),
    }
}

fn pem_to_der(pem: &str) -> SecretBytes {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    SecretBytes::new(b64(&body))
}

fn padding(alg: &str, hash: Option<&str>) -> RsaPadding {
    match (
        alg.to_ascii_lowercase().as_str(),
        hash.map(str::to_ascii_lowercase),
    ) {
        ("pkcs1", _) => RsaPadding::Pkcs1,
        ("oaep-mgf1", Some(h)) => match h.replace('-', "").as_str() {
            "sha1" => RsaPadding::OaepSha1,
            "sha256" => RsaPadding::OaepSha256,
            "sha384" => RsaPadding::OaepSha384,
            "sha512" => RsaPadding::OaepSha512,
            other => panic!("unknown OAEP hash {other}"),
        },
        other => panic!("unknown RSA padding {other:?}"),
    }
}

fn context(v: &Value) -> EncryptionContext {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Decrypts in memory and through the streaming reader; the two must agree.
fn decrypt_both(
    config: &DecryptConfig,
    keyring: &dyn Keyring,
    request: &DecryptRequest,
    message: &[u8],
) -> Result<Decrypted, Error> {
    use std::io::Read as _;
    let whole = decrypt(config, keyring, request, message);
    let options = StreamOptions {
        allow_unverified_streaming: false,
        max_buffered: usize::MAX,
    };
    let streamed =
        DecryptingReader::new(config, keyring, request, options, message).and_then(|mut r| {
            let mut out = Vec::new();
            r.read_to_end(&mut out).map_err(Error::Io)?;
            Ok(out)
        });
    match (&whole, &streamed) {
        (Ok(d), Ok(s)) => assert_eq!(d.plaintext.expose_secret(), s.as_slice()),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "in-memory and streaming decrypt disagree: {:?} / {:?}",
            whole.as_ref().err(),
            streamed.as_ref().err()
        ),
    }
    whole
}

fn allow_all() -> DecryptConfig {
    DecryptConfig {
        commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
        max_encrypted_data_keys: None,
    }
}

/// Counts for one set, printed and checked at the end.
#[derive(Default)]
struct Tally {
    passed: usize,
    negative_rejected: usize,
    skipped: BTreeMap<String, usize>,
    failures: Vec<String>,
}

impl Tally {
    fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_owned()).or_default() += 1;
    }

    fn positive(&mut self, id: &str, result: Result<trent_esdk::Decrypted, Error>, want: &[u8]) {
        match result {
            Ok(d) if d.plaintext.expose_secret() == want => self.passed += 1,
            Ok(_) => self.failures.push(format!("{id}: wrong plaintext")),
            Err(e) => self.failures.push(format!("{id}: {e}")),
        }
    }

    fn negative(
        &mut self,
        id: &str,
        result: Result<trent_esdk::Decrypted, Error>,
    ) -> Option<Error> {
        match result {
            Ok(_) => {
                self.failures
                    .push(format!("{id}: negative vector decrypted"));
                None
            }
            Err(e) => {
                self.negative_rejected += 1;
                Some(e)
            }
        }
    }

    fn finish(self, set: &str, passed: usize, negative: usize) {
        println!(
            "{set}: {} passed, {} negative rejected, skipped {:?}, {} failures",
            self.passed,
            self.negative_rejected,
            self.skipped,
            self.failures.len()
        );
        assert!(
            self.failures.is_empty(),
            "{set}: {} failures:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
        assert_eq!(
            (self.passed, self.negative_rejected),
            (passed, negative),
            "{set}"
        );
    }
}

#[test]
fn legacy_python_1_3_0() {
    let Some(root) = vectors_dir() else { return };
    let dir = root.join("legacy-python-1.3.0");
    let manifest = json(&dir.join("manifests/ciphertext.manifest"));
    let index = json(&dir.join("raw-key-index.json"));
    let keys = &manifest["test_keys"];
    let plaintext = std::fs::read(dir.join("plaintext/small")).unwrap();
    let by_ct: BTreeMap<&str, &Value> = index["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["ciphertext"].as_str().unwrap(), c))
        .collect();
    let mut tally = Tally::default();
    for case in manifest["test_cases"].as_array().unwrap() {
        let ct_name = case["ciphertext"]["filename"].as_str().unwrap();
        if case["master_keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["provider_id"] == "aws-kms")
        {
            tally.skip("AWS KMS master key");
            continue;
        }
        let with = &by_ct[ct_name]["decrypt_with"];
        let name = with["key_name"].as_str().unwrap();
        let (alg, bits) = (
            with["test_keys_entry"][0].as_str().unwrap(),
            with["test_keys_entry"][1].as_str().unwrap(),
        );
        let entry = &keys[alg][bits];
        let namespace = with["provider_id"].as_str().unwrap();
        let keyring: BoxedKeyring = if alg == "AES" {
            let key = SecretBytes::new(b64(&material(&entry["key"], "")));
            Box::new(RawAesKeyring::new(namespace, name, &key).unwrap())
        } else {
            let sep = entry["line_separator"].as_str().unwrap_or("\n");
            let der = pem_to_der(&material(&entry["key"], sep));
            let pad = if name.contains("PKCS1") {
                RsaPadding::Pkcs1
            } else {
                padding("oaep-mgf1", name.rsplit('.').next())
            };
            Box::new(RawRsaKeyring::new(namespace, name, &der, pad).unwrap())
        };
        let message = std::fs::read(dir.join(ct_name)).unwrap();
        let result = decrypt_both(
            &allow_all(),
            &*keyring,
            &DecryptRequest::default(),
            &message,
        );
        tally.positive(ct_name, result, &plaintext);
    }
    tally.finish("legacy-python-1.3.0", 900, 0);
}

/// A keyring from a manifest v4/v5 key description; `None` (with a reason) if it cannot
/// decrypt here.
fn keyring_from_description(
    desc: &Value,
    keys: &Value,
) -> Result<(BoxedKeyring, Vec<String>), &'static str> {
    match desc["type"].as_str().unwrap() {
        "raw" => {
            let key = &keys[desc["key"].as_str().unwrap()];
            let name = key["key-id"].as_str().unwrap();
            let namespace = desc["provider-id"].as_str().unwrap();
            match (
                desc["encryption-algorithm"].as_str().unwrap(),
                key["type"].as_str().unwrap(),
            ) {
                ("aes", _) => {
                    let k = SecretBytes::new(b64(&material(&key["material"], "")));
                    Ok((
                        Box::new(RawAesKeyring::new(namespace, name, &k).unwrap()),
                        vec![],
                    ))
                }
                ("rsa", "private") => {
                    let der = pem_to_der(&material(&key["material"], "\n"));
                    let pad = padding(
                        desc["padding-algorithm"].as_str().unwrap(),
                        desc["padding-hash"].as_str(),
                    );
                    Ok((
                        Box::new(RawRsaKeyring::new(namespace, name, &der, pad).unwrap()),
                        vec![],
                    ))
                }
                ("rsa", _) => Err("raw RSA public key (cannot decrypt)"),
                _ => Err("unknown raw key"),
            }
        }
        "multi-keyring" => {
            let generator = match desc.get("generator") {
                Some(g) if !g.is_null() => Some(keyring_from_description(g, keys)?.0),
                _ => None,
            };
            let mut children = Vec::new();
            for c in desc["childKeyrings"].as_array().into_iter().flatten() {
                children.push(keyring_from_description(c, keys)?.0);
            }
            Ok((Box::new(MultiKeyring::new(generator, children)), vec![]))
        }
        "required-encryption-context-cmm" => {
            let (k, _) = keyring_from_description(&desc["underlying"], keys)?;
            let required = desc["requiredEncryptionContextKeys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect();
            Ok((k, required))
        }
        "aws-kms" | "aws-kms-mrk-aware" | "aws-kms-mrk-aware-discovery" => {
            Err("AWS KMS master key (needs an AWS account)")
        }
        "raw-ecdh" => Err("raw ECDH keyring (not implemented)"),
        "aws-kms-hierarchy" => Err("hierarchical keyring (not implemented)"),
        _ => Err("unknown key description"),
    }
}

fn dafny_manifest(file: &str) -> Tally {
    let mut tally = Tally::default();
    let Some(root) = vectors_dir() else {
        return tally;
    };
    let dir = root.join("dafny-4.1.0-v5");
    let manifest = json(&dir.join(file));
    assert_eq!(manifest["manifest"]["version"], 5);
    let keys = &json(&dir.join("keys.json"))["keys"];
    for (id, test) in manifest["tests"].as_object().unwrap() {
        let s = &test["decryption-scenario"];
        assert_eq!(s["type"], "positive-esdk");
        let (keyring, required) = match keyring_from_description(&s["decryptKeyDescription"], keys)
        {
            Ok(k) => k,
            Err(reason) => {
                tally.skip(reason);
                continue;
            }
        };
        let message = std::fs::read(uri(&dir, s["ciphertext"].as_str().unwrap())).unwrap();
        let want = std::fs::read(uri(&dir, s["result"].as_str().unwrap())).unwrap();
        let request = DecryptRequest {
            encryption_context: context(&s["reproduced-encryption-context"]),
            required_encryption_context_keys: required,
        };
        let result = decrypt_both(&allow_all(), &*keyring, &request, &message);
        tally.positive(id, result, &want);
    }
    tally
}

#[test]
fn dafny_4_1_0_raw_aes_rsa() {
    let Some(_) = vectors_dir() else { return };
    dafny_manifest("decrypt-manifest.raw-aes-rsa.json").finish("dafny raw-aes-rsa", 187, 0);
}

#[test]
fn dafny_4_1_0_raw_ecdh_and_hierarchy_are_reported_as_skipped() {
    let Some(_) = vectors_dir() else { return };
    let ecdh = dafny_manifest("decrypt-manifest.raw-ecdh.json");
    assert_eq!(
        ecdh.skipped.get("raw ECDH keyring (not implemented)"),
        Some(&99)
    );
    ecdh.finish("dafny raw-ecdh", 0, 0);
    let hierarchy = dafny_manifest("decrypt-manifest.hierarchy-static-branch-key.json");
    assert_eq!(
        hierarchy
            .skipped
            .get("hierarchical keyring (not implemented)"),
        Some(&11)
    );
    hierarchy.finish("dafny hierarchy", 0, 0);
}

/// ESDK-NET manifests (v4). Returns the tally and the errors of the negative vectors.
fn net_manifest(set: &str) -> Option<(Tally, Vec<Error>)> {
    let root = vectors_dir()?;
    let dir = root.join(set);
    let manifest = json(&dir.join("manifest.json"));
    assert_eq!(manifest["manifest"]["version"], 4);
    let keys = &json(&dir.join("keys.json"))["keys"];
    let mut tally = Tally::default();
    let mut errors = Vec::new();
    for (id, test) in manifest["tests"].as_object().unwrap() {
        let mut keyrings = Vec::new();
        let mut skip = None;
        for mk in test["master-keys"].as_array().unwrap() {
            match keyring_from_description(mk, keys) {
                Ok((k, _)) => keyrings.push(k),
                // A second EDK for a public key is simply not used for decryption.
                Err("raw RSA public key (cannot decrypt)") => {}
                Err(reason) => skip = Some(reason),
            }
        }
        if let Some(reason) = skip {
            tally.skip(reason);
            continue;
        }
        let ec = context(&test["encryption-context"]);
        let required = match test["cmm"].as_str().unwrap() {
            "Default" => vec![],
            "RequiredEncryptionContext" => ec.keys().cloned().collect(),
            other => panic!("unknown cmm {other}"),
        };
        let request = DecryptRequest {
            encryption_context: ec,
            required_encryption_context_keys: required,
        };
        let keyring = MultiKeyring::new(None, keyrings);
        let message = std::fs::read(uri(&dir, test["ciphertext"].as_str().unwrap())).unwrap();
        let result = decrypt_both(&allow_all(), &keyring, &request, &message);
        if let Some(pt) = test["result"]["output"]["plaintext"].as_str() {
            tally.positive(id, result, &std::fs::read(uri(&dir, pt)).unwrap());
        } else {
            assert!(test["result"]["error"].is_object(), "{id}");
            errors.extend(tally.negative(id, result));
        }
    }
    Some((tally, errors))
}

#[test]
fn net_4_0_1_v4() {
    if let Some((t, _)) = net_manifest("net-4.0.1-v4") {
        t.finish("net-4.0.1-v4", 99, 0);
    }
}

#[test]
fn net_4_0_0_valid() {
    if let Some((t, _)) = net_manifest("net-4.0.0-valid") {
        t.finish("net-4.0.0-valid", 5, 0);
    }
}

#[test]
fn net_4_0_0_invalid_all_fail_header_authentication() {
    if let Some((t, errors)) = net_manifest("net-4.0.0-invalid") {
        t.finish("net-4.0.0-invalid", 0, 28);
        for e in errors {
            assert!(matches!(e, Error::HeaderAuthentication), "{e}");
        }
    }
}

/// Hands out a fixed data key (the vectors give it in the clear).
struct StaticKeyring(SecretBytes);

impl Keyring for StaticKeyring {
    fn decrypt_data_key(
        &self,
        _: AlgorithmSuite,
        _: &EncryptionContext,
        _: &[EncryptedDataKey],
    ) -> Result<SecretBytes, Error> {
        Ok(self.0.duplicate())
    }
}

#[test]
fn python_commitment_vectors() {
    let Some(root) = vectors_dir() else { return };
    let file = json(&root.join("python-commitment/commitment-test-vectors.json"));
    let mut tally = Tally::default();
    for (i, t) in file["tests"].as_array().unwrap().iter().enumerate() {
        let id = format!("commitment test {i}");
        let keyring = StaticKeyring(SecretBytes::new(b64(t["decrypted-dek"].as_str().unwrap())));
        let message = b64(t["ciphertext"].as_str().unwrap());
        let request = DecryptRequest {
            encryption_context: context(&t["encryption-context"]),
            ..DecryptRequest::default()
        };
        // The default policy, REQUIRE_ENCRYPT_REQUIRE_DECRYPT.
        let result = decrypt_both(&DecryptConfig::default(), &keyring, &request, &message);
        let ok = matches!(&t["status"], Value::Bool(true))
            || t["status"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("true"));
        if ok {
            let want: String = t["plaintext-frames"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| f.as_str().unwrap())
                .collect();
            tally.positive(&id, result, want.as_bytes());
        } else if let Some(e) = tally.negative(&id, result) {
            assert!(matches!(e, Error::KeyCommitment), "{id}: {e}");
        }
    }
    tally.finish("python-commitment", 41, 5);
}

#[test]
fn python_decrypt_oracle_vectors() {
    let Some(root) = vectors_dir() else { return };
    let file = json(&root.join("python-decrypt-oracle/decrypt_vectors.json"));
    let mut tally = Tally::default();
    for (i, t) in file.as_array().unwrap().iter().enumerate() {
        let suite_id = u16::from_str_radix(t["algorithm-suite"].as_str().unwrap(), 16).unwrap();
        let len = AlgorithmSuite::from_id(suite_id).unwrap().key_len();
        let key: Vec<u8> = match t["key-type"].as_str().unwrap() {
            "null" => vec![0; len],
            "test_counting" => (1..=u8::try_from(len).unwrap()).collect(),
            other => {
                tally.skip(other);
                continue;
            }
        };
        let keyring = StaticKeyring(SecretBytes::new(key));
        let message = b64(t["ciphertext"].as_str().unwrap());
        let result = decrypt_both(&allow_all(), &keyring, &DecryptRequest::default(), &message);
        tally.positive(
            &format!("oracle {i}"),
            result,
            &b64(t["plaintext"].as_str().unwrap()),
        );
    }
    tally.finish("python-decrypt-oracle", 18, 0);
}
