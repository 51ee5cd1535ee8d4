//! The validation rules of IAM and STS inputs, from the botocore models: names, paths, tags,
//! durations, policy document sizes.

use trent_wire::Validator;

use crate::IamError;
use crate::error::validation;

/// `[\w+=,.@-]+`: user, role, policy and session names.
pub const NAME_PATTERN: &str = "[\\w+=,.@-]+";
pub const PATH_PATTERN: &str = "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)";
pub const PATH_PREFIX_PATTERN: &str = "\\u002F[\\u0021-\\u007F]*";
pub const EXTERNAL_ID_PATTERN: &str = "[\\w+=,.@:\\/-]*";
pub const TAG_KEY_PATTERN: &str = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+";
pub const TAG_VALUE_PATTERN: &str = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*";

pub fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

pub fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_name_char)
}

/// `/` or `/…/` with printable ASCII between.
pub fn is_path(s: &str) -> bool {
    s == "/"
        || (s.len() >= 3
            && s.starts_with('/')
            && s.ends_with('/')
            && s.bytes().all(|b| (0x21..=0x7e).contains(&b)))
}

pub fn is_path_prefix(s: &str) -> bool {
    s.starts_with('/') && s.bytes().all(|b| (0x21..=0x7f).contains(&b))
}

pub fn is_external_id(s: &str) -> bool {
    s.chars().all(|c| is_name_char(c) || matches!(c, ':' | '/'))
}

pub fn is_tag_key(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| {
            c.is_alphanumeric()
                || c.is_whitespace()
                || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
        })
}

/// A user, role or policy name (`member`) of at most `max` characters.
pub fn check_name(v: &mut Validator, member: &str, value: Option<&str>, max: usize) {
    v.required(member, &value);
    v.length(member, value, 1, max);
    v.pattern(member, value, NAME_PATTERN, is_name);
}

pub fn check_path(v: &mut Validator, member: &str, value: Option<&str>) {
    v.length(member, value, 1, 512);
    v.pattern(member, value, PATH_PATTERN, is_path);
}

pub fn check_path_prefix(v: &mut Validator, member: &str, value: Option<&str>) {
    v.length(member, value, 1, 512);
    v.pattern(member, value, PATH_PREFIX_PATTERN, is_path_prefix);
}

/// Tags as the Query protocol sends them (`Tags.member.N.Key/Value`): at most 50, keys of
/// 1..=128 characters, values of 0..=256, no key twice (case-insensitively).
pub fn tags(rows: Vec<Vec<Option<&str>>>) -> Result<Vec<(String, String)>, IamError> {
    let mut v = Validator::new();
    v.count("tags", Some(rows.len()), 0, 50);
    let mut out: Vec<(String, String)> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let key = row.first().copied().flatten();
        let value = row.get(1).copied().flatten();
        let member = format!("tags.{}.member.key", i + 1);
        v.required(&member, &key);
        v.length(&member, key, 1, 128);
        v.pattern(&member, key, TAG_KEY_PATTERN, is_tag_key);
        let vmember = format!("tags.{}.member.value", i + 1);
        v.required(&vmember, &value);
        v.length(&vmember, value, 0, 256);
        v.pattern(&vmember, value, TAG_VALUE_PATTERN, |s| {
            s.is_empty() || is_tag_key(s)
        });
        if let (Some(k), Some(val)) = (key, value) {
            out.push((k.to_owned(), val.to_owned()));
        }
    }
    validation(v.finish())?;
    for (i, (k, _)) in out.iter().enumerate() {
        if out
            .iter()
            .skip(i + 1)
            .any(|(other, _)| other.eq_ignore_ascii_case(k))
        {
            return Err(IamError::InvalidInput(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive."
                    .to_owned(),
            ));
        }
    }
    Ok(out)
}

/// Merges `new` tags into `existing`: a key present in both (case-insensitively) takes the new
/// value. At most 50 tags in the end.
pub fn merge_tags(
    existing: &[(String, String)],
    new: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, IamError> {
    let mut out: Vec<(String, String)> = existing
        .iter()
        .filter(|(k, _)| !new.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)))
        .cloned()
        .collect();
    out.extend(new);
    if out.len() > 50 {
        return Err(IamError::LimitExceeded(
            "Cannot exceed quota for TagsPerUser: 50".to_owned(),
        ));
    }
    Ok(out)
}

/// Characters of a policy document as AWS counts them against the size quotas: whitespace
/// does not count.
pub fn policy_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

/// The quota a policy document counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyQuota {
    UserInline,
    RoleInline,
    Managed,
    Trust,
}

impl PolicyQuota {
    pub fn limit(self) -> usize {
        match self {
            PolicyQuota::UserInline => 2048,
            PolicyQuota::RoleInline => 10240,
            PolicyQuota::Managed => 6144,
            PolicyQuota::Trust => 2048,
        }
    }

    fn quota_name(self) -> &'static str {
        match self {
            PolicyQuota::UserInline => "PolicySize",
            PolicyQuota::RoleInline => "PolicySize",
            PolicyQuota::Managed => "PolicySize",
            PolicyQuota::Trust => "ACLSizePerRole",
        }
    }
}

