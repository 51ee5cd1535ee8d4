//! UpdateAlias: points an existing alias at another key of the same type and usage.

use serde::Deserialize;
use trent_wire::Validator;

use super::create_alias::{alias_name_member, check_alias_name, check_target};
use crate::model;
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    alias_name: Option<String>,
    target_key_id: Option<String>,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<super::Empty, KmsError> {
    let mut v = Validator::new();
    alias_name_member(&mut v, &req.alias_name);
    super::key_id_member(&mut v, "targetKeyId", &req.target_key_id);
    v.finish()?;
    let name = req.alias_name.unwrap_or_default();
    check_alias_name(&name)?;
    crate::authz::authorize_identity(
        caller,
        "UpdateAlias",
        &model::alias_arn(&caller.scope, &name),
        |_| {},
    )?;
    let alias = kms
        .store()
        .get_alias(&caller.scope, &name)
        .await?
        .ok_or_else(|| {
            KmsError::NotFound(format!(
                "Alias '{}' is not found.",
                model::alias_arn(&caller.scope, &name)
            ))
        })?;
    let key = kms
        .resolve(
            caller,
            req.target_key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("UpdateAlias"),
        )
        .await?;
    check_target(key.state()?, &key.arn)?;
    // The key the alias leaves must allow it too.
    let current = kms
        .load_for(
            caller,
            &caller.scope,
            &alias.key_id,
            &crate::authz::Access::new("UpdateAlias"),
            None,
        )
        .await?;
    if let Some(current) = current
        && (current.record.key_spec != key.record.key_spec
            || current.record.key_usage != key.record.key_usage)
    {
        return Err(trent_wire::ApiError::validation(format!(
            "{} has a different key spec or key usage than the key the alias points to now.",
            key.arn
        ))
        .into());
    }
    if !kms
        .store()
        .update_alias(&caller.scope, &name, &key.record.key_id, kms.now_ms())
        .await?
    {
        return Err(KmsError::NotFound(format!(
            "Alias '{}' is not found.",
            model::alias_arn(&caller.scope, &name)
        )));
    }
    kms.aliases_changed();
    Ok(super::Empty {})
}
