//! Put/Get/List/Delete UserPolicy and RolePolicy.

use super::*;

impl Call<'_> {
    pub(super) fn policy_name_param(&self) -> Result<String, IamError> {
        let name = self.get("PolicyName");
        let mut v = Validator::new();
        check_name(&mut v, "policyName", name, 128);
        validation(v.finish())?;
        Ok(name.unwrap_or_default().to_owned())
    }

    pub(super) async fn put_inline(&self, kind: PrincipalKind) -> Out {
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

    pub(super) async fn get_inline(&self, kind: PrincipalKind) -> Out {
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

    pub(super) async fn list_inline(&self, kind: PrincipalKind) -> Out {
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

    pub(super) async fn delete_inline(&self, kind: PrincipalKind) -> Out {
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
}
