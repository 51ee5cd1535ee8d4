//! `trent`: the binary. Parses flags, sets up logging, and hands over to `trent-server`; or
//! encrypts and decrypts files in the AWS Encryption SDK message format.

#![forbid(unsafe_code)]

mod audit;
mod crypt;
mod hardening;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

mod operator;
mod store_admin;

/// Trent: a self-hosted key management and secrets service that speaks the AWS wire protocols.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: KMS, Parameter Store, Secrets Manager, IAM, STS and CloudTrail
    /// LookupEvents, over HTTP and, with a certificate, HTTPS.
    Serve(Box<ServeArgs>),
    /// Administration of a data directory (works while a server runs on it).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Encrypt files, directories or standard input into AWS Encryption SDK messages.
    #[command(after_help = crypt::EXIT_CODES_HELP)]
    Encrypt(Box<crypt::EncryptArgs>),
    /// Decrypt AWS Encryption SDK messages (from any ESDK implementation).
    #[command(after_help = crypt::EXIT_CODES_HELP)]
    Decrypt(Box<crypt::DecryptArgs>),
    /// The root of trust: initialize the Shamir or PKCS#11 seal, unseal a server, ask its seal
    /// status, rekey the shares, move between seals.
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// The audit trail: verify it or an export of it, export it as CloudTrail log files,
    /// print its public key.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write a consistent snapshot of a data directory's store (embedded or PostgreSQL) to a
    /// file. Sealed values stay sealed: the backup is useless without the root key.
    Backup(store_admin::BackupArgs),
    /// Load a backup into a new, empty store (embedded or PostgreSQL).
    Restore(store_admin::RestoreArgs),
    /// Move a data directory's embedded store onto an empty PostgreSQL database, for several
    /// nodes. Stop the server first.
    Migrate(store_admin::MigrateArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain and every signed digest of a data directory's audit trail (from
    /// its retention checkpoint, if events were pruned), or of an export (--export), and
    /// report exactly what is wrong (edited, deleted, inserted or reordered events, a truncated
    /// tail, forged or missing digests or checkpoints; in an export, modified, removed or added
    /// files). Exits non-zero if anything is.
    Verify(VerifyArgs),
    /// Write the audit trail as CloudTrail log files (`{"Records":[...]}`, gzip) under a date
    /// hierarchy, with a digest file signed by the audit key. A second export into the same
    /// directory continues after the last one. Works while a server runs on the directory.
    Export(audit::ExportArgs),
    /// Print the audit signing key's public key (PEM), to verify digests elsewhere.
    PublicKey(DataDirArgs),
}

#[derive(clap::Args)]
struct DataDirArgs {
    /// The data directory of the server.
    #[arg(long, env = "TRENT_DATA_DIR", default_value = "./trent-data")]
    data_dir: PathBuf,
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// The data directory of the server.
    #[arg(long, env = "TRENT_DATA_DIR", default_value = "./trent-data")]
    data_dir: PathBuf,

    /// The audit public key (PEM, from `trent audit public-key`) kept apart from the data
    /// directory. Without it, the key is read from the store itself (or, with --export, from
    /// the export's trent-audit-public-key.pem), which proves less: whoever can rewrite the
    /// trail could also replace the key.
    #[arg(long)]
    public_key: Option<PathBuf>,

    /// Verify this export directory (written by `trent audit export`) instead of a data
    /// directory.
    #[arg(long)]
    export: Option<PathBuf>,
}

async fn audit_public_key(args: DataDirArgs) -> anyhow::Result<()> {
    let store = trent_server::open_store(&args.data_dir).await?;
    let signer = trent_audit::Signer::load(store.as_ref()).await;
    store.close().await;
    let signer = signer?.context("this data directory has no audit signing key yet")?;
    print!(
        "{}",
        trent_audit::chain::public_key_pem(signer.public_key_der())
    );
    Ok(())
}

