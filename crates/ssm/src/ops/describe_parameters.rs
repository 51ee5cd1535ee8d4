//! DescribeParameters: metadata of the parameters that pass every filter, in name order, at most
//! 50 a page. Filters are the legacy `Filters` (Name, Type, KeyId; Equals) or `ParameterFilters`
//! (Name: Equals, BeginsWith, Contains; Path: OneLevel, Recursive; Type, KeyId, Tier, DataType and
//! `tag:<key>`: Equals, BeginsWith — a tag filter without values matches any value), not both.

use serde::{Deserialize, Serialize};
use trent_store::{ParameterRecord, ParameterVersionRecord};
use trent_wire::{ApiError, Validator};

use crate::model::{self, token};
use crate::{Caller, Ssm, SsmError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LegacyFilter {
    key: Option<String>,
    values: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StringFilter {
    key: Option<String>,
    option: Option<String>,
    values: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    filters: Option<Vec<LegacyFilter>>,
    parameter_filters: Option<Vec<StringFilter>>,
    max_results: Option<i64>,
    next_token: Option<String>,
    shared: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    name: String,
    #[serde(rename = "ARN")]
    arn: String,
    #[serde(rename = "Type")]
    param_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    last_modified_date: f64,
    last_modified_user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_pattern: Option<String>,
    version: i64,
    tier: String,
    policies: Vec<crate::policy::InlinePolicy>,
    data_type: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    parameters: Vec<Metadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// What one filter asks of a parameter.
enum Field {
    Name,
    Path,
    Type,
    KeyId,
    Tier,
    DataType,
    Tag(String),
}

struct Filter {
    field: Field,
    option: String,
    values: Vec<String>,
}

impl Filter {
    fn matches(&self, head: &ParameterRecord, v: &ParameterVersionRecord) -> bool {
        let test = |actual: &str| {
            self.values.iter().any(|want| match self.option.as_str() {
                "BeginsWith" => actual.starts_with(want.as_str()),
                "Contains" => actual.contains(want.as_str()),
                _ => actual == want,
            })
        };
        match &self.field {
            Field::Name => test(&head.name),
            Field::Type => test(&v.param_type),
            Field::KeyId => v.key_id.as_deref().is_some_and(test),
            Field::Tier => test(&head.tier),
            Field::DataType => test(&v.data_type),
            Field::Tag(key) => head
                .tags
                .iter()
                .any(|(k, val)| k == key && (self.values.is_empty() || test(val))),
            Field::Path => self.values.iter().any(|path| {
                let prefix = if path == "/" {
                    "/".to_string()
                } else {
                    format!("{}/", path.trim_end_matches('/'))
                };
                head.name
                    .strip_prefix(&prefix)
                    .is_some_and(|rest| self.option == "Recursive" || !rest.contains('/'))
            }),
        }
    }
}

fn invalid_key(key: &str) -> SsmError {
    SsmError::Validation(ApiError::bad_request(
        "InvalidFilterKey",
        format!("The filter key {key} is not valid for DescribeParameters."),
    ))
}

fn invalid_option(option: &str, key: &str) -> SsmError {
    SsmError::Validation(ApiError::bad_request(
        "InvalidFilterOption",
        format!("The filter option {option} is not valid for key {key}."),
    ))
}

fn invalid_value(message: String) -> SsmError {
    SsmError::Validation(ApiError::bad_request("InvalidFilterValue", message))
}

fn parse_filters(req: &Request) -> Result<Vec<Filter>, SsmError> {
    let mut out = Vec::new();
    if req.filters.is_some() && req.parameter_filters.is_some() {
        return Err(SsmError::validation(
            "You can use either Filters or ParameterFilters in a single request.",
        ));
    }
    for f in req.filters.iter().flatten() {
        let key = f.key.clone().unwrap_or_default();
        let field = match key.as_str() {
            "Name" => Field::Name,
            "Type" => Field::Type,
            "KeyId" => Field::KeyId,
            _ => return Err(invalid_key(&key)),
        };
        out.push(Filter {
            field,
            option: "Equals".to_string(),
            values: f.values.clone().unwrap_or_default(),
        });
    }
    for f in req.parameter_filters.iter().flatten() {
        let key = f.key.clone().unwrap_or_default();
        let (field, options, default): (Field, &[&str], &str) = match key.as_str() {
            "Name" => (Field::Name, &["Equals", "BeginsWith", "Contains"], "Equals"),
            "Path" => (Field::Path, &["OneLevel", "Recursive"], "OneLevel"),
            "Type" => (Field::Type, &["Equals", "BeginsWith"], "Equals"),
            "KeyId" => (Field::KeyId, &["Equals", "BeginsWith"], "Equals"),
            "Tier" => (Field::Tier, &["Equals", "BeginsWith"], "Equals"),
            "DataType" => (Field::DataType, &["Equals", "BeginsWith"], "Equals"),
            k if k.starts_with("tag:") && k.len() > 4 => (
                Field::Tag(k.trim_start_matches("tag:").to_string()),
                &["Equals", "BeginsWith"],
                "Equals",
            ),
            _ => return Err(invalid_key(&key)),
        };
        let option = f.option.clone().unwrap_or_else(|| default.to_string());
        if !options.contains(&option.as_str()) {
            return Err(invalid_option(&option, &key));
        }
        let values = f.values.clone().unwrap_or_default();
        if values.is_empty() && !matches!(field, Field::Tag(_)) {
            return Err(invalid_value(format!(
                "The filter {key} needs at least one value."
            )));
        }
        match field {
            Field::Type => {
                if let Some(bad) = values.iter().find(|v| !model::TYPES.contains(&v.as_str())) {
                    return Err(invalid_value(format!(
                        "The following filter value is not valid: {bad}. Valid values: String, \
                         StringList, SecureString."
                    )));
                }
            }
            Field::Tier => {
                if let Some(bad) = values
                    .iter()
                    .find(|v| !matches!(v.as_str(), model::STANDARD | model::ADVANCED))
                {
                    return Err(invalid_value(format!(
                        "The following filter value is not valid: {bad}. Valid values: \
                         Standard, Advanced."
                    )));
                }
            }
            Field::Path => {
                if let Some(bad) = values.iter().find(|v| !v.starts_with('/')) {
                    return Err(invalid_value(format!(
                        "The following filter value is not valid: {bad}. A path must begin \
                         with a forward slash."
                    )));
                }
            }
            _ => {}
        }
        out.push(Filter {
            field,
            option,
            values,
        });
    }
    Ok(out)
}

/// Rows read from the store at a time while filtering.
const BATCH: u32 = 200;

pub async fn handle(ssm: &Ssm, caller: &Caller, req: Request) -> Result<Response, SsmError> {
    let mut v = Validator::new();
    v.range("maxResults", req.max_results, 1, 50);
    for (i, f) in req.filters.iter().flatten().enumerate() {
        let m = format!("filters.{}.member", i + 1);
        v.required(&format!("{m}.key"), &f.key);
        v.one_of(
            &format!("{m}.key"),
            f.key.as_deref(),
            &["Name", "Type", "KeyId"],
        );
        v.required(&format!("{m}.values"), &f.values);
        v.count(
            &format!("{m}.values"),
            f.values.as_ref().map(Vec::len),
            1,
            50,
        );
    }
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
    ssm.authorize(
        caller,
        crate::authz::Access::resource(
            "DescribeParameters",
            crate::authz::account_arn(&caller.scope),
        ),
    )
    .await?;
    if req.shared == Some(true) {
        // No parameters are shared with this account: sharing needs AWS RAM.
        return Ok(Response {
            parameters: Vec::new(),
            next_token: None,
        });
    }
    let filters = parse_filters(&req)?;
    let limit = req
        .max_results
        .and_then(|m| usize::try_from(m).ok())
        .unwrap_or(50);
    let mut cursor = req.next_token.as_deref().map(token::decode).transpose()?;
    let mut parameters: Vec<Metadata> = Vec::new();
    loop {
        let rows = ssm
            .store()
            .list_parameters_by_path(&caller.scope, "", true, cursor.as_deref(), BATCH)
            .await?;
        let exhausted = rows.len() < BATCH as usize;
        for (head, version) in rows {
            cursor = Some(head.name.clone());
            if !filters.iter().all(|f| f.matches(&head, &version)) {
                continue;
            }
            if parameters.len() == limit {
                let last = parameters.last().map(|m| token::encode(&m.name));
                return Ok(Response {
                    parameters,
                    next_token: last,
                });
            }
            parameters.push(Metadata {
                arn: model::parameter_arn(&caller.scope, &head.name),
                name: head.name,
                param_type: version.param_type,
                key_id: version.key_id,
                last_modified_date: trent_wire::timestamp::from_millis(version.modified_ms),
                last_modified_user: version.modified_user,
                description: version.description,
                allowed_pattern: version.allowed_pattern,
                version: version.version,
                policies: crate::policy::inline(&head.policies)?,
                tier: head.tier,
                data_type: version.data_type,
            });
        }
        if exhausted {
            return Ok(Response {
                parameters,
                next_token: None,
            });
        }
    }
}
