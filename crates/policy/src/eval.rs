//! Evaluation: does a set of policies allow a request?
//!
//! A statement *applies* to a request when its principal, action, resource and every condition
//! match. Any applicable `Deny` makes the answer [`Decision::ExplicitDeny`]; otherwise any
//! applicable `Allow` makes it [`Decision::Allow`]; otherwise [`Decision::ImplicitDeny`]. The
//! order of statements and policies never changes which of the three it is (only which
//! statement is reported: the first deny, or the first allow, preferring one that names the
//! caller over one that names only the caller's account).

use crate::context::{Caller, IdentityKind, RequestContext};
use crate::pattern::{arn_glob, glob};
use crate::policy::{Effect, Negatable, Policy, Principals, ResourcePattern, Statement};

/// The outcome of evaluating policies against one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A `Deny` statement applies: nothing else can allow the request.
    ExplicitDeny(Matched),
    /// An `Allow` statement applies and no `Deny` does.
    Allow(Matched),
    /// No statement applies.
    ImplicitDeny,
}

impl Decision {
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    pub fn is_explicit_deny(&self) -> bool {
        matches!(self, Decision::ExplicitDeny(_))
    }

    /// The statement that decided, if one did.
    pub fn matched(&self) -> Option<&Matched> {
        match self {
            Decision::ExplicitDeny(m) | Decision::Allow(m) => Some(m),
            Decision::ImplicitDeny => None,
        }
    }

    /// Combines decisions from several sources (a key policy, IAM policies, grants): any
    /// explicit deny wins, then any allow, else an implicit deny. The first deny is kept;
    /// among allows, the first one that names the caller is preferred.
    pub fn combine(decisions: impl IntoIterator<Item = Decision>) -> Decision {
        let mut allow: Option<Matched> = None;
        for decision in decisions {
            match decision {
                Decision::ExplicitDeny(m) => return Decision::ExplicitDeny(m),
                Decision::Allow(m) => keep_better_allow(&mut allow, m),
                Decision::ImplicitDeny => {}
            }
        }
        allow.map_or(Decision::ImplicitDeny, Decision::Allow)
    }
}

/// Which statement decided, for error messages and for the caller's next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// Index into the policies given to [`evaluate`] (0 for [`Policy::evaluate`]).
    pub policy: usize,
    /// Index of the statement in its policy, in document order.
    pub statement: usize,
    pub sid: Option<String>,
    /// How the statement's principal element matched the caller.
    pub principal: PrincipalMatch,
}

/// How a statement's `Principal`/`NotPrincipal` matched the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalMatch {
    /// The statement has no principal element (identity policies).
    Unspecified,
    /// `"*"` or `{"AWS": "*"}`.
    Wildcard,
    /// The caller's own ARN, its role's ARN (for a role session), or — for the account root —
    /// its account.
    Caller,
    /// Only the caller's account (`"111122223333"` or `arn:aws:iam::111122223333:root`) while
    /// the caller is not the root. In a KMS key policy this *delegates* to IAM: the caller also
    /// needs an IAM policy that allows the request.
    Account,
    /// A `NotPrincipal` that does not exclude the caller.
    NotPrincipal,
}

/// Evaluates `policies` together against `ctx`.
pub fn evaluate(policies: &[&Policy], ctx: &RequestContext) -> Decision {
    let mut allow: Option<Matched> = None;
    for (policy_index, policy) in policies.iter().enumerate() {
        for (statement_index, statement) in policy.statements.iter().enumerate() {
            // Once an allow that names the caller is found, only denies can change the answer.
            let settled = allow
                .as_ref()
                .is_some_and(|m| m.principal != PrincipalMatch::Account);
            if statement.effect == Effect::Allow && settled {
                continue;
            }
            let Some(principal) = statement.applies(ctx) else {
                continue;
            };
            let matched = Matched {
                policy: policy_index,
                statement: statement_index,
                sid: statement.sid.clone(),
                principal,
            };
            match statement.effect {
                Effect::Deny => return Decision::ExplicitDeny(matched),
                Effect::Allow => keep_better_allow(&mut allow, matched),
            }
        }
    }
    allow.map_or(Decision::ImplicitDeny, Decision::Allow)
}

