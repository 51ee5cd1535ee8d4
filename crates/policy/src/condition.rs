//! The `Condition` element: operators, their values, and how they meet the request.
//!
//! Semantics (IAM User Guide, "Condition operators" and "Single-valued vs. multivalued
//! context keys"):
//!
//! - Operators in a block are ANDed, keys under one operator are ANDed, a key's values are
//!   ORed — for a negated operator (`StringNotEquals`, `NotIpAddress`, …) the result of that OR
//!   is negated, so the values are NORed.
//! - An absent key (or an empty multivalued key): positive operators are false, negated
//!   operators true; `…IfExists` makes any operator true; `ForAllValues:` is true and
//!   `ForAnyValue:` false; `Null` is true for `"true"`.
//! - `ForAllValues:` is true when every request value satisfies the operator, `ForAnyValue:`
//!   when one does. Without a qualifier a multivalued key behaves like `ForAnyValue:` for a
//!   positive operator and like its negation for a negated one.
//! - Policy variables are resolved in the values of the String and Arn operators; a variable
//!   without a value makes that one value match nothing.

use std::cmp::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ipnet::IpNet;

use crate::context::{ContextValue, RequestContext, parse_bool};
use crate::error::Problem;
use crate::pattern::{Syntax, Template, Tok, arn_glob, glob};
use crate::value::{Number, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Cmp::Eq => ordering == Ordering::Equal,
            Cmp::Lt => ordering == Ordering::Less,
            Cmp::Le => ordering != Ordering::Greater,
            Cmp::Gt => ordering == Ordering::Greater,
            Cmp::Ge => ordering != Ordering::Less,
        }
    }
}

/// What an operator tests, before negation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// `ForAllValues:` / `ForAnyValue:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    ForAllValues,
    ForAnyValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Operator {
    pub test: Test,
    pub negated: bool,
    pub if_exists: bool,
    pub set: Option<SetQualifier>,
}

impl Operator {
    /// Parses `[ForAllValues:|ForAnyValue:]<Name>[IfExists]`, names compared without case.
    pub(crate) fn parse(name: &str) -> Result<Operator, Problem> {
        let unknown = || Problem::UnknownOperator(name.to_owned());
        let lower = name.to_ascii_lowercase();
        let (set, rest) = if let Some(rest) = lower.strip_prefix("forallvalues:") {
            (Some(SetQualifier::ForAllValues), rest)
        } else if let Some(rest) = lower.strip_prefix("foranyvalue:") {
            (Some(SetQualifier::ForAnyValue), rest)
        } else {
            (None, lower.as_str())
        };
        let (base, if_exists) = match rest.strip_suffix("ifexists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let (test, negated) = match base {
            "stringequals" => (Test::StringEquals, false),
            "stringnotequals" => (Test::StringEquals, true),
            "stringequalsignorecase" => (Test::StringEqualsIgnoreCase, false),
            "stringnotequalsignorecase" => (Test::StringEqualsIgnoreCase, true),
            "stringlike" => (Test::StringLike, false),
            "stringnotlike" => (Test::StringLike, true),
            "numericequals" => (Test::Numeric(Cmp::Eq), false),
            "numericnotequals" => (Test::Numeric(Cmp::Eq), true),
            "numericlessthan" => (Test::Numeric(Cmp::Lt), false),
            "numericlessthanequals" => (Test::Numeric(Cmp::Le), false),
            "numericgreaterthan" => (Test::Numeric(Cmp::Gt), false),
            "numericgreaterthanequals" => (Test::Numeric(Cmp::Ge), false),
            "dateequals" => (Test::Date(Cmp::Eq), false),
            "datenotequals" => (Test::Date(Cmp::Eq), true),
            "datelessthan" => (Test::Date(Cmp::Lt), false),
            "datelessthanequals" => (Test::Date(Cmp::Le), false),
            "dategreaterthan" => (Test::Date(Cmp::Gt), false),
            "dategreaterthanequals" => (Test::Date(Cmp::Ge), false),
            "bool" => (Test::Bool, false),
            "binaryequals" => (Test::Binary, false),
            "ipaddress" => (Test::Ip, false),
            "notipaddress" => (Test::Ip, true),
            "arnequals" | "arnlike" => (Test::Arn, false),
            "arnnotequals" | "arnnotlike" => (Test::Arn, true),
            "null" => (Test::Null, false),
            _ => return Err(unknown()),
        };
        if test == Test::Null && (if_exists || set.is_some()) {
            return Err(Problem::InvalidNullOperator);
        }
        Ok(Operator {
            test,
            negated,
            if_exists,
            set,
        })
    }
}

/// One value of a condition, compiled for its operator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PolicyValue {
    Text(Template),
    Number(Number),
    Date(Timestamp),
    Bool(bool),
    Binary(Vec<u8>),
    Ip(IpNet),
}

