//! Nothing secret reaches the disk in the clear: the database and its WAL hold no key material,
//! no plaintext, no data key and no access-key secret, in raw, hex or base64 form.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::Engine as _;
use trent_store::Scope;

use crate::harness::TestServer;

fn forms(secret: &[u8]) -> Vec<Vec<u8>> {
    vec![
        secret.to_vec(),
        trent_crypto::hex(secret).into_bytes(),
        trent_crypto::hex(secret).to_uppercase().into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(secret)
            .trim_end_matches('=')
            .as_bytes()
            .to_vec(),
    ]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn database_bytes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("trent.db") {
            out.push((name, std::fs::read(&path).unwrap()));
        }
    }
    assert!(out.iter().any(|(n, _)| n == "trent.db"));
    out
}

#[tokio::test]
async fn no_secret_is_written_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let kms = server.client();
    let plaintext = b"PLAINTEXT-MARKER-5f2b9c1e-never-on-disk".to_vec();
    let mut secrets: Vec<(String, Vec<u8>)> = vec![
        ("plaintext".into(), plaintext.clone()),
        (
            "access key secret".into(),
            server.secret_access_key.as_bytes().to_vec(),
        ),
    ];
    let root_key_hex = std::fs::read_to_string(dir.path().join("root.key")).unwrap();
    let root_key_hex = root_key_hex
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .trim();
    secrets.push((
        "root key".into(),
        trent_crypto::unhex(root_key_hex).unwrap(),
    ));

    let mut key_ids = Vec::new();
    for i in 0..5 {
        let key = kms
            .create_key()
            .description(format!("k{i}"))
            .send()
            .await
            .unwrap();
        let id = key.key_metadata().unwrap().key_id().to_string();
        kms.encrypt()
            .key_id(&id)
            .plaintext(Blob::new(plaintext.clone()))
            .send()
            .await
            .unwrap();
        let dk = kms
            .generate_data_key()
            .key_id(&id)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await
            .unwrap();
        secrets.push((
            format!("data key {i}"),
            dk.plaintext().unwrap().as_ref().to_vec(),
        ));
        key_ids.push(id);
    }
    // Disable and re-enable so the key rows are rewritten too.
    kms.disable_key().key_id(&key_ids[0]).send().await.unwrap();
    kms.enable_key().key_id(&key_ids[0]).send().await.unwrap();

    let scope = Scope::new("000000000000", "us-east-1");
    for id in &key_ids {
        let materials = server.state.store.key_materials(&scope, id).await.unwrap();
        assert_eq!(materials.len(), 1);
        for m in materials {
            assert_eq!(m.secret.len(), 32);
            secrets.push((
                format!("material of {id}"),
                m.secret.expose_secret().to_vec(),
            ));
        }
    }
    // Check while running (WAL full) and after a clean stop (checkpointed).
    for phase in ["running", "stopped"] {
        for (file, bytes) in database_bytes(dir.path()) {
            for (what, secret) in &secrets {
                for form in forms(secret) {
                    assert!(
                        !contains(&bytes, &form),
                        "{what} found in {file} while {phase}"
                    );
                }
            }
        }
        if phase == "running" {
            server.state.kms.flush_key_usage().await.unwrap();
            server.state.store.close().await;
        }
    }
    server.stop().await;
}
