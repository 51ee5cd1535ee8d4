//! CancelRotateSecret: turns automatic rotation off and cancels a rotation under way. As in
//! AWS, the AWSPENDING version of a cancelled rotation stays where it is (remove the label with
//! UpdateSecretVersionStage before the next rotation); the rotator and the rules are kept.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::rotation::STATE_TESTING;
use crate::{Caller, Secrets, SecretsError, model};

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
    version_id: Option<String>,
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
            "CancelRotateSecret",
        )
        .await?;
    let mut version_id = None;
    let (scope, name) = (&secret.scope, &secret.name);
    if let Some(mut record) = secrets.store().get_secret_rotation(scope, name).await? {
        // A trial of RotateImmediately=false is no rotation: it removes its copy of AWSCURRENT
        // when it ends, or now when no task runs it any more.
        let mut testing = record.state.as_deref() == Some(STATE_TESTING);
        if testing && !secrets.is_running(scope, name) {
            secrets.end_trial(scope, name).await?;
            record = secrets
                .store()
                .get_secret_rotation(scope, name)
                .await?
                .unwrap_or_default();
            testing = false;
        }
        if !testing {
            version_id = record.token.take();
            record.rotation_token = None;
            record.step = None;
            record.state = None;
        }
        record.enabled = false;
        record.window_start_ms = None;
        record.window_end_ms = None;
        secrets
            .store()
            .put_secret_rotation(scope, name, &record)
            .await?;
    }
    Ok(Response {
        arn: secret.arn,
        name: secret.name,
        version_id,
    })
}
