//! DeleteParameter: a parameter with all its versions and labels.

use serde::Deserialize;
use trent_wire::Validator;

use crate::{Caller, Ssm, SsmError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    name: Option<String>,
}

pub async fn handle(
    ssm: &Ssm,
    caller: &Caller,
    req: Request,
) -> Result<serde_json::Map<String, serde_json::Value>, SsmError> {
    let mut v = Validator::new();
    super::name_member(&mut v, "name", &req.name);
    v.finish()?;
    let name = req.name.unwrap_or_default();
    ssm.authorize(
        caller,
        crate::authz::Access::parameter("DeleteParameter", &caller.scope, &name),
    )
    .await?;
    if !super::delete_one(ssm, caller, &name).await? {
        return Err(SsmError::ParameterNotFound(name));
    }
    Ok(serde_json::Map::new())
}
