//! PutParameter: creates a parameter or, with Overwrite, a new version of it.

use serde::{Deserialize, Serialize};
use trent_crypto::SecretBytes;
use trent_store::{ParameterRecord, ParameterVersionRecord, StoreError};
use trent_wire::Validator;

use crate::model::{self, Tag};
use crate::{Caller, Ssm, SsmError, UPDATE_RETRIES, events, policy};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    name: Option<String>,
    description: Option<String>,
    #[serde(default, with = "model::secret_string")]
    value: Option<SecretBytes>,
    #[serde(rename = "Type")]
    param_type: Option<String>,
    key_id: Option<String>,
    overwrite: Option<bool>,
    allowed_pattern: Option<String>,
    tags: Option<Vec<Tag>>,
    tier: Option<String>,
    policies: Option<String>,
    data_type: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    version: i64,
    tier: String,
}

const KEY_ID_PATTERN: &str = "^([a-zA-Z0-9:/_-]+)$";

fn validate(req: &Request) -> Result<(), SsmError> {
    let mut v = Validator::new();
    super::name_member(&mut v, "name", &req.name);
    v.required("value", &req.value);
    v.length("description", req.description.as_deref(), 0, 1024);
    v.one_of("type", req.param_type.as_deref(), model::TYPES);
    v.length("keyId", req.key_id.as_deref(), 1, 256);
    v.pattern("keyId", req.key_id.as_deref(), KEY_ID_PATTERN, |k| {
        k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-'))
    });
    v.length("allowedPattern", req.allowed_pattern.as_deref(), 0, 1024);
    v.count("tags", req.tags.as_ref().map(Vec::len), 0, 1000);
    for (i, t) in req.tags.iter().flatten().enumerate() {
        let m = format!("tags.{}.member", i + 1);
        v.required(&format!("{m}.key"), &t.key);
        v.length(&format!("{m}.key"), t.key.as_deref(), 1, 128);
        v.required(&format!("{m}.value"), &t.value);
        v.length(&format!("{m}.value"), t.value.as_deref(), 0, 256);
    }
    v.one_of("tier", req.tier.as_deref(), model::TIERS);
    v.length("policies", req.policies.as_deref(), 1, 4096);
    v.length("dataType", req.data_type.as_deref(), 0, 128);
    v.finish()?;
    Ok(())
}

/// What besides the value can make a write need the Advanced tier.
#[derive(Debug, Clone, Copy, Default)]
struct Needs {
    /// The write carries parameter policies.
    policies: bool,
    /// The account and region hold as many Standard parameters as allowed (Intelligent-Tiering
    /// then creates Advanced ones).
    standard_full: bool,
}

const POLICIES_NEED_ADVANCED: &str = "Parameter policies are supported only for parameters in \
    the advanced-parameter tier. Set the tier to Advanced or Intelligent-Tiering and try again.";

/// The tier a write lands in: an Advanced parameter never goes back to Standard, and the value
/// must fit the tier.
fn choose_tier(
    requested: Option<&str>,
    existing: Option<&str>,
    len: usize,
    needs: Needs,
) -> Result<String, SsmError> {
    let was_advanced = existing == Some(model::ADVANCED);
    let tier = match requested {
        Some(model::STANDARD) if was_advanced => {
            return Err(SsmError::validation(
                "This parameter uses the advanced-parameter tier. You can't downgrade a parameter \
                 from the advanced-parameter tier to the standard-parameter tier. If necessary, \
                 you can delete the advanced parameter and recreate it as a standard parameter.",
            ));
        }
        Some(model::STANDARD) => model::STANDARD,
        Some(model::ADVANCED) => model::ADVANCED,
        Some(_) | None if was_advanced => model::ADVANCED,
        // Intelligent-Tiering picks Advanced only when the write needs it.
        Some(_) if len > model::STANDARD_VALUE_MAX || needs.policies || needs.standard_full => {
            model::ADVANCED
        }
        _ => model::STANDARD,
    };
    if tier == model::STANDARD && needs.policies {
        return Err(SsmError::validation(POLICIES_NEED_ADVANCED));
    }
    if tier == model::STANDARD && len > model::STANDARD_VALUE_MAX {
        return Err(SsmError::validation(format!(
            "Standard tier parameters support a maximum parameter value of {} characters. To \
             create a larger parameter value, upgrade the parameter to use the advanced-parameter \
             tier.",
            model::STANDARD_VALUE_MAX
        )));
    }
    if len > model::ADVANCED_VALUE_MAX {
        return Err(SsmError::validation(format!(
            "Advanced tier parameters support a maximum parameter value of {} characters.",
            model::ADVANCED_VALUE_MAX
        )));
    }
    Ok(tier.to_string())
}

