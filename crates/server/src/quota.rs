//! Request quotas: AWS's requests-per-second limits, per account, Region and pool, enforced with
//! token buckets.
//!
//! - [`POOLS`] is the table of pools: a name (the key of the quota file), the operations that
//!   share it and AWS's figure, which is Trent's default. `docs/quotas.md` is this table in prose.
//! - [`Quotas`] is the configuration: every pool's [`Rate`] (AWS's figures unless overridden,
//!   from a quota file or by code), or none at all ([`Quotas::unlimited`]).
//! - [`Limiter`] holds the buckets. A request takes one token from the bucket of (the caller's
//!   account, the SigV4 scope's Region, the operation's pool); an empty bucket means the
//!   service's throttling error, answered before the operation runs.
//!
//! Why token buckets: AWS documents its quotas as a rate per second and lets short bursts
//! through; a bucket of `burst` tokens refilled at `per_second` is exactly that, and checking it
//! is a few arithmetic operations under a short lock. The map of buckets is split into shards,
//! each behind its own mutex, so concurrent requests of different accounts rarely meet.
//!
//! Why a separate clock: the rate is over real elapsed time, so buckets read a monotonic
//! [`Ticker`] (injected, so tests step it), not the server's wall clock, which an operator's
//! NTP step or a test's manual clock could stop or move by days.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use trent_wire::ApiError;

/// The API a request belongs to (each answers throttling in its own words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    Kms,
    Ssm,
    SecretsManager,
    CloudTrail,
    Iam,
    Sts,
}

impl Api {
    /// The service's throttling error, as AWS answers it.
    pub fn throttling_error(self) -> ApiError {
        match self {
            Api::Kms => ApiError::bad_request(
                "ThrottlingException",
                "You have exceeded the rate at which you may call KMS. Reduce the frequency of \
                 your calls.",
            ),
            Api::Ssm | Api::SecretsManager | Api::CloudTrail => {
                ApiError::bad_request("ThrottlingException", "Rate exceeded")
            }
            Api::Iam | Api::Sts => ApiError::bad_request("Throttling", "Rate exceeded"),
        }
    }
}

/// A pool: operations that share one request quota.
#[derive(Debug)]
pub struct Pool {
    /// The pool's name: the key of the quota file.
    pub name: &'static str,
    pub api: Api,
    /// The operations charged to this pool by name. Empty for the pools charged by a rule
    /// (the KMS key-type pools, the data key pair pools, IAM, STS).
    pub operations: &'static [&'static str],
    /// Requests per second: AWS's figure where AWS publishes one, Trent's choice otherwise
    /// (docs/quotas.md says which).
    pub default_per_second: u32,
}

const fn pool(
    name: &'static str,
    api: Api,
    operations: &'static [&'static str],
    default_per_second: u32,
) -> Pool {
    Pool {
        name,
        api,
        operations,
        default_per_second,
    }
}

/// The KMS pools of the cryptographic operations whose pool depends on the key (Encrypt,
/// Decrypt, ReEncrypt, Sign, Verify, DeriveSharedSecret): charged by the KMS service once the
/// key is resolved (see [`trent_kms::KeyQuota`]).
pub const KMS_SYMMETRIC: &str = "kms.symmetric";
pub const KMS_RSA: &str = "kms.rsa";
pub const KMS_ECC: &str = "kms.ecc";
pub const KMS_ML_DSA: &str = "kms.ml-dsa";
/// Parameter Store reads: GetParameter, GetParameters and (at standard throughput)
/// GetParametersByPath.
pub const SSM_GET: &str = "ssm.get";
/// GetParametersByPath at high throughput.
pub const SSM_GET_BY_PATH: &str = "ssm.get-by-path";
/// Parameter Store's high-throughput figures for [`SSM_GET`] and [`SSM_GET_BY_PATH`].
pub const SSM_HIGH_THROUGHPUT: (u32, u32) = (3_000, 100);

use Api::{CloudTrail, Iam, Kms, SecretsManager, Ssm, Sts};

