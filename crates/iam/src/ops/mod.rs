//! The operations: IAM (`iam`) and STS (`sts`).

pub(crate) mod iam;
pub(crate) mod sts;
