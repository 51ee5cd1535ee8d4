//! Trent's integration tests: one binary, a real server on 127.0.0.1:0, real AWS clients.

// Test helpers may unwrap and index: a failing test should fail loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod asymmetric;
mod at_rest;
mod audit;
mod audit_export;
mod authz;
mod binary;
mod cli;
mod esdk;
mod esdk_cli;
mod esdk_kms;
mod hardening;
mod harness;
mod hmac;
mod iam;
mod import;
mod kms_access;
mod last_usage;
mod ml_dsa;
mod multi_node;
mod multi_region;
mod overload;
mod protocol;
mod rotation;
mod sdk;
mod seal;
mod secrets;
mod secrets_replication;
mod secrets_rotation;
mod secrets_sdk;
mod ssm;
mod ssm_authz;
mod ssm_events;
mod store_admin;
mod store_faults;
mod threats;
mod throttling;
mod tls;
