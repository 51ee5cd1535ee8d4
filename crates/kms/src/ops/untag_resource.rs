//! UntagResource: removes tags by key; keys that are not present are ignored.

use serde::Deserialize;
use trent_wire::Validator;

use crate::model::KeyState;
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    tag_keys: Option<Vec<String>>,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<super::Empty, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.required("tagKeys", &req.tag_keys);
    for (i, k) in req.tag_keys.iter().flatten().enumerate() {
        v.length(&format!("tagKeys.{}.member", i + 1), Some(k), 1, 128);
    }
    v.finish()?;
    let remove = req.tag_keys.unwrap_or_default();
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("UntagResource").tag_keys(remove.clone()),
        )
        .await?;
    kms.update_key(&key, |r| {
        let state = KeyState::parse(&r.state)?;
        if state.is_pending_deletion() {
            return Err(state.invalid_state_error(&key.arn));
        }
        r.tags.retain(|(k, _)| !remove.contains(k));
        Ok(())
    })
    .await?;
    Ok(super::Empty {})
}