fn keep_better_allow(current: &mut Option<Matched>, candidate: Matched) {
    let replace = match current {
        None => true,
        Some(m) => {
            m.principal == PrincipalMatch::Account && candidate.principal != PrincipalMatch::Account
        }
    };
    if replace {
        *current = Some(candidate);
    }
}

impl Policy {
    /// Evaluates this policy alone.
    pub fn evaluate(&self, ctx: &RequestContext) -> Decision {
        evaluate(&[self], ctx)
    }
}

impl Statement {
    /// `Some(how the principal matched)` when the statement applies to the request.
    pub fn applies(&self, ctx: &RequestContext) -> Option<PrincipalMatch> {
        if !self.action_matches(ctx) || !self.resource_matches(ctx) {
            return None;
        }
        let principal = match &self.principal {
            None => PrincipalMatch::Unspecified,
            Some(Negatable::Is(set)) => principal_matches(set, ctx.caller())?,
            Some(Negatable::Not(set)) => {
                if excludes(set, ctx.caller()) {
                    return None;
                }
                PrincipalMatch::NotPrincipal
            }
        };
        self.condition
            .iter()
            .all(|clause| clause.holds(ctx))
            .then_some(principal)
    }

    fn action_matches(&self, ctx: &RequestContext) -> bool {
        let action = ctx.action_folded();
        match &self.action {
            Negatable::Is(patterns) => patterns.iter().any(|p| glob(p, action)),
            Negatable::Not(patterns) => !patterns.iter().any(|p| glob(p, action)),
        }
    }

    fn resource_matches(&self, ctx: &RequestContext) -> bool {
        let one = |pattern: &ResourcePattern| match pattern {
            ResourcePattern::Any => true,
            ResourcePattern::Arn(template) => template
                .resolve(&|key| ctx.variable(key))
                .is_some_and(|toks| arn_glob(&toks, ctx.resource())),
        };
        match &self.resource {
            None => true,
            Some(Negatable::Is(patterns)) => patterns.iter().any(one),
            Some(Negatable::Not(patterns)) => !patterns.iter().any(one),
        }
    }
}

fn principal_matches(set: &Principals, caller: &Caller) -> Option<PrincipalMatch> {
    if set.any {
        return Some(PrincipalMatch::Wildcard);
    }
    match caller {
        Caller::Aws(id) => {
            let named = |arn: &str| set.arns.iter().any(|a| a == arn);
            if named(id.arn()) || id.role_arn().is_some_and(named) {
                return Some(PrincipalMatch::Caller);
            }
            if set.accounts.iter().any(|a| a == id.account()) {
                return Some(if matches!(id.kind(), IdentityKind::Root) {
                    PrincipalMatch::Caller
                } else {
                    PrincipalMatch::Account
                });
            }
            None
        }
        Caller::Service(name) => set
            .services
            .iter()
            .any(|s| s.eq_ignore_ascii_case(name))
            .then_some(PrincipalMatch::Caller),
        Caller::Anonymous => None,
    }
}

/// Whether a `NotPrincipal` set excludes the caller. AWS checks every identity in the caller's
/// chain — the account, then the role (for a role session), then the caller itself — and the
/// statement applies if *any* of them is not listed, so an exception must list them all.
fn excludes(set: &Principals, caller: &Caller) -> bool {
    if set.any {
        return true;
    }
    match caller {
        Caller::Aws(id) => {
            let named = |arn: &str| set.arns.iter().any(|a| a == arn);
            let account = set.accounts.iter().any(|a| a == id.account());
            let role = id.role_arn().is_none_or(named);
            let itself = matches!(id.kind(), IdentityKind::Root) || named(id.arn());
            account && role && itself
        }
        Caller::Service(name) => set.services.iter().any(|s| s.eq_ignore_ascii_case(name)),
        Caller::Anonymous => false,
    }
}
