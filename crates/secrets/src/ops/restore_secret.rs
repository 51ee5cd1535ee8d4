//! RestoreSecret: cancels a scheduled deletion.

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
            .existing(caller, &secret_id, "RestoreSecret")
            .await?;
        if secret.deleted_ms.is_some() {
            secret.deleted_ms = None;
            secret.purge_ms = None;
            secrets.save(caller, &secret, None).await?;
        }
        Ok(Response {
            arn: secret.arn,
            name: secret.name,
        })
    })
    .await
}
