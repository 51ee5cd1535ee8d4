//! Where a data directory's state lives: the embedded SQLite database inside it (the default), or
//! a PostgreSQL database shared by several nodes. `trent serve --store postgres://...` records
//! the URL in the data directory (`store-url`, 0600: it may hold a password), so that every tool
//! working on the data directory (audit, accounts, root key rotation) finds the same store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use trent_crypto::SecretBytes;

use crate::{Barrier, PostgresStore, Result, SqliteStore, Store, StoreError};

/// The file in the data directory that names a PostgreSQL store.
pub const STORE_URL_FILE: &str = "store-url";

#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `trent.db` in this data directory.
    Embedded(PathBuf),
    /// A `postgres://` (or `postgresql://`) URL.
    Postgres(String),
}

/// Without the password a PostgreSQL URL may carry.
impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Embedded(dir) => f.debug_tuple("Embedded").field(dir).finish(),
            StoreLocation::Postgres(url) => {
                f.debug_tuple("Postgres").field(&redact_url(url)).finish()
            }
        }
    }
}

impl StoreLocation {
    /// The store named by `explicit` (`sqlite`, or a PostgreSQL URL), else the one the data
    /// directory recorded, else the embedded store.
    pub fn resolve(data_dir: &Path, explicit: Option<&str>) -> Result<StoreLocation> {
        if let Some(given) = explicit {
            return Self::parse(data_dir, given);
        }
        match std::fs::read_to_string(data_dir.join(STORE_URL_FILE)) {
            Ok(text) => Self::parse(data_dir, text.trim()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(StoreLocation::Embedded(data_dir.to_path_buf()))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn parse(data_dir: &Path, given: &str) -> Result<StoreLocation> {
        if given.eq_ignore_ascii_case("sqlite") || given.eq_ignore_ascii_case("embedded") {
            Ok(StoreLocation::Embedded(data_dir.to_path_buf()))
        } else if given.starts_with("postgres://") || given.starts_with("postgresql://") {
            Ok(StoreLocation::Postgres(given.to_owned()))
        } else {
            Err(StoreError::Corrupt(
                "a store is `sqlite` or a postgres:// URL",
            ))
        }
    }

    /// Records this location in `data_dir` for the tools that open it later (nothing to record
    /// for the embedded store, which is where they look first; a recorded URL is removed).
    pub fn remember(&self, data_dir: &Path) -> Result<()> {
        let path = data_dir.join(STORE_URL_FILE);
        match self {
            StoreLocation::Embedded(_) => crate::seal::remove_if_present(&path),
            StoreLocation::Postgres(url) => {
                if std::fs::read_to_string(&path).is_ok_and(|t| t.trim() == url) {
                    return Ok(());
                }
                crate::seal::remove_if_present(&path)?;
                let mut file = crate::create_private(&path)?;
                std::io::Write::write_all(&mut file, format!("{url}\n").as_bytes())?;
                file.sync_all()?;
                Ok(())
            }
        }
    }

    /// Whether a store was ever created here (the embedded database file exists; a PostgreSQL
    /// store is checked when opened).
    pub fn exists(&self) -> bool {
        match self {
            StoreLocation::Embedded(dir) => dir.join(crate::DATABASE_FILE).exists(),
            StoreLocation::Postgres(_) => true,
        }
    }

    /// Opens the store (creating and migrating it if needed) with `barrier`'s root key.
    pub async fn open(&self, barrier: Barrier) -> Result<Arc<dyn Store>> {
        Ok(match self {
            StoreLocation::Embedded(dir) => Arc::new(SqliteStore::open(dir, barrier).await?),
            StoreLocation::Postgres(url) => Arc::new(PostgresStore::open(url, barrier).await?),
        })
    }

    /// Opens the store with `current_root` and records `new_root` as its next root key term
    /// (see [`SqliteStore::add_root_key_term`]).
    pub async fn add_root_key_term(
        &self,
        current_root: &SecretBytes,
        new_root: &SecretBytes,
    ) -> Result<()> {
        match self {
            StoreLocation::Embedded(dir) => {
                let store = SqliteStore::open(dir, Barrier::new(current_root)?).await?;
                let added = store.add_root_key_term(current_root, new_root).await;
                store.close().await;
                added
            }
            StoreLocation::Postgres(url) => {
                let store = PostgresStore::open(url, Barrier::new(current_root)?).await?;
                let added = store.add_root_key_term(current_root, new_root).await;
                store.close().await;
                added
            }
        }
    }

    /// For messages: the embedded database's path, or the PostgreSQL server without its
    /// credentials.
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Embedded(dir) => dir.join(crate::DATABASE_FILE).display().to_string(),
            StoreLocation::Postgres(url) => redact_url(url),
        }
    }
}

/// `postgres://user:password@host/db` without the password.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "postgres".to_owned();
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    format!("{scheme}://{host}/{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords_and_options() {
        assert_eq!(
            redact_url("postgres://trent:s3cret@db:5432/trent?sslmode=require&password=x"),
            "postgres://trent@db:5432/trent"
        );
        assert_eq!(redact_url("postgres://db/trent"), "postgres://db/trent");
    }
}
