//! One module per Parameter Store operation. Each has its `Request` (the botocore input shape,
//! every member optional so that absence is reported as AWS reports it), its `Response`, and
//! `handle`.

use trent_wire::Validator;

use crate::{Caller, Ssm, SsmError};

mod add_tags_to_resource;
mod delete_parameter;
mod delete_parameters;
mod describe_parameters;
mod get_parameter;
mod get_parameter_history;
mod get_parameters;
mod get_parameters_by_path;
mod label_parameter_version;
mod list_tags_for_resource;
mod put_parameter;
mod remove_tags_from_resource;
mod unlabel_parameter_version;

macro_rules! operations {
    ($($name:literal => $module:ident,)*) => {
        trent_wire::request_decoders! { $($name => $module,)* }

        pub(crate) async fn dispatch(
            ssm: &Ssm,
            caller: &Caller,
            operation: &str,
            body: &[u8],
        ) -> Result<Vec<u8>, SsmError> {
            match operation {
                $($name => {
                    let request: $module::Request = trent_wire::decode(body)?;
                    let response = $module::handle(ssm, caller, request).await?;
                    serde_json::to_vec(&response)
                        .map_err(|_| SsmError::Internal("response serialization"))
                })*
                _ => Err(SsmError::Internal("dispatch of an unknown operation")),
            }
        }
    };
}

operations! {
    "AddTagsToResource" => add_tags_to_resource,
    "DeleteParameter" => delete_parameter,
    "DeleteParameters" => delete_parameters,
    "DescribeParameters" => describe_parameters,
    "GetParameter" => get_parameter,
    "GetParameterHistory" => get_parameter_history,
    "GetParameters" => get_parameters,
    "GetParametersByPath" => get_parameters_by_path,
    "LabelParameterVersion" => label_parameter_version,
    "ListTagsForResource" => list_tags_for_resource,
    "PutParameter" => put_parameter,
    "RemoveTagsFromResource" => remove_tags_from_resource,
    "UnlabelParameterVersion" => unlabel_parameter_version,
}

/// A required PSParameterName member: present, 1–2048 characters.
pub(crate) fn name_member(v: &mut Validator, member: &str, value: &Option<String>) {
    v.required(member, value);
    v.length(member, value.as_deref(), 1, 2048);
}

/// A required ParameterNameList member: 1–10 names of 1–2048 characters.
pub(crate) fn names_member(v: &mut Validator, member: &str, value: &Option<Vec<String>>) {
    v.required(member, value);
    v.count(member, value.as_ref().map(Vec::len), 1, 10);
    for (i, n) in value.iter().flatten().enumerate() {
        v.length(&format!("{member}.{}.member", i + 1), Some(n), 1, 2048);
    }
}

/// A required ParameterLabelList member: 1–10 labels of 1–100 characters.
pub(crate) fn labels_member(v: &mut Validator, value: &Option<Vec<String>>) {
    v.required("labels", value);
    v.count("labels", value.as_ref().map(Vec::len), 1, 10);
    for (i, l) in value.iter().flatten().enumerate() {
        v.length(&format!("labels.{}.member", i + 1), Some(l), 1, 100);
    }
}

/// The PSParameterVersion of a label operation: the parameter's, or ParameterVersionNotFound.
pub(crate) async fn existing_version(
    ssm: &Ssm,
    caller: &Caller,
    name: &str,
    version: Option<i64>,
) -> Result<
    (
        trent_store::ParameterRecord,
        trent_store::ParameterVersionRecord,
    ),
    SsmError,
> {
    let param = if crate::model::is_lookup_name(name) {
        ssm.store().get_parameter(&caller.scope, name).await?
    } else {
        None
    };
    let param = param.ok_or_else(|| SsmError::ParameterNotFound(name.to_string()))?;
    let wanted = version.unwrap_or(param.latest_version);
    let record = ssm
        .store()
        .get_parameter_version(&caller.scope, name, Some(wanted))
        .await?
        .ok_or_else(|| {
            SsmError::ParameterVersionNotFound(format!(
                "Systems Manager could not find version {wanted} of {name}. Verify the version \
                 and try again."
            ))
        })?;
    Ok((param, record))
}

