//! ReplicateSecretToRegions: replicas of a primary secret in other regions of this deployment.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model;
use crate::replication::{
    ReplicaRegion, ReplicationStatus, check_replica_regions, replica_is_read_only,
};
use crate::{Caller, Secrets, SecretsError, retrying};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
    add_replica_regions: Option<Vec<ReplicaRegion>>,
    force_overwrite_replica_secret: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(rename = "ARN")]
    arn: String,
    replication_status: Vec<ReplicationStatus>,
}

pub async fn handle(
    secrets: &Secrets,
    caller: &Caller,
    req: Request,
) -> Result<Response, SecretsError> {
    let mut v = Validator::new();
    model::check_secret_id(&mut v, &req.secret_id);
    v.required("addReplicaRegions", &req.add_replica_regions);
    check_replica_regions(
        &mut v,
        "addReplicaRegions",
        req.add_replica_regions.as_ref(),
    );
    v.finish()?;
    let secret_id = req.secret_id.unwrap_or_default();
    let regions = req.add_replica_regions.unwrap_or_default();
    let overwrite = req.force_overwrite_replica_secret == Some(true);
    retrying(|| async {
        let secret = secrets
            .live(caller, &secret_id, "ReplicateSecretToRegions")
            .await?;
        if let Some(primary) = secrets
            .store()
            .secret_primary_region(&secret.scope, &secret.name)
            .await?
        {
            return Err(replica_is_read_only(&primary));
        }
        let replicas = secrets
            .add_replicas(caller, &secret, false, None, &regions, overwrite)
            .await?;
        Ok(Response {
            replication_status: secrets.replication_status(&secret, &replicas).await?,
            arn: secret.arn,
        })
    })
    .await
}
