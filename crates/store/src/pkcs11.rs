//! The `pkcs11` seal: the root key is stored only wrapped (AES-256-GCM) by a non-extractable
//! AES key inside an HSM, reached through its PKCS#11 library (CloudHSM, a network HSM,
//! SoftHSM2 for testing). At start Trent logs in to the token and unwraps the root key; the
//! wrapping key never leaves the HSM.
//!
//! `seal.json` records the library path, the token and key labels, the GCM nonce and the wrapped
//! key. The user PIN is never stored: it comes from the file named by `TRENT_PKCS11_PIN_FILE`
//! or from `TRENT_PKCS11_PIN`, and is never logged.

use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use trent_crypto::SecretBytes;

use crate::StoreError;
use crate::seal::{Seal, SealError, Stored, Unseal};

/// The additional data bound to the wrapped root key.
const AAD: &[u8] = b"trent root key v1";
const ROOT_KEY_LEN: usize = 32;

/// The public facts of a PKCS#11 seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Config {
    pub library: PathBuf,
    pub token_label: String,
    pub key_label: String,
    pub(crate) nonce: [u8; 12],
    pub(crate) wrapped: Vec<u8>,
}

/// What went wrong with the HSM. Messages name the library, token or key, never the PIN.
#[derive(Debug, thiserror::Error)]
pub enum Pkcs11Error {
    #[error(
        "no PKCS#11 PIN: set TRENT_PKCS11_PIN_FILE (a file holding the user PIN) or TRENT_PKCS11_PIN"
    )]
    NoPin,
    #[error("cannot read the PIN file {path}: {source}")]
    PinFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot load the PKCS#11 library {library}: {reason}")]
    Library { library: PathBuf, reason: String },
    #[error("no token labelled '{0}' in the PKCS#11 library's slots")]
    NoToken(String),
    #[error("PKCS#11 {step} failed: {reason}")]
    Hsm { step: &'static str, reason: String },
    #[error("more than one secret key labelled '{0}' on the token")]
    AmbiguousKey(String),
    #[error("no secret key labelled '{0}' on the token")]
    NoKey(String),
    #[error("the HSM could not unwrap the root key (another wrapping key, or a changed seal.json)")]
    Unwrap,
    #[error("{0} already exists: this data directory is initialized")]
    AlreadyInitialized(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn hsm(step: &'static str) -> impl Fn(cryptoki::error::Error) -> Pkcs11Error {
    move |e| Pkcs11Error::Hsm {
        step,
        reason: e.to_string(),
    }
}

/// The user PIN from `TRENT_PKCS11_PIN_FILE` (first line) or `TRENT_PKCS11_PIN`.
pub fn pin_from_env() -> Result<AuthPin, Pkcs11Error> {
    if let Some(path) = std::env::var_os("TRENT_PKCS11_PIN_FILE") {
        let path = PathBuf::from(path);
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(|source| {
            Pkcs11Error::PinFile {
                path: path.clone(),
                source,
            }
        })?);
        let pin = text.lines().next().unwrap_or_default().trim();
        return Ok(AuthPin::new(pin.into()));
    }
    match std::env::var("TRENT_PKCS11_PIN") {
        Ok(pin) if !pin.is_empty() => Ok(AuthPin::new(pin)),
        _ => Err(Pkcs11Error::NoPin),
    }
}

/// A logged-in session on the token labelled `token_label`, with the library context it needs.
/// Bind them as `let (_ctx, session)`: the session then closes before the context finalizes
/// the library (bindings drop in reverse order).
fn open(
    library: &Path,
    token_label: &str,
    pin: &AuthPin,
) -> Result<(Pkcs11, Session), Pkcs11Error> {
    let pkcs11 = Pkcs11::new(library).map_err(|e| Pkcs11Error::Library {
        library: library.to_path_buf(),
        reason: e.to_string(),
    })?;
    pkcs11
        .initialize(CInitializeArgs::OsThreads)
        .map_err(hsm("C_Initialize"))?;
    let mut found = None;
    for slot in pkcs11
        .get_slots_with_token()
        .map_err(hsm("C_GetSlotList"))?
    {
        let info = pkcs11.get_token_info(slot).map_err(hsm("C_GetTokenInfo"))?;
        if info.label().trim_end() == token_label {
            found = Some(slot);
            break;
        }
    }
    let slot = found.ok_or_else(|| Pkcs11Error::NoToken(token_label.to_string()))?;
    let session = pkcs11.open_rw_session(slot).map_err(hsm("C_OpenSession"))?;
    session
        .login(UserType::User, Some(pin))
        .map_err(hsm("C_Login"))?;
    Ok((pkcs11, session))
}

fn find_key(session: &Session, label: &str) -> Result<Option<ObjectHandle>, Pkcs11Error> {
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(hsm("C_FindObjects"))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(Pkcs11Error::AmbiguousKey(label.to_string())),
    }
}

