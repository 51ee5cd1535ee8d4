//! The one error type of this crate: why a policy document was refused.
//!
//! Every validation error carries a [`Location`] (which statement, which element) and a
//! [`Problem`] (what is wrong), so the service layer can answer
//! `MalformedPolicyDocumentException` (KMS) or `MalformedPolicyDocument` (IAM) with a message
//! that lets the author find the mistake.

use std::fmt;

/// A policy document could not be parsed or is not a valid policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The document is not JSON (or nests deeper than the JSON parser allows).
    #[error("the policy is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The document is JSON but not a valid policy.
    #[error("{at}: {problem}")]
    Invalid {
        at: Box<Location>,
        problem: Box<Problem>,
    },
    /// A caller's ARN given to [`AwsIdentity::from_arn`](crate::AwsIdentity::from_arn) is not
    /// an IAM or STS principal ARN.
    #[error("invalid caller ARN {arn:?}: {reason}")]
    InvalidCallerArn { arn: String, reason: &'static str },
}

impl PolicyError {
    pub(crate) fn at(at: Location, problem: Problem) -> Self {
        PolicyError::Invalid {
            at: Box::new(at),
            problem: Box::new(problem),
        }
    }

    /// Where the problem is, if the document was JSON.
    pub fn location(&self) -> Option<&Location> {
        match self {
            PolicyError::Invalid { at, .. } => Some(at),
            _ => None,
        }
    }

    /// What is wrong, if the document was JSON.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            PolicyError::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }
}

/// Where in a policy document a problem was found.
///
/// Displayed as `Statement[1] (Sid "AllowUse") Condition.StringEquals.aws:username`; statement
/// indexes are zero-based, in document order (an object-valued `Statement` is index 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The statement's index, or `None` for the document's top level.
    pub statement: Option<usize>,
    /// The statement's `Sid`, when it has one (and it could be read).
    pub sid: Option<String>,
    /// The element path inside the statement (or the document), dot-separated; empty for the
    /// statement or document itself.
    pub element: String,
}

impl Location {
    pub(crate) fn top(element: impl Into<String>) -> Self {
        Location {
            statement: None,
            sid: None,
            element: element.into(),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote = false;
        if let Some(index) = self.statement {
            write!(f, "Statement[{index}]")?;
            if let Some(sid) = &self.sid {
                write!(f, " (Sid {sid:?})")?;
            }
            wrote = true;
        }
        if !self.element.is_empty() {
            if wrote {
                f.write_str(" ")?;
            }
            f.write_str(&self.element)?;
            wrote = true;
        }
        if !wrote {
            f.write_str("policy")?;
        }
        Ok(())
    }
}

/// What is wrong at a [`Location`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    #[error("the document must be a JSON object")]
    NotAnObject,
    #[error("required element is missing")]
    Missing,
    #[error("element appears more than once")]
    Duplicate,
    #[error("unknown element")]
    Unknown,
    #[error("must be {expected}")]
    WrongType { expected: &'static str },
    #[error("must not be empty")]
    Empty,
    #[error("unsupported policy version {0:?}; use \"2012-10-17\" or \"2008-10-17\"")]
    UnsupportedVersion(String),
    #[error("invalid effect {0:?}; use \"Allow\" or \"Deny\"")]
    InvalidEffect(String),
    #[error("cannot be used together with {other}")]
    Conflicts { other: &'static str },
    #[error("a statement needs exactly one of {0}")]
    NeedsOneOf(&'static str),
    #[error("is not allowed in {kind} policies")]
    NotAllowed { kind: &'static str },
    #[error("NotPrincipal can only be used with \"Effect\": \"Deny\"")]
    NotPrincipalWithAllow,
    #[error("duplicate Sid {0:?}; statement IDs must be unique within a policy")]
    DuplicateSid(String),
    #[error("invalid action {0:?}: expected \"*\" or \"<service>:<action>\"")]
    InvalidAction(String),
    #[error(
        "invalid resource {0:?}: expected \"*\" or an ARN (arn:partition:service:region:account:resource)"
    )]
    InvalidResource(String),
    #[error("invalid principal {value:?}: {reason}")]
    InvalidPrincipal { value: String, reason: &'static str },
    #[error(
        "unknown principal type {0:?}; use \"AWS\", \"Service\", \"Federated\" or \"CanonicalUser\""
    )]
    UnknownPrincipalType(String),
    #[error("unknown condition operator {0:?}")]
    UnknownOperator(String),
    #[error("the Null operator cannot take IfExists or a ForAllValues/ForAnyValue qualifier")]
    InvalidNullOperator,
    #[error("invalid value {value:?} for {operator}: {reason}")]
    InvalidConditionValue {
        operator: String,
        value: String,
        reason: &'static str,
    },
}
