//! Conformance of the iam part of the store.
