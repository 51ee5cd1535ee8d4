//! The `shamir` seal: the root key exists only in memory, recovered at start from a threshold of
//! key shares that operators hold (`trent operator init --shares N --threshold T`).
//!
//! The data directory keeps `seal.json`: the seal type, N and T, a random id of this
//! initialization, and a check value (HMAC-SHA256 of a fixed label under the root key) that tells
//! a correct reconstruction from a wrong one without revealing anything about the key.
//!
//! A share's text form is `trent-share-v1-` and the hex of: the initialization id (8 bytes), T
//! (1 byte), the Shamir share (its identifier byte and 32 bytes), and the first 4 bytes of the
//! SHA-256 of all that. A typo fails the checksum; a share of another initialization or a second
//! copy of a share is refused by name; a set that reconstructs the wrong key fails the check
//! value and is discarded whole.

use std::io::Write as _;
use std::path::Path;

use trent_crypto::SecretBytes;
use zeroize::Zeroizing;

use crate::StoreError;
use crate::seal::{Seal, SealError, Stored, Unseal};

/// The seal description in the data directory; absent for the file seal.
pub const SEAL_CONFIG_FILE: &str = "seal.json";
const SHARE_PREFIX: &str = "trent-share-v1-";
const CHECK_LABEL: &[u8] = b"trent root key check v1";
const ROOT_KEY_LEN: usize = 32;
/// id (8) + threshold (1) + identifier (1) + key share (32) + checksum (4).
const SHARE_LEN: usize = 8 + 1 + 1 + ROOT_KEY_LEN + 4;

/// How the data directory's root key is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealKind {
    /// `root.key` beside the data (development).
    File,
    Shamir(ShamirConfig),
    /// Wrapped by a key in an HSM (see [`crate::pkcs11`]).
    Pkcs11(crate::pkcs11::Pkcs11Config),
    /// Encrypted by a key of another KMS (see [`crate::kms_seal`]).
    Kms(crate::kms_seal::KmsSealConfig),
}

/// The public facts of a Shamir initialization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShamirConfig {
    pub shares: u8,
    pub threshold: u8,
    init_id: [u8; 8],
    check: [u8; 32],
}

/// Reads the seal configuration of `data_dir` (the file seal when there is none).
pub fn seal_kind(data_dir: &Path) -> Result<SealKind, StoreError> {
    let text = match std::fs::read_to_string(data_dir.join(SEAL_CONFIG_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SealKind::File),
        Err(e) => return Err(e.into()),
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("seal.json is not JSON"))?;
    let field = |name: &str| v.get(name).cloned().unwrap_or_default();
    if field("version") != 1 {
        return Err(StoreError::Corrupt("seal.json has an unknown version"));
    }
    if field("type") == "pkcs11" {
        return Ok(SealKind::Pkcs11(crate::pkcs11::parse(&v)?));
    }
    if field("type") == "kms" {
        return Ok(SealKind::Kms(crate::kms_seal::parse(&v)?));
    }
    if field("type") != "shamir" {
        return Err(StoreError::Corrupt("seal.json names an unknown seal"));
    }
    let byte = |name: &str| {
        field(name)
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .ok_or(StoreError::Corrupt("seal.json has no valid share counts"))
    };
    let hex_field = |name: &str| {
        field(name)
            .as_str()
            .and_then(trent_crypto::unhex)
            .ok_or(StoreError::Corrupt("seal.json has a malformed field"))
    };
    let config = ShamirConfig {
        shares: byte("shares")?,
        threshold: byte("threshold")?,
        init_id: hex_field("init_id")?
            .try_into()
            .map_err(|_| StoreError::Corrupt("seal.json init_id must be 8 bytes"))?,
        check: hex_field("check")?
            .try_into()
            .map_err(|_| StoreError::Corrupt("seal.json check must be 32 bytes"))?,
    };
    if config.threshold < 2 || config.threshold > config.shares {
        return Err(StoreError::Corrupt("seal.json has impossible share counts"));
    }
    Ok(SealKind::Shamir(config))
}

fn check_value(root_key: &[u8]) -> [u8; 32] {
    trent_crypto::hmac_sha256(root_key, CHECK_LABEL)
}

/// Why `init_shamir` refused.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} already exists: this data directory is initialized")]
    AlreadyInitialized(String),
    #[error("shares must be between 2 and 255 and the threshold between 2 and the shares")]
    Counts,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Initializes `data_dir` with the Shamir seal: makes a root key, splits it, writes
