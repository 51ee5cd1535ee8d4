//! ListTagsForResource (ResourceType Parameter).

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model::Tag;
use crate::{Caller, Ssm, SsmError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    resource_type: Option<String>,
    resource_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    tag_list: Vec<Tag>,
}

pub async fn handle(ssm: &Ssm, caller: &Caller, req: Request) -> Result<Response, SsmError> {
    let mut v = Validator::new();
    super::resource_members(&mut v, &req.resource_type, &req.resource_id);
    v.finish()?;
    super::authorize_tagging(
        ssm,
        caller,
        "ListTagsForResource",
        req.resource_type.as_deref(),
        req.resource_id.as_deref(),
        |a| a,
    )
    .await?;
    let param = super::tagged_parameter(
        ssm,
        caller,
        req.resource_type.as_deref(),
        req.resource_id.as_deref(),
    )
    .await?;
    Ok(Response {
        tag_list: param
            .tags
            .into_iter()
            .map(|(k, v)| Tag {
                key: Some(k),
                value: Some(v),
            })
            .collect(),
    })
}
