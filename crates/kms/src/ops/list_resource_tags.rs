//! ListResourceTags, with Limit/Marker paging.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model::{Tag, marker};
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    let limit = super::limit_member(&mut v, req.limit) as usize;
    super::marker_member(&mut v, req.marker.as_deref());
    v.finish()?;
    let start = match &req.marker {
        Some(m) => marker::decode(m)?
            .parse::<usize>()
            .map_err(|_| KmsError::InvalidMarker("The pagination marker is not valid."))?,
        None => 0,
    };
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("ListResourceTags"),
        )
        .await?;
    let all = &key.record.tags;
    let page: Vec<Tag> = all
        .iter()
        .skip(start)
        .take(limit)
        .map(|(k, v)| Tag {
            tag_key: Some(k.clone()),
            tag_value: Some(v.clone()),
        })
        .collect();
    let end = start.saturating_add(page.len());
    let truncated = end < all.len();
    Ok(Response {
        tags: page,
        next_marker: truncated.then(|| marker::encode(&end.to_string())),
        truncated,
    })
}