/// `seal.json`, and returns the share texts (each to go to a different person). The root key
/// itself is written nowhere. Refused for a directory that already has a root key, a seal or a
/// database.
pub fn init_shamir(
    data_dir: &Path,
    shares: u8,
    threshold: u8,
) -> Result<Vec<Zeroizing<String>>, InitError> {
    if threshold < 2 || threshold > shares {
        return Err(InitError::Counts);
    }
    if let Some(existing) = initialized(data_dir) {
        return Err(InitError::AlreadyInitialized(existing));
    }
    std::fs::create_dir_all(data_dir).map_err(StoreError::Io)?;
    let root = SecretBytes::random(ROOT_KEY_LEN).map_err(StoreError::Crypto)?;
    Ok(write_shamir(data_dir, &root, shares, threshold)?)
}

/// Splits `root` into new shares and (re)writes `seal.json` for them, atomically (a temporary
/// file renamed over the old one). Earlier shares stop working: the new initialization has its
/// own id.
fn write_shamir(
    data_dir: &Path,
    root: &SecretBytes,
    shares: u8,
    threshold: u8,
) -> Result<Vec<Zeroizing<String>>, StoreError> {
    let init_id = trent_crypto::random_array::<8>().map_err(StoreError::Crypto)?;
    let parts = trent_crypto::shamir::split(
        root.expose_secret(),
        usize::from(threshold),
        usize::from(shares),
    )
    .map_err(StoreError::Crypto)?;
    let config = serde_json::json!({
        "type": "shamir",
        "version": 1,
        "shares": shares,
        "threshold": threshold,
        "init_id": trent_crypto::hex(&init_id),
        "check": trent_crypto::hex(&check_value(root.expose_secret())),
    });
    write_seal_config(data_dir, &config)?;
    Ok(parts
        .iter()
        .map(|p| encode_share(&init_id, threshold, p.expose_secret()))
        .collect())
}

/// The first file that shows `data_dir` is already initialized (a seal, a root key or a
/// database), if any.
pub(crate) fn initialized(data_dir: &Path) -> Option<String> {
    [SEAL_CONFIG_FILE, crate::ROOT_KEY_FILE, crate::DATABASE_FILE]
        .iter()
        .map(|name| data_dir.join(name))
        .find(|path| path.exists())
        .map(|path| path.display().to_string())
}

/// Writes `seal.json` atomically: a 0600 temporary file, synced, renamed over the old one.
pub(crate) fn write_seal_config(
    data_dir: &Path,
    config: &serde_json::Value,
) -> Result<(), StoreError> {
    let temp = data_dir.join(format!("{SEAL_CONFIG_FILE}.new"));
    let _ = std::fs::remove_file(&temp);
    let mut f = crate::create_private(&temp)?;
    f.write_all(format!("{config:#}\n").as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&temp, data_dir.join(SEAL_CONFIG_FILE))?;
    Ok(())
}

fn encode_share(init_id: &[u8; 8], threshold: u8, share: &[u8]) -> Zeroizing<String> {
    let mut body = Zeroizing::new(Vec::with_capacity(SHARE_LEN));
    body.extend_from_slice(init_id);
    body.push(threshold);
    body.extend_from_slice(share);
    let sum = trent_crypto::sha256(&body);
    body.extend_from_slice(sum.get(..4).unwrap_or_default());
    Zeroizing::new(format!("{SHARE_PREFIX}{}", trent_crypto::hex(&body)))
}

