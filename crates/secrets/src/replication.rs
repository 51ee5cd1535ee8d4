//! Replication of secrets to other regions of this deployment (same account), as AWS replicates
//! multi-Region secrets.
//!
//! - A replica is an ordinary secret row in the replica region: the primary's name, the
//!   primary's ARN with the region changed (same random suffix), the primary's description,
//!   tags, resource policy, versions and staging labels, and its own KMS key (the replica
//!   region's `alias/aws/secretsmanager` unless one is named). Values are decrypted in the
//!   primary's region and encrypted again in the replica's, bound to the replica's ARN.
//! - The primary keeps the replica list (`sm_replicas`: region, key, status, message).
//! - Synchronous: every change of a primary is written together with its replicas' in one store
//!   transaction ([`Store::write_secrets`]), so a replica never shows a state the primary did not
//!   have. There is no `InProgress` state to wait for; a replica whose region cannot encrypt (its
//!   key missing, disabled, not allowed) is marked `Failed` with the reason and catches up on the
//!   primary's next change.
//! - A replica is read-only: every write is refused with `InvalidRequestException`, until
//!   StopReplicationToReplica promotes it to a standalone secret.
//!
//! [`Store::write_secrets`]: trent_store::Store::write_secrets

use serde::{Deserialize, Serialize};
use trent_store::{
    NewSecretVersion, Scope, SecretRecord, SecretReplicaRecord, SecretVersionRecord, SecretWrite,
    StoreError,
};
use trent_wire::Validator;
use trent_wire::timestamp::from_millis;

use crate::model::{self, NewValue};
use crate::{Caller, Secrets, SecretsError};

pub const IN_SYNC: &str = "InSync";
pub const FAILED: &str = "Failed";
const SUCCEEDED: &str = "Replication succeeded";

/// A member of `AddReplicaRegions` (`ReplicaRegionType`).
#[derive(Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicaRegion {
    pub region: Option<String>,
    pub kms_key_id: Option<String>,
}

/// `ReplicationStatusType`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicationStatus {
    region: String,
    kms_key_id: String,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_accessed_date: Option<f64>,
}

/// `PrimaryRegion` and `ReplicationStatus` of DescribeSecret (absent for a secret that takes
/// no part in replication).
#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Replication {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replication_status: Vec<ReplicationStatus>,
}

/// `^([a-z]+-)+\d+$`, the model's RegionType.
fn is_region(s: &str) -> bool {
    let Some((head, digits)) = s.rsplit_once('-') else {
        return false;
    };
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && head
            .split('-')
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
}

/// Validates a list of regions (`RemoveReplicaRegions`).
pub(crate) fn check_region_names(v: &mut Validator, member: &str, regions: Option<&Vec<String>>) {
    v.count(member, regions.map(Vec::len), 1, usize::MAX);
    for (i, r) in regions.into_iter().flatten().enumerate() {
        let m = format!("{member}.{}.member", i + 1);
        v.length(&m, Some(r), 1, 128);
        v.pattern(&m, Some(r), "^([a-z]+-)+\\d+$", is_region);
    }
}

/// Validates `AddReplicaRegions`.
pub(crate) fn check_replica_regions(
    v: &mut Validator,
    member: &str,
    regions: Option<&Vec<ReplicaRegion>>,
) {
    v.count(member, regions.map(Vec::len), 1, usize::MAX);
    for (i, r) in regions.into_iter().flatten().enumerate() {
        let m = format!("{member}.{}.member", i + 1);
        v.length(&format!("{m}.region"), r.region.as_deref(), 1, 128);
        v.pattern(
            &format!("{m}.region"),
            r.region.as_deref(),
            "^([a-z]+-)+\\d+$",
            is_region,
        );
        v.length(&format!("{m}.kmsKeyId"), r.kms_key_id.as_deref(), 0, 2048);
    }
}

