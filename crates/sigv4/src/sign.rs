//! Keys, signatures, server-side verification and client-side signing.

use std::fmt;

use time::OffsetDateTime;
use trent_crypto::{SecretBytes, constant_time_eq, hex, hmac_sha256, sha256};
use zeroize::Zeroizing;

use crate::canonical::{Request, canonical_request, canonical_request_signing_all};
use crate::date::{format_amz_date, format_date_stamp, parse_amz_date};
use crate::{ALGORITHM, Authorization, Error, TERMINATOR, quote};

/// The string to sign (task 2): algorithm, request time, scope, hash of the canonical request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&sha256(canonical_request.as_bytes()))
    )
}

/// The signing key (task 3):
/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
///
/// It depends only on the secret and the scope, so a server may cache it per access key and day.
/// It signs as the secret does for that day, region and service, so it and every intermediate
/// key are zeroized on drop.
pub fn signing_key(
    secret_access_key: &[u8],
    date: &str,
    region: &str,
    service: &str,
) -> Zeroizing<[u8; 32]> {
    let mut k_secret = Vec::with_capacity(4 + secret_access_key.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret_access_key);
    let k_secret = SecretBytes::new(k_secret); // zeroized on drop
    let k_date = Zeroizing::new(hmac_sha256(k_secret.expose_secret(), date.as_bytes()));
    let k_region = Zeroizing::new(hmac_sha256(&*k_date, region.as_bytes()));
    let k_service = Zeroizing::new(hmac_sha256(&*k_region, service.as_bytes()));
    Zeroizing::new(hmac_sha256(&*k_service, TERMINATOR.as_bytes()))
}

/// The signature (task 4): `HMAC(signing_key, string_to_sign)`.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> [u8; 32] {
    hmac_sha256(signing_key, string_to_sign.as_bytes())
}

/// Verifies `auth` against `req`, whose `X-Amz-Date` header value is `amz_date`.
///
/// `signing_key` must be [`signing_key`] of the caller's secret for `auth.date`, `auth.region`
/// and `auth.service`. Checks, in order: `amz_date` is well formed ([`Error::InvalidDate`]);
/// its day is the credential date, so a key derived for one day cannot sign for another
/// ([`Error::Invalid`]); the signed headers are present ([`Error::Invalid`]); and the signature
/// matches, compared in constant time ([`Error::SignatureMismatch`]).
///
/// It does not check clock skew ([`crate::check_skew`]) or the scope's region and service
/// ([`Authorization::check_scope`]).
pub fn verify(
    signing_key: &[u8; 32],
    auth: &Authorization<'_>,
    req: &Request<'_>,
    amz_date: &str,
) -> Result<(), Error> {
    parse_amz_date(amz_date)?;
    let day = amz_date.get(..8).unwrap_or_default();
    if day != auth.date {
        return Err(Error::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            quote(auth.date),
            day,
            amz_date
        )));
    }
    let creq = canonical_request(req, &auth.signed_headers)?;
    let sts = string_to_sign(amz_date, &auth.scope(), &creq);
    if constant_time_eq(&signature(signing_key, &sts), &auth.signature) {
        Ok(())
    } else {
        Err(Error::SignatureMismatch)
    }
}

/// Client-side signer: credentials and scope. `Debug` hides the secret and the token.
#[derive(Clone, Copy)]
pub struct Signer<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// Session token of temporary credentials, sent (and signed) as `x-amz-security-token`.
    pub session_token: Option<&'a str>,
}

impl Signer<'_> {
    /// Signs a request and returns the headers to add to it: `x-amz-date`, then
    /// `x-amz-security-token` if there is a session token, then `authorization`.
    ///
    /// `path` and `query` are exactly as they will be sent (path percent-encoded, query without
    /// `?`). Every header in `headers` is signed, so it must be sent unchanged; it must include
    /// `host` (the server rejects signatures without it) and must not include the headers this
    /// function adds.
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        now: OffsetDateTime,
    ) -> Vec<(String, String)> {
        let amz_date = format_amz_date(now);
        let date = format_date_stamp(now);
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.push(("x-amz-date", &amz_date));
        if let Some(token) = self.session_token {
            all.push(("x-amz-security-token", token));
        }
        let (creq, signed_headers) =
            canonical_request_signing_all(method, path, query, &all, &sha256(body));
        let scope = format!("{date}/{}/{}/{TERMINATOR}", self.region, self.service);
        let key = signing_key(
            self.secret_access_key.as_bytes(),
            &date,
            self.region,
            self.service,
        );
        let sig = signature(&key, &string_to_sign(&amz_date, &scope, &creq));
        let authorization = format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={}",
            self.access_key_id,
            hex(&sig)
        );

        let mut out = vec![("x-amz-date".to_owned(), amz_date.clone())];
        if let Some(token) = self.session_token {
            out.push(("x-amz-security-token".to_owned(), token.to_owned()));
        }
        out.push(("authorization".to_owned(), authorization));
        out
    }
}

impl fmt::Debug for Signer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("region", &self.region)
            .field("service", &self.service)
            .field("session_token", &self.session_token.map(|_| "<redacted>"))
            .finish()
    }
}
