//! CreatePolicy, GetPolicy, GetPolicyVersion, DeletePolicy, Attach/Detach User/RolePolicy, ListAttached User/RolePolicies.

use super::*;

impl Call<'_> {
    pub(super) fn policy_arn_param(&self) -> Result<String, IamError> {
        let arn = self.get("PolicyArn");
        let mut v = Validator::new();
        v.required("policyArn", &arn);
        v.length("policyArn", arn, 20, 2048);
        validation(v.finish())?;
        Ok(arn.unwrap_or_default().to_owned())
    }

    pub(super) async fn managed(&self, arn: &str) -> Result<ManagedPolicyRecord, IamError> {
        self.iam
            .store()
            .get_managed_policy(self.account(), arn)
            .await?
            .ok_or_else(|| {
                IamError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
            })
    }

    pub(super) async fn create_policy(&self) -> Out {
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

    pub(super) async fn get_policy(&self) -> Out {
        let arn = self.policy_arn_param()?;
        authorize(self.req, "iam:GetPolicy", &arn, &[])?;
        let policy = self.managed(&arn).await?;
        let mut w = XmlWriter::new();
        write_policy(&mut w, &policy);
        done(w)
    }

    pub(super) async fn get_policy_version(&self) -> Out {
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

    pub(super) async fn delete_policy(&self) -> Out {
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

    pub(super) async fn attach(&self, kind: PrincipalKind) -> Out {
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

    pub(super) async fn detach(&self, kind: PrincipalKind) -> Out {
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

    pub(super) async fn list_attached(&self, kind: PrincipalKind) -> Out {
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
