//! GetResourcePolicy: a secret's resource policy, if it has one.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model;
use crate::{Caller, Secrets, SecretsError};

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
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_policy: Option<String>,
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
        .live(
            caller,
            req.secret_id.as_deref().unwrap_or_default(),
            "GetResourcePolicy",
        )
        .await?;
    Ok(Response {
        arn: secret.arn,
        name: secret.name,
        resource_policy: secret.resource_policy,
    })
}
