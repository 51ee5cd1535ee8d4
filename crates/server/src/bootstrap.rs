//! Building the server state from a data directory: unseal the root key (through the data
//! directory's seal, see [`trent_store::seal`]), open the store, and on first start in
//! production mode issue the default account's root access key.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use trent_crypto::SecretBytes;
use trent_store::clock::{Clock, SystemClock};
use trent_store::{
    AccessKeyRecord, Barrier, FileSeal, Seal, SealError, Store, StoreError, StoreLocation, Unseal,
};

use crate::auth::{AuthMode, Authenticator, error_chain, new_access_key};
use crate::{Limits, State};

/// Name of the file holding the root credentials, in the AWS shared-credentials format.
pub const ROOT_CREDENTIALS_FILE: &str = "root-credentials";
const ROOT_KEY_META: &str = "root_access_key_id";

/// How to start.
#[derive(Clone)]
pub struct Options {
    pub data_dir: PathBuf,
    /// The store: `None` for the one the data directory recorded (the embedded SQLite store
    /// unless `--store` named a PostgreSQL database before), `sqlite`, or a `postgres://` URL.
    pub store: Option<String>,
    /// This node's name among the nodes sharing a store (holder of scheduler leases).
    pub node_id: String,
    /// Any well-formed credentials act as the root of `account_id`.
    pub dev: bool,
    /// The default account: the one whose root key is issued at first start, and the one dev
    /// mode maps every caller to.
    pub account_id: String,
    /// Regions served; empty means any well-formed region.
    pub regions: Vec<String>,
    pub limits: Limits,
    /// Request quotas (AWS's figures by default; [`crate::quota::Quotas::unlimited`] for none).
    pub quotas: crate::quota::Quotas,
    pub clock: Arc<dyn Clock>,
    /// Parameter Store settings (parameter count limits per tier).
    pub ssm: trent_ssm::Config,
    /// Where Parameter Store events are delivered; events are written only when one is set.
    pub event_targets: Arc<crate::events::Targets>,
    /// The root key, when it was recovered before (key shares given to the sealed phase, see
    /// [`crate::sealed`]); without it the data directory's seal is asked.
    pub root_key: Option<Arc<SecretBytes>>,
    /// The data directory's seal, if already opened (for `/health`; opened here otherwise).
    pub seal: Option<Arc<dyn Seal>>,
    /// The TLS listener's configuration, whose certificate expiry `/health` reports.
    pub tls: Option<Arc<crate::tls::TlsConfig>>,
    /// Record every request in the audit trail (on by default; off only to measure its cost).
    pub audit: bool,
    /// Prune audit events older than this many days, behind a signed checkpoint (`None`: keep
    /// them forever).
    pub audit_retention_days: Option<u32>,
    /// Secret rotation webhooks, by name (see [`crate::rotators`]).
    pub rotation_webhooks: Vec<crate::rotators::RotationWebhook>,
}

impl Options {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Options {
            data_dir: data_dir.into(),
            store: None,
            node_id: default_node_id(),
            dev: false,
            account_id: "000000000000".to_string(),
            regions: Vec::new(),
            limits: Limits::default(),
            quotas: crate::quota::Quotas::aws(),
            clock: Arc::new(SystemClock),
            ssm: trent_ssm::Config::default(),
            event_targets: Arc::new(crate::events::Targets::default()),
            root_key: None,
            seal: None,
            tls: None,
            audit: true,
            audit_retention_days: None,
            rotation_webhooks: Vec::new(),
        }
    }
}

/// A node name unique enough among the nodes of one store: the host name and the process id.
pub fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let host = if host.is_empty() {
        "trent".to_owned()
    } else {
        host
    };
    format!("{host}-{}", std::process::id())
}

