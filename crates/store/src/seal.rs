//! Seals protect the root key. Every seal implements [`Seal`]: it can give the root key back
//! (or say that key shares are needed), keep a root key for a data directory, and describe
//! itself without revealing anything secret. [`open`] returns the seal a data directory
//! records; [`init`], [`recover_root_key`] and [`migrate`] are written once over the trait.
//!
//! | seal | type | where the root key is |
//! |---|---|---|
//! | `file` | [`FileSeal`] | a 0600 file beside the data |
//! | `shamir` | [`crate::shamir::ShamirSeal`] | split into key shares held by people |
//! | `pkcs11` | [`crate::pkcs11::Pkcs11Seal`] | wrapped by a key inside an HSM |
//! | `kms` | [`crate::kms_seal::KmsSeal`] | encrypted by a key of another KMS (AWS or Trent) |
//!
//! This file also holds the `file` seal, for development: anyone who can read the data
//! directory can read the key, so it protects against leaked database files and backups, not
//! against a compromised host.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use trent_crypto::SecretBytes;
use zeroize::Zeroizing;

use crate::StoreError;
use crate::shamir::{SealKind, ShamirConfig};

/// What a seal gives when asked for the root key.
pub enum Unseal {
    /// The root key.
    Key(SecretBytes),
    /// A threshold of key shares must be given (the Shamir seal): collect them with a
    /// [`crate::shamir::Unsealer`] over this configuration.
    NeedsShares(ShamirConfig),
}

/// What keeping a root key under a seal produced, for the operator.
pub enum Stored {
    /// Where the key now is, in a sentence.
    Done(String),
    /// The key shares to hand out (the Shamir seal), shown once.
    Shares(Vec<Zeroizing<String>>),
}

