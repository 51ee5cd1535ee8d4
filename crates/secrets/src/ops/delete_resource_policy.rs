//! DeleteResourcePolicy: removes a secret's resource policy.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model;
use crate::{Caller, Secrets, SecretsError, retrying};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
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
    v.finish()?;
    let secret_id = req.secret_id.unwrap_or_default();
    retrying(|| async {
        let mut secret = secrets
            .live(caller, &secret_id, "DeleteResourcePolicy")
            .await?;
        if secret.resource_policy.is_some() {
            secret.resource_policy = None;
            secrets.save(caller, &secret, None).await?;
        }
        Ok(Response {
            arn: secret.arn,
            name: secret.name,
        })
    })
    .await
}
