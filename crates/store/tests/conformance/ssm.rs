//! Conformance of the ssm part of the store.
