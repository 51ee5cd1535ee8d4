//! DeleteParameters: up to 10 parameters; names that do not exist are listed in
//! InvalidParameters.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::{Caller, Ssm, SsmError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    names: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    deleted_parameters: Vec<String>,
    invalid_parameters: Vec<String>,
}

pub async fn handle(ssm: &Ssm, caller: &Caller, req: Request) -> Result<Response, SsmError> {
    let mut v = Validator::new();
    super::names_member(&mut v, "names", &req.names);
    v.finish()?;
    let names = req.names.unwrap_or_default();
    // Every name is authorized before any is deleted: one denied name fails the whole call.
    for name in &names {
        ssm.authorize(
            caller,
            crate::authz::Access::parameter("DeleteParameters", &caller.scope, name),
        )
        .await?;
    }
    let mut deleted_parameters = Vec::new();
    let mut invalid_parameters = Vec::new();
    for name in names {
        if deleted_parameters.contains(&name) || invalid_parameters.contains(&name) {
            continue;
        }
        if super::delete_one(ssm, caller, &name).await? {
            deleted_parameters.push(name);
        } else {
            invalid_parameters.push(name);
        }
    }
    Ok(Response {
        deleted_parameters,
        invalid_parameters,
    })
}
