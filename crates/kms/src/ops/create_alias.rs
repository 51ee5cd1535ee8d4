//! CreateAlias: a friendly name for a key, unique per account and region.

use serde::Deserialize;
use trent_store::{AliasRecord, StoreError};
use trent_wire::Validator;

use crate::model::{self, KeyState};
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    alias_name: Option<String>,
    target_key_id: Option<String>,
}

/// Validates an AliasName member, including the `alias/` prefix and the reserved `alias/aws/`.
pub(crate) fn alias_name_member(v: &mut Validator, value: &Option<String>) {
    v.required("aliasName", value);
    v.length("aliasName", value.as_deref(), 1, 256);
    v.pattern("aliasName", value.as_deref(), "^[a-zA-Z0-9:/_-]+$", |s| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'_' | b'-'))
    });
}

pub(crate) fn check_alias_name(name: &str) -> Result<(), KmsError> {
    if !name.starts_with("alias/") || name.len() == "alias/".len() {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias must start with the prefix \"alias/\". Please see \
             https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html ({name})"
        )));
    }
    if name.starts_with("alias/aws/") {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias names beginning with alias/aws/ are reserved for AWS managed keys: {name}"
        )));
    }
    Ok(())
}

/// The target of an alias must be a key that is not pending deletion.
pub(crate) fn check_target(state: KeyState, arn: &str) -> Result<(), KmsError> {
    if state.is_pending_deletion() {
        return Err(state.invalid_state_error(arn));
    }
    Ok(())
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<super::Empty, KmsError> {
    let mut v = Validator::new();
    alias_name_member(&mut v, &req.alias_name);
    super::key_id_member(&mut v, "targetKeyId", &req.target_key_id);
    v.finish()?;
    let name = req.alias_name.unwrap_or_default();
    check_alias_name(&name)?;
    // The alias is governed by IAM policies; the key by its key policy (and IAM).
    crate::authz::authorize_identity(
        caller,
        "CreateAlias",
        &model::alias_arn(&caller.scope, &name),
        |_| {},
    )?;
    let key = kms
        .resolve(
            caller,
            req.target_key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("CreateAlias"),
        )
        .await?;
    check_target(key.state()?, &key.arn)?;
    let existing = kms
        .store()
        .list_aliases(
            &caller.scope,
            Some(&key.record.key_id),
            None,
            model::MAX_ALIASES_PER_KEY as u32,
        )
        .await?;
    if existing.len() >= model::MAX_ALIASES_PER_KEY {
        return Err(KmsError::LimitExceeded(format!(
            "{} already has {} aliases, the most a key may have.",
            key.arn,
            model::MAX_ALIASES_PER_KEY
        )));
    }
    let now = kms.now_ms();
    let record = AliasRecord {
        scope: caller.scope.clone(),
        alias_name: name.clone(),
        key_id: key.record.key_id.clone(),
        created_ms: now,
        updated_ms: now,
    };
    match kms.store().create_alias(&record).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists) => {
            return Err(KmsError::AlreadyExists(format!(
                "An alias with the name {} already exists",
                model::alias_arn(&caller.scope, &name)
            )));
        }
        Err(e) => return Err(e.into()),
    }
    kms.aliases_changed();
    Ok(super::Empty {})
}
