//! IAM operations. Each takes the request's parameters, validates them with the model's rules,
//! authorizes the caller on the entity's ARN, writes (then invalidates cached identities) and
//! answers the result element's XML.

use trent_policy::{IdentityKind, Requester};
use trent_store::{
    AccessKeyRecord, DeleteOutcome, ManagedPolicyRecord, PrincipalKind, RoleRecord, StoreError,
    UserRecord,
};
use trent_wire::Validator;
use trent_wire::query::{Params, XmlWriter, url_encode};

use crate::error::validation;
use crate::names::{self, PolicyQuota, check_name, check_path, check_path_prefix};
use crate::{Iam, IamError, authorize, iso8601, new_access_key, random_id};

mod access_keys;
mod inline_policies;
mod managed_policies;
mod roles;
mod users;

pub(crate) const ACTIONS: &[&str] = &[
    "CreateUser",
    "GetUser",
    "ListUsers",
    "DeleteUser",
    "TagUser",
    "ListUserTags",
    "UntagUser",
    "CreateAccessKey",
    "ListAccessKeys",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "CreateRole",
    "GetRole",
    "ListRoles",
    "DeleteRole",
    "TagRole",
    "ListRoleTags",
    "UntagRole",
    "PutUserPolicy",
    "GetUserPolicy",
    "ListUserPolicies",
    "DeleteUserPolicy",
    "PutRolePolicy",
    "GetRolePolicy",
    "ListRolePolicies",
    "DeleteRolePolicy",
    "CreatePolicy",
    "GetPolicy",
    "GetPolicyVersion",
    "DeletePolicy",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "ListAttachedUserPolicies",
    "ListAttachedRolePolicies",
];

/// One request: the service, the caller and the parameters.
struct Call<'a> {
    iam: &'a Iam,
    req: &'a Requester,
    p: &'a Params,
}

type Out = Result<Option<String>, IamError>;

pub(crate) async fn call(iam: &Iam, req: &Requester, action: &str, p: &Params) -> Out {
    let c = Call { iam, req, p };
    use PrincipalKind::{Role, User};
    match action {
        "CreateUser" => c.create_user().await,
        "GetUser" => c.get_user().await,
        "ListUsers" => c.list_users().await,
        "DeleteUser" => c.delete_user().await,
        "TagUser" => c.tag(User).await,
        "ListUserTags" => c.list_tags(User).await,
        "UntagUser" => c.untag(User).await,
        "CreateAccessKey" => c.create_access_key().await,
        "ListAccessKeys" => c.list_access_keys().await,
        "UpdateAccessKey" => c.update_access_key().await,
        "DeleteAccessKey" => c.delete_access_key().await,
        "CreateRole" => c.create_role().await,
        "GetRole" => c.get_role().await,
        "ListRoles" => c.list_roles().await,
        "DeleteRole" => c.delete_role().await,
        "TagRole" => c.tag(Role).await,
        "ListRoleTags" => c.list_tags(Role).await,
        "UntagRole" => c.untag(Role).await,
        "PutUserPolicy" => c.put_inline(User).await,
        "GetUserPolicy" => c.get_inline(User).await,
        "ListUserPolicies" => c.list_inline(User).await,
        "DeleteUserPolicy" => c.delete_inline(User).await,
        "PutRolePolicy" => c.put_inline(Role).await,
        "GetRolePolicy" => c.get_inline(Role).await,
        "ListRolePolicies" => c.list_inline(Role).await,
        "DeleteRolePolicy" => c.delete_inline(Role).await,
        "CreatePolicy" => c.create_policy().await,
        "GetPolicy" => c.get_policy().await,
        "GetPolicyVersion" => c.get_policy_version().await,
        "DeletePolicy" => c.delete_policy().await,
        "AttachUserPolicy" => c.attach(User).await,
        "DetachUserPolicy" => c.detach(User).await,
        "AttachRolePolicy" => c.attach(Role).await,
        "DetachRolePolicy" => c.detach(Role).await,
        "ListAttachedUserPolicies" => c.list_attached(User).await,
        "ListAttachedRolePolicies" => c.list_attached(Role).await,
        other => Err(IamError::InvalidAction(
            other.chars().take(64).collect(),
            "2010-05-08",
        )),
    }
}

fn kind_word(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "user",
        PrincipalKind::Role => "role",
    }
}

fn name_member(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "userName",
        PrincipalKind::Role => "roleName",
    }
}

fn param_name(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "UserName",
        PrincipalKind::Role => "RoleName",
    }
}

fn capitalized(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "User",
        PrincipalKind::Role => "Role",
    }
}

fn not_found(kind: PrincipalKind, name: &str) -> IamError {
    IamError::NoSuchEntity(format!(
        "The {} with name {name} cannot be found.",
        kind_word(kind)
    ))
}

fn write_tags(w: &mut XmlWriter, tags: &[(String, String)]) {
    w.open("Tags");
    for (k, v) in tags {
        w.open("member")
            .text("Key", k)
            .text("Value", v)
            .close("member");
    }
    w.close("Tags");
}

