//! The ciphertext blob of symmetric KMS keys.
//!
//! ```text
//! offset  size  field
//! 0       1     format version (0x01)
//! 1       1+a   account id, length-prefixed (u8)
//! ..      1+r   region, length-prefixed (u8)
//! ..      1+k   key id, length-prefixed (u8)
//! ..      32    key material id (raw; shown as 64 hex digits)
//! ..      16    salt: per-call key = HKDF-SHA-256(material, salt, INFO)
//! ..      12    AES-GCM nonce
//! ..      4     header check: the first 4 bytes of SHA-256 over the fields above
//! ..      n     ciphertext
//! ..      16    AES-GCM tag
//! ```
//! Everything before the ciphertext is the *header*. The header check is not a security
//! mechanism (GCM authenticates the header); it tells a corrupted blob (InvalidCiphertext) from
//! an intact blob whose key is gone or elsewhere (AccessDenied), before any key is looked up. The AES-GCM associated data is the header
//! followed by the canonical encryption context, so a changed byte anywhere — key id, material id,
//! salt, nonce, ciphertext, tag or context — fails authentication.
//!
//! The blob names its key, so Decrypt needs no KeyId; it names the material version, so old
//! ciphertexts decrypt after rotation without trial decryption. The per-call key derived from a
//! random 128-bit salt means no key ever sees enough (key, nonce) pairs for GCM's nonce-collision
//! bound to matter.

use trent_crypto::{GCM_NONCE_LEN, GCM_TAG_LEN};

pub const FORMAT_V1: u8 = 0x01;
pub const MATERIAL_ID_LEN: usize = 32;
pub const SALT_LEN: usize = 16;
pub const CHECK_LEN: usize = 4;
/// HKDF info string: domain separation for the per-call key.
pub const INFO: &[u8] = b"trent kms symmetric ciphertext v1";

/// A parsed blob, borrowing from the input.
#[derive(Debug, PartialEq, Eq)]
pub struct Blob<'a> {
    pub account_id: &'a str,
    pub region: &'a str,
    pub key_id: &'a str,
    pub material_id: [u8; MATERIAL_ID_LEN],
    pub salt: [u8; SALT_LEN],
    pub nonce: [u8; GCM_NONCE_LEN],
    /// The authenticated header: every byte before the ciphertext.
    pub header: &'a [u8],
    /// Ciphertext followed by the tag.
    pub ciphertext_and_tag: &'a [u8],
}

/// Why a blob could not be parsed. Decrypt reports every case as `InvalidCiphertextException`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed ciphertext blob: {0}")]
pub struct BlobError(pub &'static str);

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], BlobError> {
        let end = self.pos.checked_add(n).ok_or(BlobError(what))?;
        let s = self.buf.get(self.pos..end).ok_or(BlobError(what))?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], BlobError> {
        self.take(N, what)?.try_into().map_err(|_| BlobError(what))
    }

    fn short_str(&mut self, what: &'static str) -> Result<&'a str, BlobError> {
        let [len] = self.array::<1>(what)?;
        let bytes = self.take(usize::from(len), what)?;
        let s = std::str::from_utf8(bytes).map_err(|_| BlobError(what))?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(BlobError(what));
        }
        Ok(s)
    }
}

impl<'a> Blob<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, BlobError> {
        let mut r = Reader { buf, pos: 0 };
        let [version] = r.array::<1>("version")?;
        if version != FORMAT_V1 {
            return Err(BlobError("unknown format version"));
        }
        let account_id = r.short_str("account id")?;
        let region = r.short_str("region")?;
        let key_id = r.short_str("key id")?;
        let material_id = r.array("material id")?;
        let salt = r.array("salt")?;
        let nonce = r.array("nonce")?;
        let check: [u8; CHECK_LEN] = r.array("header check")?;
        let checked = buf.get(..r.pos - CHECK_LEN).ok_or(BlobError("header"))?;
        if header_check(checked) != check {
            return Err(BlobError("header check mismatch"));
        }
        let (header, rest) = buf.split_at_checked(r.pos).ok_or(BlobError("header"))?;
        if rest.len() < GCM_TAG_LEN {
            return Err(BlobError("ciphertext too short"));
        }
        Ok(Blob {
            account_id,
            region,
            key_id,
            material_id,
            salt,
            nonce,
            header,
            ciphertext_and_tag: rest,
        })
    }
}

/// Writes the header of a new blob; the caller appends ciphertext and tag.
pub fn write_header(
    account_id: &str,
    region: &str,
    key_id: &str,
    material_id: &[u8; MATERIAL_ID_LEN],
    salt: &[u8; SALT_LEN],
    nonce: &[u8; GCM_NONCE_LEN],
    plaintext_len: usize,
) -> Result<Vec<u8>, BlobError> {
    let mut out = Vec::with_capacity(
        4 + account_id.len()
            + region.len()
            + key_id.len()
            + MATERIAL_ID_LEN
            + SALT_LEN
            + GCM_NONCE_LEN
            + CHECK_LEN
            + plaintext_len
            + GCM_TAG_LEN,
    );
    out.push(FORMAT_V1);
    for (s, what) in [
        (account_id, "account id"),
        (region, "region"),
        (key_id, "key id"),
    ] {
        let len = u8::try_from(s.len()).map_err(|_| BlobError(what))?;
        out.push(len);
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(material_id);
    out.extend_from_slice(salt);
    out.extend_from_slice(nonce);
    let check = header_check(&out);
    out.extend_from_slice(&check);
    Ok(out)
}

fn header_check(fields: &[u8]) -> [u8; CHECK_LEN] {
    let digest = trent_crypto::sha256(fields);
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(digest.get(..CHECK_LEN).unwrap_or(&[0; CHECK_LEN]));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut b = write_header(
            "111122223333",
            "us-east-1",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            &[7; 32],
            &[8; 16],
            &[9; 12],
            5,
        )
        .unwrap();
        b.extend_from_slice(&[1, 2, 3, 4, 5]);
        b.extend_from_slice(&[0xaa; 16]);
        b
    }

    #[test]
    fn round_trip() {
        let buf = sample();
        let blob = Blob::parse(&buf).unwrap();
        assert_eq!(blob.account_id, "111122223333");
        assert_eq!(blob.region, "us-east-1");
        assert_eq!(blob.key_id, "1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(blob.material_id, [7; 32]);
        assert_eq!(blob.salt, [8; 16]);
        assert_eq!(blob.nonce, [9; 12]);
        assert_eq!(blob.ciphertext_and_tag.len(), 21);
        assert_eq!(blob.header.len() + 21, buf.len());
    }

    #[test]
    fn every_truncation_is_rejected_or_shorter() {
        let buf = sample();
        for n in 0..buf.len() - 5 {
            assert!(
                Blob::parse(&buf[..n]).is_err(),
                "prefix of {n} bytes parsed"
            );
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 200) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (x >> (i % 56)) as u8).collect();
            let _ = Blob::parse(&bytes);
            let mut s = sample();
            let i = (x as usize) % s.len();
            s[i] = (x >> 8) as u8;
            let _ = Blob::parse(&s);
        }
    }

    #[test]
    fn every_header_byte_is_covered_by_the_check() {
        let buf = sample();
        let header_len = Blob::parse(&buf).unwrap().header.len();
        for i in 0..header_len {
            for bit in 0..8 {
                let mut t = buf.clone();
                t[i] ^= 1 << bit;
                assert!(Blob::parse(&t).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn unknown_version_is_rejected() {
        let mut buf = sample();
        buf[0] = 2;
        assert_eq!(Blob::parse(&buf), Err(BlobError("unknown format version")));
    }
}