async fn audit_verify(args: VerifyArgs) -> anyhow::Result<()> {
    let report = match &args.export {
        Some(dir) => audit::verify_export(dir, args.public_key.as_deref())?,
        None => {
            let store = trent_server::open_store(&args.data_dir).await?;
            let result = verify_store(store.as_ref(), args.public_key.as_deref()).await;
            store.close().await;
            result?
        }
    };
    for p in &report.problems {
        println!("PROBLEM: {p}");
    }
    if let Some(c) = &report.checkpoint {
        println!(
            "verified from checkpoint {}: events up to {} (older than {}) were pruned at {}",
            c.checkpoint_seq, c.pruned_through, c.retention_cutoff_time, c.checkpoint_time
        );
    }
    if report.behind_checkpoint > 0 {
        println!(
            "{} events behind the checkpoint are still waiting to be pruned (not verified)",
            report.behind_checkpoint
        );
    }
    println!(
        "{} events, {} digests, {} events after the last digest (not yet signed)",
        report.events, report.digests, report.unsigned_events
    );
    if report.is_ok() {
        println!("audit trail verified");
        Ok(())
    } else {
        anyhow::bail!(
            "audit trail verification failed: {} problem(s)",
            report.problems.len()
        )
    }
}

/// The public key in a PEM file.
fn read_public_key(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    trent_audit::chain::public_key_from_pem(&pem)
        .with_context(|| format!("{} is not a PEM public key", path.display()))
}

async fn verify_store(
    store: &dyn trent_store::Store,
    public_key: Option<&std::path::Path>,
) -> anyhow::Result<trent_audit::Report> {
    let key = match public_key {
        Some(path) => read_public_key(path)?,
        None => trent_audit::Signer::load(store)
            .await?
            .context("this data directory has no audit signing key")?
            .public_key_der()
            .to_vec(),
    };
    let digests = store.audit_digests().await?;
    let mut verifier = trent_audit::Verifier::new(&key, &digests);
    verifier.checkpoints(&key, &store.audit_checkpoints().await?);
    let mut after = 0;
    loop {
        let page = store.audit_events(after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            verifier.push(e);
        }
    }
    Ok(verifier.finish())
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create another account and its root access key, written to
    /// `<data-dir>/root-credentials-<account id>` (AWS shared-credentials format, profile
    /// `trent`, mode 0600).
    CreateAccount(CreateAccountArgs),
}

#[derive(clap::Args)]
struct CreateAccountArgs {
    /// The data directory of the server (initialised by a first `trent serve`).
    #[arg(long, env = "TRENT_DATA_DIR", default_value = "./trent-data")]
    data_dir: PathBuf,

    /// The new account's id (12 digits). Default: a random one.
    #[arg(long)]
    account_id: Option<String>,
}

