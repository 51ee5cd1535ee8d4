//! One module per Secrets Manager operation. Each has its `Request` (the botocore input shape,
//! every member optional so that absence is reported as AWS reports it), its `Response`, and
//! `handle`.

use trent_store::{NewSecretVersion, SecretRecord, SecretVersionRecord};

use crate::model::{self, NewValue};
use crate::{Caller, Secrets, SecretsError};

pub(crate) use describe_secret::{describe, with_rotation};
pub(crate) use get_random_password::for_rotation as password_for_rotation;
pub(crate) use get_secret_value::select;

mod batch_get_secret_value;
mod cancel_rotate_secret;
mod create_secret;
mod delete_resource_policy;
mod delete_secret;
mod describe_secret;
mod get_random_password;
mod get_resource_policy;
mod get_secret_value;
mod list_secret_version_ids;
mod list_secrets;
mod put_resource_policy;
mod put_secret_value;
mod remove_regions_from_replication;
mod replicate_secret_to_regions;
mod restore_secret;
mod rotate_secret;
mod stop_replication_to_replica;
mod tag_resource;
mod untag_resource;
mod update_secret;
mod update_secret_version_stage;
mod validate_resource_policy;

macro_rules! operations {
    ($($name:literal => $module:ident,)*) => {
        trent_wire::request_decoders! { $($name => $module,)* }

        pub(crate) async fn dispatch(
            secrets: &Secrets,
            caller: &Caller,
            operation: &str,
            body: &[u8],
        ) -> Result<Vec<u8>, SecretsError> {
            match operation {
                $($name => {
                    let request: $module::Request = trent_wire::decode(body)?;
                    let response = $module::handle(secrets, caller, request).await?;
                    serde_json::to_vec(&response)
                        .map_err(|_| SecretsError::Internal("response serialization"))
                })*
                _ => Err(SecretsError::Internal("dispatch of an unknown operation")),
            }
        }
    };
}

operations! {
    "BatchGetSecretValue" => batch_get_secret_value,
    "CancelRotateSecret" => cancel_rotate_secret,
    "CreateSecret" => create_secret,
    "DeleteResourcePolicy" => delete_resource_policy,
    "DeleteSecret" => delete_secret,
    "DescribeSecret" => describe_secret,
    "GetRandomPassword" => get_random_password,
    "GetResourcePolicy" => get_resource_policy,
    "GetSecretValue" => get_secret_value,
    "ListSecretVersionIds" => list_secret_version_ids,
    "ListSecrets" => list_secrets,
    "PutResourcePolicy" => put_resource_policy,
    "PutSecretValue" => put_secret_value,
    "RemoveRegionsFromReplication" => remove_regions_from_replication,
    "ReplicateSecretToRegions" => replicate_secret_to_regions,
    "RestoreSecret" => restore_secret,
    "StopReplicationToReplica" => stop_replication_to_replica,
    "RotateSecret" => rotate_secret,
    "TagResource" => tag_resource,
    "UntagResource" => untag_resource,
    "UpdateSecret" => update_secret,
    "UpdateSecretVersionStage" => update_secret_version_stage,
    "ValidateResourcePolicy" => validate_resource_policy,
}

/// What adding a version came to.
pub(crate) enum Added {
    /// The version id already held this very value: nothing changed (a retried request).
    Existing(Vec<String>),
    /// A new version, to be saved with the secret.
    New(NewSecretVersion),
}

/// Whether `value` is the value of `version` (kind and bytes, compared in constant time).
async fn same_value(
    secrets: &Secrets,
    caller: &Caller,
    secret: &SecretRecord,
    version: &SecretVersionRecord,
    value: &NewValue,
) -> Result<bool, SecretsError> {
    let stored = secrets.decrypt(caller, secret, version).await?;
    Ok(stored.kind == value.kind
        && trent_crypto::constant_time_eq(
            stored.bytes.expose_secret(),
            value.bytes.expose_secret(),
        ))
}

/// Adds a version with `value` to `secret` (in memory): the idempotency rules of
/// ClientRequestToken, the staging labels (`None`: AWSCURRENT; the first version always gets
/// AWSCURRENT), the label limit and version retention.
pub(crate) async fn add_version(
    secrets: &Secrets,
    caller: &Caller,
    secret: &mut SecretRecord,
    version_id: &str,
    value: &NewValue,
    stages: Option<&[String]>,
) -> Result<Added, SecretsError> {
    // The AWSPENDING version a rotation starts with has no value: the first value given to its
    // id fills it (createSecret's PutSecretValue).
    let filling = secret
        .versions
        .iter()
        .any(|v| v.version_id == version_id && v.kind == crate::rotation::KIND_NONE);
    if let Some(existing) = secret
        .versions
        .iter()
        .find(|v| v.version_id == version_id)
        .filter(|_| !filling)
    {
        if same_value(secrets, caller, secret, existing, value).await? {
            return Ok(Added::Existing(existing.stages.clone()));
        }
        return Err(SecretsError::ResourceExists(
            "You can't modify an existing version, you can only create a new version.".to_string(),
        ));
    }
    let mut stages: Vec<String> = match stages {
        Some(s) => s.to_vec(),
        None => vec![model::AWSCURRENT.to_string()],
    };
    if model::current(secret).is_none() && !stages.iter().any(|s| s == model::AWSCURRENT) {
        stages.push(model::AWSCURRENT.to_string());
    }
    let now = secrets.now_ms();
    let (ciphertext, key_arn) = secrets
        .encrypt(caller, secret, version_id, &value.bytes)
        .await?;
    if filling {
        for v in secret.versions.iter_mut() {
            if v.version_id == version_id {
                v.kind = value.kind.to_string();
                v.kms_key_arn = key_arn.clone();
            }
        }
    } else {
        secret.versions.push(SecretVersionRecord {
            version_id: version_id.to_string(),
            stages: Vec::new(),
            created_ms: now,
            last_accessed_ms: None,
            kind: value.kind.to_string(),
            kms_key_arn: key_arn,
        });
    }
    // AWSCURRENT first: its move hands AWSPREVIOUS to the old version, and a label the request
    // names explicitly (even AWSPREVIOUS) then wins.
    stages.sort_by_key(|s| s != model::AWSCURRENT);
    for stage in &stages {
        model::attach(&mut secret.versions, stage, version_id);
    }
    if model::stage_count(&secret.versions) > model::MAX_STAGES {
        return Err(SecretsError::LimitExceeded(format!(
            "A secret can have at most {} staging labels.",
            model::MAX_STAGES
        )));
    }
    model::prune(&mut secret.versions, now);
    secret.last_changed_ms = now;
    let record = secret
        .versions
        .iter()
        .find(|v| v.version_id == version_id)
        .cloned()
        .ok_or(SecretsError::Internal("new version vanished"))?;
    Ok(Added::New(NewSecretVersion { record, ciphertext }))
}

