//! Names, ARNs, staging labels, tags and the shapes shared by several operations.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use trent_crypto::SecretBytes;
use trent_store::{Scope, SecretRecord, SecretVersionRecord};

use crate::SecretsError;

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
pub const AWSPENDING: &str = "AWSPENDING";

/// The KMS key secrets use when none is named.
pub const DEFAULT_KEY_ALIAS: &str = "alias/aws/secretsmanager";
/// Staging labels one secret may carry across its versions.
pub const MAX_STAGES: usize = 20;
/// Versions kept before deprecated ones are removed.
pub const MAX_VERSIONS: usize = 100;
/// A deprecated version is never removed before it is this old.
pub const VERSION_MIN_AGE_MS: i64 = 24 * 3_600_000;
/// Tags one secret may carry.
pub const MAX_TAGS: usize = 50;
/// Largest secret value, in bytes.
pub const MAX_VALUE: usize = 65_536;
pub const DAY_MS: i64 = 86_400_000;

pub const KIND_STRING: &str = "string";
pub const KIND_BINARY: &str = "binary";

/// Characters allowed in a secret name.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '=' | '.' | '@' | '-')
}

/// Checks a secret name for creation: 1–512 characters of `[A-Za-z0-9/_+=.@-]`.
pub fn check_name(name: &str) -> Result<(), SecretsError> {
    if name.is_empty() || name.len() > 512 || !name.chars().all(name_char) {
        return Err(SecretsError::InvalidParameter(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of \
             the following: -/_+=.@!"
                .to_string(),
        ));
    }
    Ok(())
}

/// The ARN prefix of the secrets of a scope.
pub fn arn_prefix(scope: &Scope) -> String {
    format!(
        "arn:aws:secretsmanager:{}:{}:secret:",
        scope.region, scope.account_id
    )
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A new secret's ARN: its name, a hyphen and six random alphanumeric characters, as AWS makes
/// them (a deleted and recreated secret gets a new ARN).
pub fn new_arn(scope: &Scope, name: &str) -> Result<String, SecretsError> {
    let suffix = random_string(ALPHANUMERIC, 6)?;
    Ok(format!("{}{name}-{suffix}", arn_prefix(scope)))
}

/// Uniform random indexes below `n` from the CSPRNG (rejection sampling, so no modulo bias).
#[derive(Default)]
pub struct Dice {
    buf: Vec<u8>,
    pos: usize,
}

impl Dice {
    pub fn new() -> Self {
        Self::default()
    }

    fn next_u32(&mut self) -> Result<u32, SecretsError> {
        if self.pos + 4 > self.buf.len() {
            self.buf = vec![0u8; 4096];
            trent_crypto::fill_random(&mut self.buf)
                .map_err(|_| SecretsError::Internal("random generator failed"))?;
            self.pos = 0;
        }
        let bytes: [u8; 4] = self
            .buf
            .get(self.pos..self.pos + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or(SecretsError::Internal("random buffer"))?;
        self.pos += 4;
        Ok(u32::from_le_bytes(bytes))
    }

    /// A uniform index in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> Result<usize, SecretsError> {
        let n = u32::try_from(n).map_err(|_| SecretsError::Internal("alphabet too large"))?;
        if n == 0 {
            return Err(SecretsError::Internal("empty alphabet"));
        }
        // Accept only values below the largest multiple of n, so every index is equally likely.
        let zone = u32::MAX - (u32::MAX % n + 1) % n;
        loop {
            let v = self.next_u32()?;
            if v <= zone {
                return Ok((v % n) as usize);
            }
        }
    }
}

impl Drop for Dice {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.buf);
    }
}

fn random_string(alphabet: &[u8], len: usize) -> Result<String, SecretsError> {
    let mut dice = Dice::new();
    let mut out = String::with_capacity(len);
    for _ in 0..len {
        let i = dice.below(alphabet.len())?;
        out.push(char::from(
            *alphabet.get(i).ok_or(SecretsError::Internal("index"))?,
        ));
    }
    Ok(out)
}

/// A fresh version id when the request carries no ClientRequestToken.
pub fn new_version_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The first version of a secret whose value changed last, or `None`.
pub fn current(secret: &SecretRecord) -> Option<&SecretVersionRecord> {
    secret
        .versions
        .iter()
        .find(|v| v.stages.iter().any(|s| s == AWSCURRENT))
}

/// `VersionIdsToStages` / `SecretVersionsToStages`: versions that carry labels.
pub fn versions_to_stages(
    secret: &SecretRecord,
) -> std::collections::BTreeMap<String, Vec<String>> {
    secret
        .versions
        .iter()
        .filter(|v| !v.stages.is_empty())
        .map(|v| (v.version_id.clone(), v.stages.clone()))
        .collect()
}