/// The refusal of a write on a replica.
pub(crate) fn replica_is_read_only(primary_region: &str) -> SecretsError {
    SecretsError::InvalidRequest(format!(
        "Operation not permitted on a replica secret. Call must be made in primary secret's \
         region ({primary_region})."
    ))
}

/// A replica's ARN: the primary's with the region changed.
fn replica_arn(primary: &SecretRecord, replica: &Scope) -> String {
    let prefix = model::arn_prefix(&primary.scope);
    let tail = primary.arn.strip_prefix(&prefix).unwrap_or(&primary.name);
    format!("{}{tail}", model::arn_prefix(replica))
}

/// The caller, acting in another region of its account (the replica's KMS key is used there).
fn caller_in(caller: &Caller, region: &str) -> Caller {
    let mut c = caller.clone();
    c.scope = Scope::new(caller.scope.account_id.clone(), region);
    c
}

/// How a synced replica reaches the store.
enum Apply {
    /// A new replica row.
    Create,
    /// The replica row, revision-checked.
    Save,
    /// ForceOverwriteReplicaSecret: the secret of that name (at this revision) is deleted and
    /// the replica created in its place.
    Replace(i64),
}

/// What syncing one replica came to.
struct Synced {
    /// The replica's new state and the versions to insert, or `None` when it failed.
    write: Option<(SecretRecord, Vec<NewSecretVersion>, Apply)>,
    status: SecretReplicaRecord,
}

impl Secrets {
    /// Saves a change of `secret` (read at `secret.revision`), with its new version if any (and
    /// that version's value, which replicas encrypt again), and brings every replica of it to
    /// the same state in the same transaction. A replica is refused.
    pub(crate) async fn save(
        &self,
        caller: &Caller,
        secret: &SecretRecord,
        new: Option<(&NewSecretVersion, &NewValue)>,
    ) -> Result<(), SecretsError> {
        self.save_version(caller, secret, new.map(|(n, _)| n), new)
            .await
    }

    /// As [`Secrets::save`], adding `placeholder`, a version with no value yet (the AWSPENDING
    /// version a rotation starts with): replicas get the same placeholder, and the value when
    /// it comes.
    pub(crate) async fn save_placeholder(
        &self,
        caller: &Caller,
        secret: &SecretRecord,
        placeholder: &NewSecretVersion,
    ) -> Result<(), SecretsError> {
        self.save_version(caller, secret, Some(placeholder), None)
            .await
    }

    /// Saves `secret` with `version` (if any) and syncs the replicas; `valued` is the new
    /// version with its value, when it has one.
    async fn save_version(
        &self,
        caller: &Caller,
        secret: &SecretRecord,
        version: Option<&NewSecretVersion>,
        valued: Option<(&NewSecretVersion, &NewValue)>,
    ) -> Result<(), SecretsError> {
        if let Some(primary) = self
            .store()
            .secret_primary_region(&secret.scope, &secret.name)
            .await?
        {
            return Err(replica_is_read_only(&primary));
        }
        let replicas = self
            .store()
            .secret_replicas(&secret.scope, &secret.name)
            .await?;
        if replicas.is_empty() {
            self.store().save_secret(secret, version).await?;
            return Ok(());
        }
        let versions: Vec<NewSecretVersion> = version
            .map(|n| NewSecretVersion {
                record: n.record.clone(),
                ciphertext: n.ciphertext.clone(),
            })
            .into_iter()
            .collect();
        let mut synced = Vec::new();
        for r in &replicas {
            synced.push(self.sync_replica(caller, secret, valued, r, false).await?);
        }
        self.write(secret, false, &versions, &synced).await
    }

