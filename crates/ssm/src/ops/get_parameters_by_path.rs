//! GetParametersByPath: the parameters under a path (one level, or every level with Recursive),
//! latest versions, in name order, at most 10 a page.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model::{self, Parameter, Selector, token};
use crate::{Caller, Ssm, SsmError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    path: Option<String>,
    recursive: Option<bool>,
    parameter_filters: Option<Vec<serde_json::Value>>,
    with_decryption: Option<bool>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    parameters: Vec<Parameter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn handle(ssm: &Ssm, caller: &Caller, req: Request) -> Result<Response, SsmError> {
    let mut v = Validator::new();
    super::name_member(&mut v, "path", &req.path);
    v.range("maxResults", req.max_results, 1, 10);
    v.finish()?;
    if req
        .parameter_filters
        .as_ref()
        .is_some_and(|f| !f.is_empty())
    {
        return Err(SsmError::validation(
            "ParameterFilters are not supported by this server yet.",
        ));
    }
    let path = req.path.unwrap_or_default();
    if !path.starts_with('/') || !model::is_lookup_name(&path) || path.contains("//") {
        return Err(SsmError::validation(
            "The parameter doesn't meet the parameter name requirements. The parameter name \
             must begin with a forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" \
             (case-insensitive). It must use only letters, numbers, or the following symbols: . \
             (period), - (hyphen), _ (underscore). Special characters are not allowed. All \
             sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: \
             /get/parameters2-/by1./path0_.",
        ));
    }
    let prefix = if path == "/" {
        path
    } else {
        format!("{}/", path.trim_end_matches('/'))
    };
    if prefix.matches('/').count() > model::MAX_HIERARCHY_LEVELS {
        return Err(SsmError::HierarchyLevelLimitExceeded);
    }
    let after = req.next_token.as_deref().map(token::decode).transpose()?;
    let limit = req
        .max_results
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(10);
    let rows = ssm
        .store()
        .list_parameters_by_path(
            &caller.scope,
            &prefix,
            req.recursive == Some(true),
            after.as_deref(),
            limit + 1,
        )
        .await?;
    let more = rows.len() > limit as usize;
    let mut parameters = Vec::with_capacity(rows.len());
    let mut last = None;
    for (head, version) in rows.into_iter().take(limit as usize) {
        parameters.push(
            ssm.parameter_out(
                caller,
                &head.name,
                &version,
                &Selector::Latest,
                req.with_decryption == Some(true),
            )
            .await?,
        );
        last = Some(head.name);
    }
    Ok(Response {
        parameters,
        next_token: if more {
            last.map(|n| token::encode(&n))
        } else {
            None
        },
    })
}