/// Attaches `stage` to `to`, taking it from whichever version held it. Moving `AWSCURRENT` gives
/// `AWSPREVIOUS` to the version it left. The caller checks that `to` exists.
pub fn attach(versions: &mut [SecretVersionRecord], stage: &str, to: &str) {
    let from = versions
        .iter()
        .find(|v| v.stages.iter().any(|s| s == stage))
        .map(|v| v.version_id.clone());
    if from.as_deref() == Some(to) {
        return;
    }
    for v in versions.iter_mut() {
        if v.version_id == to {
            v.stages.push(stage.to_string());
        } else {
            v.stages.retain(|s| s != stage);
        }
    }
    if stage == AWSCURRENT
        && let Some(from) = from
    {
        for v in versions.iter_mut() {
            if v.version_id == from {
                if !v.stages.iter().any(|s| s == AWSPREVIOUS) {
                    v.stages.push(AWSPREVIOUS.to_string());
                }
            } else {
                v.stages.retain(|s| s != AWSPREVIOUS);
            }
        }
    }
}

/// Removes `stage` from `from`. The caller checks the rules (AWSCURRENT cannot just be removed).
pub fn detach(versions: &mut [SecretVersionRecord], stage: &str, from: &str) {
    for v in versions.iter_mut() {
        if v.version_id == from {
            v.stages.retain(|s| s != stage);
        }
    }
}

/// The number of distinct labels across the versions.
pub fn stage_count(versions: &[SecretVersionRecord]) -> usize {
    let mut all: Vec<&str> = versions
        .iter()
        .flat_map(|v| v.stages.iter().map(String::as_str))
        .collect();
    all.sort_unstable();
    all.dedup();
    all.len()
}

/// Drops deprecated versions (no labels), oldest first, while more than [`MAX_VERSIONS`] are
/// kept; never one younger than [`VERSION_MIN_AGE_MS`].
pub fn prune(versions: &mut Vec<SecretVersionRecord>, now_ms: i64) {
    while versions.len() > MAX_VERSIONS {
        let oldest = versions
            .iter()
            .enumerate()
            .filter(|(_, v)| v.stages.is_empty() && now_ms - v.created_ms >= VERSION_MIN_AGE_MS)
            .min_by_key(|(_, v)| v.created_ms)
            .map(|(i, _)| i);
        match oldest {
            Some(i) => {
                versions.remove(i);
            }
            None => return,
        }
    }
}

/// UTC midnight of the day `ms` falls in: LastAccessedDate has day granularity in AWS.
pub fn day_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY_MS)
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: Option<String>,
    pub value: Option<String>,
}

pub fn tags_out(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

/// Validates tag members: keys 1–128, values 0–256 characters.
pub fn check_tags(v: &mut trent_wire::Validator, tags: Option<&Vec<Tag>>) {
    for (i, t) in tags.into_iter().flatten().enumerate() {
        let m = format!("tags.{}.member", i + 1);
        v.required(&format!("{m}.key"), &t.key);
        v.length(&format!("{m}.key"), t.key.as_deref(), 1, 128);
        v.length(&format!("{m}.value"), t.value.as_deref(), 0, 256);
    }
}

/// Merges `new` tags into `tags` (same key: new value), refusing the `aws:` prefix and more than
/// [`MAX_TAGS`].
pub fn merge_tags(tags: &mut Vec<(String, String)>, new: &[Tag]) -> Result<(), SecretsError> {
    for t in new {
        let key = t.key.clone().unwrap_or_default();
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(SecretsError::InvalidParameter(
                "Tag keys starting with 'aws:' are reserved for AWS use.".to_string(),
            ));
        }
        let value = t.value.clone().unwrap_or_default();
        match tags.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => tags.push((key, value)),
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(SecretsError::InvalidParameter(format!(
            "A secret can have at most {MAX_TAGS} tags."
        )));
    }
    Ok(())
}

/// A secret value as it goes out: kept zeroizing until it is written into the response.
pub struct SecretText(pub SecretBytes);

impl Serialize for SecretText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(
            std::str::from_utf8(self.0.expose_secret())
                .map_err(|_| serde::ser::Error::custom("SecretString is not UTF-8"))?,
        )
    }
}

/// A binary secret value as it goes out, base64-encoded into the response.
pub struct SecretBlob(pub SecretBytes);

impl Serialize for SecretBlob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut text = trent_wire::blob::encode(self.0.expose_secret());
        let out = s.serialize_str(&text);
        zeroize::Zeroize::zeroize(&mut text);
        out
    }
}

/// Deserializes `SecretString` straight into [`SecretBytes`].
pub mod secret_string {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretBytes>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(|s| SecretBytes::new(s.into_bytes())))
    }
}

