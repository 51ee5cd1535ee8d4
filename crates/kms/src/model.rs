//! Validated KMS types: key references, states, specs, tags, and the KeyMetadata response shape.

use serde::Serialize;
use trent_store::{KeyRecord, Scope};
use trent_wire::Validator;

use crate::KmsError;

pub const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";
pub const ENCRYPT_DECRYPT: &str = "ENCRYPT_DECRYPT";
pub const GENERATE_VERIFY_MAC: &str = "GENERATE_VERIFY_MAC";
pub const SIGN_VERIFY: &str = "SIGN_VERIFY";
pub const KEY_AGREEMENT: &str = "KEY_AGREEMENT";
pub const ECDH: &str = "ECDH";
pub const SIGNING_ALGORITHMS: &[&str] = &[
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "ECDSA_SHA_256",
    "ECDSA_SHA_384",
    "ECDSA_SHA_512",
    "SM2DSA",
    "ML_DSA_SHAKE_256",
    "ED25519_SHA_512",
    "ED25519_PH_SHA_512",
];
pub const MESSAGE_TYPES: &[&str] = &["RAW", "DIGEST", "EXTERNAL_MU"];
pub const KEY_AGREEMENT_ALGORITHMS: &[&str] = &["ECDH"];
pub const DATA_KEY_PAIR_SPECS: &[&str] = &[
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "SM2",
    "ECC_NIST_EDWARDS25519",
    "ML_KEM_512",
    "ML_KEM_768",
    "ML_KEM_1024",
];
pub const MAC_ALGORITHMS: &[&str] = &[
    "HMAC_SHA_224",
    "HMAC_SHA_256",
    "HMAC_SHA_384",
    "HMAC_SHA_512",
];
pub const KEY_SPECS: &[&str] = &[
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "SYMMETRIC_DEFAULT",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "SM2",
    "ML_DSA_44",
    "ML_DSA_65",
    "ML_DSA_87",
    "ECC_NIST_EDWARDS25519",
    "ML_KEM_512",
    "ML_KEM_768",
    "ML_KEM_1024",
];
pub const CUSTOMER_MASTER_KEY_SPECS: &[&str] = &[
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "SYMMETRIC_DEFAULT",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "SM2",
];
pub const KEY_USAGES: &[&str] = &[
    "SIGN_VERIFY",
    "ENCRYPT_DECRYPT",
    "GENERATE_VERIFY_MAC",
    "KEY_AGREEMENT",
    "ENCAPSULATE_DECAPSULATE",
];
pub const ORIGINS: &[&str] = &["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"];
pub const ENCRYPTION_ALGORITHMS: &[&str] = &[
    "SYMMETRIC_DEFAULT",
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "SM2PKE",
];
pub const DATA_KEY_SPECS: &[&str] = &["AES_256", "AES_128"];

/// Most tags a key may carry.
pub const MAX_TAGS: usize = 50;
/// Most aliases one key may have.
pub const MAX_ALIASES_PER_KEY: usize = 50;
/// The documented key policy quota (the model allows more; the service refuses it).
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

/// What a key spec is, for the specs Trent can create. Everything that depends on the kind of
/// key (usages, algorithms, which operations apply) is derived from this one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Symmetric,
    Hmac(trent_crypto::MacAlgorithm),
    Asymmetric(trent_crypto::AsymmetricSpec),
}

impl KeyKind {
    /// The kind of a KeySpec name; `None` for specs this server does not implement.
    pub fn from_spec(spec: &str) -> Option<Self> {
        if spec == SYMMETRIC_DEFAULT {
            return Some(KeyKind::Symmetric);
        }
        if let Some(alg) = trent_crypto::MacAlgorithm::from_key_spec(spec) {
            return Some(KeyKind::Hmac(alg));
        }
        trent_crypto::AsymmetricSpec::from_kms_name(spec).map(KeyKind::Asymmetric)
    }

