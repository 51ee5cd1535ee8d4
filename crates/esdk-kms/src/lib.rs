//! The AWS KMS keyring of the Encryption SDK, kept apart from the message format crate because
//! it brings an HTTP client.
//!
//! - **Strict** ([`KmsKeyring::strict`]): on encrypt the first key generates the data key
//!   (`GenerateDataKey`) and every other key wraps it too (`Encrypt`); on decrypt only
//!   encrypted data keys whose key ARN is one of the configured keys (or, for multi-Region
//!   keys, the same key in another Region) are sent to `Decrypt`, with the configured
//!   identifier as `KeyId`.
//! - **Discovery** ([`KmsKeyring::discovery`]): decrypt only; any `aws-kms` encrypted data key
//!   whose ARN passes the optional filter (partition and accounts) is tried. Multi-Region keys
//!   are called in the keyring's Region when one is set.
//!
//! Every response's `KeyId` must be the key asked for, and every plaintext data key must have
//! the suite's length. Requests are signed with SigV4 (`trent-sigv4`); credentials, Region and
//! endpoint come from [`credentials::Environment`] (environment variables, shared credentials
//! and config files, profiles; `AWS_ENDPOINT_URL_KMS` / `AWS_ENDPOINT_URL`; `AWS_CA_BUNDLE` for a
//! private CA) unless given.

#![forbid(unsafe_code)]

pub mod credentials;

use base64::Engine as _;
use bytes::Bytes;
use credentials::{Credentials, Environment};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use trent_crypto::SecretBytes;
use trent_esdk::keyring::{EncryptedDataKey, EncryptionMaterials, Keyring};
use trent_esdk::{AlgorithmSuite, EncryptionContext, Error};

/// The provider ID of KMS-wrapped data keys.
pub const PROVIDER_ID: &str = "aws-kms";

/// A parsed KMS ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsArn {
    pub partition: String,
    pub region: String,
    pub account: String,
    /// `key` or `alias`.
    pub resource_type: String,
    pub resource_id: String,
}

impl KmsArn {
    pub fn parse(s: &str) -> Option<KmsArn> {
        let mut parts = s.splitn(6, ':');
        let (arn, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let (resource_type, resource_id) = resource.split_once('/')?;
        if arn != "arn"
            || service != "kms"
            || partition.is_empty()
            || region.is_empty()
            || account.is_empty()
            || resource_id.is_empty()
            || !matches!(resource_type, "key" | "alias")
        {
            return None;
        }
        Some(KmsArn {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
        })
    }

    /// A multi-Region key: a key whose ID starts with `mrk-`.
    pub fn is_multi_region_key(&self) -> bool {
        self.resource_type == "key" && self.resource_id.starts_with("mrk-")
    }

    fn in_region(&self, region: &str) -> String {
        format!(
            "arn:{}:kms:{region}:{}:{}/{}",
            self.partition, self.account, self.resource_type, self.resource_id
        )
    }
}

/// Whether a configured identifier and an encrypted data key's ARN name the same key: equal,
/// or the same multi-Region key in any Region.
fn mrk_match(configured: &str, edk_arn: &str) -> bool {
    if configured == edk_arn {
        return true;
    }
    match (KmsArn::parse(configured), KmsArn::parse(edk_arn)) {
        (Some(a), Some(b)) => {
            a.is_multi_region_key()
                && b.is_multi_region_key()
                && a.partition == b.partition
                && a.account == b.account
                && a.resource_id == b.resource_id
        }
        _ => false,
    }
}

/// Only encrypted data keys of these accounts in this partition are tried.
#[derive(Debug, Clone)]
pub struct DiscoveryFilter {
    pub partition: String,
    pub accounts: Vec<String>,
}

/// How KMS clients are made: credentials, Region and endpoint.
#[derive(Debug, Clone, Default)]
pub struct ClientSettings {
    pub environment: Environment,
    /// A profile to read instead of the environment's credentials.
    pub profile: Option<String>,
    /// An endpoint for every Region (overrides `AWS_ENDPOINT_URL_KMS` / `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// The Region of identifiers that are not ARNs (overrides the environment's).
    pub region: Option<String>,
}

impl ClientSettings {
    pub fn from_env() -> ClientSettings {
        ClientSettings {
            environment: Environment::from_env(),
            ..Default::default()
        }
    }

