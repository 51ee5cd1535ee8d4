//! Trent's integration tests: one binary, a real server on 127.0.0.1:0, real AWS clients.

mod at_rest;
mod binary;
mod protocol;
mod harness;
mod sdk;