    /// The key usages AWS allows for this kind of key.
    pub fn usages(self) -> &'static [&'static str] {
        match self {
            KeyKind::Symmetric => &[ENCRYPT_DECRYPT],
            KeyKind::Hmac(_) => &[GENERATE_VERIFY_MAC],
            KeyKind::Asymmetric(spec) if spec.is_rsa() => &[ENCRYPT_DECRYPT, SIGN_VERIFY],
            KeyKind::Asymmetric(spec) if spec.supports_key_agreement() => {
                &[SIGN_VERIFY, KEY_AGREEMENT]
            }
            KeyKind::Asymmetric(_) => &[SIGN_VERIFY],
        }
    }

    /// The asymmetric spec, if this is an asymmetric key.
    pub fn asymmetric(self) -> Option<trent_crypto::AsymmetricSpec> {
        match self {
            KeyKind::Asymmetric(spec) => Some(spec),
            _ => None,
        }
    }
}

/// The algorithm lists of KeyMetadata and GetPublicKey for a key spec and usage.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Algorithms {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithms: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_agreement_algorithms: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_algorithms: Option<Vec<&'static str>>,
}

impl Algorithms {
    pub fn of(key_spec: &str, key_usage: &str) -> Self {
        let mut out = Algorithms::default();
        match (KeyKind::from_spec(key_spec), key_usage) {
            (Some(KeyKind::Symmetric), ENCRYPT_DECRYPT) => {
                out.encryption_algorithms = Some(vec![SYMMETRIC_DEFAULT]);
            }
            (Some(KeyKind::Hmac(alg)), _) => out.mac_algorithms = Some(vec![alg.kms_name()]),
            (Some(KeyKind::Asymmetric(spec)), ENCRYPT_DECRYPT) => {
                out.encryption_algorithms = Some(
                    spec.encryption_algorithms()
                        .iter()
                        .map(|a| a.kms_name())
                        .collect(),
                );
            }
            (Some(KeyKind::Asymmetric(spec)), SIGN_VERIFY) => {
                out.signing_algorithms = Some(
                    spec.signing_algorithms()
                        .iter()
                        .map(|a| a.kms_name())
                        .collect(),
                );
            }
            (Some(KeyKind::Asymmetric(_)), KEY_AGREEMENT) => {
                out.key_agreement_algorithms = Some(vec![ECDH]);
            }
            _ => {}
        }
        out
    }
}

/// The states of a KMS key, as the API spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
    PendingImport,
    Unavailable,
    /// A multi-Region primary key scheduled for deletion while it still has replicas; its waiting
    /// period starts when the last replica is deleted.
    PendingReplicaDeletion,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingImport => "PendingImport",
            KeyState::Unavailable => "Unavailable",
            KeyState::PendingReplicaDeletion => "PendingReplicaDeletion",
        }
    }

    pub fn parse(s: &str) -> Result<Self, KmsError> {
        Ok(match s {
            "Enabled" => KeyState::Enabled,
            "Disabled" => KeyState::Disabled,
            "PendingDeletion" => KeyState::PendingDeletion,
            "PendingImport" => KeyState::PendingImport,
            "Unavailable" => KeyState::Unavailable,
            "PendingReplicaDeletion" => KeyState::PendingReplicaDeletion,
            _ => return Err(KmsError::Internal("unknown key state in store")),
        })
    }

    /// PendingDeletion, or PendingReplicaDeletion (a primary waiting for its replicas): the
    /// states in which management operations that change the key are refused.
    pub fn is_pending_deletion(self) -> bool {
        matches!(
            self,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        )
    }

    /// The message AWS gives when an operation is not valid in this state.
    pub fn invalid_state_error(self, arn: &str) -> KmsError {
        match self {
            KeyState::Disabled => KmsError::Disabled(arn.to_string()),
            KeyState::PendingDeletion => {
                KmsError::InvalidState(format!("{arn} is pending deletion."))
            }
            KeyState::PendingImport => KmsError::InvalidState(format!("{arn} is pending import.")),
            KeyState::Unavailable => KmsError::InvalidState(format!("{arn} is unavailable.")),
            KeyState::PendingReplicaDeletion => {
                KmsError::InvalidState(format!("{arn} is pending replica deletion."))
            }
            KeyState::Enabled => KmsError::InvalidState(format!("{arn} is enabled.")),
        }
    }
}

