//! DeleteSecret: schedules the deletion after a recovery window (7–30 days, default 30), or
//! deletes at once with ForceDeleteWithoutRecovery.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model;
use crate::{Caller, Secrets, SecretsError, retrying};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
    recovery_window_in_days: Option<i64>,
    force_delete_without_recovery: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(rename = "ARN")]
    arn: String,
    name: String,
    deletion_date: f64,
}

pub async fn handle(
    secrets: &Secrets,
    caller: &Caller,
    req: Request,
) -> Result<Response, SecretsError> {
    let mut v = Validator::new();
    model::check_secret_id(&mut v, &req.secret_id);
    v.finish()?;
    let force = req.force_delete_without_recovery == Some(true);
    if force && req.recovery_window_in_days.is_some() {
        return Err(SecretsError::InvalidParameter(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
                .to_string(),
        ));
    }
    let days = req.recovery_window_in_days.unwrap_or(30);
    if !(7..=30).contains(&days) {
        return Err(SecretsError::InvalidParameter(
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).".to_string(),
        ));
    }
    let secret_id = req.secret_id.unwrap_or_default();
    retrying(|| async {
        let mut secret = secrets.existing(caller, &secret_id, "DeleteSecret").await?;
        secrets.refuse_replicated(&secret).await?;
        let now = secrets.now_ms();
        if force {
            if !secrets
                .store()
                .delete_secret(&secret.scope, &secret.name, secret.revision)
                .await?
            {
                return Err(trent_store::StoreError::Conflict.into());
            }
            tracing::info!(secret = %secret.arn, "secret deleted without recovery");
            return Ok(Response {
                arn: secret.arn,
                name: secret.name,
                deletion_date: trent_wire::timestamp::from_millis(now),
            });
        }
        if secret.deleted_ms.is_some() {
            return Err(crate::marked_for_deletion());
        }
        let purge = now + days * model::DAY_MS;
        secret.deleted_ms = Some(now);
        secret.purge_ms = Some(purge);
        secrets.save(caller, &secret, None).await?;
        Ok(Response {
            arn: secret.arn,
            name: secret.name,
            deletion_date: trent_wire::timestamp::from_millis(purge),
        })
    })
    .await
}
