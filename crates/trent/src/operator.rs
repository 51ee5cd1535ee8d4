//! `trent operator`: the root of trust. `init` sets a new data directory up with the Shamir
//! seal and hands out the key shares; `unseal` gives a sealed server one share; `status` asks a
//! server whether it is sealed.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

#[derive(clap::Subcommand)]
pub enum OperatorCommand {
    /// Initialize a new data directory with the Shamir seal: make the root key, split it into
    /// --shares key shares of which any --threshold recover it, and print the shares once (or
    /// write each to its own file). The root key is stored nowhere; `trent serve` then starts
    /// sealed until `trent operator unseal` has been given enough shares.
    Init(InitArgs),
    /// Give a sealed server one key share (read from stdin unless --share is given, so it stays
    /// out of the shell history and the process list).
    Unseal(UnsealArgs),
    /// Ask a server whether it is sealed and how many shares it has.
    Status(EndpointArgs),
    /// New key shares for the same root key (Shamir seal): reads a threshold of the current
    /// shares from stdin (one per line) or --share-file, writes the new seal description and
    /// hands out the new shares. The old shares stop working. Safe while a server runs.
    Rekey(RekeyArgs),
    /// Move a data directory to another seal, keeping its root key: `--to shamir` splits the
    /// file seal's key into shares and deletes the key file; `--to file` recovers the key from
    /// a threshold of shares (stdin or --share-file) and writes it to the key file.
    MigrateSeal(MigrateArgs),
}

#[derive(clap::Args)]
pub struct SharesOut {
    /// How many key shares to make (2 to 255).
    #[arg(long, default_value_t = 5)]
    shares: u8,

    /// How many shares unseal the server (2 to --shares).
    #[arg(long, default_value_t = 3)]
    threshold: u8,

    /// Write share i to `<dir>/share-<i>` (mode 0600) instead of printing the shares.
    #[arg(long)]
    share_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct RekeyArgs {
    /// The Shamir-sealed data directory.
    #[arg(long, env = "TRENT_DATA_DIR", default_value = "./trent-data")]
    data_dir: PathBuf,

    /// A file holding one current share (repeatable). Without it, shares are read from stdin.
    #[arg(long)]
    share_file: Vec<PathBuf>,

    #[command(flatten)]
    out: SharesOut,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SealName {
    File,
    Shamir,
}

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The data directory.
    #[arg(long, env = "TRENT_DATA_DIR", default_value = "./trent-data")]
    data_dir: PathBuf,

    /// The seal to move to.
    #[arg(long, value_enum)]
    to: SealName,

    /// `--to file`: a file holding one current share (repeatable); default: stdin.
    #[arg(long)]
    share_file: Vec<PathBuf>,

    #[command(flatten)]
    out: SharesOut,
}

#[derive(clap::Args)]
pub struct InitArgs {
    /// The data directory to initialize (must hold no root key, seal or database yet).
    #[arg(long, env = "TRENT_DATA_DIR", default_value = "./trent-data")]
    data_dir: PathBuf,

    #[command(flatten)]
    out: SharesOut,
}

#[derive(clap::Args)]
pub struct EndpointArgs {
    /// The server: http://host:port or https://host:port.
    #[arg(long, env = "TRENT_ENDPOINT", default_value = "http://127.0.0.1:4566")]
    endpoint: String,

