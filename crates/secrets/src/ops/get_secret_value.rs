//! GetSecretValue: one version's value, by VersionId and/or VersionStage (default AWSCURRENT).

use serde::{Deserialize, Serialize};
use trent_store::{SecretRecord, SecretVersionRecord};
use trent_wire::Validator;

use crate::model::{self, SecretBlob, SecretText};
use crate::{Caller, Secrets, SecretsError, Value};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
    version_id: Option<String>,
    version_stage: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(rename = "ARN")]
    pub arn: String,
    pub name: String,
    pub version_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_binary: Option<SecretBlob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_string: Option<SecretText>,
    pub version_stages: Vec<String>,
    pub created_date: f64,
}

/// The version a VersionId and/or VersionStage names; both must agree when both are given.
pub(crate) fn select<'a>(
    secret: &'a SecretRecord,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<&'a SecretVersionRecord, SecretsError> {
    let stage = match (version_id, stage) {
        (None, None) => Some(model::AWSCURRENT),
        (_, s) => s,
    };
    let found = secret.versions.iter().find(|v| {
        version_id.is_none_or(|id| v.version_id == id)
            && stage.is_none_or(|s| v.stages.iter().any(|x| x == s))
    });
    found.ok_or_else(|| {
        SecretsError::ResourceNotFound(match (version_id, stage) {
            (Some(id), Some(s)) => format!(
                "Secrets Manager can't find the specified secret value for VersionId: {id} and \
                 staging label: {s}"
            ),
            (Some(id), None) => {
                format!("Secrets Manager can't find the specified secret value for VersionId: {id}")
            }
            (None, Some(s)) => format!(
                "Secrets Manager can't find the specified secret value for staging label: {s}"
            ),
            (None, None) => "Secrets Manager can't find the specified secret value.".to_string(),
        })
    })
}

/// The response shape for a version and its decrypted value.
pub(crate) fn value_out(
    secret: &SecretRecord,
    version: &SecretVersionRecord,
    value: Value,
) -> Response {
    let (secret_string, secret_binary) = if value.kind == model::KIND_BINARY {
        (None, Some(SecretBlob(value.bytes)))
    } else {
        (Some(SecretText(value.bytes)), None)
    };
    Response {
        arn: secret.arn.clone(),
        name: secret.name.clone(),
        version_id: version.version_id.clone(),
        secret_binary,
        secret_string,
        version_stages: version.stages.clone(),
        created_date: trent_wire::timestamp::from_millis(version.created_ms),
    }
}

pub async fn handle(
    secrets: &Secrets,
    caller: &Caller,
    req: Request,
) -> Result<Response, SecretsError> {
    let mut v = Validator::new();
    model::check_secret_id(&mut v, &req.secret_id);
    model::check_token(&mut v, "versionId", req.version_id.as_deref());
    v.length("versionStage", req.version_stage.as_deref(), 1, 256);
    v.finish()?;
    let keys = |ctx: &mut trent_policy::RequestContext| {
        if let Some(id) = &req.version_id {
            ctx.insert("secretsmanager:VersionId", id.as_str());
        }
        // The stage in force: AWSCURRENT when neither member is given.
        let stage = match (&req.version_id, &req.version_stage) {
            (_, Some(s)) => Some(s.as_str()),
            (None, None) => Some(model::AWSCURRENT),
            (Some(_), None) => None,
        };
        if let Some(s) = stage {
            ctx.insert("secretsmanager:VersionStage", s);
        }
    };
    let secret = secrets
        .live_with(
            caller,
            req.secret_id.as_deref().unwrap_or_default(),
            "GetSecretValue",
            &keys,
        )
        .await?;
    secrets
        .read_value(
            caller,
            &secret,
            req.version_id.as_deref(),
            req.version_stage.as_deref(),
        )
        .await
}

impl Secrets {
    /// Reads, decrypts and notes the access of the version selected.
    pub(crate) async fn read_value(
        &self,
        caller: &Caller,
        secret: &SecretRecord,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Response, SecretsError> {
        let version = select(secret, version_id, stage)?;
        let value = self.decrypt(caller, secret, version).await?;
        self.touch(secret, version).await;
        Ok(value_out(secret, version, value))
    }
}