/// Every pool, with its default rate. Management operations of KMS and Parameter Store each
/// have a pool of their own, named after the operation.
pub static POOLS: &[Pool] = &[
    // KMS: the shared cryptographic pools.
    pool(
        KMS_SYMMETRIC,
        Kms,
        &[
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "GenerateMac",
            "VerifyMac",
            "GenerateRandom",
        ],
        10_000,
    ),
    pool(KMS_RSA, Kms, &[], 1_000),
    pool(KMS_ECC, Kms, &[], 1_000),
    pool(KMS_ML_DSA, Kms, &[], 1_000),
    pool("kms.data-key-pair.rsa-2048", Kms, &[], 20),
    pool("kms.data-key-pair.rsa-3072", Kms, &[], 4),
    pool("kms.data-key-pair.rsa-4096", Kms, &[], 1),
    pool("kms.data-key-pair.ecc", Kms, &[], 100),
    // KMS management, one pool per operation.
    pool("kms.CancelKeyDeletion", Kms, &["CancelKeyDeletion"], 5),
    pool("kms.CreateAlias", Kms, &["CreateAlias"], 5),
    pool("kms.CreateGrant", Kms, &["CreateGrant"], 50),
    pool("kms.CreateKey", Kms, &["CreateKey"], 5),
    pool("kms.DeleteAlias", Kms, &["DeleteAlias"], 5),
    pool(
        "kms.DeleteImportedKeyMaterial",
        Kms,
        &["DeleteImportedKeyMaterial"],
        5,
    ),
    pool("kms.DescribeKey", Kms, &["DescribeKey"], 2_000),
    pool("kms.DisableKey", Kms, &["DisableKey"], 5),
    pool("kms.DisableKeyRotation", Kms, &["DisableKeyRotation"], 5),
    pool("kms.EnableKey", Kms, &["EnableKey"], 5),
    pool("kms.EnableKeyRotation", Kms, &["EnableKeyRotation"], 5),
    pool("kms.GetKeyLastUsage", Kms, &["GetKeyLastUsage"], 100),
    pool("kms.GetKeyPolicy", Kms, &["GetKeyPolicy"], 1_000),
    pool(
        "kms.GetKeyRotationStatus",
        Kms,
        &["GetKeyRotationStatus"],
        1_000,
    ),
    pool(
        "kms.GetParametersForImport",
        Kms,
        &["GetParametersForImport"],
        5,
    ),
    pool("kms.GetPublicKey", Kms, &["GetPublicKey"], 2_000),
    pool("kms.ImportKeyMaterial", Kms, &["ImportKeyMaterial"], 5),
    pool("kms.ListAliases", Kms, &["ListAliases"], 500),
    pool("kms.ListGrants", Kms, &["ListGrants"], 100),
    pool("kms.ListKeyPolicies", Kms, &["ListKeyPolicies"], 100),
    pool("kms.ListKeyRotations", Kms, &["ListKeyRotations"], 100),
    pool("kms.ListKeys", Kms, &["ListKeys"], 500),
    pool("kms.ListResourceTags", Kms, &["ListResourceTags"], 100),
    pool(
        "kms.ListRetirableGrants",
        Kms,
        &["ListRetirableGrants"],
        100,
    ),
    pool("kms.PutKeyPolicy", Kms, &["PutKeyPolicy"], 15),
    pool("kms.ReplicateKey", Kms, &["ReplicateKey"], 5),
    pool("kms.RetireGrant", Kms, &["RetireGrant"], 15),
    pool("kms.RevokeGrant", Kms, &["RevokeGrant"], 15),
    pool("kms.RotateKeyOnDemand", Kms, &["RotateKeyOnDemand"], 5),
    pool("kms.ScheduleKeyDeletion", Kms, &["ScheduleKeyDeletion"], 15),
    pool("kms.TagResource", Kms, &["TagResource"], 10),
    pool("kms.UntagResource", Kms, &["UntagResource"], 10),
    pool("kms.UpdateAlias", Kms, &["UpdateAlias"], 5),
    pool(
        "kms.UpdateKeyDescription",
        Kms,
        &["UpdateKeyDescription"],
        5,
    ),
    pool("kms.UpdatePrimaryRegion", Kms, &["UpdatePrimaryRegion"], 5),
    // Parameter Store.
    pool(SSM_GET, Ssm, &["GetParameter", "GetParameters"], 40),
    pool(SSM_GET_BY_PATH, Ssm, &[], SSM_HIGH_THROUGHPUT.1),
    pool("ssm.PutParameter", Ssm, &["PutParameter"], 3),
    pool("ssm.DeleteParameter", Ssm, &["DeleteParameter"], 10),
    pool("ssm.DeleteParameters", Ssm, &["DeleteParameters"], 10),
    pool("ssm.DescribeParameters", Ssm, &["DescribeParameters"], 40),
    pool("ssm.GetParameterHistory", Ssm, &["GetParameterHistory"], 40),
    pool(
        "ssm.LabelParameterVersion",
        Ssm,
        &["LabelParameterVersion", "UnlabelParameterVersion"],
        10,
    ),
    pool(
        "ssm.tags",
        Ssm,
        &[
            "AddTagsToResource",
            "RemoveTagsFromResource",
            "ListTagsForResource",
        ],
        10,
    ),
    // Secrets Manager.
    pool(
        "secretsmanager.GetSecretValue",
        SecretsManager,
        &["GetSecretValue"],
        10_000,
    ),
    pool(
        "secretsmanager.DescribeSecret",
        SecretsManager,
        &["DescribeSecret"],
        40_000,
    ),
    pool(
        "secretsmanager.ListSecrets",
        SecretsManager,
        &["ListSecrets"],
        100,
    ),
    pool(
        "secretsmanager.BatchGetSecretValue",
        SecretsManager,
        &["BatchGetSecretValue"],
        100,
    ),
    pool(
        "secretsmanager.CreateSecret",
        SecretsManager,
        &["CreateSecret"],
        50,
    ),
    pool(
        "secretsmanager.DeleteSecret",
        SecretsManager,
        &["DeleteSecret"],
        50,
    ),
    pool(
        "secretsmanager.write",
        SecretsManager,
        &[
            "PutSecretValue",
            "UpdateSecret",
            "UpdateSecretVersionStage",
            "ReplicateSecretToRegions",
            "RemoveRegionsFromReplication",
            "StopReplicationToReplica",
        ],
        50,
    ),
    pool(
        "secretsmanager.rotation",
        SecretsManager,
        &["RotateSecret", "CancelRotateSecret"],
        50,
    ),
    pool(
        "secretsmanager.RestoreSecret",
        SecretsManager,
        &["RestoreSecret"],
        50,
    ),
    pool(
        "secretsmanager.tags",
        SecretsManager,
        &["TagResource", "UntagResource"],
        50,
    ),
    pool(
        "secretsmanager.policies",
        SecretsManager,
        &[
            "PutResourcePolicy",
            "GetResourcePolicy",
            "DeleteResourcePolicy",
            "ValidateResourcePolicy",
        ],
        50,
    ),
    pool(
        "secretsmanager.ListSecretVersionIds",
        SecretsManager,
        &["ListSecretVersionIds"],
        50,
    ),
    pool(
        "secretsmanager.GetRandomPassword",
        SecretsManager,
        &["GetRandomPassword"],
        50,
    ),
    // CloudTrail, IAM, STS.
    pool("cloudtrail.LookupEvents", CloudTrail, &["LookupEvents"], 2),
    pool("iam.read", Iam, &[], 100),
    pool("iam.write", Iam, &[], 20),
    pool("sts", Sts, &[], 600),
];

