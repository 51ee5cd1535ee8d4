//! GetRandomPassword: a password drawn uniformly from the CSPRNG.
//!
//! Every character is drawn uniformly from the allowed alphabet. With RequireEachIncludedType
//! (the default) a password that misses an included character type is thrown away and drawn
//! again, so the result is uniform over the passwords that satisfy the requirement (placing one
//! character of each type first would favour some passwords).

use serde::{Deserialize, Serialize};
use trent_crypto::SecretBytes;
use trent_wire::Validator;

use crate::model::{Dice, SecretText};
use crate::{Caller, Secrets, SecretsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    password_length: Option<i64>,
    exclude_characters: Option<String>,
    exclude_numbers: Option<bool>,
    exclude_punctuation: Option<bool>,
    exclude_uppercase: Option<bool>,
    exclude_lowercase: Option<bool>,
    include_space: Option<bool>,
    require_each_included_type: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    random_password: SecretText,
}

const LOWERCASE: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPERCASE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const NUMBERS: &str = "0123456789";
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Draws before giving up on a requirement that is (nearly) impossible to meet.
const MAX_DRAWS: usize = 100_000;

/// The password settings, validated.
pub(crate) struct Settings {
    length: usize,
    /// The included character types, each without the excluded characters; none is empty.
    types: Vec<Vec<char>>,
    require_each: bool,
}

impl Settings {
    fn from_request(req: &Request) -> Result<Settings, SecretsError> {
        let exclude: Vec<char> = req
            .exclude_characters
            .as_deref()
            .unwrap_or_default()
            .chars()
            .collect();
        let mut types = Vec::new();
        for (set, excluded) in [
            (LOWERCASE, req.exclude_lowercase),
            (UPPERCASE, req.exclude_uppercase),
            (NUMBERS, req.exclude_numbers),
            (PUNCTUATION, req.exclude_punctuation),
            (" ", req.include_space.map(|i| !i).or(Some(true))),
        ] {
            if excluded == Some(true) {
                continue;
            }
            let chars: Vec<char> = set.chars().filter(|c| !exclude.contains(c)).collect();
            if !chars.is_empty() {
                types.push(chars);
            }
        }
        if types.is_empty() {
            return Err(SecretsError::InvalidParameter(
                "The password can't be generated: every character type is excluded.".to_string(),
            ));
        }
        let length = usize::try_from(req.password_length.unwrap_or(32))
            .map_err(|_| SecretsError::Internal("validated length"))?;
        let require_each = req.require_each_included_type != Some(false);
        if require_each && length < types.len() {
            return Err(SecretsError::InvalidParameter(format!(
                "The password length {length} is too short to include each of the {} included \
                 character types.",
                types.len()
            )));
        }
        Ok(Settings {
            length,
            types,
            require_each,
        })
    }

    pub(crate) fn generate(&self) -> Result<SecretBytes, SecretsError> {
        let alphabet: Vec<char> = self.types.iter().flatten().copied().collect();
        let mut dice = Dice::new();
        for _ in 0..MAX_DRAWS {
            let mut password = String::with_capacity(self.length);
            for _ in 0..self.length {
                let i = dice.below(alphabet.len())?;
                password.push(*alphabet.get(i).ok_or(SecretsError::Internal("index"))?);
            }
            let complete = !self.require_each
                || self
                    .types
                    .iter()
                    .all(|t| password.chars().any(|c| t.contains(&c)));
            if complete {
                return Ok(SecretBytes::new(password.into_bytes()));
            }
            zeroize::Zeroize::zeroize(&mut password);
        }
        Err(SecretsError::InvalidParameter(
            "A password that includes each character type could not be generated; allow more \
             characters or a longer password."
                .to_string(),
        ))
    }
}

/// The password a built-in rotator sets: GetRandomPassword's defaults (32 characters, each
/// type required) without `exclude`.
pub(crate) fn for_rotation(exclude: &str) -> Result<SecretBytes, SecretsError> {
    let req = Request {
        password_length: Some(32),
        exclude_characters: Some(exclude.to_string()),
        exclude_numbers: None,
        exclude_punctuation: None,
        exclude_uppercase: None,
        exclude_lowercase: None,
        include_space: None,
        require_each_included_type: None,
    };
    Settings::from_request(&req)?.generate()
}

pub async fn handle(
    _secrets: &Secrets,
    caller: &Caller,
    req: Request,
) -> Result<Response, SecretsError> {
    crate::authz::authorize(caller, "GetRandomPassword", "*", None)?;
    let mut v = Validator::new();
    v.range("passwordLength", req.password_length, 1, 4096);
    v.length(
        "excludeCharacters",
        req.exclude_characters.as_deref(),
        0,
        4096,
    );
    v.finish()?;
    let settings = Settings::from_request(&req)?;
    Ok(Response {
        random_password: SecretText(settings.generate()?),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(json: &str) -> Request {
        serde_json::from_str(json).unwrap()
    }

    fn generate(json: &str) -> String {
        let s = Settings::from_request(&request(json)).unwrap();
        String::from_utf8(s.generate().unwrap().expose_secret().to_vec()).unwrap()
    }

    #[test]
    fn defaults_are_32_characters_of_every_type_but_space() {
        for _ in 0..200 {
            let p = generate("{}");
            assert_eq!(p.chars().count(), 32);
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| PUNCTUATION.contains(c)));
            assert!(!p.contains(' '));
        }
    }

    #[test]
    fn exclusions_and_space() {
        for _ in 0..200 {
            let p = generate(
                r#"{"PasswordLength":4,"ExcludeUppercase":true,"ExcludePunctuation":true,
                    "ExcludeCharacters":"abc0","IncludeSpace":true}"#,
            );
            assert_eq!(p.len(), 4);
            assert!(p.contains(' '));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(
                p.chars()
                    .all(|c| c == ' ' || c.is_ascii_digit() || c.is_ascii_lowercase())
            );
            assert!(!p.chars().any(|c| "abc0".contains(c)));
        }
    }

    #[test]
    fn impossible_settings_are_refused() {
        let everything = r#"{"ExcludeUppercase":true,"ExcludeLowercase":true,
            "ExcludeNumbers":true,"ExcludePunctuation":true}"#;
        assert!(Settings::from_request(&request(everything)).is_err());
        assert!(Settings::from_request(&request(r#"{"PasswordLength":3}"#)).is_err());
        assert!(
            Settings::from_request(&request(
                r#"{"PasswordLength":3,"RequireEachIncludedType":false}"#
            ))
            .is_ok()
        );
    }

    #[test]
    fn characters_are_uniform() {
        // Single-character passwords without the requirement: each of the 10 digits should
        // come up about equally often.
        let s = Settings::from_request(&request(
            r#"{"PasswordLength":1,"ExcludeUppercase":true,"ExcludeLowercase":true,
                "ExcludePunctuation":true,"RequireEachIncludedType":false}"#,
        ))
        .unwrap();
        let mut counts = [0usize; 10];
        for _ in 0..20_000 {
            let p = s.generate().unwrap();
            let d = p.expose_secret().first().copied().unwrap();
            counts[usize::from(d - b'0')] += 1;
        }
        for c in counts {
            assert!((1_700..2_300).contains(&c), "{counts:?}");
        }
    }
}