pub fn key_arn(scope: &Scope, key_id: &str) -> String {
    format!(
        "arn:aws:kms:{}:{}:key/{}",
        scope.region, scope.account_id, key_id
    )
}

pub fn alias_arn(scope: &Scope, alias_name: &str) -> String {
    format!(
        "arn:aws:kms:{}:{}:{}",
        scope.region, scope.account_id, alias_name
    )
}

/// A reference to a key as a request gives it, after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// A key id (from a bare id or a key ARN).
    Id(String),
    /// An alias name, `alias/…` (from a bare name or an alias ARN).
    Alias(String),
}

/// Whether a key id is a multi-Region key id (`mrk-` and 32 hex digits).
pub fn is_multi_region_id(key_id: &str) -> bool {
    key_id.starts_with("mrk-") && is_key_id(key_id)
}

/// A fresh multi-Region key id: `mrk-` and 32 lower-case hex digits.
pub fn new_multi_region_id() -> Result<String, KmsError> {
    Ok(format!(
        "mrk-{}",
        trent_crypto::hex(&trent_crypto::random_array::<16>()?)
    ))
}

/// A region name as the RegionType pattern `^([a-z]+-){2,3}\d+$` (1–32 characters) allows.
pub fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let Some((last, words)) = parts.split_last() else {
        return false;
    };
    s.len() <= 32
        && (2..=3).contains(&words.len())
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

/// The pattern of a RegionType member, as validation messages show it.
pub const REGION_PATTERN: &str = "^([a-z]+-){2,3}\\d+$";

/// Whether a string is a KMS key id: a lower-case UUID or `mrk-` and 32 hex digits.
pub fn is_key_id(s: &str) -> bool {
    if let Some(hex) = s.strip_prefix("mrk-") {
        return hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Parses a KeyId member: key id, key ARN, alias name or alias ARN. ARNs must name the caller's
/// account and region; a key elsewhere is, for this caller, a key that does not exist.
pub fn parse_key_ref(scope: &Scope, input: &str) -> Result<KeyRef, KmsError> {
    parse_key_ref_in(scope, input, false).map(|(_, key_ref)| key_ref)
}

/// Like [`parse_key_ref`], and with `cross_account` a key or alias ARN of another account (in
/// the same region) resolves in that account. Returns the scope the key lives in.
pub fn parse_key_ref_in(
    scope: &Scope,
    input: &str,
    cross_account: bool,
) -> Result<(Scope, KeyRef), KmsError> {
    let invalid = || KmsError::NotFound(format!("Invalid keyId '{input}'"));
    if let Some(rest) = input.strip_prefix("arn:") {
        let mut parts = rest.splitn(5, ':');
        let (Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(KmsError::InvalidArn(format!("Invalid arn {input}")));
        };
        if !partition.starts_with("aws") || service != "kms" || region.is_empty() {
            return Err(KmsError::InvalidArn(format!("Invalid arn {input}")));
        }
        let foreign_ok = cross_account && is_account_id(account);
        if region != scope.region || (account != scope.account_id && !foreign_ok) {
            return Err(if resource.starts_with("alias/") {
                KmsError::NotFound(format!("Alias '{input}' is not found."))
            } else {
                KmsError::NotFound(format!("Key '{input}' does not exist"))
            });
        }
        let key_scope = Scope::new(account, region);
        if let Some(id) = resource.strip_prefix("key/") {
            return if is_key_id(id) {
                Ok((key_scope, KeyRef::Id(id.to_string())))
            } else {
                Err(invalid())
            };
        }
        if resource.starts_with("alias/") && resource.len() > "alias/".len() {
            return Ok((key_scope, KeyRef::Alias(resource.to_string())));
        }
        return Err(KmsError::InvalidArn(format!("Invalid arn {input}")));
    }
    if input.starts_with("alias/") && input.len() > "alias/".len() {
        return Ok((scope.clone(), KeyRef::Alias(input.to_string())));
    }
    if is_key_id(input) {
        return Ok((scope.clone(), KeyRef::Id(input.to_string())));
    }
    Err(invalid())
}

/// The KeyMetadata structure, with every member that applies to the keys Trent holds.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    pub key_id: String,
    pub arn: String,
    pub creation_date: f64,
    pub enabled: bool,
    pub description: String,
    pub key_usage: String,
    pub key_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<f64>,
    pub origin: String,
    pub key_manager: String,
    pub customer_master_key_spec: String,
    pub key_spec: String,
    #[serde(flatten)]
    pub algorithms: Algorithms,
    pub multi_region: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub current_key_material_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_region_configuration: Option<MultiRegionConfiguration>,
}

/// The MultiRegionConfiguration structure: the key's role and every key of its set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionConfiguration {
    pub multi_region_key_type: &'static str,
    pub primary_key: MultiRegionKey,
    pub replica_keys: Vec<MultiRegionKey>,
}