/// Initializes `data_dir` with the PKCS#11 seal: uses the AES key labelled `key_label` on the
/// token (generating it, non-extractable and sensitive, when there is none), makes a new root
/// key, wraps it with AES-256-GCM inside the HSM and writes `seal.json`.
pub fn init_pkcs11(
    data_dir: &Path,
    library: &Path,
    token_label: &str,
    key_label: &str,
    pin: &AuthPin,
) -> Result<bool, Pkcs11Error> {
    if let Some(existing) = crate::shamir::initialized(data_dir) {
        return Err(Pkcs11Error::AlreadyInitialized(existing));
    }
    let root = SecretBytes::random(ROOT_KEY_LEN).map_err(StoreError::Crypto)?;
    keep(data_dir, library, token_label, key_label, pin, &root)
}

/// Wraps `root` under the token's key, writes `seal.json` and checks that it unwraps; returns
/// whether the wrapping key was created.
fn keep(
    data_dir: &Path,
    library: &Path,
    token_label: &str,
    key_label: &str,
    pin: &AuthPin,
    root: &SecretBytes,
) -> Result<bool, Pkcs11Error> {
    let mut nonce = trent_crypto::random_array::<12>().map_err(StoreError::Crypto)?;
    // The library is initialized once per process: the session and its context end before the
    // check below opens them again.
    let (wrapped, created) = wrap(library, token_label, key_label, pin, root, &mut nonce)?;
    std::fs::create_dir_all(data_dir).map_err(StoreError::Io)?;
    let config = serde_json::json!({
        "type": "pkcs11",
        "version": 1,
        "library": library.display().to_string(),
        "token_label": token_label,
        "key_label": key_label,
        "nonce": trent_crypto::hex(&nonce),
        "wrapped_root_key": trent_crypto::hex(&wrapped),
    });
    crate::shamir::write_seal_config(data_dir, &config)?;
    // The wrapped key must open before anything depends on it.
    let back = unwrap_root_key(&parse(&config)?, pin)?;
    if !trent_crypto::constant_time_eq(back.expose_secret(), root.expose_secret()) {
        return Err(Pkcs11Error::Unwrap);
    }
    Ok(created)
}

/// The PKCS#11 seal, as a [`Seal`]: to wrap a root key under a token's key, or as a data
/// directory records it. The PIN comes from the environment ([`pin_from_env`]) each time.
pub struct Pkcs11Seal {
    library: PathBuf,
    token_label: String,
    key_label: String,
    config: Option<Pkcs11Config>,
}

impl Pkcs11Seal {
    /// A seal that wraps the root key under the key labelled `key_label` (made when missing) on
    /// the token labelled `token_label`.
    pub fn new(library: &Path, token_label: &str, key_label: &str) -> Self {
        Pkcs11Seal {
            library: library.to_path_buf(),
            token_label: token_label.to_string(),
            key_label: key_label.to_string(),
            config: None,
        }
    }

    pub(crate) fn existing(config: Pkcs11Config) -> Self {
        Pkcs11Seal {
            library: config.library.clone(),
            token_label: config.token_label.clone(),
            key_label: config.key_label.clone(),
            config: Some(config),
        }
    }
}

