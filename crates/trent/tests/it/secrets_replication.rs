//! Secrets Manager replication: one server serving three regions of one account, the AWS SDK
//! for Rust in each region, and the `aws` CLI with `--region`.

use std::collections::HashMap;

use aws_sdk_secretsmanager::types::{ReplicaRegionType, StatusType, Tag};
use serde_json::Value;

use crate::cli::{Client, dirs, find_aws};
use crate::harness::{TestServer, code, message};

const US: &str = "us-east-1";
const EU: &str = "eu-west-1";
const WEST: &str = "us-west-2";
/// A well-formed region this server does not serve.
const FAR: &str = "ap-south-1";

async fn start(dir: &std::path::Path) -> TestServer {
    TestServer::start_with(dir, |o| {
        o.regions = vec![US.to_string(), EU.to_string(), WEST.to_string()];
    })
    .await
}

fn replica(region: &str, key: Option<&str>) -> ReplicaRegionType {
    let b = ReplicaRegionType::builder().region(region);
    match key {
        Some(k) => b.kms_key_id(k).build(),
        None => b.build(),
    }
}

fn in_region(arn: &str, region: &str) -> String {
    arn.replacen(US, region, 1)
}

/// VersionIdsToStages with sorted label lists.
fn stages(
    d: &aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput,
) -> HashMap<String, Vec<String>> {
    d.version_ids_to_stages()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, mut v)| {
            v.sort();
            (k, v)
        })
        .collect()
}

