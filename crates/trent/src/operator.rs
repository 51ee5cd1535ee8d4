//! `trent operator`: the root of trust. `init` sets a new data directory up with a seal (Shamir
//! shares, a PKCS#11 HSM, another KMS); `unseal` gives a sealed server one share; `seal` makes a
//! running server drop its root key; `status` asks a server whether it is sealed and when its
//! TLS certificate expires; `rekey` and `migrate-seal` change how the root key is kept.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

#[derive(clap::Subcommand)]
pub enum OperatorCommand {
    /// Initialize a new data directory with a seal. Shamir (default): make the root key, split
    /// it into --shares key shares of which any --threshold recover it, and print the shares
    /// once (or write each to its own file); `trent serve` then starts sealed until `trent
    /// operator unseal` has been given enough shares. PKCS#11: wrap the root key inside an HSM.
    /// KMS: encrypt the root key with a key of another KMS (AWS KMS or another Trent), which
    /// `trent serve` asks to decrypt it at every start.
    Init(Box<InitArgs>),
    /// Give a sealed server one key share (read from stdin unless --share is given, so it stays
    /// out of the shell history and the process list).
    Unseal(UnsealArgs),
    /// Seal a running server: it drops its root key and every cached key from memory and
    /// answers 503 until unsealed again (Shamir: key shares; PKCS#11, KMS and file seals: a
    /// restart). Signed with SigV4 by credentials from the standard AWS chain: the default
    /// account's root, or an IAM principal of it allowed `trent:Seal`.
    Seal(SealArgs),
    /// Ask a server whether it is sealed, which seal it uses, the key shares given so far, and
    /// when the certificate of its TLS listener expires.
    Status(EndpointArgs),
    /// New key shares for the same root key (Shamir seal): reads a threshold of the current
    /// shares from stdin (one per line) or --share-file, writes the new seal description and
    /// hands out the new shares. The old shares stop working. Safe while a server runs.
    Rekey(RekeyArgs),
    /// Move a data directory to another seal, keeping its root key (every key, parameter and
    /// secret stays readable): `--to shamir` splits it into shares, `--to pkcs11` wraps it in an
    /// HSM, `--to kms` encrypts it with another KMS's key, `--to file` writes it to the key file.
    /// The key comes from the current seal (from a threshold of shares, stdin or --share-file,
    /// when that is Shamir's); the current seal's key file or description is then removed.
    MigrateSeal(Box<MigrateArgs>),
    /// A new root key, without downtime: the current one (from the seal, or a threshold of
    /// shares from stdin or --share-file for the Shamir seal) is kept only inside a keyring
    /// sealed by the new one, so every stored key, parameter and secret stays readable; the
    /// same seal keeps the new key (new shares are handed out for Shamir). The old key, shares
    /// or wrapped key no longer open the store. Safe while a server runs: it keeps its key
    /// until its next start.
    RotateRoot(RotateArgs),
}

#[derive(clap::Args)]
pub struct RotateArgs {
    /// The data directory.
    #[arg(long, env = "TRENT_DATA_DIR", default_value = "./trent-data")]
    data_dir: PathBuf,

    /// Shamir seal: a file holding one current share (repeatable). Without it, shares are
    /// read from stdin.
    #[arg(long)]
    share_file: Vec<PathBuf>,

    /// Shamir seal: write new share i to `<dir>/share-<i>` (mode 0600) instead of printing the
    /// new shares.
    #[arg(long)]
    share_dir: Option<PathBuf>,

    #[command(flatten)]
    recipients: ShareRecipients,
}

#[derive(clap::Args)]
pub struct Pkcs11Args {
    /// `--seal pkcs11`: the HSM's PKCS#11 library (e.g. /usr/lib/softhsm/libsofthsm2.so).
    #[arg(long)]
    pkcs11_library: Option<PathBuf>,

    /// `--seal pkcs11`: the label of the token to use.
    #[arg(long, default_value = "trent")]
    pkcs11_token_label: String,

