//! The barrier: every secret the store writes is sealed here first.
//!
//! Format of a sealed value: `0x01 || nonce (12) || AES-256-GCM ciphertext || tag (16)` under
//! the first root key (term 0), or `0x02 || term (4, big-endian) || nonce || ciphertext || tag`
//! under a later term, with the row's identity as AAD. Binding the identity means a ciphertext
//! copied into another row (another key's material, another user's access key) fails to open
//! instead of silently becoming that row's secret.
//!
//! **Terms** (`trent operator rotate-root`): a new root key becomes the newest term and seals
//! every new value; the earlier root keys stay in a *keyring*, itself sealed under the newest
//! root key and kept in the store (see [`Barrier::keyring_name`]), so every row written before
//! stays readable. A store that was never rotated has no keyring and writes format 1, as it
//! always did.

use trent_crypto::{Aes256GcmKey, GCM_NONCE_LEN, SecretBytes};
use zeroize::Zeroizing;

use crate::StoreError;

const VERSION: u8 = 1;
const VERSION_TERM: u8 = 2;
const KEYRING_LABEL: &[u8] = b"trent barrier keyring v1";
const ROOT_KEY_LEN: usize = 32;

/// Encrypts and decrypts store rows under the root key (and the earlier terms it keeps).
pub struct Barrier {
    /// The root key this barrier was made with: it seals new values and the keyring.
    root: Aes256GcmKey,
    /// The root key's term (0 until the first rotation).
    term: u32,
    /// Earlier terms, from the keyring.
    older: Vec<(u32, Aes256GcmKey)>,
    /// Where this root key's keyring is kept (see [`Barrier::keyring_name`]).
    keyring_name: String,
}

impl Barrier {
    /// A barrier over a 32-byte root key, as term 0 until [`Barrier::install_keyring`] says
    /// otherwise.
    pub fn new(root_key: &SecretBytes) -> Result<Self, StoreError> {
        let root = Aes256GcmKey::new(root_key.expose_secret()).map_err(StoreError::Crypto)?;
        let id = trent_crypto::hmac_sha256(root_key.expose_secret(), KEYRING_LABEL);
        Ok(Barrier {
            root,
            term: 0,
            older: Vec::new(),
            keyring_name: format!(
                "barrier_keyring:{}",
                trent_crypto::hex(id.get(..12).unwrap_or_default())
            ),
        })
    }

    /// The `meta` row holding this root key's keyring: named by an HMAC of the root key, so a
    /// root key finds only its own keyring (and an older root key none that knows the newer
    /// terms).
    pub fn keyring_name(&self) -> &str {
        &self.keyring_name
    }

    /// The term new values are sealed under.
    pub fn term(&self) -> u32 {
        self.term
    }

    /// A keyring for a new root key that follows this one: this barrier's root key and every
    /// earlier term, the new root key's term being the next one. `root_key` must be this
    /// barrier's root key (a mismatch is refused).
    pub fn next_keyring(
        &self,
        root_key: &SecretBytes,
        older: &KeyringKeys,
    ) -> Result<KeyringKeys, StoreError> {
        let check = Barrier::new(root_key)?;
        if check.keyring_name != self.keyring_name {
            return Err(StoreError::WrongRootKey);
        }
        let mut keys = KeyringKeys {
            term: self
                .term
                .checked_add(1)
                .ok_or(StoreError::Corrupt("too many root key terms"))?,
            older: Vec::new(),
        };
        for (term, key) in &older.older {
            keys.older
                .push((*term, SecretBytes::copy_from(key.expose_secret())));
        }
        keys.older
            .push((self.term, SecretBytes::copy_from(root_key.expose_secret())));
        Ok(keys)
    }

    /// Seals `keys` (for the root key of this barrier) for its `meta` row.
    pub fn seal_keyring(&self, keys: &KeyringKeys) -> Result<Vec<u8>, StoreError> {
        let mut plain = Zeroizing::new(Vec::with_capacity(4 + keys.older.len() * 36));
        plain.extend_from_slice(&keys.term.to_be_bytes());
        for (term, key) in &keys.older {
            plain.extend_from_slice(&term.to_be_bytes());
            plain.extend_from_slice(key.expose_secret());
        }
        let key = [self.keyring_name.as_str()];
        let id = RowIdentity {
            table: "meta",
            key: &key,
        };
        seal_with(&self.root, 0, &id, &plain)
    }

