//! Conformance of the secrets part of the store.
