//! IAM and STS: accounts, users, roles, inline and managed policies, access keys, temporary
//! credentials — and, for authentication, who an access key is.
//!
//! # Layout
//!
//! - [`Iam`]: the service. [`Iam::call`] runs one Query-protocol request (IAM or STS) for an
//!   authenticated [`Requester`] and answers the XML document; [`Iam::credential`] resolves an
//!   access key id to its secret and [`Identity`] (with the identity policies, parsed once and
//!   cached); [`Iam::create_account`] makes another account and its root access key.
//! - `identity`: resolution and the generation-checked caches (see there for coherence).
//! - `names`: validation rules (names, paths, tags, policy document quotas).
//! - `ops::iam`, `ops::sts`: the operations, each with its parameters, authorization and XML.
//! - [`IamError`]: the one error enum, mapped to the Query error shape with botocore's statuses.
//!
//! # Authorization
//!
//! The account root may do anything in its own account. Users and role sessions need an
//! identity-based policy allowing the action on the entity's ARN
//! (`arn:aws:iam::<account>:user/<path><name>`, `…:role/…`, `…:policy/…`); an explicit deny
//! wins. `sts:GetCallerIdentity` needs no permission, as in AWS. `sts:AssumeRole` evaluates the
//! role's trust policy (see `ops::sts`).

#![forbid(unsafe_code)]

mod error;
mod identity;
pub mod names;
mod ops;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use trent_policy::{Decision, Requester};
use trent_store::clock::Clock;
use trent_store::{AccessKeyRecord, Store, StoreError};
use trent_wire::query::Params;

pub use error::IamError;
pub use identity::{Credential, Identity, SessionCheck};

/// Which Query-protocol service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryService {
    Iam,
    Sts,
}

impl QueryService {
    /// From the SigV4 signing name of the credential scope.
    pub fn from_signing_name(name: &str) -> Option<QueryService> {
        match name {
            "iam" => Some(QueryService::Iam),
            "sts" => Some(QueryService::Sts),
            _ => None,
        }
    }

    pub fn namespace(self) -> &'static str {
        match self {
            QueryService::Iam => "https://iam.amazonaws.com/doc/2010-05-08/",
            QueryService::Sts => "https://sts.amazonaws.com/doc/2011-06-15/",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            QueryService::Iam => "2010-05-08",
            QueryService::Sts => "2011-06-15",
        }
    }
}

/// Root credentials of a new account.
pub struct AccountCredentials {
    pub account_id: String,
    pub access_key_id: String,
    pub secret_access_key: trent_crypto::SecretBytes,
}

/// The IAM and STS service.
pub struct Iam {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Bumped after every committed IAM write; cache entries of older generations are stale.
    generation: AtomicU64,
    cache: RwLock<identity::Cache>,
}