impl PolicyValue {
    /// Compiles `text` (a JSON string, number or boolean as written) for `op`. Typed operators
    /// refuse values that are not of their type, so a typo does not silently never match.
    pub(crate) fn compile(
        op: &Operator,
        op_name: &str,
        text: &str,
        variables: bool,
    ) -> Result<PolicyValue, Problem> {
        let invalid = |reason: &'static str| Problem::InvalidConditionValue {
            operator: op_name.to_owned(),
            value: text.to_owned(),
            reason,
        };
        let syntax = |wildcards: bool, fold_case: bool| Syntax {
            wildcards,
            variables,
            fold_case,
        };
        Ok(match op.test {
            Test::StringEquals => PolicyValue::Text(Template::compile(text, syntax(false, false))),
            Test::StringEqualsIgnoreCase => {
                PolicyValue::Text(Template::compile(text, syntax(false, true)))
            }
            Test::StringLike | Test::Arn => {
                PolicyValue::Text(Template::compile(text, syntax(true, false)))
            }
            Test::Numeric(_) => PolicyValue::Number(
                Number::parse(text).ok_or_else(|| invalid("expected a number"))?,
            ),
            Test::Date(_) => PolicyValue::Date(
                Timestamp::parse(text)
                    .ok_or_else(|| invalid("expected an ISO 8601 date or epoch seconds"))?,
            ),
            Test::Bool | Test::Null => PolicyValue::Bool(
                parse_bool(text).ok_or_else(|| invalid("expected \"true\" or \"false\""))?,
            ),
            Test::Binary => PolicyValue::Binary(
                BASE64
                    .decode(text)
                    .map_err(|_| invalid("expected base64"))?,
            ),
            Test::Ip => PolicyValue::Ip(match text.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => text
                    .parse::<std::net::IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| invalid("expected an IPv4 or IPv6 address or CIDR block"))?,
            }),
        })
    }
}

/// One `"<operator>": {"<key>": <values>}` pair.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Clause {
    pub op: Operator,
    /// The key, lowercased.
    pub key: String,
    pub values: Vec<PolicyValue>,
}

impl Clause {
    pub(crate) fn holds(&self, ctx: &RequestContext) -> bool {
        let request = ctx.values_folded(&self.key);
        if self.op.test == Test::Null {
            let absent = request.is_empty();
            return self
                .values
                .iter()
                .any(|v| matches!(v, PolicyValue::Bool(b) if *b == absent));
        }
        if request.is_empty() {
            if self.op.if_exists {
                return true;
            }
            return match self.op.set {
                Some(SetQualifier::ForAllValues) => true,
                Some(SetQualifier::ForAnyValue) => false,
                None => self.op.negated,
            };
        }
        // Resolve the policy values once per clause, not once per request value.
        let resolved: Vec<Resolved<'_>> = self
            .values
            .iter()
            .filter_map(|v| Resolved::new(v, ctx))
            .collect();
        let any_policy_value = |value: &ContextValue| {
            resolved
                .iter()
                .any(|policy| matches_one(self.op.test, policy, value))
        };
        match self.op.set {
            None => request.iter().any(any_policy_value) != self.op.negated,
            Some(SetQualifier::ForAllValues) => request
                .iter()
                .all(|value| any_policy_value(value) != self.op.negated),
            Some(SetQualifier::ForAnyValue) => request
                .iter()
                .any(|value| any_policy_value(value) != self.op.negated),
        }
    }
}

/// A policy value with its variables resolved for this request.
enum Resolved<'a> {
    Text(std::borrow::Cow<'a, [Tok]>),
    Typed(&'a PolicyValue),
}

impl<'a> Resolved<'a> {
    /// `None` when a variable has no value: the value then matches nothing.
    fn new(value: &'a PolicyValue, ctx: &RequestContext) -> Option<Resolved<'a>> {
        match value {
            PolicyValue::Text(template) => {
                let toks = match template.as_static() {
                    Some(toks) => std::borrow::Cow::Borrowed(toks),
                    None => template.resolve(&|key| ctx.variable(key))?,
                };
                Some(Resolved::Text(toks))
            }
            other => Some(Resolved::Typed(other)),
        }
    }
}

fn matches_one(test: Test, policy: &Resolved<'_>, value: &ContextValue) -> bool {
    match (test, policy) {
        (Test::StringEquals | Test::StringLike, Resolved::Text(toks)) => {
            glob(toks, &value.as_text())
        }
        (Test::StringEqualsIgnoreCase, Resolved::Text(toks)) => {
            glob(toks, &value.as_text().to_lowercase())
        }
        (Test::Arn, Resolved::Text(toks)) => arn_glob(toks, &value.as_text()),
        (Test::Numeric(cmp), Resolved::Typed(PolicyValue::Number(n))) => value
            .as_number()
            .and_then(|v| v.compare(*n))
            .is_some_and(|o| cmp.holds(o)),
        (Test::Date(cmp), Resolved::Typed(PolicyValue::Date(t))) => {
            value.as_date().is_some_and(|v| cmp.holds(v.cmp(t)))
        }
        (Test::Bool, Resolved::Typed(PolicyValue::Bool(b))) => value.as_bool() == Some(*b),
        (Test::Binary, Resolved::Typed(PolicyValue::Binary(bytes))) => value
            .as_bytes()
            .is_some_and(|v| v.as_ref() == bytes.as_slice()),
        (Test::Ip, Resolved::Typed(PolicyValue::Ip(net))) => {
            value.as_ip().is_some_and(|ip| net.contains(&ip))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        let op = Operator::parse("ForAllValues:StringNotLikeIfExists").unwrap();
        assert_eq!(op.test, Test::StringLike);
        assert!(op.negated && op.if_exists);
        assert_eq!(op.set, Some(SetQualifier::ForAllValues));
        assert_eq!(Operator::parse("arnlike").unwrap().test, Test::Arn);
        assert!(Operator::parse("StringEqualz").is_err());
        assert!(Operator::parse("NullIfExists").is_err());
        assert!(Operator::parse("ForAnyValue:Null").is_err());
        assert!(Operator::parse("ForSomeValues:StringEquals").is_err());
    }
}
