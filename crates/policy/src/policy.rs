//! The policy document: parsing, validation, and the validated model.

use std::collections::HashSet;

use crate::condition::{Clause, Operator, PolicyValue};
use crate::context::is_account_id;
use crate::error::{Location, PolicyError, Problem};
use crate::pattern::{Syntax, Template, Tok};
use crate::raw::Raw;

/// The policy language version (`Version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `2012-10-17`: the current language, with policy variables.
    V2012_10_17,
    /// `2008-10-17`, or no `Version` at all: `${…}` is literal text.
    V2008_10_17,
}

/// `Effect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

/// Whether a statement element must, may or must not appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    Forbidden,
}

/// What kind of policy is being parsed, which decides the elements a statement may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// `Principal`/`NotPrincipal`: required in resource policies, forbidden in identity ones.
    pub principal: Presence,
    /// `Resource`/`NotResource`: required in identity policies; optional in key policies
    /// (absent means "this key", as `"*"` does) and role trust policies.
    pub resource: Presence,
    /// Named in error messages: "is not allowed in identity policies".
    pub kind: &'static str,
}

impl ParseOptions {
    /// IAM identity policies (user, role, managed policies): no principal, resource required.
    pub const IDENTITY: ParseOptions = ParseOptions {
        principal: Presence::Forbidden,
        resource: Presence::Required,
        kind: "identity",
    };
    /// Resource policies (Secrets Manager secret policies and the like).
    pub const RESOURCE: ParseOptions = ParseOptions {
        principal: Presence::Required,
        resource: Presence::Required,
        kind: "resource",
    };
    /// KMS key policies: principal required, resource optional (it can only mean this key).
    pub const KEY_POLICY: ParseOptions = ParseOptions {
        principal: Presence::Required,
        resource: Presence::Optional,
        kind: "key",
    };
    /// IAM role trust policies.
    pub const TRUST: ParseOptions = ParseOptions {
        principal: Presence::Required,
        resource: Presence::Optional,
        kind: "trust",
    };
}

/// A validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) version: Version,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

/// A validated statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    /// `None` when the policy kind has no principals (identity policies).
    pub(crate) principal: Option<Negatable<Principals>>,
    pub(crate) action: Negatable<Vec<Vec<Tok>>>,
    /// `None` when absent (key and trust policies): every resource.
    pub(crate) resource: Option<Negatable<Vec<ResourcePattern>>>,
    pub(crate) condition: Vec<Clause>,
}

/// An element or its `Not…` form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Negatable<T> {
    Is(T),
    Not(T),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ResourcePattern {
    Any,
    Arn(Template),
}

/// The principals a `Principal` or `NotPrincipal` element names.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Principals {
    /// `"*"` or `{"AWS": "*"}`: everyone, including anonymous callers.
    pub any: bool,
    /// `"111122223333"` or `arn:aws:iam::111122223333:root`.
    pub accounts: Vec<String>,
    /// User, role, assumed-role and federated-user ARNs, and unique ids.
    pub arns: Vec<String>,
    pub services: Vec<String>,
    /// `Federated` and `CanonicalUser` entries: kept so documents validate, matched by no
    /// caller Trent can authenticate today.
    pub others: Vec<String>,
}

impl Policy {
    /// Parses and validates a policy document.
    pub fn parse(json: &str, options: ParseOptions) -> Result<Policy, PolicyError> {
        let raw: Raw = serde_json::from_str(json).map_err(PolicyError::Json)?;
        parse_policy(raw, options)
    }

    /// Whether any statement has a condition on `key` (any case). Services use it to skip
    /// computing costly keys (`kms:ResourceAliases`) no policy asks about.
    pub fn uses_condition_key(&self, key: &str) -> bool {
        self.statements
            .iter()
            .flat_map(|s| &s.condition)
            .any(|clause| clause.key.eq_ignore_ascii_case(key))
    }

