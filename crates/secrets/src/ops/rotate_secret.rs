//! RotateSecret: configures rotation (RotationLambdaARN, RotationRules) and, unless
//! RotateImmediately is false, starts a rotation: a value-less AWSPENDING version with the
//! ClientRequestToken as its id, then the four steps in a task of their own (see
//! [`crate::rotation`]). With RotateImmediately false it tests the configuration instead: the
//! rotator's testSecret on a copy of AWSCURRENT, removed afterwards.

use serde::{Deserialize, Serialize};
use trent_store::SecretRotationRecord;
use trent_wire::Validator;

use crate::rotation::{self, CREATE_SECRET, STATE_FAILED, STATE_RUNNING, STATE_TESTING};
use crate::schedule::{RotationRules, Schedule};
use crate::{Caller, Secrets, SecretsError, model};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
    client_request_token: Option<String>,
    #[serde(rename = "RotationLambdaARN")]
    rotation_lambda_arn: Option<String>,
    rotation_rules: Option<RotationRules>,
    rotate_immediately: Option<bool>,
    external_secret_rotation_metadata: Option<serde_json::Value>,
    external_secret_rotation_role_arn: Option<String>,
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

/// AWS's answer when a rotation that did not finish holds AWSPENDING.
fn previous_not_complete() -> SecretsError {
    SecretsError::InvalidRequest(
        "A previous rotation isn't complete. That rotation will be reattempted.".to_string(),
    )
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
    v.length(
        "rotationLambdaARN",
        req.rotation_lambda_arn.as_deref(),
        0,
        2048,
    );
    if let Some(r) = &req.rotation_rules {
        v.range(
            "rotationRules.automaticallyAfterDays",
            r.automatically_after_days,
            1,
            1000,
        );
        v.length("rotationRules.duration", r.duration.as_deref(), 2, 3);
        v.length(
            "rotationRules.scheduleExpression",
            r.schedule_expression.as_deref(),
            1,
            256,
        );
    }
    v.finish()?;
    if req.external_secret_rotation_metadata.is_some()
        || req.external_secret_rotation_role_arn.is_some()
    {
        return Err(SecretsError::InvalidParameter(
            "Managed external secret rotation is not supported; name a rotator with \
             RotationLambdaARN."
                .to_string(),
        ));
    }
    let secret_id = req.secret_id.as_deref().unwrap_or_default();
    let secret = secrets.live(caller, secret_id, "RotateSecret").await?;
    let scope = secret.scope.clone();
    // A replica is rotated through its primary; the primary's rotation reaches its replicas
    // through every save.
    if let Some(primary) = secrets
        .store()
        .secret_primary_region(&scope, &secret.name)
        .await?
    {
        return Err(crate::replication::replica_is_read_only(&primary));
    }
    let stored = secrets
        .store()
        .get_secret_rotation(&scope, &secret.name)
        .await?;
    let mut record = stored.clone().unwrap_or_default();

    let lambda = req
        .rotation_lambda_arn
        .clone()
        .filter(|l| !l.is_empty())
        .or_else(|| record.lambda_arn.clone())
        .ok_or_else(|| {
            SecretsError::InvalidRequest(
                "No Lambda rotation function ARN is associated with this secret.".to_string(),
            )
        })?;
    if secrets.rotators().find(&lambda).is_none() {
        return Err(SecretsError::AccessDenied(
            "Secrets Manager cannot invoke the specified Lambda function. Ensure that the \
             function policy grants access to the principal secretsmanager.amazonaws.com."
                .to_string(),
        ));
    }
    let rules = match &req.rotation_rules {
        Some(r) => r.clone(),
        None => rotation::stored_rules(&record),
    };
    let schedule = Schedule::parse(&rules)?;

    // A trial of RotateImmediately=false that no task runs any more (the process stopped
    // during it) is cleaned up first; one under way answers as a rotation under way does.
    let mut secret = secret;
    if record.state.as_deref() == Some(STATE_TESTING) {
        if secrets.is_running(&scope, &secret.name) {
            return Err(previous_not_complete());
        }
        secrets.end_trial(&scope, &secret.name).await?;
        record = secrets
            .store()
            .get_secret_rotation(&scope, &secret.name)
            .await?
            .unwrap_or_default();
        secret = secrets.live(caller, secret_id, "RotateSecret").await?;
    }

    // A rotation that did not finish holds AWSPENDING: refused, and tried again.
    if let Some(pending) = rotation::unfinished_pending(&secret) {
        let ours = record.token.as_deref() == Some(pending.version_id.as_str());
        if ours && record.state.as_deref() == Some(STATE_FAILED) {
            record.state = Some(STATE_RUNNING.to_string());
            record.step = Some(CREATE_SECRET.to_string());
            secrets
                .store()
                .put_secret_rotation(&scope, &secret.name, &record)
                .await?;
        }
        if ours {
            secrets.spawn_rotation(scope, secret.name.clone());
        }
        return Err(previous_not_complete());
    }

    let now = secrets.now_ms();
    let immediately = req.rotate_immediately.unwrap_or(true);
    let mut token = req
        .client_request_token
        .clone()
        .unwrap_or_else(model::new_version_id);
    if immediately && secret.versions.iter().any(|v| v.version_id == token) {
        return Err(SecretsError::ResourceExists(
            "You can't modify an existing version, you can only create a new version.".to_string(),
        ));
    }
    let rules_json = serde_json::to_string(&rules)
        .map_err(|_| SecretsError::Internal("rotation rules serialization"))?;
    record = SecretRotationRecord {
        enabled: true,
        lambda_arn: Some(lambda),
        rules: rules_json,
        ..record
    };
    // The schedule counts from the last rotation (or from now, the first time; a window that
    // has passed already gives way to the next one); a rotation started now moves it on when
    // it ends.
    let base = record.last_rotated_ms.unwrap_or(now);
    let window = schedule.as_ref().and_then(|s| {
        s.next_window(base)
            .filter(|w| w.1 > now)
            .or_else(|| s.next_window(now))
    });
    record.window_start_ms = window.map(|w| w.0);
    record.window_end_ms = window.map(|w| w.1);
    // Without an immediate rotation, the configuration is tested (AWS's trial testSecret),
    // unless a failed rotation still waits for its next attempt or there is no value to test.
    let trial = !immediately && record.state.is_none() && model::current(&secret).is_some();
    if immediately {
        record.token = Some(token.clone());
        record.rotation_token = Some(model::new_version_id());
        record.step = Some(CREATE_SECRET.to_string());
        record.state = Some(STATE_RUNNING.to_string());
        record.attempts = 0;
    } else if trial {
        // The trial version takes the token as its id unless a version has it already.
        if secret.versions.iter().any(|v| v.version_id == token) {
            token = model::new_version_id();
        }
        record.token = Some(token.clone());
        record.rotation_token = None;
        record.step = None;
        record.state = Some(STATE_TESTING.to_string());
    }
    // Progress first, then the pending version: a stop in between is resumed by the
    // scheduler, whose createSecret adds the version.
    secrets
        .store()
        .put_secret_rotation(&scope, &secret.name, &record)
        .await?;
    if immediately {
        secrets.ensure_pending(&scope, &secret.name, &token).await?;
        secrets.spawn_rotation(scope, secret.name.clone());
    } else if trial {
        secrets.spawn_trial(scope, secret.name.clone(), token.clone());
    }
    Ok(Response {
        arn: secret.arn,
        name: secret.name,
        version_id: immediately.then_some(token),
    })
}