    /// Writes the primary (created or saved), the replicas that synced and the replica list.
    async fn write(
        &self,
        primary: &SecretRecord,
        create: bool,
        versions: &[NewSecretVersion],
        synced: &[Synced],
    ) -> Result<(), SecretsError> {
        let statuses: Vec<SecretReplicaRecord> = synced.iter().map(|s| s.status.clone()).collect();
        let mut writes = vec![if create {
            SecretWrite::Create {
                secret: primary,
                versions,
            }
        } else {
            SecretWrite::Save {
                secret: primary,
                versions,
            }
        }];
        for s in synced {
            if let Some((record, new, apply)) = &s.write {
                match apply {
                    Apply::Save => writes.push(SecretWrite::Save {
                        secret: record,
                        versions: new,
                    }),
                    Apply::Create => writes.push(SecretWrite::Create {
                        secret: record,
                        versions: new,
                    }),
                    Apply::Replace(revision) => {
                        writes.push(SecretWrite::Delete {
                            scope: &record.scope,
                            name: &record.name,
                            revision: *revision,
                        });
                        writes.push(SecretWrite::Create {
                            secret: record,
                            versions: new,
                        });
                    }
                }
            }
        }
        writes.push(SecretWrite::Replicas {
            scope: &primary.scope,
            name: &primary.name,
            replicas: &statuses,
        });
        match self.store().write_secrets(&writes).await {
            Ok(()) => Ok(()),
            // A replica created meanwhile in the target region: the primary's caller retries.
            Err(StoreError::AlreadyExists) if !create => Err(StoreError::Conflict.into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Brings one replica to the primary's state (in memory): metadata, labels, versions (each
    /// version the replica lacks is encrypted again under the replica's key). `overwrite`: a
    /// secret of the same name in the replica region that is not a replica is replaced.
    async fn sync_replica(
        &self,
        caller: &Caller,
        primary: &SecretRecord,
        new: Option<(&NewSecretVersion, &NewValue)>,
        replica: &SecretReplicaRecord,
        overwrite: bool,
    ) -> Result<Synced, SecretsError> {
        let scope = Scope::new(primary.scope.account_id.clone(), replica.region.clone());
        let failed = |message: String| Synced {
            write: None,
            status: SecretReplicaRecord {
                status: FAILED.to_string(),
                status_message: Some(message),
                ..replica.clone()
            },
        };
        let arn = replica_arn(primary, &scope);
        let existing = self.store().get_secret(&scope, &primary.name).await?;
        // The row in the replica region is this replica, another secret to replace, or another
        // secret that stays.
        let (base, apply) = match existing {
            Some(s) if replica.present && s.arn == arn => (Some(s), Apply::Save),
            Some(s) => {
                let foreign_replica = self
                    .store()
                    .secret_primary_region(&scope, &s.name)
                    .await?
                    .is_some();
                if !overwrite || foreign_replica {
                    return Ok(failed(format!(
                        "Replication failed: Secret name already exists in the destination \
                         Region {}.",
                        replica.region
                    )));
                }
                (None, Apply::Replace(s.revision))
            }
            None => (None, Apply::Create),
        };
        let mut record = SecretRecord {
            scope: scope.clone(),
            arn: arn.clone(),
            kms_key_id: replica.kms_key_id.clone(),
            created_ms: base.as_ref().map_or(self.now_ms(), |b| b.created_ms),
            last_accessed_ms: base.as_ref().and_then(|b| b.last_accessed_ms),
            revision: base.as_ref().map_or(1, |b| b.revision),
            versions: Vec::new(),
            ..primary.clone()
        };
        let had: Vec<SecretVersionRecord> = base.map(|b| b.versions).unwrap_or_default();
        let in_region = caller_in(caller, &replica.region);
        let mut inserts = Vec::new();
        for v in &primary.versions {
            // A version the replica has keeps its ciphertext, unless it is a rotation's
            // placeholder whose value has come since: that one is filled below.
            let filled = |h: &SecretVersionRecord| {
                h.kind == crate::rotation::KIND_NONE && v.kind != crate::rotation::KIND_NONE
            };
            if let Some(old) = had
                .iter()
                .find(|h| h.version_id == v.version_id && !filled(h))
            {
                record.versions.push(SecretVersionRecord {
                    stages: v.stages.clone(),
                    ..old.clone()
                });
                continue;
            }
            if v.kind == crate::rotation::KIND_NONE {
                // A rotation's placeholder: nothing to encrypt yet.
                let version = SecretVersionRecord {
                    kms_key_arn: String::new(),
                    last_accessed_ms: None,
                    ..v.clone()
                };
                record.versions.push(version.clone());
                inserts.push(NewSecretVersion {
                    record: version,
                    ciphertext: Vec::new(),
                });
                continue;
            }
            let value = match new {
                Some((n, value)) if n.record.version_id == v.version_id => NewValue {
                    kind: value.kind,
                    bytes: trent_crypto::SecretBytes::new(value.bytes.expose_secret().to_vec()),
                },
                _ => {
                    let stored = self.decrypt(caller, primary, v).await?;
                    NewValue {
                        kind: if stored.kind == model::KIND_BINARY {
                            model::KIND_BINARY
                        } else {
                            model::KIND_STRING
                        },
                        bytes: stored.bytes,
                    }
                }
            };
            let (ciphertext, key_arn) = match self
                .encrypt(&in_region, &record, &v.version_id, &value.bytes)
                .await
            {
                Ok(done) => done,
                Err(e) if !e.is_internal() => {
                    return Ok(failed(format!("Replication failed: {e}")));
                }
                Err(e) => return Err(e),
            };
            let version = SecretVersionRecord {
                kms_key_arn: key_arn,
                last_accessed_ms: None,
                ..v.clone()
            };
            record.versions.push(version.clone());
            inserts.push(NewSecretVersion {
                record: version,
                ciphertext,
            });
        }
        Ok(Synced {
            write: Some((record, inserts, apply)),
            status: SecretReplicaRecord {
                status: IN_SYNC.to_string(),
                status_message: Some(SUCCEEDED.to_string()),
                present: true,
                ..replica.clone()
            },
        })
    }

    /// Adds replicas of `primary` in `regions` (CreateSecret's AddReplicaRegions,
    /// ReplicateSecretToRegions): checks the regions, syncs each new replica and writes
    /// everything with the primary (`create`: the primary is new, with `new` as its version).
    pub(crate) async fn add_replicas(
        &self,
        caller: &Caller,
        primary: &SecretRecord,
        create: bool,
        new: Option<(&NewSecretVersion, &NewValue)>,
        regions: &[ReplicaRegion],
        overwrite: bool,
    ) -> Result<Vec<SecretReplicaRecord>, SecretsError> {
        let mut current = if create {
            Vec::new()
        } else {
            self.store()
                .secret_replicas(&primary.scope, &primary.name)
                .await?
        };
        let mut added: Vec<SecretReplicaRecord> = Vec::new();
        for r in regions {
            let region = r.region.clone().unwrap_or_default();
            if region == primary.scope.region {
                return Err(SecretsError::InvalidParameter(format!(
                    "Invalid replica region: {region} is the primary secret's region."
                )));
            }
            if !self.kms.serves_region(&region) {
                return Err(SecretsError::InvalidParameter(format!(
                    "Invalid replica region: {region} is not a region this deployment serves."
                )));
            }
            if added.iter().any(|a| a.region == region) {
                return Err(SecretsError::InvalidParameter(format!(
                    "Invalid replica region: {region} is listed twice."
                )));
            }
            // A replica that failed before it existed may be tried again.
            if let Some(i) = current.iter().position(|c| c.region == region) {
                if current.get(i).is_some_and(|c| c.present) {
                    return Err(SecretsError::InvalidParameter(format!(
                        "The secret is already replicated to {region}."
                    )));
                }
                current.remove(i);
            }
            added.push(SecretReplicaRecord {
                region,
                kms_key_id: r.kms_key_id.clone().filter(|k| !k.is_empty()),
                status: FAILED.to_string(),
                status_message: None,
                present: false,
            });
        }
        let versions: Vec<NewSecretVersion> = new
            .map(|(n, _)| NewSecretVersion {
                record: n.record.clone(),
                ciphertext: n.ciphertext.clone(),
            })
            .into_iter()
            .collect();
        // The primary as it will be stored, with its new version, so replicas copy it.
        let mut full = primary.clone();
        if let Some((n, _)) = new
            && !full
                .versions
                .iter()
                .any(|v| v.version_id == n.record.version_id)
        {
            full.versions.push(n.record.clone());
        }
        let mut synced = Vec::new();
        for c in &current {
            synced.push(Synced {
                write: None,
                status: c.clone(),
            });
        }
        for a in &added {
            synced.push(self.sync_replica(caller, &full, new, a, overwrite).await?);
        }
        synced.sort_by(|a, b| a.status.region.cmp(&b.status.region));
        self.write(primary, create, &versions, &synced).await?;
        Ok(synced.into_iter().map(|s| s.status).collect())
    }

    /// DeleteSecret's rule: a replica is deleted only through its primary
    /// (RemoveRegionsFromReplication), and a primary only once it has no replicas.
    pub(crate) async fn refuse_replicated(
        &self,
        secret: &SecretRecord,
    ) -> Result<(), SecretsError> {
        if let Some(primary) = self
            .store()
            .secret_primary_region(&secret.scope, &secret.name)
            .await?
        {
            return Err(replica_is_read_only(&primary));
        }
        if !self
            .store()
            .secret_replicas(&secret.scope, &secret.name)
            .await?
            .is_empty()
        {
            return Err(SecretsError::InvalidRequest(format!(
                "You can't delete secret {} because it is replicated to other Regions. Remove \
                 the replicas with RemoveRegionsFromReplication first.",
                secret.name
            )));
        }
        Ok(())
    }

    /// `ReplicationStatus` of a primary: its replicas, with the day each was last read.
    pub(crate) async fn replication_status(
        &self,
        primary: &SecretRecord,
        replicas: &[SecretReplicaRecord],
    ) -> Result<Vec<ReplicationStatus>, SecretsError> {
        let mut out = Vec::new();
        for r in replicas {
            let scope = Scope::new(primary.scope.account_id.clone(), r.region.clone());
            let last_accessed = if r.present {
                self.store()
                    .get_secret(&scope, &primary.name)
                    .await?
                    .and_then(|s| s.last_accessed_ms)
            } else {
                None
            };
            out.push(ReplicationStatus {
                region: r.region.clone(),
                kms_key_id: r
                    .kms_key_id
                    .clone()
                    .unwrap_or_else(|| model::DEFAULT_KEY_ALIAS.to_string()),
                status: r.status.clone(),
                status_message: r.status_message.clone(),
                last_accessed_date: last_accessed.map(from_millis),
            });
        }
        Ok(out)
    }

    /// DescribeSecret's replication members for `secret`.
    pub(crate) async fn replication(
        &self,
        secret: &SecretRecord,
    ) -> Result<Replication, SecretsError> {
        if let Some(primary) = self
            .store()
            .secret_primary_region(&secret.scope, &secret.name)
            .await?
        {
            return Ok(Replication {
                primary_region: Some(primary),
                replication_status: Vec::new(),
            });
        }
        let replicas = self
            .store()
            .secret_replicas(&secret.scope, &secret.name)
            .await?;
        if replicas.is_empty() {
            return Ok(Replication::default());
        }
        Ok(Replication {
            primary_region: Some(secret.scope.region.clone()),
            replication_status: self.replication_status(secret, &replicas).await?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for ok in ["us-east-1", "eu-central-2", "us-gov-west-1", "a-1"] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-east-1",
            "us--1",
            "-1",
            "us-east-1a",
            "us_east-1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }
}