pub async fn handle(ssm: &Ssm, caller: &Caller, req: Request) -> Result<Response, SsmError> {
    validate(&req)?;
    let scope = &caller.scope;
    let name = req.name.as_deref().unwrap_or_default().trim().to_string();
    model::check_name(scope, &name)?;
    let overwrite = req.overwrite == Some(true);
    let tags: Vec<(String, String)> = req
        .tags
        .iter()
        .flatten()
        .map(|t| {
            (
                t.key.clone().unwrap_or_default(),
                t.value.clone().unwrap_or_default(),
            )
        })
        .collect();
    let mut access = crate::authz::Access::parameter("PutParameter", scope, &name)
        .with("ssm:Overwrite", overwrite);
    if !tags.is_empty() {
        access = access.request_tags(&tags);
    }
    ssm.authorize(caller, access).await?;
    let value = req
        .value
        .as_ref()
        .ok_or(SsmError::Internal("validated value missing"))?;
    let text = std::str::from_utf8(value.expose_secret())
        .map_err(|_| SsmError::Internal("JSON string not UTF-8"))?;
    if text.is_empty() {
        let mut v = Validator::new();
        v.secret_length("value", Some(0), 1, usize::MAX);
        v.finish()?;
    }
    if overwrite && !tags.is_empty() {
        return Err(SsmError::validation(
            "Invalid request: tags and overwrite can't be used together. To create a parameter \
             with tags, please remove overwrite flag. To update tags for an existing parameter, \
             please use AddTagsToResource or RemoveTagsFromResource.",
        ));
    }
    // None: keep the parameter's policies; Some(None): clear them; Some(Some(..)): replace.
    let policies = req
        .policies
        .as_deref()
        .map(|p| policy::parse(p, ssm.now_ms()))
        .transpose()?;
    let needs_policies = matches!(policies, Some(Some(_)));
    let data_type = req.data_type.clone().unwrap_or_else(|| "text".to_string());
    check_data_type(&data_type)?;
    let requested_pattern = match req.allowed_pattern.as_deref() {
        Some(p) => Some(compile_pattern(p)?),
        None => None,
    };
    let len = text.chars().count();

    for _ in 0..UPDATE_RETRIES {
        let existing = ssm.store().get_parameter(scope, &name).await?;
        if existing.is_some() && !overwrite {
            return Err(SsmError::ParameterAlreadyExists);
        }
        let latest = match &existing {
            Some(_) => {
                ssm.store()
                    .get_parameter_version(scope, &name, None)
                    .await?
            }
            None => None,
        };
        let param_type = match (req.param_type.as_deref(), &latest) {
            (Some(t), Some(l)) if t != l.param_type => {
                return Err(SsmError::HierarchyTypeMismatch(format!(
                    "The parameter type can't be changed from {} to {t}.",
                    l.param_type
                )));
            }
            (Some(t), _) => t.to_string(),
            (None, Some(l)) => l.param_type.clone(),
            (None, None) => {
                return Err(SsmError::validation(
                    "A parameter type is required when you create a parameter.",
                ));
            }
        };
        if data_type == model::DATA_TYPE_EC2_IMAGE {
            check_image_id(&param_type, text)?;
        }
        if req.key_id.is_some() && param_type != model::SECURE_STRING {
            return Err(SsmError::validation(
                "KeyId is required for SecureString type parameter only.",
            ));
        }
        let description = req
            .description
            .clone()
            .or_else(|| latest.as_ref().and_then(|l| l.description.clone()));
        let (allowed_pattern, regex) = match (&req.allowed_pattern, &requested_pattern) {
            (Some(p), Some(r)) => (Some(p.clone()), Some(r.clone())),
            _ => match latest.as_ref().and_then(|l| l.allowed_pattern.clone()) {
                Some(p) => {
                    let r = compile_pattern(&p)?;
                    (Some(p), Some(r))
                }
                None => (None, None),
            },
        };
        if let (Some(p), Some(r)) = (&allowed_pattern, &regex)
            && !r.is_match(text)
        {
            return Err(SsmError::ParameterPatternMismatch(format!(
                "Parameter value, cannot be validated against allowedPattern: {p}"
            )));
        }
        let standard_full = existing.is_none()
            && req.tier.as_deref() == Some(model::INTELLIGENT_TIERING)
            && ssm
                .store()
                .count_parameters(scope, Some(model::STANDARD))
                .await?
                >= ssm.config().standard_limit;
        let tier = choose_tier(
            req.tier.as_deref(),
            existing.as_ref().map(|p| p.tier.as_str()),
            len,
            Needs {
                policies: needs_policies,
                standard_full,
            },
        )?;
        if existing.as_ref().is_some_and(|p| p.tier != tier)
            && ssm.store().count_parameters(scope, Some(&tier)).await?
                >= ssm.config().tier_limit(&tier)
        {
            return Err(SsmError::ParameterLimitExceeded);
        }
        let (stored, key_id) = if param_type == model::SECURE_STRING {
            let (blob, key) = ssm
                .encrypt_value(caller, &name, req.key_id.as_deref(), value)
                .await?;
            (blob, Some(key))
        } else {
            (value.expose_secret().to_vec(), None)
        };
        let now = ssm.now_ms();
        let stored_policies = match &policies {
            Some(Some(p)) => policy::store(p, now),
            Some(None) => Vec::new(),
            None => match &existing {
                Some(p) => policy::carry_over(&policy::decode(&p.policies)?, now),
                None => Vec::new(),
            },
        };
        let policies_text = policy::encode(&stored_policies)?;
        let policy_due_ms = policy::next_due(&stored_policies);
        let (mut head, create, drop_version) = match existing {
            Some(mut p) => {
                let drop = if p.version_count >= model::MAX_VERSIONS {
                    let oldest = ssm
                        .store()
                        .get_parameter_version(scope, &name, Some(p.oldest_version))
                        .await?;
                    if oldest.as_ref().is_some_and(|o| !o.labels.is_empty()) {
                        return Err(SsmError::ParameterMaxVersionLimitExceeded(format!(
                            "You attempted to create a new version of {name} by calling the \
                             PutParameter API with the overwrite flag. Version {}, the oldest \
                             version, can't be deleted because it has a label associated with \
                             it. Move the label to another version of the parameter, and try \
                             again.",
                            p.oldest_version
                        )));
                    }
                    Some(p.oldest_version)
                } else {
                    None
                };
                p.tier = tier.clone();
                (p, false, drop)
            }
            None => (
                ParameterRecord {
                    scope: scope.clone(),
                    name: name.clone(),
                    tier: tier.clone(),
                    tags: tags.clone(),
                    latest_version: 0,
                    revision: 0,
                    version_count: 0,
                    oldest_version: 0,
                    policies: String::new(),
                    policy_due_ms: None,
                },
                true,
                None,
            ),
        };
        head.policies = policies_text.clone();
        head.policy_due_ms = policy_due_ms;
        let version = ParameterVersionRecord {
            version: head.latest_version + 1,
            param_type,
            value: stored,
            description,
            allowed_pattern,
            data_type: data_type.clone(),
            tier: tier.clone(),
            key_id,
            labels: Vec::new(),
            modified_ms: now,
            modified_user: caller.requester.arn().to_string(),
            policies: policies_text,
        };
        let event = ssm.event(|| {
            events::change(
                scope,
                &name,
                if create {
                    events::CREATE
                } else {
                    events::UPDATE
                },
                &version.param_type,
                version.description.as_deref(),
                now,
            )
        })?;
        let tier_limit = create.then(|| ssm.config().tier_limit(&tier));
        let written = ssm
            .store()
            .put_parameter_version(
                &head,
                &version,
                create,
                drop_version,
                tier_limit,
                event.as_ref(),
            )
            .await;
        ssm.written(scope, &name);
        match written {
            Ok(_) => {
                ssm.events_committed(event.is_some());
                return Ok(Response {
                    version: version.version,
                    tier,
                });
            }
            Err(StoreError::Conflict) => continue,
            Err(StoreError::AlreadyExists) if !overwrite => {
                return Err(SsmError::ParameterAlreadyExists);
            }
            Err(StoreError::AlreadyExists) => continue,
            Err(StoreError::LimitExceeded) => return Err(SsmError::ParameterLimitExceeded),
            Err(e) => return Err(e.into()),
        }
    }
    Err(SsmError::TooManyUpdates)
}

