//! UpdateSecret: the description and KMS key, and a new AWSCURRENT version when a value is
//! given.

use serde::{Deserialize, Serialize};
use trent_crypto::SecretBytes;
use trent_wire::Validator;

use crate::model;
use crate::ops::{Added, add_version};
use crate::{Caller, Secrets, SecretsError, retrying};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
    client_request_token: Option<String>,
    description: Option<String>,
    kms_key_id: Option<String>,
    #[serde(default, with = "model::secret_blob")]
    secret_binary: Option<SecretBytes>,
    #[serde(default, with = "model::secret_string")]
    secret_string: Option<SecretBytes>,
    #[serde(rename = "Type")]
    secret_type: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(rename = "ARN")]
    arn: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_id: Option<String>,
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
    v.length("description", req.description.as_deref(), 0, 2048);
    v.length("kmsKeyId", req.kms_key_id.as_deref(), 0, 2048);
    v.length("type", req.secret_type.as_deref(), 0, 256);
    v.finish()?;
    let value = model::value_of(req.secret_string, req.secret_binary)?;
    let version_id = value.as_ref().map(|_| {
        req.client_request_token
            .clone()
            .unwrap_or_else(model::new_version_id)
    });
    let secret_id = req.secret_id.unwrap_or_default();
    retrying(|| async {
        let mut secret = secrets.live(caller, &secret_id, "UpdateSecret").await?;
        let now = secrets.now_ms();
        if let Some(d) = &req.description {
            secret.description = Some(d.clone());
            secret.last_changed_ms = now;
        }
        if let Some(k) = &req.kms_key_id {
            // An empty KmsKeyId goes back to the AWS managed key. The new key protects the
            // versions written from now on.
            secret.kms_key_id = Some(k.clone()).filter(|k| !k.is_empty());
            secret.last_changed_ms = now;
        }
        let new = match (&value, &version_id) {
            (Some(value), Some(id)) => {
                match add_version(secrets, caller, &mut secret, id, value, None).await? {
                    Added::New(n) => Some(n),
                    Added::Existing(_) => None,
                }
            }
            _ => None,
        };
        secrets
            .save(caller, &secret, new.as_ref().zip(value.as_ref()))
            .await?;
        Ok(Response {
            arn: secret.arn,
            name: secret.name,
            version_id: version_id.clone(),
        })
    })
    .await
}
