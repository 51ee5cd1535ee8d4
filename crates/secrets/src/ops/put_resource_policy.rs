//! PutResourcePolicy: attaches a resource policy to a secret (replacing any), refusing a
//! malformed one and, with BlockPublicPolicy, one that opens the secret to everyone.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model;
use crate::{Caller, Secrets, SecretsError, retrying};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
    resource_policy: Option<String>,
    block_public_policy: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(rename = "ARN")]
    arn: String,
    name: String,
}

/// Parses a resource policy as MalformedPolicyDocumentException reports it.
pub(crate) fn parse(text: &str) -> Result<trent_policy::Policy, SecretsError> {
    trent_policy::Policy::parse(text, trent_policy::ParseOptions::RESOURCE)
        .map_err(|e| SecretsError::MalformedPolicyDocument(format!("{e}")))
}

pub(crate) const PUBLIC: &str = "The BlockPublicPolicy parameter is set to true, and the resource \
    policy did not prevent broad access to the secret.";

pub async fn handle(
    secrets: &Secrets,
    caller: &Caller,
    req: Request,
) -> Result<Response, SecretsError> {
    let mut v = Validator::new();
    model::check_secret_id(&mut v, &req.secret_id);
    v.required("resourcePolicy", &req.resource_policy);
    v.length("resourcePolicy", req.resource_policy.as_deref(), 1, 20_480);
    v.finish()?;
    let text = req.resource_policy.unwrap_or_default();
    let policy = parse(&text)?;
    let secret_id = req.secret_id.unwrap_or_default();
    let block = req.block_public_policy == Some(true);
    retrying(|| async {
        let keys = |ctx: &mut trent_policy::RequestContext| {
            ctx.insert("secretsmanager:BlockPublicPolicy", block);
        };
        let mut secret = secrets
            .live_with(caller, &secret_id, "PutResourcePolicy", &keys)
            .await?;
        if block && crate::authz::is_public(&policy, &secret, secrets.now_ms()) {
            return Err(SecretsError::PublicPolicy(PUBLIC.to_string()));
        }
        secret.resource_policy = Some(text.clone());
        secrets.save(caller, &secret, None).await?;
        Ok(Response {
            arn: secret.arn,
            name: secret.name,
        })
    })
    .await
}
