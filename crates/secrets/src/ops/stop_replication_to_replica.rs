//! StopReplicationToReplica: called in a replica's region, promotes the replica to a standalone
//! secret there; its primary stops replicating to that region.

use serde::{Deserialize, Serialize};
use trent_store::{Scope, SecretWrite};
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
        let replica = secrets
            .existing(caller, &secret_id, "StopReplicationToReplica")
            .await?;
        let store = secrets.store();
        let Some(primary_region) = store
            .secret_primary_region(&replica.scope, &replica.name)
            .await?
        else {
            return Err(SecretsError::InvalidRequest(format!(
                "The secret {} is not a replica secret.",
                replica.name
            )));
        };
        let primary_scope = Scope::new(replica.scope.account_id.clone(), primary_region);
        let primary = store
            .get_secret(&primary_scope, &replica.name)
            .await?
            .ok_or(SecretsError::Internal("a replica without its primary"))?;
        let mut replicas = store.secret_replicas(&primary_scope, &primary.name).await?;
        replicas.retain(|r| r.region != replica.scope.region);
        let mut promoted = replica.clone();
        promoted.last_changed_ms = secrets.now_ms();
        store
            .write_secrets(&[
                SecretWrite::Save {
                    secret: &primary,
                    versions: &[],
                },
                SecretWrite::Save {
                    secret: &promoted,
                    versions: &[],
                },
                SecretWrite::Replicas {
                    scope: &primary_scope,
                    name: &primary.name,
                    replicas: &replicas,
                },
            ])
            .await?;
        tracing::info!(secret = %replica.arn, "replica promoted to a standalone secret");
        Ok(Response { arn: replica.arn })
    })
    .await
}
