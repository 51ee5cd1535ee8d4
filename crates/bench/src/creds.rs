//! Credentials: from flags or the environment, or from an AWS shared-credentials file (the
//! format of the `root-credentials` file `trent serve` writes, profile `[trent]`).

use std::path::Path;

use anyhow::{Context as _, bail};

/// An access key pair.
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Reads `profile` from a shared-credentials (INI) file.
pub fn from_file(path: &Path, profile: &str) -> anyhow::Result<Credentials> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read credentials file {}", path.display()))?;
    parse(&text, profile).with_context(|| format!("in credentials file {}", path.display()))
}

fn parse(text: &str, profile: &str) -> anyhow::Result<Credentials> {
    let mut section: Option<&str> = None;
    let mut id = None;
    let mut secret = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            section = Some(name.strip_prefix("profile ").unwrap_or(name).trim());
            continue;
        }
        if section != Some(profile) {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_owned()),
                "aws_secret_access_key" => secret = Some(v.trim().to_owned()),
                _ => {}
            }
        }
    }
    match (id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
            access_key_id,
            secret_access_key,
        }),
        _ => bail!("profile [{profile}] has no aws_access_key_id and aws_secret_access_key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_trent_profile() {
        let text = "# comment\n[default]\naws_access_key_id = A\naws_secret_access_key = B\n\
                    [trent]\naws_access_key_id = AKIAXYZ\naws_secret_access_key = s/e+cret\n";
        let c = parse(text, "trent").unwrap();
        assert_eq!(c.access_key_id, "AKIAXYZ");
        assert_eq!(c.secret_access_key, "s/e+cret");
        assert!(parse(text, "other").is_err());
    }
}