/// Deletes a parameter, with its Delete event in the same transaction. Returns false if it did
/// not exist.
pub(crate) async fn delete_one(ssm: &Ssm, caller: &Caller, name: &str) -> Result<bool, SsmError> {
    if !crate::model::is_lookup_name(name) {
        return Ok(false);
    }
    let scope = &caller.scope;
    for _ in 0..crate::UPDATE_RETRIES {
        let Some(head) = ssm.store().get_parameter(scope, name).await? else {
            return Ok(false);
        };
        let latest = ssm.store().get_parameter_version(scope, name, None).await?;
        let event = match &latest {
            Some(v) => ssm.event(|| {
                crate::events::change(
                    scope,
                    name,
                    crate::events::DELETE,
                    &v.param_type,
                    v.description.as_deref(),
                    ssm.now_ms(),
                )
            })?,
            None => None,
        };
        let deleted = ssm
            .store()
            .delete_parameter_checked(&head, event.as_slice())
            .await;
        ssm.written(scope, name);
        match deleted {
            Ok(()) => {
                ssm.events_committed(event.is_some());
                return Ok(true);
            }
            Err(trent_store::StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SsmError::TooManyUpdates)
}

/// Resource types the tagging operations know; only `Parameter` is served here.
const RESOURCE_TYPES: &[&str] = &[
    "Document",
    "ManagedInstance",
    "MaintenanceWindow",
    "Parameter",
    "PatchBaseline",
    "OpsItem",
    "OpsMetadata",
    "Automation",
    "Association",
    "CloudConnector",
];

/// Validates the ResourceType and ResourceId members of the tagging operations.
pub(crate) fn resource_members(
    v: &mut Validator,
    resource_type: &Option<String>,
    resource_id: &Option<String>,
) {
    v.required("resourceType", resource_type);
    v.one_of("resourceType", resource_type.as_deref(), RESOURCE_TYPES);
    v.required("resourceId", resource_id);
}

/// Authorizes a tagging operation on the parameter it names. Other resource types are not
/// served, and are refused by [`tagged_parameter`] without an authorization question.
pub(crate) async fn authorize_tagging(
    ssm: &Ssm,
    caller: &Caller,
    action: &'static str,
    resource_type: Option<&str>,
    resource_id: Option<&str>,
    keys: impl FnOnce(crate::authz::Access<'_>) -> crate::authz::Access<'_>,
) -> Result<(), SsmError> {
    if resource_type != Some("Parameter") {
        return Ok(());
    }
    let name = resource_id.unwrap_or_default();
    ssm.authorize(
        caller,
        keys(crate::authz::Access::parameter(action, &caller.scope, name)),
    )
    .await
}

/// The parameter a tagging operation names.
pub(crate) async fn tagged_parameter(
    ssm: &Ssm,
    caller: &Caller,
    resource_type: Option<&str>,
    resource_id: Option<&str>,
) -> Result<trent_store::ParameterRecord, SsmError> {
    let resource_type = resource_type.unwrap_or_default();
    if resource_type != "Parameter" {
        return Err(SsmError::InvalidResourceType(format!(
            "The resource type {resource_type} is not served by this server; only Parameter is."
        )));
    }
    let name = resource_id.unwrap_or_default();
    if !crate::model::is_lookup_name(name) {
        return Err(SsmError::InvalidResourceId);
    }
    ssm.store()
        .get_parameter(&caller.scope, name)
        .await?
        .ok_or(SsmError::InvalidResourceId)
}

/// Tag members: keys 1–128 and values 0–256 characters of letters, spaces, digits and
/// `_.:/=+-@`.
pub(crate) fn tag_member(
    v: &mut Validator,
    member: &str,
    key: &Option<String>,
    value: Option<&Option<String>>,
) {
    fn ok(s: &str) -> bool {
        s.chars().all(|c| {
            c.is_alphanumeric()
                || c.is_whitespace()
                || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
        })
    }
    const PATTERN: &str = "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$";
    let key_member = format!("{member}.key");
    v.required(&key_member, key);
    v.length(&key_member, key.as_deref(), 1, 128);
    v.pattern(&key_member, key.as_deref(), PATTERN, ok);
    if let Some(value) = value {
        let value_member = format!("{member}.value");
        v.required(&value_member, value);
        v.length(&value_member, value.as_deref(), 0, 256);
        v.pattern(&value_member, value.as_deref(), PATTERN, ok);
    }
}
