//! Encryption on behalf of other Trent services (Parameter Store today), in process.
//!
//! These go through the same resolution, authorization and state checks as Encrypt and
//! Decrypt, so a missing, disabled or pending-deletion key, or a caller the key's policies do not
//! allow, gives the KMS error AWS would surface to the calling service. The caller is
//! authorized as itself with `kms:ViaService` set to the calling service
//! (`ssm.<region>.amazonaws.com`), and usage is noted for GetKeyLastUsage as if the caller had
//! called KMS.

use trent_crypto::SecretBytes;
use trent_store::{AliasRecord, KeyMaterial, KeyRecord, StoreError};

use crate::authz::Access;
use crate::model::{self, KeyState};
use crate::{Aliases, Caller, Cipher, EncryptionContext, Kms, KmsError};

impl Kms {
    /// Encrypts `plaintext` under the symmetric key `key_id` (id, ARN, alias name or alias ARN)
    /// bound to `context`. Returns the ciphertext blob and the key's ARN.
    pub async fn encrypt_for(
        &self,
        caller: &Caller,
        key_id: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
        service: &str,
    ) -> Result<(Vec<u8>, String), KmsError> {
        let access = Access::new("Encrypt")
            .context(context)
            .with("kms:EncryptionAlgorithm", model::SYMMETRIC_DEFAULT)
            .via(service, &caller.scope.region);
        let key = self
            .resolve(caller, key_id, Aliases::Allowed, &access)
            .await?;
        let cipher = Cipher::for_key(&key, None)?;
        if cipher != Cipher::Symmetric {
            return Err(KmsError::InvalidKeyUsage(format!(
                "{} is not a symmetric encryption key.",
                key.arn
            )));
        }
        let (blob, _material) = self.encrypt_with(&key, cipher, plaintext, context)?;
        self.note_usage(&key, "Encrypt", caller);
        Ok((blob, key.arn.clone()))
    }

    /// Decrypts a symmetric ciphertext blob made by [`Kms::encrypt_for`] (or Encrypt) under
    /// `context`. Returns the plaintext and the key's ARN.
    pub async fn decrypt_for(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        context: &EncryptionContext,
        service: &str,
    ) -> Result<(SecretBytes, String), KmsError> {
        let access = Access::new("Decrypt")
            .context(context)
            .with("kms:EncryptionAlgorithm", model::SYMMETRIC_DEFAULT)
            .via(service, &caller.scope.region);
        let opened = self
            .open(caller, ciphertext, context, None, &access)
            .await?;
        self.note_usage(&opened.key, "Decrypt", caller);
        Ok((opened.plaintext, opened.key.arn.clone()))
    }

    /// The AWS managed key behind `alias_name` (such as `alias/aws/ssm`), created on first use
    /// with KeyManager `AWS`, as AWS services do. Returns the key's ARN.
    pub async fn aws_managed_key(
        &self,
        caller: &Caller,
        alias_name: &str,
        description: &str,
    ) -> Result<String, KmsError> {
        if !alias_name.starts_with("alias/aws/") {
            return Err(KmsError::Internal(
                "AWS managed keys have alias/aws/ aliases",
            ));
        }
        let scope = &caller.scope;
        if let Some(alias) = self.store().get_alias(scope, alias_name).await? {
            return Ok(model::key_arn(scope, &alias.key_id));
        }
        let now = self.now_ms();
        let material_id = trent_crypto::hex(&trent_crypto::random_array::<32>()?);
        let record = KeyRecord {
            scope: scope.clone(),
            key_id: uuid::Uuid::new_v4().to_string(),
            seq: 0,
            description: description.to_string(),
            key_spec: model::SYMMETRIC_DEFAULT.to_string(),
            key_usage: model::ENCRYPT_DECRYPT.to_string(),
            origin: "AWS_KMS".to_string(),
            key_manager: "AWS".to_string(),
            state: KeyState::Enabled.as_str().to_string(),
            created_ms: now,
            deletion_ms: None,
            pending_window_days: None,
            policy: model::aws_managed_policy(scope, alias_name.trim_start_matches("alias/aws/")),
            tags: Vec::new(),
            current_material_id: material_id.clone(),
            multi_region: false,
            // AWS managed keys rotate every year.
            rotation_period_days: Some(365),
            next_rotation_ms: Some(now + 365 * crate::DAY_MS),
            version: 1,
            valid_to_ms: None,
            expiration_model: None,
            primary_region: None,
        };
        let material = KeyMaterial {
            material_id,
            created_ms: now,
            rotation_type: None,
            secret: SecretBytes::random(32)?,
        };
        self.store().create_key(&record, Some(&material)).await?;
        let alias = AliasRecord {
            scope: scope.clone(),
            alias_name: alias_name.to_string(),
            key_id: record.key_id.clone(),
            created_ms: now,
            updated_ms: now,
        };
        match self.store().create_alias(&alias).await {
            Ok(()) => {
                self.aliases_changed();
                Ok(model::key_arn(scope, &record.key_id))
            }
            Err(StoreError::AlreadyExists) => {
                // A concurrent first use won: use its key and drop ours, which nothing used.
                self.store().delete_key(scope, &record.key_id).await?;
                let alias = self
                    .store()
                    .get_alias(scope, alias_name)
                    .await?
                    .ok_or(KmsError::Internal("managed key alias vanished"))?;
                Ok(model::key_arn(scope, &alias.key_id))
            }
            Err(e) => Err(e.into()),
        }
    }
}
