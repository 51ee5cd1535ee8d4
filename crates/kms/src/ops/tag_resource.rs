//! TagResource: adds or overwrites tags on a key (at most 50).

use serde::Deserialize;
use trent_wire::Validator;

use crate::model::{self, KeyState, Tag};
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    tags: Option<Vec<Tag>>,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<super::Empty, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.required("tags", &req.tags);
    v.finish()?;
    let new_tags = model::validate_tags("tags", req.tags.as_deref().unwrap_or_default())?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("TagResource").request_tags(&new_tags),
        )
        .await?;
    kms.update_key(&key, |r| {
        let state = KeyState::parse(&r.state)?;
        if state.is_pending_deletion() {
            return Err(state.invalid_state_error(&key.arn));
        }
        for (k, val) in &new_tags {
            match r.tags.iter_mut().find(|(ek, _)| ek == k) {
                Some(existing) => existing.1.clone_from(val),
                None => r.tags.push((k.clone(), val.clone())),
            }
        }
        if r.tags.len() > model::MAX_TAGS {
            return Err(KmsError::LimitExceeded(format!(
                "A key can have at most {} tags.",
                model::MAX_TAGS
            )));
        }
        Ok(())
    })
    .await?;
    Ok(super::Empty {})
}
