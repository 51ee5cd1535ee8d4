//! CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey: of a named user, or of the caller (a user or the account root).

use super::*;

/// Access keys per user (and per account root), as in AWS.
const MAX_KEYS: u32 = 2;

impl Call<'_> {
    /// The owner of the access keys an operation is about: the named user, else the caller
    /// (a user or the account root). Returns (user name as shown, owner ARN).
    pub(super) async fn key_owner(&self, action: &str) -> Result<(String, String), IamError> {
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

    pub(super) async fn create_access_key(&self) -> Out {
        let (user_name, owner) = self.key_owner("iam:CreateAccessKey").await?;
        let store = self.iam.store();
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
        if !store.create_access_key(&record, MAX_KEYS).await? {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}"
            )));
        }
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

    pub(super) async fn list_access_keys(&self) -> Out {
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
    pub(super) async fn owned_key(&self, owner: &str) -> Result<String, IamError> {
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

    pub(super) async fn update_access_key(&self) -> Out {
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

    pub(super) async fn delete_access_key(&self) -> Out {
        let (_, owner) = self.key_owner("iam:DeleteAccessKey").await?;
        let id = self.owned_key(&owner).await?;
        self.iam.store().delete_access_key(&id).await?;
        self.iam.invalidate();
        Ok(None)
    }
}