/// Why rekeying or moving between seals failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("the data directory does not use the {0} seal")]
    NotSealedWith(&'static str),
    #[error("not enough valid shares: {have} of {threshold}")]
    NotEnoughShares { have: u8, threshold: u8 },
    #[error(transparent)]
    Share(#[from] ShareError),
    #[error("shares must be between 2 and 255 and the threshold between 2 and the shares")]
    Counts,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Recovers the root key of a Shamir-sealed directory from share texts (at least the
/// threshold).
pub(crate) fn recover(config: &ShamirConfig, shares: &[&str]) -> Result<SecretBytes, ChangeError> {
    let mut u = Unsealer::new(config.clone());
    for share in shares {
        if let Progress::Unsealed(key) = u.add(share)? {
            return Ok(key);
        }
    }
    Err(ChangeError::NotEnoughShares {
        have: u.have(),
        threshold: config.threshold,
    })
}

fn shamir_config(data_dir: &Path) -> Result<ShamirConfig, ChangeError> {
    match seal_kind(data_dir)? {
        SealKind::Shamir(c) => Ok(c),
        SealKind::File | SealKind::Pkcs11(_) | SealKind::Kms(_) => {
            Err(ChangeError::NotSealedWith("shamir"))
        }
    }
}

/// New shares for the same root key: a threshold of the current shares in, `shares` new ones
/// (any `threshold` of them unseal) out. The current shares stop working.
pub fn rekey(
    data_dir: &Path,
    current: &[&str],
    shares: u8,
    threshold: u8,
) -> Result<Vec<Zeroizing<String>>, ChangeError> {
    if threshold < 2 || threshold > shares {
        return Err(ChangeError::Counts);
    }
    let root = recover(&shamir_config(data_dir)?, current)?;
    Ok(write_shamir(data_dir, &root, shares, threshold)?)
}

/// The Shamir seal, as a [`Seal`]: to keep a root key (split into `shares`, any `threshold`
/// of which recover it), or as a data directory records it (whose key needs shares).
pub struct ShamirSeal {
    shares: u8,
    threshold: u8,
    config: Option<ShamirConfig>,
}

impl ShamirSeal {
    /// A Shamir seal to keep a root key in `shares` shares, `threshold` of which recover it.
    pub fn new(shares: u8, threshold: u8) -> Result<Self, ChangeError> {
        if threshold < 2 || threshold > shares {
            return Err(ChangeError::Counts);
        }
        Ok(ShamirSeal {
            shares,
            threshold,
            config: None,
        })
    }

    pub(crate) fn existing(config: ShamirConfig) -> Self {
        ShamirSeal {
            shares: config.shares,
            threshold: config.threshold,
            config: Some(config),
        }
    }
}

impl Seal for ShamirSeal {
    fn name(&self) -> &'static str {
        "shamir"
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({"seal": "shamir", "shares": self.shares, "threshold": self.threshold})
    }

    fn is_automatic(&self) -> bool {
        false
    }

    fn unseal(&self) -> Result<Unseal, SealError> {
        match &self.config {
            Some(c) => Ok(Unseal::NeedsShares(c.clone())),
            None => Err(SealError::NotInitialized),
        }
    }

    fn store_root_key(&self, data_dir: &Path, root: &SecretBytes) -> Result<Stored, SealError> {
        let shares = write_shamir(data_dir, root, self.shares, self.threshold)?;
        crate::seal::remove_if_present(&data_dir.join(crate::ROOT_KEY_FILE))?;
        Ok(Stored::Shares(shares))
    }
}

/// From the file seal to the Shamir seal: the root key file is split into shares, `seal.json`
/// written, and then the key file deleted.
pub fn migrate_file_to_shamir(
    data_dir: &Path,
    shares: u8,
    threshold: u8,
) -> Result<Vec<Zeroizing<String>>, ChangeError> {
    let to = ShamirSeal::new(shares, threshold)?;
    if !matches!(seal_kind(data_dir)?, SealKind::File) {
        return Err(ChangeError::NotSealedWith("file"));
    }
    match crate::seal::migrate(data_dir, &[], &to) {
        Ok(Stored::Shares(shares)) => Ok(shares),
        Ok(Stored::Done(_)) => Err(StoreError::Corrupt("the Shamir seal made no shares").into()),
        Err(e) => Err(change_error(e)),
    }
}

/// From the Shamir seal back to the file seal: the key recovered from a threshold of shares is
/// written to the root key file, then `seal.json` removed.
pub fn migrate_shamir_to_file(data_dir: &Path, current: &[&str]) -> Result<(), ChangeError> {
    shamir_config(data_dir)?;
    crate::seal::migrate(data_dir, current, &crate::FileSeal::new(data_dir))
        .map(drop)
        .map_err(change_error)
}

fn change_error(e: SealError) -> ChangeError {
    match e {
        SealError::Shamir(e) => e,
        SealError::Store(e) => ChangeError::Store(e),
        SealError::NotInitialized => ChangeError::Store(StoreError::Corrupt("no root key")),
        _ => ChangeError::Store(StoreError::Corrupt("the seal could not be changed")),
    }
}

/// Why a share was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    #[error("this is not a Trent key share (it should start with {SHARE_PREFIX})")]
    Malformed,
    #[error("the share is damaged (its checksum does not match): check for a typo")]
    Checksum,
    #[error("the share belongs to another initialization of Trent")]
    OtherInitialization,
    #[error("this share was already given")]
    Duplicate,
    #[error(
        "the shares given do not reconstruct the root key; they were all discarded: start again"
    )]
    WrongKey,
}

