//! RemoveTagsFromResource (ResourceType Parameter): removes tags by key; unknown keys are ignored.

use serde::Deserialize;
use trent_store::StoreError;
use trent_wire::Validator;

use crate::{Caller, Ssm, SsmError, UPDATE_RETRIES};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    resource_type: Option<String>,
    resource_id: Option<String>,
    tag_keys: Option<Vec<String>>,
}

pub async fn handle(
    ssm: &Ssm,
    caller: &Caller,
    req: Request,
) -> Result<serde_json::Map<String, serde_json::Value>, SsmError> {
    let mut v = Validator::new();
    super::resource_members(&mut v, &req.resource_type, &req.resource_id);
    v.required("tagKeys", &req.tag_keys);
    for (i, k) in req.tag_keys.iter().flatten().enumerate() {
        super::tag_member(
            &mut v,
            &format!("tagKeys.{}", i + 1),
            &Some(k.clone()),
            None,
        );
    }
    v.finish()?;
    let keys = req.tag_keys.unwrap_or_default();
    super::authorize_tagging(
        ssm,
        caller,
        "RemoveTagsFromResource",
        req.resource_type.as_deref(),
        req.resource_id.as_deref(),
        |a| a.tag_keys(keys.clone()),
    )
    .await?;
    for _ in 0..UPDATE_RETRIES {
        let mut param = super::tagged_parameter(
            ssm,
            caller,
            req.resource_type.as_deref(),
            req.resource_id.as_deref(),
        )
        .await?;
        let before = param.tags.len();
        param.tags.retain(|(k, _)| !keys.contains(k));
        if param.tags.len() == before {
            return Ok(serde_json::Map::new());
        }
        match ssm.store().set_parameter_tags(&param).await {
            Ok(_) => return Ok(serde_json::Map::new()),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SsmError::TooManyUpdates)
}