/// What start-up produced, for the binary to report.
pub struct Started {
    pub state: Arc<State>,
    /// Set when this start created the root key file.
    pub created_root_key: Option<PathBuf>,
    /// Set when this start issued the root access key and wrote it here.
    pub created_credentials: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    #[error("cannot create the data directory {path}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid account id '{0}': it must be 12 digits")]
    AccountId(String),
    #[error("the store could not be opened")]
    Store(#[from] StoreError),
    #[error("the KMS service could not start")]
    Kms(#[source] Box<trent_kms::KmsError>),
    #[error("cannot write the root credentials file {path}")]
    Credentials {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("random number generator failure")]
    Crypto(#[from] trent_crypto::Error),
    #[error("the IAM service failed")]
    Iam(#[from] trent_iam::IamError),
    #[error("the data directory is sealed (Shamir seal): its root key must be unsealed first")]
    Sealed,
    #[error("the {seal} seal could not give the root key")]
    Seal {
        seal: &'static str,
        #[source]
        source: Box<SealError>,
    },
    #[error("the audit trail could not be opened")]
    Audit(#[from] trent_audit::AuditError),
}

pub async fn bootstrap(opts: Options) -> Result<Started, BootstrapError> {
    if opts.account_id.len() != 12 || !opts.account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BootstrapError::AccountId(opts.account_id));
    }
    std::fs::create_dir_all(&opts.data_dir).map_err(|source| BootstrapError::DataDir {
        path: opts.data_dir.clone(),
        source,
    })?;
    let seal: Arc<dyn Seal> = match &opts.seal {
        Some(seal) => Arc::clone(seal),
        None => Arc::from(trent_store::seal::open(&opts.data_dir)?),
    };
    let (barrier, created_root_key) = match &opts.root_key {
        Some(root_key) => (Barrier::new(root_key)?, None),
        // The file seal makes its key on a first start.
        None if seal.name() == "file" => {
            let file = FileSeal::new(&opts.data_dir);
            let (root_key, created) = file.unseal_or_init()?;
            (
                Barrier::new(&root_key)?,
                created.then(|| file.path().to_path_buf()),
            )
        }
        None => (Barrier::new(&unseal(seal.as_ref())?)?, None),
    };
    let location = StoreLocation::resolve(&opts.data_dir, opts.store.as_deref())?;
    location.remember(&opts.data_dir)?;
    let store = location.open(barrier).await?;

    let iam = Arc::new(trent_iam::Iam::new(
        Arc::clone(&store),
        Arc::clone(&opts.clock),
    ));
    iam.ensure_account(&opts.account_id).await?;

    let created_credentials = if opts.dev {
        None
    } else {
        issue_root_credentials(store.as_ref(), &opts).await?
    };

    let mode = if opts.dev {
        AuthMode::Dev {
            account_id: opts.account_id.clone(),
        }
    } else {
        AuthMode::Verify
    };
    let quotas = Arc::new(crate::quota::Limiter::new(opts.quotas.clone()));
    let mut kms = trent_kms::Kms::new(Arc::clone(&store), Arc::clone(&opts.clock))
        .with_regions(opts.regions.clone());
    if quotas.quotas().any() {
        kms = kms.with_key_quota(Arc::clone(&quotas) as Arc<dyn trent_kms::KeyQuota>);
    }
    let kms = Arc::new(kms);
    kms.start_usage_tracking()
        .await
        .map_err(|e| BootstrapError::Kms(Box::new(e)))?;
    let secrets = Arc::new(trent_secrets::Secrets::new(
        Arc::clone(&store),
        Arc::clone(&kms),
        Arc::clone(&opts.clock),
    ));
    let ssm = Arc::new(
        trent_ssm::Ssm::new(
            Arc::clone(&store),
            Arc::clone(&kms),
            Arc::clone(&opts.clock),
        )
        .with_config(trent_ssm::Config {
            events: opts.event_targets.any(),
            ..opts.ssm.clone()
        })
        .with_secret_lookup(Arc::new(crate::reference::SecretsReference(Arc::clone(
            &secrets,
        )))),
    );
    let audit = Arc::new(
        trent_audit::AuditLog::open(Arc::clone(&store), Arc::clone(&opts.clock), opts.audit)
            .await?,
    );
    secrets.start_rotation(
        Arc::new(crate::rotators::Registry::new(&opts.rotation_webhooks)),
        Arc::new(crate::rotators::AuditEvents(Arc::clone(&audit))),
    );
    follow_changes(&store, &kms, &ssm, &iam);
    let state = Arc::new(State {
        audit,
        default_account: opts.account_id.clone(),
        kms,
        ssm,
        secrets,
        iam: Arc::clone(&iam),
        auth: Authenticator::new(mode, iam, Arc::clone(&opts.clock), opts.regions),
        store,
        clock: opts.clock,
        admission: crate::admission::Admission::adaptive(
            opts.limits.max_in_flight,
            opts.limits.max_queued,
            opts.limits.queue_timeout,
            opts.limits.burst_queue_timeout,
            opts.limits.latency_target,
            Box::new(crate::admission::process_cpu_time),
        ),
        limits: opts.limits,
        quotas,
        event_targets: opts.event_targets,
        seal_name: seal.name(),
        tls: opts.tls,
        sealing: tokio::sync::watch::channel(false).0,
        node_id: opts.node_id.clone(),
        audit_retention_ms: opts
            .audit_retention_days
            .map(|d| i64::from(d).saturating_mul(86_400_000)),
    });
    Ok(Started {
        state,
        created_root_key,
        created_credentials,
    })
}

/// Keeps this node's caches coherent with the writes of the other nodes sharing the store: each
/// change they commit drops what it makes stale. A subscriber that fell behind (the channel
/// overflowed) drops everything.
fn follow_changes(
    store: &Arc<dyn Store>,
    kms: &Arc<trent_kms::Kms>,
    ssm: &Arc<trent_ssm::Ssm>,
    iam: &Arc<trent_iam::Iam>,
) {
    let Some(mut changes) = store.subscribe_changes() else {
        return;
    };
    let (kms, ssm, iam) = (Arc::clone(kms), Arc::clone(ssm), Arc::clone(iam));
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            let change = match changes.recv().await {
                Ok(change) => change,
                Err(RecvError::Lagged(_)) => trent_store::Change::All,
                Err(RecvError::Closed) => return,
            };
            kms.apply_change(&change);
            ssm.apply_change(&change);
            iam.apply_change(&change);
        }
    });
}