/// Deserializes the base64 `SecretBinary` straight into [`SecretBytes`].
pub mod secret_blob {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretBytes>, D::Error> {
        let Some(mut text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let decoded = trent_wire::blob::decode_secret(&text);
        zeroize::Zeroize::zeroize(&mut text);
        decoded.map(|b| Some(SecretBytes::new(b))).map_err(|_| {
            serde::de::Error::custom("invalid value, expected base64-encoded binary data")
        })
    }
}

/// A request's value: text or binary, as stored (the kind is recorded beside the ciphertext).
pub struct NewValue {
    pub kind: &'static str,
    pub bytes: SecretBytes,
}

/// The value members of CreateSecret, PutSecretValue and UpdateSecret: at most one of the two,
/// each 1–65,536 bytes.
pub fn value_of(
    string: Option<SecretBytes>,
    binary: Option<SecretBytes>,
) -> Result<Option<NewValue>, SecretsError> {
    let mut v = trent_wire::Validator::new();
    v.secret_length(
        "secretString",
        string.as_ref().map(|s| s.len()),
        1,
        MAX_VALUE,
    );
    v.secret_length(
        "secretBinary",
        binary.as_ref().map(|s| s.len()),
        1,
        MAX_VALUE,
    );
    v.finish()?;
    match (string, binary) {
        (Some(_), Some(_)) => Err(SecretsError::InvalidParameter(
            "You can't specify both a binary secret value and a string secret value in the same \
             secret."
                .to_string(),
        )),
        (Some(s), None) => Ok(Some(NewValue {
            kind: KIND_STRING,
            bytes: s,
        })),
        (None, Some(b)) => Ok(Some(NewValue {
            kind: KIND_BINARY,
            bytes: b,
        })),
        (None, None) => Ok(None),
    }
}

/// Validates a ClientRequestToken / VersionId member (32–64 characters).
pub fn check_token(v: &mut trent_wire::Validator, member: &str, token: Option<&str>) {
    v.length(member, token, 32, 64);
}

/// Validates a required SecretId member.
pub fn check_secret_id(v: &mut trent_wire::Validator, id: &Option<String>) {
    v.required("secretId", id);
    v.length("secretId", id.as_deref(), 1, 2048);
}

/// Pagination: the position after the last item returned.
pub fn encode_token(position: usize) -> String {
    trent_wire::blob::encode(format!("v1:{position}").as_bytes())
}

pub fn decode_token(token: Option<&str>) -> Result<usize, SecretsError> {
    let Some(token) = token else {
        return Ok(0);
    };
    trent_wire::blob::decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("v1:").and_then(|n| n.parse().ok()))
        .ok_or(SecretsError::InvalidNextToken)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn arns_get_six_alphanumeric_characters() {
        let scope = Scope::new("111122223333", "eu-west-1");
        let arn = new_arn(&scope, "app/db").unwrap();
        let suffix = arn
            .strip_prefix("arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/db-")
            .unwrap();
        assert_eq!(suffix.len(), 6);
        assert!(suffix.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(arn, new_arn(&scope, "app/db").unwrap());
    }

    #[test]
    fn names() {
        assert!(check_name("prod/db+x=y.z@w-1_").is_ok());
        for bad in ["", "a b", "a:b", "a#", &"x".repeat(513)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dice_is_uniform_enough() {
        let mut dice = Dice::new();
        let mut counts = [0usize; 7];
        for _ in 0..70_000 {
            counts[dice.below(7).unwrap()] += 1;
        }
        // 10,000 expected each; 6 standard deviations is about 570.
        for c in counts {
            assert!((9_400..10_600).contains(&c), "{counts:?}");
        }
    }

    fn version(id: usize, created_ms: i64, stages: &[&str]) -> SecretVersionRecord {
        SecretVersionRecord {
            version_id: format!("{id:0>32}"),
            stages: stages.iter().map(|s| s.to_string()).collect(),
            created_ms,
            last_accessed_ms: None,
            kind: KIND_STRING.to_string(),
            kms_key_arn: String::new(),
        }
    }

    #[test]
    fn retention_drops_old_deprecated_versions_beyond_100() {
        let day = VERSION_MIN_AGE_MS;
        let now = 10 * day;
        // 102 versions: the oldest two deprecated and old, then a labelled old one, then
        // deprecated ones created within the last day.
        let mut versions = vec![
            version(0, 0, &[]),
            version(1, 1, &[]),
            version(2, 2, &[AWSPREVIOUS]),
        ];
        for i in 3..101 {
            versions.push(version(i, now - 1000, &[]));
        }
        versions.push(version(101, now, &[AWSCURRENT]));
        assert_eq!(versions.len(), 102);
        prune(&mut versions, now);
        assert_eq!(versions.len(), 100);
        assert_eq!(versions[0].version_id, format!("{:0>32}", 2));

        // Nothing old enough to drop: more than 100 are kept.
        versions.push(version(102, now, &[]));
        prune(&mut versions, now);
        assert_eq!(versions.len(), 101);
        // A day later the oldest deprecated one goes.
        prune(&mut versions, now + day);
        assert_eq!(versions.len(), 100);
        assert!(versions.iter().any(|v| v.stages == [AWSPREVIOUS]));
        assert!(versions.iter().any(|v| v.stages == [AWSCURRENT]));
    }

    #[test]
    fn tokens_round_trip() {
        assert_eq!(decode_token(Some(&encode_token(42))).unwrap(), 42);
        assert!(decode_token(Some("garbage")).is_err());
        assert_eq!(decode_token(None).unwrap(), 0);
    }
}
