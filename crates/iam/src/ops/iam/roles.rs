//! CreateRole, GetRole, ListRoles, DeleteRole.

use super::*;

impl Call<'_> {
    pub(super) async fn create_role(&self) -> Out {
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

    pub(super) async fn get_role(&self) -> Out {
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

    pub(super) async fn list_roles(&self) -> Out {
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

    pub(super) async fn delete_role(&self) -> Out {
        let (name, _) = self
            .existing(PrincipalKind::Role, "iam:DeleteRole", &[])
            .await?;
        let outcome = self.iam.store().delete_role(self.account(), &name).await?;
        self.iam.invalidate();
        delete_outcome(outcome, || not_found(PrincipalKind::Role, &name))
    }
}
