//! TLS for the listener: rustls with the aws-lc-rs provider, TLS 1.2 and 1.3 only, HTTP/2 and
//! HTTP/1.1 by ALPN.
//!
//! The certificate chain and private key come from PEM files and can be reloaded while serving
//! ([`TlsConfig::reload`], which `trent serve` calls on SIGHUP): connections already open keep
//! the configuration they started with, new ones get the new certificate. A reload that fails
//! leaves the current certificate in place.
//!
//! [`self_signed`] makes a certificate for a first run (`trent serve --tls-self-signed`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why TLS could not be set up. Messages name the file and the problem, never key bytes.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate chain from {path}: {reason}")]
    Certificates { path: PathBuf, reason: String },
    #[error("cannot read a private key from {path}: {reason}")]
    PrivateKey { path: PathBuf, reason: String },
    #[error("the certificate and the private key do not form a usable TLS identity: {0}")]
    Config(String),
    #[error("cannot create the self-signed certificate: {0}")]
    SelfSigned(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the PEM files are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The leaf's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The listener's TLS configuration, swappable while serving.
#[derive(Debug)]
pub struct TlsConfig {
    files: TlsFiles,
    /// The configuration in use and its leaf certificate.
    current: RwLock<(Arc<ServerConfig>, Leaf)>,
}

/// What status reports tell of the leaf certificate in use.
#[derive(Debug, Clone)]
struct Leaf {
    fingerprint: String,
    /// The certificate's notAfter (`None` if it could not be read from the DER).
    not_after: Option<time::OffsetDateTime>,
}

impl TlsConfig {
    /// Loads the certificate chain and key.
    pub fn load(files: TlsFiles) -> Result<Arc<TlsConfig>, TlsError> {
        let config = build(&files)?;
        Ok(Arc::new(TlsConfig {
            files,
            current: RwLock::new(config),
        }))
    }

    /// Reads the files again; on success new connections use them. Returns the SHA-256
    /// fingerprint of the new leaf certificate.
    pub fn reload(&self) -> Result<String, TlsError> {
        let (config, leaf) = build(&self.files)?;
        let fingerprint = leaf.fingerprint.clone();
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = (config, leaf);
        Ok(fingerprint)
    }

    /// The SHA-256 fingerprint of the leaf certificate now in use.
    pub fn fingerprint(&self) -> String {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        current.1.fingerprint.clone()
    }

    /// When the leaf certificate now in use expires.
    pub fn not_after(&self) -> Option<time::OffsetDateTime> {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        current.1.not_after
    }

    /// The leaf certificate's expiry for status reports:
    /// `{"fingerprint": …, "not_after": RFC 3339, "days_left": n}` (days left rounded down,
    /// negative once expired).
    pub fn expiry_json(&self) -> serde_json::Value {
        let not_after = self.not_after();
        let days_left = not_after.map(|t| (t - time::OffsetDateTime::now_utc()).whole_days());
        serde_json::json!({
            "fingerprint": self.fingerprint(),
            "not_after": not_after.and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339).ok()
            }),
            "days_left": days_left,
        })
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        let config = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        TlsAcceptor::from(Arc::clone(&config.0))
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificates {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificates {
            path: path.to_path_buf(),
            reason: "the file holds no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// The server configuration from the files, and the leaf certificate's fingerprint.
fn build(files: &TlsFiles) -> Result<(Arc<ServerConfig>, Leaf), TlsError> {
    let chain = read_chain(&files.cert)?;
    let leaf = Leaf {
        fingerprint: chain.first().map(|c| fingerprint(c)).unwrap_or_default(),
        not_after: chain.first().and_then(|c| not_after(c.as_ref())),
    };
    // The error of a key file names the problem, never the key's content.
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::PrivateKey {
        path: files.key.clone(),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "the file holds no PRIVATE KEY block".into()
            }
            rustls::pki_types::pem::Error::Io(io) => io.to_string(),
            _ => "the file is not valid PEM".into(),
        },
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), leaf))
}