    /// Whether any condition asks about a key that starts with `prefix` (ignoring case), such
    /// as `aws:ResourceTag/`: a service reads what such keys need only when one is in play.
    pub fn uses_condition_key_prefix(&self, prefix: &str) -> bool {
        self.statements
            .iter()
            .flat_map(|s| &s.condition)
            .any(|clause| {
                clause
                    .key
                    .get(..prefix.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
            })
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// `Id`, when the document has one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

impl Statement {
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    pub fn effect(&self) -> Effect {
        self.effect
    }
}

/// An object's members, refusing duplicates (`at` locates the object itself).
fn members(raw: Raw, at: impl Fn() -> Location) -> Result<Vec<(String, Raw)>, PolicyError> {
    match raw {
        Raw::Object(members) => {
            check_duplicates(&members, at)?;
            Ok(members)
        }
        _ => Err(wrong_type(at(), "an object")),
    }
}

fn check_duplicates(
    members: &[(String, Raw)],
    at: impl Fn() -> Location,
) -> Result<(), PolicyError> {
    let mut seen = HashSet::new();
    for (name, _) in members {
        if !seen.insert(name.as_str()) {
            let mut loc = at();
            loc.element = join(&loc.element, name);
            return Err(PolicyError::at(loc, Problem::Duplicate));
        }
    }
    Ok(())
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn parse_policy(raw: Raw, options: ParseOptions) -> Result<Policy, PolicyError> {
    if !matches!(raw, Raw::Object(_)) {
        return Err(PolicyError::at(Location::top(""), Problem::NotAnObject));
    }
    let mut version = None;
    let mut id = None;
    let mut statement = None;
    for (name, value) in members(raw, || Location::top(""))? {
        match name.as_str() {
            "Version" => {
                let Raw::String(v) = value else {
                    return Err(wrong_type(Location::top("Version"), "a string"));
                };
                version = Some(match v.as_str() {
                    "2012-10-17" => Version::V2012_10_17,
                    "2008-10-17" => Version::V2008_10_17,
                    _ => {
                        return Err(PolicyError::at(
                            Location::top("Version"),
                            Problem::UnsupportedVersion(v),
                        ));
                    }
                });
            }
            "Id" => {
                let Raw::String(v) = value else {
                    return Err(wrong_type(Location::top("Id"), "a string"));
                };
                id = Some(v);
            }
            "Statement" => statement = Some(value),
            _ => return Err(PolicyError::at(Location::top(name), Problem::Unknown)),
        }
    }
    let version = version.unwrap_or(Version::V2008_10_17);
    let raw_statements = match statement {
        None => {
            return Err(PolicyError::at(
                Location::top("Statement"),
                Problem::Missing,
            ));
        }
        Some(Raw::Array(items)) if items.is_empty() => {
            return Err(PolicyError::at(Location::top("Statement"), Problem::Empty));
        }
        Some(Raw::Array(items)) => items,
        Some(object @ Raw::Object(_)) => vec![object],
        Some(_) => {
            return Err(wrong_type(
                Location::top("Statement"),
                "an object or an array of objects",
            ));
        }
    };
    let mut statements = Vec::with_capacity(raw_statements.len());
    let mut sids = HashSet::new();
    for (index, raw) in raw_statements.into_iter().enumerate() {
        let statement = parse_statement(index, raw, version, options)?;
        if let Some(sid) = &statement.sid
            && !sids.insert(sid.clone())
        {
            return Err(PolicyError::at(
                Location {
                    statement: Some(index),
                    sid: Some(sid.clone()),
                    element: "Sid".into(),
                },
                Problem::DuplicateSid(sid.clone()),
            ));
        }
        statements.push(statement);
    }
    Ok(Policy {
        version,
        id,
        statements,
    })
}

fn wrong_type(at: Location, expected: &'static str) -> PolicyError {
    PolicyError::at(at, Problem::WrongType { expected })
}

/// Builds locations inside one statement.
struct Here {
    index: usize,
    sid: Option<String>,
}

impl Here {
    fn at(&self, element: impl Into<String>) -> Location {
        Location {
            statement: Some(self.index),
            sid: self.sid.clone(),
            element: element.into(),
        }
    }

    fn err(&self, element: impl Into<String>, problem: Problem) -> PolicyError {
        PolicyError::at(self.at(element), problem)
    }
}

fn parse_statement(
    index: usize,
    raw: Raw,
    version: Version,
    options: ParseOptions,
) -> Result<Statement, PolicyError> {
    let mut here = Here { index, sid: None };
    let Raw::Object(members) = raw else {
        return Err(wrong_type(here.at(""), "an object"));
    };
    // Read the Sid first so every later error, duplicates included, can name it.
    if let Some((_, value)) = members.iter().find(|(name, _)| name == "Sid") {
        match value {
            Raw::String(sid) => here.sid = Some(sid.clone()),
            _ => return Err(wrong_type(here.at("Sid"), "a string")),
        }
    }
    check_duplicates(&members, || here.at(""))?;
    let variables = version == Version::V2012_10_17;
    let mut effect = None;
    let mut principal = None;
    let mut action = None;
    let mut resource = None;
    let mut condition = Vec::new();
    for (name, value) in members {
        match name.as_str() {
            "Sid" => {}
            "Effect" => {
                effect = Some(match value {
                    Raw::String(s) if s == "Allow" => Effect::Allow,
                    Raw::String(s) if s == "Deny" => Effect::Deny,
                    Raw::String(s) => return Err(here.err("Effect", Problem::InvalidEffect(s))),
                    _ => return Err(wrong_type(here.at("Effect"), "a string")),
                });
            }
            "Principal" | "NotPrincipal" => {
                if options.principal == Presence::Forbidden {
                    return Err(here.err(name, Problem::NotAllowed { kind: options.kind }));
                }
                if principal.is_some() {
                    return Err(here.err(
                        name,
                        Problem::Conflicts {
                            other: "Principal/NotPrincipal",
                        },
                    ));
                }
                let set = parse_principals(&here, &name, value)?;
                principal = Some(if name == "Principal" {
                    Negatable::Is(set)
                } else {
                    Negatable::Not(set)
                });
            }
            "Action" | "NotAction" => {
                if action.is_some() {
                    return Err(here.err(
                        name,
                        Problem::Conflicts {
                            other: "Action/NotAction",
                        },
                    ));
                }
                let patterns = strings(&here, &name, value)?
                    .into_iter()
                    .map(|s| parse_action(&here, &name, &s))
                    .collect::<Result<Vec<_>, _>>()?;
                action = Some(if name == "Action" {
                    Negatable::Is(patterns)
                } else {
                    Negatable::Not(patterns)
                });
            }
            "Resource" | "NotResource" => {
                if options.resource == Presence::Forbidden {
                    return Err(here.err(name, Problem::NotAllowed { kind: options.kind }));
                }
                if resource.is_some() {
                    return Err(here.err(
                        name,
                        Problem::Conflicts {
                            other: "Resource/NotResource",
                        },
                    ));
                }
                let patterns = strings(&here, &name, value)?
                    .into_iter()
                    .map(|s| parse_resource(&here, &name, &s, variables))
                    .collect::<Result<Vec<_>, _>>()?;
                resource = Some(if name == "Resource" {
                    Negatable::Is(patterns)
                } else {
                    Negatable::Not(patterns)
                });
            }
            "Condition" => condition = parse_condition(&here, value, variables)?,
            _ => return Err(here.err(name, Problem::Unknown)),
        }
    }
    let Some(effect) = effect else {
        return Err(here.err("Effect", Problem::Missing));
    };
    let Some(action) = action else {
        return Err(here.err("", Problem::NeedsOneOf("Action or NotAction")));
    };
    if principal.is_none() && options.principal == Presence::Required {
        return Err(here.err("", Problem::NeedsOneOf("Principal or NotPrincipal")));
    }
    if resource.is_none() && options.resource == Presence::Required {
        return Err(here.err("", Problem::NeedsOneOf("Resource or NotResource")));
    }
    if effect == Effect::Allow && matches!(principal, Some(Negatable::Not(_))) {
        return Err(here.err("NotPrincipal", Problem::NotPrincipalWithAllow));
    }
    Ok(Statement {
        sid: here.sid,
        effect,
        principal,
        action,
        resource,
        condition,
    })
}

/// A string or a non-empty array of strings.
fn strings(here: &Here, element: &str, value: Raw) -> Result<Vec<String>, PolicyError> {
    const EXPECTED: &str = "a string or an array of strings";
    match value {
        Raw::String(s) => Ok(vec![s]),
        Raw::Array(items) if items.is_empty() => Err(here.err(element, Problem::Empty)),
        Raw::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Raw::String(s) => Ok(s),
                _ => Err(wrong_type(here.at(element), EXPECTED)),
            })
            .collect(),
        _ => Err(wrong_type(here.at(element), EXPECTED)),
    }
}

fn parse_action(here: &Here, element: &str, action: &str) -> Result<Vec<Tok>, PolicyError> {
    let valid = action == "*"
        || action.split_once(':').is_some_and(|(service, name)| {
            !service.is_empty()
                && service
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !name.is_empty()
                && !name.contains(':')
        });
    if !valid {
        return Err(here.err(element, Problem::InvalidAction(action.to_owned())));
    }
    let template = Template::compile(
        action,
        Syntax {
            wildcards: true,
            variables: false,
            fold_case: true,
        },
    );
    Ok(template
        .as_static()
        .map(<[Tok]>::to_vec)
        .unwrap_or_default())
}

fn parse_resource(
    here: &Here,
    element: &str,
    resource: &str,
    variables: bool,
) -> Result<ResourcePattern, PolicyError> {
    if resource == "*" {
        return Ok(ResourcePattern::Any);
    }
    if !resource.starts_with("arn:") || resource.splitn(6, ':').count() != 6 {
        return Err(here.err(element, Problem::InvalidResource(resource.to_owned())));
    }
    Ok(ResourcePattern::Arn(Template::compile(
        resource,
        Syntax {
            wildcards: true,
            variables,
            fold_case: false,
        },
    )))
}

fn parse_principals(here: &Here, element: &str, value: Raw) -> Result<Principals, PolicyError> {
    let mut set = Principals::default();
    let members = match value {
        Raw::String(s) if s == "*" => {
            set.any = true;
            return Ok(set);
        }
        Raw::Object(_) => members(value, || here.at(element))?,
        _ => {
            return Err(wrong_type(
                here.at(element),
                "\"*\" or an object such as {\"AWS\": …} or {\"Service\": …}",
            ));
        }
    };
    if members.is_empty() {
        return Err(here.err(element, Problem::Empty));
    }
    for (kind, value) in members {
        let path = join(element, &kind);
        let values = strings(here, &path, value)?;
        for v in values {
            let invalid = |reason: &'static str| {
                here.err(
                    path.clone(),
                    Problem::InvalidPrincipal {
                        value: v.clone(),
                        reason,
                    },
                )
            };
            match kind.as_str() {
                "AWS" => {
                    if v == "*" {
                        set.any = true;
                    } else if v.contains(['*', '?']) {
                        return Err(invalid("wildcards are only allowed as \"*\" on its own"));
                    } else if is_account_id(&v) {
                        set.accounts.push(v);
                    } else if let Some(account) = root_arn_account(&v) {
                        set.accounts.push(account.to_owned());
                    } else if is_principal_arn(&v) || is_unique_id(&v) {
                        set.arns.push(v);
                    } else {
                        return Err(invalid(
                            "expected an account ID, an IAM or STS principal ARN, or \"*\"",
                        ));
                    }
                }
                "Service" => {
                    if v.is_empty() || v.contains(['*', '?']) || v.contains(char::is_whitespace) {
                        return Err(invalid("expected a service name such as kms.amazonaws.com"));
                    }
                    set.services.push(v.to_ascii_lowercase());
                }
                "Federated" | "CanonicalUser" => {
                    if v.is_empty() {
                        return Err(invalid("must not be empty"));
                    }
                    set.others.push(v);
                }
                _ => {
                    return Err(here.err(path.clone(), Problem::UnknownPrincipalType(kind.clone())));
                }
            }
        }
    }
    Ok(set)
}

fn root_arn_account(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("iam::")?;
    let account = rest.strip_suffix(":root")?;
    (!partition.is_empty() && is_account_id(account)).then_some(account)
}

fn is_principal_arn(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let resource_ok = match service {
        "iam" => ["user/", "role/"].iter().any(|p| {
            resource
                .strip_prefix(p)
                .is_some_and(|rest| !rest.is_empty())
        }),
        "sts" => ["assumed-role/", "federated-user/"].iter().any(|p| {
            resource
                .strip_prefix(p)
                .is_some_and(|rest| !rest.is_empty())
        }),
        _ => false,
    };
    !partition.is_empty() && is_account_id(account) && resource_ok
}

/// `AIDA…`, `AROA…`: what IAM shows in place of a deleted principal's ARN.
fn is_unique_id(s: &str) -> bool {
    s.len() >= 16
        && s.len() <= 128
        && s.starts_with('A')
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn parse_condition(here: &Here, value: Raw, variables: bool) -> Result<Vec<Clause>, PolicyError> {
    let operators = members(value, || here.at("Condition"))?;
    let mut clauses = Vec::new();
    for (op_name, keys) in operators {
        let path = join("Condition", &op_name);
        let op = Operator::parse(&op_name).map_err(|p| here.err(path.clone(), p))?;
        let keys = members(keys, || here.at(path.clone()))?;
        if keys.is_empty() {
            return Err(here.err(path.clone(), Problem::Empty));
        }
        for (key, values) in keys {
            let key_path = join(&path, &key);
            if key.is_empty() {
                return Err(here.err(key_path, Problem::Empty));
            }
            let texts = condition_values(here, &key_path, values)?;
            let values = texts
                .iter()
                .map(|text| {
                    PolicyValue::compile(&op, &op_name, text, variables)
                        .map_err(|p| here.err(key_path.clone(), p))
                })
                .collect::<Result<Vec<_>, _>>()?;
            clauses.push(Clause {
                op: op.clone(),
                key: key.to_lowercase(),
                values,
            });
        }
    }
    Ok(clauses)
}

/// A condition key's value(s): strings, numbers or booleans, alone or in a non-empty array.
fn condition_values(here: &Here, path: &str, value: Raw) -> Result<Vec<String>, PolicyError> {
    const EXPECTED: &str = "a string, number or boolean, or an array of them";
    let scalar = |v: Raw| match v {
        Raw::String(s) => Ok(s),
        Raw::Number(n) => Ok(n.to_string()),
        Raw::Bool(b) => Ok(b.to_string()),
        _ => Err(wrong_type(here.at(path), EXPECTED)),
    };
    match value {
        Raw::Array(items) if items.is_empty() => Err(here.err(path, Problem::Empty)),
        Raw::Array(items) => items.into_iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}
