//! UnlabelParameterVersion: removes labels from a version; labels not on it come back in
//! InvalidLabels.

use serde::{Deserialize, Serialize};
use trent_store::StoreError;
use trent_wire::Validator;

use crate::{Caller, Ssm, SsmError, UPDATE_RETRIES};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    name: Option<String>,
    parameter_version: Option<i64>,
    labels: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    removed_labels: Vec<String>,
    invalid_labels: Vec<String>,
}

pub async fn handle(ssm: &Ssm, caller: &Caller, req: Request) -> Result<Response, SsmError> {
    let mut v = Validator::new();
    super::name_member(&mut v, "name", &req.name);
    v.required("parameterVersion", &req.parameter_version);
    super::labels_member(&mut v, &req.labels);
    v.finish()?;
    let name = req.name.unwrap_or_default();
    ssm.authorize(
        caller,
        crate::authz::Access::parameter("UnlabelParameterVersion", &caller.scope, &name),
    )
    .await?;
    let labels = req.labels.unwrap_or_default();
    for _ in 0..UPDATE_RETRIES {
        let (param, version) =
            super::existing_version(ssm, caller, &name, req.parameter_version).await?;
        let mut removed_labels = Vec::new();
        let mut invalid_labels = Vec::new();
        for l in &labels {
            if removed_labels.contains(l) || invalid_labels.contains(l) {
                continue;
            }
            if version.labels.contains(l) {
                removed_labels.push(l.clone());
            } else {
                invalid_labels.push(l.clone());
            }
        }
        if removed_labels.is_empty() {
            return Ok(Response {
                removed_labels,
                invalid_labels,
            });
        }
        let set = ssm
            .store()
            .set_parameter_labels(&param, version.version, &[], &removed_labels, None)
            .await;
        ssm.written(&caller.scope, &name);
        match set {
            Ok(_) => {
                return Ok(Response {
                    removed_labels,
                    invalid_labels,
                });
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SsmError::TooManyUpdates)
}
