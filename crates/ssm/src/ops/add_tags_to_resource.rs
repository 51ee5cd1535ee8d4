//! AddTagsToResource (ResourceType Parameter): adds or replaces tags, at most 50 a parameter.

use serde::Deserialize;
use trent_store::StoreError;
use trent_wire::Validator;

use crate::model::{MAX_TAGS, Tag};
use crate::{Caller, Ssm, SsmError, UPDATE_RETRIES};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    resource_type: Option<String>,
    resource_id: Option<String>,
    tags: Option<Vec<Tag>>,
}

pub async fn handle(
    ssm: &Ssm,
    caller: &Caller,
    req: Request,
) -> Result<serde_json::Map<String, serde_json::Value>, SsmError> {
    let mut v = Validator::new();
    super::resource_members(&mut v, &req.resource_type, &req.resource_id);
    v.required("tags", &req.tags);
    v.count("tags", req.tags.as_ref().map(Vec::len), 0, 1000);
    for (i, t) in req.tags.iter().flatten().enumerate() {
        super::tag_member(
            &mut v,
            &format!("tags.{}.member", i + 1),
            &t.key,
            Some(&t.value),
        );
    }
    v.finish()?;
    let requested: Vec<(String, String)> = req
        .tags
        .iter()
        .flatten()
        .map(|t| {
            (
                t.key.clone().unwrap_or_default(),
                t.value.clone().unwrap_or_default(),
            )
        })
        .collect();
    super::authorize_tagging(
        ssm,
        caller,
        "AddTagsToResource",
        req.resource_type.as_deref(),
        req.resource_id.as_deref(),
        |a| a.request_tags(&requested),
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
        for t in req.tags.iter().flatten() {
            let key = t.key.clone().unwrap_or_default();
            let value = t.value.clone().unwrap_or_default();
            match param.tags.iter_mut().find(|(k, _)| *k == key) {
                Some(existing) => existing.1 = value,
                None => param.tags.push((key, value)),
            }
        }
        if param.tags.len() > MAX_TAGS {
            return Err(SsmError::TooManyTags(MAX_TAGS));
        }
        match ssm.store().set_parameter_tags(&param).await {
            Ok(_) => return Ok(serde_json::Map::new()),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SsmError::TooManyUpdates)
}
