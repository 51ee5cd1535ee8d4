//! RetireGrant: ends a grant, named by its token or by key and grant id. Allowed to the grant's
//! retiring principal, to its grantee when the grant includes RetireGrant, and to the account
//! that owns the key (through kms:RetireGrant in its policies).

use serde::Deserialize;
use trent_wire::{ApiError, Validator};

use crate::authz::Access;
use crate::grants;
use crate::model;
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    grant_token: Option<String>,
    key_id: Option<String>,
    grant_id: Option<String>,
    dry_run: Option<bool>,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<super::Empty, KmsError> {
    let mut v = Validator::new();
    v.length("grantToken", req.grant_token.as_deref(), 1, 8192);
    v.length("keyId", req.key_id.as_deref(), 1, 2048);
    v.length("grantId", req.grant_id.as_deref(), 1, 128);
    v.finish()?;
    let (scope, key_id, grant_id) = match (&req.grant_token, &req.key_id, &req.grant_id) {
        (Some(token), _, _) => {
            let (scope, key_id, grant_id) = grants::parse_token(token)?;
            if let Some(id) = &req.grant_id
                && id != &grant_id
            {
                return Err(KmsError::InvalidGrantToken(
                    "The grant token does not name the grant with this grant ID.",
                ));
            }
            (scope, key_id, grant_id)
        }
        (None, Some(key), Some(grant_id)) => {
            grants::check_grant_id(grant_id)?;
            let (scope, key_ref) = model::parse_key_ref_in(&caller.scope, key, true)?;
            let model::KeyRef::Id(key_id) = key_ref else {
                return Err(KmsError::NotFound(format!("Invalid keyId '{key}'")));
            };
            (scope, key_id, grant_id.clone())
        }
        _ => {
            return Err(ApiError::validation(
                "Either a grant token, or a key ID and a grant ID, must be given.",
            )
            .into());
        }
    };
    let grant = kms
        .store()
        .key_grants(&scope, &key_id)
        .await?
        .into_iter()
        .find(|g| g.grant_id == grant_id)
        .ok_or_else(|| KmsError::NotFound(format!("Grant ID {grant_id} not found")))?;
    let requester = &caller.requester;
    let retiring = grant
        .retiring_principal
        .as_deref()
        .is_some_and(|p| crate::authz::is_principal(requester, p));
    let grantee = crate::authz::is_principal(requester, &grant.grantee_principal)
        && grant.operations.iter().any(|o| o == "RetireGrant");
    if !retiring && !grantee {
        // Otherwise the key's owner decides through its policies.
        kms.resolve(
            caller,
            &model::key_arn(&scope, &key_id),
            Aliases::Refused,
            &Access::new("RetireGrant"),
        )
        .await?;
    }
    super::dry_run(req.dry_run)?;
    kms.store().delete_grant(&scope, &key_id, &grant_id).await?;
    kms.forget_key(&scope, &key_id);
    Ok(super::Empty {})
}
