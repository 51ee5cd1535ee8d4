//! ListSecretVersionIds: a secret's versions; deprecated ones (no labels) only on request.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;
use trent_wire::timestamp::from_millis;

use crate::model;
use crate::{Caller, Secrets, SecretsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
    include_deprecated: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    version_id: String,
    version_stages: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_accessed_date: Option<f64>,
    created_date: f64,
    kms_key_ids: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    versions: Vec<Version>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    #[serde(rename = "ARN")]
    arn: String,
    name: String,
}

pub async fn handle(
    secrets: &Secrets,
    caller: &Caller,
    req: Request,
) -> Result<Response, SecretsError> {
    let mut v = Validator::new();
    model::check_secret_id(&mut v, &req.secret_id);
    v.range("maxResults", req.max_results, 1, 100);
    v.length("nextToken", req.next_token.as_deref(), 1, 4096);
    v.finish()?;
    let start = model::decode_token(req.next_token.as_deref())?;
    let secret = secrets
        .live(
            caller,
            req.secret_id.as_deref().unwrap_or_default(),
            "ListSecretVersionIds",
        )
        .await?;
    let all = req.include_deprecated == Some(true);
    let listed: Vec<_> = secret
        .versions
        .iter()
        .filter(|v| all || !v.stages.is_empty())
        .collect();
    if start > listed.len() {
        return Err(SecretsError::InvalidNextToken);
    }
    let max = usize::try_from(req.max_results.unwrap_or(100)).unwrap_or(100);
    let end = start.saturating_add(max).min(listed.len());
    Ok(Response {
        versions: listed
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .map(|v| Version {
                version_id: v.version_id.clone(),
                version_stages: v.stages.clone(),
                last_accessed_date: v.last_accessed_ms.map(from_millis),
                created_date: from_millis(v.created_ms),
                kms_key_ids: vec![v.kms_key_arn.clone()],
            })
            .collect(),
        next_token: (end < listed.len()).then(|| model::encode_token(end)),
        arn: secret.arn,
        name: secret.name,
    })
}
