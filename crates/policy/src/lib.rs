//! The AWS IAM policy language: parse and validate policy documents, evaluate them against a
//! request.
//!
//! This crate is pure: no I/O, no clock, no async, no crypto. Services (KMS today; Parameter
//! Store, Secrets Manager and the certificate services later) build a [`RequestContext`] for
//! each request and decide what to do with the [`Decision`]; nothing here knows any service's
//! actions or resources.
//!
//! ```
//! use trent_policy::{AwsIdentity, Caller, Decision, ParseOptions, Policy, RequestContext};
//!
//! let policy = Policy::parse(r#"{
//!     "Version": "2012-10-17",
//!     "Statement": [{
//!         "Sid": "AllowUse", "Effect": "Allow",
//!         "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"},
//!         "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
//!         "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "${aws:PrincipalTag/tenant}"}}
//!     }]
//! }"#, ParseOptions::KEY_POLICY)?;
//!
//! let caller = AwsIdentity::from_arn("arn:aws:sts::111122223333:assumed-role/App/worker-1")?
//!     .with_tag("tenant", "blue");
//! let ctx = RequestContext::new(Caller::Aws(caller), "kms:Decrypt",
//!         "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
//!     .with("kms:EncryptionContext:tenant", "blue");
//! assert!(matches!(policy.evaluate(&ctx), Decision::Allow(m) if m.sid.as_deref() == Some("AllowUse")));
//! # Ok::<(), trent_policy::PolicyError>(())
//! ```
//!
//! # Layout
//!
//! - [`policy`](Policy): the document — `Version`, `Id`, `Statement` (object or array) with
//!   `Sid`, `Effect`, `Principal`/`NotPrincipal`, `Action`/`NotAction`,
//!   `Resource`/`NotResource`, `Condition` — parsed into a validated model. [`ParseOptions`]
//!   says which elements the policy kind allows (identity, resource, key, trust policies).
//! - `condition`: the operators and how they treat absent keys, negation, `IfExists` and the
//!   `ForAllValues:`/`ForAnyValue:` set qualifiers.
//! - `pattern`: `*`/`?` wildcards, ARN matching part by part, and policy variables, all
//!   compiled once at parse time.
//! - [`RequestContext`]: the caller ([`Caller`], [`AwsIdentity`]), the action, the resource and
//!   the condition keys with typed values ([`ContextValue`]).
//! - [`evaluate`]: explicit deny wins, then allow, else implicit deny; the deciding statement
//!   is reported ([`Matched`]) with how its principal matched ([`PrincipalMatch`]).
//! - [`PolicyError`]: every validation error names the statement (index and Sid), the element
//!   and the problem, ready for `MalformedPolicyDocumentException` / `MalformedPolicyDocument`.
//!
//! # Supported
//!
//! - Versions `2012-10-17` and `2008-10-17` (the default when `Version` is absent; policy
//!   variables are only read in `2012-10-17`).
//! - Principals: `"*"`, `{"AWS": …}` with account IDs, account root ARNs, user, role,
//!   assumed-role and federated-user ARNs, unique IDs; `{"Service": …}`. A role ARN matches the
//!   role's sessions; an account matches every principal of the account (reported as
//!   [`PrincipalMatch::Account`], which a KMS key policy treats as delegation to IAM).
//!   `NotPrincipal` (Deny only) excludes a caller only if its account, its role (for a session)
//!   and the caller itself are all listed, as AWS evaluates it.
//! - Actions: `service:Action` with `*`/`?`, case-insensitive. Resources: `"*"` or ARN patterns
//!   matched part by part (wildcards never cross the `:` between ARN parts), case-sensitive.
//! - Every condition operator of the IAM reference: `String*`, `Numeric*`, `Date*` (ISO 8601 or
//!   epoch seconds), `Bool`, `BinaryEquals` (base64), `IpAddress`/`NotIpAddress` (IPv4 and IPv6
//!   CIDR), `Arn*`, `Null`, each with `…IfExists` (but `Null`) and the set qualifiers.
//! - Policy variables in `Resource` and in String/Arn condition values: any single-valued
//!   context key (`${aws:username}`, `${aws:PrincipalTag/team}`, …), defaults
//!   (`${aws:PrincipalTag/team, 'none'}`) and the escapes `${*}`, `${?}`, `${$}`. A variable
//!   without a value makes that one value match nothing.
//! - Strict documents: duplicate JSON members, unknown elements, empty arrays, duplicate Sids,
//!   values of the wrong type for their operator are all errors.
//!
//! # Not supported (yet)
//!
//! - Size limits (the caller's business), and checking that named principals exist.
//! - `Federated` and `CanonicalUser` principals parse but match no caller.
//! - Variables in the values of Numeric, Date, Bool, Binary and IP operators.
//! - Choices where AWS's documentation is silent, made the conservative way and covered by
//!   tests: a multivalued key under an operator without `ForAllValues:`/`ForAnyValue:` matches
//!   when any of its values does (negated operators: when none does); an empty multivalued key
//!   counts as absent (also for `Null`); a `NotResource` pattern whose variable has no value
//!   excludes nothing; duplicate Sids and empty `Statement` arrays are refused; condition
//!   operator names are accepted in any case.
//! - Policy types beyond what [`evaluate`] combines (SCPs, permission boundaries, session
//!   policies) and KMS's own rules (key policy mandatory, IAM delegation, grants): those are
//!   built on top of [`Decision`] by the service.

#![forbid(unsafe_code)]

mod condition;
mod context;
mod denial;
mod error;
mod eval;
mod pattern;
mod policy;
mod raw;
mod requester;
mod value;

pub use condition::SetQualifier;
pub use context::{AwsIdentity, Caller, ContextValue, IdentityKind, RequestContext};
pub use denial::{Because, authorize_identity_only, denial_message, identity_decision};
pub use error::{Location, PolicyError, Problem};
pub use eval::{Decision, Matched, PrincipalMatch, evaluate};
pub use policy::{Effect, ParseOptions, Policy, Presence, Statement, Version};
pub use requester::Requester;
pub use value::{Number, Timestamp};
