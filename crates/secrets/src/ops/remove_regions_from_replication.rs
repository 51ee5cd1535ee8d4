//! RemoveRegionsFromReplication: deletes replicas of a primary secret, at once.

use serde::{Deserialize, Serialize};
use trent_store::{Scope, SecretWrite};
use trent_wire::Validator;

use crate::model;
use crate::replication::{ReplicationStatus, check_region_names, replica_is_read_only};
use crate::{Caller, Secrets, SecretsError, retrying};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
    remove_replica_regions: Option<Vec<String>>,
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
    v.required("removeReplicaRegions", &req.remove_replica_regions);
    check_region_names(
        &mut v,
        "removeReplicaRegions",
        req.remove_replica_regions.as_ref(),
    );
    v.finish()?;
    let secret_id = req.secret_id.unwrap_or_default();
    let regions = req.remove_replica_regions.unwrap_or_default();
    retrying(|| async {
        let secret = secrets
            .existing(caller, &secret_id, "RemoveRegionsFromReplication")
            .await?;
        let store = secrets.store();
        if let Some(primary) = store
            .secret_primary_region(&secret.scope, &secret.name)
            .await?
        {
            return Err(replica_is_read_only(&primary));
        }
        let mut replicas = store.secret_replicas(&secret.scope, &secret.name).await?;
        // The replicas to delete, with the revision each was read at.
        let mut gone = Vec::new();
        for region in &regions {
            let Some(i) = replicas.iter().position(|r| &r.region == region) else {
                return Err(SecretsError::InvalidParameter(format!(
                    "The secret is not replicated to {region}."
                )));
            };
            let r = replicas.remove(i);
            if r.present {
                let scope = Scope::new(secret.scope.account_id.clone(), r.region.clone());
                if let Some(replica) = store.get_secret(&scope, &secret.name).await? {
                    gone.push((scope, replica.revision));
                }
            }
        }
        let mut writes = vec![SecretWrite::Save {
            secret: &secret,
            versions: &[],
        }];
        for (scope, revision) in &gone {
            writes.push(SecretWrite::Delete {
                scope,
                name: &secret.name,
                revision: *revision,
            });
        }
        writes.push(SecretWrite::Replicas {
            scope: &secret.scope,
            name: &secret.name,
            replicas: &replicas,
        });
        store.write_secrets(&writes).await?;
        Ok(Response {
            replication_status: secrets.replication_status(&secret, &replicas).await?,
            arn: secret.arn.clone(),
        })
    })
    .await
}
