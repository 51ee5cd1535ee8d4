//! TagResource: adds tags to a secret, or changes the values of existing keys.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use crate::model::{self, Tag};
use crate::{Caller, Secrets, SecretsError, retrying};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
    tags: Option<Vec<Tag>>,
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
    v.required("tags", &req.tags);
    model::check_tags(&mut v, req.tags.as_ref());
    v.finish()?;
    let secret_id = req.secret_id.unwrap_or_default();
    let tags = req.tags.unwrap_or_default();
    retrying(|| async {
        let keys = |ctx: &mut trent_policy::RequestContext| crate::authz::request_tags(ctx, &tags);
        let mut secret = secrets
            .live_with(caller, &secret_id, "TagResource", &keys)
            .await?;
        model::merge_tags(&mut secret.tags, &tags)?;
        secrets.save(caller, &secret, None).await?;
        Ok(Response {})
    })
    .await
}
