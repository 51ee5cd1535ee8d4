//! The barrier: every secret the store writes is sealed here first.
//!
//! Format of a sealed value: `0x01 || nonce (12) || AES-256-GCM ciphertext || tag (16)`, under the
//! root key, with the row's identity as AAD. Binding the identity means a ciphertext copied into
//! another row (another key's material, another user's access key) fails to open instead of
//! silently becoming that row's secret.

use trent_crypto::{Aes256GcmKey, GCM_NONCE_LEN, SecretBytes};

use crate::StoreError;

const VERSION: u8 = 1;

/// Encrypts and decrypts store rows under the root key.
pub struct Barrier {
    key: Aes256GcmKey,
}

impl Barrier {
    /// A barrier over a 32-byte root key.
    pub fn new(root_key: &SecretBytes) -> Result<Self, StoreError> {
        let key = Aes256GcmKey::new(root_key.expose_secret()).map_err(StoreError::Crypto)?;
        Ok(Barrier { key })
    }

    /// Seals `plaintext` for the row named by `identity`.
    pub fn seal(
        &self,
        identity: &RowIdentity<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let nonce: [u8; GCM_NONCE_LEN] =
            trent_crypto::random_array().map_err(StoreError::Crypto)?;
        let mut out = Vec::with_capacity(1 + GCM_NONCE_LEN + plaintext.len() + 16);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, &identity.aad(), &mut body)
            .map_err(StoreError::Crypto)?;
        out.extend_from_slice(&body);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Opens a value sealed for the row named by `identity`.
    pub fn open(
        &self,
        identity: &RowIdentity<'_>,
        sealed: &[u8],
    ) -> Result<SecretBytes, StoreError> {
        let Some((&VERSION, rest)) = sealed.split_first() else {
            return Err(StoreError::Corrupt("unknown barrier format"));
        };
        let (nonce, ciphertext) = rest
            .split_at_checked(GCM_NONCE_LEN)
            .ok_or(StoreError::Corrupt("barrier value too short"))?;
        let nonce: [u8; GCM_NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| StoreError::Corrupt("barrier nonce"))?;
        self.key
            .open(nonce, &identity.aad(), ciphertext)
            .map_err(|_| StoreError::BarrierOpen)
    }
}

/// The identity of a row holding a secret: its table and its key columns.
pub struct RowIdentity<'a> {
    pub table: &'static str,
    pub key: &'a [&'a str],
}

impl RowIdentity<'_> {
    /// Unambiguous encoding: every part length-prefixed.
    fn aad(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for part in std::iter::once(self.table).chain(self.key.iter().copied()) {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn rows_cannot_be_swapped() {
        let b = Barrier::new(&SecretBytes::random(32).unwrap()).unwrap();
        let a = RowIdentity {
            table: "t",
            key: &["ab", "c"],
        };
        let other = RowIdentity {
            table: "t",
            key: &["a", "bc"],
        };
        let sealed = b.seal(&a, b"secret").unwrap();
        assert_eq!(b.open(&a, &sealed).unwrap().expose_secret(), b"secret");
        assert!(matches!(
            b.open(&other, &sealed),
            Err(StoreError::BarrierOpen)
        ));
        let mut t = sealed.clone();
        t[5] ^= 1;
        assert!(b.open(&a, &t).is_err());
        assert!(b.open(&a, &sealed[..10]).is_err());
        assert!(b.open(&a, &[]).is_err());
    }

    #[test]
    fn another_root_key_cannot_open() {
        let b1 = Barrier::new(&SecretBytes::random(32).unwrap()).unwrap();
        let b2 = Barrier::new(&SecretBytes::random(32).unwrap()).unwrap();
        let id = RowIdentity {
            table: "t",
            key: &["k"],
        };
        let sealed = b1.seal(&id, b"secret").unwrap();
        assert!(b2.open(&id, &sealed).is_err());
    }
}
