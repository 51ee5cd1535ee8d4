//! The `kms` seal (auto-unseal): the root key is stored in the data directory only encrypted
//! by a symmetric key of another KMS — AWS KMS, or another Trent — and decrypted through that
//! KMS's `Decrypt` at every start.
//!
//! `seal.json` records the key id, the endpoint, the Region, an optional CA bundle, a random id
//! of this seal and the `CiphertextBlob`. The ciphertext is bound to the seal id by the
//! encryption context `{"trent:seal-id": <id>}`, so the KMS's own audit trail names which Trent
//! seal asked, and a blob copied from another data directory does not decrypt as this one's.
//! Credentials come from the standard AWS chain (environment, shared credentials and config
//! files), never from `seal.json`. Requests are signed with SigV4 by the client of
//! `trent-esdk-kms`; an `https` endpoint is trusted through the system's roots or, with a CA
//! bundle (`--kms-ca-bundle` or `AWS_CA_BUNDLE`), through that bundle only.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use trent_crypto::SecretBytes;
use trent_esdk_kms::KmsClient;
use trent_esdk_kms::credentials::Environment;

use crate::StoreError;
use crate::seal::{Seal, SealError, Stored, Unseal};

const ROOT_KEY_LEN: usize = 32;
/// The encryption context key that binds the ciphertext to this seal.
pub const CONTEXT_KEY: &str = "trent:seal-id";

/// The public facts of a KMS seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsSealConfig {
    pub key_id: String,
    pub endpoint: String,
    pub region: String,
    pub ca_bundle: Option<PathBuf>,
    pub seal_id: String,
    pub(crate) ciphertext: Vec<u8>,
}

/// What went wrong with the KMS. Messages name the key, the endpoint and the KMS's answer,
/// never the root key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KmsSealError {
    #[error("the kms seal needs AWS credentials: {0}")]
    Credentials(String),
    #[error(
        "no AWS Region for the kms seal: give --kms-region, a key ARN, or AWS_REGION / \
         AWS_DEFAULT_REGION"
    )]
    NoRegion,
    #[error("cannot reach the KMS at {endpoint}: {code}: {message}")]
    Client {
        endpoint: String,
        code: String,
        message: String,
    },
    #[error("KMS {operation} with key {key_id} at {endpoint} was refused: {code}: {message}")]
    Refused {
        operation: &'static str,
        key_id: String,
        endpoint: String,
        code: String,
        message: String,
    },
    #[error("the KMS answer to {0} is malformed")]
    Malformed(&'static str),
    #[error("the KMS gave back a different root key: the seal was not changed")]
    Mismatch,
}

/// The KMS seal, as a [`Seal`]: to encrypt a root key under `key_id`, or as a data directory
/// records it.
pub struct KmsSeal {
    key_id: String,
    endpoint: String,
    region: String,
    ca_bundle: Option<PathBuf>,
    config: Option<KmsSealConfig>,
}

impl KmsSeal {
    /// A seal that encrypts the root key under `key_id` (a key id, ARN or alias) at
    /// `endpoint`. The Region is `region`, else the ARN's, else the environment's.
    pub fn new(
        key_id: &str,
        endpoint: &str,
        region: Option<&str>,
        ca_bundle: Option<&Path>,
    ) -> Result<Self, KmsSealError> {
        let region = region
            .map(str::to_owned)
            .or_else(|| trent_esdk_kms::KmsArn::parse(key_id).map(|a| a.region))
            .or_else(|| Environment::from_env().region(None))
            .ok_or(KmsSealError::NoRegion)?;
        Ok(KmsSeal {
            key_id: key_id.to_string(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            region,
            ca_bundle: ca_bundle.map(Path::to_path_buf),
            config: None,
        })
    }

    pub(crate) fn existing(config: KmsSealConfig) -> Self {
        KmsSeal {
            key_id: config.key_id.clone(),
            endpoint: config.endpoint.clone(),
            region: config.region.clone(),
            ca_bundle: config.ca_bundle.clone(),
            config: Some(config),
        }
    }

    fn client(&self) -> Result<KmsClient, KmsSealError> {
        let env = Environment::from_env();
        let credentials = env.credentials(None).map_err(KmsSealError::Credentials)?;
        let ca_bundle = self.ca_bundle.clone().or_else(|| env.ca_bundle());
        KmsClient::with_ca_bundle(
            &self.endpoint,
            &self.region,
            credentials,
            ca_bundle.as_deref(),
        )
        .map_err(|e| KmsSealError::Client {
            endpoint: self.endpoint.clone(),
            code: e.code,
            message: e.message,
        })
    }

    fn call(
        &self,
        client: &KmsClient,
        operation: &'static str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, KmsSealError> {
        client.call(operation, body).map_err(|e| {
            if matches!(e.code.as_str(), "NetworkError" | "ClientError") {
                KmsSealError::Client {
                    endpoint: self.endpoint.clone(),
                    code: e.code,
                    message: e.message,
                }
            } else {
                KmsSealError::Refused {
                    operation,
                    key_id: self.key_id.clone(),
                    endpoint: self.endpoint.clone(),
                    code: e.code,
                    message: e.message,
                }
            }
        })
    }

    /// Decrypts the stored ciphertext.
    fn decrypt(
        &self,
        client: &KmsClient,
        config: &KmsSealConfig,
    ) -> Result<SecretBytes, KmsSealError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let answer = self.call(
            client,
            "Decrypt",
            &serde_json::json!({
                "KeyId": config.key_id,
                "CiphertextBlob": b64.encode(&config.ciphertext),
                "EncryptionContext": {CONTEXT_KEY: config.seal_id},
            }),
        )?;
        let text = zeroize::Zeroizing::new(
            answer
                .get("Plaintext")
                .and_then(serde_json::Value::as_str)
                .ok_or(KmsSealError::Malformed("Decrypt"))?
                .to_string(),
        );
        let key = SecretBytes::new(
            b64.decode(text.as_bytes())
                .map_err(|_| KmsSealError::Malformed("Decrypt"))?,
        );
        if key.len() != ROOT_KEY_LEN {
            return Err(KmsSealError::Malformed("Decrypt"));
        }
        Ok(key)
    }
}