/// The KMS operations whose pool depends on the key's type: the KMS service charges them.
pub const KMS_KEY_DEPENDENT: &[&str] = &[
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "Sign",
    "Verify",
    "DeriveSharedSecret",
];

fn pool_index(name: &str) -> Option<usize> {
    POOLS.iter().position(|p| p.name == name)
}

/// A token bucket's figures: `per_second` tokens a second, at most `burst` held.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    /// `per_second`, with a burst of one second's worth (at least one request).
    pub fn per_second(per_second: f64) -> Rate {
        Rate {
            per_second,
            burst: per_second.max(1.0),
        }
    }

    fn validate(self, pool: &str) -> Result<Rate, QuotaError> {
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return Err(QuotaError::Invalid {
                pool: pool.to_owned(),
                reason: "the rate must be a positive number of requests per second",
            });
        }
        if !(self.burst.is_finite() && self.burst >= 1.0) {
            return Err(QuotaError::Invalid {
                pool: pool.to_owned(),
                reason: "the burst must be at least 1",
            });
        }
        Ok(self)
    }
}

/// A quota configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    #[error("unknown quota pool '{0}' (docs/quotas.md lists them)")]
    UnknownPool(String),
    #[error("invalid quota for '{pool}': {reason}")]
    Invalid { pool: String, reason: &'static str },
    #[error("the quota file is not valid JSON of the expected shape")]
    Json(#[source] serde_json::Error),
}

/// Which quotas apply: every pool's rate, `None` for a pool without a quota.
#[derive(Debug, Clone)]
pub struct Quotas {
    rates: Vec<Option<Rate>>,
    ssm_high_throughput: bool,
}

impl Default for Quotas {
    /// AWS's figures.
    fn default() -> Self {
        Quotas::aws()
    }
}

impl Quotas {
    /// AWS's figures (standard Parameter Store throughput): `trent serve`'s default.
    pub fn aws() -> Self {
        Quotas {
            rates: POOLS
                .iter()
                .map(|p| Some(Rate::per_second(f64::from(p.default_per_second))))
                .collect(),
            ssm_high_throughput: false,
        }
    }

    /// No quota at all.
    pub fn unlimited() -> Self {
        Quotas {
            rates: vec![None; POOLS.len()],
            ssm_high_throughput: false,
        }
    }

    /// Parameter Store's high-throughput setting: GetParameter and GetParameters share 3,000
    /// requests a second, GetParametersByPath gets 100 of its own. Sets those two pools' rates.
    #[must_use]
    pub fn with_ssm_high_throughput(mut self, on: bool) -> Self {
        self.ssm_high_throughput = on;
        let (get, by_path) = if on {
            SSM_HIGH_THROUGHPUT
        } else {
            (40, SSM_HIGH_THROUGHPUT.1)
        };
        for (name, rps) in [(SSM_GET, get), (SSM_GET_BY_PATH, by_path)] {
            if let Some(slot) = pool_index(name).and_then(|i| self.rates.get_mut(i))
                && slot.is_some()
            {
                *slot = Some(Rate::per_second(f64::from(rps)));
            }
        }
        self
    }

    /// Sets one pool's rate (`None`: no quota).
    pub fn set(&mut self, pool: &str, rate: Option<Rate>) -> Result<(), QuotaError> {
        let rate = rate.map(|r| r.validate(pool)).transpose()?;
        let slot = pool_index(pool)
            .and_then(|i| self.rates.get_mut(i))
            .ok_or_else(|| QuotaError::UnknownPool(pool.to_owned()))?;
        *slot = rate;
        Ok(())
    }

    /// Applies a quota file: a JSON object from pool name to requests per second (a number),
    /// `{"rate": n, "burst": m}`, or `null` for no quota. Pools it does not name keep their rate.
    pub fn apply_json(&mut self, text: &str) -> Result<(), QuotaError> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Entry {
            PerSecond(f64),
            Full { rate: f64, burst: Option<f64> },
        }
        let entries: HashMap<String, Option<Entry>> =
            serde_json::from_str(text).map_err(QuotaError::Json)?;
        let mut names: Vec<&String> = entries.keys().collect();
        names.sort();
        for name in names {
            let rate = match entries.get(name) {
                Some(Some(Entry::PerSecond(n))) => Some(Rate::per_second(*n)),
                Some(Some(Entry::Full { rate, burst })) => Some(Rate {
                    per_second: *rate,
                    burst: burst.unwrap_or_else(|| rate.max(1.0)),
                }),
                Some(None) | None => None,
            };
            self.set(name, rate)?;
        }
        Ok(())
    }

    /// A pool's rate, `None` when it has no quota (or does not exist).
    pub fn rate(&self, pool: &str) -> Option<Rate> {
        pool_index(pool).and_then(|i| self.rates.get(i).copied().flatten())
    }

    /// Whether any pool has a quota.
    pub fn any(&self) -> bool {
        self.rates.iter().any(Option::is_some)
    }
}

