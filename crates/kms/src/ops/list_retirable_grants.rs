//! ListRetirableGrants: grants (of any account's keys, in this region) naming a retiring
//! principal. Governed by IAM policies alone.

use serde::Deserialize;
use trent_wire::Validator;

use super::list_grants::{Response, page};
use crate::{Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    retiring_principal: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    v.required("retiringPrincipal", &req.retiring_principal);
    v.length(
        "retiringPrincipal",
        req.retiring_principal.as_deref(),
        1,
        256,
    );
    let limit = super::limit_member(&mut v, req.limit) as usize;
    super::marker_member(&mut v, req.marker.as_deref());
    v.finish()?;
    crate::authz::authorize_identity(caller, "ListRetirableGrants", "*", |_| {})?;
    let principal = req.retiring_principal.unwrap_or_default();
    let rows = kms
        .store()
        .retirable_grants(&caller.scope.region, &principal)
        .await?;
    page(rows, req.marker.as_deref(), limit)
}
