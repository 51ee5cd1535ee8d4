//! The standard credential and region chain: environment variables, then the shared
//! credentials and config files (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`, defaulting to
//! `~/.aws/credentials` and `~/.aws/config`) for the profile `AWS_PROFILE` (or `default`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Credentials for signing. `Debug` hides the secret and the token.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
    pub session_token: Option<Zeroizing<String>>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Where the chain reads from; `from_env` is the process environment.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub vars: BTreeMap<String, String>,
    pub home: Option<PathBuf>,
}

impl Environment {
    pub fn from_env() -> Environment {
        Environment {
            vars: std::env::vars()
                .filter(|(k, _)| k.starts_with("AWS_"))
                .collect(),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn file(&self, var: &str, default: &str) -> Option<PathBuf> {
        self.var(var)
            .map(PathBuf::from)
            .or_else(|| self.home.as_ref().map(|h| h.join(".aws").join(default)))
    }

    /// The profile: `profile` if given, else `AWS_PROFILE`, else `default`.
    fn profile_name<'a>(&'a self, profile: Option<&'a str>) -> &'a str {
        profile
            .or_else(|| self.var("AWS_PROFILE"))
            .unwrap_or("default")
    }

    /// Credentials from the environment (unless a profile is named explicitly), else from the
    /// profile in the credentials file, else from the config file.
    pub fn credentials(&self, profile: Option<&str>) -> Result<Credentials, String> {
        if profile.is_none()
            && let (Some(id), Some(secret)) = (
                self.var("AWS_ACCESS_KEY_ID"),
                self.var("AWS_SECRET_ACCESS_KEY"),
            )
        {
            return Ok(Credentials {
                access_key_id: id.to_owned(),
                secret_access_key: Zeroizing::new(secret.to_owned()),
                session_token: self
                    .var("AWS_SESSION_TOKEN")
                    .map(|t| Zeroizing::new(t.to_owned())),
            });
        }
        let name = self.profile_name(profile);
        let sources = [
            (
                self.file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
                name.to_owned(),
            ),
            (
                self.file("AWS_CONFIG_FILE", "config"),
                if name == "default" {
                    "default".to_owned()
                } else {
                    format!("profile {name}")
                },
            ),
        ];
        for (path, section) in sources {
            let Some(path) = path else { continue };
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let text = Zeroizing::new(text);
            let fields = section_fields(&text, &section);
            if let (Some(id), Some(secret)) = (
                fields.get("aws_access_key_id"),
                fields.get("aws_secret_access_key"),
            ) {
                return Ok(Credentials {
                    access_key_id: id.clone(),
                    secret_access_key: Zeroizing::new(secret.clone()),
                    session_token: fields
                        .get("aws_session_token")
                        .map(|t| Zeroizing::new(t.clone())),
                });
            }
        }
        Err(format!(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give \
             profile {name:?} keys in the shared credentials or config file"
        ))
    }

    /// The region: `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's `region` in the
    /// config file.
    pub fn region(&self, profile: Option<&str>) -> Option<String> {
        if let Some(r) = self
            .var("AWS_REGION")
            .or_else(|| self.var("AWS_DEFAULT_REGION"))
        {
            return Some(r.to_owned());
        }
        let name = self.profile_name(profile);
        let section = if name == "default" {
            "default".to_owned()
        } else {
            format!("profile {name}")
        };
        let text = std::fs::read_to_string(self.file("AWS_CONFIG_FILE", "config")?).ok()?;
        section_fields(&text, &section).get("region").cloned()
    }

    /// The CA bundle to trust for HTTPS endpoints instead of the system's roots:
    /// `AWS_CA_BUNDLE`.
    pub fn ca_bundle(&self) -> Option<PathBuf> {
        self.var("AWS_CA_BUNDLE").map(PathBuf::from)
    }

    /// The KMS endpoint override: `AWS_ENDPOINT_URL_KMS`, else `AWS_ENDPOINT_URL`.
    pub fn kms_endpoint(&self) -> Option<String> {
        self.var("AWS_ENDPOINT_URL_KMS")
            .or_else(|| self.var("AWS_ENDPOINT_URL"))
            .map(str::to_owned)
    }
}

/// The `key = value` pairs of `[section]` in an INI-style AWS file (`#`/`;` comments).
fn section_fields(text: &str, section: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if inside && let Some((k, v)) = line.split_once('=') {
            out.insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)], home: Option<PathBuf>) -> Environment {
        Environment {
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            home,
        }
    }

    #[test]
    fn environment_then_files_then_config_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        let config = dir.path().join("config");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n\
             # comment\n[dev]\naws_access_key_id=AKIDDEV\naws_secret_access_key=s2\n\
             aws_session_token=tok\n",
        )
        .unwrap();
        std::fs::write(
            &config,
            "[default]\nregion = eu-west-1\n[profile cfg]\nregion=ap-south-1\n\
             aws_access_key_id = AKIDCFG\naws_secret_access_key = s3\n",
        )
        .unwrap();
        let files = [
            ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
            ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ];
        let e = env(
            &[
                files[0],
                files[1],
                ("AWS_ACCESS_KEY_ID", "AKIDENV"),
                ("AWS_SECRET_ACCESS_KEY", "s0"),
            ],
            None,
        );
        assert_eq!(e.credentials(None).unwrap().access_key_id, "AKIDENV");
        // An explicit profile wins over the environment.
        let dev = e.credentials(Some("dev")).unwrap();
        assert_eq!(dev.access_key_id, "AKIDDEV");
        assert_eq!(dev.session_token.unwrap().as_str(), "tok");
        let e = env(&files, None);
        assert_eq!(e.credentials(None).unwrap().access_key_id, "AKIDDEFAULT");
        assert_eq!(e.region(None).unwrap(), "eu-west-1");
        let e = env(&[files[0], files[1], ("AWS_PROFILE", "cfg")], None);
        assert_eq!(e.credentials(None).unwrap().access_key_id, "AKIDCFG");
        assert_eq!(e.region(None).unwrap(), "ap-south-1");
        assert!(e.credentials(Some("missing")).is_err());
        let e = env(
            &[("AWS_REGION", "us-east-2"), ("AWS_DEFAULT_REGION", "x")],
            None,
        );
        assert_eq!(e.region(None).unwrap(), "us-east-2");
        // ~/.aws is the default location.
        std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
        std::fs::copy(&creds, dir.path().join(".aws/credentials")).unwrap();
        let e = env(&[], Some(dir.path().to_path_buf()));
        assert_eq!(e.credentials(None).unwrap().access_key_id, "AKIDDEFAULT");
        assert!(!format!("{:?}", e.credentials(None).unwrap()).contains("s1"));
        let e = env(
            &[
                ("AWS_ENDPOINT_URL", "http://a"),
                ("AWS_ENDPOINT_URL_KMS", "http://b"),
            ],
            None,
        );
        assert_eq!(e.kms_endpoint().unwrap(), "http://b");
    }
}