impl Seal for KmsSeal {
    fn name(&self) -> &'static str {
        "kms"
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "seal": "kms",
            "key_id": self.key_id,
            "endpoint": self.endpoint,
            "region": self.region,
        })
    }

    fn unseal(&self) -> Result<Unseal, SealError> {
        let config = self.config.as_ref().ok_or(SealError::NotInitialized)?;
        off_runtime(|| {
            let client = self.client()?;
            Ok(Unseal::Key(self.decrypt(&client, config)?))
        })
    }

    fn store_root_key(&self, data_dir: &Path, root: &SecretBytes) -> Result<Stored, SealError> {
        off_runtime(|| self.keep(data_dir, root))
    }
}

/// Runs `f` on a thread of its own: the KMS client owns a runtime, which may be neither
/// created nor dropped on a thread that runs async code.
fn off_runtime<T: Send>(f: impl FnOnce() -> Result<T, SealError> + Send) -> Result<T, SealError> {
    std::thread::scope(|s| {
        s.spawn(f).join().unwrap_or_else(|_| {
            Err(SealError::Store(StoreError::Corrupt(
                "the KMS seal's request thread failed",
            )))
        })
    })
}

impl KmsSeal {
    fn keep(&self, data_dir: &Path, root: &SecretBytes) -> Result<Stored, SealError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let client = self.client()?;
        let seal_id =
            trent_crypto::hex(&trent_crypto::random_array::<8>().map_err(StoreError::Crypto)?);
        let plaintext = zeroize::Zeroizing::new(b64.encode(root.expose_secret()));
        let answer = self.call(
            &client,
            "Encrypt",
            &serde_json::json!({
                "KeyId": self.key_id,
                "Plaintext": plaintext.as_str(),
                "EncryptionContext": {CONTEXT_KEY: seal_id},
            }),
        )?;
        let ciphertext = answer
            .get("CiphertextBlob")
            .and_then(serde_json::Value::as_str)
            .and_then(|t| b64.decode(t).ok())
            .ok_or(KmsSealError::Malformed("Encrypt"))?;
        let config = KmsSealConfig {
            key_id: self.key_id.clone(),
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            ca_bundle: self.ca_bundle.clone(),
            seal_id,
            ciphertext,
        };
        // The ciphertext must decrypt to this root key before anything depends on it.
        let back = self.decrypt(&client, &config)?;
        if !trent_crypto::constant_time_eq(back.expose_secret(), root.expose_secret()) {
            return Err(KmsSealError::Mismatch.into());
        }
        let mut v = serde_json::json!({
            "type": "kms",
            "version": 1,
            "key_id": config.key_id,
            "endpoint": config.endpoint,
            "region": config.region,
            "seal_id": config.seal_id,
            "ciphertext": b64.encode(&config.ciphertext),
        });
        if let (Some(path), Some(map)) = (&config.ca_bundle, v.as_object_mut()) {
            map.insert(
                "ca_bundle".into(),
                serde_json::Value::String(path.display().to_string()),
            );
        }
        std::fs::create_dir_all(data_dir).map_err(StoreError::Io)?;
        crate::shamir::write_seal_config(data_dir, &v)?;
        crate::seal::remove_if_present(&data_dir.join(crate::ROOT_KEY_FILE))?;
        Ok(Stored::Done(format!(
            "the root key is encrypted by KMS key {} at {}",
            self.key_id, self.endpoint
        )))
    }
}

/// Reads a `kms` seal description.
pub(crate) fn parse(v: &serde_json::Value) -> Result<KmsSealConfig, StoreError> {
    let text = |name: &str| {
        v.get(name)
            .and_then(serde_json::Value::as_str)
            .ok_or(StoreError::Corrupt("seal.json lacks a kms field"))
    };
    Ok(KmsSealConfig {
        key_id: text("key_id")?.to_string(),
        endpoint: text("endpoint")?.to_string(),
        region: text("region")?.to_string(),
        ca_bundle: v
            .get("ca_bundle")
            .and_then(serde_json::Value::as_str)
            .map(PathBuf::from),
        seal_id: text("seal_id")?.to_string(),
        ciphertext: base64::engine::general_purpose::STANDARD
            .decode(text("ciphertext")?)
            .map_err(|_| StoreError::Corrupt("seal.json has a malformed ciphertext"))?,
    })
}
