//! The encryption context and its canonical encoding.
//!
//! The context is bound to a ciphertext as AES-GCM associated data, so its byte encoding must be
//! injective: two different contexts must never encode the same. Concatenating sorted keys and
//! values (`"ab"+"c"` vs `"a"+"bc"`) is the classic mistake; here every key and value carries a
//! 32-bit length, pairs are sorted by key bytes, and the pair count leads. An absent context and an
//! empty one are the same context, as in AWS KMS.

use std::collections::BTreeMap;

/// A validated encryption context. Keys are unique by construction (a JSON object with a repeated
/// member is read last-wins, as AWS does).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(transparent)]
pub struct EncryptionContext(pub BTreeMap<String, String>);

impl EncryptionContext {
    /// The canonical, injective encoding used as associated data.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let size: usize = self.0.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
        let mut out = Vec::with_capacity(4 + size);
        out.extend_from_slice(&(self.0.len() as u32).to_be_bytes());
        // BTreeMap<String, _> iterates in byte order of the keys.
        for (k, v) in &self.0 {
            out.extend_from_slice(&(k.len() as u32).to_be_bytes());
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(v.as_bytes());
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Option<EncryptionContext>> for EncryptionContext {
    fn from(v: Option<EncryptionContext>) -> Self {
        v.unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ec(pairs: &[(&str, &str)]) -> EncryptionContext {
        EncryptionContext(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn shifting_bytes_between_key_and_value_changes_the_encoding() {
        assert_ne!(
            ec(&[("ab", "c")]).canonical_bytes(),
            ec(&[("a", "bc")]).canonical_bytes()
        );
        assert_ne!(
            ec(&[("a", "b"), ("c", "d")]).canonical_bytes(),
            ec(&[("a", "b\0\0\0\u{1}cd")]).canonical_bytes()
        );
    }

    #[test]
    fn order_of_insertion_does_not_matter() {
        let a: EncryptionContext = serde_json::from_str(r#"{"x":"1","a":"2"}"#).unwrap();
        let b: EncryptionContext = serde_json::from_str(r#"{"a":"2","x":"1"}"#).unwrap();
        assert_eq!(a.canonical_bytes(), b.canonical_bytes());
    }

    #[test]
    fn empty_and_absent_are_the_same() {
        assert_eq!(
            EncryptionContext::from(None).canonical_bytes(),
            ec(&[]).canonical_bytes()
        );
    }

    #[test]
    fn case_matters() {
        assert_ne!(
            ec(&[("App", "web")]).canonical_bytes(),
            ec(&[("app", "web")]).canonical_bytes()
        );
    }
}