    /// `--seal pkcs11`: the label of the AES wrapping key (generated, non-extractable, when the
    /// token has none).
    #[arg(long, default_value = "trent-root-wrapping-key")]
    pkcs11_key_label: String,
}

impl Pkcs11Args {
    fn seal(&self) -> anyhow::Result<trent_store::pkcs11::Pkcs11Seal> {
        let library = self
            .pkcs11_library
            .as_deref()
            .context("the pkcs11 seal needs --pkcs11-library")?;
        Ok(trent_store::pkcs11::Pkcs11Seal::new(
            library,
            &self.pkcs11_token_label,
            &self.pkcs11_key_label,
        ))
    }
}

#[derive(clap::Args)]
pub struct KmsArgs {
    /// `--seal kms`: the symmetric encryption key of the other KMS (key ARN, key id or alias)
    /// that encrypts the root key. Credentials come from the standard AWS chain
    /// (AWS_ACCESS_KEY_ID..., AWS_PROFILE, the shared credentials file), at init and at every
    /// start.
    #[arg(long)]
    kms_key_id: Option<String>,

    /// `--seal kms`: the KMS endpoint (https://kms.<region>.amazonaws.com, or another Trent's).
    /// Default: AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, else AWS KMS in the key's Region.
    #[arg(long)]
    kms_endpoint: Option<String>,

    /// `--seal kms`: the Region to sign for. Default: the key ARN's, else AWS_REGION.
    #[arg(long)]
    kms_region: Option<String>,

    /// `--seal kms`: a PEM file of the CA certificates to trust for an https:// endpoint
    /// instead of the system's (default: AWS_CA_BUNDLE when set).
    #[arg(long)]
    kms_ca_bundle: Option<PathBuf>,
}

impl KmsArgs {
    fn seal(&self) -> anyhow::Result<trent_store::kms_seal::KmsSeal> {
        let key_id = self
            .kms_key_id
            .as_deref()
            .context("the kms seal needs --kms-key-id")?;
        let env = trent_esdk_kms::credentials::Environment::from_env();
        let region = self.kms_region.clone().or_else(|| {
            trent_esdk_kms::KmsArn::parse(key_id)
                .map(|a| a.region)
                .or_else(|| env.region(None))
        });
        let endpoint = match (&self.kms_endpoint, &env.kms_endpoint(), &region) {
            (Some(e), _, _) | (None, Some(e), _) => e.clone(),
            (None, None, Some(r)) => format!("https://kms.{r}.amazonaws.com"),
            (None, None, None) => bail!("the kms seal needs --kms-endpoint or --kms-region"),
        };
        Ok(trent_store::kms_seal::KmsSeal::new(
            key_id,
            &endpoint,
            region.as_deref(),
            self.kms_ca_bundle.as_deref(),
        )?)
    }
}

#[derive(clap::Args)]
pub struct SealArgs {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// The Region to sign the request for (any region the server serves).
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
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

    #[command(flatten)]
    recipients: ShareRecipients,
}

/// Shares encrypted each to its holder's key, so a share file never holds a share in the
/// clear. One key per share, in order; the tools are the standard `gpg` and `age` commands.
#[derive(clap::Args, Clone, Default)]
pub struct ShareRecipients {
    /// Encrypt share i to the OpenPGP public key in the i-th file (repeat once per share; needs
    /// `gpg`). The files are `<share-dir>/share-<i>.asc`, read back with `gpg --decrypt`.
    #[arg(long = "pgp-key", value_name = "FILE", requires = "share_dir")]
    pgp_keys: Vec<PathBuf>,

    /// Encrypt share i to the i-th age recipient, `age1...` (repeat once per share; needs
    /// `age`). The files are `<share-dir>/share-<i>.age`, read back with
    /// `age --decrypt -i <identity file>`.
    #[arg(
        long = "age-recipient",
        value_name = "RECIPIENT",
        requires = "share_dir",
        conflicts_with = "pgp_keys"
    )]
    age_recipients: Vec<String>,
}