/// A MultiRegionKey: one key of a multi-Region set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionKey {
    pub arn: String,
    pub region: String,
}

/// Whether a multi-Region key is its set's primary key.
pub fn is_primary(r: &KeyRecord) -> bool {
    r.multi_region && r.primary_region.as_deref() == Some(r.scope.region.as_str())
}

impl KeyMetadata {
    pub fn from_record(r: &KeyRecord) -> Self {
        use trent_wire::timestamp::from_millis;
        KeyMetadata {
            aws_account_id: r.scope.account_id.clone(),
            key_id: r.key_id.clone(),
            arn: key_arn(&r.scope, &r.key_id),
            creation_date: from_millis(r.created_ms),
            enabled: r.state == KeyState::Enabled.as_str(),
            description: r.description.clone(),
            key_usage: r.key_usage.clone(),
            key_state: r.state.clone(),
            deletion_date: r.deletion_ms.map(from_millis),
            origin: r.origin.clone(),
            key_manager: r.key_manager.clone(),
            customer_master_key_spec: r.key_spec.clone(),
            key_spec: r.key_spec.clone(),
            algorithms: Algorithms::of(&r.key_spec, &r.key_usage),
            multi_region: r.multi_region,
            pending_deletion_window_in_days: r.pending_window_days,
            current_key_material_id: r.current_material_id.clone(),
            valid_to: r.valid_to_ms.map(from_millis),
            expiration_model: r.expiration_model.clone(),
            multi_region_configuration: None,
        }
    }
}

/// A tag as the API spells it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub tag_key: Option<String>,
    pub tag_value: Option<String>,
}

/// Validates a list of tags: required members, lengths, reserved prefix, duplicates.
pub fn validate_tags(member: &str, tags: &[Tag]) -> Result<Vec<(String, String)>, KmsError> {
    let mut v = Validator::new();
    for (i, t) in tags.iter().enumerate() {
        let n = i + 1;
        v.required(&format!("{member}.{n}.member.tagKey"), &t.tag_key);
        v.required(&format!("{member}.{n}.member.tagValue"), &t.tag_value);
        v.length(
            &format!("{member}.{n}.member.tagKey"),
            t.tag_key.as_deref(),
            1,
            128,
        );
        v.length(
            &format!("{member}.{n}.member.tagValue"),
            t.tag_value.as_deref(),
            0,
            256,
        );
    }
    v.finish()?;
    let mut out: Vec<(String, String)> = Vec::with_capacity(tags.len());
    for t in tags {
        let (Some(k), Some(val)) = (&t.tag_key, &t.tag_value) else {
            return Err(KmsError::Internal("validated tag missing a member"));
        };
        if k.starts_with("aws:") {
            return Err(KmsError::Tag(format!(
                "Tag keys beginning with 'aws:' are reserved: {k}"
            )));
        }
        if out.iter().any(|(ek, _)| ek == k) {
            return Err(KmsError::Tag(format!("Duplicate tag keys: {k}")));
        }
        out.push((k.clone(), val.clone()));
    }
    Ok(out)
}

