//! ListAliases: every alias in the account and region, or those of one key.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model::{self, marker};
use crate::{Caller, Kms, KmsError};

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
    aliases: Vec<Entry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    alias_name: String,
    alias_arn: String,
    target_key_id: String,
    creation_date: f64,
    last_updated_date: f64,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    v.length("keyId", req.key_id.as_deref(), 1, 2048);
    let limit = super::limit_member(&mut v, req.limit);
    super::marker_member(&mut v, req.marker.as_deref());
    v.finish()?;
    // ListAliases is governed by IAM policies alone (resource `*`), KeyId or not.
    crate::authz::authorize_identity(caller, "ListAliases", "*", |_| {})?;
    let key_id = match &req.key_id {
        Some(k) => {
            if k.starts_with("alias/") || k.contains(":alias/") {
                return Err(KmsError::NotFound(format!("Invalid keyId '{k}'")));
            }
            let id = kms.key_id_of(caller, k, "ListAliases").await?;
            if kms.load(&caller.scope, &id).await?.is_none() {
                return Err(KmsError::NotFound(format!(
                    "Key '{}' does not exist",
                    model::key_arn(&caller.scope, &id)
                )));
            }
            Some(id)
        }
        None => None,
    };
    let after = req.marker.as_deref().map(marker::decode).transpose()?;
    let mut rows = kms
        .store()
        .list_aliases(
            &caller.scope,
            key_id.as_deref(),
            after.as_deref(),
            limit + 1,
        )
        .await?;
    let truncated = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_marker = match rows.last() {
        Some(last) if truncated => Some(marker::encode(&last.alias_name)),
        _ => None,
    };
    Ok(Response {
        aliases: rows
            .into_iter()
            .map(|a| Entry {
                alias_arn: model::alias_arn(&a.scope, &a.alias_name),
                alias_name: a.alias_name,
                target_key_id: a.key_id,
                creation_date: trent_wire::timestamp::from_millis(a.created_ms),
                last_updated_date: trent_wire::timestamp::from_millis(a.updated_ms),
            })
            .collect(),
        next_marker,
        truncated,
    })
}