async fn create_account(args: CreateAccountArgs) -> anyhow::Result<()> {
    let (account_id, path) = trent_server::create_account(
        &args.data_dir,
        args.account_id.as_deref(),
        Arc::new(trent_store::clock::SystemClock),
    )
    .await
    .with_context(|| {
        format!(
            "cannot create an account in data directory {}",
            args.data_dir.display()
        )
    })?;
    println!(
        "created account {account_id}; its root credentials are in {} \
         (use with AWS_SHARED_CREDENTIALS_FILE={} AWS_PROFILE=trent)",
        path.display(),
        path.display()
    );
    Ok(())
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TRENT_ADDR", default_value = "127.0.0.1:4566")]
    addr: SocketAddr,

    /// Directory for the embedded database, the root key (file seal) and the root credentials.
    #[arg(long, env = "TRENT_DATA_DIR", default_value = "./trent-data")]
    data_dir: PathBuf,

    /// Where state lives: `sqlite` (the embedded database in the data directory) or a
    /// PostgreSQL URL (`postgres://user[:password]@host[:port]/database`) shared by several
    /// nodes. Recorded in the data directory (store-url, 0600), so later starts and the admin
    /// tools on that directory find it. Default: what the data directory recorded, else sqlite.
    #[arg(long, env = "TRENT_STORE")]
    store: Option<String>,

    /// This node's name among the nodes sharing a PostgreSQL store (holder of the scheduler
    /// and event delivery leases). Default: host name and process id.
    #[arg(long, env = "TRENT_NODE_ID")]
    node_id: Option<String>,

    /// Development mode: accept any well-formed credentials as the root of the default account.
    /// Signatures are not verified, except for access keys Trent issued (IAM users, role
    /// sessions), which act as themselves. Never use this where anyone else can reach the port.
    #[arg(long, env = "TRENT_DEV")]
    dev: bool,

    /// The default account (12 digits): dev-mode callers and the first root key belong to it.
    #[arg(long, env = "TRENT_ACCOUNT_ID", default_value = "000000000000")]
    account_id: String,

    /// Regions to serve, comma-separated. Default: any well-formed region name.
    #[arg(long, env = "TRENT_REGIONS", value_delimiter = ',')]
    regions: Vec<String>,

    /// Log format.
    #[arg(long, env = "TRENT_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,

    /// Log filter (`info`, `debug`, `trent_server=debug,info`, ...). RUST_LOG works too.
    #[arg(long, env = "TRENT_LOG", default_value = "info")]
    log_level: String,

    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_body_bytes: usize,

    /// Most connections served at once.
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,

    /// Seconds a request has to arrive completely and be answered.
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,

    /// Seconds a client has to send its request headers (slow-client protection); also how
    /// long an idle HTTP/1.1 keep-alive connection is kept.
    #[arg(long, default_value_t = 10)]
    header_timeout_secs: u64,

    /// Seconds an admitted request's body has to arrive completely (slow-body protection).
    #[arg(long, default_value_t = 10)]
    body_timeout_secs: u64,

    /// Largest request head (request line and headers; an HTTP/2 header list), in bytes
    /// (at least 8192). HTTP/1.1 answers 431 past it.
    #[arg(long, default_value_t = 16 * 1024)]
    max_header_bytes: usize,

    /// Most requests worked on at once (admission control); 0 turns admission control off.
    #[arg(long, default_value_t = trent_server::DEFAULT_MAX_IN_FLIGHT)]
    max_in_flight: usize,

    /// Most requests waiting for one of the --max-in-flight places; past it a request is
    /// answered with a throttling error at once.
    #[arg(long, default_value_t = trent_server::DEFAULT_MAX_QUEUED)]
    max_queued: usize,

    /// Milliseconds a request may wait for one of the --max-in-flight places while the server
    /// is overloaded (every request of the last interval waited longer than this), before it
    /// is answered with a throttling error (ThrottlingException; Throttling for IAM and STS).
    #[arg(long, default_value_t = trent_server::DEFAULT_QUEUE_TIMEOUT.as_millis() as u64)]
    queue_timeout_ms: u64,

    /// Milliseconds a request may wait for a place otherwise (a burst); also the interval over
    /// which overload is judged.
    #[arg(long, default_value_t = trent_server::DEFAULT_BURST_QUEUE_TIMEOUT.as_millis() as u64)]
    burst_queue_timeout_ms: u64,

    /// While Trent keeps the CPUs it may run on busy, cut the --max-in-flight places so that
    /// a request is worked on for about this many milliseconds on average (they grow back when
    /// the CPUs have room); 0 keeps all the places.
    #[arg(long, default_value_t = trent_server::DEFAULT_LATENCY_TARGET.as_millis() as u64)]
    latency_target_ms: u64,

    /// Most concurrent HTTP/2 streams per connection.
    #[arg(long, default_value_t = 128)]
    max_streams_per_connection: u32,

    /// Seconds between HTTP/2 keep-alive pings on an idle connection; one left unanswered as
    /// long closes it.
    #[arg(long, default_value_t = 20)]
    http2_keep_alive_secs: u64,

    /// Seconds between runs of the background jobs (key deletion, key rotation, parameter
    /// policies, audit retention, ...).
    #[arg(long, default_value_t = 60)]
    scheduler_interval_secs: u64,

    /// Most Standard-tier parameters per account and region (AWS: 10,000).
    #[arg(long, env = "TRENT_SSM_STANDARD_LIMIT", default_value_t = 10_000)]
    ssm_standard_limit: i64,

    /// Most Advanced-tier parameters per account and region (AWS: 100,000).
    #[arg(long, env = "TRENT_SSM_ADVANCED_LIMIT", default_value_t = 100_000)]
    ssm_advanced_limit: i64,

    /// Deliver Parameter Store events (EventBridge-shaped JSON) by POST to this http:// URL,
    /// signed with --events-webhook-secret in the X-Trent-Signature header
    /// (`sha256=<hex HMAC-SHA256 of the body>`), the event id in X-Trent-Event-Id. Events wait
    /// in the store until delivered (retried with backoff).
    #[arg(long, env = "TRENT_EVENTS_WEBHOOK")]
    events_webhook: Option<String>,

    /// The webhook signing secret. Prefer the environment variable to the flag, which other
    /// local users can see in the process list.
    #[arg(long, env = "TRENT_EVENTS_WEBHOOK_SECRET", hide_env_values = true)]
    events_webhook_secret: Option<String>,

    /// Publish Parameter Store events to this NATS server (nats://host:port).
    #[arg(long, env = "TRENT_EVENTS_NATS")]
    events_nats: Option<String>,

    /// Seconds between signed audit digests (one is also signed at shutdown).
    #[arg(long, env = "TRENT_AUDIT_DIGEST_INTERVAL", default_value_t = 300)]
    audit_digest_interval: u64,

    /// Keep audit events this many days: older ones are pruned by the background jobs, in
    /// batches, behind a signed checkpoint that `trent audit verify` starts from. Default:
    /// keep every event forever. Export the trail (`trent audit export`) before it is pruned.
    #[arg(long, env = "TRENT_AUDIT_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    audit_retention_days: Option<u32>,

    /// Do not record requests in the audit trail. Only for measuring what auditing costs:
    /// without it nothing proves who used which key.
    #[arg(long, hide = true)]
    no_audit: bool,

    /// The NATS subject events are published on.
    #[arg(long, env = "TRENT_EVENTS_NATS_SUBJECT", default_value = trent_server::events::DEFAULT_NATS_SUBJECT)]
    events_nats_subject: String,

    /// A Secrets Manager rotation webhook, `<name>=<http://url>` (repeatable; the environment
    /// variable takes a comma-separated list). A secret rotates through it when its
    /// RotationLambdaARN is `arn:aws:lambda:<region>:<account>:function:<name>`. Each step is a
    /// signed POST; the signing secret comes from TRENT_ROTATION_WEBHOOK_SECRET_<NAME> (upper
    /// case, `-` as `_`). Built-in rotators need no flag: the function names
    /// trent-rotator-{postgresql,mysql,mariadb}-{single-user,alternating-users}.
    #[arg(
        long = "rotation-webhook",
        value_name = "NAME=URL",
        env = "TRENT_ROTATION_WEBHOOKS",
        value_delimiter = ','
    )]
    rotation_webhooks: Vec<String>,

    /// Serve HTTPS with this certificate chain (PEM, leaf first) on --tls-addr. Reloaded, with
    /// --tls-key, on SIGHUP.
    #[arg(
        long,
        env = "TRENT_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "TRENT_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Serve HTTPS with a self-signed certificate for localhost, 127.0.0.1 and ::1 (plus
    /// --tls-name), created in <data-dir>/tls on the first run; its fingerprint is logged.
    /// Clients trust it with AWS_CA_BUNDLE=<data-dir>/tls/self-signed-cert.pem.
    #[arg(long, env = "TRENT_TLS_SELF_SIGNED")]
    tls_self_signed: bool,

    /// Further DNS names or IP addresses for the self-signed certificate.
    #[arg(long = "tls-name", value_name = "NAME", requires = "tls_self_signed")]
    tls_names: Vec<String>,

    /// Address of the HTTPS listener (TLS 1.2 and 1.3).
    #[arg(long, env = "TRENT_TLS_ADDR", default_value = "127.0.0.1:4567")]
    tls_addr: SocketAddr,

    /// Serve HTTPS only: no plain-HTTP listener on --addr. Needs a TLS certificate.
    #[arg(long, env = "TRENT_NO_HTTP")]
    no_http: bool,

    #[command(flatten)]
    hardening: hardening::HardeningArgs,

    /// Request quotas from this JSON file: pool name → requests per second, `{"rate": n,
    /// "burst": m}`, or null for no quota (e.g. `{"kms.symmetric": 20000, "kms.CreateKey": 50}`).
    /// Pools it does not name keep AWS's figures. Pools and defaults: docs/quotas.md.
    #[arg(
        long,
        env = "TRENT_QUOTAS",
        value_name = "FILE",
        conflicts_with = "no_quotas"
    )]
    quotas: Option<PathBuf>,

    /// Enforce no request quota at all. By default AWS's per-account, per-Region figures apply
    /// and a request over them gets the service's throttling error.
    #[arg(long, env = "TRENT_NO_QUOTAS")]
    no_quotas: bool,

    /// Parameter Store's high-throughput setting: GetParameter and GetParameters share 3,000
    /// requests a second, GetParametersByPath gets 100 (standard: 40 shared by all three).
    #[arg(long, env = "TRENT_SSM_HIGH_THROUGHPUT")]
    ssm_high_throughput: bool,
}

