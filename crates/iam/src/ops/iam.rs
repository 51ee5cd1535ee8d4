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

pub(crate) const ACTIONS: &[&str] = &[
    "CreateUser",
    "GetUser",
    "ListUsers",
    "DeleteUser",
    "TagUser",
    "ListUserTags",
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

    // --- users ---

    async fn create_user(&self) -> Out {
        let name = self.get("UserName");
        let path = self.get("Path");
        let mut v = Validator::new();
        check_name(&mut v, "userName", name, 64);
        check_path(&mut v, "path", path);
        if self.get("PermissionsBoundary").is_some() {
            return Err(IamError::Validation(
                "Permissions boundaries are not supported by this server.".to_owned(),
            ));
        }
        validation(v.finish())?;
        let tags = self.tags_param()?;
        let (name, path) = (name.unwrap_or_default(), path.unwrap_or("/"));
        let arn = self.arn("user", path, name);
        authorize(self.req, "iam:CreateUser", &arn, &[])?;
        let user = UserRecord {
            account_id: self.account().to_owned(),
            user_name: name.to_owned(),
            user_id: random_id("AIDA", 17)?,
            path: path.to_owned(),
            arn,
            created_ms: self.iam.now_ms(),
            tags,
        };
        match self.iam.store().create_user(&user).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                return Err(IamError::EntityAlreadyExists(format!(
                    "User with name {name} already exists."
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.iam.invalidate();
        let mut w = XmlWriter::new();
        write_user(&mut w, &user, "User");
        done(w)
    }

    async fn get_user(&self) -> Out {
        if self.get("UserName").is_none() {
            // The caller itself.
            let id = self.req.identity();
            match id.kind() {
                IdentityKind::Root => {
                    authorize(self.req, "iam:GetUser", self.req.arn(), &[])?;
                    let mut w = XmlWriter::new();
                    w.open("User")
                        .text("UserId", self.account())
                        .text("Arn", self.req.arn())
                        .close("User");
                    return done(w);
                }
                IdentityKind::User { name } => {
                    authorize(self.req, "iam:GetUser", self.req.arn(), &[])?;
                    let user = self
                        .iam
                        .store()
                        .get_user(self.account(), name)
                        .await?
                        .ok_or_else(|| not_found(PrincipalKind::User, name))?;
                    let mut w = XmlWriter::new();
                    write_user(&mut w, &user, "User");
                    return done(w);
                }
                _ => return Err(non_user()),
            }
        }
        let (name, _) = self
            .existing(PrincipalKind::User, "iam:GetUser", &[])
            .await?;
        let user = self
            .iam
            .store()
            .get_user(self.account(), &name)
            .await?
            .ok_or_else(|| not_found(PrincipalKind::User, &name))?;
        let mut w = XmlWriter::new();
        write_user(&mut w, &user, "User");
        done(w)
    }

    async fn list_users(&self) -> Out {
        let prefix = self.get("PathPrefix");
        let mut v = Validator::new();
        check_path_prefix(&mut v, "pathPrefix", prefix);
        validation(v.finish())?;
        let prefix = prefix.unwrap_or("/");
        let (max, marker) = self.paging()?;
        authorize(
            self.req,
            "iam:ListUsers",
            &self.arn("user", prefix, "*"),
            &[],
        )?;
        let mut users = self
            .iam
            .store()
            .list_users(self.account(), prefix, marker, max + 1)
            .await?;
        let truncated = users.len() > max as usize;
        users.truncate(max as usize);
        let mut w = XmlWriter::new();
        w.open("Users");
        for u in &users {
            write_user(&mut w, u, "member");
        }
        w.close("Users");
        w.text("IsTruncated", if truncated { "true" } else { "false" });
        if truncated && let Some(last) = users.last() {
            w.text("Marker", &last.user_name);
        }
        done(w)
    }

    async fn delete_user(&self) -> Out {
        let (name, _) = self
            .existing(PrincipalKind::User, "iam:DeleteUser", &[])
            .await?;
        let outcome = self.iam.store().delete_user(self.account(), &name).await?;
        self.iam.invalidate();
        delete_outcome(outcome, || not_found(PrincipalKind::User, &name))
    }

    async fn tag(&self, kind: PrincipalKind) -> Out {
        let action = format!("iam:Tag{}", capitalized(kind));
        let (name, _) = self.existing(kind, &action, &[]).await?;
        let new = self.tags_param()?;
        if new.is_empty() {
            return Err(IamError::Validation(
                "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null".to_owned(),
            ));
        }
        let existing = self.current_tags(kind, &name).await?;
        let merged = names::merge_tags(&existing, new)?;
        if !self
            .iam
            .store()
            .set_principal_tags(self.account(), kind, &name, &merged)
            .await?
        {
            return Err(not_found(kind, &name));
        }
        self.iam.invalidate();
        Ok(None)
    }

    async fn current_tags(
        &self,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<Vec<(String, String)>, IamError> {
        let store = self.iam.store();
        let tags = match kind {
            PrincipalKind::User => store.get_user(self.account(), name).await?.map(|u| u.tags),
            PrincipalKind::Role => store.get_role(self.account(), name).await?.map(|r| r.tags),
        };
        tags.ok_or_else(|| not_found(kind, name))
    }

    async fn list_tags(&self, kind: PrincipalKind) -> Out {
        let action = format!("iam:List{}Tags", capitalized(kind));
        let (name, _) = self.existing(kind, &action, &[]).await?;
        let tags = self.current_tags(kind, &name).await?;
        let mut w = XmlWriter::new();
        write_tags(&mut w, &tags);
        w.text("IsTruncated", "false");
        done(w)
    }

    // --- access keys ---

    /// The owner of the access keys an operation is about: the named user, else the caller
    /// (a user or the account root). Returns (user name as shown, owner ARN).
    async fn key_owner(&self, action: &str) -> Result<(String, String), IamError> {
        if self.get("UserName").is_some() {
            let (name, arn) = self.existing(PrincipalKind::User, action, &[]).await?;
            return Ok((name, arn));
        }
        match self.req.identity().kind() {
            IdentityKind::Root => {
                authorize(self.req, action, self.req.arn(), &[])?;
                Ok(("root".to_owned(), self.req.arn().to_owned()))
            }
            IdentityKind::User { name } => {
                authorize(self.req, action, self.req.arn(), &[])?;
                Ok((name.clone(), self.req.arn().to_owned()))
            }
            _ => Err(non_user()),
        }
    }

    async fn create_access_key(&self) -> Out {
        let (user_name, owner) = self.key_owner("iam:CreateAccessKey").await?;
        let store = self.iam.store();
        if store.list_access_keys(&owner).await?.len() >= 2 {
            return Err(IamError::LimitExceeded(
                "Cannot exceed quota for AccessKeysPerUser: 2".to_owned(),
            ));
        }
        let (access_key_id, secret) = new_access_key("AKIA")?;
        let created_ms = self.iam.now_ms();
        let record = AccessKeyRecord {
            access_key_id: access_key_id.clone(),
            account_id: self.account().to_owned(),
            principal_arn: owner.clone(),
            user_name: user_name.clone(),
            status: "Active".to_owned(),
            created_ms,
            secret: secret.duplicate(),
        };
        store.put_access_key(&record).await?;
        self.iam.invalidate();
        let secret_text = std::str::from_utf8(secret.expose_secret())
            .map_err(|_| IamError::Internal("secret alphabet"))?;
        let mut w = XmlWriter::new();
        w.open("AccessKey");
        if !owner.ends_with(":root") {
            w.text("UserName", &user_name);
        }
        w.text("AccessKeyId", &access_key_id)
            .text("Status", "Active")
            .text("SecretAccessKey", secret_text)
            .text("CreateDate", &iso8601(created_ms))
            .close("AccessKey");
        done(w)
    }

    async fn list_access_keys(&self) -> Out {
        let (user_name, owner) = self.key_owner("iam:ListAccessKeys").await?;
        let keys = self.iam.store().list_access_keys(&owner).await?;
        let mut w = XmlWriter::new();
        w.open("AccessKeyMetadata");
        for k in &keys {
            w.open("member");
            if !owner.ends_with(":root") {
                w.text("UserName", &user_name);
            }
            w.text("AccessKeyId", &k.access_key_id)
                .text("Status", &k.status)
                .text("CreateDate", &iso8601(k.created_ms))
                .close("member");
        }
        w.close("AccessKeyMetadata").text("IsTruncated", "false");
        done(w)
    }

    /// The `AccessKeyId` parameter, which must belong to `owner`.
    async fn owned_key(&self, owner: &str) -> Result<String, IamError> {
        let id = self.get("AccessKeyId");
        let mut v = Validator::new();
        v.required("accessKeyId", &id);
        v.length("accessKeyId", id, 16, 128);
        v.pattern("accessKeyId", id, "[\\w]+", |s| {
            s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
        validation(v.finish())?;
        let id = id.unwrap_or_default();
        let keys = self.iam.store().list_access_keys(owner).await?;
        if keys.iter().any(|k| k.access_key_id == id) {
            Ok(id.to_owned())
        } else {
            Err(IamError::NoSuchEntity(format!(
                "The Access Key with id {id} cannot be found."
            )))
        }
    }

    async fn update_access_key(&self) -> Out {
        let status = self.get("Status");
        let mut v = Validator::new();
        v.required("status", &status);
        v.one_of("status", status, &["Active", "Inactive"]);
        validation(v.finish())?;
        let (_, owner) = self.key_owner("iam:UpdateAccessKey").await?;
        let id = self.owned_key(&owner).await?;
        self.iam
            .store()
            .set_access_key_status(&id, status.unwrap_or_default())
            .await?;
        self.iam.invalidate();
        Ok(None)
    }

    async fn delete_access_key(&self) -> Out {
        let (_, owner) = self.key_owner("iam:DeleteAccessKey").await?;
        let id = self.owned_key(&owner).await?;
        self.iam.store().delete_access_key(&id).await?;
        self.iam.invalidate();
        Ok(None)
    }

    // --- roles ---

    async fn create_role(&self) -> Out {
        let name = self.get("RoleName");
        let path = self.get("Path");
        let description = self.get("Description");
        let max_session = self.get("MaxSessionDuration");
        let mut v = Validator::new();
        check_name(&mut v, "roleName", name, 64);
        check_path(&mut v, "path", path);
        v.length("description", description, 0, 1000);
        let max_session = match max_session {
            None => 3600,
            Some(s) => s.parse::<i64>().map_err(|_| {
                IamError::Validation(format!(
                    "Invalid value for parameter MaxSessionDuration: {}",
                    s.chars().take(32).collect::<String>()
                ))
            })?,
        };
        v.range("maxSessionDuration", Some(max_session), 3600, 43200);
        validation(v.finish())?;
        if self.get("PermissionsBoundary").is_some() {
            return Err(IamError::Validation(
                "Permissions boundaries are not supported by this server.".to_owned(),
            ));
        }
        let trust = self.get("AssumeRolePolicyDocument");
        names::policy_document("assumeRolePolicyDocument", trust, PolicyQuota::Trust)?;
        let tags = self.tags_param()?;
        let (name, path) = (name.unwrap_or_default(), path.unwrap_or("/"));
        let arn = self.arn("role", path, name);
        authorize(self.req, "iam:CreateRole", &arn, &[])?;
        let role = RoleRecord {
            account_id: self.account().to_owned(),
            role_name: name.to_owned(),
            role_id: random_id("AROA", 17)?,
            path: path.to_owned(),
            arn,
            trust_policy: trust.unwrap_or_default().to_owned(),
            description: description.map(str::to_owned),
            max_session_duration: max_session,
            created_ms: self.iam.now_ms(),
            tags,
        };
        match self.iam.store().create_role(&role).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                return Err(IamError::EntityAlreadyExists(format!(
                    "Role with name {name} already exists."
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.iam.invalidate();
        let mut w = XmlWriter::new();
        write_role(&mut w, &role, "Role");
        done(w)
    }

    async fn get_role(&self) -> Out {
        let (name, _) = self
            .existing(PrincipalKind::Role, "iam:GetRole", &[])
            .await?;
        let role = self
            .iam
            .store()
            .get_role(self.account(), &name)
            .await?
            .ok_or_else(|| not_found(PrincipalKind::Role, &name))?;
        let mut w = XmlWriter::new();
        write_role(&mut w, &role, "Role");
        done(w)
    }

    async fn list_roles(&self) -> Out {
        let prefix = self.get("PathPrefix");
        let mut v = Validator::new();
        check_path_prefix(&mut v, "pathPrefix", prefix);
        validation(v.finish())?;
        let prefix = prefix.unwrap_or("/");
        let (max, marker) = self.paging()?;
        authorize(
            self.req,
            "iam:ListRoles",
            &self.arn("role", prefix, "*"),
            &[],
        )?;
        let mut roles = self
            .iam
            .store()
            .list_roles(self.account(), prefix, marker, max + 1)
            .await?;
        let truncated = roles.len() > max as usize;
        roles.truncate(max as usize);
        let mut w = XmlWriter::new();
        w.open("Roles");
        for r in &roles {
            write_role(&mut w, r, "member");
        }
        w.close("Roles");
        w.text("IsTruncated", if truncated { "true" } else { "false" });
        if truncated && let Some(last) = roles.last() {
            w.text("Marker", &last.role_name);
        }
        done(w)
    }

    async fn delete_role(&self) -> Out {
        let (name, _) = self
            .existing(PrincipalKind::Role, "iam:DeleteRole", &[])
            .await?;
        let outcome = self.iam.store().delete_role(self.account(), &name).await?;
        self.iam.invalidate();
        delete_outcome(outcome, || not_found(PrincipalKind::Role, &name))
    }

    // --- inline policies ---

    fn policy_name_param(&self) -> Result<String, IamError> {
        let name = self.get("PolicyName");
        let mut v = Validator::new();
        check_name(&mut v, "policyName", name, 128);
        validation(v.finish())?;
        Ok(name.unwrap_or_default().to_owned())
    }

    async fn put_inline(&self, kind: PrincipalKind) -> Out {
        let action = format!("iam:Put{}Policy", capitalized(kind));
        let policy_name = self.policy_name_param()?;
        let quota = match kind {
            PrincipalKind::User => PolicyQuota::UserInline,
            PrincipalKind::Role => PolicyQuota::RoleInline,
        };
        let document = self.get("PolicyDocument");
        names::policy_document("policyDocument", document, quota)?;
        let (name, _) = self.existing(kind, &action, &[]).await?;
        if !self
            .iam
            .store()
            .put_inline_policy(
                self.account(),
                kind,
                &name,
                &policy_name,
                document.unwrap_or_default(),
            )
            .await?
        {
            return Err(not_found(kind, &name));
        }
        self.iam.invalidate();
        Ok(None)
    }

    async fn get_inline(&self, kind: PrincipalKind) -> Out {
        let action = format!("iam:Get{}Policy", capitalized(kind));
        let policy_name = self.policy_name_param()?;
        let (name, _) = self.existing(kind, &action, &[]).await?;
        let doc = self
            .iam
            .store()
            .get_inline_policy(self.account(), kind, &name, &policy_name)
            .await?
            .ok_or_else(|| {
                IamError::NoSuchEntity(format!(
                    "The {} policy with name {policy_name} cannot be found.",
                    kind_word(kind)
                ))
            })?;
        let mut w = XmlWriter::new();
        w.text(param_name(kind), &name)
            .text("PolicyName", &policy_name)
            .text("PolicyDocument", &url_encode(&doc));
        done(w)
    }

    async fn list_inline(&self, kind: PrincipalKind) -> Out {
        let action = format!("iam:List{}Policies", capitalized(kind));
        let (name, _) = self.existing(kind, &action, &[]).await?;
        let policies = self
            .iam
            .store()
            .list_inline_policies(self.account(), kind, &name)
            .await?;
        let mut w = XmlWriter::new();
        w.open("PolicyNames");
        for (n, _) in &policies {
            w.text("member", n);
        }
        w.close("PolicyNames").text("IsTruncated", "false");
        done(w)
    }

    async fn delete_inline(&self, kind: PrincipalKind) -> Out {
        let action = format!("iam:Delete{}Policy", capitalized(kind));
        let policy_name = self.policy_name_param()?;
        let (name, _) = self.existing(kind, &action, &[]).await?;
        if !self
            .iam
            .store()
            .delete_inline_policy(self.account(), kind, &name, &policy_name)
            .await?
        {
            return Err(IamError::NoSuchEntity(format!(
                "The {} policy with name {policy_name} cannot be found.",
                kind_word(kind)
            )));
        }
        self.iam.invalidate();
        Ok(None)
    }

    // --- managed policies ---

    fn policy_arn_param(&self) -> Result<String, IamError> {
        let arn = self.get("PolicyArn");
        let mut v = Validator::new();
        v.required("policyArn", &arn);
        v.length("policyArn", arn, 20, 2048);
        validation(v.finish())?;
        Ok(arn.unwrap_or_default().to_owned())
    }

    async fn managed(&self, arn: &str) -> Result<ManagedPolicyRecord, IamError> {
        self.iam
            .store()
            .get_managed_policy(self.account(), arn)
            .await?
            .ok_or_else(|| {
                IamError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
            })
    }

    async fn create_policy(&self) -> Out {
        let policy_name = self.policy_name_param()?;
        let path = self.get("Path");
        let description = self.get("Description");
        let mut v = Validator::new();
        check_path(&mut v, "path", path);
        v.length("description", description, 0, 1000);
        validation(v.finish())?;
        let document = self.get("PolicyDocument");
        names::policy_document("policyDocument", document, PolicyQuota::Managed)?;
        let tags = self.tags_param()?;
        let path = path.unwrap_or("/");
        let arn = self.arn("policy", path, &policy_name);
        authorize(self.req, "iam:CreatePolicy", &arn, &[])?;
        let now = self.iam.now_ms();
        let policy = ManagedPolicyRecord {
            account_id: self.account().to_owned(),
            policy_name: policy_name.clone(),
            policy_id: random_id("ANPA", 17)?,
            path: path.to_owned(),
            arn,
            document: document.unwrap_or_default().to_owned(),
            description: description.map(str::to_owned),
            created_ms: now,
            tags,
            attachment_count: 0,
        };
        match self.iam.store().create_managed_policy(&policy).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                return Err(IamError::EntityAlreadyExists(format!(
                    "A policy called {policy_name} already exists. Duplicate names are not allowed."
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.iam.invalidate();
        let mut w = XmlWriter::new();
        write_policy(&mut w, &policy);
        done(w)
    }

    async fn get_policy(&self) -> Out {
        let arn = self.policy_arn_param()?;
        authorize(self.req, "iam:GetPolicy", &arn, &[])?;
        let policy = self.managed(&arn).await?;
        let mut w = XmlWriter::new();
        write_policy(&mut w, &policy);
        done(w)
    }

    async fn get_policy_version(&self) -> Out {
        let arn = self.policy_arn_param()?;
        let version = self.get("VersionId");
        let mut v = Validator::new();
        v.required("versionId", &version);
        v.pattern(
            "versionId",
            version,
            "v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?",
            |s| {
                s.strip_prefix('v').is_some_and(|n| {
                    !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit())
                })
            },
        );
        validation(v.finish())?;
        authorize(self.req, "iam:GetPolicyVersion", &arn, &[])?;
        let policy = self.managed(&arn).await?;
        let version = version.unwrap_or_default();
        if version != "v1" {
            return Err(IamError::NoSuchEntity(format!(
                "Policy {arn} version {version} does not exist or is not attachable."
            )));
        }
        let mut w = XmlWriter::new();
        w.open("PolicyVersion")
            .text("Document", &url_encode(&policy.document))
            .text("VersionId", "v1")
            .text("IsDefaultVersion", "true")
            .text("CreateDate", &iso8601(policy.created_ms))
            .close("PolicyVersion");
        done(w)
    }

    async fn delete_policy(&self) -> Out {
        let arn = self.policy_arn_param()?;
        authorize(self.req, "iam:DeletePolicy", &arn, &[])?;
        let outcome = self
            .iam
            .store()
            .delete_managed_policy(self.account(), &arn)
            .await?;
        self.iam.invalidate();
        match outcome {
            DeleteOutcome::HasAttachments => Err(IamError::DeleteConflict(
                "Cannot delete a policy attached to entities.".to_owned(),
            )),
            DeleteOutcome::NotFound => Err(IamError::NoSuchEntity(format!(
                "Policy {arn} does not exist or is not attachable."
            ))),
            _ => Ok(None),
        }
    }

    async fn attach(&self, kind: PrincipalKind) -> Out {
        let action = format!("iam:Attach{}Policy", capitalized(kind));
        let arn = self.policy_arn_param()?;
        let (name, _) = self
            .existing(kind, &action, &[("iam:PolicyARN", arn.as_str())])
            .await?;
        self.managed(&arn).await?;
        if !self
            .iam
            .store()
            .attach_policy(self.account(), kind, &name, &arn)
            .await?
        {
            return Err(IamError::NoSuchEntity(format!(
                "Policy {arn} does not exist or is not attachable."
            )));
        }
        self.iam.invalidate();
        Ok(None)
    }

    async fn detach(&self, kind: PrincipalKind) -> Out {
        let action = format!("iam:Detach{}Policy", capitalized(kind));
        let arn = self.policy_arn_param()?;
        let (name, _) = self
            .existing(kind, &action, &[("iam:PolicyARN", arn.as_str())])
            .await?;
        let detached = self
            .iam
            .store()
            .detach_policy(self.account(), kind, &name, &arn)
            .await?;
        self.iam.invalidate();
        if !detached {
            return Err(IamError::NoSuchEntity(format!(
                "Policy {arn} was not found."
            )));
        }
        Ok(None)
    }

    async fn list_attached(&self, kind: PrincipalKind) -> Out {
        let action = format!("iam:ListAttached{}Policies", capitalized(kind));
        let (name, _) = self.existing(kind, &action, &[]).await?;
        let policies = self
            .iam
            .store()
            .attached_policies(self.account(), kind, &name)
            .await?;
        let mut w = XmlWriter::new();
        w.open("AttachedPolicies");
        for p in &policies {
            w.open("member")
                .text("PolicyName", &p.policy_name)
                .text("PolicyArn", &p.arn)
                .close("member");
        }
        w.close("AttachedPolicies").text("IsTruncated", "false");
        done(w)
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
