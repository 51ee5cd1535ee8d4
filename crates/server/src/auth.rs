//! Authentication: SigV4 `Authorization` headers to a principal.
//!
//! Two modes:
//! - **verify** (production): the access key must be one Trent issued and active, and the
//!   signature must match, compared in constant time. Derived signing keys are cached per
//!   (access key, date, region, service), as AWS recommends, so a request costs one HMAC over the
//!   string to sign plus the canonical request hash.
//! - **dev**: any well-formed credentials act as the root of the default account. The header is
//!   still parsed and the scope and clock skew checked, so clients that sign wrongly fail here as
//!   they would against AWS; only the signature itself cannot be checked, having no secret.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use time::OffsetDateTime;
use trent_crypto::SecretBytes;
use trent_store::Store;
use trent_store::clock::Clock;
use trent_wire::ApiError;

/// Largest number of derived signing keys (and access keys) kept in memory.
const CACHE_CAPACITY: usize = 4096;
/// AWS's allowed clock skew.
pub const MAX_SKEW: time::Duration = time::Duration::minutes(15);

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: String,
    pub arn: String,
    pub access_key_id: String,
    pub region: String,
    /// `X-Amz-Security-Token`, kept for temporary credentials (STS) to validate.
    pub session_token: Option<String>,
}

impl Principal {
    /// The caller as authorization sees it, at `now_ms`.
    pub fn requester(
        &self,
        now_ms: i64,
    ) -> Result<trent_policy::Requester, trent_policy::PolicyError> {
        let identity = trent_policy::AwsIdentity::from_arn(&self.arn)?;
        Ok(
            trent_policy::Requester::new(identity, self.region.clone(), now_ms)
                .with_access_key_id(self.access_key_id.clone()),
        )
    }
}

#[derive(Debug, Clone)]
pub enum AuthMode {
    /// Any well-formed credentials are the root of `account_id`.
    Dev { account_id: String },
    /// Signatures are verified against access keys issued by Trent.
    Verify,
}

struct AccessKey {
    account_id: String,
    arn: String,
    active: bool,
    secret: SecretBytes,
}

pub struct Authenticator {
    mode: AuthMode,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Regions served; empty means any.
    regions: Vec<String>,
    access_keys: RwLock<HashMap<String, Arc<AccessKey>>>,
    signing_keys: RwLock<HashMap<String, [u8; 32]>>,
}

/// What the HTTP layer hands to authentication.
pub struct RequestView<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

