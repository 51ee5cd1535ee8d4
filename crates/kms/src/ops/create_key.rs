//! CreateKey: a new key of any spec Trent implements, with fresh material.

use serde::{Deserialize, Serialize};
use trent_crypto::SecretBytes;
use trent_store::{KeyMaterial, KeyRecord};
use trent_wire::Validator;

use crate::model::{self, KeyKind, KeyMetadata, KeyState, Tag};
use crate::{Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    policy: Option<String>,
    description: Option<String>,
    key_usage: Option<String>,
    customer_master_key_spec: Option<String>,
    key_spec: Option<String>,
    origin: Option<String>,
    custom_key_store_id: Option<String>,
    #[allow(dead_code)]
    bypass_policy_lockout_safety_check: Option<bool>,
    tags: Option<Vec<Tag>>,
    multi_region: Option<bool>,
    xks_key_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    key_metadata: KeyMetadata,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    v.length("policy", req.policy.as_deref(), 1, 131_072);
    v.length("description", req.description.as_deref(), 0, 8192);
    v.one_of("keyUsage", req.key_usage.as_deref(), model::KEY_USAGES);
    v.one_of(
        "customerMasterKeySpec",
        req.customer_master_key_spec.as_deref(),
        model::CUSTOMER_MASTER_KEY_SPECS,
    );
    v.one_of("keySpec", req.key_spec.as_deref(), model::KEY_SPECS);
    v.one_of("origin", req.origin.as_deref(), model::ORIGINS);
    v.length(
        "customKeyStoreId",
        req.custom_key_store_id.as_deref(),
        1,
        64,
    );
    v.finish()?;
    if req.key_spec.is_some() && req.customer_master_key_spec.is_some() {
        return Err(trent_wire::ApiError::validation(
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. \
             CustomerMasterKeySpec is deprecated.",
        )
        .into());
    }
    let key_spec = req
        .key_spec
        .or(req.customer_master_key_spec)
        .unwrap_or_else(|| model::SYMMETRIC_DEFAULT.to_string());
    let Some(kind) = KeyKind::from_spec(&key_spec) else {
        return Err(KmsError::UnsupportedOperation(format!(
            "KeySpec {key_spec} is not supported by this server."
        )));
    };
    let key_usage = match (kind, req.key_usage) {
        // HMAC keys have one usage, and AWS still requires it to be named.
        (KeyKind::Hmac(_), None) => {
            return Err(trent_wire::ApiError::validation(format!(
                "KeyUsage GENERATE_VERIFY_MAC must be specified for KeySpec {key_spec}"
            ))
            .into());
        }
        (_, usage) => usage.unwrap_or_else(|| model::ENCRYPT_DECRYPT.to_string()),
    };
    if !kind.usages().contains(&key_usage.as_str()) {
        return Err(trent_wire::ApiError::validation(format!(
            "KeyUsage {key_usage} is not compatible with KeySpec {key_spec}"
        ))
        .into());
    }
    let origin = req.origin.unwrap_or_else(|| "AWS_KMS".to_string());
    if origin != "AWS_KMS" && origin != crate::import::EXTERNAL {
        return Err(KmsError::UnsupportedOperation(format!(
            "Origin {origin} is not supported by this server yet; use AWS_KMS or EXTERNAL."
        )));
    }
    if req.custom_key_store_id.is_some() || req.xks_key_id.is_some() {
        return Err(KmsError::UnsupportedOperation(
            "Custom key stores are not supported by this server.".to_string(),
        ));
    }
    let multi_region = req.multi_region == Some(true);
    let bypass = req.bypass_policy_lockout_safety_check == Some(true);
    let tags = model::validate_tags("tags", req.tags.as_deref().unwrap_or_default())?;
    crate::authz::authorize_identity(caller, "CreateKey", "*", |ctx| {
        ctx.insert("kms:KeySpec", key_spec.as_str());
        ctx.insert("kms:KeyUsage", key_usage.as_str());
        ctx.insert("kms:KeyOrigin", origin.as_str());
        ctx.insert("kms:MultiRegion", multi_region);
        if multi_region {
            ctx.insert("kms:MultiRegionKeyType", "PRIMARY");
        }
        ctx.insert("kms:BypassPolicyLockoutSafetyCheck", bypass);
        for (k, v) in &tags {
            ctx.insert(&format!("aws:RequestTag/{k}"), v.as_str());
        }
        ctx.insert_multi("aws:TagKeys", tags.iter().map(|(k, _)| k.as_str()));
    })?;
    let policy_given = req.policy.is_some();
    let policy = match req.policy {
        Some(p) => {
            model::validate_policy(&p)?;
            p
        }
        None => model::default_policy(&caller.scope.account_id),
    };
    if tags.len() > model::MAX_TAGS {
        return Err(KmsError::LimitExceeded(format!(
            "A key can have at most {} tags.",
            model::MAX_TAGS
        )));
    }

    let now = kms.now_ms();
    let material_id = trent_crypto::hex(&trent_crypto::random_array::<32>()?);
    let record = KeyRecord {
        scope: caller.scope.clone(),
        key_id: if multi_region {
            model::new_multi_region_id()?
        } else {
            uuid::Uuid::new_v4().to_string()
        },
        seq: 0,
        description: req.description.unwrap_or_default(),
        key_spec,
        key_usage,
        origin,
        key_manager: "CUSTOMER".to_string(),
        state: KeyState::Enabled.as_str().to_string(),
        created_ms: now,
        deletion_ms: None,
        pending_window_days: None,
        policy,
        tags,
        current_material_id: material_id.clone(),
        multi_region,
        rotation_period_days: None,
        next_rotation_ms: None,
        version: 1,
        valid_to_ms: None,
        expiration_model: None,
        primary_region: multi_region.then(|| caller.scope.region.clone()),
    };
    if policy_given && !bypass {
        let parsed = model::validate_policy(&record.policy)?;
        let arn = model::key_arn(&record.scope, &record.key_id);
        if !crate::authz::passes_lockout_check(caller, &parsed, &arn) {
            return Err(model::lockout_refused());
        }
    }
    if record.origin == crate::import::EXTERNAL {
        // No material: it is imported later.
        return Ok(Response {
            key_metadata: crate::import::create_external_key(kms, record).await?,
        });
    }
    let material = KeyMaterial {
        material_id,
        created_ms: now,
        rotation_type: None,
        secret: generate_material(kind).await?,
    };
    kms.store().create_key(&record, Some(&material)).await?;
    Ok(Response {
        key_metadata: kms.key_metadata(&record).await?,
    })
}

/// Fresh key material for a key of `kind`: 256 random bits, an HMAC key, or a PKCS#8 private
/// key. RSA generation takes long enough (tens to hundreds of milliseconds) that it runs off
/// the request threads.
pub(crate) async fn generate_material(kind: KeyKind) -> Result<SecretBytes, KmsError> {
    Ok(match kind {
        KeyKind::Symmetric => SecretBytes::random(32)?,
        KeyKind::Hmac(alg) => trent_crypto::generate_mac_key(alg)?,
        KeyKind::Asymmetric(spec) if spec.is_rsa() => {
            tokio::task::spawn_blocking(move || trent_crypto::asymmetric::generate(spec))
                .await
                .map_err(|_| KmsError::Internal("key generation task failed"))??
        }
        KeyKind::Asymmetric(spec) => trent_crypto::asymmetric::generate(spec)?,
    })
}
