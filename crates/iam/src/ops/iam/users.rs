//! CreateUser, GetUser, ListUsers, DeleteUser, TagUser/TagRole, ListUserTags/ListRoleTags.

use super::*;

impl Call<'_> {
    pub(super) async fn create_user(&self) -> Out {
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

    pub(super) async fn get_user(&self) -> Out {
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

    pub(super) async fn list_users(&self) -> Out {
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

    pub(super) async fn delete_user(&self) -> Out {
        let (name, _) = self
            .existing(PrincipalKind::User, "iam:DeleteUser", &[])
            .await?;
        let outcome = self.iam.store().delete_user(self.account(), &name).await?;
        self.iam.invalidate();
        delete_outcome(outcome, || not_found(PrincipalKind::User, &name))
    }

    pub(super) async fn tag(&self, kind: PrincipalKind) -> Out {
        let action = format!("iam:Tag{}", capitalized(kind));
        let (name, _) = self.existing(kind, &action, &[]).await?;
        let new = self.tags_param()?;
        if new.is_empty() {
            return Err(IamError::Validation(
                "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null".to_owned(),
            ));
        }
        self.update_tags(kind, &name, |existing| {
            names::merge_tags(existing, new.clone())
        })
        .await
    }

    pub(super) async fn current_tags(
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

    pub(super) async fn untag(&self, kind: PrincipalKind) -> Out {
        let action = format!("iam:Untag{}", capitalized(kind));
        let keys = self
            .p
            .list("TagKeys")
            .map_err(|e| IamError::Validation(e.message))?;
        let mut v = Validator::new();
        if keys.is_empty() {
            v.required::<&str>("tagKeys", &None);
        }
        v.count("tagKeys", Some(keys.len()), 0, 50);
        for (i, k) in keys.iter().enumerate() {
            let member = format!("tagKeys.{}.member", i + 1);
            v.length(&member, Some(k), 1, 128);
            v.pattern(&member, Some(k), names::TAG_KEY_PATTERN, names::is_tag_key);
        }
        validation(v.finish())?;
        let (name, _) = self.existing(kind, &action, &[]).await?;
        self.update_tags(kind, &name, |existing| {
            Ok(existing
                .iter()
                .filter(|(k, _)| !keys.iter().any(|r| r.eq_ignore_ascii_case(k)))
                .cloned()
                .collect())
        })
        .await
    }

    /// Read-modify-write of a user's or role's tags, retried when a concurrent write got there
    /// first.
    async fn update_tags(
        &self,
        kind: PrincipalKind,
        name: &str,
        change: impl Fn(&[(String, String)]) -> Result<Vec<(String, String)>, IamError>,
    ) -> Out {
        const ATTEMPTS: usize = 8;
        for _ in 0..ATTEMPTS {
            let existing = self.current_tags(kind, name).await?;
            let tags = change(&existing)?;
            match self
                .iam
                .store()
                .set_principal_tags(self.account(), kind, name, &existing, &tags)
                .await
            {
                Ok(true) => {
                    self.iam.invalidate();
                    return Ok(None);
                }
                Ok(false) => return Err(not_found(kind, name)),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(IamError::Internal("tags kept changing concurrently"))
    }

    pub(super) async fn list_tags(&self, kind: PrincipalKind) -> Out {
        let action = format!("iam:List{}Tags", capitalized(kind));
        let (name, _) = self.existing(kind, &action, &[]).await?;
        let tags = self.current_tags(kind, &name).await?;
        let mut w = XmlWriter::new();
        write_tags(&mut w, &tags);
        w.text("IsTruncated", "false");
        done(w)
    }
}
