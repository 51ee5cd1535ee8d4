//! CreateGrant: lets a grantee principal use a key for some operations, optionally only with a
//! given encryption context, until the grant is retired or revoked. A grant with the same Name,
//! grantee, operations, retiring principal and constraints is the same grant (retries are
//! idempotent).

use serde::{Deserialize, Serialize};
use trent_store::{GrantRecord, StoreError};
use trent_wire::{ApiError, Validator};

use crate::authz::{Access, Constraints};
use crate::grants::{self, GRANT_ID_BYTES, GRANT_OPERATIONS};
use crate::model::{self, validate_grant_tokens};
use crate::{Aliases, Caller, Kms, KmsError};

/// Grants a key may have.
const MAX_GRANTS_PER_KEY: usize = 50_000;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    grantee_principal: Option<String>,
    retiring_principal: Option<String>,
    operations: Option<Vec<String>>,
    constraints: Option<Constraints>,
    grant_tokens: Option<Vec<String>>,
    name: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    grant_token: String,
    grant_id: String,
}

fn principal_member(v: &mut Validator, member: &str, value: Option<&str>) {
    v.length(member, value, 1, 256);
    if let Some(p) = value
        && !p.bytes().all(|b| b.is_ascii_graphic())
    {
        v.violation(
            Some(p),
            member,
            "Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$",
        );
    }
}

fn context_constraint(
    v: &mut Validator,
    member: &str,
    map: Option<&std::collections::BTreeMap<String, String>>,
) {
    let Some(map) = map else { return };
    if map.len() > 8 {
        v.violation(
            None,
            member,
            "Member must have at most 8 encryption context pairs",
        );
    }
    for value in map.values() {
        if value.chars().count() > 384 {
            v.violation(
                None,
                member,
                "Member values must have length less than or equal to 384",
            );
        }
    }
}

