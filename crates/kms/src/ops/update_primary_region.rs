//! UpdatePrimaryRegion: the replica in PrimaryRegion becomes the set's primary key and the
//! current primary a replica. Both must be Enabled. Every key of the set records the new primary
//! region in one store transaction, so no reader ever sees two primaries or none.
//!
//! The caller needs `kms:UpdatePrimaryRegion` on both keys, each under its own key policy.
//!
//! AWS passes through a transient `Updating` state; here the change is one transaction.

use serde::Deserialize;
use trent_store::Scope;
use trent_wire::Validator;

use super::replicate_key::{check_multi_region, region_member};
use crate::model::{self, KeyState};
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    primary_region: Option<String>,
}

fn check_enabled(state: &str, arn: &str) -> Result<(), KmsError> {
    match KeyState::parse(state)? {
        KeyState::Enabled => Ok(()),
        other => Err(other.invalid_state_error(arn)),
    }
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<super::Empty, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    region_member(&mut v, "primaryRegion", &req.primary_region);
    v.finish()?;
    let access = crate::authz::Access::new("UpdatePrimaryRegion").with(
        "kms:PrimaryRegion",
        req.primary_region.as_deref().unwrap_or_default(),
    );
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &access,
        )
        .await?;
    check_multi_region(&key.record, &key.arn)?;
    let region = req.primary_region.unwrap_or_default();
    let action = "change the primary region";
    if !model::is_primary(&key.record) {
        return Err(crate::not_primary(&key.arn, action));
    }
    if region == caller.scope.region {
        return Err(KmsError::UnsupportedOperation(format!(
            "{} is already the primary key in {region}.",
            key.arn
        )));
    }
    let target_scope = Scope::new(caller.scope.account_id.clone(), region.clone());
    let target_arn = model::key_arn(&target_scope, &key.record.key_id);
    // As in AWS, the caller needs kms:UpdatePrimaryRegion on the replica too, under the
    // replica's own key policy.
    kms.load_for(caller, &target_scope, &key.record.key_id, &access, None)
        .await?
        .ok_or_else(|| KmsError::NotFound(format!("Key '{target_arn}' does not exist")))?;
    kms.update_key_set(&key, |me, others| {
        if !model::is_primary(me) {
            return Err(crate::not_primary(&key.arn, action));
        }
        check_enabled(&me.state, &key.arn)?;
        let target = others
            .iter()
            .find(|k| k.scope.region == region)
            .ok_or_else(|| KmsError::NotFound(format!("Key '{target_arn}' does not exist")))?;
        check_enabled(&target.state, &target_arn)?;
        me.primary_region = Some(region.clone());
        for k in others.iter_mut() {
            k.primary_region = Some(region.clone());
        }
        Ok(())
    })
    .await?;
    tracing::info!(key_arn = %key.arn, primary_region = %region, "updated the primary region of a multi-Region key");
    Ok(super::Empty {})
}
