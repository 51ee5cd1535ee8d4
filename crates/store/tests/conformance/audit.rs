//! Conformance of the audit part of the store.