/// The request quotas from the flags.
fn quotas(args: &ServeArgs) -> anyhow::Result<trent_server::quota::Quotas> {
    use trent_server::quota::Quotas;
    if args.no_quotas {
        tracing::warn!("REQUEST QUOTAS ARE OFF: no request is throttled");
        return Ok(Quotas::unlimited());
    }
    let mut quotas = Quotas::aws().with_ssm_high_throughput(args.ssm_high_throughput);
    if let Some(path) = &args.quotas {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the quota file {}", path.display()))?;
        quotas
            .apply_json(&text)
            .with_context(|| format!("invalid quota file {}", path.display()))?;
    }
    Ok(quotas)
}

/// The event delivery targets from the flags.
fn event_targets(args: &mut ServeArgs) -> anyhow::Result<trent_server::events::Targets> {
    use trent_server::events::{Nats, Targets, Webhook};
    let secret = args
        .events_webhook_secret
        .take()
        .map(|s| trent_crypto::SecretBytes::new(s.into_bytes()));
    let webhook = match (&args.events_webhook, secret) {
        (Some(url), Some(secret)) => Some(Webhook::new(url, secret)?),
        (Some(_), None) => {
            anyhow::bail!(
                "--events-webhook needs --events-webhook-secret (or TRENT_EVENTS_WEBHOOK_SECRET)"
            )
        }
        (None, Some(_)) => anyhow::bail!("--events-webhook-secret is set without --events-webhook"),
        (None, None) => None,
    };
    let nats = args
        .events_nats
        .as_deref()
        .map(|url| Nats::new(url, &args.events_nats_subject))
        .transpose()?;
    Ok(Targets { webhook, nats })
}