/// DataType: `text` and `aws:ec2:image` are served. The other data types of AWS are refused
/// (this server cannot validate them), and anything else is refused as AWS refuses it.
fn check_data_type(data_type: &str) -> Result<(), SsmError> {
    if data_type == model::DATA_TYPE_TEXT || data_type == model::DATA_TYPE_EC2_IMAGE {
        return Ok(());
    }
    if model::AWS_DATA_TYPES.contains(&data_type) {
        return Err(SsmError::validation(format!(
            "The data type {data_type} is not supported by this server. Supported data types: \
             text, aws:ec2:image."
        )));
    }
    Err(SsmError::validation(format!(
        "The following data type is not supported: {data_type} (Data type names are all \
         lowercase.)"
    )))
}

/// `aws:ec2:image` holds an AMI id (`ami-` and 8 or 17 lowercase hexadecimal digits) in a String
/// parameter. AWS also checks, asynchronously, that the image exists; this server has no EC2 and
/// checks the format only, synchronously.
fn check_image_id(param_type: &str, value: &str) -> Result<(), SsmError> {
    if param_type != model::STRING {
        return Err(SsmError::validation(
            "The data type aws:ec2:image is supported only for parameters of type String.",
        ));
    }
    let ok = value.strip_prefix("ami-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(SsmError::validation(
            "Parameter value, cannot be validated against the data type aws:ec2:image: an \
             image id is ami- followed by 8 or 17 lowercase hexadecimal characters, for example \
             ami-12345abcdeEXAMPLE without the EXAMPLE suffix.",
        ))
    }
}