/// Why a seal could not give or keep the root key. Messages never contain key material, a
/// share or a PIN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    #[error("{0} already exists: this data directory is initialized")]
    AlreadyInitialized(String),
    #[error(
        "the data directory has no root key yet: start the server once, or run \
         `trent operator init`"
    )]
    NotInitialized,
    #[error("the data directory already uses the {0} seal")]
    SameSeal(&'static str),
    #[error(transparent)]
    Shamir(#[from] crate::shamir::ChangeError),
    #[error(transparent)]
    Pkcs11(#[from] crate::pkcs11::Pkcs11Error),
    #[error(transparent)]
    Kms(#[from] crate::kms_seal::KmsSealError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A way of keeping the root key.
pub trait Seal: Send + Sync {
    /// `file`, `shamir`, `pkcs11` or `kms`.
    fn name(&self) -> &'static str;

    /// The public facts of this seal (for status reports): never key material or a PIN.
    fn describe(&self) -> serde_json::Value;

    /// Whether [`Seal::unseal`] gives the key without anyone's help (every seal but Shamir).
    fn is_automatic(&self) -> bool {
        true
    }

    /// The root key of the data directory this seal was opened for, or what it needs.
    fn unseal(&self) -> Result<Unseal, SealError>;

    /// Makes this seal the keeper of `root` for `data_dir`: writes what the seal needs
    /// (atomically), checks it gives `root` back where it can, then removes what the previous
    /// seal kept (the key file, or `seal.json`).
    fn store_root_key(&self, data_dir: &Path, root: &SecretBytes) -> Result<Stored, SealError>;
}

/// The seal `data_dir` records (`seal.json`, or the file seal when there is none).
pub fn open(data_dir: &Path) -> Result<Box<dyn Seal>, StoreError> {
    Ok(match crate::shamir::seal_kind(data_dir)? {
        SealKind::File => Box::new(FileSeal::new(data_dir)),
        SealKind::Shamir(config) => Box::new(crate::shamir::ShamirSeal::existing(config)),
        SealKind::Pkcs11(config) => Box::new(crate::pkcs11::Pkcs11Seal::existing(config)),
        SealKind::Kms(config) => Box::new(crate::kms_seal::KmsSeal::existing(config)),
    })
}

/// Initializes a new data directory with `seal`: makes a root key and has the seal keep it.
/// Refused for a directory that already has a root key, a seal or a database.
pub fn init(data_dir: &Path, seal: &dyn Seal) -> Result<Stored, SealError> {
    if let Some(existing) = crate::shamir::initialized(data_dir) {
        return Err(SealError::AlreadyInitialized(existing));
    }
    std::fs::create_dir_all(data_dir).map_err(StoreError::Io)?;
    let root = SecretBytes::random(ROOT_KEY_LEN).map_err(StoreError::Crypto)?;
    seal.store_root_key(data_dir, &root)
}

/// The root key of `data_dir` from its seal; `shares` (a threshold of them) are used when the
/// seal is Shamir's.
pub fn recover_root_key(data_dir: &Path, shares: &[&str]) -> Result<SecretBytes, SealError> {
    match open(data_dir)?.unseal()? {
        Unseal::Key(key) => Ok(key),
        Unseal::NeedsShares(config) => Ok(crate::shamir::recover(&config, shares)?),
    }
}

/// Moves `data_dir` to the seal `to`, keeping its root key (so everything stored stays
/// readable). `shares` are needed when the current seal is Shamir's.
pub fn migrate(data_dir: &Path, shares: &[&str], to: &dyn Seal) -> Result<Stored, SealError> {
    let from = open(data_dir)?;
    if from.name() == "file" && to.name() == "file" {
        return Err(SealError::SameSeal("file"));
    }
    let root = match from.unseal()? {
        Unseal::Key(key) => key,
        Unseal::NeedsShares(config) => crate::shamir::recover(&config, shares)?,
    };
    to.store_root_key(data_dir, &root)
}

/// A new root key without downtime (`trent operator rotate-root`): the current root key (from
/// the seal, or from `shares` for the Shamir seal) becomes an earlier *term* in a keyring
/// sealed under a new root key, which the same seal then keeps (new shares, a new wrapped or
/// KMS-encrypted key, a new key file). Every row stays as it is and readable; new writes use
/// the new term once a server starts with the new key. Works beside a running server, which
/// keeps its key (writing under the previous term, still readable) until its next start. The
/// store's check value then moves to the new term, so the earlier key, shares or wrapped key
/// no longer open the store.
pub async fn rotate_root(data_dir: &Path, shares: &[&str]) -> Result<Stored, SealError> {
    let seal = open(data_dir)?;
    let current = match seal.unseal()? {
        Unseal::Key(key) => key,
        Unseal::NeedsShares(config) => crate::shamir::recover(&config, shares)?,
    };
    let location = crate::StoreLocation::resolve(data_dir, None)?;
    if !location.exists() {
        return Err(SealError::NotInitialized);
    }
    let new_root = SecretBytes::random(ROOT_KEY_LEN).map_err(StoreError::Crypto)?;
    // Opening checks that the key is this store's.
    location.add_root_key_term(&current, &new_root).await?;
    let stored = seal.store_root_key(data_dir, &new_root)?;
    // The first open under the new key moves the check value to its term.
    let store = location.open(crate::Barrier::new(&new_root)?).await?;
    store.close().await;
    Ok(stored)
}

/// Removes `path` if it exists.
pub(crate) fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

const ROOT_KEY_LEN: usize = 32;

/// Name of the root key file inside the data directory.
pub const ROOT_KEY_FILE: &str = "root.key";

const HEADER: &str = "# Trent root key (file seal, for development only). Keep this file secret.\n";

/// The file seal: reads the root key from `<dir>/root.key`, creating it (mode 0600) on first use.
pub struct FileSeal {
    path: PathBuf,
}

impl FileSeal {
    pub fn new(data_dir: &Path) -> Self {
        FileSeal {
            path: data_dir.join(ROOT_KEY_FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the root key, generating it if the file does not exist. Returns the key and whether
    /// it was created now.
    pub fn unseal_or_init(&self) -> Result<(SecretBytes, bool), StoreError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok((parse(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretBytes::random(32).map_err(StoreError::Crypto)?;
                self.write(&key)?;
                Ok((key, true))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads an existing root key file.
    pub fn read(&self) -> Result<SecretBytes, StoreError> {
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(&self.path)?);
        parse(&text)
    }

    /// Writes `key` to a new root key file (mode 0600, synced). Fails if the file exists.
    pub fn write(&self, key: &SecretBytes) -> Result<(), StoreError> {
        let mut f = create_private(&self.path)?;
        let contents = SecretBytes::new(
            format!("{HEADER}{}\n", trent_crypto::hex(key.expose_secret())).into_bytes(),
        );
        f.write_all(contents.expose_secret())?;
        f.sync_all()?;
        Ok(())
    }
}

impl Seal for FileSeal {
    fn name(&self) -> &'static str {
        "file"
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({"seal": "file", "path": self.path.display().to_string()})
    }

    fn unseal(&self) -> Result<Unseal, SealError> {
        if !self.path.exists() {
            return Err(SealError::NotInitialized);
        }
        Ok(Unseal::Key(self.read()?))
    }

    fn store_root_key(&self, data_dir: &Path, root: &SecretBytes) -> Result<Stored, SealError> {
        // Written beside and renamed over, so a key file being replaced is never half-written.
        let temp = data_dir.join(format!("{ROOT_KEY_FILE}.new"));
        remove_if_present(&temp)?;
        FileSeal { path: temp.clone() }.write(root)?;
        std::fs::rename(&temp, &self.path).map_err(StoreError::Io)?;
        remove_if_present(&data_dir.join(crate::shamir::SEAL_CONFIG_FILE))?;
        Ok(Stored::Done(format!(
            "the root key is in {} (the file seal, for development)",
            self.path.display()
        )))
    }
}

fn parse(text: &str) -> Result<SecretBytes, StoreError> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or(StoreError::Corrupt("root key file has no key"))?;
    let bytes = trent_crypto::unhex(line).ok_or(StoreError::Corrupt("root key file is not hex"))?;
    if bytes.len() != 32 {
        return Err(StoreError::Corrupt("root key must be 32 bytes"));
    }
    Ok(SecretBytes::new(bytes))
}

/// Creates a new file readable only by its owner. Fails if it exists.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts.open(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let seal = FileSeal::new(dir.path());
        let (k1, created) = seal.unseal_or_init().unwrap();
        assert!(created);
        let (k2, created) = seal.unseal_or_init().unwrap();
        assert!(!created);
        assert_eq!(k1.expose_secret(), k2.expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(seal.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod conformance {
    //! What every seal that runs without a network or an HSM must do through the trait (the
    //! PKCS#11 and KMS seals are held to the same in crates/trent/tests/it/seal.rs).
    use super::*;

    fn seals(dir: &Path) -> Vec<Box<dyn Seal>> {
        vec![
            Box::new(FileSeal::new(dir)),
            Box::new(crate::shamir::ShamirSeal::new(3, 2).unwrap()),
        ]
    }

    #[test]
    fn every_seal_keeps_and_gives_back_the_root_key_and_describes_no_secret() {
        for index in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            let seal = seals(dir.path()).remove(index);
            let stored = init(dir.path(), seal.as_ref()).unwrap();
            let shares: Vec<Zeroizing<String>> = match stored {
                Stored::Shares(s) => s,
                Stored::Done(_) => Vec::new(),
            };
            let refs: Vec<&str> = shares.iter().map(|s| s.as_str()).collect();
            let key = recover_root_key(dir.path(), &refs).unwrap();
            assert_eq!(key.len(), 32);
            // The recorded seal is the one that kept the key, and says nothing secret.
            let opened = open(dir.path()).unwrap();
            assert_eq!(opened.name(), seal.name());
            let described = opened.describe().to_string();
            assert!(!described.contains(&trent_crypto::hex(key.expose_secret())));
            assert_eq!(opened.is_automatic(), seal.name() != "shamir");
            // A second init is refused; moving to the other seal and back keeps the key.
            assert!(matches!(
                init(dir.path(), seal.as_ref()),
                Err(SealError::AlreadyInitialized(_))
            ));
            let other = seals(dir.path()).remove(1 - index);
            let moved = migrate(dir.path(), &refs, other.as_ref()).unwrap();
            let shares: Vec<Zeroizing<String>> = match moved {
                Stored::Shares(s) => s,
                Stored::Done(_) => Vec::new(),
            };
            let refs: Vec<&str> = shares.iter().map(|s| s.as_str()).collect();
            let again = recover_root_key(dir.path(), &refs).unwrap();
            assert_eq!(again.expose_secret(), key.expose_secret());
            assert_eq!(
                dir.path().join(ROOT_KEY_FILE).exists(),
                other.name() == "file"
            );
            assert_eq!(
                dir.path().join(crate::shamir::SEAL_CONFIG_FILE).exists(),
                other.name() != "file"
            );
        }
    }

    #[test]
    fn rotate_root_retires_the_old_key_and_keeps_rows() {
        use crate::Store as _;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let (old, _) = FileSeal::new(dir.path()).unseal_or_init().unwrap();
            let store = crate::SqliteStore::open(dir.path(), crate::Barrier::new(&old).unwrap())
                .await
                .unwrap();
            let secret = SecretBytes::new(b"kept across the rotation".to_vec());
            assert!(store.put_sealed_meta_once("s", &secret).await.unwrap());
            store.close().await;

            let stored = rotate_root(dir.path(), &[]).await.unwrap();
            assert!(matches!(stored, Stored::Done(_)));
            let new = FileSeal::new(dir.path()).read().unwrap();
            assert_ne!(new.expose_secret(), old.expose_secret());
            let store = crate::SqliteStore::open(dir.path(), crate::Barrier::new(&new).unwrap())
                .await
                .unwrap();
            let back = store.get_sealed_meta("s").await.unwrap().unwrap();
            assert_eq!(back.expose_secret(), secret.expose_secret());
            store.close().await;
            let refused =
                crate::SqliteStore::open(dir.path(), crate::Barrier::new(&old).unwrap()).await;
            assert!(matches!(refused, Err(StoreError::WrongRootKey)));
        });
    }
}