    fn default_region(&self) -> Option<String> {
        self.region
            .clone()
            .or_else(|| self.environment.region(self.profile.as_deref()))
    }
}

enum Http {
    Plain(Client<HttpConnector, Full<Bytes>>),
    Tls(Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>),
}

/// A small KMS JSON-protocol client for one Region.
pub struct KmsClient {
    uri: http::Uri,
    host: String,
    region: String,
    credentials: Credentials,
    http: Http,
    runtime: tokio::runtime::Runtime,
}

/// A KMS error: the AWS error code and message.
#[derive(Debug)]
pub struct KmsError {
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for KmsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

fn kms_error(code: &str, message: impl Into<String>) -> KmsError {
    KmsError {
        code: code.to_owned(),
        message: message.into(),
    }
}

impl KmsClient {
    /// A client for `region` at `endpoint` (e.g. `http://127.0.0.1:4566` or
    /// `https://kms.us-east-1.amazonaws.com`).
    pub fn new(endpoint: &str, region: &str, credentials: Credentials) -> Result<Self, KmsError> {
        Self::with_ca_bundle(endpoint, region, credentials, None)
    }

    /// As [`KmsClient::new`], trusting only the certificates of the PEM file `ca_bundle` for an
    /// `https` endpoint (a private CA, or a Trent's self-signed certificate) instead of the
    /// system's roots.
    pub fn with_ca_bundle(
        endpoint: &str,
        region: &str,
        credentials: Credentials,
        ca_bundle: Option<&std::path::Path>,
    ) -> Result<Self, KmsError> {
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|_| kms_error("InvalidEndpoint", format!("{endpoint:?} is not a URL")))?;
        let host = uri
            .authority()
            .ok_or_else(|| kms_error("InvalidEndpoint", format!("{endpoint:?} has no host")))?
            .as_str()
            .to_owned();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| kms_error("ClientError", e.to_string()))?;
        let http = match uri.scheme_str() {
            Some("http") => Http::Plain(Client::builder(TokioExecutor::new()).build_http()),
            Some("https") => {
                let builder = match ca_bundle {
                    None => hyper_rustls::HttpsConnectorBuilder::new()
                        .with_native_roots()
                        .map_err(|e| {
                            kms_error("ClientError", format!("no TLS root certificates: {e}"))
                        })?,
                    Some(path) => hyper_rustls::HttpsConnectorBuilder::new()
                        .with_tls_config(tls_config_trusting(path)?),
                };
                let connector = builder.https_only().enable_http1().build();
                Http::Tls(Client::builder(TokioExecutor::new()).build(connector))
            }
            _ => {
                return Err(kms_error(
                    "InvalidEndpoint",
                    format!("{endpoint:?} is neither http nor https"),
                ));
            }
        };
        Ok(KmsClient {
            uri,
            host,
            region: region.to_owned(),
            credentials,
            http,
            runtime,
        })
    }

    /// Calls `operation` (e.g. `GenerateDataKey`) with a JSON body.
    pub fn call(&self, operation: &str, body: &Value) -> Result<Value, KmsError> {
        let body = serde_json::to_vec(body).map_err(|e| kms_error("ClientError", e.to_string()))?;
        let target = format!("TrentService.{operation}");
        let content_type = "application/x-amz-json-1.1";
        let signer = trent_sigv4::Signer {
            access_key_id: &self.credentials.access_key_id,
            secret_access_key: &self.credentials.secret_access_key,
            region: &self.region,
            service: "kms",
            session_token: self.credentials.session_token.as_ref().map(|t| t.as_str()),
        };
        let path = match self.uri.path() {
            "" => "/",
            p => p,
        };
        let signed = signer.sign(
            "POST",
            path,
            "",
            &[
                ("host", &self.host),
                ("content-type", content_type),
                ("x-amz-target", &target),
            ],
            &body,
            time::OffsetDateTime::now_utc(),
        );
        let mut request = http::Request::builder()
            .method("POST")
            .uri(&self.uri)
            .header("host", &self.host)
            .header("content-type", content_type)
            .header("x-amz-target", &target);
        for (name, value) in &signed {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| kms_error("ClientError", e.to_string()))?;
        let fut = async {
            let response = match &self.http {
                Http::Plain(c) => c.request(request).await,
                Http::Tls(c) => c.request(request).await,
            }
            .map_err(|e| kms_error("NetworkError", format!("{}: {e}", self.uri)))?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| kms_error("NetworkError", e.to_string()))?
                .to_bytes();
            Ok::<_, KmsError>((status, bytes))
        };
        // On a thread of its own, so callers inside an async runtime can use it too.
        let (status, bytes) = std::thread::scope(|s| {
            s.spawn(|| self.runtime.block_on(fut))
                .join()
                .unwrap_or_else(|_| Err(kms_error("ClientError", "request thread failed")))
        })?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let code = value
            .get("__type")
            .and_then(Value::as_str)
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        let message = value
            .get("message")
            .or_else(|| value.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Err(KmsError { code, message })
    }
}

