//! UpdateSecretVersionStage: moves or removes a staging label. Moving AWSCURRENT gives
//! AWSPREVIOUS to the version it left.

use serde::{Deserialize, Serialize};
use trent_store::SecretVersionRecord;
use trent_wire::Validator;

use crate::model;
use crate::{Caller, Secrets, SecretsError, retrying};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    secret_id: Option<String>,
    version_stage: Option<String>,
    remove_from_version_id: Option<String>,
    move_to_version_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    #[serde(rename = "ARN")]
    arn: String,
    name: String,
}

/// Applies the move to `versions`, with AWS's rules:
/// - a label attached to another version moves only if RemoveFromVersionId names that version;
/// - RemoveFromVersionId must hold the label;
/// - AWSCURRENT can be moved but never just removed;
/// - at most [`model::MAX_STAGES`] labels per secret.
pub fn apply(
    versions: &mut [SecretVersionRecord],
    stage: &str,
    remove_from: Option<&str>,
    move_to: Option<&str>,
) -> Result<(), SecretsError> {
    let holder = versions
        .iter()
        .find(|v| v.stages.iter().any(|s| s == stage))
        .map(|v| v.version_id.clone());
    for id in [remove_from, move_to].into_iter().flatten() {
        if !versions.iter().any(|v| v.version_id == id) {
            return Err(SecretsError::ResourceNotFound(format!(
                "Secrets Manager can't find the specified secret value for VersionId: {id}"
            )));
        }
    }
    if let Some(from) = remove_from
        && holder.as_deref() != Some(from)
    {
        return Err(SecretsError::InvalidParameter(format!(
            "The staging label {stage} is not attached to version {from}; RemoveFromVersionId \
             must name the version that holds it."
        )));
    }
    match move_to {
        Some(to) => {
            if let Some(h) = holder.as_deref()
                && h != to
                && remove_from.is_none()
            {
                return Err(SecretsError::InvalidParameter(format!(
                    "The staging label {stage} is currently attached to version {h}. You must \
                     specify RemoveFromVersionId to move it."
                )));
            }
            model::attach(versions, stage, to);
            if model::stage_count(versions) > model::MAX_STAGES {
                return Err(SecretsError::LimitExceeded(format!(
                    "A secret can have at most {} staging labels.",
                    model::MAX_STAGES
                )));
            }
        }
        None => {
            let Some(from) = remove_from else {
                return Err(SecretsError::InvalidParameter(
                    "You must specify MoveToVersionId, RemoveFromVersionId, or both.".to_string(),
                ));
            };
            if stage == model::AWSCURRENT {
                return Err(SecretsError::InvalidParameter(
                    "You can't remove the staging label AWSCURRENT from a version without \
                     moving it to another version (MoveToVersionId)."
                        .to_string(),
                ));
            }
            model::detach(versions, stage, from);
        }
    }
    Ok(())
}