/// AllowedPattern is matched against the whole value.
fn compile_pattern(p: &str) -> Result<regex_lite::Regex, SsmError> {
    regex_lite::Regex::new(&format!("^(?:{p})$")).map_err(|_| {
        SsmError::InvalidAllowedPattern(format!(
            "The allowed pattern {p} is not a valid regular expression."
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers() {
        assert_eq!(
            choose_tier(None, None, 10, Needs::default())
                .ok()
                .as_deref(),
            Some("Standard")
        );
        assert!(choose_tier(None, None, 4097, Needs::default()).is_err());
        assert_eq!(
            choose_tier(Some("Intelligent-Tiering"), None, 4097, Needs::default())
                .ok()
                .as_deref(),
            Some("Advanced")
        );
        assert_eq!(
            choose_tier(Some("Intelligent-Tiering"), None, 10, Needs::default())
                .ok()
                .as_deref(),
            Some("Standard")
        );
        assert!(choose_tier(Some("Standard"), Some("Advanced"), 10, Needs::default()).is_err());
        assert_eq!(
            choose_tier(None, Some("Advanced"), 10, Needs::default())
                .ok()
                .as_deref(),
            Some("Advanced")
        );
        assert!(choose_tier(Some("Advanced"), None, 8193, Needs::default()).is_err());
        assert!(choose_tier(Some("Advanced"), None, 8192, Needs::default()).is_ok());
        let policies = Needs {
            policies: true,
            standard_full: false,
        };
        assert!(choose_tier(None, None, 10, policies).is_err());
        assert!(choose_tier(Some("Standard"), None, 10, policies).is_err());
        assert_eq!(
            choose_tier(Some("Intelligent-Tiering"), None, 10, policies)
                .ok()
                .as_deref(),
            Some("Advanced")
        );
        assert_eq!(
            choose_tier(None, Some("Advanced"), 10, policies)
                .ok()
                .as_deref(),
            Some("Advanced")
        );
        let full = Needs {
            policies: false,
            standard_full: true,
        };
        assert_eq!(
            choose_tier(Some("Intelligent-Tiering"), None, 10, full)
                .ok()
                .as_deref(),
            Some("Advanced")
        );
    }

    #[test]
    fn data_types() {
        assert!(check_data_type("text").is_ok());
        assert!(check_data_type("aws:ec2:image").is_ok());
        assert!(check_data_type("aws:region").is_err());
        assert!(check_data_type("Text").is_err());
        assert!(check_image_id("String", "ami-0123abcd").is_ok());
        assert!(check_image_id("String", "ami-0123456789abcdef0").is_ok());
        for bad in [
            "ami-0123abc",
            "ami-0123ABCD",
            "ami0123abcd",
            "img-0123abcd",
            "",
        ] {
            assert!(check_image_id("String", bad).is_err(), "{bad}");
        }
        assert!(check_image_id("SecureString", "ami-0123abcd").is_err());
    }

    #[test]
    fn patterns_match_the_whole_value() {
        let r = compile_pattern("\\d+").ok();
        assert!(r.as_ref().is_some_and(|r| r.is_match("123")));
        assert!(!r.as_ref().is_some_and(|r| r.is_match("12a")));
        assert!(compile_pattern("(").is_err());
    }
}