fn header<'a>(headers: &'a [(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

fn sig_error(e: &trent_sigv4::Error) -> ApiError {
    ApiError::bad_request(e.aws_error_code(), e.message())
}

/// A region name as AWS spells them: `us-east-1`, `eu-central-2`, `us-gov-west-1`.
fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 5
        && s.len() <= 32
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts
            .iter()
            .rev()
            .skip(1)
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

impl Authenticator {
    pub fn new(
        mode: AuthMode,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        regions: Vec<String>,
    ) -> Self {
        Authenticator {
            mode,
            store,
            clock,
            regions,
            access_keys: RwLock::new(HashMap::new()),
            signing_keys: RwLock::new(HashMap::new()),
        }
    }

    pub fn mode(&self) -> &AuthMode {
        &self.mode
    }

    /// Authenticates a request for `service` (the SigV4 signing name, e.g. `kms`).
    pub async fn authenticate(
        &self,
        req: &RequestView<'_>,
        service: &str,
    ) -> Result<Principal, ApiError> {
        let Some(authorization) = header(req.headers, "authorization") else {
            return Err(ApiError::bad_request(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        };
        let auth = trent_sigv4::parse_authorization(authorization).map_err(|e| sig_error(&e))?;
        let amz_date = header(req.headers, "x-amz-date")
            .ok_or_else(|| sig_error(&trent_sigv4::Error::missing_amz_date()))?;
        let when = trent_sigv4::parse_amz_date(amz_date).map_err(|e| sig_error(&e))?;
        if auth.service != service {
            return Err(ApiError::bad_request(
                "InvalidSignatureException",
                format!("Credential should be scoped to correct service: '{service}'."),
            ));
        }
        let region_ok = if self.regions.is_empty() {
            is_region_name(auth.region)
        } else {
            self.regions.iter().any(|r| r == auth.region)
        };
        if !region_ok {
            return Err(ApiError::bad_request(
                "InvalidSignatureException",
                format!(
                    "Credential should be scoped to a valid region, not '{}'.",
                    auth.region.chars().take(64).collect::<String>()
                ),
            ));
        }
        let now =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.clock.now_ms()) * 1_000_000)
                .map_err(|_| ApiError::new("InternalFailure", 500, "clock out of range"))?;
        trent_sigv4::check_skew(when, now, MAX_SKEW).map_err(|e| sig_error(&e))?;

        let (account_id, arn) = match &self.mode {
            AuthMode::Dev { account_id } => {
                if !auth
                    .access_key_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric())
                    || auth.access_key_id.len() < 3
                    || auth.access_key_id.len() > 128
                {
                    return Err(unrecognized());
                }
                (
                    account_id.clone(),
                    format!("arn:aws:iam::{account_id}:root"),
                )
            }
            AuthMode::Verify => {
                let key = self.access_key(auth.access_key_id).await?;
                if !key.active {
                    return Err(unrecognized());
                }
                let signing_key = self.signing_key(&key, &auth);
                let payload_sha256 = trent_crypto::sha256(req.body);
                let request = trent_sigv4::Request {
                    method: req.method,
                    path: req.path,
                    query: req.query,
                    headers: req.headers,
                    payload_sha256,
                };
                trent_sigv4::verify(&signing_key, &auth, &request, amz_date)
                    .map_err(|e| sig_error(&e))?;
                (key.account_id.clone(), key.arn.clone())
            }
        };
        Ok(Principal {
            account_id,
            arn,
            access_key_id: auth.access_key_id.to_string(),
            region: auth.region.to_string(),
            session_token: header(req.headers, "x-amz-security-token").map(str::to_string),
        })
    }

    async fn access_key(&self, access_key_id: &str) -> Result<Arc<AccessKey>, ApiError> {
        if let Some(k) = self
            .access_keys
            .read()
            .ok()
            .and_then(|c| c.get(access_key_id).cloned())
        {
            return Ok(k);
        }
        let record = self
            .store
            .get_access_key(access_key_id)
            .await
            .map_err(|e| {
                tracing::error!(error = %error_chain(&e), "access key lookup failed");
                ApiError::new(
                    "InternalFailure",
                    500,
                    "The request processing has failed because of an unknown error.",
                )
            })?;
        let record = record.ok_or_else(unrecognized)?;
        let key = Arc::new(AccessKey {
            account_id: record.account_id,
            arn: record.principal_arn,
            active: record.status == "Active",
            secret: record.secret,
        });
        if let Ok(mut cache) = self.access_keys.write() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(access_key_id.to_string(), Arc::clone(&key));
        }
        Ok(key)
    }

    fn signing_key(&self, key: &AccessKey, auth: &trent_sigv4::Authorization<'_>) -> [u8; 32] {
        let cache_key = format!(
            "{}\0{}\0{}\0{}",
            auth.access_key_id, auth.date, auth.region, auth.service
        );
        if let Some(k) = self
            .signing_keys
            .read()
            .ok()
            .and_then(|c| c.get(&cache_key).copied())
        {
            return k;
        }
        let derived = trent_sigv4::signing_key(
            key.secret.expose_secret(),
            auth.date,
            auth.region,
            auth.service,
        );
        if let Ok(mut cache) = self.signing_keys.write() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(cache_key, derived);
        }
        derived
    }
}

fn unrecognized() -> ApiError {
    ApiError::bad_request(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
}

/// An error with its sources, for logs.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

/// Issues a new access key secret pair: `AKIA` + 16 base-32 characters, and a 40-character
/// secret.
pub fn new_access_key() -> Result<(String, SecretBytes), trent_crypto::Error> {
    const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let id_bytes: [u8; 16] = trent_crypto::random_array()?;
    let mut id = String::from("AKIA");
    id.extend(
        id_bytes
            .iter()
            .filter_map(|b| B32.get(usize::from(b & 31)).copied().map(char::from)),
    );
    let secret_bytes = SecretBytes::random(40)?;
    let secret: Vec<u8> = secret_bytes
        .expose_secret()
        .iter()
        .filter_map(|b| B64.get(usize::from(b & 63)).copied())
        .collect();
    Ok((id, SecretBytes::new(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-4",
        ] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "",
            "us",
            "us-east",
            "US-east-1",
            "us-east-x",
            "us--1",
            "a-b-c-d-e-1",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn access_keys_look_like_aws_keys() -> Result<(), trent_crypto::Error> {
        let (id, secret) = new_access_key()?;
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AKIA"));
        assert_eq!(secret.len(), 40);
        Ok(())
    }
}