/// A monotonic time source for the buckets, in nanoseconds from any fixed origin.
pub trait Ticker: Send + Sync {
    fn now_nanos(&self) -> u64;
}

/// The process's monotonic clock.
#[derive(Debug)]
pub struct MonotonicTicker(Instant);

impl Default for MonotonicTicker {
    fn default() -> Self {
        MonotonicTicker(Instant::now())
    }
}

impl Ticker for MonotonicTicker {
    fn now_nanos(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// One bucket: the tokens it held at `at_nanos`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_nanos: u64,
}

impl Bucket {
    /// The tokens at `now`, refilled at `rate` up to its burst.
    fn refilled(&self, rate: Rate, now: u64) -> f64 {
        let elapsed = now.saturating_sub(self.at_nanos) as f64 / 1e9;
        (self.tokens + elapsed * rate.per_second).min(rate.burst)
    }
}

/// Buckets of one shard, by (account, Region, pool index).
type Shard = HashMap<(Box<str>, Box<str>, usize), Bucket>;

const SHARDS: usize = 16;
/// A shard holding more buckets than this drops the full ones (a full bucket and no bucket
/// mean the same), so callers naming many Regions cannot grow the map without bound.
const SHARD_SWEEP_AT: usize = 4096;

/// The buckets of every (account, Region, pool), and the count of throttled requests.
pub struct Limiter {
    quotas: Quotas,
    /// Operation name → pool index, per API.
    routes: HashMap<Api, HashMap<&'static str, usize>>,
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
    ticker: Box<dyn Ticker>,
    throttled: AtomicU64,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("quotas", &self.quotas)
            .field("throttled", &self.throttled)
            .finish_non_exhaustive()
    }
}

