//! One conformance suite for every store: each test runs against the embedded SQLite store
//! and, when `TRENT_TEST_POSTGRES_URL` is set, against PostgreSQL (a fresh schema per test).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod harness;

mod audit;
mod backup;
mod base;
mod iam;
mod kms;
mod secrets;
mod ssm;
