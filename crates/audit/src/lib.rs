//! Trent's audit trail.
//!
//! - [`record`]: one request as a CloudTrail record ([`Call`] → [`Event`]).
//! - [`redact`]: the per-operation allow-lists of request and response members; anything not
//!   listed stays out of the record.
//! - [`log`]: the group-commit writer that makes events durable before responses go out, the
//!   signed digests and the audit signing key (sealed by the store's barrier).
//! - [`chain`]: the hash chain, the digest format and the offline [`chain::Verifier`].
//! - [`checkpoint`]: retention, pruning old events behind a signed checkpoint.
//! - [`export`]: CloudTrail-style log files with signed digest files, and their verifier.
//! - [`lookup`]: CloudTrail `LookupEvents`.
//!
//! No HTTP here: the server fills a [`Call`] per request and hands the event to [`AuditLog`].

#![forbid(unsafe_code)]

pub mod chain;
pub mod checkpoint;
pub mod export;
pub mod log;
pub mod lookup;
pub mod record;
pub mod redact;

pub use chain::{Problem, Report, Verifier, verify};
pub use log::{AuditError, AuditLog, Signer};
pub use record::{Call, Event, UserIdentity};
pub use redact::Body;
