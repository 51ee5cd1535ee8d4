//! Who an access key is: the account root, an IAM user, or a role session, with the identity
//! policies in force for it, parsed once and cached.
//!
//! Coherence: every IAM write bumps [`Iam::generation`](crate::Iam) *after* it is committed, and
//! a cache entry is only used while the generation it was read under is current, so a policy
//! change, a deactivated or deleted key, a deleted user or role, or a detached policy takes
//! effect for the very next request. Other nodes sharing a PostgreSQL store bump it when the
//! change notification arrives ([`crate::Iam::apply_change`]). Misses are cached too, in their own
//! smaller map, so unknown keys cost one lookup per generation and cannot evict known ones.

use std::collections::HashMap;
use std::sync::Arc;

use trent_crypto::SecretBytes;
use trent_policy::{AwsIdentity, Policy};
use trent_store::{PrincipalKind, Store};

use crate::IamError;

/// Known credentials kept in memory.
pub(crate) const CACHE_CAPACITY: usize = 4096;
/// Unknown access key ids remembered.
pub(crate) const NEGATIVE_CAPACITY: usize = 1024;

/// The resolved identity of an access key: what authorization needs.
#[derive(Debug)]
pub struct Identity {
    /// The caller as policies see it (ARN, user id, role ARN with its path, tags).
    pub aws: AwsIdentity,
    /// Identity-based policies: inline and attached (for a role session, the role's).
    pub policies: Arc<[Policy]>,
}

/// An access key Trent issued, with its secret and identity. No `Debug`: it holds a secret.
pub struct Credential {
    pub access_key_id: String,
    pub account_id: String,
    /// Inactive long-term keys are refused at authentication.
    pub active: bool,
    secret: SecretBytes,
    /// For temporary credentials: the session token's SHA-256 and the expiry.
    pub session: Option<SessionCheck>,
    pub identity: Arc<Identity>,
}

impl Credential {
    /// The secret access key, for signature verification only.
    pub fn secret(&self) -> &SecretBytes {
        &self.secret
    }
}

/// What a session token must satisfy.
pub struct SessionCheck {
    pub token_sha256: [u8; 32],
    pub expires_ms: i64,
}

impl SessionCheck {
    /// Whether `token` is this session's, compared in constant time.
    pub fn token_matches(&self, token: &str) -> bool {
        trent_crypto::constant_time_eq(&trent_crypto::sha256(token.as_bytes()), &self.token_sha256)
    }
}

