//! GetParameterHistory: every kept version of a parameter, oldest first, with labels.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model::{self, Value, token};
use crate::{Caller, Ssm, SsmError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    name: Option<String>,
    with_decryption: Option<bool>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct History {
    name: String,
    #[serde(rename = "Type")]
    param_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    last_modified_date: f64,
    last_modified_user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    value: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_pattern: Option<String>,
    version: i64,
    labels: Vec<String>,
    tier: String,
    policies: Vec<crate::policy::InlinePolicy>,
    data_type: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    parameters: Vec<History>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn handle(ssm: &Ssm, caller: &Caller, req: Request) -> Result<Response, SsmError> {
    let mut v = Validator::new();
    super::name_member(&mut v, "name", &req.name);
    v.range("maxResults", req.max_results, 1, 50);
    v.finish()?;
    let name = req.name.unwrap_or_default();
    ssm.authorize(
        caller,
        crate::authz::Access::parameter("GetParameterHistory", &caller.scope, &name),
    )
    .await?;
    let head = if model::is_lookup_name(&name) {
        ssm.store().get_parameter(&caller.scope, &name).await?
    } else {
        None
    };
    let Some(head) = head else {
        return Err(SsmError::ParameterNotFound(name));
    };
    let after = match req.next_token.as_deref() {
        Some(t) => token::decode(t)?
            .parse::<i64>()
            .map_err(|_| SsmError::InvalidNextToken)?,
        None => 0,
    };
    let limit = req
        .max_results
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(50);
    let rows = ssm
        .store()
        .parameter_versions(&caller.scope, &name, after, limit + 1)
        .await?;
    let more = rows.len() > limit as usize;
    let mut parameters = Vec::with_capacity(rows.len());
    let mut last = None;
    for version in rows.into_iter().take(limit as usize) {
        let value = ssm
            .value_out(caller, &name, &version, req.with_decryption == Some(true))
            .await?;
        last = Some(version.version);
        parameters.push(History {
            name: name.clone(),
            param_type: version.param_type,
            key_id: version.key_id,
            last_modified_date: trent_wire::timestamp::from_millis(version.modified_ms),
            last_modified_user: version.modified_user,
            description: version.description,
            value,
            allowed_pattern: version.allowed_pattern,
            version: version.version,
            labels: version.labels,
            // The latest version shows the live policies (with their current status); older
            // ones the policies they were written with.
            policies: crate::policy::inline(if version.version == head.latest_version {
                &head.policies
            } else {
                &version.policies
            })?,
            tier: version.tier,
            data_type: version.data_type,
        });
    }
    Ok(Response {
        parameters,
        next_token: if more {
            last.map(|v| token::encode(&v.to_string()))
        } else {
            None
        },
    })
}
