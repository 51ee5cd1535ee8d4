//! ReplicateKey: a replica of a multi-Region primary key in another region this deployment
//! serves. The replica has the primary's key id, spec, usage, origin and every version of its
//! key material (same material ids, so ciphertexts name the same versions), and its own policy,
//! description, tags, aliases and state.
//!
//! AWS creates replicas in the transient `Creating` state; here the replica is written in one
//! store transaction and is `Enabled` as soon as the call returns.

use serde::{Deserialize, Serialize};
use trent_store::{KeyRecord, Scope, StoreError};
use trent_wire::Validator;

use crate::model::{self, KeyMetadata, KeyState, Tag};
use crate::{Aliases, Caller, Kms, KmsError, UPDATE_RETRIES};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    replica_region: Option<String>,
    policy: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
    description: Option<String>,
    tags: Option<Vec<Tag>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    replica_key_metadata: KeyMetadata,
    replica_policy: String,
    replica_tags: Vec<Tag>,
}

/// Validates a required RegionType member (ReplicaRegion, PrimaryRegion).
pub(crate) fn region_member(v: &mut Validator, member: &str, value: &Option<String>) {
    v.required(member, value);
    v.length(member, value.as_deref(), 1, 32);
    v.pattern(
        member,
        value.as_deref(),
        model::REGION_PATTERN,
        model::is_region_name,
    );
}

/// A multi-Region key id is required: single-Region keys have no replicas and no primary region.
pub(crate) fn check_multi_region(record: &KeyRecord, arn: &str) -> Result<(), KmsError> {
    if record.multi_region {
        Ok(())
    } else {
        Err(KmsError::UnsupportedOperation(format!(
            "{arn} is not a multi-Region key."
        )))
    }
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    region_member(&mut v, "replicaRegion", &req.replica_region);
    v.length("policy", req.policy.as_deref(), 1, 131_072);
    v.length("description", req.description.as_deref(), 0, 8192);
    v.finish()?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("ReplicateKey").with(
                "kms:ReplicaRegion",
                req.replica_region.as_deref().unwrap_or_default(),
            ),
        )
        .await?;
    check_multi_region(&key.record, &key.arn)?;
    if !model::is_primary(&key.record) {
        return Err(crate::not_primary(&key.arn, "be replicated"));
    }
    let region = req.replica_region.unwrap_or_default();
    if region == caller.scope.region {
        return Err(trent_wire::ApiError::validation(format!(
            "The replica region must differ from the primary key's region, {region}."
        ))
        .into());
    }
    if !kms.serves_region(&region) {
        return Err(KmsError::UnsupportedOperation(format!(
            "Region {region} is not served by this KMS deployment."
        )));
    }
    let replica_scope = Scope::new(caller.scope.account_id.clone(), region.clone());
    let replica_arn = model::key_arn(&replica_scope, &key.record.key_id);
    // The replica is created in the other region: the caller needs kms:CreateKey there.
    crate::authz::authorize_identity(caller, "CreateKey", "*", |ctx| {
        ctx.insert("aws:RequestedRegion", region.as_str());
        ctx.insert("kms:MultiRegionKeyType", "REPLICA");
    })?;
    let policy = match req.policy {
        Some(p) => {
            let parsed = model::validate_policy(&p)?;
            if req.bypass_policy_lockout_safety_check != Some(true)
                && !crate::authz::passes_lockout_check(caller, &parsed, &replica_arn)
            {
                return Err(model::lockout_refused());
            }
            p
        }
        None => model::default_policy(&caller.scope.account_id),
    };
    let request_tags = req.tags.unwrap_or_default();
    let tags = model::validate_tags("tags", &request_tags)?;
    if tags.len() > model::MAX_TAGS {
        return Err(KmsError::LimitExceeded(format!(
            "A key can have at most {} tags.",
            model::MAX_TAGS
        )));
    }
    let description = req.description.unwrap_or_default();
    let store = kms.store();
    for _ in 0..UPDATE_RETRIES {
        // The set is read before the material; the store version-checks the set when it
        // inserts the replica, so a rotation in between makes this attempt retry rather than
        // give the replica stale material.
        let set = store
            .related_keys(&caller.scope.account_id, &key.record.key_id)
            .await?;
        let Some(primary) = set.iter().find(|k| k.scope == caller.scope) else {
            kms.forget_key(&caller.scope, &key.record.key_id);
            return Err(KmsError::NotFound(format!(
                "Key '{}' does not exist",
                key.arn
            )));
        };
        if !model::is_primary(primary) {
            return Err(crate::not_primary(&key.arn, "be replicated"));
        }
        match KeyState::parse(&primary.state)? {
            state @ (KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) => {
                return Err(state.invalid_state_error(&key.arn));
            }
            KeyState::Enabled
            | KeyState::Disabled
            | KeyState::PendingImport
            | KeyState::Unavailable => {}
        }
        if set.iter().any(|k| k.scope.region == region) {
            return Err(KmsError::AlreadyExists(format!(
                "{replica_arn} already exists."
            )));
        }
        // A replica of an imported-material key starts without material: the same material
        // must be imported into it (its id is already fixed, so other material is refused).
        let external = primary.origin == crate::import::EXTERNAL;
        if external && primary.current_material_id.is_empty() {
            // Import into the primary first: its material id is what every replica must match.
            return Err(KeyState::PendingImport.invalid_state_error(&key.arn));
        }
        let materials = if external {
            Vec::new()
        } else {
            store.key_materials(&primary.scope, &primary.key_id).await?
        };
        let state = if external {
            KeyState::PendingImport
        } else {
            KeyState::Enabled
        };
        let replica = KeyRecord {
            scope: replica_scope.clone(),
            key_id: primary.key_id.clone(),
            seq: 0,
            description: description.clone(),
            key_spec: primary.key_spec.clone(),
            key_usage: primary.key_usage.clone(),
            origin: primary.origin.clone(),
            key_manager: primary.key_manager.clone(),
            state: state.as_str().to_string(),
            created_ms: kms.now_ms(),
            deletion_ms: None,
            pending_window_days: None,
            policy: policy.clone(),
            tags: tags.clone(),
            current_material_id: primary.current_material_id.clone(),
            multi_region: true,
            rotation_period_days: primary.rotation_period_days,
            next_rotation_ms: primary.next_rotation_ms,
            version: 1,
            primary_region: primary.primary_region.clone(),
            valid_to_ms: None,
            expiration_model: None,
        };
        match store.create_related_key(&replica, &materials, &set).await {
            Ok(_) => {
                for k in &set {
                    kms.forget_key(&k.scope, &k.key_id);
                }
                tracing::info!(key_arn = %replica_arn, "replicated multi-Region key");
                return Ok(Response {
                    replica_key_metadata: kms.key_metadata(&replica).await?,
                    replica_policy: replica.policy,
                    replica_tags: request_tags,
                });
            }
            Err(StoreError::AlreadyExists) => {
                return Err(KmsError::AlreadyExists(format!(
                    "{replica_arn} already exists."
                )));
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(KmsError::Internal("too many concurrent updates to one key"))
}
