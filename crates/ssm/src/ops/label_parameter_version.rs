//! LabelParameterVersion: puts labels on a version (the latest when none is named). A label
//! already on another version moves; labels that break the rules come back in InvalidLabels.

use serde::{Deserialize, Serialize};
use trent_store::StoreError;
use trent_wire::Validator;

use crate::model;
use crate::{Caller, Ssm, SsmError, UPDATE_RETRIES, events};

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
    invalid_labels: Vec<String>,
    parameter_version: i64,
}

pub async fn handle(ssm: &Ssm, caller: &Caller, req: Request) -> Result<Response, SsmError> {
    let mut v = Validator::new();
    super::name_member(&mut v, "name", &req.name);
    super::labels_member(&mut v, &req.labels);
    v.finish()?;
    let name = req.name.unwrap_or_default();
    ssm.authorize(
        caller,
        crate::authz::Access::parameter("LabelParameterVersion", &caller.scope, &name),
    )
    .await?;
    let (valid, invalid_labels): (Vec<String>, Vec<String>) = req
        .labels
        .unwrap_or_default()
        .into_iter()
        .partition(|l| model::is_valid_label(l));
    let mut add: Vec<String> = Vec::with_capacity(valid.len());
    for l in valid {
        if !add.contains(&l) {
            add.push(l);
        }
    }
    for _ in 0..UPDATE_RETRIES {
        let (param, version) =
            super::existing_version(ssm, caller, &name, req.parameter_version).await?;
        let mut after = version.labels.clone();
        after.extend(add.iter().filter(|l| !version.labels.contains(l)).cloned());
        if after.len() > model::MAX_LABELS_PER_VERSION {
            return Err(SsmError::ParameterVersionLabelLimitExceeded);
        }
        if add.is_empty() {
            return Ok(Response {
                invalid_labels,
                parameter_version: version.version,
            });
        }
        let event = ssm.event(|| {
            events::change(
                &caller.scope,
                &name,
                events::LABEL,
                &version.param_type,
                version.description.as_deref(),
                ssm.now_ms(),
            )
        })?;
        let set = ssm
            .store()
            .set_parameter_labels(&param, version.version, &add, &[], event.as_ref())
            .await;
        ssm.written(&caller.scope, &name);
        match set {
            Ok(_) => {
                ssm.events_committed(event.is_some());
                return Ok(Response {
                    invalid_labels,
                    parameter_version: version.version,
                });
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SsmError::TooManyUpdates)
}
