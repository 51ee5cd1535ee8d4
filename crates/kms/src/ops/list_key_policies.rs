//! ListKeyPolicies: always `["default"]` for an existing key.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::{Aliases, Caller, Kms, KmsError};

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
    policy_names: Vec<&'static str>,
    truncated: bool,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    super::limit_member(&mut v, req.limit);
    super::marker_member(&mut v, req.marker.as_deref());
    v.finish()?;
    if let Some(m) = &req.marker {
        crate::model::marker::decode(m)?;
    }
    kms.resolve(
        caller,
        req.key_id.as_deref().unwrap_or_default(),
        Aliases::Refused,
        &crate::authz::Access::new("ListKeyPolicies"),
    )
    .await?;
    Ok(Response {
        policy_names: vec!["default"],
        truncated: false,
    })
}
