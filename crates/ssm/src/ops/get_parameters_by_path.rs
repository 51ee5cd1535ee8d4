//! GetParametersByPath: the parameters under a path (one level, or every level with Recursive),
//! latest versions, in name order, at most 10 a page. ParameterFilters: Type and KeyId (Equals,
//! BeginsWith) and Label (Equals: the version carrying the label, parameters without it left
//! out); every other key is InvalidFilterKey, as in AWS.

use serde::{Deserialize, Serialize};
use trent_store::ParameterVersionRecord;
use trent_wire::{ApiError, Validator};

use crate::model::{self, Parameter, Selector, token};
use crate::{Caller, Ssm, SsmError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    path: Option<String>,
    recursive: Option<bool>,
    parameter_filters: Option<Vec<StringFilter>>,
    with_decryption: Option<bool>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StringFilter {
    key: Option<String>,
    option: Option<String>,
    values: Option<Vec<String>>,
}

enum Field {
    Type,
    KeyId,
    Label,
}

struct Filter {
    field: Field,
    begins_with: bool,
    values: Vec<String>,
}

impl Filter {
    fn matches(&self, actual: Option<&str>) -> bool {
        actual.is_some_and(|a| {
            self.values.iter().any(|v| {
                if self.begins_with {
                    a.starts_with(v.as_str())
                } else {
                    a == v
                }
            })
        })
    }
}

fn filter_error(code: &'static str, message: String) -> SsmError {
    SsmError::Validation(ApiError::bad_request(code, message))
}

fn parse_filters(filters: &[StringFilter]) -> Result<Vec<Filter>, SsmError> {
    let mut out = Vec::with_capacity(filters.len());
    for f in filters {
        let key = f.key.clone().unwrap_or_default();
        let field = match key.as_str() {
            "Type" => Field::Type,
            "KeyId" => Field::KeyId,
            "Label" => Field::Label,
            _ => {
                return Err(filter_error(
                    "InvalidFilterKey",
                    format!(
                        "The filter key {key} is not valid for GetParametersByPath. Valid keys: \
                         Type, KeyId, Label."
                    ),
                ));
            }
        };
        let option = f.option.as_deref().unwrap_or("Equals");
        let allowed: &[&str] = match field {
            Field::Label => &["Equals"],
            _ => &["Equals", "BeginsWith"],
        };
        if !allowed.contains(&option) {
            return Err(filter_error(
                "InvalidFilterOption",
                format!("The filter option {option} is not valid for key {key}."),
            ));
        }
        let values = f.values.clone().unwrap_or_default();
        if values.is_empty() {
            return Err(filter_error(
                "InvalidFilterValue",
                format!("The filter {key} needs at least one value."),
            ));
        }
        if matches!(field, Field::Type)
            && let Some(bad) = values.iter().find(|v| !model::TYPES.contains(&v.as_str()))
        {
            return Err(filter_error(
                "InvalidFilterValue",
                format!(
                    "The following filter value is not valid: {bad}. Valid values: String, \
                     StringList, SecureString."
                ),
            ));
        }
        out.push(Filter {
            field,
            begins_with: option == "BeginsWith",
            values,
        });
    }
    Ok(out)
}

/// Rows read from the store at a time while filtering.
const BATCH: u32 = 100;

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
    for (i, f) in req.parameter_filters.iter().flatten().enumerate() {
        let m = format!("parameterFilters.{}.member", i + 1);
        v.required(&format!("{m}.key"), &f.key);
        v.length(&format!("{m}.key"), f.key.as_deref(), 1, 132);
        v.length(&format!("{m}.option"), f.option.as_deref(), 1, 10);
        v.count(
            &format!("{m}.values"),
            f.values.as_ref().map(Vec::len),
            1,
            50,
        );
    }
    v.finish()?;
    let filters = parse_filters(req.parameter_filters.as_deref().unwrap_or_default())?;
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
    ssm.authorize(
        caller,
        crate::authz::Access::resource(
            "GetParametersByPath",
            crate::authz::path_arn(&caller.scope, &path),
        )
        .with("ssm:Recursive", req.recursive == Some(true)),
    )
    .await?;
    let prefix = if path == "/" {
        path
    } else {
        format!("{}/", path.trim_end_matches('/'))
    };
    if prefix.matches('/').count() > model::MAX_HIERARCHY_LEVELS {
        return Err(SsmError::HierarchyLevelLimitExceeded);
    }
    let mut cursor = req.next_token.as_deref().map(token::decode).transpose()?;
    let limit = req
        .max_results
        .and_then(|m| usize::try_from(m).ok())
        .unwrap_or(10);
    let recursive = req.recursive == Some(true);
    let with_decryption = req.with_decryption == Some(true);
    let mut parameters = Vec::with_capacity(limit);
    loop {
        // Without filters one row more than a page tells whether another page follows.
        let batch = if filters.is_empty() {
            u32::try_from(limit + 1).unwrap_or(BATCH)
        } else {
            BATCH
        };
        let rows = ssm
            .store()
            .list_parameters_by_path(&caller.scope, &prefix, recursive, cursor.as_deref(), batch)
            .await?;
        let exhausted = rows.len() < batch as usize;
        for (head, latest) in rows {
            if parameters.len() == limit {
                return Ok(Response {
                    parameters,
                    next_token: cursor.map(|n| token::encode(&n)),
                });
            }
            cursor = Some(head.name.clone());
            let Some(version) = filtered(ssm, caller, &filters, &head.name, latest).await? else {
                continue;
            };
            parameters.push(
                ssm.parameter_out(
                    caller,
                    &head.name,
                    &version,
                    &Selector::Latest,
                    with_decryption,
                )
                .await?,
            );
        }
        if exhausted {
            return Ok(Response {
                parameters,
                next_token: None,
            });
        }
    }
}

/// The version a parameter contributes under the filters: the latest, or the labelled one with
/// a Label filter; `None` when it does not pass.
async fn filtered(
    ssm: &Ssm,
    caller: &Caller,
    filters: &[Filter],
    name: &str,
    latest: ParameterVersionRecord,
) -> Result<Option<ParameterVersionRecord>, SsmError> {
    let mut version = latest;
    for f in filters.iter().filter(|f| matches!(f.field, Field::Label)) {
        let mut found = None;
        for label in &f.values {
            if let Some(v) = ssm
                .store()
                .get_parameter_version_by_label(&caller.scope, name, label)
                .await?
            {
                found = Some(v);
                break;
            }
        }
        match found {
            Some(v) => version = v,
            None => return Ok(None),
        }
    }
    let passes = filters.iter().all(|f| match f.field {
        Field::Type => f.matches(Some(&version.param_type)),
        Field::KeyId => f.matches(version.key_id.as_deref()),
        Field::Label => true,
    });
    Ok(passes.then_some(version))
}