fn init_logging(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => tracing_subscriber::EnvFilter::new(env),
        _ => tracing_subscriber::EnvFilter::try_new(filter)
            .with_context(|| format!("invalid log filter '{filter}'"))?,
    };
    // A log write that fails (the reader of stderr went away) is dropped: reporting it would
    // itself write to stderr, and the standard library panics when that fails.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(())
}

/// The TLS configuration the flags ask for, if any.
fn tls_config(args: &ServeArgs) -> anyhow::Result<Option<Arc<trent_server::tls::TlsConfig>>> {
    use trent_server::tls::{TlsConfig, TlsFiles, self_signed};
    let files = match (&args.tls_cert, &args.tls_key, args.tls_self_signed) {
        (Some(cert), Some(key), _) => TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        },
        (_, _, true) => {
            let (files, created) = self_signed(&args.data_dir, &args.tls_names)?;
            if created {
                tracing::warn!(
                    cert = %files.cert.display(),
                    "created a SELF-SIGNED certificate: clients must trust it explicitly \
                     (AWS_CA_BUNDLE={}). Use a certificate from your CA in production.",
                    files.cert.display()
                );
            }
            files
        }
        _ => return Ok(None),
    };
    Ok(Some(TlsConfig::load(files)?))
}

/// Reloads the TLS certificate and key on every SIGHUP; a failed reload keeps the current ones.
async fn reload_on_sighup(tls: Arc<trent_server::tls::TlsConfig>) {
    #[cfg(unix)]
    {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP: TLS reload is off");
                return;
            }
        };
        while hup.recv().await.is_some() {
            match tls.reload() {
                Ok(fingerprint) => {
                    tracing::info!(%fingerprint, "reloaded the TLS certificate");
                }
                Err(e) => {
                    tracing::error!(error = %e, "TLS reload failed; still serving the previous certificate");
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tls;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

async fn serve(mut args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format, &args.log_level)?;
    hardening::apply(args.hardening)?;
    let targets = Arc::new(event_targets(&mut args).context("invalid event delivery settings")?);
    // Read once, before the root key is asked for: a bad file stops the start at once.
    let quotas = quotas(&args)?;
    if args.no_http && args.tls_cert.is_none() && !args.tls_self_signed {
        anyhow::bail!("--no-http needs --tls-cert and --tls-key, or --tls-self-signed");
    }
    let tls = tls_config(&args)?;
    if args.ssm_standard_limit < 0 || args.ssm_advanced_limit < 0 {
        anyhow::bail!("parameter limits cannot be negative");
    }
    // The listeners come up first: a sealed server answers on them until it is unsealed, and
    // they stay open across `trent operator seal`.
    let listener = if args.no_http {
        None
    } else {
        Some(
            tokio::net::TcpListener::bind(args.addr)
                .await
                .with_context(|| format!("cannot listen on {}", args.addr))?,
        )
    };
    let tls_listener = match &tls {
        None => None,
        Some(_) => Some(
            tokio::net::TcpListener::bind(args.tls_addr)
                .await
                .with_context(|| format!("cannot listen on {}", args.tls_addr))?,
        ),
    };
    // One shutdown signal stops every phase and listener.
    let (serve_stop_tx, serve_stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = serve_stop_tx.send(true);
    });
    let reload = tls.clone().map(|tls| tokio::spawn(reload_on_sighup(tls)));
    let mut seal: Arc<dyn trent_store::Seal> = Arc::from(trent_store::seal::open(&args.data_dir)?);
    let listeners = Listeners {
        http: listener,
        https: tls_listener,
        tls,
        stop: serve_stop_rx,
    };
    // The file and PKCS#11 seals give the key at start or stop the start with the reason; the
    // KMS seal, whose KMS may be briefly unreachable, starts sealed and retries.
    let mut gate = match seal.name() {
        "shamir" => Some(trent_server::sealed::SealedGate::new(
            Arc::clone(&seal),
            "",
            listeners.tls.clone(),
        )?),
        "kms" => {
            let first = Arc::clone(&seal);
            match tokio::task::spawn_blocking(move || first.unseal()).await? {
                Ok(trent_store::Unseal::Key(key)) => {
                    tracing::info!(seal = "kms", "the kms seal gave the root key");
                    let key = Some(Arc::new(key));
                    let outcome =
                        serve_unsealed(&args, &seal, &targets, &quotas, &listeners, key).await?;
                    match outcome {
                        Outcome::Stopped => return finish(reload),
                        Outcome::Sealed => {
                            seal = Arc::from(trent_store::seal::open(&args.data_dir)?);
                            Some(sealed_by_operator(&seal, &listeners)?)
                        }
                    }
                }
                Ok(trent_store::Unseal::NeedsShares(_)) => None,
                Err(e) => {
                    let reason = trent_server::auth::error_chain(&e);
                    tracing::warn!(reason = %reason, "the kms seal could not give the root key");
                    let gate = trent_server::sealed::SealedGate::new(
                        Arc::clone(&seal),
                        format!("the kms seal could not give the root key: {reason}"),
                        listeners.tls.clone(),
                    )?;
                    let retry = Arc::clone(&gate);
                    let stop = listeners.stopped();
                    tokio::spawn(async move { retry.auto_unseal(stop).await });
                    Some(gate)
                }
            }
        }
        _ => None,
    };
    loop {
        let root_key = match gate.take() {
            None => None,
            Some(gate) => match sealed_phase(&gate, &listeners).await {
                Some(key) => Some(Arc::new(key)),
                None => {
                    tracing::info!("stopped while sealed");
                    return finish(reload);
                }
            },
        };
        match serve_unsealed(&args, &seal, &targets, &quotas, &listeners, root_key).await? {
            Outcome::Stopped => return finish(reload),
            Outcome::Sealed => {
                // Read again: rekey, rotate-root or migrate-seal may have changed it meanwhile.
                seal = Arc::from(trent_store::seal::open(&args.data_dir)?);
                gate = Some(sealed_by_operator(&seal, &listeners)?);
            }
        }
    }
}

fn finish(reload: Option<tokio::task::JoinHandle<()>>) -> anyhow::Result<()> {
    if let Some(reload) = reload {
        reload.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// The listeners, kept open for the life of the process, and the shutdown signal.
struct Listeners {
    http: Option<tokio::net::TcpListener>,
    https: Option<tokio::net::TcpListener>,
    tls: Option<Arc<trent_server::tls::TlsConfig>>,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Listeners {
    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }
}

/// How a serving phase ended.
enum Outcome {
    /// The process was asked to stop.
    Stopped,
    /// `trent operator seal`: the state and the root key are dropped.
    Sealed,
}

/// The gate after `trent operator seal`: the Shamir seal needs shares again; an automatic seal
/// stays sealed until the server is restarted (nothing unauthenticated may undo an operator's
/// seal).
fn sealed_by_operator(
    seal: &Arc<dyn trent_store::Seal>,
    listeners: &Listeners,
) -> anyhow::Result<Arc<trent_server::sealed::SealedGate>> {
    Ok(trent_server::sealed::SealedGate::new(
        Arc::clone(seal),
        "an operator sealed it (`trent operator seal`); restart the server to unseal it",
        listeners.tls.clone(),
    )?)
}

/// Answers as a sealed server until the gate gives the root key (`None`: stopped first).
async fn sealed_phase(
    gate: &Arc<trent_server::sealed::SealedGate>,
    listeners: &Listeners,
) -> Option<trent_crypto::SecretBytes> {
    for (l, scheme) in [(&listeners.http, "http"), (&listeners.https, "https")] {
        if let Some(l) = l
            && let Ok(local) = l.local_addr()
        {
            tracing::warn!(
                addr = %local,
                "SEALED: the API answers 503 until the root key is recovered; \
                 see `trent operator status --endpoint {scheme}://{local}`"
            );
        }
    }
    let http = async {
        if let Some(l) = &listeners.http {
            trent_server::sealed::serve(l, None, Arc::clone(gate), listeners.stopped()).await;
        }
    };
    let https = async {
        if let (Some(l), Some(t)) = (&listeners.https, &listeners.tls) {
            trent_server::sealed::serve(
                l,
                Some(Arc::clone(t)),
                Arc::clone(gate),
                listeners.stopped(),
            )
            .await;
        }
    };
    tokio::join!(http, https);
    gate.take_key()
}

fn state_node(started: &trent_server::Started) -> &str {
    &started.state.node_id
}

/// Opens the store with the root key (or the seal's) and serves the API until the process is
/// stopped or an operator seals it; then stops the background jobs and drops everything that
/// holds key material.
async fn serve_unsealed(
    args: &ServeArgs,
    seal: &Arc<dyn trent_store::Seal>,
    targets: &Arc<trent_server::events::Targets>,
    quotas: &trent_server::quota::Quotas,
    listeners: &Listeners,
    root_key: Option<Arc<trent_crypto::SecretBytes>>,
) -> anyhow::Result<Outcome> {
    let mut opts = trent_server::Options::new(&args.data_dir);
    opts.store = args.store.clone();
    if let Some(node) = &args.node_id {
        opts.node_id = node.clone();
    }
    opts.root_key = root_key;
    opts.seal = Some(Arc::clone(seal));
    opts.tls = listeners.tls.clone();
    opts.dev = args.dev;
    opts.account_id = args.account_id.clone();
    opts.regions = args.regions.clone();
    opts.limits = trent_server::Limits {
        max_body_bytes: args.max_body_bytes,
        max_connections: args.max_connections.max(1),
        max_header_bytes: args.max_header_bytes.max(8192),
        header_read_timeout: Duration::from_secs(args.header_timeout_secs.max(1)),
        body_read_timeout: Duration::from_secs(args.body_timeout_secs.max(1)),
        request_timeout: Duration::from_secs(args.request_timeout_secs.max(1)),
        max_in_flight: args.max_in_flight,
        max_queued: args.max_queued,
        queue_timeout: Duration::from_millis(args.queue_timeout_ms),
        burst_queue_timeout: Duration::from_millis(args.burst_queue_timeout_ms),
        latency_target: Duration::from_millis(args.latency_target_ms),
        max_streams_per_connection: args.max_streams_per_connection.max(1),
        http2_keep_alive: Duration::from_secs(args.http2_keep_alive_secs.max(1)),
        ..trent_server::Limits::default()
    };
    opts.ssm = trent_ssm::Config {
        standard_limit: args.ssm_standard_limit,
        advanced_limit: args.ssm_advanced_limit,
        events: false,
    };
    tracing::info!(targets = ?targets, "Parameter Store event delivery");
    opts.event_targets = Arc::clone(targets);
    opts.rotation_webhooks = args
        .rotation_webhooks
        .iter()
        .map(|spec| {
            trent_server::rotators::RotationWebhook::parse(spec, |var| std::env::var(var).ok())
        })
        .collect::<Result<_, _>>()
        .context("invalid --rotation-webhook")?;
    for w in &opts.rotation_webhooks {
        tracing::info!(webhook = %w.name, url = %w.url, "secret rotation webhook");
    }
    opts.quotas = quotas.clone();
    opts.audit = !args.no_audit;
    opts.audit_retention_days = args.audit_retention_days;
    if args.no_audit {
        tracing::warn!("AUDITING IS OFF: requests are not recorded");
    }
    let started = trent_server::bootstrap(opts).await.with_context(|| {
        format!(
            "cannot start with data directory {}",
            args.data_dir.display()
        )
    })?;
    if let Some(path) = &started.created_root_key {
        tracing::warn!(
            path = %path.display(),
            "created a new root key with the FILE SEAL: it protects the database only as well as \
             this file is protected. Suitable for development."
        );
    }
    if args.dev {
        tracing::warn!(
            "DEVELOPMENT MODE: any well-formed AWS credentials are accepted as the root of \
             account {} and signatures are NOT verified (except for access keys Trent issued). \
             Do not expose this port.",
            args.account_id
        );
    }
    if let Some(path) = &started.created_credentials {
        tracing::info!(
            path = %path.display(),
            "issued the root access key of the default account; use it with \
             AWS_SHARED_CREDENTIALS_FILE={} AWS_PROFILE=trent",
            path.display()
        );
    }

    if let Some(l) = &listeners.http {
        let local = l.local_addr()?;
        tracing::info!(
            addr = %local,
            data_dir = %args.data_dir.display(),
            store = %trent_store::StoreLocation::resolve(&args.data_dir, None)
                .map(|l| l.describe())
                .unwrap_or_default(),
            node = %state_node(&started),
            "Trent is listening; point clients at AWS_ENDPOINT_URL=http://{local}"
        );
    }
    if let (Some(l), Some(tls)) = (&listeners.https, &listeners.tls) {
        let local = l.local_addr()?;
        tracing::info!(
            addr = %local,
            cert = %tls.files().cert.display(),
            fingerprint = %tls.fingerprint(),
            "Trent is listening over TLS; point clients at AWS_ENDPOINT_URL=https://{local}"
        );
    }

    let state = Arc::clone(&started.state);
    drop(started);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = {
        let state = Arc::clone(&state);
        let mut rx = stop_rx.clone();
        tokio::spawn(trent_server::scheduler::run(
            state,
            Duration::from_secs(args.scheduler_interval_secs.max(1)),
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            },
        ))
    };
    let delivery = {
        let state = Arc::clone(&state);
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            state
                .deliver_events(async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                })
                .await;
        })
    };
    let digests = {
        let state = Arc::clone(&state);
        let mut rx = stop_rx.clone();
        let interval = Duration::from_secs(args.audit_digest_interval.max(1));
        tokio::spawn(async move {
            state
                .sign_audit_digests(interval, async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                })
                .await;
        })
    };
    // Each listener stops at shutdown or when an operator seals the server.
    let until = || {
        let stopped = listeners.stopped();
        let sealed = state.seal_requested();
        async move {
            tokio::select! {
                () = stopped => {}
                () = sealed => {}
            }
        }
    };
    let http = async {
        match &listeners.http {
            Some(l) => trent_server::run_on(l, None, Arc::clone(&state), until()).await,
            None => Ok(()),
        }
    };
    let https = async {
        match (&listeners.https, &listeners.tls) {
            (Some(l), Some(tls)) => {
                trent_server::run_on(l, Some(Arc::clone(tls)), Arc::clone(&state), until()).await
            }
            _ => Ok(()),
        }
    };
    let (http, https) = tokio::join!(http, https);
    http?;
    https?;
    let _ = stop_tx.send(true);
    let _ = scheduler.await;
    let _ = delivery.await;
    // In-flight requests have finished: the last digest covers every event.
    let _ = digests.await;
    if let Err(e) = state.kms.flush_key_usage().await {
        tracing::error!(error = %e, "key usage flush at shutdown failed");
    }
    state.store.close().await;
    let sealed = state.is_sealing() && !*listeners.stop.borrow();
    // The store, its barrier and every cached key go with the state.
    drop(state);
    if sealed {
        tracing::warn!(
            "sealed by an operator: the root key and every cached key are dropped from memory"
        );
        Ok(Outcome::Sealed)
    } else {
        Ok(Outcome::Stopped)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let crypt_result = match &cli.command {
        Command::Encrypt(args) => Some(crypt::encrypt(args)),
        Command::Decrypt(args) => Some(crypt::decrypt(args)),
        _ => None,
    };
    if let Some(result) = crypt_result {
        let code = match result {
            Ok(()) => 0,
            Err(f) => {
                eprintln!("trent: {}", f.message);
                f.code
            }
        };
        std::process::exit(code);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(*args)),
        Command::Admin(AdminCommand::CreateAccount(args)) => runtime.block_on(create_account(args)),
        Command::Encrypt(_) | Command::Decrypt(_) => Ok(()),
        Command::Operator(command) => runtime.block_on(operator::run(command)),
        Command::Audit(AuditCommand::Verify(args)) => runtime.block_on(audit_verify(args)),
        Command::Audit(AuditCommand::Export(args)) => runtime.block_on(audit::export(args)),
        Command::Audit(AuditCommand::PublicKey(args)) => runtime.block_on(audit_public_key(args)),
        Command::Backup(args) => runtime.block_on(store_admin::backup(args)),
        Command::Restore(args) => runtime.block_on(store_admin::restore(args)),
        Command::Migrate(args) => runtime.block_on(store_admin::migrate(args)),
    }
}
