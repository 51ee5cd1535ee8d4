//! `authz-setup`: an application identity as a production account would have it, so that the
//! Encrypt benchmark can run with authorization doing real work.
//!
//! As the account root it creates an IAM user with an access key, an inline identity policy
//! (allow with an `aws:SourceIp` condition) and an attached managed policy (explicit denies,
//! one conditional on the source address), a key-administrators role, and a symmetric key whose
//! key policy is the four-statement policy the AWS console writes: root delegation, key
//! administrators, key users and persistent-resource grants. Every Encrypt by that user then
//! evaluates the key policy and both identity policies.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Args;

use crate::client::Client;

#[derive(Args)]
pub struct AuthzSetupArgs {
    /// The account root (or another identity allowed to manage IAM and create keys).
    #[command(flatten)]
    pub conn: crate::Connection,

    /// Name of the IAM user to create.
    #[arg(long, default_value = "bench-app")]
    pub user_name: String,

    /// Write the user's new access key here, as a shared-credentials file with profile [trent].
    #[arg(long)]
    pub write_credentials: PathBuf,
}

/// The text of the first `<tag>` element in an XML document (the Query protocol's answers are
/// simple enough for this; values are XML-escaped only in characters secrets never contain).
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml.get(start..)?.find(&close)?;
    xml.get(start..start + len)
}

async fn query(client: &Client, params: &[(&str, &str)]) -> anyhow::Result<String> {
    let answer = client.call_form(params).await?;
    let body = String::from_utf8_lossy(&answer.body).into_owned();
    if answer.status != http::StatusCode::OK {
        let action = params
            .iter()
            .find(|(k, _)| *k == "Action")
            .map_or("?", |(_, v)| v);
        bail!("{action} failed: HTTP {}: {body}", answer.status);
    }
    Ok(body)
}

async fn kms(
    client: &Client,
    op: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let answer = client
        .call(
            &format!("TrentService.{op}"),
            Bytes::from(serde_json::to_vec(&body)?),
        )
        .await?;
    if answer.status != http::StatusCode::OK {
        bail!(
            "{op} failed: HTTP {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    serde_json::from_slice(&answer.body).with_context(|| format!("{op} answered with invalid JSON"))
}

const NETWORKS: [&str; 3] = ["127.0.0.0/8", "10.0.0.0/8", "192.168.0.0/16"];

fn key_policy(account: &str, user: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-consolepolicy-3",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "Allow access for Key Administrators",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:role/bench-key-admins")},
                "Action": [
                    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                    "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                    "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                    "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"
                ],
                "Resource": "*"
            },
            {
                "Sid": "Allow use of the key",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:user/{user}")},
                "Action": [
                    "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                    "kms:DescribeKey"
                ],
                "Resource": "*"
            },
            {
                "Sid": "Allow attachment of persistent resources",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:user/{user}")},
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}
            }
        ]
    })
}