    /// PEM file of the CA (or the self-signed certificate) to trust for an https:// endpoint.
    #[arg(long, env = "AWS_CA_BUNDLE")]
    ca_bundle: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct UnsealArgs {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// The key share. Without it, the share is read from stdin.
    #[arg(long)]
    share: Option<String>,

    /// Discard the shares the server holds so far instead of giving one.
    #[arg(long, conflicts_with = "share")]
    reset: bool,
}

pub async fn run(command: OperatorCommand) -> anyhow::Result<()> {
    match command {
        OperatorCommand::Init(args) => init(&args),
        OperatorCommand::Unseal(args) => unseal(args).await,
        OperatorCommand::Status(args) => status(&args).await,
        OperatorCommand::Rekey(args) => rekey(&args),
        OperatorCommand::MigrateSeal(args) => migrate(&args),
    }
}

fn init(args: &InitArgs) -> anyhow::Result<()> {
    let shares =
        trent_store::shamir::init_shamir(&args.data_dir, args.out.shares, args.out.threshold)
            .with_context(|| format!("cannot initialize {}", args.data_dir.display()))?;
    hand_out(&args.data_dir, &args.out, &shares, "initialized")
}

/// Current shares: from the files given, else one per line on stdin.
fn read_shares(files: &[PathBuf]) -> anyhow::Result<Vec<zeroize::Zeroizing<String>>> {
    let mut texts = Vec::new();
    if files.is_empty() {
        let mut all = zeroize::Zeroizing::new(String::new());
        std::io::stdin()
            .read_to_string(&mut all)
            .context("cannot read the shares from stdin")?;
        texts.extend(
            all.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| zeroize::Zeroizing::new(l.to_string())),
        );
    } else {
        for f in files {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read {}", f.display()))?,
            );
            texts.push(zeroize::Zeroizing::new(text.trim().to_string()));
        }
    }
    Ok(texts)
}

fn rekey(args: &RekeyArgs) -> anyhow::Result<()> {
    let current = read_shares(&args.share_file)?;
    let refs: Vec<&str> = current.iter().map(|s| s.as_str()).collect();
    let shares =
        trent_store::shamir::rekey(&args.data_dir, &refs, args.out.shares, args.out.threshold)
            .with_context(|| format!("cannot rekey {}", args.data_dir.display()))?;
    hand_out(&args.data_dir, &args.out, &shares, "rekeyed")
}

fn migrate(args: &MigrateArgs) -> anyhow::Result<()> {
    let context = || format!("cannot migrate the seal of {}", args.data_dir.display());
    match args.to {
        SealName::Shamir => {
            let shares = trent_store::shamir::migrate_file_to_shamir(
                &args.data_dir,
                args.out.shares,
                args.out.threshold,
            )
            .with_context(context)?;
            hand_out(
                &args.data_dir,
                &args.out,
                &shares,
                "moved to the Shamir seal (the root key file is deleted)",
            )
        }
        SealName::File => {
            let current = read_shares(&args.share_file)?;
            let refs: Vec<&str> = current.iter().map(|s| s.as_str()).collect();
            trent_store::shamir::migrate_shamir_to_file(&args.data_dir, &refs)
                .with_context(context)?;
            println!(
                "moved {} to the file seal: the root key is in {}",
                args.data_dir.display(),
                args.data_dir.join(trent_store::ROOT_KEY_FILE).display()
            );
            Ok(())
        }
    }
}

/// Prints the shares (or writes them to files) with what was done.
fn hand_out(
    data_dir: &Path,
    out: &SharesOut,
    shares: &[zeroize::Zeroizing<String>],
    done: &str,
) -> anyhow::Result<()> {
    match out.share_dir.as_deref() {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (i, share) in shares.iter().enumerate() {
                let path = dir.join(format!("share-{}", i + 1));
                let _ = std::fs::remove_file(&path);
                let mut f = trent_store::create_private(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                std::io::Write::write_all(&mut f, format!("{}\n", share.as_str()).as_bytes())?;
            }
            println!(
                "{done} {}: {} key shares, any {} of which unseal it; \
                 the shares are in {}/share-1 .. share-{}. Give each to a different person and \
                 delete these files.",
                data_dir.display(),
                out.shares,
                out.threshold,
                dir.display(),
                out.shares
            );
        }
        None => {
            println!(
                "{done} {}: {} key shares, any {} of which unseal it.\n\
                 These shares are shown once and stored nowhere. Give each to a different person.\n",
                data_dir.display(),
                out.shares,
                out.threshold
            );
            for (i, share) in shares.iter().enumerate() {
                println!("share {}: {}", i + 1, share.as_str());
            }
        }
    }
    Ok(())
}