#[tokio::test]
async fn secrets_replicas_follow_the_primary_and_are_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let (us, eu, west) = (
        server.secrets_manager(US),
        server.secrets_manager(EU),
        server.secrets_manager(WEST),
    );
    // A customer managed key for the EU replica.
    let kms_eu = server.client_as(&server.access_key_id, &server.secret_access_key, EU);
    let key = kms_eu.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    kms_eu
        .create_alias()
        .alias_name("alias/replica")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();

    let created = us
        .create_secret()
        .name("rep/db")
        .secret_string("v1")
        .description("first")
        .tags(Tag::builder().key("team").value("core").build())
        .add_replica_regions(replica(EU, Some("alias/replica")))
        .add_replica_regions(replica(WEST, None))
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_string();
    let v1 = created.version_id().unwrap().to_string();
    let status = created.replication_status();
    assert_eq!(status.len(), 2, "{status:?}");
    assert_eq!(status[0].region(), Some(EU));
    assert_eq!(status[0].kms_key_id(), Some("alias/replica"));
    assert_eq!(status[0].status(), Some(&StatusType::InSync));
    assert_eq!(status[1].region(), Some(WEST));
    assert_eq!(status[1].kms_key_id(), Some("alias/aws/secretsmanager"));
    assert_eq!(status[1].status(), Some(&StatusType::InSync));

    // The replica: same name, version and value; the ARN of its region with the same suffix.
    for (sm, region) in [(&eu, EU), (&west, WEST)] {
        let got = sm
            .get_secret_value()
            .secret_id("rep/db")
            .send()
            .await
            .unwrap();
        assert_eq!(got.secret_string(), Some("v1"));
        assert_eq!(got.arn(), Some(in_region(&arn, region).as_str()));
        assert_eq!(got.version_id(), Some(v1.as_str()));
        let d = sm
            .describe_secret()
            .secret_id(in_region(&arn, region))
            .send()
            .await
            .unwrap();
        assert_eq!(d.primary_region(), Some(US));
        assert!(d.replication_status().is_empty());
        assert_eq!(d.description(), Some("first"));
        assert_eq!(d.tags().len(), 1);
    }
    let d = eu
        .describe_secret()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap();
    assert_eq!(d.kms_key_id(), Some("alias/replica"));
    // The primary lists its replicas; a replica read shows as its LastAccessedDate.
    let d = us
        .describe_secret()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap();
    assert_eq!(d.primary_region(), Some(US));
    assert_eq!(d.replication_status().len(), 2);
    assert!(d.replication_status()[0].last_accessed_date().is_some());
    assert_eq!(
        d.replication_status()[0].status_message(),
        Some("Replication succeeded")
    );

    // Every change of the primary reaches the replicas.
    let v2 = us
        .put_secret_value()
        .secret_id("rep/db")
        .secret_string("v2")
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string();
    us.update_secret()
        .secret_id("rep/db")
        .description("second")
        .send()
        .await
        .unwrap();
    us.tag_resource()
        .secret_id("rep/db")
        .tags(Tag::builder().key("env").value("prod").build())
        .send()
        .await
        .unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    us.put_resource_policy()
        .secret_id("rep/db")
        .resource_policy(policy)
        .send()
        .await
        .unwrap();
    let got = eu
        .get_secret_value()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("v2"));
    let prev = eu
        .get_secret_value()
        .secret_id("rep/db")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(prev.secret_string(), Some("v1"));
    let d = eu
        .describe_secret()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap();
    assert_eq!(d.description(), Some("second"));
    assert_eq!(d.tags().len(), 2);
    let p = eu
        .get_resource_policy()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap();
    assert_eq!(p.resource_policy(), Some(policy));
    // A roll-back of AWSCURRENT on the primary.
    us.update_secret_version_stage()
        .secret_id("rep/db")
        .version_stage("AWSCURRENT")
        .move_to_version_id(&v1)
        .remove_from_version_id(&v2)
        .send()
        .await
        .unwrap();
    let primary = us
        .describe_secret()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap();
    let replica_d = west
        .describe_secret()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap();
    assert_eq!(stages(&primary), stages(&replica_d));
    assert_eq!(stages(&replica_d)[&v1], ["AWSCURRENT"]);
    assert_eq!(stages(&replica_d)[&v2], ["AWSPREVIOUS"]);

    // A replica is read-only.
    let refusals = [
        eu.put_secret_value()
            .secret_id("rep/db")
            .secret_string("x")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| (code(&e), message(&e))),
        eu.update_secret()
            .secret_id("rep/db")
            .description("x")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| (code(&e), message(&e))),
        eu.tag_resource()
            .secret_id("rep/db")
            .tags(Tag::builder().key("k").value("v").build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| (code(&e), message(&e))),
        eu.untag_resource()
            .secret_id("rep/db")
            .tag_keys("team")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| (code(&e), message(&e))),
        eu.update_secret_version_stage()
            .secret_id("rep/db")
            .version_stage("BLUE")
            .move_to_version_id(&v1)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| (code(&e), message(&e))),
        eu.delete_resource_policy()
            .secret_id("rep/db")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| (code(&e), message(&e))),
        eu.delete_secret()
            .secret_id("rep/db")
            .force_delete_without_recovery(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| (code(&e), message(&e))),
        eu.replicate_secret_to_regions()
            .secret_id("rep/db")
            .add_replica_regions(replica(US, None))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| (code(&e), message(&e))),
        eu.remove_regions_from_replication()
            .secret_id("rep/db")
            .remove_replica_regions(WEST)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| (code(&e), message(&e))),
    ];
    for r in refusals {
        let (c, m) = r.unwrap_err();
        assert_eq!(c, "InvalidRequestException", "{m}");
        assert!(m.contains("replica"), "{m}");
    }
    assert_eq!(
        eu.get_secret_value()
            .secret_id("rep/db")
            .version_id(&v1)
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("v1")
    );

    // The EU replica is encrypted under the EU key: disabled, EU reads fail while the primary
    // and the other replica still read; the primary's next write marks EU Failed.
    kms_eu.disable_key().key_id(&key_id).send().await.unwrap();
    let err = eu
        .get_secret_value()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DecryptionFailure");
    assert!(
        us.get_secret_value()
            .secret_id("rep/db")
            .send()
            .await
            .is_ok()
    );
    assert!(
        west.get_secret_value()
            .secret_id("rep/db")
            .send()
            .await
            .is_ok()
    );
    us.put_secret_value()
        .secret_id("rep/db")
        .secret_string("v3")
        .send()
        .await
        .unwrap();
    let d = us
        .describe_secret()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap();
    let s = d.replication_status();
    assert_eq!(s[0].region(), Some(EU));
    assert_eq!(s[0].status(), Some(&StatusType::Failed));
    assert!(
        s[0].status_message()
            .unwrap()
            .contains("Replication failed"),
        "{s:?}"
    );
    assert_eq!(s[1].status(), Some(&StatusType::InSync));
    assert_eq!(
        west.get_secret_value()
            .secret_id("rep/db")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("v3")
    );
    // Enabled again, the next change of the primary brings EU up to date.
    kms_eu.enable_key().key_id(&key_id).send().await.unwrap();
    us.put_secret_value()
        .secret_id("rep/db")
        .secret_string("v4")
        .send()
        .await
        .unwrap();
    let d = us
        .describe_secret()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.replication_status()[0].status(),
        Some(&StatusType::InSync)
    );
    assert_eq!(
        eu.get_secret_value()
            .secret_id("rep/db")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("v4")
    );
    let listed_eu = stages(
        &eu.describe_secret()
            .secret_id("rep/db")
            .send()
            .await
            .unwrap(),
    );
    let listed_us = stages(
        &us.describe_secret()
            .secret_id("rep/db")
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(listed_eu, listed_us);

    // ListSecrets shows PrimaryRegion in both regions, and filters on it.
    for sm in [&us, &eu] {
        let l = sm.list_secrets().send().await.unwrap();
        assert_eq!(l.secret_list().len(), 1);
        assert_eq!(l.secret_list()[0].primary_region(), Some(US));
        let f = sm
            .list_secrets()
            .filters(
                aws_sdk_secretsmanager::types::Filter::builder()
                    .key(aws_sdk_secretsmanager::types::FilterNameStringType::PrimaryRegion)
                    .values(US)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(f.secret_list().len(), 1);
    }

    // A primary with replicas cannot be deleted.
    let err = us
        .delete_secret()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRequestException");

    // RemoveRegionsFromReplication deletes the replica at once.
    let removed = us
        .remove_regions_from_replication()
        .secret_id("rep/db")
        .remove_replica_regions(WEST)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.arn(), Some(arn.as_str()));
    assert_eq!(removed.replication_status().len(), 1);
    assert_eq!(removed.replication_status()[0].region(), Some(EU));
    let err = west
        .get_secret_value()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = us
        .remove_regions_from_replication()
        .secret_id("rep/db")
        .remove_replica_regions(WEST)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let err = us
        .remove_regions_from_replication()
        .secret_id("rep/none")
        .remove_replica_regions(WEST)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");

    // StopReplicationToReplica: only on a replica, in its region; promotes it.
    let err = us
        .stop_replication_to_replica()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRequestException");
    let err = west
        .stop_replication_to_replica()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let stopped = eu
        .stop_replication_to_replica()
        .secret_id(in_region(&arn, EU))
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.arn(), Some(in_region(&arn, EU).as_str()));
    let d = eu
        .describe_secret()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap();
    assert_eq!(d.primary_region(), None);
    assert_eq!(d.kms_key_id(), Some("alias/replica"));
    let d = us
        .describe_secret()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap();
    assert_eq!(d.primary_region(), None);
    assert!(d.replication_status().is_empty());
    // Both are standalone now: each changes on its own.
    eu.put_secret_value()
        .secret_id("rep/db")
        .secret_string("eu only")
        .send()
        .await
        .unwrap();
    us.put_secret_value()
        .secret_id("rep/db")
        .secret_string("us only")
        .send()
        .await
        .unwrap();
    let got = eu
        .get_secret_value()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("eu only"));
    us.delete_secret()
        .secret_id("rep/db")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    assert!(
        eu.describe_secret()
            .secret_id("rep/db")
            .send()
            .await
            .is_ok()
    );

    server.stop().await;
}