/// Inline and attached policies of a user or role, parsed. Documents were validated when they
/// were stored; one that no longer parses (a parser made stricter since) fails the request with
/// an error in the log: skipping it could drop a `Deny` and widen the caller's access.
pub(crate) async fn load_policies(
    store: &dyn Store,
    account_id: &str,
    kind: PrincipalKind,
    name: &str,
) -> Result<Arc<[Policy]>, IamError> {
    let mut docs: Vec<String> = store
        .list_inline_policies(account_id, kind, name)
        .await?
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    docs.extend(
        store
            .attached_policies(account_id, kind, name)
            .await?
            .into_iter()
            .map(|p| p.document),
    );
    let policies = docs
        .iter()
        .map(|doc| {
            Policy::parse(doc, trent_policy::ParseOptions::IDENTITY).map_err(|e| {
                tracing::error!(account_id, principal = name, error = %e, "a stored identity policy does not parse");
                IamError::Internal("stored identity policy")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::from(policies))
}

/// Session tags win over the role's tags with the same key.
fn merged_tags(
    role_tags: &[(String, String)],
    session_tags: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = role_tags
        .iter()
        .filter(|(k, _)| !session_tags.iter().any(|(s, _)| s.eq_ignore_ascii_case(k)))
        .cloned()
        .collect();
    out.extend(session_tags.iter().cloned());
    out
}

fn with_tags(mut id: AwsIdentity, tags: &[(String, String)]) -> AwsIdentity {
    for (k, v) in tags {
        id = id.with_tag(k, v.clone());
    }
    id
}

fn caller_arn(e: trent_policy::PolicyError) -> IamError {
    tracing::error!(error = %e, "a stored principal ARN does not parse");
    IamError::Internal("stored principal ARN")
}

/// Reads an access key from the store and resolves its identity. `None` for keys that do not
/// exist, whose user or role is gone.
pub(crate) async fn resolve(
    store: &dyn Store,
    access_key_id: &str,
) -> Result<Option<Credential>, IamError> {
    if access_key_id.starts_with("ASIA") {
        let Some(s) = store.get_session(access_key_id).await? else {
            return Ok(None);
        };
        let Some(role) = store.get_role(&s.account_id, &s.role_name).await? else {
            return Ok(None);
        };
        let arn = format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            s.account_id, role.role_name, s.session_name
        );
        let aws = AwsIdentity::from_arn(&arn)
            .map_err(caller_arn)?
            .with_role_arn(role.arn.clone())
            .with_user_id(format!("{}:{}", role.role_id, s.session_name));
        let aws = with_tags(aws, &merged_tags(&role.tags, &s.session_tags));
        let policies =
            load_policies(store, &s.account_id, PrincipalKind::Role, &role.role_name).await?;
        return Ok(Some(Credential {
            access_key_id: access_key_id.to_owned(),
            account_id: s.account_id,
            active: true,
            secret: s.secret,
            session: Some(SessionCheck {
                token_sha256: s.token_sha256,
                expires_ms: s.expires_ms,
            }),
            identity: Arc::new(Identity { aws, policies }),
        }));
    }
    let Some(key) = store.get_access_key(access_key_id).await? else {
        return Ok(None);
    };
    let active = key.status == "Active";
    let identity = if key.principal_arn == format!("arn:aws:iam::{}:root", key.account_id) {
        Identity {
            aws: AwsIdentity::from_arn(&key.principal_arn).map_err(caller_arn)?,
            policies: Arc::from(Vec::new()),
        }
    } else {
        let Some(user) = store.get_user(&key.account_id, &key.user_name).await? else {
            return Ok(None);
        };
        if user.arn != key.principal_arn {
            return Ok(None);
        }
        let aws = AwsIdentity::from_arn(&user.arn)
            .map_err(caller_arn)?
            .with_user_id(user.user_id.clone());
        let aws = with_tags(aws, &user.tags);
        let policies =
            load_policies(store, &key.account_id, PrincipalKind::User, &user.user_name).await?;
        Identity { aws, policies }
    };
    Ok(Some(Credential {
        access_key_id: key.access_key_id,
        account_id: key.account_id,
        active,
        secret: key.secret,
        session: None,
        identity: Arc::new(identity),
    }))
}

/// The two caches, each entry stamped with the generation it was read under.
#[derive(Default)]
pub(crate) struct Cache {
    pub known: HashMap<String, (u64, Arc<Credential>)>,
    pub unknown: HashMap<String, u64>,
}

impl Cache {
    pub fn get(&self, id: &str, generation: u64) -> Option<Option<Arc<Credential>>> {
        if let Some((g, c)) = self.known.get(id)
            && *g == generation
        {
            return Some(Some(Arc::clone(c)));
        }
        if self.unknown.get(id) == Some(&generation) {
            return Some(None);
        }
        None
    }

    pub fn put(&mut self, id: &str, generation: u64, value: Option<Arc<Credential>>) {
        match value {
            Some(c) => {
                if self.known.len() >= CACHE_CAPACITY {
                    self.known.retain(|_, (g, _)| *g == generation);
                    if self.known.len() >= CACHE_CAPACITY {
                        self.known.clear();
                    }
                }
                self.unknown.remove(id);
                self.known.insert(id.to_owned(), (generation, c));
            }
            None => {
                if self.unknown.len() >= NEGATIVE_CAPACITY {
                    self.unknown.clear();
                }
                self.unknown.insert(id.to_owned(), generation);
            }
        }
    }
}
