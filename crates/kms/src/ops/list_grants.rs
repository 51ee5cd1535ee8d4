//! ListGrants: a key's grants, oldest first, optionally one grant or one grantee's, paged.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::authz::Access;
use crate::grants::{self, Entry};
use crate::model::marker;
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    grant_id: Option<String>,
    grantee_principal: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub grants: Vec<Entry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// Pages `rows` (already filtered, oldest first) after the marker.
pub(crate) fn page(
    rows: Vec<trent_store::GrantRecord>,
    marker_value: Option<&str>,
    limit: usize,
) -> Result<Response, KmsError> {
    let start = match marker_value {
        Some(m) => marker::decode(m)?
            .parse::<usize>()
            .map_err(|_| KmsError::InvalidMarker("The pagination marker is not valid."))?,
        None => 0,
    };
    let total = rows.len();
    let end = start.saturating_add(limit).min(total);
    let grants = rows
        .into_iter()
        .skip(start)
        .take(limit)
        .map(Entry::from_record)
        .collect::<Result<Vec<_>, _>>()?;
    let truncated = end < total;
    Ok(Response {
        grants,
        next_marker: truncated.then(|| marker::encode(&end.to_string())),
        truncated,
    })
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.length("grantId", req.grant_id.as_deref(), 1, 128);
    v.length("granteePrincipal", req.grantee_principal.as_deref(), 1, 256);
    let limit = super::limit_member(&mut v, req.limit) as usize;
    super::marker_member(&mut v, req.marker.as_deref());
    v.finish()?;
    if let Some(id) = &req.grant_id {
        grants::check_grant_id(id)?;
    }
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Allowed,
            &Access::new("ListGrants"),
        )
        .await?;
    let rows: Vec<_> = kms
        .store()
        .key_grants(&key.record.scope, &key.record.key_id)
        .await?
        .into_iter()
        .filter(|g| req.grant_id.as_ref().is_none_or(|id| &g.grant_id == id))
        .filter(|g| {
            req.grantee_principal
                .as_ref()
                .is_none_or(|p| &g.grantee_principal == p)
        })
        .collect();
    page(rows, req.marker.as_deref(), limit)
}