#[tokio::test]
async fn secrets_replication_conflicts_overwrite_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let (us, eu) = (server.secrets_manager(US), server.secrets_manager(EU));

    eu.create_secret()
        .name("clash")
        .secret_string("mine")
        .send()
        .await
        .unwrap();
    let theirs = us
        .create_secret()
        .name("clash")
        .secret_string("theirs")
        .send()
        .await
        .unwrap();
    let arn = theirs.arn().unwrap().to_string();

    // The name is taken in EU: Failed, and the EU secret stays as it was.
    let out = us
        .replicate_secret_to_regions()
        .secret_id("clash")
        .add_replica_regions(replica(EU, None))
        .send()
        .await
        .unwrap();
    assert_eq!(out.arn(), Some(arn.as_str()));
    let s = &out.replication_status()[0];
    assert_eq!(s.status(), Some(&StatusType::Failed));
    assert!(
        s.status_message().unwrap().contains("already exists"),
        "{s:?}"
    );
    let got = eu
        .get_secret_value()
        .secret_id("clash")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("mine"));
    assert_eq!(
        eu.describe_secret()
            .secret_id("clash")
            .send()
            .await
            .unwrap()
            .primary_region(),
        None
    );
    // Writes to the EU secret are still its own (it is not a replica).
    eu.put_secret_value()
        .secret_id("clash")
        .secret_string("still mine")
        .send()
        .await
        .unwrap();

    // ForceOverwriteReplicaSecret replaces it.
    let out = us
        .replicate_secret_to_regions()
        .secret_id(&arn)
        .add_replica_regions(replica(EU, None))
        .force_overwrite_replica_secret(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.replication_status()[0].status(),
        Some(&StatusType::InSync)
    );
    let got = eu
        .get_secret_value()
        .secret_id("clash")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("theirs"));
    assert_eq!(got.arn(), Some(in_region(&arn, EU).as_str()));
    let versions = eu
        .list_secret_version_ids()
        .secret_id("clash")
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        versions.versions().len(),
        1,
        "the old secret's versions are gone"
    );

    // Already replicated there; the primary's own region; a region not served; twice in a list.
    for (region, wanted) in [
        (EU, "InvalidParameterException"),
        (US, "InvalidParameterException"),
        (FAR, "InvalidParameterException"),
    ] {
        let err = us
            .replicate_secret_to_regions()
            .secret_id("clash")
            .add_replica_regions(replica(region, None))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), wanted, "{region}: {}", message(&err));
    }
    let err = us
        .create_secret()
        .name("twice")
        .secret_string("x")
        .add_replica_regions(replica(EU, None))
        .add_replica_regions(replica(EU, None))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let err = us
        .create_secret()
        .name("badregion")
        .secret_string("x")
        .add_replica_regions(replica("EU_WEST", None))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = us
        .replicate_secret_to_regions()
        .secret_id("none")
        .add_replica_regions(replica(EU, None))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    // Scheduled for deletion: refused.
    us.create_secret()
        .name("leaving")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    us.delete_secret()
        .secret_id("leaving")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let err = us
        .replicate_secret_to_regions()
        .secret_id("leaving")
        .add_replica_regions(replica(EU, None))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRequestException");

    // A replica key that does not exist: the primary is created, the replica Failed; a retry
    // with a usable key succeeds.
    let out = us
        .create_secret()
        .name("nokey")
        .secret_string("x")
        .add_replica_regions(replica(EU, Some("alias/none")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.replication_status()[0].status(),
        Some(&StatusType::Failed)
    );
    let err = eu
        .get_secret_value()
        .secret_id("nokey")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let out = us
        .replicate_secret_to_regions()
        .secret_id("nokey")
        .add_replica_regions(replica(EU, None))
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.replication_status()[0].status(),
        Some(&StatusType::InSync)
    );
    assert_eq!(
        eu.get_secret_value()
            .secret_id("nokey")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("x")
    );

    // Secrets without a value replicate too; a later value reaches the replica.
    us.create_secret()
        .name("empty")
        .add_replica_regions(replica(EU, None))
        .send()
        .await
        .unwrap();
    us.put_secret_value()
        .secret_id("empty")
        .secret_string("later")
        .send()
        .await
        .unwrap();
    assert_eq!(
        eu.get_secret_value()
            .secret_id("empty")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("later")
    );

    server.stop().await;
}