/// Validates a key policy document: the size quota, then the policy language (every element,
/// operator and value), with the problem named in the message. Enforcement comes with the
/// authorization engine.
pub fn validate_policy(policy: &str) -> Result<trent_policy::Policy, KmsError> {
    if policy.len() > MAX_POLICY_BYTES {
        return Err(KmsError::LimitExceeded(format!(
            "Key policy exceeds the maximum size of {MAX_POLICY_BYTES} bytes."
        )));
    }
    trent_policy::Policy::parse(policy, trent_policy::ParseOptions::KEY_POLICY)
        .map_err(|e| KmsError::MalformedPolicyDocument(e.to_string()))
}

/// The key policy of an AWS managed key (`alias/aws/<service>`), as AWS writes it: every
/// principal of the account may use the key through the service; the account may read its
/// metadata; nobody may manage it.
pub fn aws_managed_policy(scope: &Scope, service: &str) -> String {
    let account = &scope.account_id;
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": format!("auto-{service}-1"),
        "Statement": [{
            "Sid": format!("Allow access through {service} for all principals in the account that are authorized to use {service}"),
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                       "kms:CreateGrant", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {
                "kms:CallerAccount": account,
                "kms:ViaService": format!("{service}.{}.amazonaws.com", scope.region)
            }}
        }, {
            "Sid": "Allow direct access to key metadata to the account",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
            "Resource": "*"
        }]
    })
    .to_string()
}

/// AWS's answer when a new key policy would lock the caller out of PutKeyPolicy.
pub fn lockout_refused() -> KmsError {
    KmsError::MalformedPolicyDocument(
        "The new key policy will not allow you to update the key policy in the future.".into(),
    )
}

/// The policy a key gets when CreateKey names none: the account may use IAM to grant access.
pub fn default_policy(account_id: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account_id}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string()
}

/// Checks the GrantTokens member: at most 10 tokens of at most 8192 characters.
pub fn validate_grant_tokens(v: &mut Validator, tokens: Option<&Vec<String>>) {
    if let Some(t) = tokens {
        v.count("grantTokens", Some(t.len()), 0, 10);
        for (i, tok) in t.iter().enumerate() {
            v.length(&format!("grantTokens.{}.member", i + 1), Some(tok), 1, 8192);
        }
    }
}

/// Opaque pagination markers: a version tag and a position.
pub mod marker {
    use crate::KmsError;

    pub fn encode(position: &str) -> String {
        trent_wire::blob::encode(format!("trent:1:{position}").as_bytes())
    }

    pub fn decode(marker: &str) -> Result<String, KmsError> {
        let bad = KmsError::InvalidMarker("The pagination marker is not valid.");
        let bytes = trent_wire::blob::decode(marker).map_err(|_| bad)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| KmsError::InvalidMarker("The pagination marker is not valid."))?;
        text.strip_prefix("trent:1:")
            .map(str::to_string)
            .ok_or(KmsError::InvalidMarker(
                "The pagination marker is not valid.",
            ))
    }
}

/// Base64 members that carry secrets: decoded straight from the request buffer into a zeroizing
/// buffer, with no intermediate owned copy of the text.
pub mod secret_blob {
    use serde::de::{self, Deserializer, Visitor};
    use serde::{Serialize as _, Serializer};
    use trent_crypto::SecretBytes;
    use zeroize::Zeroizing;

    struct SecretVisitor;

    impl<'de> Visitor<'de> for SecretVisitor {
        type Value = Option<SecretBytes>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("base64-encoded binary data")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            trent_wire::blob::decode_secret(s)
                .map(|v| Some(SecretBytes::new(v)))
                .map_err(|_| E::custom("invalid value, expected base64-encoded binary data"))
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretBytes>, D::Error> {
        d.deserialize_option(SecretVisitor)
    }

