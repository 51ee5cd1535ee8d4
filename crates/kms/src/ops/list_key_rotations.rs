//! ListKeyRotations: the key's rotations (or all its material with ALL_KEY_MATERIAL), oldest
//! first, with Limit/Marker paging.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use super::enable_key_rotation::check_rotatable;
use crate::model::marker;
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    include_key_material: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    rotations: Vec<Entry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    key_id: String,
    key_material_id: String,
    key_material_state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_type: Option<String>,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.one_of(
        "includeKeyMaterial",
        req.include_key_material.as_deref(),
        &["ALL_KEY_MATERIAL", "ROTATIONS_ONLY"],
    );
    let limit = super::limit_member(&mut v, req.limit) as usize;
    super::marker_member(&mut v, req.marker.as_deref());
    v.finish()?;
    let start = match &req.marker {
        Some(m) => marker::decode(m)?
            .parse::<usize>()
            .map_err(|_| KmsError::InvalidMarker("The pagination marker is not valid."))?,
        None => 0,
    };
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &crate::authz::Access::new("ListKeyRotations"),
        )
        .await?;
    check_rotatable(&key)?;
    let all_material = req.include_key_material.as_deref() == Some("ALL_KEY_MATERIAL");
    let listed: Vec<Entry> = key
        .materials()
        .iter()
        .filter(|m| all_material || m.rotation_type.is_some())
        .map(|m| Entry {
            key_id: key.arn.clone(),
            key_material_id: m.id_hex.clone(),
            key_material_state: if m.id_hex == key.record.current_material_id {
                "CURRENT"
            } else {
                "NON_CURRENT"
            },
            rotation_date: m
                .rotation_type
                .is_some()
                .then(|| trent_wire::timestamp::from_millis(m.created_ms)),
            rotation_type: m.rotation_type.clone(),
        })
        .collect();
    let total = listed.len();
    let page: Vec<Entry> = listed.into_iter().skip(start).take(limit).collect();
    let end = start.saturating_add(page.len());
    let truncated = end < total;
    Ok(Response {
        rotations: page,
        next_marker: truncated.then(|| marker::encode(&end.to_string())),
        truncated,
    })
}