/// The same through the `aws` CLI, region by region with `--region`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_replication_cli() {
    let Some(aws) = find_aws().await else {
        return;
    };
    let (data, scratch) = dirs();
    let server = start(data.path()).await;
    let cli = Client::new(&aws, &server, scratch.path());
    let text = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };

    let created = cli
        .ok(&format!(
            "secretsmanager create-secret --name cli/db --secret-string one \
             --add-replica-regions Region={EU} --region {US}"
        ))
        .await;
    assert_eq!(text(&created, "/ReplicationStatus/0/Status"), "InSync");
    let got = cli
        .ok(&format!(
            "secretsmanager get-secret-value --secret-id cli/db --region {EU}"
        ))
        .await;
    assert_eq!(text(&got, "/SecretString"), "one");
    let out = cli
        .ok(&format!(
            "secretsmanager replicate-secret-to-regions --secret-id cli/db \
             --add-replica-regions Region={WEST},KmsKeyId=alias/aws/secretsmanager --region {US}"
        ))
        .await;
    assert_eq!(out["ReplicationStatus"].as_array().unwrap().len(), 2);
    for s in out["ReplicationStatus"].as_array().unwrap() {
        assert_eq!(s["Status"], "InSync", "{out}");
    }
    cli.fails(
        &format!(
            "secretsmanager put-secret-value --secret-id cli/db --secret-string x --region {WEST}"
        ),
        "InvalidRequestException",
    )
    .await;
    let d = cli
        .ok(&format!(
            "secretsmanager describe-secret --secret-id cli/db --region {WEST}"
        ))
        .await;
    assert_eq!(text(&d, "/PrimaryRegion"), US);
    cli.ok(&format!(
        "secretsmanager remove-regions-from-replication --secret-id cli/db \
         --remove-replica-regions {WEST} --region {US}"
    ))
    .await;
    cli.fails(
        &format!("secretsmanager get-secret-value --secret-id cli/db --region {WEST}"),
        "ResourceNotFoundException",
    )
    .await;
    let stopped = cli
        .ok(&format!(
            "secretsmanager stop-replication-to-replica --secret-id cli/db --region {EU}"
        ))
        .await;
    assert!(text(&stopped, "/ARN").contains(EU), "{stopped}");
    cli.ok(&format!(
        "secretsmanager put-secret-value --secret-id cli/db --secret-string mine --region {EU}"
    ))
    .await;
    server.stop().await;
}