/// Issues the default account's root access key once, ever, and writes it to a 0600 file.
async fn issue_root_credentials(
    store: &dyn Store,
    opts: &Options,
) -> Result<Option<PathBuf>, BootstrapError> {
    if store.get_meta(ROOT_KEY_META).await?.is_some() {
        return Ok(None);
    }
    let (access_key_id, secret) = new_access_key()?;
    let path = opts.data_dir.join(ROOT_CREDENTIALS_FILE);
    write_credentials_file(&path, &opts.account_id, &access_key_id, &secret)?;
    store
        .put_access_key(&AccessKeyRecord {
            access_key_id: access_key_id.clone(),
            account_id: opts.account_id.clone(),
            principal_arn: format!("arn:aws:iam::{}:root", opts.account_id),
            user_name: "root".to_string(),
            status: "Active".to_string(),
            created_ms: opts.clock.now_ms(),
            secret,
        })
        .await?;
    if !store
        .put_meta_once(ROOT_KEY_META, access_key_id.as_bytes())
        .await?
    {
        // Another node issued one first; ours stays valid but unused.
        tracing::warn!("another node issued the root access key concurrently");
    }
    Ok(Some(path))
}

/// Creates another account and its root access key in the store of `data_dir` (which must
/// have been initialised by a first start), and writes the credentials to
/// `<data_dir>/root-credentials-<account id>` (0600, profile `trent`). A random 12-digit id
/// unless `account_id` is given. Works while a server runs on the same data directory.
pub async fn create_account(
    data_dir: &Path,
    account_id: Option<&str>,
    clock: Arc<dyn Clock>,
) -> Result<(String, PathBuf), BootstrapError> {
    let barrier = offline_barrier(data_dir)?;
    add_account(data_dir, barrier, account_id, clock).await
}

