//! DeleteAlias. The key it pointed to is unaffected.

use serde::Deserialize;
use trent_wire::Validator;

use super::create_alias::{alias_name_member, check_alias_name};
use crate::model;
use crate::{Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    alias_name: Option<String>,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<super::Empty, KmsError> {
    let mut v = Validator::new();
    alias_name_member(&mut v, &req.alias_name);
    v.finish()?;
    let name = req.alias_name.unwrap_or_default();
    check_alias_name(&name)?;
    crate::authz::authorize_identity(
        caller,
        "DeleteAlias",
        &model::alias_arn(&caller.scope, &name),
        |_| {},
    )?;
    // The key the alias points to must allow DeleteAlias as well.
    if let Some(alias) = kms.store().get_alias(&caller.scope, &name).await? {
        kms.load_for(
            caller,
            &caller.scope,
            &alias.key_id,
            &crate::authz::Access::new("DeleteAlias"),
            None,
        )
        .await?;
    }
    let deleted = kms.store().delete_alias(&caller.scope, &name).await?;
    kms.aliases_changed();
    if !deleted {
        return Err(KmsError::NotFound(format!(
            "Alias '{}' is not found.",
            model::alias_arn(&caller.scope, &name)
        )));
    }
    Ok(super::Empty {})
}