fn inline_policy(account: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "UseApplicationKeys",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": format!("arn:aws:kms:*:{account}:key/*"),
                "Condition": {"IpAddress": {"aws:SourceIp": NETWORKS}}
            },
            {
                "Sid": "ReadConfiguration",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter", "ssm:GetParametersByPath"],
                "Resource": format!("arn:aws:ssm:*:{account}:parameter/app/*")
            }
        ]
    })
}

fn guardrail_policy() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "NoKeyDestruction",
                "Effect": "Deny",
                "Action": ["kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy"],
                "Resource": "*"
            },
            {
                "Sid": "OnlyFromOurNetworks",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"NotIpAddress": {"aws:SourceIp": NETWORKS}}
            }
        ]
    })
}

/// Runs the set-up; prints the new key's id.
pub async fn run(args: &AuthzSetupArgs) -> anyhow::Result<()> {
    let iam = args.conn.client("iam")?;
    let sts = args.conn.client("sts")?;
    let root_kms = args.conn.client("kms")?;
    let user = args.user_name.as_str();

    let me = query(
        &sts,
        &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
    )
    .await?;
    let account = xml_text(&me, "Account")
        .context("GetCallerIdentity answered without an Account")?
        .to_owned();

    const V: (&str, &str) = ("Version", "2010-05-08");
    query(&iam, &[("Action", "CreateUser"), V, ("UserName", user)]).await?;
    query(
        &iam,
        &[
            ("Action", "PutUserPolicy"),
            V,
            ("UserName", user),
            ("PolicyName", "application"),
            ("PolicyDocument", &inline_policy(&account).to_string()),
        ],
    )
    .await?;
    let created = query(
        &iam,
        &[
            ("Action", "CreatePolicy"),
            V,
            ("PolicyName", &format!("{user}-guardrails")),
            ("PolicyDocument", &guardrail_policy().to_string()),
        ],
    )
    .await?;
    let policy_arn = xml_text(&created, "Arn").context("CreatePolicy answered without an Arn")?;
    query(
        &iam,
        &[
            ("Action", "AttachUserPolicy"),
            V,
            ("UserName", user),
            ("PolicyArn", policy_arn),
        ],
    )
    .await?;
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": "sts:AssumeRole"
        }]
    });
    query(
        &iam,
        &[
            ("Action", "CreateRole"),
            V,
            ("RoleName", "bench-key-admins"),
            ("AssumeRolePolicyDocument", &trust.to_string()),
        ],
    )
    .await?;
    let key = query(
        &iam,
        &[("Action", "CreateAccessKey"), V, ("UserName", user)],
    )
    .await?;
    let id = xml_text(&key, "AccessKeyId").context("CreateAccessKey answered without a key id")?;
    let secret =
        xml_text(&key, "SecretAccessKey").context("CreateAccessKey answered without a secret")?;
    std::fs::write(
        &args.write_credentials,
        format!("[trent]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"),
    )
    .with_context(|| format!("cannot write {}", args.write_credentials.display()))?;

    let created = kms(
        &root_kms,
        "CreateKey",
        serde_json::json!({
            "Description": "trent-bench: realistic key policy",
            "Policy": key_policy(&account, user).to_string()
        }),
    )
    .await?;
    let Some(key_id) = created
        .pointer("/KeyMetadata/KeyId")
        .and_then(|k| k.as_str())
    else {
        bail!("CreateKey response has no KeyMetadata.KeyId");
    };

    // The user can encrypt under the key and cannot destroy it: the policies are in force.
    let as_user = crate::Connection {
        credentials_file: Some(args.write_credentials.clone()),
        profile: "trent".into(),
        ..args.conn.clone()
    }
    .client("kms")?;
    kms(
        &as_user,
        "Encrypt",
        serde_json::json!({"KeyId": key_id, "Plaintext": "AAAA"}),
    )
    .await
    .context("the new user cannot encrypt under the new key")?;
    let answer = as_user
        .call(
            "TrentService.ScheduleKeyDeletion",
            Bytes::from(serde_json::to_vec(&serde_json::json!({"KeyId": key_id}))?),
        )
        .await?;
    if answer.status == http::StatusCode::OK {
        bail!("the guardrail policy did not stop ScheduleKeyDeletion");
    }
    println!("{key_id}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_query_answers() {
        let xml = "<CreateAccessKeyResponse><CreateAccessKeyResult><AccessKey>\
                   <AccessKeyId>AKIAX</AccessKeyId><SecretAccessKey>s/e+c</SecretAccessKey>\
                   </AccessKey></CreateAccessKeyResult></CreateAccessKeyResponse>";
        assert_eq!(xml_text(xml, "AccessKeyId"), Some("AKIAX"));
        assert_eq!(xml_text(xml, "SecretAccessKey"), Some("s/e+c"));
        assert_eq!(xml_text(xml, "Arn"), None);
    }
}
