//! Conformance of the kms part of the store.