/// A principal a grant may name: an account root, user, role or role session ARN.
fn check_principal(member: &str, arn: &str) -> Result<(), KmsError> {
    trent_policy::AwsIdentity::from_arn(arn)
        .map(|_| ())
        .map_err(|_| {
            ApiError::validation(format!("{member} {arn} is not a valid principal.")).into()
        })
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.required("granteePrincipal", &req.grantee_principal);
    principal_member(&mut v, "granteePrincipal", req.grantee_principal.as_deref());
    principal_member(
        &mut v,
        "retiringPrincipal",
        req.retiring_principal.as_deref(),
    );
    v.required("operations", &req.operations);
    for (i, op) in req.operations.iter().flatten().enumerate() {
        v.one_of(
            &format!("operations.{}.member", i + 1),
            Some(op),
            GRANT_OPERATIONS,
        );
    }
    v.length("name", req.name.as_deref(), 1, 256);
    if let Some(name) = &req.name
        && !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'_' | b'-'))
    {
        v.violation(
            Some(name),
            "name",
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
        );
    }
    if let Some(c) = &req.constraints {
        context_constraint(
            &mut v,
            "constraints.encryptionContextEquals",
            c.encryption_context_equals.as_ref(),
        );
        context_constraint(
            &mut v,
            "constraints.encryptionContextSubset",
            c.encryption_context_subset.as_ref(),
        );
    }
    validate_grant_tokens(&mut v, req.grant_tokens.as_ref());
    v.finish()?;
    let grantee = req.grantee_principal.unwrap_or_default();
    check_principal("GranteePrincipal", &grantee)?;
    if let Some(r) = &req.retiring_principal {
        check_principal("RetiringPrincipal", r)?;
    }
    let mut operations = req.operations.unwrap_or_default();
    if operations.is_empty() {
        return Err(ApiError::validation("A grant must allow at least one operation.").into());
    }
    operations.sort();
    operations.dedup();
    let constraints = req.constraints.unwrap_or_default();
    let mut constraint_types = Vec::new();
    if constraints.encryption_context_equals.is_some() {
        constraint_types.push("EncryptionContextEquals".to_string());
    }
    if constraints.encryption_context_subset.is_some() {
        constraint_types.push("EncryptionContextSubset".to_string());
    }

    let mut access = Access::new("CreateGrant")
        .with("kms:GranteePrincipal", grantee.as_str())
        .with("kms:GrantIsForAWSResource", false)
        .with_multi("kms:GrantOperations", operations.clone())
        .with_multi("kms:GrantConstraintType", constraint_types);
    if let Some(r) = &req.retiring_principal {
        access = access.with("kms:RetiringPrincipal", r.as_str());
    }
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Allowed,
            &access,
        )
        .await?;
    // Allowed only through a grant's CreateGrant permission: the new grant may not reach
    // further than that grant.
    if !crate::authz::policies_allow(caller, &key, &access) {
        let widens = !key.authz.grants.iter().any(|g| {
            crate::authz::is_principal(&caller.requester, &g.record.grantee_principal)
                && g.record.operations.iter().any(|o| o == "CreateGrant")
                && operations.iter().all(|o| g.record.operations.contains(o))
                && constraints.at_least_as_strict_as(&g.constraints)
        });
        if widens {
            return Err(KmsError::AccessDenied(format!(
                "User: {} is not authorized to perform: kms:CreateGrant on resource: {} because \
                 the new grant would allow more than the grant that allows the request",
                caller.requester.arn(),
                key.arn
            )));
        }
    }
    let kind = key.kind()?;
    if let Some(op) = operations
        .iter()
        .find(|op| !grants::supports(kind, &key.record.key_usage, op))
    {
        return Err(ApiError::validation(format!(
            "{op} is not a valid operation for the key {}.",
            key.arn
        ))
        .into());
    }
    if !constraints.is_empty() && !matches!(kind, model::KeyKind::Symmetric) {
        return Err(ApiError::validation(
            "Encryption context grant constraints are only valid for symmetric encryption keys.",
        )
        .into());
    }
    let state = key.state()?;
    if state.is_pending_deletion() || matches!(state, model::KeyState::PendingImport) {
        return Err(state.invalid_state_error(&key.arn));
    }
    super::dry_run(req.dry_run)?;

    let scope = key.record.scope.clone();
    let key_id = key.record.key_id.clone();
    let existing = kms.store().key_grants(&scope, &key_id).await?;
    let constraints_json = (!constraints.is_empty())
        .then(|| serde_json::to_string(&constraints))
        .transpose()
        .map_err(|_| KmsError::Internal("grant constraints"))?;
    if let Some(name) = &req.name
        && let Some(same) = existing.iter().find(|g| {
            g.name.as_deref() == Some(name.as_str())
                && g.grantee_principal == grantee
                && g.retiring_principal == req.retiring_principal
                && g.operations == operations
                && g.constraints == constraints_json
        })
    {
        let id =
            trent_crypto::unhex(&same.grant_id).ok_or(KmsError::Internal("stored grant id"))?;
        return Ok(Response {
            grant_token: grants::new_token(&scope, &key_id, &id)?,
            grant_id: same.grant_id.clone(),
        });
    }
    if existing.len() >= MAX_GRANTS_PER_KEY {
        return Err(KmsError::LimitExceeded(format!(
            "The key {} has the maximum number of grants ({MAX_GRANTS_PER_KEY}).",
            key.arn
        )));
    }
    let id: [u8; GRANT_ID_BYTES] = trent_crypto::random_array()?;
    let grant_token = grants::new_token(&scope, &key_id, &id)?;
    let grant = GrantRecord {
        scope: scope.clone(),
        key_id: key_id.clone(),
        grant_id: trent_crypto::hex(&id),
        name: req.name,
        grantee_principal: grantee,
        retiring_principal: req.retiring_principal,
        operations,
        constraints: constraints_json,
        issuing_account: caller.requester.account().to_string(),
        created_ms: kms.now_ms(),
        token_hash: trent_crypto::sha256(grant_token.as_bytes()).to_vec(),
    };
    match kms.store().create_grant(&grant).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            kms.forget_key(&scope, &key_id);
            return Err(KmsError::NotFound(format!(
                "Key '{}' does not exist",
                key.arn
            )));
        }
        Err(e) => return Err(e.into()),
    }
    kms.forget_key(&scope, &key_id);
    Ok(Response {
        grant_token,
        grant_id: grant.grant_id,
    })
}
