//! UntagResource: removes tags from a secret by key.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model;
use crate::{Caller, Secrets, SecretsError, retrying};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
    tag_keys: Option<Vec<String>>,
}

#[derive(Serialize)]
pub struct Response {}

pub async fn handle(
    secrets: &Secrets,
    caller: &Caller,
    req: Request,
) -> Result<Response, SecretsError> {
    let mut v = Validator::new();
    model::check_secret_id(&mut v, &req.secret_id);
    v.required("tagKeys", &req.tag_keys);
    for (i, k) in req.tag_keys.iter().flatten().enumerate() {
        v.length(&format!("tagKeys.{}.member", i + 1), Some(k), 1, 128);
    }
    v.finish()?;
    let secret_id = req.secret_id.unwrap_or_default();
    let keys = req.tag_keys.unwrap_or_default();
    retrying(|| async {
        let tag_keys = |ctx: &mut trent_policy::RequestContext| {
            ctx.insert_multi("aws:TagKeys", keys.iter().map(String::as_str));
        };
        let mut secret = secrets
            .live_with(caller, &secret_id, "UntagResource", &tag_keys)
            .await?;
        secret.tags.retain(|(k, _)| !keys.contains(k));
        secrets.save(caller, &secret, None).await?;
        Ok(Response {})
    })
    .await
}