/// A request over its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub pool: &'static str,
}

impl Limiter {
    /// Buckets for `quotas`, on the process's monotonic clock.
    pub fn new(quotas: Quotas) -> Self {
        Self::with_ticker(quotas, Box::new(MonotonicTicker::default()))
    }

    pub fn with_ticker(quotas: Quotas, ticker: Box<dyn Ticker>) -> Self {
        let mut routes: HashMap<Api, HashMap<&'static str, usize>> = HashMap::new();
        for (i, p) in POOLS.iter().enumerate() {
            for op in p.operations {
                routes.entry(p.api).or_default().insert(op, i);
            }
        }
        Limiter {
            quotas,
            routes,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            ticker,
            throttled: AtomicU64::new(0),
        }
    }

    /// The configuration in force.
    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// How many requests have been throttled since start.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// The pool a request of `api` counts against, by operation name (and, for
    /// GenerateDataKeyPair, the KeyPairSpec in `body`). `None`: not charged here — an unknown
    /// operation, or a KMS operation whose pool depends on the key (charged by KMS).
    pub fn pool_for(&self, api: Api, operation: &str, body: &[u8]) -> Option<usize> {
        match (api, operation) {
            (Api::Kms, "GenerateDataKeyPair" | "GenerateDataKeyPairWithoutPlaintext") => {
                pool_index(data_key_pair_pool(body)?)
            }
            (Api::Ssm, "GetParametersByPath") => pool_index(if self.quotas.ssm_high_throughput {
                SSM_GET_BY_PATH
            } else {
                SSM_GET
            }),
            (Api::Iam, action) => {
                pool_index(if action.starts_with("Get") || action.starts_with("List") {
                    "iam.read"
                } else {
                    "iam.write"
                })
            }
            (Api::Sts, _) => pool_index("sts"),
            _ => self.routes.get(&api)?.get(operation).copied(),
        }
    }

    /// Charges one request of `operation` to the caller's account and Region.
    pub fn check(
        &self,
        account: &str,
        region: &str,
        api: Api,
        operation: &str,
        body: &[u8],
    ) -> Result<(), Throttled> {
        match self.pool_for(api, operation, body) {
            Some(pool) => self.take(account, region, pool),
            None => Ok(()),
        }
    }

    /// Takes one token from the bucket of (`account`, `region`, pool `name`).
    pub fn try_acquire(&self, account: &str, region: &str, name: &str) -> Result<(), Throttled> {
        match pool_index(name) {
            Some(pool) => self.take(account, region, pool),
            None => Ok(()),
        }
    }

    fn take(&self, account: &str, region: &str, pool: usize) -> Result<(), Throttled> {
        let Some(rate) = self.quotas.rates.get(pool).copied().flatten() else {
            return Ok(());
        };
        let throttled = || {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            Throttled {
                pool: POOLS.get(pool).map_or("", |p| p.name),
            }
        };
        let key: (Box<str>, Box<str>, usize) = (account.into(), region.into(), pool);
        let shard_index = usize::try_from(self.hasher.hash_one(&key) % SHARDS as u64).unwrap_or(0);
        let Some(shard) = self.shards.get(shard_index) else {
            return Ok(());
        };
        let now = self.ticker.now_nanos();
        // A poisoned shard only means another request panicked mid-update; the buckets are
        // plain numbers and still usable.
        let mut buckets = shard.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= SHARD_SWEEP_AT && !buckets.contains_key(&key) {
            buckets.retain(|(_, _, p), b| {
                let rate = self.quotas.rates.get(*p).copied().flatten();
                rate.is_some_and(|r| b.refilled(r, now) < r.burst)
            });
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: rate.burst,
            at_nanos: now,
        });
        let tokens = bucket.refilled(rate, now);
        bucket.at_nanos = now.max(bucket.at_nanos);
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            drop(buckets);
            Err(throttled())
        }
    }
}

