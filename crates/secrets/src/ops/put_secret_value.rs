//! PutSecretValue: a new version, labelled AWSCURRENT unless VersionStages says otherwise.

use serde::{Deserialize, Serialize};
use trent_crypto::SecretBytes;
use trent_wire::Validator;

use crate::model;
use crate::ops::{Added, add_version, stages_member};
use crate::{Caller, Secrets, SecretsError, retrying};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
    client_request_token: Option<String>,
    #[serde(default, with = "model::secret_blob")]
    secret_binary: Option<SecretBytes>,
    #[serde(default, with = "model::secret_string")]
    secret_string: Option<SecretBytes>,
    version_stages: Option<Vec<String>>,
    rotation_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(rename = "ARN")]
    arn: String,
    name: String,
    version_id: String,
    version_stages: Vec<String>,
}

pub async fn handle(
    secrets: &Secrets,
    caller: &Caller,
    req: Request,
) -> Result<Response, SecretsError> {
    let mut v = Validator::new();
    model::check_secret_id(&mut v, &req.secret_id);
    model::check_token(
        &mut v,
        "clientRequestToken",
        req.client_request_token.as_deref(),
    );
    stages_member(&mut v, req.version_stages.as_ref());
    v.length("rotationToken", req.rotation_token.as_deref(), 36, 256);
    v.finish()?;
    let value = model::value_of(req.secret_string, req.secret_binary)?.ok_or_else(|| {
        SecretsError::InvalidParameter(
            "You must provide either SecretString or SecretBinary.".to_string(),
        )
    })?;
    let version_id = req
        .client_request_token
        .unwrap_or_else(model::new_version_id);
    let secret_id = req.secret_id.unwrap_or_default();
    let stages = req.version_stages;
    let req_rotation_token = req.rotation_token;
    retrying(|| async {
        let mut secret = secrets.live(caller, &secret_id, "PutSecretValue").await?;
        // A RotationToken must be the one of the rotation under way on this secret.
        if let Some(t) = &req_rotation_token
            && !secrets.rotation_token_valid(&secret, t).await?
        {
            return Err(SecretsError::InvalidRequest(
                "The RotationToken doesn't match a rotation in progress for this secret."
                    .to_string(),
            ));
        }
        let added = add_version(
            secrets,
            caller,
            &mut secret,
            &version_id,
            &value,
            stages.as_deref(),
        )
        .await?;
        let version_stages = match added {
            Added::Existing(stages) => stages,
            Added::New(new) => {
                secrets.save(caller, &secret, Some((&new, &value))).await?;
                new.record.stages
            }
        };
        Ok(Response {
            arn: secret.arn,
            name: secret.name,
            version_id: version_id.clone(),
            version_stages,
        })
    })
    .await
}
