//! Integration tests for `trent-policy`: one binary, three suites.
//!
//! - `aws_examples`: a table of policies taken from the examples in AWS's IAM and KMS
//!   documentation, each with requests and the decision AWS documents.
//! - `malformed`: documents that must be refused, with the message the author sees.
//! - `properties`: evaluator invariants (a deny never turns into an allow; statement order
//!   never matters), checked with proptest.

// Test helpers may unwrap and index: a failing test should fail loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod aws_examples;
mod malformed;
mod properties;

use trent_policy::{AwsIdentity, Caller, RequestContext};

pub fn aws(arn: &str) -> Caller {
    Caller::Aws(AwsIdentity::from_arn(arn).unwrap())
}

pub fn request(caller: Caller, action: &str, resource: &str) -> RequestContext {
    RequestContext::new(caller, action, resource)
}

pub const KEY_ARN: &str =
    "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
pub const ROOT: &str = "arn:aws:iam::111122223333:root";
pub const ALICE: &str = "arn:aws:iam::111122223333:user/Alice";
pub const BOB: &str = "arn:aws:iam::111122223333:user/Bob";
pub const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/ExampleRole/session-1";
pub const OTHER_USER: &str = "arn:aws:iam::444455556666:user/Carol";
