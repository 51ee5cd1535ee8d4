//! ListKeys: the caller's keys in this region, in creation order, with Limit/Marker paging.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model::{self, marker};
use crate::{Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    limit: Option<i64>,
    marker: Option<String>,
    resource_owners: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    keys: Vec<Entry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    key_id: String,
    key_arn: String,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    let limit = super::limit_member(&mut v, req.limit);
    super::marker_member(&mut v, req.marker.as_deref());
    if let Some(owners) = &req.resource_owners {
        v.count("resourceOwners", Some(owners.len()), 1, 2);
        for (i, o) in owners.iter().enumerate() {
            v.one_of(
                &format!("resourceOwners.{}.member", i + 1),
                Some(o),
                &["SELF", "OTHER_ACCOUNTS"],
            );
        }
    }
    v.finish()?;
    crate::authz::authorize_identity(caller, "ListKeys", "*", |_| {})?;
    let after = match &req.marker {
        Some(m) => marker::decode(m)?
            .parse::<i64>()
            .map_err(|_| KmsError::InvalidMarker("The pagination marker is not valid."))?,
        None => 0,
    };
    // Keys of other accounts reach this list only through grants, which do not exist yet.
    let wants_self = req
        .resource_owners
        .as_ref()
        .is_none_or(|o| o.iter().any(|x| x == "SELF"));
    let mut rows = if wants_self {
        kms.store()
            .list_keys(&caller.scope, after, limit + 1)
            .await?
    } else {
        Vec::new()
    };
    let truncated = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_marker = match rows.last() {
        Some(last) if truncated => Some(marker::encode(&last.seq.to_string())),
        _ => None,
    };
    Ok(Response {
        keys: rows
            .iter()
            .map(|r| Entry {
                key_id: r.key_id.clone(),
                key_arn: model::key_arn(&r.scope, &r.key_id),
            })
            .collect(),
        next_marker,
        truncated,
    })
}