/// Rotation and replication together: a replica is rotated through its primary (RotateSecret
/// in the replica's region is refused as AWS refuses it), a primary with replicas takes a
/// rotation configuration, and a secret with one can be replicated. That a rotation's new
/// value reaches the replicas is shown with a real rotation in
/// `secrets_rotation::rotation_postgresql_single_user_and_alternating_users`.
#[tokio::test]
async fn rotation_configuration_and_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let (us, eu) = (server.secrets_manager(US), server.secrets_manager(EU));
    let rotator =
        "arn:aws:lambda:us-east-1:000000000000:function:trent-rotator-postgresql-single-user";
    let db = r#"{"engine":"postgres","host":"127.0.0.1","username":"u","password":"p"}"#;
    let rules = || {
        aws_sdk_secretsmanager::types::RotationRulesType::builder()
            .automatically_after_days(30)
            .build()
    };

    us.create_secret()
        .name("replicated")
        .secret_string(db)
        .add_replica_regions(replica(EU, None))
        .send()
        .await
        .unwrap();
    let err = eu
        .rotate_secret()
        .secret_id("replicated")
        .rotation_lambda_arn(rotator)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRequestException");
    assert!(
        message(&err).contains("Operation not permitted on a replica secret"),
        "{}",
        message(&err)
    );
    us.rotate_secret()
        .secret_id("replicated")
        .rotation_lambda_arn(rotator)
        .rotation_rules(rules())
        .rotate_immediately(false)
        .send()
        .await
        .unwrap();
    let d = us
        .describe_secret()
        .secret_id("replicated")
        .send()
        .await
        .unwrap();
    assert_eq!(d.rotation_enabled(), Some(true));

    us.create_secret()
        .name("rotating")
        .secret_string(db)
        .send()
        .await
        .unwrap();
    us.rotate_secret()
        .secret_id("rotating")
        .rotation_lambda_arn(rotator)
        .rotation_rules(rules())
        .rotate_immediately(false)
        .send()
        .await
        .unwrap();
    us.replicate_secret_to_regions()
        .secret_id("rotating")
        .add_replica_regions(replica(EU, None))
        .send()
        .await
        .unwrap();
    let got = eu
        .get_secret_value()
        .secret_id("rotating")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some(db));
    server.stop().await;
}
