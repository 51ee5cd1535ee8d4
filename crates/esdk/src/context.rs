//! Encryption contexts and their canonical serialization.

use crate::Error;
use crate::reader::Reader;
use std::collections::BTreeMap;

/// An encryption context: UTF-8 key-value pairs. A `BTreeMap<String, _>` iterates in the
/// ascending UTF-8 byte order the serialization requires.
pub type EncryptionContext = BTreeMap<String, String>;

/// Keys with this prefix are reserved for the SDK itself.
pub const RESERVED_PREFIX: &str = "aws-crypto-";

/// The key under which signed suites store the base64 SEC1 compressed verification key.
pub const PUBLIC_KEY_FIELD: &str = "aws-crypto-public-key";

/// Serializes `ec`: zero bytes when empty, else `u16 count ‖ (u16 len ‖ key ‖ u16 len ‖
/// value)*` in ascending key order. Fails if a length or the whole exceeds 65,535 bytes.
pub fn serialize(ec: &EncryptionContext) -> Result<Vec<u8>, Error> {
    if ec.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let count = u16::try_from(ec.len()).map_err(|_| Error::EncryptionContextTooLarge)?;
    out.extend_from_slice(&count.to_be_bytes());
    for (k, v) in ec {
        for part in [k.as_bytes(), v.as_bytes()] {
            let len = u16::try_from(part.len()).map_err(|_| Error::EncryptionContextTooLarge)?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    if out.len() > usize::from(u16::MAX) {
        return Err(Error::EncryptionContextTooLarge);
    }
    Ok(out)
}

/// Parses a serialized encryption context (the header's AAD field). Order is not checked (the
/// header tag authenticates the bytes as written); duplicate keys and non-UTF-8 are refused.
pub(crate) fn parse(bytes: &[u8]) -> Result<EncryptionContext, Error> {
    let mut ec = EncryptionContext::new();
    if bytes.is_empty() {
        return Ok(ec);
    }
    let mut r = Reader::new(bytes);
    let count = r.u16()?;
    for _ in 0..count {
        let key = utf8(r.u16_prefixed()?)?;
        let value = utf8(r.u16_prefixed()?)?;
        if ec.insert(key, value).is_some() {
            return Err(Error::Malformed("duplicate encryption context key"));
        }
    }
    if !r.is_empty() {
        return Err(Error::Malformed("encryption context length mismatch"));
    }
    Ok(ec)
}

fn utf8(bytes: &[u8]) -> Result<String, Error> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::Malformed("encryption context is not UTF-8"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_context_is_zero_bytes() {
        assert!(serialize(&EncryptionContext::new()).unwrap().is_empty());
        assert!(parse(&[]).unwrap().is_empty());
    }

    #[test]
    fn sorted_by_utf8_bytes_and_round_trips() {
        let ec: EncryptionContext = [("b", "2"), ("a", "1"), ("\u{00e9}", "3"), ("Z", "4")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let bytes = serialize(&ec).unwrap();
        assert_eq!(
            bytes,
            b"\x00\x04\x00\x01Z\x00\x014\x00\x01a\x00\x011\x00\x01b\x00\x012\x00\x02\xc3\xa9\x00\x013"
        );
        assert_eq!(parse(&bytes).unwrap(), ec);
    }

    #[test]
    fn malformed_contexts_are_refused() {
        assert!(parse(b"\x00\x02\x00\x01a\x00\x011\x00\x01a\x00\x012").is_err());
        assert!(parse(b"\x00\x01\x00\x01a\x00\x021").is_err());
        assert!(parse(b"\x00\x01\x00\x01a\x00\x011extra").is_err());
        assert!(parse(b"\x00\x01\x00\x01\xff\x00\x011").is_err());
        let big: EncryptionContext = [("k".to_owned(), "v".repeat(70_000))].into();
        assert!(serialize(&big).is_err());
    }
}