async fn unseal(args: UnsealArgs) -> anyhow::Result<()> {
    let body = if args.reset {
        serde_json::json!({"reset": true})
    } else {
        let share = match args.share {
            Some(s) => zeroize::Zeroizing::new(s),
            None => {
                let mut s = zeroize::Zeroizing::new(String::new());
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("cannot read the share from stdin")?;
                s
            }
        };
        serde_json::json!({"share": share.trim()})
    };
    let (status, answer) = request(
        &args.endpoint,
        "POST",
        "/trent/operator/unseal",
        Some(zeroize::Zeroizing::new(body.to_string())),
    )
    .await?;
    let v: serde_json::Value = serde_json::from_str(&answer)
        .with_context(|| format!("the server answered HTTP {status}: {answer}"))?;
    if status != 200 {
        bail!(
            "{}",
            member(&v, "message")
                .as_str()
                .map_or_else(|| answer.clone(), str::to_owned)
        );
    }
    if member(&v, "sealed") == false {
        println!("unsealed");
    } else {
        println!(
            "sealed: {} of {} key shares given",
            member(&v, "progress"),
            member(&v, "threshold")
        );
    }
    Ok(())
}

async fn status(args: &EndpointArgs) -> anyhow::Result<()> {
    let (status, answer) = request(args, "GET", "/health", None).await?;
    let v: serde_json::Value = serde_json::from_str(&answer)
        .with_context(|| format!("the server answered HTTP {status}: {answer}"))?;
    match member(&v, "status").as_str() {
        Some("sealed") => println!(
            "sealed ({} seal): {} of {} key shares given",
            member(&v, "seal").as_str().unwrap_or("?"),
            member(&v, "progress"),
            member(&v, "threshold")
        ),
        Some(s) => println!("{s}: unsealed and serving"),
        None => bail!("unexpected answer (HTTP {status}): {answer}"),
    }
    Ok(())
}

/// A member of a JSON answer (`Null` when absent).
fn member<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v.get(name).unwrap_or(&serde_json::Value::Null)
}

/// One HTTP/1.1 request with `Connection: close`; returns the status and the body.
async fn request(
    endpoint: &EndpointArgs,
    method: &str,
    path: &str,
    body: Option<zeroize::Zeroizing<String>>,
) -> anyhow::Result<(u16, String)> {
    let (tls, rest) = if let Some(rest) = endpoint.endpoint.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = endpoint.endpoint.strip_prefix("http://") {
        (false, rest)
    } else {
        bail!("the endpoint must start with http:// or https://");
    };
    let authority = rest.trim_end_matches('/');
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.parse::<u16>().context("invalid port in the endpoint")?,
        ),
        _ => (authority.to_string(), if tls { 443 } else { 80 }),
    };
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .with_context(|| format!("cannot connect to {authority}"))?;
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let raw = if tls {
        let config = client_tls(endpoint.ca_bundle.as_deref())?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .context("invalid host name in the endpoint")?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, stream)
            .await
            .context("TLS handshake failed (is the server's CA in --ca-bundle?)")?;
        exchange(stream, &head, &body).await?
    } else {
        exchange(stream, &head, &body).await?
    };
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the server's answer is not HTTP")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .context("the server's answer has no status")?;
    Ok((status, body.to_string()))
}

async fn exchange(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    head: &str,
    body: &str,
) -> anyhow::Result<Vec<u8>> {
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    let mut raw = Vec::new();
    // A TLS peer may close without close_notify; what arrived is still the whole answer.
    let _ = stream.read_to_end(&mut raw).await;
    if raw.is_empty() {
        bail!("the server closed the connection without answering");
    }
    Ok(raw)
}

fn client_tls(ca_bundle: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let Some(path) = ca_bundle else {
        bail!("an https:// endpoint needs --ca-bundle (or AWS_CA_BUNDLE) naming the CA to trust");
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read {}", path.display()))?
    {
        roots
            .add(cert.with_context(|| format!("{} is not PEM", path.display()))?)
            .with_context(|| format!("{} holds an unusable certificate", path.display()))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS set-up failed")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