/// A TLS client configuration (aws-lc-rs, TLS 1.2 and 1.3) trusting the PEM certificates in
/// `path` and nothing else.
fn tls_config_trusting(path: &std::path::Path) -> Result<rustls::ClientConfig, KmsError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let unreadable = |e: &dyn std::fmt::Display| {
        kms_error(
            "ClientError",
            format!("cannot read the CA bundle {}: {e}", path.display()),
        )
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
        roots
            .add(cert.map_err(|e| unreadable(&e))?)
            .map_err(|e| unreadable(&e))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&"it holds no certificate"));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| kms_error("ClientError", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// KMS clients per Region, made on first use.
struct Clients {
    settings: ClientSettings,
    by_region: Mutex<BTreeMap<String, Arc<KmsClient>>>,
}

impl Clients {
    fn get(&self, region: &str) -> Result<Arc<KmsClient>, KmsError> {
        let mut map = self
            .by_region
            .lock()
            .map_err(|_| kms_error("ClientError", "client cache poisoned"))?;
        if let Some(c) = map.get(region) {
            return Ok(Arc::clone(c));
        }
        let credentials = self
            .settings
            .environment
            .credentials(self.settings.profile.as_deref())
            .map_err(|m| kms_error("MissingCredentials", m))?;
        let endpoint = self
            .settings
            .endpoint
            .clone()
            .or_else(|| self.settings.environment.kms_endpoint())
            .unwrap_or_else(|| {
                let suffix = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                format!("https://kms.{region}.{suffix}")
            });
        let ca_bundle = self.settings.environment.ca_bundle();
        let client = Arc::new(KmsClient::with_ca_bundle(
            &endpoint,
            region,
            credentials,
            ca_bundle.as_deref(),
        )?);
        map.insert(region.to_owned(), Arc::clone(&client));
        Ok(client)
    }

    /// The Region to call for `key_id`: an ARN's own, else the default.
    fn region_for(&self, key_id: &str) -> Result<String, KmsError> {
        match KmsArn::parse(key_id) {
            Some(arn) => Ok(arn.region),
            None => self.settings.default_region().ok_or_else(|| {
                kms_error(
                    "MissingRegion",
                    format!("{key_id:?} is not an ARN and no AWS Region is configured"),
                )
            }),
        }
    }
}

enum Mode {
    Strict(Vec<String>),
    Discovery {
        filter: Option<DiscoveryFilter>,
        region: Option<String>,
    },
}

/// The AWS KMS keyring.
pub struct KmsKeyring {
    mode: Mode,
    clients: Clients,
    grant_tokens: Vec<String>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(v: &Value, field: &str) -> Result<Vec<u8>, KmsError> {
    v.get(field)
        .and_then(Value::as_str)
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .ok_or_else(|| kms_error("InvalidResponse", format!("KMS response without {field}")))
}

fn provider_error(e: &KmsError) -> Error {
    Error::KeyProvider(e.to_string())
}

impl KmsKeyring {
    /// A strict keyring over `key_ids` (key ARNs, key IDs, alias names or alias ARNs; only key
    /// ARNs can decrypt). The first key generates the data key.
    pub fn strict(key_ids: Vec<String>, settings: ClientSettings) -> Result<Self, Error> {
        if key_ids.is_empty() || key_ids.iter().any(String::is_empty) {
            return Err(Error::InvalidKeyring("a strict KMS keyring needs key IDs"));
        }
        Ok(KmsKeyring {
            mode: Mode::Strict(key_ids),
            clients: Clients {
                settings,
                by_region: Mutex::new(BTreeMap::new()),
            },
            grant_tokens: Vec::new(),
        })
    }

    /// A discovery keyring (decrypt only). With `region`, multi-Region keys are called in
    /// that Region.
    pub fn discovery(
        filter: Option<DiscoveryFilter>,
        region: Option<String>,
        settings: ClientSettings,
    ) -> Result<Self, Error> {
        if let Some(f) = &filter
            && (f.partition.is_empty() || f.accounts.is_empty())
        {
            return Err(Error::InvalidKeyring(
                "a discovery filter needs a partition and at least one account",
            ));
        }
        Ok(KmsKeyring {
            mode: Mode::Discovery { filter, region },
            clients: Clients {
                settings,
                by_region: Mutex::new(BTreeMap::new()),
            },
            grant_tokens: Vec::new(),
        })
    }

    /// Grant tokens sent with every call.
    pub fn with_grant_tokens(mut self, tokens: Vec<String>) -> Self {
        self.grant_tokens = tokens;
        self
    }

    fn call(&self, key_id: &str, operation: &str, body: &Value) -> Result<Value, KmsError> {
        let region = self.clients.region_for(key_id)?;
        self.clients.get(&region)?.call(operation, body)
    }

    fn response_key_arn(v: &Value) -> Result<String, KmsError> {
        let id = v
            .get("KeyId")
            .and_then(Value::as_str)
            .ok_or_else(|| kms_error("InvalidResponse", "KMS response without KeyId"))?;
        match KmsArn::parse(id) {
            Some(arn) if arn.resource_type == "key" => Ok(id.to_owned()),
            _ => Err(kms_error(
                "InvalidResponse",
                format!("KMS returned KeyId {id:?}, not a key ARN"),
            )),
        }
    }

    fn wrap(&self, key_id: &str, materials: &mut EncryptionMaterials) -> Result<(), KmsError> {
        let data_key = materials
            .data_key
            .as_ref()
            .ok_or_else(|| kms_error("ClientError", "no data key to wrap"))?;
        let body = json!({
            "KeyId": key_id,
            "Plaintext": b64(data_key.expose_secret()),
            "EncryptionContext": materials.encryption_context,
            "GrantTokens": self.grant_tokens,
        });
        let v = self.call(key_id, "Encrypt", &body)?;
        let arn = Self::response_key_arn(&v)?;
        materials.encrypted_data_keys.push(EncryptedDataKey {
            provider_id: PROVIDER_ID.to_owned(),
            provider_info: arn.into_bytes(),
            ciphertext: unb64(&v, "CiphertextBlob")?,
        });
        Ok(())
    }

    fn unwrap_with(
        &self,
        key_id: &str,
        suite: AlgorithmSuite,
        ec: &EncryptionContext,
        edk: &EncryptedDataKey,
    ) -> Result<SecretBytes, KmsError> {
        let body = json!({
            "KeyId": key_id,
            "CiphertextBlob": b64(&edk.ciphertext),
            "EncryptionContext": ec,
            "GrantTokens": self.grant_tokens,
        });
        let v = self.call(key_id, "Decrypt", &body)?;
        let returned = v.get("KeyId").and_then(Value::as_str).unwrap_or_default();
        if returned != key_id {
            return Err(kms_error(
                "InvalidResponse",
                format!("KMS decrypted with {returned:?}, not {key_id:?}"),
            ));
        }
        let plaintext = zeroize::Zeroizing::new(unb64(&v, "Plaintext")?);
        if plaintext.len() != suite.key_len() {
            return Err(kms_error(
                "InvalidResponse",
                "KMS returned a data key of the wrong length",
            ));
        }
        Ok(SecretBytes::copy_from(&plaintext))
    }
}

impl Keyring for KmsKeyring {
    fn on_encrypt(&self, materials: &mut EncryptionMaterials) -> Result<(), Error> {
        let Mode::Strict(key_ids) = &self.mode else {
            return Err(Error::InvalidKeyring(
                "a discovery KMS keyring cannot encrypt",
            ));
        };
        let Some((generator, others)) = key_ids.split_first() else {
            return Err(Error::InvalidKeyring("a strict KMS keyring needs key IDs"));
        };
        if materials.data_key.is_none() {
            let len = materials.suite.key_len();
            let body = json!({
                "KeyId": generator,
                "NumberOfBytes": len,
                "EncryptionContext": materials.encryption_context,
                "GrantTokens": self.grant_tokens,
            });
            let v = self
                .call(generator, "GenerateDataKey", &body)
                .map_err(|e| provider_error(&e))?;
            let arn = Self::response_key_arn(&v).map_err(|e| provider_error(&e))?;
            let plaintext =
                zeroize::Zeroizing::new(unb64(&v, "Plaintext").map_err(|e| provider_error(&e))?);
            if plaintext.len() != len {
                return Err(Error::KeyProvider(
                    "KMS returned a data key of the wrong length".into(),
                ));
            }
            materials.data_key = Some(SecretBytes::copy_from(&plaintext));
            materials.encrypted_data_keys.push(EncryptedDataKey {
                provider_id: PROVIDER_ID.to_owned(),
                provider_info: arn.into_bytes(),
                ciphertext: unb64(&v, "CiphertextBlob").map_err(|e| provider_error(&e))?,
            });
        } else {
            self.wrap(generator, materials)
                .map_err(|e| provider_error(&e))?;
        }
        for key in others {
            self.wrap(key, materials).map_err(|e| provider_error(&e))?;
        }
        Ok(())
    }

    fn decrypt_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<SecretBytes, Error> {
        let mut last_error = None;
        for edk in edks.iter().filter(|e| e.provider_id == PROVIDER_ID) {
            let Some(edk_arn) = std::str::from_utf8(&edk.provider_info)
                .ok()
                .and_then(|s| KmsArn::parse(s).map(|a| (s, a)))
                .filter(|(_, a)| a.resource_type == "key")
            else {
                continue;
            };
            let key_id = match &self.mode {
                Mode::Strict(keys) => match keys.iter().find(|k| mrk_match(k, edk_arn.0)) {
                    Some(k) => k.clone(),
                    None => continue,
                },
                Mode::Discovery { filter, region } => {
                    if let Some(f) = filter
                        && (f.partition != edk_arn.1.partition
                            || !f.accounts.contains(&edk_arn.1.account))
                    {
                        continue;
                    }
                    match region {
                        Some(r) if edk_arn.1.is_multi_region_key() => edk_arn.1.in_region(r),
                        _ => edk_arn.0.to_owned(),
                    }
                }
            };
            match self.unwrap_with(&key_id, suite, encryption_context, edk) {
                Ok(key) => return Ok(key),
                Err(e) => last_error = Some(e),
            }
        }
        Err(match last_error {
            Some(e) => provider_error(&e),
            None => Error::NoDecryptableDataKey,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn arns_and_multi_region_matching() {
        let a = "arn:aws:kms:us-east-1:111122223333:key/mrk-1234";
        let b = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234";
        let arn = KmsArn::parse(a).unwrap();
        assert!(arn.is_multi_region_key());
        assert_eq!(arn.in_region("eu-west-1"), b);
        assert!(mrk_match(a, b));
        assert!(!mrk_match(
            a,
            "arn:aws:kms:eu-west-1:999922223333:key/mrk-1234"
        ));
        let single = "arn:aws:kms:us-east-1:111122223333:key/1234";
        assert!(mrk_match(single, single));
        assert!(!mrk_match(
            single,
            "arn:aws:kms:eu-west-1:111122223333:key/1234"
        ));
        assert!(KmsArn::parse("arn:aws:kms:us-east-1:111122223333:alias/x").is_some());
        for bad in [
            "alias/x",
            "arn:aws:s3:us-east-1:1:key/x",
            "arn:aws:kms::1:key/x",
            "arn:aws:kms:r:1:grant/x",
            "arn:aws:kms:r:1:key/",
        ] {
            assert!(KmsArn::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn configuration_is_checked() {
        assert!(KmsKeyring::strict(vec![], ClientSettings::default()).is_err());
        let filter = DiscoveryFilter {
            partition: "aws".into(),
            accounts: vec![],
        };
        assert!(KmsKeyring::discovery(Some(filter), None, ClientSettings::default()).is_err());
        let discovery = KmsKeyring::discovery(None, None, ClientSettings::default()).unwrap();
        let mut m = EncryptionMaterials {
            suite: AlgorithmSuite::Aes256GcmHkdfSha512CommitKey,
            encryption_context: EncryptionContext::new(),
            data_key: None,
            encrypted_data_keys: vec![],
        };
        assert!(discovery.on_encrypt(&mut m).is_err());
        // Keys of other providers, and provider info that is not a key ARN, are never sent.
        let edks = [
            EncryptedDataKey {
                provider_id: "raw".into(),
                provider_info: b"arn:aws:kms:us-east-1:1:key/k".to_vec(),
                ciphertext: vec![1],
            },
            EncryptedDataKey {
                provider_id: PROVIDER_ID.into(),
                provider_info: b"arn:aws:kms:us-east-1:1:alias/k".to_vec(),
                ciphertext: vec![1],
            },
        ];
        assert!(matches!(
            discovery.decrypt_data_key(m.suite, &m.encryption_context, &edks),
            Err(Error::NoDecryptableDataKey)
        ));
    }
}