    /// Opens this root key's keyring and takes its terms: the root key becomes the keyring's
    /// term, the older keys open older rows. Returns the keys, for a later rotation.
    pub fn install_keyring(&mut self, sealed: &[u8]) -> Result<KeyringKeys, StoreError> {
        let name = [self.keyring_name.as_str()];
        let id = RowIdentity {
            table: "meta",
            key: &name,
        };
        let plain = self.open_with(&self.root, &id, sealed)?;
        let (term, mut rest) = plain
            .expose_secret()
            .split_first_chunk::<4>()
            .ok_or(StoreError::Corrupt("barrier keyring"))?;
        let mut keys = KeyringKeys {
            term: u32::from_be_bytes(*term),
            older: Vec::new(),
        };
        while !rest.is_empty() {
            let (term, after) = rest
                .split_first_chunk::<4>()
                .ok_or(StoreError::Corrupt("barrier keyring"))?;
            let (key, after) = after
                .split_at_checked(ROOT_KEY_LEN)
                .ok_or(StoreError::Corrupt("barrier keyring"))?;
            keys.older
                .push((u32::from_be_bytes(*term), SecretBytes::copy_from(key)));
            rest = after;
        }
        self.term = keys.term;
        self.older = keys
            .older
            .iter()
            .map(|(t, k)| {
                Ok((
                    *t,
                    Aes256GcmKey::new(k.expose_secret()).map_err(StoreError::Crypto)?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(keys)
    }

    /// Seals `plaintext` for the row named by `identity`, under the newest term.
    pub fn seal(
        &self,
        identity: &RowIdentity<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        seal_with(&self.root, self.term, identity, plaintext)
    }

    /// The term a sealed value was written under.
    pub fn term_of(sealed: &[u8]) -> Option<u32> {
        match sealed.split_first()? {
            (&VERSION, _) => Some(0),
            (&VERSION_TERM, rest) => rest.first_chunk::<4>().map(|t| u32::from_be_bytes(*t)),
            _ => None,
        }
    }

    /// Opens a value sealed for the row named by `identity`, under any term this barrier knows.
    pub fn open(
        &self,
        identity: &RowIdentity<'_>,
        sealed: &[u8],
    ) -> Result<SecretBytes, StoreError> {
        let term = Barrier::term_of(sealed).ok_or(StoreError::Corrupt("unknown barrier format"))?;
        let key = if term == self.term {
            &self.root
        } else {
            self.older
                .iter()
                .find(|(t, _)| *t == term)
                .map(|(_, k)| k)
                .ok_or(StoreError::BarrierOpen)?
        };
        self.open_with(key, identity, sealed)
    }

    fn open_with(
        &self,
        key: &Aes256GcmKey,
        identity: &RowIdentity<'_>,
        sealed: &[u8],
    ) -> Result<SecretBytes, StoreError> {
        let rest = match sealed.split_first() {
            Some((&VERSION, rest)) => rest,
            Some((&VERSION_TERM, rest)) => rest
                .get(4..)
                .ok_or(StoreError::Corrupt("barrier value too short"))?,
            _ => return Err(StoreError::Corrupt("unknown barrier format")),
        };
        let (nonce, ciphertext) = rest
            .split_at_checked(GCM_NONCE_LEN)
            .ok_or(StoreError::Corrupt("barrier value too short"))?;
        let nonce: [u8; GCM_NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| StoreError::Corrupt("barrier nonce"))?;
        key.open(nonce, &identity.aad(), ciphertext)
            .map_err(|_| StoreError::BarrierOpen)
    }
}

fn seal_with(
    key: &Aes256GcmKey,
    term: u32,
    identity: &RowIdentity<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let nonce: [u8; GCM_NONCE_LEN] = trent_crypto::random_array().map_err(StoreError::Crypto)?;
    let mut out = Vec::with_capacity(5 + GCM_NONCE_LEN + plaintext.len() + 16);
    if term == 0 {
        out.push(VERSION);
    } else {
        out.push(VERSION_TERM);
        out.extend_from_slice(&term.to_be_bytes());
    }
    out.extend_from_slice(&nonce);
    // Zeroizing: should sealing fail, the copy still holds the plaintext.
    let mut body = Zeroizing::new(plaintext.to_vec());
    let tag = key
        .seal_in_place_separate_tag(nonce, &identity.aad(), &mut body)
        .map_err(StoreError::Crypto)?;
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// The keys of a keyring: the term of the root key it belongs to, and the earlier terms' keys.
pub struct KeyringKeys {
    pub term: u32,
    older: Vec<(u32, SecretBytes)>,
}

impl KeyringKeys {
    /// The keyring of a store that was never rotated: term 0, nothing older.
    pub fn first() -> Self {
        KeyringKeys {
            term: 0,
            older: Vec::new(),
        }
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
    fn a_rotated_root_key_opens_every_term_and_an_old_one_not_the_new() {
        let k0 = SecretBytes::random(32).unwrap();
        let k1 = SecretBytes::random(32).unwrap();
        let k2 = SecretBytes::random(32).unwrap();
        let id = RowIdentity {
            table: "t",
            key: &["k"],
        };
        let b0 = Barrier::new(&k0).unwrap();
        let v0 = b0.seal(&id, b"term 0").unwrap();
        assert_eq!(v0[0], VERSION);
        // First rotation: k1 is term 1 and keeps k0.
        let keys1 = b0.next_keyring(&k0, &KeyringKeys::first()).unwrap();
        let mut b1 = Barrier::new(&k1).unwrap();
        let ring1 = b1.seal_keyring(&keys1).unwrap();
        let keys1 = b1.install_keyring(&ring1).unwrap();
        assert_eq!(b1.term(), 1);
        let v1 = b1.seal(&id, b"term 1").unwrap();
        assert_eq!(Barrier::term_of(&v1), Some(1));
        // Second rotation: k2 is term 2 and keeps k0 and k1.
        let keys2 = b1.next_keyring(&k1, &keys1).unwrap();
        let mut b2 = Barrier::new(&k2).unwrap();
        let ring2 = b2.seal_keyring(&keys2).unwrap();
        b2.install_keyring(&ring2).unwrap();
        let v2 = b2.seal(&id, b"term 2").unwrap();
        for (v, want) in [(&v0, &b"term 0"[..]), (&v1, b"term 1"), (&v2, b"term 2")] {
            assert_eq!(b2.open(&id, v).unwrap().expose_secret(), want);
        }
        // The old root keys do not open newer terms; one root key's keyring is not another's.
        assert!(matches!(b0.open(&id, &v1), Err(StoreError::BarrierOpen)));
        assert!(b1.open(&id, &v2).is_err());
        let mut other = Barrier::new(&k1).unwrap();
        assert!(other.install_keyring(&ring2).is_err());
        assert!(b1.next_keyring(&k0, &keys1).is_err());
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