/// One holder's key.
enum Recipient<'a> {
    Pgp(&'a Path),
    Age(&'a str),
}

impl ShareRecipients {
    fn list(&self) -> Vec<Recipient<'_>> {
        let pgp = self.pgp_keys.iter().map(|p| Recipient::Pgp(p));
        let age = self.age_recipients.iter().map(|r| Recipient::Age(r));
        pgp.chain(age).collect()
    }

    /// Checks, before anything changes, that there is one key per share and that each one
    /// encrypts: a share encrypted to nobody, or lost to a failed encryption after the seal
    /// was written, would lose the root key.
    fn check(&self, shares: u8) -> anyhow::Result<()> {
        let list = self.list();
        if list.is_empty() {
            return Ok(());
        }
        if list.len() != usize::from(shares) {
            anyhow::bail!(
                "{} keys for {shares} shares: give one --pgp-key or --age-recipient per share",
                list.len()
            );
        }
        for r in &list {
            r.encrypt("trent: a check that this key encrypts")?;
        }
        Ok(())
    }
}

impl Recipient<'_> {
    fn extension(&self) -> &'static str {
        match self {
            Recipient::Pgp(_) => "asc",
            Recipient::Age(_) => "age",
        }
    }

    /// The text encrypted (ASCII-armoured) by `gpg` or `age`, through a pipe: the share never
    /// touches the disk in the clear.
    fn encrypt(&self, text: &str) -> anyhow::Result<Vec<u8>> {
        use std::process::{Command, Stdio};
        let (tool, mut cmd, key) = match self {
            Recipient::Pgp(file) => {
                let mut cmd = Command::new("gpg");
                cmd.args(["--batch", "--quiet", "--no-tty", "--trust-model", "always"])
                    .args(["--armor", "--encrypt", "--recipient-file"])
                    .arg(file)
                    .args(["--output", "-"]);
                ("gpg", cmd, format!("the OpenPGP key in {}", file.display()))
            }
            Recipient::Age(r) => {
                let mut cmd = Command::new("age");
                cmd.args(["--encrypt", "--armor", "--recipient", r]);
                ("age", cmd, format!("the age recipient {r}"))
            }
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run `{tool}` to encrypt to {key}"))?;
        let mut stdin = child
            .stdin
            .take()
            .context("no pipe to the encryption tool")?;
        let written = std::io::Write::write_all(&mut stdin, text.as_bytes());
        drop(stdin);
        let out = child.wait_with_output()?;
        // A tool that refuses the key may exit before it reads the share, so writing it can
        // fail (a broken pipe): the tool's own verdict comes first, it says why.
        if !out.status.success() || out.stdout.is_empty() {
            anyhow::bail!(
                "`{tool}` cannot encrypt to {key}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        written.with_context(|| format!("cannot give `{tool}` the share"))?;
        Ok(out.stdout)
    }
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
    /// The key file beside the data (development).
    File,
    /// Key shares held by people.
    Shamir,
    /// Wrapped inside an HSM (the PIN from TRENT_PKCS11_PIN_FILE or TRENT_PKCS11_PIN).
    Pkcs11,
    /// Encrypted by a key of another KMS.
    Kms,
}

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The data directory.
    #[arg(long, env = "TRENT_DATA_DIR", default_value = "./trent-data")]
    data_dir: PathBuf,

    /// The seal to move to.
    #[arg(long, value_enum)]
    to: SealName,

    /// From the Shamir seal: a file holding one current share (repeatable); default: stdin.
    #[arg(long)]
    share_file: Vec<PathBuf>,

    #[command(flatten)]
    out: SharesOut,

    #[command(flatten)]
    pkcs11: Pkcs11Args,

    #[command(flatten)]
    kms: KmsArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InitSeal {
    /// Key shares held by people; the server starts sealed.
    Shamir,
    /// Wrapped by an AES key inside an HSM; the server unwraps it at start (the user PIN from
    /// TRENT_PKCS11_PIN_FILE or TRENT_PKCS11_PIN).
    Pkcs11,
    /// Encrypted by a key of another KMS (AWS KMS, or another Trent); the server has it
    /// decrypted at start, and starts sealed (retrying) while that KMS cannot.
    Kms,
}

#[derive(clap::Args)]
pub struct InitArgs {
    /// The data directory to initialize (must hold no root key, seal or database yet).
    #[arg(long, env = "TRENT_DATA_DIR", default_value = "./trent-data")]
    data_dir: PathBuf,

    /// The seal that keeps the root key.
    #[arg(long, value_enum, default_value = "shamir")]
    seal: InitSeal,

    #[command(flatten)]
    pkcs11: Pkcs11Args,

    #[command(flatten)]
    kms: KmsArgs,

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
        OperatorCommand::Seal(args) => seal(&args).await,
        OperatorCommand::Status(args) => status(&args).await,
        OperatorCommand::Rekey(args) => rekey(&args),
        OperatorCommand::MigrateSeal(args) => migrate(&args),
        OperatorCommand::RotateRoot(args) => rotate_root(&args).await,
    }
}

fn init(args: &InitArgs) -> anyhow::Result<()> {
    if !matches!(args.seal, InitSeal::Shamir) && !args.out.recipients.list().is_empty() {
        anyhow::bail!("--pgp-key and --age-recipient are for the shares of the Shamir seal");
    }
    args.out.recipients.check(args.out.shares)?;
    let seal: Box<dyn trent_store::Seal> = match args.seal {
        InitSeal::Shamir => Box::new(trent_store::shamir::ShamirSeal::new(
            args.out.shares,
            args.out.threshold,
        )?),
        InitSeal::Pkcs11 => Box::new(args.pkcs11.seal()?),
        InitSeal::Kms => Box::new(args.kms.seal()?),
    };
    let stored = trent_store::seal::init(&args.data_dir, seal.as_ref())
        .with_context(|| format!("cannot initialize {}", args.data_dir.display()))?;
    match stored {
        trent_store::Stored::Shares(shares) => {
            hand_out(&args.data_dir, &args.out, &shares, "initialized")
        }
        trent_store::Stored::Done(where_) => {
            println!(
                "initialized {} with the {} seal: {where_}. {}",
                args.data_dir.display(),
                seal.name(),
                match args.seal {
                    InitSeal::Pkcs11 => {
                        "Start the server with the PIN in TRENT_PKCS11_PIN_FILE or \
                         TRENT_PKCS11_PIN."
                    }
                    _ => "Start the server with the same AWS credentials in its environment.",
                }
            );
            Ok(())
        }
    }
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
    args.out.recipients.check(args.out.shares)?;
    let current = read_shares(&args.share_file)?;
    let refs: Vec<&str> = current.iter().map(|s| s.as_str()).collect();
    let shares =
        trent_store::shamir::rekey(&args.data_dir, &refs, args.out.shares, args.out.threshold)
            .with_context(|| format!("cannot rekey {}", args.data_dir.display()))?;
    hand_out(&args.data_dir, &args.out, &shares, "rekeyed")
}

fn migrate(args: &MigrateArgs) -> anyhow::Result<()> {
    let context = || format!("cannot migrate the seal of {}", args.data_dir.display());
    if !matches!(args.to, SealName::Shamir) && !args.out.recipients.list().is_empty() {
        anyhow::bail!("--pgp-key and --age-recipient are for the shares of the Shamir seal");
    }
    args.out.recipients.check(args.out.shares)?;
    let to: Box<dyn trent_store::Seal> = match args.to {
        SealName::File => Box::new(trent_store::FileSeal::new(&args.data_dir)),
        SealName::Shamir => Box::new(trent_store::shamir::ShamirSeal::new(
            args.out.shares,
            args.out.threshold,
        )?),
        SealName::Pkcs11 => Box::new(args.pkcs11.seal()?),
        SealName::Kms => Box::new(args.kms.seal()?),
    };
    let from = trent_store::seal::open(&args.data_dir).with_context(context)?;
    // Shares are read only when the current seal needs them.
    let current = if from.is_automatic() {
        Vec::new()
    } else {
        read_shares(&args.share_file)?
    };
    let refs: Vec<&str> = current.iter().map(|s| s.as_str()).collect();
    let stored =
        trent_store::seal::migrate(&args.data_dir, &refs, to.as_ref()).with_context(context)?;
    match stored {
        trent_store::Stored::Shares(shares) => hand_out(
            &args.data_dir,
            &args.out,
            &shares,
            &format!("moved to the Shamir seal from the {} seal:", from.name()),
        ),
        trent_store::Stored::Done(where_) => {
            println!(
                "moved {} to the {} seal from the {} seal: {where_}",
                args.data_dir.display(),
                to.name(),
                from.name()
            );
            Ok(())
        }
    }
}

async fn rotate_root(args: &RotateArgs) -> anyhow::Result<()> {
    let context = || format!("cannot rotate the root key of {}", args.data_dir.display());
    let seal = trent_store::seal::open(&args.data_dir).with_context(context)?;
    let current = if seal.is_automatic() {
        Vec::new()
    } else {
        read_shares(&args.share_file)?
    };
    let refs: Vec<&str> = current.iter().map(|s| s.as_str()).collect();
    let described = seal.describe();
    let count = |name: &str| {
        described
            .get(name)
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u8::try_from(n).ok())
            .unwrap_or_default()
    };
    if !args.recipients.list().is_empty() {
        if seal.is_automatic() {
            anyhow::bail!("--pgp-key and --age-recipient are for the shares of the Shamir seal");
        }
        args.recipients.check(count("shares"))?;
    }
    let stored = trent_store::seal::rotate_root(&args.data_dir, &refs)
        .await
        .with_context(context)?;
    match stored {
        trent_store::Stored::Shares(shares) => {
            let out = SharesOut {
                shares: count("shares"),
                threshold: count("threshold"),
                share_dir: args.share_dir.clone(),
                recipients: args.recipients.clone(),
            };
            hand_out(
                &args.data_dir,
                &out,
                &shares,
                "rotated the root key (the old shares no longer unseal) of",
            )
        }
        trent_store::Stored::Done(where_) => {
            println!(
                "rotated the root key of {} ({} seal): {where_}; the old key no longer opens \
                 the store. A running server keeps its key until it restarts.",
                args.data_dir.display(),
                seal.name()
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
            let recipients = out.recipients.list();
            let mut names = Vec::with_capacity(shares.len());
            for (i, share) in shares.iter().enumerate() {
                let text = zeroize::Zeroizing::new(format!("{}\n", share.as_str()));
                let (name, bytes) = match recipients.get(i) {
                    Some(r) => (
                        format!("share-{}.{}", i + 1, r.extension()),
                        zeroize::Zeroizing::new(r.encrypt(&text)?),
                    ),
                    None => (
                        format!("share-{}", i + 1),
                        zeroize::Zeroizing::new(text.as_bytes().to_vec()),
                    ),
                };
                let path = dir.join(&name);
                let _ = std::fs::remove_file(&path);
                let mut f = trent_store::create_private(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                std::io::Write::write_all(&mut f, &bytes)?;
                names.push(name);
            }
            let how = if recipients.is_empty() {
                "Give each to a different person and delete these files."
            } else {
                "Each is encrypted to its holder's key: send each to its holder."
            };
            println!(
                "{done} {}: {} key shares, any {} of which unseal it; \
                 the shares are in {}/{} .. {}. {how}",
                data_dir.display(),
                out.shares,
                out.threshold,
                dir.display(),
                names.first().map_or("", String::as_str),
                names.last().map_or("", String::as_str),
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

async fn seal(args: &SealArgs) -> anyhow::Result<()> {
    let env = trent_esdk_kms::credentials::Environment::from_env();
    let credentials = env
        .credentials(None)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("`trent operator seal` signs its request")?;
    let authority = authority(&args.endpoint.endpoint)?;
    let target = "TrentOperator.Seal";
    let content_type = "application/x-amz-json-1.1";
    let body = "{}";
    let signer = trent_sigv4::Signer {
        access_key_id: &credentials.access_key_id,
        secret_access_key: &credentials.secret_access_key,
        region: &args.region,
        service: "trent",
        session_token: credentials.session_token.as_ref().map(|t| t.as_str()),
    };
    let signed = signer.sign(
        "POST",
        "/",
        "",
        &[
            ("host", &authority),
            ("content-type", content_type),
            ("x-amz-target", target),
        ],
        body.as_bytes(),
        time::OffsetDateTime::now_utc(),
    );
    let mut headers = vec![("X-Amz-Target".to_string(), target.to_string())];
    headers.extend(signed);
    let (status, answer) = request_with(
        &args.endpoint,
        "POST",
        "/",
        content_type,
        &headers,
        Some(zeroize::Zeroizing::new(body.to_string())),
    )
    .await?;
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
    if status != 200 {
        bail!(
            "{}",
            member(&v, "message")
                .as_str()
                .map_or_else(|| format!("HTTP {status}: {answer}"), str::to_owned)
        );
    }
    println!(
        "sealed: the server dropped its root key; it answers 503 until unsealed \
         (`trent operator unseal` for the Shamir seal, a restart for the others)"
    );
    Ok(())
}

async fn status(args: &EndpointArgs) -> anyhow::Result<()> {
    let (status, answer) = request(args, "GET", "/health", None).await?;
    let v: serde_json::Value = serde_json::from_str(&answer)
        .with_context(|| format!("the server answered HTTP {status}: {answer}"))?;
    let seal = member(&v, "seal").as_str().unwrap_or("?");
    match member(&v, "status").as_str() {
        Some("sealed") if member(&v, "threshold").is_null() => println!(
            "sealed ({seal} seal): {}",
            member(&v, "reason").as_str().unwrap_or("no reason given")
        ),
        Some("sealed") => println!(
            "sealed ({seal} seal): {} of {} key shares given",
            member(&v, "progress"),
            member(&v, "threshold")
        ),
        Some(s) => println!("{s}: unsealed and serving ({seal} seal)"),
        None => bail!("unexpected answer (HTTP {status}): {answer}"),
    }
    let tls = member(&v, "tls");
    if !tls.is_null() {
        match (
            member(tls, "not_after").as_str(),
            member(tls, "days_left").as_i64(),
        ) {
            (Some(not_after), Some(days)) if days < 0 => println!(
                "TLS certificate: EXPIRED {not_after} ({} days ago), {}",
                -days,
                member(tls, "fingerprint").as_str().unwrap_or("?")
            ),
            (Some(not_after), Some(days)) => println!(
                "TLS certificate: expires {not_after} ({days} days left), {}",
                member(tls, "fingerprint").as_str().unwrap_or("?")
            ),
            _ => println!("TLS certificate: expiry unknown"),
        }
    }
    Ok(())
}

/// A member of a JSON answer (`Null` when absent).
fn member<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v.get(name).unwrap_or(&serde_json::Value::Null)
}

/// The `host[:port]` of an endpoint URL.
fn authority(endpoint: &str) -> anyhow::Result<String> {
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .context("the endpoint must start with http:// or https://")?;
    Ok(rest.trim_end_matches('/').to_string())
}

/// One HTTP/1.1 request with `Connection: close`; returns the status and the body.
async fn request(
    endpoint: &EndpointArgs,
    method: &str,
    path: &str,
    body: Option<zeroize::Zeroizing<String>>,
) -> anyhow::Result<(u16, String)> {
    request_with(endpoint, method, path, "application/json", &[], body).await
}

/// As [`request`], with a content type and further headers.
async fn request_with(
    endpoint: &EndpointArgs,
    method: &str,
    path: &str,
    content_type: &str,
    headers: &[(String, String)],
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
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\n\
         {extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
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