impl Seal for Pkcs11Seal {
    fn name(&self) -> &'static str {
        "pkcs11"
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "seal": "pkcs11",
            "library": self.library.display().to_string(),
            "token_label": self.token_label,
            "key_label": self.key_label,
        })
    }

    fn unseal(&self) -> Result<Unseal, SealError> {
        let config = self.config.as_ref().ok_or(SealError::NotInitialized)?;
        Ok(Unseal::Key(unwrap_root_key(config, &pin_from_env()?)?))
    }

    fn store_root_key(&self, data_dir: &Path, root: &SecretBytes) -> Result<Stored, SealError> {
        let created = keep(
            data_dir,
            &self.library,
            &self.token_label,
            &self.key_label,
            &pin_from_env()?,
            root,
        )?;
        crate::seal::remove_if_present(&data_dir.join(crate::ROOT_KEY_FILE))?;
        Ok(Stored::Done(format!(
            "the root key is wrapped by {} key '{}' on token '{}'",
            if created { "the new" } else { "the existing" },
            self.key_label,
            self.token_label
        )))
    }
}

/// Wraps `root` under the token's key labelled `key_label` (made when missing); returns the
/// GCM ciphertext and whether the key was created.
fn wrap(
    library: &Path,
    token_label: &str,
    key_label: &str,
    pin: &AuthPin,
    root: &SecretBytes,
    nonce: &mut [u8; 12],
) -> Result<(Vec<u8>, bool), Pkcs11Error> {
    let (_ctx, session) = open(library, token_label, pin)?;
    let (key, created) = match find_key(&session, key_label)? {
        Some(k) => (k, false),
        None => {
            let k = session
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Token(true),
                        Attribute::Private(true),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(false),
                        Attribute::Encrypt(true),
                        Attribute::Decrypt(true),
                        Attribute::ValueLen(32.into()),
                        Attribute::Label(key_label.as_bytes().to_vec()),
                    ],
                )
                .map_err(hsm("C_GenerateKey"))?;
            (k, true)
        }
    };
    let params = GcmParams::new(nonce, AAD, 128.into()).map_err(hsm("GCM parameters"))?;
    let wrapped = session
        .encrypt(&Mechanism::AesGcm(params), key, root.expose_secret())
        .map_err(hsm("C_Encrypt"))?;
    Ok((wrapped, created))
}

/// Unwraps the root key inside the HSM.
pub fn unwrap_root_key(config: &Pkcs11Config, pin: &AuthPin) -> Result<SecretBytes, Pkcs11Error> {
    let (_ctx, session) = open(&config.library, &config.token_label, pin)?;
    let key = find_key(&session, &config.key_label)?
        .ok_or_else(|| Pkcs11Error::NoKey(config.key_label.clone()))?;
    let mut nonce = config.nonce;
    let params = GcmParams::new(&mut nonce, AAD, 128.into()).map_err(hsm("GCM parameters"))?;
    let root = session
        .decrypt(&Mechanism::AesGcm(params), key, &config.wrapped)
        .map_err(|_| Pkcs11Error::Unwrap)?;
    let root = SecretBytes::new(root);
    if root.len() != ROOT_KEY_LEN {
        return Err(Pkcs11Error::Unwrap);
    }
    Ok(root)
}

/// Reads a `pkcs11` seal description.
pub(crate) fn parse(v: &serde_json::Value) -> Result<Pkcs11Config, StoreError> {
    let text = |name: &str| {
        v.get(name)
            .and_then(serde_json::Value::as_str)
            .ok_or(StoreError::Corrupt("seal.json lacks a pkcs11 field"))
    };
    let hex = |name: &str| {
        text(name).and_then(|t| {
            trent_crypto::unhex(t).ok_or(StoreError::Corrupt("seal.json has a malformed field"))
        })
    };
    Ok(Pkcs11Config {
        library: PathBuf::from(text("library")?),
        token_label: text("token_label")?.to_string(),
        key_label: text("key_label")?.to_string(),
        nonce: hex("nonce")?
            .try_into()
            .map_err(|_| StoreError::Corrupt("seal.json nonce must be 12 bytes"))?,
        wrapped: hex("wrapped_root_key")?,
    })
}
