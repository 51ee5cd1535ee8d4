//! DescribeSecret: a secret's metadata (also while it is scheduled for deletion).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trent_store::SecretRecord;
use trent_wire::Validator;
use trent_wire::timestamp::from_millis;

use crate::model::{self, Tag};
use crate::{Caller, Secrets, SecretsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
}

/// DescribeSecret's answer, also the `SourceResult` of a Parameter Store reference.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(rename = "ARN")]
    arn: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_key_id: Option<String>,
    rotation_enabled: bool,
    last_changed_date: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_accessed_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_date: Option<f64>,
    tags: Vec<Tag>,
    version_ids_to_stages: BTreeMap<String, Vec<String>>,
    created_date: f64,
    /// PrimaryRegion and ReplicationStatus.
    #[serde(flatten)]
    pub(crate) replication: crate::replication::Replication,
    // Rotation (see `with_rotation`).
    #[serde(rename = "RotationLambdaARN", skip_serializing_if = "Option::is_none")]
    rotation_lambda_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_rules: Option<crate::schedule::RotationRules>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_rotated_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_rotation_date: Option<f64>,
}

/// Adds a secret's rotation fields: RotationEnabled, RotationLambdaARN, RotationRules,
/// LastRotatedDate and NextRotationDate (the last second of the next rotation window).
pub(crate) fn with_rotation(
    mut response: Response,
    rotation: Option<&trent_store::SecretRotationRecord>,
) -> Response {
    let Some(r) = rotation else {
        return response;
    };
    response.rotation_enabled = r.enabled;
    response.rotation_lambda_arn = r.lambda_arn.clone();
    let rules = crate::rotation::stored_rules(r);
    response.rotation_rules = (!rules.is_empty()).then_some(rules);
    response.last_rotated_date = r.last_rotated_ms.map(from_millis);
    response.next_rotation_date = crate::rotation::next_rotation_ms(r).map(from_millis);
    response
}

pub(crate) fn describe(secret: &SecretRecord) -> Response {
    Response {
        arn: secret.arn.clone(),
        name: secret.name.clone(),
        description: secret.description.clone(),
        kms_key_id: secret.kms_key_id.clone(),
        rotation_enabled: false,
        last_changed_date: from_millis(secret.last_changed_ms),
        last_accessed_date: secret.last_accessed_ms.map(from_millis),
        deleted_date: secret.deleted_ms.map(from_millis),
        tags: model::tags_out(&secret.tags),
        version_ids_to_stages: model::versions_to_stages(secret),
        created_date: from_millis(secret.created_ms),
        replication: Default::default(),
        rotation_lambda_arn: None,
        rotation_rules: None,
        last_rotated_date: None,
        next_rotation_date: None,
    }
}

pub async fn handle(
    secrets: &Secrets,
    caller: &Caller,
    req: Request,
) -> Result<Response, SecretsError> {
    let mut v = Validator::new();
    model::check_secret_id(&mut v, &req.secret_id);
    v.finish()?;
    let secret = secrets
        .existing(
            caller,
            req.secret_id.as_deref().unwrap_or_default(),
            "DescribeSecret",
        )
        .await?;
    let rotation = secrets
        .store()
        .get_secret_rotation(&secret.scope, &secret.name)
        .await?;
    let mut out = with_rotation(describe(&secret), rotation.as_ref());
    out.replication = secrets.replication(&secret).await?;
    Ok(out)
}
