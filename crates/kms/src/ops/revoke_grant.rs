//! RevokeGrant: deletes a grant of a key, by the key's administrators (kms:RevokeGrant).

use serde::Deserialize;
use trent_wire::Validator;

use crate::authz::Access;
use crate::grants;
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    grant_id: Option<String>,
    dry_run: Option<bool>,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<super::Empty, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.required("grantId", &req.grant_id);
    v.length("grantId", req.grant_id.as_deref(), 1, 128);
    v.finish()?;
    let grant_id = req.grant_id.unwrap_or_default();
    grants::check_grant_id(&grant_id)?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &Access::new("RevokeGrant"),
        )
        .await?;
    super::dry_run(req.dry_run)?;
    let scope = &key.record.scope;
    if !kms
        .store()
        .delete_grant(scope, &key.record.key_id, &grant_id)
        .await?
    {
        return Err(KmsError::NotFound(format!("Grant ID {grant_id} not found")));
    }
    kms.forget_key(scope, &key.record.key_id);
    Ok(super::Empty {})
}
