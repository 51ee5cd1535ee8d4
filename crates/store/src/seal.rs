//! Seals protect the root key. This is the `file` seal, for development: the root key sits in a
//! 0600 file beside the data. Anyone who can read the data directory can read the key, so it
//! protects against leaked database files and backups, not against a compromised host. Stronger
//! seals (Shamir shares, PKCS#11, KMS auto-unseal) plug in at this seam.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use trent_crypto::SecretBytes;

use crate::StoreError;

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