/// Checks a submitted policy document: present, within the model's 1..=131072 characters and
/// the quota's size, and a valid policy of its kind. Returns the parsed policy.
pub fn policy_document(
    member: &str,
    document: Option<&str>,
    quota: PolicyQuota,
) -> Result<trent_policy::Policy, IamError> {
    let mut v = Validator::new();
    v.required(member, &document);
    v.length(member, document, 1, 131_072);
    validation(v.finish())?;
    let document = document.unwrap_or_default();
    if policy_size(document) > quota.limit() {
        return Err(IamError::LimitExceeded(format!(
            "Cannot exceed quota for {}: {}",
            quota.quota_name(),
            quota.limit()
        )));
    }
    let options = match quota {
        PolicyQuota::Trust => trent_policy::ParseOptions::TRUST,
        _ => trent_policy::ParseOptions::IDENTITY,
    };
    trent_policy::Policy::parse(document, options)
        .map_err(|e| IamError::MalformedPolicyDocument(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["alice", "a.b@c", "x+y=z,w-1_2", "Ünïcode"] {
            assert!(is_name(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "a:b", "a*"] {
            assert!(!is_name(bad), "{bad}");
        }
        let mut v = Validator::new();
        check_name(&mut v, "userName", Some(&"a".repeat(65)), 64);
        let msg = validation(v.finish()).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "1 validation error detected: Value '{}' at 'userName' failed to satisfy \
                 constraint: Member must have length less than or equal to 64",
                "a".repeat(65)
            )
        );
        let mut v = Validator::new();
        check_name(&mut v, "userName", None, 64);
        assert!(
            validation(v.finish())
                .unwrap_err()
                .to_string()
                .contains("must not be null")
        );
    }

    #[test]
    fn paths() {
        for ok in ["/", "/a/", "/a/b/", "/engineering/team-1/"] {
            assert!(is_path(ok), "{ok}");
        }
        for bad in ["", "a", "/a", "a/", "/a b/", "//"] {
            assert!(!is_path(bad), "{bad}");
        }
        assert!(is_path_prefix("/"));
        assert!(is_path_prefix("/eng"));
        assert!(!is_path_prefix("eng/"));
    }

    #[test]
    fn tag_rules() {
        let ok = tags(vec![vec![Some("team"), Some("blue")]]).unwrap();
        assert_eq!(ok, vec![("team".to_owned(), "blue".to_owned())]);
        let dup = tags(vec![
            vec![Some("Team"), Some("a")],
            vec![Some("team"), Some("b")],
        ]);
        assert!(matches!(dup, Err(IamError::InvalidInput(_))));
        let too_many = (0..51).map(|_| vec![Some("k"), Some("v")]).collect();
        assert!(matches!(tags(too_many), Err(IamError::Validation(_))));
        assert!(matches!(
            tags(vec![vec![Some("bad*key"), Some("v")]]),
            Err(IamError::Validation(_))
        ));
        assert!(matches!(
            tags(vec![vec![Some("k"), None]]),
            Err(IamError::Validation(_))
        ));
        let merged = merge_tags(
            &[("A".into(), "1".into()), ("b".into(), "2".into())],
            vec![("a".into(), "3".into())],
        )
        .unwrap();
        assert_eq!(
            merged,
            vec![
                ("b".to_owned(), "2".to_owned()),
                ("a".to_owned(), "3".to_owned())
            ]
        );
    }

    #[test]
    fn policy_sizes_ignore_whitespace() {
        let statement = r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#;
        let body = |n: usize| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
                vec![statement; n].join(",")
            )
        };
        // Whitespace is free: a document padded with spaces is as small as the bare one.
        let padded = body(1).replace(',', " ,\n  ");
        assert_eq!(policy_size(&padded), policy_size(&body(1)));
        assert!(policy_document("policyDocument", Some(&padded), PolicyQuota::UserInline).is_ok());
        // Well past 2048 counted characters: over the user quota, within the role quota.
        let big = body(40);
        assert!(policy_size(&big) > 2048 && policy_size(&big) < 10240);
        let err =
            policy_document("policyDocument", Some(&big), PolicyQuota::UserInline).unwrap_err();
        assert_eq!(err.to_string(), "Cannot exceed quota for PolicySize: 2048");
        assert!(matches!(err, IamError::LimitExceeded(_)));
        assert!(policy_document("policyDocument", Some(&big), PolicyQuota::RoleInline).is_ok());
    }

    #[test]
    fn malformed_documents_carry_the_parser_message() {
        let err = policy_document("policyDocument", Some("{"), PolicyQuota::Managed).unwrap_err();
        assert!(matches!(err, IamError::MalformedPolicyDocument(_)));
        // A principal is not allowed in an identity policy, and required in a trust policy.
        let with_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
        assert!(matches!(
            policy_document(
                "policyDocument",
                Some(with_principal),
                PolicyQuota::UserInline
            ),
            Err(IamError::MalformedPolicyDocument(_))
        ));
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}"#;
        assert!(
            policy_document("assumeRolePolicyDocument", Some(trust), PolicyQuota::Trust).is_ok()
        );
        assert!(matches!(
            policy_document("policyDocument", None, PolicyQuota::Managed),
            Err(IamError::Validation(_))
        ));
    }
}