impl Iam {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Iam {
            store,
            clock,
            generation: AtomicU64::new(0),
            cache: RwLock::new(identity::Cache::default()),
        }
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Drops what a change committed by another node makes stale (see
    /// [`trent_store::Store::subscribe_changes`]).
    pub fn apply_change(&self, change: &trent_store::Change) {
        if matches!(
            change,
            trent_store::Change::Iam { .. } | trent_store::Change::All
        ) {
            self.invalidate();
        }
    }

    /// Makes every cached identity stale. Called after each committed IAM write.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The access key `access_key_id` if Trent issued it (long-term or temporary), with its
    /// identity and policies. Cached; never staler than the last IAM write.
    pub async fn credential(
        &self,
        access_key_id: &str,
    ) -> Result<Option<Arc<Credential>>, IamError> {
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some(hit) = self
            .cache
            .read()
            .ok()
            .and_then(|c| c.get(access_key_id, generation))
        {
            return Ok(hit);
        }
        let resolved = identity::resolve(self.store.as_ref(), access_key_id)
            .await?
            .map(Arc::new);
        if let Ok(mut cache) = self.cache.write() {
            cache.put(access_key_id, generation, resolved.clone());
        }
        Ok(resolved)
    }

    /// Records `account_id` as an account (no root key); does nothing if it exists. Start-up
    /// calls this for the default account.
    pub async fn ensure_account(&self, account_id: &str) -> Result<(), IamError> {
        match self
            .store
            .create_account(account_id, self.now_ms(), None)
            .await
        {
            Ok(()) | Err(StoreError::AlreadyExists) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates an account (a random 12-digit id unless one is given) with a root access key.
    pub async fn create_account(
        &self,
        account_id: Option<&str>,
    ) -> Result<AccountCredentials, IamError> {
        let account_id = match account_id {
            Some(id) => {
                if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(IamError::Validation(format!(
                        "Invalid account id '{}': it must be 12 digits.",
                        id.chars().take(32).collect::<String>()
                    )));
                }
                id.to_owned()
            }
            None => random_account_id()?,
        };
        let (access_key_id, secret) = new_access_key("AKIA")?;
        let record = AccessKeyRecord {
            access_key_id: access_key_id.clone(),
            account_id: account_id.clone(),
            principal_arn: format!("arn:aws:iam::{account_id}:root"),
            user_name: "root".to_owned(),
            status: "Active".to_owned(),
            created_ms: self.now_ms(),
            secret: secret.duplicate(),
        };
        match self
            .store
            .create_account(&account_id, self.now_ms(), Some(&record))
            .await
        {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                return Err(IamError::EntityAlreadyExists(format!(
                    "Account {account_id} already exists."
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.invalidate();
        Ok(AccountCredentials {
            account_id,
            access_key_id,
            secret_access_key: secret,
        })
    }

    /// Deletes temporary credentials that have expired (they are refused anyway); returns how
    /// many. Run by the scheduler.
    pub async fn delete_expired_sessions(&self) -> Result<u64, IamError> {
        let n = self.store.delete_sessions_before(self.now_ms()).await?;
        if n > 0 {
            self.invalidate();
        }
        Ok(n)
    }

    /// Runs one IAM or STS request and answers its XML document.
    pub async fn call(
        &self,
        service: QueryService,
        requester: &Requester,
        params: &Params,
        request_id: &str,
    ) -> Result<Vec<u8>, IamError> {
        let action = params.action().unwrap_or_default();
        let result = match service {
            QueryService::Iam => ops::iam::call(self, requester, action, params).await?,
            QueryService::Sts => ops::sts::call(self, requester, action, params).await?,
        };
        Ok(trent_wire::query::response(
            action,
            service.namespace(),
            request_id,
            result.as_deref(),
        ))
    }

    /// The actions this server answers for `service`.
    pub fn actions(service: QueryService) -> &'static [&'static str] {
        match service {
            QueryService::Iam => ops::iam::ACTIONS,
            QueryService::Sts => ops::sts::ACTIONS,
        }
    }

    /// Whether `action` is one this server answers for `service`.
    pub fn has_action(service: QueryService, action: &str) -> bool {
        Self::actions(service).contains(&action)
    }
}

/// Decides `action` on `resource` for the caller from its identity policies; the account root
/// may do anything in its own account.
pub(crate) fn authorize(
    requester: &Requester,
    action: &str,
    resource: &str,
    extra: &[(&str, &str)],
) -> Result<(), IamError> {
    if requester.is_root() && resource_account(resource) == Some(requester.account()) {
        return Ok(());
    }
    let mut ctx = requester.context(action, resource);
    for (k, v) in extra {
        ctx.insert(k, *v);
    }
    let policies: Vec<&trent_policy::Policy> = requester.policies().iter().collect();
    match trent_policy::evaluate(&policies, &ctx) {
        Decision::Allow(_) => Ok(()),
        Decision::ExplicitDeny(_) => Err(denied(requester, action, resource, true)),
        Decision::ImplicitDeny => Err(denied(requester, action, resource, false)),
    }
}

/// AWS's message for a request denied by identity-based policies.
pub(crate) fn denied(
    requester: &Requester,
    action: &str,
    resource: &str,
    explicit: bool,
) -> IamError {
    let why = if explicit {
        "with an explicit deny in an identity-based policy".to_owned()
    } else {
        format!("because no identity-based policy allows the {action} action")
    };
    IamError::AccessDenied(format!(
        "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
        requester.arn()
    ))
}

/// The account part of an ARN.
pub(crate) fn resource_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4)
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `prefix` followed by `len` random base-32 characters (AWS's unique-id alphabet).
pub(crate) fn random_id(prefix: &str, len: usize) -> Result<String, IamError> {
    let bytes = trent_crypto::SecretBytes::random(len)?;
    let mut id = String::with_capacity(prefix.len() + len);
    id.push_str(prefix);
    id.extend(
        bytes
            .expose_secret()
            .iter()
            .filter_map(|b| B32.get(usize::from(b & 31)).copied().map(char::from)),
    );
    Ok(id)
}

fn random_account_id() -> Result<String, IamError> {
    let bytes: [u8; 12] = trent_crypto::random_array()?;
    // The first digit is never 0, so the id does not look like the default account.
    Ok(bytes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let d = if i == 0 { 1 + b % 9 } else { b % 10 };
            char::from(b'0' + d)
        })
        .collect())
}

/// A new access key pair: `prefix` (`AKIA` long-term, `ASIA` temporary) + 16 base-32
/// characters, and a 40-character secret.
pub fn new_access_key(prefix: &str) -> Result<(String, trent_crypto::SecretBytes), IamError> {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let id = random_id(prefix, 16)?;
    let secret_bytes = trent_crypto::SecretBytes::random(40)?;
    // Sized once: a growing Vec would leave copies of the secret's prefix in freed memory.
    let mut secret = Vec::with_capacity(secret_bytes.len());
    secret.extend(
        secret_bytes
            .expose_secret()
            .iter()
            .filter_map(|b| B64.get(usize::from(b & 63)).copied()),
    );
    Ok((id, trent_crypto::SecretBytes::new(secret)))
}

/// ISO 8601 in UTC with seconds, as IAM and STS write dates.
pub(crate) fn iso8601(ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use std::sync::Arc;

    use trent_store::clock::ManualClock;
    use trent_store::{Barrier, SqliteStore};

    use super::*;

    const ACCOUNT: &str = "123456789012";

    async fn service(dir: &std::path::Path) -> Iam {
        let barrier = Barrier::new(&trent_crypto::SecretBytes::random(32).unwrap()).unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir, barrier).await.unwrap());
        Iam::new(store, Arc::new(ManualClock::new(1_700_000_000_000)))
    }

    async fn iam_call(iam: &Iam, who: &Requester, body: &str) -> Result<String, IamError> {
        let params = Params::parse("", body.as_bytes()).unwrap();
        let out = iam.call(QueryService::Iam, who, &params, "rid").await?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn between<'a>(xml: &'a str, tag: &str) -> &'a str {
        let start = xml.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
        let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
        &xml[start..end]
    }

