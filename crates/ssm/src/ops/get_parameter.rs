//! GetParameter: one parameter, by `name`, `name:version` or `name:label`.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::authz::Access;
use crate::model::{Parameter, Selector};
use crate::{Caller, Ssm, SsmError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    name: Option<String>,
    with_decryption: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    parameter: Parameter,
}

pub async fn handle(ssm: &Ssm, caller: &Caller, req: Request) -> Result<Response, SsmError> {
    let mut v = Validator::new();
    super::name_member(&mut v, "name", &req.name);
    v.finish()?;
    let input = req.name.unwrap_or_default();
    let (name, selector) = Selector::split(&input);
    ssm.authorize(
        caller,
        Access::parameter("GetParameter", &caller.scope, name),
    )
    .await?;
    if crate::reference::is_reference(&input) {
        let parameter =
            crate::reference::resolve(ssm, caller, &input, req.with_decryption == Some(true))
                .await?
                .ok_or_else(|| SsmError::ParameterNotFound(input.clone()))?;
        return Ok(Response { parameter });
    }
    let version = ssm
        .select(&caller.scope, name, &selector)
        .await?
        .ok_or_else(|| SsmError::ParameterNotFound(input.clone()))?;
    let parameter = ssm
        .parameter_out(
            caller,
            name,
            &version,
            &selector,
            req.with_decryption == Some(true),
        )
        .await?;
    Ok(Response { parameter })
}