/// The data key pair pool of a GenerateDataKeyPair body, by its KeyPairSpec.
fn data_key_pair_pool(body: &[u8]) -> Option<&'static str> {
    #[derive(serde::Deserialize)]
    struct Spec<'a> {
        #[serde(rename = "KeyPairSpec", borrow)]
        key_pair_spec: Option<std::borrow::Cow<'a, str>>,
    }
    let spec = serde_json::from_slice::<Spec<'_>>(body)
        .ok()?
        .key_pair_spec?;
    Some(match spec.as_ref() {
        "RSA_2048" => "kms.data-key-pair.rsa-2048",
        "RSA_3072" => "kms.data-key-pair.rsa-3072",
        "RSA_4096" => "kms.data-key-pair.rsa-4096",
        s if s.starts_with("ECC_") || s == "SM2" => "kms.data-key-pair.ecc",
        _ => return None,
    })
}

/// KMS charges its key-dependent operations through this, once it knows the key.
impl trent_kms::KeyQuota for Limiter {
    fn try_acquire(&self, scope: &trent_store::Scope, pool: trent_kms::KeyPool) -> bool {
        let name = match pool {
            trent_kms::KeyPool::Symmetric => KMS_SYMMETRIC,
            trent_kms::KeyPool::Rsa => KMS_RSA,
            trent_kms::KeyPool::Ecc => KMS_ECC,
            trent_kms::KeyPool::MlDsa => KMS_ML_DSA,
        };
        Limiter::try_acquire(self, &scope.account_id, &scope.region, name).is_ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A ticker the test moves.
    #[derive(Default)]
    struct Manual(Arc<AtomicU64>);

    impl Ticker for Manual {
        fn now_nanos(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn limiter(quotas: Quotas) -> (Limiter, Arc<AtomicU64>) {
        let now = Arc::new(AtomicU64::new(1_000_000_000));
        (
            Limiter::with_ticker(quotas, Box::new(Manual(Arc::clone(&now)))),
            now,
        )
    }

    fn advance_ms(now: &AtomicU64, ms: u64) {
        now.fetch_add(ms * 1_000_000, Ordering::SeqCst);
    }

    fn tiny(pool: &str, rate: Rate) -> Quotas {
        let mut q = Quotas::unlimited();
        q.set(pool, Some(rate)).unwrap();
        q
    }

    const A: &str = "111122223333";

    #[test]
    fn a_full_bucket_lets_a_burst_through_then_throttles() {
        let (l, _) = limiter(tiny(KMS_SYMMETRIC, Rate::per_second(5.0)));
        for _ in 0..5 {
            l.check(A, "us-east-1", Api::Kms, "GenerateDataKey", b"{}")
                .unwrap();
        }
        let e = l
            .check(A, "us-east-1", Api::Kms, "GenerateRandom", b"{}")
            .unwrap_err();
        assert_eq!(e.pool, KMS_SYMMETRIC);
        assert_eq!(l.throttled(), 1);
    }

    #[test]
    fn the_bucket_refills_at_the_rate_and_never_beyond_the_burst() {
        let (l, now) = limiter(tiny(KMS_SYMMETRIC, Rate::per_second(10.0)));
        for _ in 0..10 {
            l.try_acquire(A, "r", KMS_SYMMETRIC).unwrap();
        }
        assert!(l.try_acquire(A, "r", KMS_SYMMETRIC).is_err());
        // 100 ms at 10/s: one token.
        advance_ms(&now, 100);
        l.try_acquire(A, "r", KMS_SYMMETRIC).unwrap();
        assert!(l.try_acquire(A, "r", KMS_SYMMETRIC).is_err());
        // 50 ms: half a token is not enough; another 50 ms completes it.
        advance_ms(&now, 50);
        assert!(l.try_acquire(A, "r", KMS_SYMMETRIC).is_err());
        advance_ms(&now, 50);
        l.try_acquire(A, "r", KMS_SYMMETRIC).unwrap();
        // An hour idle refills only up to the burst.
        advance_ms(&now, 3_600_000);
        for _ in 0..10 {
            l.try_acquire(A, "r", KMS_SYMMETRIC).unwrap();
        }
        assert!(l.try_acquire(A, "r", KMS_SYMMETRIC).is_err());
    }

    #[test]
    fn a_configured_burst_differs_from_the_rate() {
        let (l, now) = limiter(tiny(
            KMS_SYMMETRIC,
            Rate {
                per_second: 2.0,
                burst: 6.0,
            },
        ));
        for _ in 0..6 {
            l.try_acquire(A, "r", KMS_SYMMETRIC).unwrap();
        }
        assert!(l.try_acquire(A, "r", KMS_SYMMETRIC).is_err());
        advance_ms(&now, 500);
        l.try_acquire(A, "r", KMS_SYMMETRIC).unwrap();
        assert!(l.try_acquire(A, "r", KMS_SYMMETRIC).is_err());
    }

    #[test]
    fn buckets_are_per_account_region_and_pool() {
        let mut q = tiny(KMS_SYMMETRIC, Rate::per_second(1.0));
        q.set("kms.CreateKey", Some(Rate::per_second(1.0))).unwrap();
        let (l, _) = limiter(q);
        l.try_acquire(A, "us-east-1", KMS_SYMMETRIC).unwrap();
        assert!(l.try_acquire(A, "us-east-1", KMS_SYMMETRIC).is_err());
        l.try_acquire("444455556666", "us-east-1", KMS_SYMMETRIC)
            .unwrap();
        l.try_acquire(A, "eu-west-1", KMS_SYMMETRIC).unwrap();
        l.check(A, "us-east-1", Api::Kms, "CreateKey", b"{}")
            .unwrap();
    }

    #[test]
    fn unlimited_pools_never_throttle() {
        let (l, _) = limiter(Quotas::unlimited());
        for _ in 0..10_000 {
            l.check(A, "r", Api::Kms, "CreateKey", b"{}").unwrap();
        }
        assert_eq!(l.throttled(), 0);
    }

    #[test]
    fn operations_land_in_their_pools() {
        let (l, _) = limiter(Quotas::aws());
        let name = |api, op: &str, body: &[u8]| l.pool_for(api, op, body).map(|i| POOLS[i].name);
        assert_eq!(
            name(Api::Kms, "GenerateDataKey", b"{}"),
            Some(KMS_SYMMETRIC)
        );
        assert_eq!(name(Api::Kms, "VerifyMac", b"{}"), Some(KMS_SYMMETRIC));
        for op in KMS_KEY_DEPENDENT {
            assert_eq!(name(Api::Kms, op, b"{}"), None, "{op} is charged by KMS");
        }
        assert_eq!(
            name(
                Api::Kms,
                "GenerateDataKeyPair",
                br#"{"KeyId":"k","KeyPairSpec":"RSA_3072"}"#
            ),
            Some("kms.data-key-pair.rsa-3072")
        );
        assert_eq!(
            name(
                Api::Kms,
                "GenerateDataKeyPairWithoutPlaintext",
                br#"{"KeyPairSpec":"ECC_NIST_P256"}"#
            ),
            Some("kms.data-key-pair.ecc")
        );
        assert_eq!(
            name(Api::Kms, "GenerateDataKeyPair", b"not json"),
            None,
            "a malformed request fails validation instead"
        );
        assert_eq!(name(Api::Kms, "DescribeKey", b""), Some("kms.DescribeKey"));
        assert_eq!(name(Api::Kms, "NoSuchOperation", b""), None);
        assert_eq!(name(Api::Ssm, "GetParameters", b""), Some(SSM_GET));
        assert_eq!(name(Api::Ssm, "GetParametersByPath", b""), Some(SSM_GET));
        assert_eq!(
            name(Api::SecretsManager, "TagResource", b""),
            Some("secretsmanager.tags")
        );
        assert_eq!(name(Api::Iam, "ListUsers", b""), Some("iam.read"));
        assert_eq!(name(Api::Iam, "CreateUser", b""), Some("iam.write"));
        assert_eq!(name(Api::Sts, "AssumeRole", b""), Some("sts"));
        assert_eq!(
            name(Api::CloudTrail, "LookupEvents", b""),
            Some("cloudtrail.LookupEvents")
        );
    }

    #[test]
    fn every_served_operation_has_a_pool() {
        let (l, _) = limiter(Quotas::aws());
        for op in trent_kms::Kms::operations() {
            assert!(
                l.pool_for(Api::Kms, op, br#"{"KeyPairSpec":"RSA_2048"}"#)
                    .is_some()
                    || KMS_KEY_DEPENDENT.contains(op),
                "KMS {op}"
            );
        }
        for op in trent_ssm::Ssm::operations() {
            assert!(l.pool_for(Api::Ssm, op, b"").is_some(), "SSM {op}");
        }
        for op in trent_secrets::Secrets::operations() {
            assert!(
                l.pool_for(Api::SecretsManager, op, b"").is_some(),
                "Secrets Manager {op}"
            );
        }
        let names: std::collections::HashSet<_> = POOLS.iter().map(|p| p.name).collect();
        assert_eq!(names.len(), POOLS.len(), "pool names are unique");
    }

    #[test]
    fn high_throughput_splits_parameter_store_reads() {
        let q = Quotas::aws().with_ssm_high_throughput(true);
        assert_eq!(q.rate(SSM_GET), Some(Rate::per_second(3_000.0)));
        let (l, _) = limiter(q);
        assert_eq!(
            l.pool_for(Api::Ssm, "GetParametersByPath", b"")
                .map(|i| POOLS[i].name),
            Some(SSM_GET_BY_PATH)
        );
        assert_eq!(
            Quotas::aws().rate(SSM_GET),
            Some(Rate::per_second(40.0)),
            "standard throughput"
        );
    }

    #[test]
    fn the_quota_file_overrides_named_pools() {
        let mut q = Quotas::aws();
        q.apply_json(
            r#"{"kms.symmetric": 20000, "kms.CreateKey": {"rate": 2, "burst": 8},
                "ssm.PutParameter": null}"#,
        )
        .unwrap();
        assert_eq!(q.rate(KMS_SYMMETRIC), Some(Rate::per_second(20_000.0)));
        assert_eq!(
            q.rate("kms.CreateKey"),
            Some(Rate {
                per_second: 2.0,
                burst: 8.0
            })
        );
        assert_eq!(q.rate("ssm.PutParameter"), None);
        assert_eq!(q.rate(KMS_RSA), Some(Rate::per_second(1_000.0)));
        // Mistakes are reported, not ignored.
        assert!(matches!(
            Quotas::aws().apply_json(r#"{"kms.symetric": 5}"#),
            Err(QuotaError::UnknownPool(p)) if p == "kms.symetric"
        ));
        assert!(matches!(
            Quotas::aws().apply_json(r#"{"kms.symmetric": 0}"#),
            Err(QuotaError::Invalid { .. })
        ));
        assert!(matches!(
            Quotas::aws().apply_json(r#"{"kms.symmetric": {"rate": 5, "burst": 0.5}}"#),
            Err(QuotaError::Invalid { .. })
        ));
        assert!(matches!(
            Quotas::aws().apply_json("[1]"),
            Err(QuotaError::Json(_))
        ));
    }

    #[test]
    fn aws_defaults_match_the_published_figures() {
        let q = Quotas::aws();
        let rps = |p: &str| q.rate(p).unwrap().per_second;
        assert_eq!(rps(KMS_SYMMETRIC), 10_000.0);
        assert_eq!(rps(KMS_RSA), 1_000.0);
        assert_eq!(rps("kms.data-key-pair.rsa-4096"), 1.0);
        assert_eq!(rps("kms.CreateGrant"), 50.0);
        assert_eq!(rps("kms.ListKeys"), 500.0);
        assert_eq!(rps("kms.DescribeKey"), 2_000.0);
        assert_eq!(rps(SSM_GET), 40.0);
        assert_eq!(rps("secretsmanager.GetSecretValue"), 10_000.0);
        assert_eq!(rps("secretsmanager.DescribeSecret"), 40_000.0);
        assert_eq!(rps("cloudtrail.LookupEvents"), 2.0);
    }

    #[test]
    fn idle_full_buckets_are_swept_from_a_crowded_shard() {
        let (l, now) = limiter(tiny(KMS_SYMMETRIC, Rate::per_second(1.0)));
        for i in 0..(SHARDS * SHARD_SWEEP_AT * 2) {
            l.try_acquire(A, &format!("r{i}"), KMS_SYMMETRIC).unwrap();
            if i % 1024 == 0 {
                advance_ms(&now, 2_000);
            }
        }
        let held: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= SHARDS * SHARD_SWEEP_AT, "{held} buckets held");
    }
}