pub async fn handle(
    secrets: &Secrets,
    caller: &Caller,
    req: Request,
) -> Result<Response, SecretsError> {
    let mut v = Validator::new();
    model::check_secret_id(&mut v, &req.secret_id);
    v.required("versionStage", &req.version_stage);
    v.length("versionStage", req.version_stage.as_deref(), 1, 256);
    model::check_token(
        &mut v,
        "removeFromVersionId",
        req.remove_from_version_id.as_deref(),
    );
    model::check_token(&mut v, "moveToVersionId", req.move_to_version_id.as_deref());
    v.finish()?;
    let secret_id = req.secret_id.as_deref().unwrap_or_default();
    let stage = req.version_stage.as_deref().unwrap_or_default();
    retrying(|| async {
        let mut secret = secrets
            .live(caller, secret_id, "UpdateSecretVersionStage")
            .await?;
        apply(
            &mut secret.versions,
            stage,
            req.remove_from_version_id.as_deref(),
            req.move_to_version_id.as_deref(),
        )?;
        secret.last_changed_ms = secrets.now_ms();
        secrets.save(caller, &secret, None).await?;
        Ok(Response {
            arn: secret.arn,
            name: secret.name,
        })
    })
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// One step of the state machine: a new version (PutSecretValue with optional labels) or a
    /// label move (UpdateSecretVersionStage).
    #[derive(Debug, Clone)]
    enum Step {
        Put(Option<Vec<usize>>),
        Move {
            stage: usize,
            from: Option<usize>,
            to: Option<usize>,
        },
    }

    const STAGES: &[&str] = &[model::AWSCURRENT, model::AWSPREVIOUS, "AWSPENDING", "BLUE"];

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            proptest::option::of(proptest::collection::vec(0..STAGES.len(), 1..3))
                .prop_map(Step::Put),
            (
                0..STAGES.len(),
                proptest::option::of(0..8usize),
                proptest::option::of(0..8usize)
            )
                .prop_map(|(stage, from, to)| Step::Move { stage, from, to }),
        ]
    }

    fn id(i: usize) -> String {
        format!("{i:0>32}")
    }

    fn holders(versions: &[SecretVersionRecord], stage: &str) -> Vec<String> {
        versions
            .iter()
            .filter(|v| v.stages.iter().any(|s| s == stage))
            .map(|v| v.version_id.clone())
            .collect()
    }

    proptest! {
        #[test]
        fn labels_stay_unique_and_awscurrent_stays_put(steps in proptest::collection::vec(step(), 1..40)) {
            let mut versions: Vec<SecretVersionRecord> = Vec::new();
            for s in steps {
                let before = versions.clone();
                match s {
                    Step::Put(stages) => {
                        let vid = id(versions.len());
                        let mut wanted: Vec<String> = match stages {
                            Some(s) => s.iter().map(|i| STAGES[*i].to_string()).collect(),
                            None => vec![model::AWSCURRENT.to_string()],
                        };
                        if holders(&versions, model::AWSCURRENT).is_empty() {
                            wanted.push(model::AWSCURRENT.to_string());
                        }
                        versions.push(SecretVersionRecord {
                            version_id: vid.clone(),
                            stages: Vec::new(),
                            created_ms: 0,
                            last_accessed_ms: None,
                            kind: model::KIND_STRING.to_string(),
                            kms_key_arn: String::new(),
                        });
                        wanted.sort_by_key(|s| s != model::AWSCURRENT);
                        for w in &wanted {
                            model::attach(&mut versions, w, &vid);
                        }
                        prop_assert!(holders(&versions, model::AWSCURRENT).len() == 1);
                        if wanted.iter().any(|w| w == model::AWSCURRENT) {
                            prop_assert_eq!(holders(&versions, model::AWSCURRENT), vec![vid]);
                            // The version AWSCURRENT left holds AWSPREVIOUS.
                            let old = holders(&before, model::AWSCURRENT);
                            if let Some(old) = old.first().filter(|_| !wanted.iter().any(|w| w == model::AWSPREVIOUS)) {
                                prop_assert_eq!(holders(&versions, model::AWSPREVIOUS), vec![old.clone()]);
                            }
                        }
                    }
                    Step::Move { stage, from, to } => {
                        let stage = STAGES[stage];
                        let (from, to) = (from.map(id), to.map(id));
                        let result = apply(&mut versions, stage, from.as_deref(), to.as_deref());
                        if result.is_err() {
                            // A refused move changes nothing (the caller does not save).
                            versions = before.clone();
                        } else if let Some(to) = &to {
                            prop_assert_eq!(holders(&versions, stage), vec![to.clone()]);
                            let old = holders(&before, stage);
                            if stage == model::AWSCURRENT && old.first() != Some(to) {
                                prop_assert_eq!(holders(&versions, model::AWSPREVIOUS), old);
                            }
                        } else {
                            prop_assert!(holders(&versions, stage).is_empty());
                            prop_assert!(stage != model::AWSCURRENT);
                        }
                    }
                }
                for stage in STAGES {
                    prop_assert!(holders(&versions, stage).len() <= 1, "{stage} on two versions");
                }
                if !versions.is_empty() {
                    prop_assert_eq!(holders(&versions, model::AWSCURRENT).len(), 1);
                }
                for v in &versions {
                    let mut s = v.stages.clone();
                    s.sort();
                    s.dedup();
                    prop_assert_eq!(s.len(), v.stages.len(), "a label twice on one version");
                }
            }
        }
    }
}
