//! `trent migrate`, `trent backup` and `trent restore` through the binary: an embedded
//! deployment moved onto PostgreSQL keeps every key, parameter and ciphertext, and a backup of
//! the PostgreSQL store restores into a new embedded one. Skipped, saying why, when
//! TRENT_TEST_POSTGRES_URL is unset.

use std::path::Path;
use std::process::Command;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_ssm::types::ParameterType;

use crate::harness::read_credentials;
use crate::multi_node::Database;
use crate::store_faults::{Node, ssm_client, start_node};

fn kms_client(node: &Node, data_dir: &Path) -> aws_sdk_kms::Client {
    let (id, secret) = read_credentials(data_dir);
    aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new("us-east-1"))
            .endpoint_url(&node.endpoint)
            .credentials_provider(aws_sdk_kms::config::Credentials::new(
                id,
                secret,
                None,
                None,
                "trent-tests",
            ))
            .build(),
    )
}

fn stop(mut node: Node) {
    let status = Command::new("kill")
        .args(["-TERM", &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(node.child.wait().unwrap().success());
}

fn trent(args: &[&str], data_dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "trent {args:?}: {text}");
    text
}

async fn check(node: &Node, data_dir: &Path, key_id: &str, ciphertext: &Blob) {
    let plaintext = kms_client(node, data_dir)
        .decrypt()
        .key_id(key_id)
        .ciphertext_blob(ciphertext.clone())
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap();
    assert_eq!(plaintext.as_ref(), b"moved with its store");
    let value = ssm_client(&node.endpoint, data_dir)
        .get_parameter()
        .name("/moved/p")
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap()
        .value
        .unwrap();
    assert_eq!(value, "still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_deployment_moves_to_postgresql_and_back_through_a_backup() {
    let Some(db) = Database::fresh("migrate").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path(), "sqlite");
    let kms = kms_client(&node, dir.path());
    let key_id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let ciphertext = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"moved with its store".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    ssm_client(&node.endpoint, dir.path())
        .put_parameter()
        .name("/moved/p")
        .value("still here")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
    stop(node);

    // Onto PostgreSQL: the data directory now names it, and a start without --store uses it.
    let out = trent(&["migrate", "--to", &db.url], dir.path());
    assert!(out.contains("migrated"), "{out}");
    assert!(dir.path().join("store-url").exists());
    // A second migrate finds nothing embedded to move.
    let again = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["migrate", "--to", &db.url, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    let node = start_node(dir.path(), "");
    check(&node, dir.path(), &key_id, &ciphertext).await;

    // A backup of the PostgreSQL store, taken while the node serves, restores into a new
    // embedded store that opens with the same root key.
    let backup_file = dir.path().join("snapshot.trent-backup");
    let out = trent(
        &["backup", "--out", backup_file.to_str().unwrap()],
        dir.path(),
    );
    assert!(out.contains("backed up"), "{out}");
    stop(node);
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("root.key"),
        restored.path().join("root.key"),
    )
    .unwrap();
    std::fs::copy(
        dir.path().join("root-credentials"),
        restored.path().join("root-credentials"),
    )
    .unwrap();
    let out = trent(
        &[
            "restore",
            "--store",
            "sqlite",
            "--from",
            backup_file.to_str().unwrap(),
        ],
        restored.path(),
    );
    assert!(out.contains("restored"), "{out}");
    let node = start_node(restored.path(), "");
    check(&node, restored.path(), &key_id, &ciphertext).await;
    stop(node);
    // Restoring twice into the same store is refused.
    let twice = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["restore", "--store", "sqlite", "--from"])
        .arg(&backup_file)
        .arg("--data-dir")
        .arg(restored.path())
        .output()
        .unwrap();
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("not empty"));
    db.drop_now().await;
}