/// `sha256:` and the hex SHA-256 of a certificate's DER bytes, as `openssl x509 -fingerprint
/// -sha256` prints it (colon-separated pairs).
fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = trent_crypto::sha256(cert.as_ref());
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    format!("sha256:{}", hex.join(":"))
}

/// One DER element: its tag, its content and what follows it.
fn der_next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, after) = rest.split_at_checked(n)?;
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}

/// The notAfter of an X.509 certificate (RFC 5280: Certificate → tbsCertificate → the
/// optional version, serialNumber, signature, issuer, validity).
fn not_after(der: &[u8]) -> Option<time::OffsetDateTime> {
    let (0x30, cert, _) = der_next(der)? else {
        return None;
    };
    let (0x30, tbs, _) = der_next(cert)? else {
        return None;
    };
    let (mut tag, _, mut rest) = der_next(tbs)?;
    if tag == 0xA0 {
        (tag, _, rest) = der_next(rest)?;
    }
    if tag != 0x02 {
        return None;
    }
    let (_, _, rest) = der_next(rest)?; // signature algorithm
    let (_, _, rest) = der_next(rest)?; // issuer
    let (0x30, validity, _) = der_next(rest)? else {
        return None;
    };
    let (_, _, rest) = der_next(validity)?; // notBefore
    let (tag, text, _) = der_next(rest)?;
    asn1_time(tag, text)
}

/// A UTCTime (`YYMMDDHHMMSSZ`, tag 0x17) or GeneralizedTime (`YYYYMMDDHHMMSSZ`, tag 0x18).
fn asn1_time(tag: u8, bytes: &[u8]) -> Option<time::OffsetDateTime> {
    let text = std::str::from_utf8(bytes).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i32 = text.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
        }
        0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    if rest.len() != 10 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let two = |i: usize| rest.get(i..i + 2)?.parse::<u8>().ok();
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(two(0)?).ok()?, two(2)?).ok()?;
    let clock = time::Time::from_hms(two(4)?, two(6)?, two(8)?).ok()?;
    Some(time::PrimitiveDateTime::new(date, clock).assume_utc())
}

/// The certificate of a first run: `tls/self-signed-cert.pem` and `tls/self-signed-key.pem` in
/// `data_dir`, made once (ECDSA P-256, valid for `localhost`, 127.0.0.1 and ::1 plus `names`,
/// for ten years) and reused on later starts. Returns the files and whether they were created.
pub fn self_signed(data_dir: &Path, names: &[String]) -> Result<(TlsFiles, bool), TlsError> {
    let dir = data_dir.join("tls");
    let files = TlsFiles {
        cert: dir.join("self-signed-cert.pem"),
        key: dir.join("self-signed-key.pem"),
    };
    if files.cert.exists() && files.key.exists() {
        return Ok((files, false));
    }
    let mut subject_names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    for n in names {
        if !subject_names.contains(n) {
            subject_names.push(n.clone());
        }
    }
    let err = |e: rcgen::Error| TlsError::SelfSigned(e.to_string());
    let mut params = rcgen::CertificateParams::new(subject_names).map_err(err)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Trent self-signed");
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(3650);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let cert = params.self_signed(&key).map_err(err)?;
    let write = |path: &Path, text: &str, private: bool| -> Result<(), TlsError> {
        let to_err = |source| TlsError::Write {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(to_err)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(if private { 0o600 } else { 0o644 });
        }
        let mut file = options.open(path).map_err(to_err)?;
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(to_err)
    };
    let key_pem = zeroize::Zeroizing::new(key.serialize_pem());
    write(&files.key, &key_pem, true)?;
    write(&files.cert, &cert.pem(), false)?;
    Ok((files, true))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn not_after_is_read_from_the_certificate() {
        for not_after_date in [
            time::macros::datetime!(2031-07-04 12:34:56 UTC),
            // After 2049 certificates use GeneralizedTime.
            time::macros::datetime!(2061-01-02 03:04:05 UTC),
        ] {
            let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
            params.not_after = not_after_date;
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            assert_eq!(not_after(cert.der()), Some(not_after_date));
        }
        assert_eq!(not_after(b"not a certificate"), None);
        assert_eq!(not_after(&[]), None);
    }
}
