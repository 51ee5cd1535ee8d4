//! GetPublicKey: the public half of an asymmetric key as DER SubjectPublicKeyInfo, with what
//! the key may be used for, so that it can be used off-line.

use serde::{Deserialize, Serialize};
use trent_wire::Validator;

use super::encrypt::serde_blob;
use crate::model::{Algorithms, KeyKind, KeyState, validate_grant_tokens};
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
    key_id: String,
    #[serde(with = "serde_blob")]
    public_key: Vec<u8>,
    customer_master_key_spec: String,
    key_spec: String,
    key_usage: String,
    #[serde(flatten)]
    algorithms: Algorithms,
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
            &crate::authz::Access::new("GetPublicKey"),
        )
        .await?;
    let state = key.state()?;
    if state != KeyState::Enabled {
        return Err(state.invalid_state_error(&key.arn));
    }
    let KeyKind::Asymmetric(_) = key.kind()? else {
        return Err(KmsError::UnsupportedOperation(format!(
            "{} key spec is {}, which has no public key.",
            key.arn, key.record.key_spec
        )));
    };
    let public_key = key.asymmetric_key()?.public_key_der().to_vec();
    let r = &key.record;
    Ok(Response {
        key_id: key.arn.clone(),
        public_key,
        customer_master_key_spec: r.key_spec.clone(),
        key_spec: r.key_spec.clone(),
        key_usage: r.key_usage.clone(),
        algorithms: Algorithms::of(&r.key_spec, &r.key_usage),
    })
}