    #[tokio::test]
    async fn every_iam_write_reaches_the_next_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let iam = service(dir.path()).await;
        let creds = iam.create_account(Some(ACCOUNT)).await.unwrap();
        let root_cred = iam.credential(&creds.access_key_id).await.unwrap().unwrap();
        assert_eq!(
            root_cred.identity.aws.arn(),
            format!("arn:aws:iam::{ACCOUNT}:root")
        );
        let root = Requester::root(ACCOUNT, "us-east-1", 0).unwrap();

        iam_call(&iam, &root, "Action=CreateUser&UserName=u")
            .await
            .unwrap();
        let out = iam_call(&iam, &root, "Action=CreateAccessKey&UserName=u")
            .await
            .unwrap();
        let key_id = between(&out, "AccessKeyId").to_owned();
        let cred = iam.credential(&key_id).await.unwrap().unwrap();
        assert!(cred.active && cred.identity.policies.is_empty());
        assert!(cred.identity.aws.arn().ends_with(":user/u"));

        // A cached identity is not served after a policy write.
        let doc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22iam%3A*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";
        iam_call(
            &iam,
            &root,
            &format!("Action=PutUserPolicy&UserName=u&PolicyName=p&PolicyDocument={doc}"),
        )
        .await
        .unwrap();
        assert_eq!(
            iam.credential(&key_id)
                .await
                .unwrap()
                .unwrap()
                .identity
                .policies
                .len(),
            1
        );

        iam_call(
            &iam,
            &root,
            &format!("Action=UpdateAccessKey&UserName=u&AccessKeyId={key_id}&Status=Inactive"),
        )
        .await
        .unwrap();
        assert!(!iam.credential(&key_id).await.unwrap().unwrap().active);
        iam_call(
            &iam,
            &root,
            &format!("Action=DeleteAccessKey&UserName=u&AccessKeyId={key_id}"),
        )
        .await
        .unwrap();
        assert!(iam.credential(&key_id).await.unwrap().is_none());

        // A miss is remembered, and forgotten when keys are issued.
        assert!(iam.credential("AKIAUNKNOWN").await.unwrap().is_none());
        let gen_before = iam.generation.load(Ordering::SeqCst);
        iam_call(&iam, &root, "Action=CreateAccessKey&UserName=u")
            .await
            .unwrap();
        assert!(iam.generation.load(Ordering::SeqCst) > gen_before);
    }

    #[tokio::test]
    async fn errors_are_aws_shaped() {
        let dir = tempfile::tempdir().unwrap();
        let iam = service(dir.path()).await;
        let root = Requester::root(ACCOUNT, "us-east-1", 0).unwrap();
        let e = iam_call(&iam, &root, "Action=GetUser&UserName=nobody")
            .await
            .unwrap_err()
            .to_api_error();
        assert_eq!((e.code.as_ref(), e.status), ("NoSuchEntity", 404));
        let e = iam_call(&iam, &root, "Action=CreateUser&UserName=a%20b")
            .await
            .unwrap_err()
            .to_api_error();
        assert_eq!((e.code.as_ref(), e.status), ("ValidationError", 400));
        assert!(
            e.message
                .contains("Member must satisfy regular expression pattern"),
            "{}",
            e.message
        );
        iam_call(&iam, &root, "Action=CreateUser&UserName=a")
            .await
            .unwrap();
        let e = iam_call(&iam, &root, "Action=CreateUser&UserName=A")
            .await
            .unwrap_err()
            .to_api_error();
        assert_eq!((e.code.as_ref(), e.status), ("EntityAlreadyExists", 409));
        // Another account's root is a stranger here.
        let other = Requester::root("210987654321", "us-east-1", 0).unwrap();
        let e = iam_call(&iam, &other, "Action=GetUser&UserName=a")
            .await
            .unwrap_err()
            .to_api_error();
        assert_eq!(e.code, "NoSuchEntity");
        assert!(iam.create_account(Some("12345")).await.is_err());
        let random = iam.create_account(None).await.unwrap();
        assert_eq!(random.account_id.len(), 12);
        assert!(!random.account_id.starts_with('0'));
    }
}