/// What unsealing has reached.
pub enum Progress {
    /// More shares are needed.
    Need { have: u8, threshold: u8 },
    /// The root key, verified against the check value.
    Unsealed(SecretBytes),
}

/// Collects shares until the threshold is reached.
pub struct Unsealer {
    config: ShamirConfig,
    shares: Vec<SecretBytes>,
}

impl Unsealer {
    pub fn new(config: ShamirConfig) -> Self {
        Unsealer {
            config,
            shares: Vec::new(),
        }
    }

    pub fn config(&self) -> &ShamirConfig {
        &self.config
    }

    /// Shares accepted so far.
    pub fn have(&self) -> u8 {
        u8::try_from(self.shares.len()).unwrap_or(u8::MAX)
    }

    /// Forgets the shares given so far.
    pub fn reset(&mut self) {
        self.shares.clear();
    }

    /// Takes one share in its text form.
    pub fn add(&mut self, text: &str) -> Result<Progress, ShareError> {
        let hex = text
            .trim()
            .strip_prefix(SHARE_PREFIX)
            .ok_or(ShareError::Malformed)?;
        let body = Zeroizing::new(trent_crypto::unhex(hex).ok_or(ShareError::Malformed)?);
        if body.len() != SHARE_LEN {
            return Err(ShareError::Malformed);
        }
        let (content, sum) = body.split_at(SHARE_LEN - 4);
        let expected = trent_crypto::sha256(content);
        if !trent_crypto::constant_time_eq(sum, expected.get(..4).unwrap_or_default()) {
            return Err(ShareError::Checksum);
        }
        let (id, rest) = content.split_at(8);
        if id != self.config.init_id || rest.first() != Some(&self.config.threshold) {
            return Err(ShareError::OtherInitialization);
        }
        let share = rest.get(1..).ok_or(ShareError::Malformed)?;
        if self
            .shares
            .iter()
            .any(|s| s.expose_secret().first() == share.first())
        {
            return Err(ShareError::Duplicate);
        }
        self.shares.push(SecretBytes::copy_from(share));
        if self.shares.len() < usize::from(self.config.threshold) {
            return Ok(Progress::Need {
                have: self.have(),
                threshold: self.config.threshold,
            });
        }
        let combined = trent_crypto::shamir::combine(&self.shares);
        self.shares.clear();
        let key = combined.map_err(|_| ShareError::WrongKey)?;
        let check = check_value(key.expose_secret());
        if !trent_crypto::constant_time_eq(&check, &self.config.check) {
            return Err(ShareError::WrongKey);
        }
        Ok(Progress::Unsealed(key))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn unseal(config: &ShamirConfig, shares: &[&str]) -> Result<SecretBytes, ShareError> {
        let mut u = Unsealer::new(config.clone());
        for s in shares {
            if let Progress::Unsealed(k) = u.add(s)? {
                return Ok(k);
            }
        }
        panic!("not unsealed after {} shares", shares.len())
    }

    #[test]
    fn init_then_any_threshold_of_shares_unseals_to_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let shares = init_shamir(dir.path(), 5, 3).unwrap();
        assert_eq!(shares.len(), 5);
        let SealKind::Shamir(config) = seal_kind(dir.path()).unwrap() else {
            panic!("not a shamir seal")
        };
        assert_eq!((config.shares, config.threshold), (5, 3));
        let s: Vec<&str> = shares.iter().map(|s| s.as_str()).collect();
        let a = unseal(&config, &[s[0], s[1], s[2]]).unwrap();
        let b = unseal(&config, &[s[4], s[2], s[3]]).unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.len(), 32);
        // Two shares are not enough.
        let mut u = Unsealer::new(config.clone());
        assert!(matches!(
            u.add(s[0]).unwrap(),
            Progress::Need {
                have: 1,
                threshold: 3
            }
        ));
        assert!(matches!(
            u.add(s[1]).unwrap(),
            Progress::Need {
                have: 2,
                threshold: 3
            }
        ));
        // A second init of the same directory is refused.
        assert!(matches!(
            init_shamir(dir.path(), 5, 3),
            Err(InitError::AlreadyInitialized(_))
        ));
    }

    #[test]
    fn bad_shares_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let shares = init_shamir(dir.path(), 3, 2).unwrap();
        let SealKind::Shamir(config) = seal_kind(dir.path()).unwrap() else {
            panic!("not a shamir seal")
        };
        let mut u = Unsealer::new(config.clone());
        assert_eq!(u.add("hello").err(), Some(ShareError::Malformed));
        // One changed hex digit.
        let mut typo = shares[0].to_string();
        let last = typo.pop().unwrap();
        typo.push(if last == '0' { '1' } else { '0' });
        assert_eq!(u.add(&typo).err(), Some(ShareError::Checksum));
        u.add(&shares[0]).unwrap();
        assert_eq!(u.add(&shares[0]).err(), Some(ShareError::Duplicate));
        // A share of another initialization.
        let other = tempfile::tempdir().unwrap();
        let foreign = init_shamir(other.path(), 3, 2).unwrap();
        assert_eq!(
            u.add(&foreign[1]).err(),
            Some(ShareError::OtherInitialization)
        );
        // A well-formed share whose key part was altered (checksum recomputed) reconstructs the
        // wrong key: refused, and everything given so far is discarded.
        let body = trent_crypto::unhex(shares[1].strip_prefix(SHARE_PREFIX).unwrap()).unwrap();
        let mut content = body[..SHARE_LEN - 4].to_vec();
        content[20] ^= 0x55;
        let forged = encode_share(&config.init_id, config.threshold, &content[9..]);
        assert_eq!(u.add(&forged).err(), Some(ShareError::WrongKey));
        assert_eq!(u.have(), 0);
        assert!(matches!(u.add(&shares[2]).unwrap(), Progress::Need { .. }));
        assert!(matches!(u.add(&shares[1]).unwrap(), Progress::Unsealed(_)));
    }

    #[test]
    fn rekey_and_migrations_keep_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (original, _) = crate::FileSeal::new(dir.path()).unseal_or_init().unwrap();
        assert!(matches!(
            rekey(dir.path(), &[], 3, 2),
            Err(ChangeError::NotSealedWith("shamir"))
        ));
        let first = migrate_file_to_shamir(dir.path(), 3, 2).unwrap();
        assert!(!dir.path().join(crate::ROOT_KEY_FILE).exists());
        let SealKind::Shamir(config) = seal_kind(dir.path()).unwrap() else {
            panic!("not a shamir seal")
        };
        let key = unseal(&config, &[&first[0], &first[2]]).unwrap();
        assert_eq!(key.expose_secret(), original.expose_secret());

        // Rekey needs a threshold of valid current shares.
        assert!(matches!(
            rekey(dir.path(), &[&first[0]], 5, 3),
            Err(ChangeError::NotEnoughShares {
                have: 1,
                threshold: 2
            })
        ));
        let second = rekey(dir.path(), &[&first[1], &first[2]], 5, 3).unwrap();
        assert_eq!(second.len(), 5);
        let SealKind::Shamir(config) = seal_kind(dir.path()).unwrap() else {
            panic!("not a shamir seal")
        };
        assert_eq!(config.threshold, 3);
        let mut u = Unsealer::new(config.clone());
        assert_eq!(
            u.add(&first[0]).err(),
            Some(ShareError::OtherInitialization)
        );
        let key = unseal(&config, &[&second[4], &second[0], &second[2]]).unwrap();
        assert_eq!(key.expose_secret(), original.expose_secret());

        migrate_shamir_to_file(dir.path(), &[&second[1], &second[2], &second[3]]).unwrap();
        assert_eq!(seal_kind(dir.path()).unwrap(), SealKind::File);
        let back = crate::FileSeal::new(dir.path()).read().unwrap();
        assert_eq!(back.expose_secret(), original.expose_secret());
    }

    #[test]
    fn other_directories_are_file_sealed() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(seal_kind(dir.path()).unwrap(), SealKind::File);
        std::fs::write(dir.path().join(SEAL_CONFIG_FILE), "{}").unwrap();
        assert!(seal_kind(dir.path()).is_err());
    }
}
