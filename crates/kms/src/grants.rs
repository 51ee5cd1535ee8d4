//! Grants: the token format, the operations a key supports in a grant, and list entries.
//!
//! A grant token names its grant: `base64url(1 ‖ account ‖ len ‖ region ‖ len ‖ key id ‖
//! grant id ‖ 16 random bytes)`. It is not a credential — who may retire a grant is decided by
//! the caller's identity, as in AWS — so a retry of CreateGrant with the same Name can hand out
//! a fresh token for the same grant.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use trent_store::{GrantRecord, Scope};

use crate::KmsError;
use crate::authz::Constraints;
use crate::model::{self, KeyKind};

const TOKEN_VERSION: u8 = 1;
/// Grant ids are 32 random bytes, shown as 64 hex characters.
pub(crate) const GRANT_ID_BYTES: usize = 32;

/// Every operation a grant can name.
pub(crate) const GRANT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
];

/// Whether a key of `kind` and `usage` can perform `operation` (so a grant may name it).
pub(crate) fn supports(kind: KeyKind, usage: &str, operation: &str) -> bool {
    if matches!(operation, "CreateGrant" | "RetireGrant" | "DescribeKey") {
        return true;
    }
    match kind {
        KeyKind::Symmetric => matches!(
            operation,
            "Decrypt"
                | "Encrypt"
                | "GenerateDataKey"
                | "GenerateDataKeyWithoutPlaintext"
                | "ReEncryptFrom"
                | "ReEncryptTo"
                | "GenerateDataKeyPair"
                | "GenerateDataKeyPairWithoutPlaintext"
        ),
        KeyKind::Hmac(_) => matches!(operation, "GenerateMac" | "VerifyMac"),
        KeyKind::Asymmetric(_) => match usage {
            model::ENCRYPT_DECRYPT => matches!(
                operation,
                "Encrypt" | "Decrypt" | "ReEncryptFrom" | "ReEncryptTo" | "GetPublicKey"
            ),
            model::SIGN_VERIFY => matches!(operation, "Sign" | "Verify" | "GetPublicKey"),
            model::KEY_AGREEMENT => matches!(operation, "DeriveSharedSecret" | "GetPublicKey"),
            _ => false,
        },
    }
}

/// A new grant token for a grant.
pub(crate) fn new_token(scope: &Scope, key_id: &str, grant_id: &[u8]) -> Result<String, KmsError> {
    let nonce: [u8; 16] = trent_crypto::random_array()?;
    let mut raw = Vec::with_capacity(64 + key_id.len() + scope.region.len());
    raw.push(TOKEN_VERSION);
    raw.extend_from_slice(scope.account_id.as_bytes());
    for part in [scope.region.as_bytes(), key_id.as_bytes()] {
        raw.push(u8::try_from(part.len()).map_err(|_| KmsError::Internal("token part length"))?);
        raw.extend_from_slice(part);
    }
    raw.extend_from_slice(grant_id);
    raw.extend_from_slice(&nonce);
    Ok(URL_SAFE_NO_PAD.encode(raw))
}

/// The grant a token names: (scope, key id, grant id as hex).
pub(crate) fn parse_token(token: &str) -> Result<(Scope, String, String), KmsError> {
    const INVALID: KmsError = KmsError::InvalidGrantToken("The grant token is not valid.");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| INVALID)?;
    let (&version, rest) = raw.split_first().ok_or(INVALID)?;
    if version != TOKEN_VERSION || rest.len() < 12 {
        return Err(INVALID);
    }
    let (account, mut rest) = rest.split_at(12);
    let mut parts = Vec::with_capacity(2);
    for _ in 0..2 {
        let (&len, tail) = rest.split_first().ok_or(INVALID)?;
        let len = usize::from(len);
        if tail.len() < len {
            return Err(INVALID);
        }
        let (part, tail) = tail.split_at(len);
        parts.push(std::str::from_utf8(part).map_err(|_| INVALID)?.to_string());
        rest = tail;
    }
    if rest.len() != GRANT_ID_BYTES + 16 {
        return Err(INVALID);
    }
    let account = std::str::from_utf8(account).map_err(|_| INVALID)?;
    if !model::is_account_id(account) {
        return Err(INVALID);
    }
    let grant_id = trent_crypto::hex(rest.get(..GRANT_ID_BYTES).ok_or(INVALID)?);
    let key_id = parts.pop().ok_or(INVALID)?;
    let region = parts.pop().ok_or(INVALID)?;
    Ok((Scope::new(account, region), key_id, grant_id))
}

/// A grant id as AWS shows them: 64 lowercase hex characters.
pub(crate) fn check_grant_id(id: &str) -> Result<(), KmsError> {
    if id.len() == 2 * GRANT_ID_BYTES && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(KmsError::InvalidGrantId(format!("Invalid grant ID '{id}'")))
    }
}

/// The GrantListEntry structure.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Entry {
    key_id: String,
    grant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    creation_date: f64,
    grantee_principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    retiring_principal: Option<String>,
    issuing_account: String,
    operations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    constraints: Option<Constraints>,
}

impl Entry {
    pub fn from_record(g: GrantRecord) -> Result<Entry, KmsError> {
        let constraints = g
            .constraints
            .as_deref()
            .map(serde_json::from_str::<Constraints>)
            .transpose()
            .map_err(|_| KmsError::Internal("stored grant constraints"))?;
        Ok(Entry {
            key_id: model::key_arn(&g.scope, &g.key_id),
            grant_id: g.grant_id,
            name: g.name,
            creation_date: trent_wire::timestamp::from_millis(g.created_ms),
            grantee_principal: g.grantee_principal,
            retiring_principal: g.retiring_principal,
            issuing_account: format!("arn:aws:iam::{}:root", g.issuing_account),
            operations: g.operations,
            constraints,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_grant() {
        let scope = Scope::new("111122223333", "eu-west-1");
        let id = [7u8; GRANT_ID_BYTES];
        let token = new_token(&scope, "1234abcd-12ab-34cd-56ef-1234567890ab", &id).unwrap();
        let again = new_token(&scope, "1234abcd-12ab-34cd-56ef-1234567890ab", &id).unwrap();
        assert_ne!(token, again, "each token is fresh");
        let (s, key, grant) = parse_token(&token).unwrap();
        assert_eq!(s, scope);
        assert_eq!(key, "1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(grant, trent_crypto::hex(&id));
        for bad in ["", "AAAA", "not base64 !", &token[..token.len() - 2]] {
            assert!(parse_token(bad).is_err(), "{bad}");
        }
    }
}