async fn add_account(
    data_dir: &Path,
    barrier: Barrier,
    account_id: Option<&str>,
    clock: Arc<dyn Clock>,
) -> Result<(String, PathBuf), BootstrapError> {
    let store = StoreLocation::resolve(data_dir, None)?
        .open(barrier)
        .await?;
    let iam = trent_iam::Iam::new(Arc::clone(&store), clock);
    let result = iam.create_account(account_id).await;
    let written = match result {
        Ok(creds) => {
            let path = data_dir.join(format!("{ROOT_CREDENTIALS_FILE}-{}", creds.account_id));
            write_credentials_file(
                &path,
                &creds.account_id,
                &creds.access_key_id,
                &creds.secret_access_key,
            )
            .map(|()| (creds.account_id, path))
        }
        Err(e) => Err(e.into()),
    };
    store.close().await;
    written
}

/// Opens the store of an initialised data directory (for `trent audit` and other offline
/// tools). Works while a server runs on it.
pub async fn open_store(data_dir: &Path) -> Result<Arc<dyn Store>, BootstrapError> {
    let barrier = offline_barrier(data_dir)?;
    Ok(StoreLocation::resolve(data_dir, None)?
        .open(barrier)
        .await?)
}

/// The root key from an automatic seal; the Shamir seal's key exists only in the memory of an
/// unsealed server.
fn unseal(seal: &dyn Seal) -> Result<SecretBytes, BootstrapError> {
    match seal.unseal() {
        Ok(Unseal::Key(key)) => Ok(key),
        Ok(Unseal::NeedsShares(_)) => Err(BootstrapError::Sealed),
        Err(source) => Err(BootstrapError::Seal {
            seal: seal.name(),
            source: Box::new(source),
        }),
    }
}

/// The barrier of an existing data directory, for commands that run beside (or without) the
/// server: its seal gives the key (the file seal's key file, the HSM, the KMS). A
/// Shamir-sealed directory is refused: its key exists only in the memory of an unsealed server.
fn offline_barrier(data_dir: &Path) -> Result<Barrier, BootstrapError> {
    let seal = trent_store::seal::open(data_dir)?;
    if seal.name() == "file" && !FileSeal::new(data_dir).path().exists() {
        return Err(BootstrapError::DataDir {
            path: data_dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no root key here: start the server once with this data directory first",
            ),
        });
    }
    Ok(Barrier::new(&unseal(seal.as_ref())?)?)
}

fn write_credentials_file(
    path: &Path,
    account_id: &str,
    access_key_id: &str,
    secret: &SecretBytes,
) -> Result<(), BootstrapError> {
    let err = |source| BootstrapError::Credentials {
        path: path.to_path_buf(),
        source,
    };
    // A file left by an earlier, unfinished start holds a key that was never stored: replace it.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "cannot remove stale credentials file");
        }
    }
    let mut f = trent_store::create_private(path).map_err(err)?;
    let secret_text = std::str::from_utf8(secret.expose_secret()).unwrap_or_default();
    let contents = SecretBytes::new(
        format!(
            "# Trent root credentials of account {account_id}. Keep this file secret.\n\
             # Use with: AWS_SHARED_CREDENTIALS_FILE={} aws --profile trent ...\n\
             [trent]\n\
             aws_access_key_id = {access_key_id}\n\
             aws_secret_access_key = {secret_text}\n",
            path.display()
        )
        .into_bytes(),
    );
    f.write_all(contents.expose_secret()).map_err(err)?;
    f.sync_all().map_err(err)?;
    Ok(())
}