/// Validates a VersionStages list member: 1–20 labels of 1–256 characters.
pub(crate) fn stages_member(v: &mut trent_wire::Validator, stages: Option<&Vec<String>>) {
    v.count("versionStages", stages.map(Vec::len), 1, 20);
    for (i, s) in stages.into_iter().flatten().enumerate() {
        v.length(&format!("versionStages.{}.member", i + 1), Some(s), 1, 256);
    }
}

/// Secret filters (ListSecrets, BatchGetSecretValue).
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Filter {
    key: Option<String>,
    values: Option<Vec<String>>,
}

const FILTER_KEYS: &[&str] = &[
    "description",
    "name",
    "tag-key",
    "tag-value",
    "primary-region",
    "owning-service",
    "all",
];

pub(crate) fn filters_member(v: &mut trent_wire::Validator, filters: Option<&Vec<Filter>>) {
    v.count("filters", filters.map(Vec::len), 0, 10);
    for (i, f) in filters.into_iter().flatten().enumerate() {
        let m = format!("filters.{}.member", i + 1);
        v.one_of(&format!("{m}.key"), f.key.as_deref(), FILTER_KEYS);
        v.count(
            &format!("{m}.values"),
            f.values.as_ref().map(Vec::len),
            1,
            10,
        );
        for (j, value) in f.values.iter().flatten().enumerate() {
            let vm = format!("{m}.values.{}.member", j + 1);
            v.length(&vm, Some(value), 1, 512);
            v.pattern(
                &vm,
                Some(value),
                "^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$",
                |s| {
                    s.chars().all(|c| {
                        c.is_ascii_alphanumeric()
                            || matches!(
                                c,
                                ' ' | ':' | '_' | '@' | '/' | '+' | '=' | '.' | '-' | '!'
                            )
                    })
                },
            );
        }
    }
}

/// Whether `secret` passes every filter (filters are ANDed, the values of one filter ORed; a
/// value starting with `!` negates). Matching is by prefix; `description` and `all` ignore case.
/// `primary_region`: the secret's primary region when it takes part in replication.
pub(crate) fn matches(
    secret: &SecretRecord,
    primary_region: Option<&str>,
    filters: &[Filter],
) -> bool {
    filters.iter().all(|f| {
        let key = f.key.as_deref().unwrap_or_default();
        let (mut positive, mut any_positive, mut negated) = (false, false, false);
        for value in f.values.iter().flatten() {
            let (negate, value) = match value.strip_prefix('!') {
                Some(v) => (true, v),
                None => (false, value.as_str()),
            };
            let hit = filter_hit(secret, primary_region, key, value);
            if negate {
                negated |= hit;
            } else {
                any_positive = true;
                positive |= hit;
            }
        }
        (!any_positive || positive) && !negated
    })
}

fn filter_hit(secret: &SecretRecord, primary_region: Option<&str>, key: &str, value: &str) -> bool {
    let prefix = |field: &str| field.starts_with(value);
    let prefix_ci =
        |field: &str, value: &str| field.to_lowercase().starts_with(&value.to_lowercase());
    match key {
        "name" => prefix(&secret.name),
        "description" => secret
            .description
            .as_deref()
            .is_some_and(|d| prefix_ci(d, value)),
        "tag-key" => secret.tags.iter().any(|(k, _)| prefix(k)),
        "tag-value" => secret.tags.iter().any(|(_, v)| prefix(v)),
        "primary-region" => primary_region.is_some_and(prefix),
        "owning-service" => false,
        // Every word must start one of the secret's words (name, description, tags).
        "all" => value.split_whitespace().all(|word| {
            let mut fields: Vec<&str> = vec![secret.name.as_str()];
            fields.extend(secret.description.as_deref());
            fields.extend(
                secret
                    .tags
                    .iter()
                    .flat_map(|(k, v)| [k.as_str(), v.as_str()]),
            );
            fields
                .iter()
                .flat_map(|f| f.split_whitespace().chain(std::iter::once(*f)))
                .any(|f| prefix_ci(f, word))
        }),
        _ => false,
    }
}
