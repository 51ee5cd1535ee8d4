//! GetParameters: up to 10 parameters; names that do not resolve (missing parameter, version or
//! label) are listed in InvalidParameters rather than failing the call.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::authz::Access;
use crate::model::{Parameter, Selector};
use crate::{Caller, Ssm, SsmError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    names: Option<Vec<String>>,
    with_decryption: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    parameters: Vec<Parameter>,
    invalid_parameters: Vec<String>,
}

pub async fn handle(ssm: &Ssm, caller: &Caller, req: Request) -> Result<Response, SsmError> {
    let mut v = Validator::new();
    super::names_member(&mut v, "names", &req.names);
    v.finish()?;
    let names = req.names.unwrap_or_default();
    // Every name is authorized before any is read: one denied name fails the whole call.
    for input in &names {
        let (name, _) = Selector::split(input);
        ssm.authorize(
            caller,
            Access::parameter("GetParameters", &caller.scope, name),
        )
        .await?;
    }
    let mut parameters = Vec::new();
    let mut invalid_parameters = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for input in names {
        if !seen.insert(input.clone()) {
            continue;
        }
        if crate::reference::is_reference(&input) {
            match crate::reference::resolve(ssm, caller, &input, req.with_decryption == Some(true))
                .await?
            {
                Some(p) => parameters.push(p),
                None => invalid_parameters.push(input.clone()),
            }
            continue;
        }
        let (name, selector) = Selector::split(&input);
        match ssm.select(&caller.scope, name, &selector).await {
            Ok(Some(version)) => parameters.push(
                ssm.parameter_out(
                    caller,
                    name,
                    &version,
                    &selector,
                    req.with_decryption == Some(true),
                )
                .await?,
            ),
            Ok(None) | Err(SsmError::ParameterVersionNotFound(_)) => {
                invalid_parameters.push(input.clone());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Response {
        parameters,
        invalid_parameters,
    })
}
