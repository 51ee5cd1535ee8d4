//! DescribeKey: metadata by key id, key ARN, alias name or alias ARN.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model::{KeyMetadata, validate_grant_tokens};
use crate::{Aliases, Caller, Kms, KmsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    grant_tokens: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    key_metadata: KeyMetadata,
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    validate_grant_tokens(&mut v, req.grant_tokens.as_ref());
    v.finish()?;
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Allowed,
            &crate::authz::Access::new("DescribeKey"),
        )
        .await?;
    Ok(Response {
        key_metadata: kms.key_metadata(&key.record).await?,
    })
}
