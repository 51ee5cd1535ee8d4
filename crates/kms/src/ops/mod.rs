//! One module per KMS operation. Each has its `Request` (the botocore input shape, every member
//! optional so that absence is reported as AWS reports it), its `Response`, and `handle`.

use trent_wire::Validator;

use crate::{Caller, Kms, KmsError};

mod cancel_key_deletion;
mod create_alias;
mod create_grant;
mod create_key;
mod decrypt;
mod delete_alias;
mod delete_imported_key_material;
mod derive_shared_secret;
mod describe_key;
mod disable_key;
mod disable_key_rotation;
mod enable_key;
mod enable_key_rotation;
mod encrypt;
mod generate_data_key;
mod generate_data_key_pair;
mod generate_data_key_pair_without_plaintext;
mod generate_data_key_without_plaintext;
mod generate_mac;
mod generate_random;
mod get_key_last_usage;
mod get_key_policy;
mod get_key_rotation_status;
mod get_parameters_for_import;
mod get_public_key;
mod import_key_material;
mod list_aliases;
mod list_grants;
mod list_key_policies;
mod list_key_rotations;
mod list_keys;
mod list_resource_tags;
mod list_retirable_grants;
mod put_key_policy;
mod re_encrypt;
mod replicate_key;
mod retire_grant;
mod revoke_grant;
mod rotate_key_on_demand;
mod schedule_key_deletion;
mod sign;
mod tag_resource;
mod untag_resource;
mod update_alias;
mod update_key_description;
mod update_primary_region;
mod verify;
mod verify_mac;

macro_rules! operations {
    ($($name:literal => $module:ident,)*) => {
        trent_wire::request_decoders! { $($name => $module,)* }

        pub(crate) async fn dispatch(
            kms: &Kms,
            caller: &Caller,
            operation: &str,
            body: &[u8],
        ) -> Result<Vec<u8>, KmsError> {
            match operation {
                $($name => {
                    let request: $module::Request = trent_wire::decode(body)?;
                    let response = $module::handle(kms, caller, request).await?;
                    serde_json::to_vec(&response)
                        .map_err(|_| KmsError::Internal("response serialization"))
                })*
                _ => Err(KmsError::Internal("dispatch of an unknown operation")),
            }
        }
    };
}

operations! {
    "CancelKeyDeletion" => cancel_key_deletion,
    "CreateAlias" => create_alias,
    "CreateGrant" => create_grant,
    "CreateKey" => create_key,
    "Decrypt" => decrypt,
    "DeleteAlias" => delete_alias,
    "DeriveSharedSecret" => derive_shared_secret,
    "DeleteImportedKeyMaterial" => delete_imported_key_material,
    "DescribeKey" => describe_key,
    "DisableKey" => disable_key,
    "DisableKeyRotation" => disable_key_rotation,
    "EnableKey" => enable_key,
    "EnableKeyRotation" => enable_key_rotation,
    "Encrypt" => encrypt,
    "GenerateDataKey" => generate_data_key,
    "GenerateDataKeyPair" => generate_data_key_pair,
    "GenerateDataKeyPairWithoutPlaintext" => generate_data_key_pair_without_plaintext,
    "GenerateDataKeyWithoutPlaintext" => generate_data_key_without_plaintext,
    "GenerateMac" => generate_mac,
    "GenerateRandom" => generate_random,
    "GetKeyLastUsage" => get_key_last_usage,
    "GetKeyPolicy" => get_key_policy,
    "GetPublicKey" => get_public_key,
    "GetKeyRotationStatus" => get_key_rotation_status,
    "GetParametersForImport" => get_parameters_for_import,
    "ImportKeyMaterial" => import_key_material,
    "ListAliases" => list_aliases,
    "ListGrants" => list_grants,
    "ListKeyPolicies" => list_key_policies,
    "ListKeyRotations" => list_key_rotations,
    "ListKeys" => list_keys,
    "ListResourceTags" => list_resource_tags,
    "ListRetirableGrants" => list_retirable_grants,
    "PutKeyPolicy" => put_key_policy,
    "ReEncrypt" => re_encrypt,
    "ReplicateKey" => replicate_key,
    "RetireGrant" => retire_grant,
    "RevokeGrant" => revoke_grant,
    "RotateKeyOnDemand" => rotate_key_on_demand,
    "ScheduleKeyDeletion" => schedule_key_deletion,
    "Sign" => sign,
    "TagResource" => tag_resource,
    "UntagResource" => untag_resource,
    "UpdateAlias" => update_alias,
    "UpdateKeyDescription" => update_key_description,
    "Verify" => verify,
    "UpdatePrimaryRegion" => update_primary_region,
    "VerifyMac" => verify_mac,
}

/// A required KeyId-typed member: present, 1–2048 characters.
pub(crate) fn key_id_member(v: &mut Validator, member: &str, value: &Option<String>) {
    v.required(member, value);
    v.length(member, value.as_deref(), 1, 2048);
}

/// Pagination Limit member: 1–1000.
pub(crate) fn limit_member(v: &mut Validator, value: Option<i64>) -> u32 {
    v.range("limit", value, 1, 1000);
    value
        .and_then(|l| u32::try_from(l).ok())
        .unwrap_or(100)
        .clamp(1, 1000)
}

/// Marker member: 1–1024 characters.
pub(crate) fn marker_member(v: &mut Validator, value: Option<&str>) {
    v.length("marker", value, 1, 1024);
}

/// The `DryRun` member: a call that would have succeeded answers DryRunOperationException.
pub(crate) fn dry_run(flag: Option<bool>) -> Result<(), KmsError> {
    if flag == Some(true) {
        Err(KmsError::DryRun)
    } else {
        Ok(())
    }
}

/// Validates DryRunModifiers; returns whether `IGNORE_CIPHERTEXT` was given, in which case a dry
/// run checks only the permission to call the operation and never reads the ciphertext.
pub(crate) fn dry_run_modifiers_member(v: &mut Validator, modifiers: Option<&[String]>) -> bool {
    let modifiers = modifiers.unwrap_or_default();
    for (i, m) in modifiers.iter().enumerate() {
        v.one_of(
            &format!("dryRunModifiers.{}.member", i + 1),
            Some(m),
            &["IGNORE_CIPHERTEXT"],
        );
    }
    modifiers.iter().any(|m| m == "IGNORE_CIPHERTEXT")
}

/// `Recipient` (Nitro Enclaves attestation) has no meaning outside AWS.
pub(crate) fn refuse_recipient(recipient: &Option<serde_json::Value>) -> Result<(), KmsError> {
    if recipient.is_some() {
        return Err(KmsError::UnsupportedOperation(
            "Recipient (AWS Nitro Enclaves attestation) is not supported by this service."
                .to_string(),
        ));
    }
    Ok(())
}

/// Validates an encryption context map: keys and values must be non-empty strings.
pub(crate) fn context_member(
    v: &mut Validator,
    member: &str,
    ec: &Option<crate::EncryptionContext>,
) {
    if let Some(ec) = ec
        && ec.0.keys().any(String::is_empty)
    {
        v.violation(
            None,
            member,
            "Map keys must have length greater than or equal to 1",
        );
    }
}

/// Response holding only the key ARN.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct KeyIdResponse {
    pub key_id: String,
}

/// Response without members.
#[derive(serde::Serialize)]
pub(crate) struct Empty {}
