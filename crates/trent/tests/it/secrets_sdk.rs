//! Secrets Manager through the AWS SDK for Rust, unchanged but for the endpoint URL: every
//! operation Trent serves and the model errors that apply to it.

use std::collections::HashMap;

use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SortOrderType, Tag};

use crate::harness::{TestServer, code, message};

const TOKEN_A: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const TOKEN_B: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

fn sorted(stages: &[String]) -> Vec<String> {
    let mut s = stages.to_vec();
    s.sort();
    s
}

/// VersionIdsToStages as a map with sorted label lists.
fn stage_map(map: Option<&HashMap<String, Vec<String>>>) -> HashMap<String, Vec<String>> {
    map.cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, sorted(&v)))
        .collect()
}

#[tokio::test]
async fn secrets_sdk_create_get_put_update_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let sm = server.secrets_manager("us-east-1");

    let created = sm
        .create_secret()
        .name("sdk/db")
        .secret_string("first")
        .description("database")
        .tags(tag("team", "core"))
        .client_request_token(TOKEN_A)
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_string();
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:"),
        "{arn}"
    );
    assert_eq!(created.name(), Some("sdk/db"));
    assert_eq!(created.version_id(), Some(TOKEN_A));
    assert!(created.replication_status().is_empty());

    // The same token and value again answers as the first request did; another value is refused.
    let again = sm
        .create_secret()
        .name("sdk/db")
        .secret_string("first")
        .client_request_token(TOKEN_A)
        .send()
        .await
        .unwrap();
    assert_eq!(again.arn(), Some(arn.as_str()));
    let err = sm
        .create_secret()
        .name("sdk/db")
        .secret_string("other")
        .client_request_token(TOKEN_A)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceExistsException");
    // Model errors of CreateSecret.
    let err = sm
        .create_secret()
        .name("bad name")
        .secret_string("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let err = sm
        .create_secret()
        .name("sdk/both")
        .secret_string("x")
        .secret_binary(Blob::new(b"y".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let err = sm
        .create_secret()
        .name("sdk/big")
        .secret_string("x".repeat(65_537))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = sm
        .create_secret()
        .name("sdk/tags")
        .secret_string("x")
        .tags(tag("aws:reserved", "x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let err = sm
        .create_secret()
        .name("sdk/nokey")
        .secret_string("x")
        .kms_key_id("alias/none")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "EncryptionFailure");

    // GetSecretValue by name, ARN and partial ARN; by id, by stage; both must agree.
    for id in ["sdk/db", arn.as_str(), arn.get(..arn.len() - 7).unwrap()] {
        let got = sm.get_secret_value().secret_id(id).send().await.unwrap();
        assert_eq!(got.secret_string(), Some("first"));
        assert_eq!(got.arn(), Some(arn.as_str()));
        assert_eq!(got.version_id(), Some(TOKEN_A));
        assert_eq!(got.version_stages(), ["AWSCURRENT"]);
        assert!(got.created_date().is_some());
    }
    let err = sm
        .get_secret_value()
        .secret_id("sdk/none")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = sm
        .get_secret_value()
        .secret_id("sdk/db")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");

    // PutSecretValue: AWSCURRENT moves, AWSPREVIOUS follows; binary values round-trip.
    let put = sm
        .put_secret_value()
        .secret_id("sdk/db")
        .secret_binary(Blob::new(vec![0u8, 1, 2, 255]))
        .client_request_token(TOKEN_B)
        .send()
        .await
        .unwrap();
    assert_eq!(put.version_id(), Some(TOKEN_B));
    assert_eq!(put.version_stages(), ["AWSCURRENT"]);
    let got = sm
        .get_secret_value()
        .secret_id("sdk/db")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.secret_binary().map(|b| b.as_ref().to_vec()),
        Some(vec![0u8, 1, 2, 255])
    );
    assert_eq!(got.secret_string(), None);
    let prev = sm
        .get_secret_value()
        .secret_id("sdk/db")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(prev.secret_string(), Some("first"));
    let err = sm
        .get_secret_value()
        .secret_id("sdk/db")
        .version_id(TOKEN_A)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    // A retried put is a no-op; the same token with another value is refused.
    let retried = sm
        .put_secret_value()
        .secret_id("sdk/db")
        .secret_binary(Blob::new(vec![0u8, 1, 2, 255]))
        .client_request_token(TOKEN_B)
        .send()
        .await
        .unwrap();
    assert_eq!(retried.version_stages(), ["AWSCURRENT"]);
    let err = sm
        .put_secret_value()
        .secret_id("sdk/db")
        .secret_string("changed")
        .client_request_token(TOKEN_B)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceExistsException");
    let err = sm
        .put_secret_value()
        .secret_id("sdk/db")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let err = sm
        .put_secret_value()
        .secret_id("sdk/none")
        .secret_string("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    // More than 20 labels.
    let many: Vec<String> = (0..20).map(|i| format!("L{i}")).collect();
    let err = sm
        .put_secret_value()
        .secret_id("sdk/db")
        .secret_string("labels")
        .set_version_stages(Some(many))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "LimitExceededException", "{}", message(&err));

    // UpdateSecret: description only, then a value (a new AWSCURRENT version).
    sm.update_secret()
        .secret_id("sdk/db")
        .description("changed")
        .send()
        .await
        .unwrap();
    let updated = sm
        .update_secret()
        .secret_id("sdk/db")
        .secret_string("third")
        .send()
        .await
        .unwrap();
    let v3 = updated.version_id().unwrap().to_string();
    let described = sm.describe_secret().secret_id(&arn).send().await.unwrap();
    assert_eq!(described.description(), Some("changed"));
    assert_eq!(described.name(), Some("sdk/db"));
    assert_eq!(described.rotation_enabled(), Some(false));
    assert_eq!(described.tags(), [tag("team", "core")]);
    assert_eq!(described.primary_region(), None);
    assert!(described.replication_status().is_empty());
    let stages = stage_map(described.version_ids_to_stages());
    assert_eq!(
        stages.len(),
        2,
        "the first version is deprecated: {stages:?}"
    );
    assert_eq!(stages[&v3], ["AWSCURRENT"]);
    assert_eq!(stages[TOKEN_B], ["AWSPREVIOUS"]);
    let err = sm
        .update_secret()
        .secret_id("sdk/none")
        .description("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");

    // ListSecretVersionIds, with and without the deprecated version.
    let listed = sm
        .list_secret_version_ids()
        .secret_id("sdk/db")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.versions().len(), 2);
    assert_eq!(listed.arn(), Some(arn.as_str()));
    let all = sm
        .list_secret_version_ids()
        .secret_id("sdk/db")
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert_eq!(all.versions().len(), 3);
    let err = sm
        .list_secret_version_ids()
        .secret_id("sdk/db")
        .next_token("garbage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidNextTokenException");

    // UpdateSecretVersionStage: roll AWSCURRENT back; AWSPREVIOUS follows.
    sm.update_secret_version_stage()
        .secret_id("sdk/db")
        .version_stage("AWSCURRENT")
        .move_to_version_id(TOKEN_B)
        .remove_from_version_id(&v3)
        .send()
        .await
        .unwrap();
    let described = sm
        .describe_secret()
        .secret_id("sdk/db")
        .send()
        .await
        .unwrap();
    let stages = stage_map(described.version_ids_to_stages());
    assert_eq!(stages[TOKEN_B], ["AWSCURRENT"]);
    assert_eq!(stages[&v3], ["AWSPREVIOUS"]);
    // AWSCURRENT can be moved, never just removed; a label elsewhere needs RemoveFromVersionId.
    let err = sm
        .update_secret_version_stage()
        .secret_id("sdk/db")
        .version_stage("AWSCURRENT")
        .remove_from_version_id(TOKEN_B)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let err = sm
        .update_secret_version_stage()
        .secret_id("sdk/db")
        .version_stage("AWSCURRENT")
        .move_to_version_id(&v3)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let err = sm
        .update_secret_version_stage()
        .secret_id("sdk/db")
        .version_stage("BLUE")
        .move_to_version_id("cccccccc-cccc-4ccc-8ccc-cccccccccccc")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");

    server.stop().await;
}

#[tokio::test]
async fn secrets_sdk_list_batch_tags_policies_deletion_password() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let sm = server.secrets_manager("us-east-1");
    for (name, value) in [("list/a", "va"), ("list/b", "vb"), ("other/c", "vc")] {
        sm.create_secret()
            .name(name)
            .secret_string(value)
            .tags(tag("env", name.split('/').next().unwrap()))
            .send()
            .await
            .unwrap();
    }

    // ListSecrets: filters, order, pages.
    let listed = sm
        .list_secrets()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::Name)
                .values("list/")
                .build(),
        )
        .sort_order(SortOrderType::Desc)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = listed
        .secret_list()
        .iter()
        .filter_map(|s| s.name())
        .collect();
    assert_eq!(names, ["list/b", "list/a"]);
    let first = sm.list_secrets().max_results(2).send().await.unwrap();
    assert_eq!(first.secret_list().len(), 2);
    let rest = sm
        .list_secrets()
        .max_results(2)
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.secret_list().len(), 1);
    assert_eq!(rest.next_token(), None);
    let err = sm
        .list_secrets()
        .next_token("garbage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidNextTokenException");
    let tagged = sm
        .list_secrets()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::TagValue)
                .values("other")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(tagged.secret_list().len(), 1);
    assert_eq!(tagged.secret_list()[0].name(), Some("other/c"));

    // BatchGetSecretValue: by ids (a missing one goes to Errors), by filters; not both.
    let batch = sm
        .batch_get_secret_value()
        .secret_id_list("list/a")
        .secret_id_list("list/none")
        .send()
        .await
        .unwrap();
    assert_eq!(batch.secret_values().len(), 1);
    assert_eq!(batch.secret_values()[0].secret_string(), Some("va"));
    assert_eq!(batch.errors().len(), 1);
    assert_eq!(batch.errors()[0].secret_id(), Some("list/none"));
    assert_eq!(
        batch.errors()[0].error_code(),
        Some("ResourceNotFoundException")
    );
    let by_filter = sm
        .batch_get_secret_value()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::Name)
                .values("list/")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut values: Vec<&str> = by_filter
        .secret_values()
        .iter()
        .filter_map(|v| v.secret_string())
        .collect();
    values.sort();
    assert_eq!(values, ["va", "vb"]);
    let err = sm
        .batch_get_secret_value()
        .secret_id_list("list/a")
        .filters(
            Filter::builder()
                .key(FilterNameStringType::Name)
                .values("list/")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");

    // TagResource / UntagResource.
    sm.tag_resource()
        .secret_id("list/a")
        .tags(tag("owner", "me"))
        .tags(tag("env", "changed"))
        .send()
        .await
        .unwrap();
    sm.untag_resource()
        .secret_id("list/a")
        .tag_keys("owner")
        .send()
        .await
        .unwrap();
    let d = sm
        .describe_secret()
        .secret_id("list/a")
        .send()
        .await
        .unwrap();
    assert_eq!(d.tags(), [tag("env", "changed")]);
    let err = sm
        .tag_resource()
        .secret_id("list/a")
        .tags(tag("aws:x", "y"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let err = sm
        .untag_resource()
        .secret_id("list/none")
        .tag_keys("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");

    // Resource policies.
    let account = "000000000000";
    let private = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}]}}"#
    );
    let public = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    sm.put_resource_policy()
        .secret_id("list/a")
        .resource_policy(&private)
        .block_public_policy(true)
        .send()
        .await
        .unwrap();
    let got = sm
        .get_resource_policy()
        .secret_id("list/a")
        .send()
        .await
        .unwrap();
    assert_eq!(got.resource_policy(), Some(private.as_str()));
    let err = sm
        .put_resource_policy()
        .secret_id("list/a")
        .resource_policy(public)
        .block_public_policy(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PublicPolicyException");
    let err = sm
        .put_resource_policy()
        .secret_id("list/a")
        .resource_policy("{not json")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "MalformedPolicyDocumentException");
    let validated = sm
        .validate_resource_policy()
        .resource_policy(public)
        .send()
        .await
        .unwrap();
    assert!(!validated.policy_validation_passed());
    assert!(validated.validation_errors()[0].error_message().is_some());
    let validated = sm
        .validate_resource_policy()
        .secret_id("list/a")
        .resource_policy(&private)
        .send()
        .await
        .unwrap();
    assert!(validated.policy_validation_passed());
    sm.delete_resource_policy()
        .secret_id("list/a")
        .send()
        .await
        .unwrap();
    let got = sm
        .get_resource_policy()
        .secret_id("list/a")
        .send()
        .await
        .unwrap();
    assert_eq!(got.resource_policy(), None);

    // DeleteSecret with a window: reads refused, restore, forced deletion.
    let err = sm
        .delete_secret()
        .secret_id("list/b")
        .recovery_window_in_days(6)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let err = sm
        .delete_secret()
        .secret_id("list/b")
        .recovery_window_in_days(7)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let deleted = sm
        .delete_secret()
        .secret_id("list/b")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert!(deleted.deletion_date().is_some());
    let err = sm
        .get_secret_value()
        .secret_id("list/b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRequestException");
    let d = sm
        .describe_secret()
        .secret_id("list/b")
        .send()
        .await
        .unwrap();
    assert!(d.deleted_date().is_some());
    let listed = sm.list_secrets().send().await.unwrap();
    assert_eq!(listed.secret_list().len(), 2);
    let listed = sm
        .list_secrets()
        .include_planned_deletion(true)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.secret_list().len(), 3);
    sm.restore_secret()
        .secret_id("list/b")
        .send()
        .await
        .unwrap();
    let got = sm
        .get_secret_value()
        .secret_id("list/b")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("vb"));
    let err = sm
        .restore_secret()
        .secret_id("list/none")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    sm.delete_secret()
        .secret_id("list/b")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let err = sm
        .describe_secret()
        .secret_id("list/b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");

    // GetRandomPassword.
    let pw = sm
        .get_random_password()
        .password_length(40)
        .exclude_punctuation(true)
        .send()
        .await
        .unwrap();
    let pw = pw.random_password().unwrap();
    assert_eq!(pw.len(), 40);
    assert!(pw.chars().all(|c| c.is_ascii_alphanumeric()), "{pw}");
    let err = sm
        .get_random_password()
        .exclude_numbers(true)
        .exclude_punctuation(true)
        .exclude_uppercase(true)
        .exclude_lowercase(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let err = sm
        .get_random_password()
        .password_length(4097)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");

    server.stop().await;
}
