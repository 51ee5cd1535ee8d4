//! BatchGetSecretValue: the AWSCURRENT values of up to 20 secrets, named by SecretIdList or
//! chosen by Filters. A secret that cannot be read is reported in `Errors`, not as a failure.

use serde::{Deserialize, Serialize};
use trent_store::SecretRecord;
use trent_wire::Validator;

use crate::model;
use crate::ops::get_secret_value::Response as Value;
use crate::ops::list_secrets::filtered;
use crate::ops::{Filter, filters_member};
use crate::{Caller, Secrets, SecretsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id_list: Option<Vec<String>>,
    filters: Option<Vec<Filter>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiErrorEntry {
    secret_id: String,
    error_code: String,
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    secret_values: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    errors: Vec<ApiErrorEntry>,
}

pub async fn handle(
    secrets: &Secrets,
    caller: &Caller,
    req: Request,
) -> Result<Response, SecretsError> {
    let mut v = Validator::new();
    v.count(
        "secretIdList",
        req.secret_id_list.as_ref().map(Vec::len),
        1,
        20,
    );
    for (i, id) in req.secret_id_list.iter().flatten().enumerate() {
        v.length(&format!("secretIdList.{}.member", i + 1), Some(id), 1, 2048);
    }
    filters_member(&mut v, req.filters.as_ref());
    v.range("maxResults", req.max_results, 1, 20);
    v.length("nextToken", req.next_token.as_deref(), 1, 4096);
    v.finish()?;
    crate::authz::authorize(caller, "BatchGetSecretValue", "*", None)?;
    let mut out = Response {
        secret_values: Vec::new(),
        next_token: None,
        errors: Vec::new(),
    };
    match (req.secret_id_list, req.filters) {
        (Some(ids), None) => {
            if req.max_results.is_some() || req.next_token.is_some() {
                return Err(SecretsError::InvalidParameter(
                    "MaxResults and NextToken can be used only with Filters.".to_string(),
                ));
            }
            for id in ids {
                let found = match secrets.live(caller, &id, "GetSecretValue").await {
                    Err(e) if e.is_internal() => return Err(e),
                    found => found,
                };
                read_into(secrets, caller, &mut out, &id, found).await?;
            }
        }
        (None, Some(filters)) => {
            crate::authz::authorize(caller, "ListSecrets", "*", None)?;
            let start = model::decode_token(req.next_token.as_deref())?;
            let list = filtered(secrets, caller, &filters, false, None, false).await?;
            if start > list.len() {
                return Err(SecretsError::InvalidNextToken);
            }
            let max = usize::try_from(req.max_results.unwrap_or(20)).unwrap_or(20);
            let end = start.saturating_add(max).min(list.len());
            for s in list.get(start..end).unwrap_or_default() {
                let allowed = crate::authz::authorize(caller, "GetSecretValue", &s.arn, Some(s));
                read_into(
                    secrets,
                    caller,
                    &mut out,
                    &s.arn,
                    allowed.map(|()| s.clone()),
                )
                .await?;
            }
            out.next_token = (end < list.len()).then(|| model::encode_token(end));
        }
        _ => {
            return Err(SecretsError::InvalidParameter(
                "Either 'SecretIdList' or 'Filters' must be provided, but not both.".to_string(),
            ));
        }
    }
    Ok(out)
}

/// Reads one secret's AWSCURRENT value into the answer; a per-secret failure becomes an error
/// entry, a server failure fails the request.
async fn read_into(
    secrets: &Secrets,
    caller: &Caller,
    out: &mut Response,
    id: &str,
    secret: Result<SecretRecord, SecretsError>,
) -> Result<(), SecretsError> {
    let read = match secret {
        Ok(s) => secrets.read_value(caller, &s, None, None).await,
        Err(e) => Err(e),
    };
    match read {
        Ok(v) => out.secret_values.push(v),
        Err(e) if e.is_internal() => return Err(e),
        Err(e) => {
            let api = e.to_api_error();
            out.errors.push(ApiErrorEntry {
                secret_id: id.to_string(),
                error_code: api.code.into_owned(),
                message: api.message,
            });
        }
    }
    Ok(())
}
