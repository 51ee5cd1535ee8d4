//! ListSecrets: the secrets of the account and region, filtered, sorted, paginated.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trent_store::SecretRecord;
use trent_wire::Validator;
use trent_wire::timestamp::from_millis;

use crate::model::{self, Tag};
use crate::ops::{Filter, filters_member, matches};
use crate::{Caller, Secrets, SecretsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    include_planned_deletion: Option<bool>,
    max_results: Option<i64>,
    next_token: Option<String>,
    filters: Option<Vec<Filter>>,
    sort_order: Option<String>,
    sort_by: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    #[serde(rename = "ARN")]
    arn: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_key_id: Option<String>,
    last_changed_date: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_accessed_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_date: Option<f64>,
    tags: Vec<Tag>,
    secret_versions_to_stages: BTreeMap<String, Vec<String>>,
    created_date: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_region: Option<String>,
    /// RotationEnabled and the other rotation fields, for secrets with a rotation
    /// configuration.
    #[serde(flatten)]
    rotation: Option<crate::rotation::RotationFields>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    secret_list: Vec<Entry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// The secrets that pass `filters`, in the requested order.
pub(crate) async fn filtered(
    secrets: &Secrets,
    caller: &Caller,
    filters: &[Filter],
    include_deleted: bool,
    sort_by: Option<&str>,
    descending: bool,
) -> Result<Vec<SecretRecord>, SecretsError> {
    let primaries = primary_regions(secrets, caller).await?;
    let mut list: Vec<SecretRecord> = secrets
        .store()
        .list_secrets(&caller.scope)
        .await?
        .into_iter()
        .filter(|s| include_deleted || s.deleted_ms.is_none())
        .filter(|s| matches(s, primaries.get(&s.name).map(String::as_str), filters))
        .collect();
    match sort_by.unwrap_or("created-date") {
        "name" => list.sort_by(|a, b| a.name.cmp(&b.name)),
        "last-accessed-date" => list.sort_by_key(|s| (s.last_accessed_ms, s.created_ms)),
        "last-changed-date" => list.sort_by_key(|s| (s.last_changed_ms, s.created_ms)),
        _ => list.sort_by(|a, b| (a.created_ms, &a.name).cmp(&(b.created_ms, &b.name))),
    }
    if descending {
        list.reverse();
    }
    Ok(list)
}

pub async fn handle(
    secrets: &Secrets,
    caller: &Caller,
    req: Request,
) -> Result<Response, SecretsError> {
    let mut v = Validator::new();
    v.range("maxResults", req.max_results, 1, 100);
    v.length("nextToken", req.next_token.as_deref(), 1, 4096);
    filters_member(&mut v, req.filters.as_ref());
    v.one_of("sortOrder", req.sort_order.as_deref(), &["asc", "desc"]);
    v.one_of(
        "sortBy",
        req.sort_by.as_deref(),
        &[
            "created-date",
            "last-accessed-date",
            "last-changed-date",
            "name",
        ],
    );
    v.finish()?;
    crate::authz::authorize(caller, "ListSecrets", "*", None)?;
    let start = model::decode_token(req.next_token.as_deref())?;
    let list = filtered(
        secrets,
        caller,
        req.filters.as_deref().unwrap_or_default(),
        req.include_planned_deletion == Some(true),
        req.sort_by.as_deref(),
        req.sort_order.as_deref() == Some("desc"),
    )
    .await?;
    let max = usize::try_from(req.max_results.unwrap_or(100)).unwrap_or(100);
    if start > list.len() {
        return Err(SecretsError::InvalidNextToken);
    }
    let end = start.saturating_add(max).min(list.len());
    let page = list.get(start..end).unwrap_or_default();
    let primaries = primary_regions(secrets, caller).await?;
    let mut secret_list: Vec<Entry> = page
        .iter()
        .map(|s| entry(s, primaries.get(&s.name).cloned()))
        .collect();
    for (e, s) in secret_list.iter_mut().zip(page) {
        e.rotation = secrets
            .store()
            .get_secret_rotation(&s.scope, &s.name)
            .await?
            .as_ref()
            .map(crate::rotation::RotationFields::of);
    }
    Ok(Response {
        secret_list,
        next_token: (end < list.len()).then(|| model::encode_token(end)),
    })
}

/// The primary region of each secret of the caller's region that takes part in replication.
async fn primary_regions(
    secrets: &Secrets,
    caller: &Caller,
) -> Result<std::collections::HashMap<String, String>, SecretsError> {
    Ok(secrets
        .store()
        .secret_primary_regions(&caller.scope)
        .await?
        .into_iter()
        .collect())
}

fn entry(s: &SecretRecord, primary_region: Option<String>) -> Entry {
    Entry {
        arn: s.arn.clone(),
        name: s.name.clone(),
        description: s.description.clone(),
        kms_key_id: s.kms_key_id.clone(),
        last_changed_date: from_millis(s.last_changed_ms),
        last_accessed_date: s.last_accessed_ms.map(from_millis),
        deleted_date: s.deleted_ms.map(from_millis),
        tags: model::tags_out(&s.tags),
        secret_versions_to_stages: model::versions_to_stages(s),
        created_date: from_millis(s.created_ms),
        primary_region,
        rotation: None,
    }
}