    pub fn serialize<S: Serializer>(v: &SecretBytes, s: S) -> Result<S::Ok, S::Error> {
        let encoded = Zeroizing::new(trent_wire::blob::encode(v.expose_secret()));
        encoded.as_str().serialize(s)
    }
}

/// Twelve digits: an AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope::new("111122223333", "us-east-1")
    }

    #[test]
    fn key_refs() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(parse_key_ref(&scope(), id).unwrap(), KeyRef::Id(id.into()));
        assert_eq!(
            parse_key_ref(
                &scope(),
                &format!("arn:aws:kms:us-east-1:111122223333:key/{id}")
            )
            .unwrap(),
            KeyRef::Id(id.into())
        );
        assert_eq!(
            parse_key_ref(&scope(), "alias/demo").unwrap(),
            KeyRef::Alias("alias/demo".into())
        );
        assert_eq!(
            parse_key_ref(&scope(), "arn:aws:kms:us-east-1:111122223333:alias/demo").unwrap(),
            KeyRef::Alias("alias/demo".into())
        );
        assert!(matches!(
            parse_key_ref(&scope(), "nope"),
            Err(KmsError::NotFound(_))
        ));
        assert!(matches!(
            parse_key_ref(&scope(), "alias/"),
            Err(KmsError::NotFound(_))
        ));
        assert!(matches!(
            parse_key_ref(
                &scope(),
                &format!("arn:aws:kms:eu-west-1:111122223333:key/{id}")
            ),
            Err(KmsError::NotFound(_))
        ));
        assert!(matches!(
            parse_key_ref(&scope(), "arn:aws:s3:::bucket"),
            Err(KmsError::InvalidArn(_))
        ));
        assert!(is_key_id("mrk-1234abcd12ab34cd56ef1234567890ab"));
        assert!(!is_key_id("mrk-1234"));
        assert!(is_multi_region_id("mrk-1234abcd12ab34cd56ef1234567890ab"));
        assert!(!is_multi_region_id(id));
    }

    #[test]
    fn region_names() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-10",
        ] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "useast1",
            "US-east-1",
            "us-east-1a",
            "a-b-c-d-1",
            "us--1",
            "us-east-",
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-y-1",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn markers_round_trip_and_reject_garbage() {
        assert_eq!(marker::decode(&marker::encode("42")).unwrap(), "42");
        assert!(marker::decode("!!!").is_err());
        assert!(marker::decode(&trent_wire::blob::encode(b"other")).is_err());
    }

    #[test]
    fn policies() {
        assert!(validate_policy(&default_policy("111122223333")).is_ok());
        assert!(matches!(
            validate_policy("{"),
            Err(KmsError::MalformedPolicyDocument(_))
        ));
        assert!(matches!(
            validate_policy("{}"),
            Err(KmsError::MalformedPolicyDocument(_))
        ));
        let big = format!(
            r#"{{"Statement":[],"x":"{}"}}"#,
            "a".repeat(MAX_POLICY_BYTES)
        );
        assert!(matches!(
            validate_policy(&big),
            Err(KmsError::LimitExceeded(_))
        ));
    }

    #[test]
    fn tags() {
        let t = |k: &str, v: &str| Tag {
            tag_key: Some(k.into()),
            tag_value: Some(v.into()),
        };
        assert_eq!(
            validate_tags("tags", &[t("a", "1")]).unwrap(),
            vec![("a".to_string(), "1".to_string())]
        );
        assert!(matches!(
            validate_tags("tags", &[t("aws:x", "1")]),
            Err(KmsError::Tag(_))
        ));
        assert!(matches!(
            validate_tags("tags", &[t("a", "1"), t("a", "2")]),
            Err(KmsError::Tag(_))
        ));
        assert!(matches!(
            validate_tags("tags", &[t("", "1")]),
            Err(KmsError::Validation(_))
        ));
    }
}
