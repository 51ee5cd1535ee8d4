//! Authentication: SigV4 `Authorization` headers to a principal.
//!
//! The access key is resolved by `trent-iam` to its identity — the account root, an IAM user
//! (with its `AIDA…` id and tags) or a role session (with its role, role and session tags) —
//! and the identity policies in force for it, which go into the request's `Requester`.
//! Temporary (`ASIA…`) keys also need their `X-Amz-Security-Token`, unexpired.
//!
//! Two modes:
//! - **verify** (production): the access key must be one Trent issued and active, and the
//!   signature must match, compared in constant time. Derived signing keys are cached per
//!   (access key, date, region, service), as AWS recommends, so a request costs one HMAC over the
//!   string to sign plus the canonical request hash.
//! - **dev**: any well-formed credentials act as the root of the default account. The header is
//!   still parsed and the scope and clock skew checked, so clients that sign wrongly fail here as
//!   they would against AWS; only the signature itself cannot be checked, having no secret.
//!   Access keys Trent issued (users, role sessions, other accounts' roots) are the exception:
//!   they are verified exactly as in production and act as their own identity, so IAM users
//!   and roles can be tried out in dev mode too.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use time::OffsetDateTime;
use trent_crypto::SecretBytes;
use trent_store::clock::Clock;
use trent_wire::ApiError;
use zeroize::Zeroizing;

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
    /// The resolved identity and its policies; `None` for a dev-mode caller (the default
    /// account's root, with no policies).
    identity: Option<Arc<trent_iam::Identity>>,
}

impl Principal {
    /// The caller as authorization sees it, at `now_ms`: its identity (user id, role ARN,
    /// principal and session tags) and identity-based policies.
    pub fn requester(
        &self,
        now_ms: i64,
    ) -> Result<trent_policy::Requester, trent_policy::PolicyError> {
        let requester = match &self.identity {
            Some(id) => trent_policy::Requester::new(id.aws.clone(), self.region.clone(), now_ms)
                .with_policies(Arc::clone(&id.policies)),
            None => trent_policy::Requester::new(
                trent_policy::AwsIdentity::from_arn(&self.arn)?,
                self.region.clone(),
                now_ms,
            ),
        };
        Ok(requester.with_access_key_id(self.access_key_id.clone()))
    }
}

#[derive(Debug, Clone)]
pub enum AuthMode {
    /// Any well-formed credentials are the root of `account_id`, except access keys Trent
    /// issued, which are verified and act as their identity.
    Dev { account_id: String },
    /// Signatures are verified against access keys issued by Trent.
    Verify,
}

pub struct Authenticator {
    mode: AuthMode,
    iam: Arc<trent_iam::Iam>,
    clock: Arc<dyn Clock>,
    /// Regions served; empty means any.
    regions: Vec<String>,
    signing_keys: RwLock<HashMap<String, Zeroizing<[u8; 32]>>>,
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
        iam: Arc<trent_iam::Iam>,
        clock: Arc<dyn Clock>,
        regions: Vec<String>,
    ) -> Self {
        Authenticator {
            mode,
            iam,
            clock,
            regions,
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
        // IAM is global: clients sign it for us-east-1 whatever regions this server serves.
        let region_ok = if self.regions.is_empty() || service == "iam" {
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

        let well_formed = auth
            .access_key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
            && (3..=128).contains(&auth.access_key_id.len());
        if !well_formed {
            return Err(unrecognized());
        }
        let credential = self.iam.credential(auth.access_key_id).await.map_err(|e| {
            tracing::error!(error = %error_chain(&e), "access key lookup failed");
            ApiError::new(
                "InternalFailure",
                500,
                "The request processing has failed because of an unknown error.",
            )
        })?;
        let credential = match (&self.mode, credential) {
            (_, Some(c)) => c,
            (AuthMode::Dev { account_id }, None) => {
                return Ok(Principal {
                    account_id: account_id.clone(),
                    arn: format!("arn:aws:iam::{account_id}:root"),
                    access_key_id: auth.access_key_id.to_string(),
                    region: auth.region.to_string(),
                    identity: None,
                });
            }
            (AuthMode::Verify, None) => return Err(unrecognized()),
        };
        if !credential.active {
            return Err(unrecognized());
        }
        if let Some(session) = &credential.session {
            let token = header(req.headers, "x-amz-security-token").ok_or_else(unrecognized)?;
            if !session.token_matches(token) {
                return Err(unrecognized());
            }
            if self.clock.now_ms() >= session.expires_ms {
                return Err(ApiError::bad_request(
                    "ExpiredTokenException",
                    "The security token included in the request is expired",
                ));
            }
        }
        let signing_key = self.signing_key(credential.secret(), &auth);
        let payload_sha256 = trent_crypto::sha256(req.body);
        let request = trent_sigv4::Request {
            method: req.method,
            path: req.path,
            query: req.query,
            headers: req.headers,
            payload_sha256,
        };
        trent_sigv4::verify(&signing_key, &auth, &request, amz_date).map_err(|e| sig_error(&e))?;
        Ok(Principal {
            account_id: credential.account_id.clone(),
            arn: credential.identity.aws.arn().to_owned(),
            access_key_id: auth.access_key_id.to_string(),
            region: auth.region.to_string(),
            identity: Some(Arc::clone(&credential.identity)),
        })
    }

    /// The SigV4 signing key of `secret` for the request's day, region and service: cached, and
    /// like the cache's entries zeroized when dropped (a cache that fills up starts over).
    fn signing_key(
        &self,
        secret: &SecretBytes,
        auth: &trent_sigv4::Authorization<'_>,
    ) -> Zeroizing<[u8; 32]> {
        let cache_key = format!(
            "{}\0{}\0{}\0{}",
            auth.access_key_id, auth.date, auth.region, auth.service
        );
        if let Some(k) = self
            .signing_keys
            .read()
            .ok()
            .and_then(|c| c.get(&cache_key).cloned())
        {
            return k;
        }
        let derived =
            trent_sigv4::signing_key(secret.expose_secret(), auth.date, auth.region, auth.service);
        if let Ok(mut cache) = self.signing_keys.write() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(cache_key, derived.clone());
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
pub fn new_access_key() -> Result<(String, SecretBytes), trent_iam::IamError> {
    trent_iam::new_access_key("AKIA")
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
    fn access_keys_look_like_aws_keys() -> Result<(), trent_iam::IamError> {
        let (id, secret) = new_access_key()?;
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AKIA"));
        assert_eq!(secret.len(), 40);
        Ok(())
    }
}
