//! CreateSecret: a new secret, with its first version when a value is given.

use serde::{Deserialize, Serialize};
use trent_crypto::SecretBytes;
use trent_store::{SecretRecord, StoreError};
use trent_wire::Validator;

use crate::model::{self, Tag};
use crate::ops::{Added, add_version};
use crate::replication::{ReplicaRegion, ReplicationStatus, check_replica_regions};
use crate::{Caller, Secrets, SecretsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    name: Option<String>,
    client_request_token: Option<String>,
    description: Option<String>,
    kms_key_id: Option<String>,
    #[serde(default, with = "model::secret_blob")]
    secret_binary: Option<SecretBytes>,
    #[serde(default, with = "model::secret_string")]
    secret_string: Option<SecretBytes>,
    tags: Option<Vec<Tag>>,
    add_replica_regions: Option<Vec<ReplicaRegion>>,
    force_overwrite_replica_secret: Option<bool>,
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    replication_status: Vec<ReplicationStatus>,
}

pub async fn handle(
    secrets: &Secrets,
    caller: &Caller,
    req: Request,
) -> Result<Response, SecretsError> {
    let mut v = Validator::new();
    v.required("name", &req.name);
    v.length("name", req.name.as_deref(), 1, 512);
    model::check_token(
        &mut v,
        "clientRequestToken",
        req.client_request_token.as_deref(),
    );
    v.length("description", req.description.as_deref(), 0, 2048);
    v.length("kmsKeyId", req.kms_key_id.as_deref(), 0, 2048);
    model::check_tags(&mut v, req.tags.as_ref());
    v.length("type", req.secret_type.as_deref(), 0, 256);
    if req.add_replica_regions.is_some() {
        check_replica_regions(
            &mut v,
            "addReplicaRegions",
            req.add_replica_regions.as_ref(),
        );
    }
    v.finish()?;
    let name = req.name.unwrap_or_default();
    model::check_name(&name)?;
    let value = model::value_of(req.secret_string, req.secret_binary)?;
    let mut tags = Vec::new();
    model::merge_tags(&mut tags, req.tags.as_deref().unwrap_or_default())?;
    let scope = &caller.scope;

    let arn = model::new_arn(scope, &name)?;
    let request_tags = req.tags.clone().unwrap_or_default();
    let kms_key = req.kms_key_id.clone();
    let description = req.description.clone();
    let keys = |ctx: &mut trent_policy::RequestContext| {
        ctx.insert("secretsmanager:Name", name.as_str());
        if let Some(k) = &kms_key {
            ctx.insert("secretsmanager:KmsKeyId", k.as_str());
        }
        if let Some(d) = &description {
            ctx.insert("secretsmanager:Description", d.as_str());
        }
        crate::authz::request_tags(ctx, &request_tags);
    };
    if let Some(existing) = secrets.store().get_secret(scope, &name).await? {
        crate::authz::authorize_with(
            caller,
            "CreateSecret",
            &existing.arn,
            Some(&existing),
            &keys,
        )?;
        return retried_create(secrets, caller, existing, req.client_request_token, value).await;
    }
    let now = secrets.now_ms();
    let mut secret = SecretRecord {
        scope: scope.clone(),
        name: name.clone(),
        arn,
        description: req.description,
        kms_key_id: req.kms_key_id.filter(|k| !k.is_empty()),
        tags,
        resource_policy: None,
        created_ms: now,
        last_changed_ms: now,
        last_accessed_ms: None,
        deleted_ms: None,
        purge_ms: None,
        revision: 1,
        versions: Vec::new(),
    };
    // The request's tags are not the resource's yet: they are `aws:RequestTag/…`, not
    // `aws:ResourceTag/…`.
    crate::authz::authorize_with(caller, "CreateSecret", &secret.arn, None, &keys)?;
    let mut version_id = None;
    let new_version = match &value {
        Some(value) => {
            let id = req
                .client_request_token
                .clone()
                .unwrap_or_else(model::new_version_id);
            version_id = Some(id.clone());
            match add_version(secrets, caller, &mut secret, &id, value, None).await? {
                Added::New(n) => Some(n),
                Added::Existing(_) => {
                    return Err(SecretsError::Internal("version in a new secret"));
                }
            }
        }
        None => None,
    };
    // The record holds only stored versions; the new one is inserted beside it.
    secret.versions.clear();
    if let Some(regions) = &req.add_replica_regions {
        let replicas = secrets
            .add_replicas(
                caller,
                &secret,
                true,
                new_version.as_ref().zip(value.as_ref()),
                regions,
                req.force_overwrite_replica_secret == Some(true),
            )
            .await;
        return match replicas {
            Ok(replicas) => Ok(Response {
                replication_status: secrets.replication_status(&secret, &replicas).await?,
                arn: secret.arn,
                name,
                version_id,
            }),
            Err(SecretsError::Store(StoreError::AlreadyExists)) => Err(already_exists(&name)),
            Err(e) => Err(e),
        };
    }
    match secrets
        .store()
        .create_secret(&secret, new_version.as_ref())
        .await
    {
        Ok(()) => Ok(Response {
            arn: secret.arn,
            name,
            version_id,
            replication_status: Vec::new(),
        }),
        Err(StoreError::AlreadyExists) => Err(already_exists(&name)),
        Err(e) => Err(e.into()),
    }
}

/// CreateSecret on a name that exists: a retry with the same token and value succeeds with the
/// first answer; anything else is refused.
async fn retried_create(
    secrets: &Secrets,
    caller: &Caller,
    existing: SecretRecord,
    token: Option<String>,
    value: Option<model::NewValue>,
) -> Result<Response, SecretsError> {
    if existing.deleted_ms.is_some() {
        return Err(SecretsError::InvalidRequest(
            "You can't create this secret because a secret with this name is already scheduled \
             for deletion."
                .to_string(),
        ));
    }
    if let (Some(token), Some(value)) = (token, value)
        && let Some(version) = existing.versions.iter().find(|v| v.version_id == token)
    {
        let stored = secrets.decrypt(caller, &existing, version).await?;
        if stored.kind == value.kind
            && trent_crypto::constant_time_eq(
                stored.bytes.expose_secret(),
                value.bytes.expose_secret(),
            )
        {
            return Ok(Response {
                arn: existing.arn,
                name: existing.name,
                version_id: Some(token),
                replication_status: Vec::new(),
            });
        }
    }
    Err(already_exists(&existing.name))
}

fn already_exists(name: &str) -> SecretsError {
    SecretsError::ResourceExists(format!(
        "The operation failed because the secret {name} already exists."
    ))
}