fn write_user(w: &mut XmlWriter, u: &UserRecord, tag: &str) {
    w.open(tag)
        .text("Path", &u.path)
        .text("UserName", &u.user_name)
        .text("UserId", &u.user_id)
        .text("Arn", &u.arn)
        .text("CreateDate", &iso8601(u.created_ms));
    if !u.tags.is_empty() {
        write_tags(w, &u.tags);
    }
    w.close(tag);
}

fn write_role(w: &mut XmlWriter, r: &RoleRecord, tag: &str) {
    w.open(tag)
        .text("Path", &r.path)
        .text("RoleName", &r.role_name)
        .text("RoleId", &r.role_id)
        .text("Arn", &r.arn)
        .text("CreateDate", &iso8601(r.created_ms))
        .text("AssumeRolePolicyDocument", &url_encode(&r.trust_policy))
        .opt("Description", r.description.as_deref())
        .text("MaxSessionDuration", &r.max_session_duration.to_string());
    if !r.tags.is_empty() {
        write_tags(w, &r.tags);
    }
    w.close(tag);
}

fn write_policy(w: &mut XmlWriter, p: &ManagedPolicyRecord) {
    w.open("Policy")
        .text("PolicyName", &p.policy_name)
        .text("PolicyId", &p.policy_id)
        .text("Arn", &p.arn)
        .text("Path", &p.path)
        .text("DefaultVersionId", "v1")
        .text("AttachmentCount", &p.attachment_count.to_string())
        .text("PermissionsBoundaryUsageCount", "0")
        .text("IsAttachable", "true")
        .opt("Description", p.description.as_deref())
        .text("CreateDate", &iso8601(p.created_ms))
        .text("UpdateDate", &iso8601(p.created_ms));
    if !p.tags.is_empty() {
        write_tags(w, &p.tags);
    }
    w.close("Policy");
}

fn done(w: XmlWriter) -> Out {
    Ok(Some(w.into_string()))
}

impl Call<'_> {
    fn account(&self) -> &str {
        self.req.account()
    }

    fn arn(&self, kind: &str, path: &str, name: &str) -> String {
        format!("arn:aws:iam::{}:{kind}{path}{name}", self.account())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.p.get(name)
    }

    /// `MaxItems` (1..=1000, default 100) and `Marker`.
    fn paging(&self) -> Result<(u32, Option<&str>), IamError> {
        let mut v = Validator::new();
        let max = match self.get("MaxItems") {
            None => 100,
            Some(s) => match s.parse::<i64>() {
                Ok(n) => {
                    v.range("maxItems", Some(n), 1, 1000);
                    n
                }
                Err(_) => {
                    return Err(IamError::Validation(format!(
                        "Invalid value for parameter MaxItems: {}",
                        s.chars().take(32).collect::<String>()
                    )));
                }
            },
        };
        let marker = self.get("Marker");
        v.length("marker", marker, 1, 320);
        validation(v.finish())?;
        Ok((u32::try_from(max).unwrap_or(100), marker))
    }

    /// A user or role named by the request, with the ARN to authorize on (the path-less ARN
    /// when it does not exist, so a caller without permission learns nothing).
    async fn principal_arn(
        &self,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<(String, bool), IamError> {
        let store = self.iam.store();
        let found = match kind {
            PrincipalKind::User => store.get_user(self.account(), name).await?.map(|u| u.arn),
            PrincipalKind::Role => store.get_role(self.account(), name).await?.map(|r| r.arn),
        };
        Ok(match found {
            Some(arn) => (arn, true),
            None => (self.arn(kind_word(kind), "/", name), false),
        })
    }

    /// Validates the `UserName`/`RoleName` parameter, authorizes `action` on the entity, and
    /// fails with NoSuchEntity if it does not exist. Returns its ARN.
    async fn existing(
        &self,
        kind: PrincipalKind,
        action: &str,
        extra: &[(&str, &str)],
    ) -> Result<(String, String), IamError> {
        let name = self.get(param_name(kind));
        let mut v = Validator::new();
        check_name(&mut v, name_member(kind), name, 64);
        validation(v.finish())?;
        let name = name.unwrap_or_default();
        let (arn, exists) = self.principal_arn(kind, name).await?;
        authorize(self.req, action, &arn, extra)?;
        if !exists {
            return Err(not_found(kind, name));
        }
        Ok((name.to_owned(), arn))
    }

    fn tags_param(&self) -> Result<Vec<(String, String)>, IamError> {
        names::tags(
            self.p
                .struct_list("Tags", &["Key", "Value"])
                .map_err(|e| IamError::Validation(e.message))?,
        )
    }
}

fn non_user() -> IamError {
    IamError::Validation("Must specify userName when calling with non-User credentials".to_owned())
}

fn delete_outcome(outcome: DeleteOutcome, missing: impl FnOnce() -> IamError) -> Out {
    match outcome {
        DeleteOutcome::Deleted => Ok(None),
        DeleteOutcome::NotFound => Err(missing()),
        DeleteOutcome::HasAccessKeys => Err(IamError::DeleteConflict(
            "Cannot delete entity, must delete access keys first.".to_owned(),
        )),
        DeleteOutcome::HasInlinePolicies => Err(IamError::DeleteConflict(
            "Cannot delete entity, must delete policies first.".to_owned(),
        )),
        DeleteOutcome::HasAttachments => Err(IamError::DeleteConflict(
            "Cannot delete entity, must detach all policies first.".to_owned(),
        )),
    }
}
