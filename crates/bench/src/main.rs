//! `trent-bench`: a load generator for Trent.
//!
//! - `load` (alias `encrypt`): N keep-alive HTTP/1.1 connections, each sending SigV4-signed
//!   requests of one operation back to back (every request signed at send time): `Encrypt`,
//!   `Sign` or `GenerateMac` (`--operation`); reports requests/s and latency quantiles, and
//!   counts every non-200 answer, and every 200 without the operation's result member, as an
//!   error.
//!   Parameter Store operations too: `get-parameter` (optionally decrypting), `put-parameter`
//!   (each request a new version) and `get-parameters-by-path`, over `--count` parameters.
//! - `ssm-setup`: stores the parameters those runs read (String or SecureString).
//!   Secrets Manager too: `get-secret-value` and `put-secret-value` over `--count` secrets, which
//!   `sm-setup` creates.
//! - `create-key`: creates a KMS key (any `--key-spec`/`--key-usage`) with the same client and
//!   prints its KeyId.
//! - `bare-server`: the reference, a bare hyper server answering the same bytes.
//! - `micro`: in-process timings of each step of a signed request (sign, verify, JSON, base64,
//!   and the operation's cryptography), to explain where the time goes.

#![forbid(unsafe_code)]

mod authz;
mod bare;
mod client;
mod cpu;
mod creds;
mod histogram;
mod micro;
mod workload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};

use crate::client::{Client, Load, Outcome};
use crate::creds::Credentials;
use crate::workload::{Operation, Workload};

/// Load generator for Trent: signed requests over keep-alive connections.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drive signed requests of one operation over N keep-alive connections; report req/s and
    /// latency.
    #[command(visible_alias = "encrypt")]
    Load(LoadArgs),
    /// Create a KMS key (symmetric by default) and print its KeyId.
    CreateKey(CreateKeyArgs),
    /// Store `--count` parameters `<prefix>/p00000`, ... for the Parameter Store runs.
    SsmSetup(SsmSetupArgs),
    /// Create `--count` secrets `<prefix>/p00000`, ... for the Secrets Manager runs, and read
    /// each once (its first read of the day, which records LastAccessedDate).
    SmSetup(SmSetupArgs),
    /// Run a bare HTTP server that answers every request with a fixed Encrypt-shaped body.
    BareServer(BareArgs),
    /// Time each step of a signed request in-process (no HTTP), one thread.
    Micro(MicroArgs),
    /// Create an IAM user with identity policies and a key with a realistic key policy naming
    /// it; print the key id and write the user's access key to a credentials file.
    AuthzSetup(authz::AuthzSetupArgs),
}

#[derive(Args, Clone)]
struct Connection {
    /// The server: http://host:port.
    #[arg(long, default_value = "http://127.0.0.1:4566")]
    endpoint: String,

    /// Access key id (with --secret-access-key). Ignored if --credentials-file is given.
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    access_key_id: Option<String>,

    /// Secret access key.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_access_key: Option<String>,

    /// Shared-credentials file to read the keys from, e.g. `<data-dir>/root-credentials`.
    #[arg(long)]
    credentials_file: Option<PathBuf>,

    /// Profile in the credentials file.
    #[arg(long, default_value = "trent")]
    profile: String,

    /// Region of the signature's credential scope.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
}

impl Connection {
    /// A client signing for `service` (`kms` or `ssm`).
    fn client(&self, service: &str) -> anyhow::Result<Client> {
        let creds = if let Some(path) = &self.credentials_file {
            creds::from_file(path, &self.profile)?
        } else {
            match (&self.access_key_id, &self.secret_access_key) {
                (Some(id), Some(secret)) => Credentials {
                    access_key_id: id.clone(),
                    secret_access_key: secret.clone(),
                },
                _ => bail!(
                    "no credentials: give --credentials-file, or --access-key-id and \
                     --secret-access-key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                ),
            }
        };
        Client::new(&self.endpoint, creds, &self.region, service)
    }
}

#[derive(Args)]
struct LoadArgs {
    #[command(flatten)]
    conn: Connection,

    /// The operation to send.
    #[arg(long, value_enum, default_value_t = Operation::Encrypt)]
    operation: Operation,

    /// KeyId member (KMS operations): key id, key ARN, alias name or alias ARN.
    #[arg(long, required_unless_present = "prefix")]
    key_id: Option<String>,

    /// Parameter Store operations: the parameters are `<prefix>/p00000`, ... (see ssm-setup);
    /// GetParametersByPath lists `<prefix>` recursively.
    #[arg(long)]
    prefix: Option<String>,

    /// Parameter Store operations: how many parameters the requests go through, in turn.
    #[arg(long, default_value_t = 10_000)]
    count: usize,

    /// Plaintext (Encrypt) or message (Sign, GenerateMac) size in bytes, 1..=4096 [default:
    /// 4096 for Encrypt, 32 otherwise].
    #[arg(long, visible_aliases = ["plaintext-bytes", "message-bytes"])]
    bytes: Option<usize>,

    /// SigningAlgorithm member of Sign requests (MessageType is RAW).
    #[arg(long, default_value = "ECDSA_SHA_256")]
    signing_algorithm: String,

    /// MacAlgorithm member of GenerateMac requests.
    #[arg(long, default_value = "HMAC_SHA_256")]
    mac_algorithm: String,

    /// Concurrent keep-alive connections, one request in flight on each.
    #[arg(long, default_value_t = 16)]
    connections: usize,

    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration_secs: f64,

    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 1.0)]
    warmup_secs: f64,

    /// Open loop: send this many requests per second in total, evenly spread over the
    /// connections, instead of back to back. Latency then counts from each request's scheduled
    /// time whenever its connection was still busy (no coordinated omission).
    #[arg(long)]
    rate: Option<f64>,

    /// Process id of the server, if it runs on this machine: reports its CPU per request.
    #[arg(long)]
    server_pid: Option<u32>,

    /// Client runtime worker threads: 1 runs a current-thread runtime (one core).
    #[arg(long, default_value_t = 1)]
    threads: usize,

    /// Send each connection's signed request again for this many seconds before signing it
    /// anew (the server still verifies every signature; within its 5-minute clock-skew window
    /// a replayed request is valid). Cuts the client's cost per request, so that one client
    /// core can offer more; 0 signs every request, as an SDK does.
    #[arg(long, default_value_t = 0.0)]
    reuse_signatures_secs: f64,

    /// Label of the result row (e.g. `trent` or `bare`).
    #[arg(long, default_value = "trent")]
    label: String,

    /// Write the body of one successful response here (to replay it from the bare server).
    #[arg(long)]
    save_response: Option<PathBuf>,
}

#[derive(Args)]
struct CreateKeyArgs {
    #[command(flatten)]
    conn: Connection,

    /// Description of the key.
    #[arg(long, default_value = "trent-bench")]
    description: String,

    /// KeySpec member, e.g. ECC_NIST_P256, RSA_2048, HMAC_256 [default: SYMMETRIC_DEFAULT].
    #[arg(long)]
    key_spec: Option<String>,

    /// KeyUsage member, e.g. SIGN_VERIFY, GENERATE_VERIFY_MAC [default: ENCRYPT_DECRYPT].
    #[arg(long)]
    key_usage: Option<String>,
}

#[derive(Args)]
struct SsmSetupArgs {
    #[command(flatten)]
    conn: Connection,

    /// The parameters are `<prefix>/p00000`, ...
    #[arg(long)]
    prefix: String,

    /// How many to store.
    #[arg(long, default_value_t = 10_000)]
    count: usize,

    /// Type member: String or SecureString.
    #[arg(long, default_value = "String")]
    r#type: String,

    /// Value size in bytes.
    #[arg(long, default_value_t = 32)]
    bytes: usize,

    /// Concurrent requests.
    #[arg(long, default_value_t = 16)]
    connections: usize,
}

#[derive(Args)]
struct SmSetupArgs {
    #[command(flatten)]
    conn: Connection,

    /// The secrets are `<prefix>/p00000`, ...
    #[arg(long)]
    prefix: String,

    /// How many to create.
    #[arg(long, default_value_t = 10_000)]
    count: usize,

    /// SecretString size in bytes.
    #[arg(long, default_value_t = 32)]
    bytes: usize,

    /// Concurrent requests.
    #[arg(long, default_value_t = 16)]
    connections: usize,
}

#[derive(Args)]
struct BareArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,

    /// Answer with the contents of this file (e.g. a saved real Encrypt response).
    #[arg(long)]
    response_file: Option<PathBuf>,

    /// Otherwise answer with a synthetic Encrypt response of the same size as Trent's for this
    /// plaintext size.
    #[arg(long, default_value_t = 4096)]
    plaintext_bytes: usize,

    /// Server runtime worker threads; 0 means one per CPU, as Trent does.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

#[derive(Args)]
struct MicroArgs {
    /// The operation whose steps to time. Sign times every ECDSA P-256 and RSA-2048 signing
    /// algorithm; GenerateMac times HMAC-SHA-256.
    #[arg(long, value_enum, default_value_t = Operation::Encrypt)]
    operation: Operation,

    /// Plaintext or message size in bytes [default: 4096 for Encrypt, 32 otherwise].
    #[arg(long, visible_aliases = ["plaintext-bytes", "message-bytes"])]
    bytes: Option<usize>,

    /// Milliseconds spent timing each step.
    #[arg(long, default_value_t = 300)]
    millis: u64,
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let rt = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if threads > 0 {
            b.worker_threads(threads);
        }
        b.enable_all().build()
    };
    rt.context("cannot start the async runtime")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn seconds(s: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).with_context(|| format!("invalid {what}: {s}"))
}

fn report(args: &LoadArgs, w: &Workload, o: &Outcome) -> bool {
    let h = &o.latency;
    println!(
        "{} {}: endpoint {}, {}, {} {} B (request body {} B), {} connections, \
         client threads {}, {}, {}, warm-up {} s, measured {} s",
        args.label,
        w.describe(),
        args.conn.endpoint,
        match (&args.key_id, &args.prefix) {
            (_, Some(p)) if w.operation.is_named() => {
                let what = if w.operation.is_secrets() {
                    "secrets"
                } else {
                    "parameters"
                };
                format!("{} {what} under {p}", w.bodies.len().max(args.count))
            }
            (Some(k), _) => format!("key {k}"),
            _ => String::new(),
        },
        match w.operation {
            Operation::Encrypt => "plaintext",
            o if o.is_named() => "value",
            _ => "message",
        },
        w.bytes,
        w.bodies.first().map_or(0, Bytes::len),
        args.connections,
        args.threads,
        args.rate.map_or_else(
            || "closed loop".to_owned(),
            |r| format!("open loop at {r} req/s offered")
        ),
        if args.reuse_signatures_secs > 0.0 {
            format!("signatures reused for {} s", args.reuse_signatures_secs)
        } else {
            "every request signed".to_owned()
        },
        args.warmup_secs,
        o.measured.as_secs_f64(),
    );
    println!(
        "  requests   {} ok in the measured window ({} in warm-up), {} errors, {} reconnects",
        o.ok(),
        o.warmup_ok,
        o.errors,
        o.reconnects
    );
    println!("  throughput {:.0} req/s", o.rps());
    let t = &o.throttled;
    if t.count() > 0 || args.rate.is_some() {
        let secs = o.measured.as_secs_f64().max(1e-9);
        println!(
            "  throttled  {} answers ({:.0}/s), latency p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, \
             max {:.3} ms; answered in all {:.0} req/s; {} requests sent late (busy connection)",
            t.count(),
            t.count() as f64 / secs,
            ms(t.quantile(0.5)),
            ms(t.quantile(0.99)),
            ms(t.quantile(0.999)),
            ms(t.max()),
            (o.ok() + t.count()) as f64 / secs,
            o.late,
        );
        // For scripts: label | offered | ok req/s | throttled/s | throttled p50 | p99 | p99.9 |
        // late.
        println!(
            "SHED | {} | {} | {:.0} | {:.0} | {:.3} | {:.3} | {:.3} | {} |",
            args.label,
            args.rate
                .map_or_else(|| "max".to_owned(), |r| format!("{r:.0}")),
            o.rps(),
            t.count() as f64 / secs,
            ms(t.quantile(0.5)),
            ms(t.quantile(0.99)),
            ms(t.quantile(0.999)),
            o.late,
        );
    }
    println!(
        "  latency    mean {:.3} ms, p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
        ms(h.mean()),
        ms(h.quantile(0.5)),
        ms(h.quantile(0.9)),
        ms(h.quantile(0.99)),
        ms(h.quantile(0.999)),
        ms(h.max()),
    );
    println!(
        "  client     signing + request building {:.2} µs per request (mean); response body {} B",
        o.sign_mean.as_secs_f64() * 1e6,
        o.sample.as_ref().map_or(0, Bytes::len),
    );
    let per_req = |cores: Option<f64>| {
        cores.map_or_else(
            || "-".to_owned(),
            |c| format!("{:.1}", c / o.rps().max(1e-9) * 1e6),
        )
    };
    let cores = |c: Option<f64>| c.map_or_else(|| "-".to_owned(), |c| format!("{c:.2}"));
    let cpu = o.cpu.unwrap_or(cpu::Usage {
        server: None,
        client: None,
        other: None,
        cpus: None,
    });
    println!(
        "  cpu        server {} cores ({} µs/request), client {} cores ({} µs/request), \
         other {} cores, of {} CPUs",
        cores(cpu.server),
        per_req(cpu.server),
        cores(cpu.client),
        per_req(cpu.client),
        cores(cpu.other),
        cores(cpu.cpus),
    );
    // One Markdown table row, for scripts: label | operation | bytes | connections | offered |
    // req/s | p50 | p90 | p99 | p99.9 | max | errors | server µs/req | client µs/req | other
    // cores.
    println!(
        "ROW | {} | {} | {} | {} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} | {} |",
        args.label,
        w.describe(),
        w.bytes,
        args.connections,
        args.rate
            .map_or_else(|| "max".to_owned(), |r| format!("{r:.0}")),
        o.rps(),
        ms(h.quantile(0.5)),
        ms(h.quantile(0.9)),
        ms(h.quantile(0.99)),
        ms(h.quantile(0.999)),
        ms(h.max()),
        o.errors,
        per_req(cpu.server),
        per_req(cpu.client),
        cores(cpu.other),
    );
    if o.errors > 0 || o.ok() == 0 {
        eprintln!(
            "!!! {} ERRORS ({} ok) in this run — the numbers above are NOT valid. First error: {}",
            o.errors,
            o.ok(),
            o.first_error.as_deref().unwrap_or("(none recorded)")
        );
        return false;
    }
    true
}

fn load(args: &LoadArgs) -> anyhow::Result<ExitCode> {
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    let client = args.conn.client(args.operation.service())?;
    let bytes = args.bytes.unwrap_or_else(|| args.operation.default_bytes());
    let workload = if args.operation.is_named() {
        let Some(prefix) = &args.prefix else {
            bail!("--prefix is required for the Parameter Store and Secrets Manager operations");
        };
        Workload::ssm(
            args.operation,
            &workload::Parameters {
                prefix,
                count: args.count,
            },
            bytes,
        )?
    } else {
        let Some(key_id) = &args.key_id else {
            bail!("--key-id is required for the KMS operations");
        };
        Workload::new(
            args.operation,
            key_id,
            bytes,
            &args.signing_algorithm,
            &args.mac_algorithm,
        )?
    };
    let load = Load {
        target: args.operation.target(),
        bodies: workload.bodies.clone().into(),
        result_member: args.operation.result_member(),
        connections: args.connections,
        warmup: seconds(args.warmup_secs, "--warmup-secs")?,
        duration: seconds(args.duration_secs, "--duration-secs")?,
        rate: args.rate,
        server_pid: args.server_pid,
        reuse_signatures: (args.reuse_signatures_secs > 0.0)
            .then(|| seconds(args.reuse_signatures_secs, "--reuse-signatures-secs"))
            .transpose()?,
    };
    if args.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--rate must be a positive number of requests per second");
    }
    let outcome = runtime(args.threads)?.block_on(client::run(client, load))?;
    if let (Some(path), Some(sample)) = (&args.save_response, &outcome.sample) {
        std::fs::write(path, sample).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if report(args, &workload, &outcome) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Stores the benchmark parameters, `connections` requests at a time; existing ones get a new
/// version.
fn ssm_setup(args: &SsmSetupArgs) -> anyhow::Result<ExitCode> {
    if !(1..=4096).contains(&args.bytes) {
        bail!("--bytes must be 1..=4096");
    }
    let client = std::sync::Arc::new(args.conn.client("ssm")?);
    let value: String = (0..args.bytes)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let bodies: Vec<Bytes> = (0..args.count)
        .map(|i| {
            serde_json::to_vec(&serde_json::json!({
                "Name": workload::parameter_name(&args.prefix, i),
                "Value": value,
                "Type": args.r#type,
                "Overwrite": true,
            }))
            .map(Bytes::from)
        })
        .collect::<Result<_, _>>()?;
    let bodies = std::sync::Arc::new(bodies);
    let lanes = args.connections.max(1);
    let started = std::time::Instant::now();
    runtime(1)?.block_on(async move {
        let mut tasks = Vec::new();
        for lane in 0..lanes {
            let (client, bodies) = (client.clone(), bodies.clone());
            tasks.push(tokio::spawn(async move {
                let mut sender = client.connect().await?;
                for body in bodies.iter().skip(lane).step_by(lanes) {
                    let req = client.signed_request("AmazonSSM.PutParameter", body.clone())?;
                    let answer = Client::exchange(&mut sender, req).await?;
                    if answer.status != http::StatusCode::OK {
                        bail!(
                            "PutParameter failed: HTTP {}: {}",
                            answer.status,
                            String::from_utf8_lossy(&answer.body)
                        );
                    }
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await.context("a set-up task failed")??;
        }
        anyhow::Ok(())
    })?;
    println!(
        "stored {} {} parameters under {} in {:.1} s",
        args.count,
        args.r#type,
        args.prefix,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Creates the benchmark secrets, `connections` requests at a time.
fn sm_setup(args: &SmSetupArgs) -> anyhow::Result<ExitCode> {
    if !(1..=4096).contains(&args.bytes) {
        bail!("--bytes must be 1..=4096");
    }
    let client = std::sync::Arc::new(args.conn.client("secretsmanager")?);
    let value: String = (0..args.bytes)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let bodies: Vec<Bytes> = (0..args.count)
        .map(|i| {
            serde_json::to_vec(&serde_json::json!({
                "Name": workload::parameter_name(&args.prefix, i),
                "SecretString": value,
            }))
            .map(Bytes::from)
        })
        .collect::<Result<_, _>>()?;
    let bodies = std::sync::Arc::new(bodies);
    let lanes = args.connections.max(1);
    let prefix = args.prefix.clone();
    let started = std::time::Instant::now();
    runtime(1)?.block_on(async move {
        let mut tasks = Vec::new();
        for lane in 0..lanes {
            let (client, bodies) = (client.clone(), bodies.clone());
            let prefix = prefix.clone();
            tasks.push(tokio::spawn(async move {
                let mut sender = client.connect().await?;
                for (i, body) in bodies.iter().enumerate().skip(lane).step_by(lanes) {
                    let req = client.signed_request("secretsmanager.CreateSecret", body.clone())?;
                    let answer = Client::exchange(&mut sender, req).await?;
                    if answer.status != http::StatusCode::OK {
                        bail!(
                            "CreateSecret failed: HTTP {}: {}",
                            answer.status,
                            String::from_utf8_lossy(&answer.body)
                        );
                    }
                    // Read once: the first read of a day records LastAccessedDate (a write), so
                    // the measured reads are the day's later ones.
                    let read = serde_json::to_vec(&serde_json::json!({
                        "SecretId": workload::parameter_name(&prefix, i),
                    }))?;
                    let req = client
                        .signed_request("secretsmanager.GetSecretValue", Bytes::from(read))?;
                    let answer = Client::exchange(&mut sender, req).await?;
                    if answer.status != http::StatusCode::OK {
                        bail!("GetSecretValue failed: HTTP {}", answer.status);
                    }
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await.context("a set-up task failed")??;
        }
        anyhow::Ok(())
    })?;
    println!(
        "created and read {} secrets under {} in {:.1} s",
        args.count,
        args.prefix,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn create_key(args: &CreateKeyArgs) -> anyhow::Result<ExitCode> {
    let client = args.conn.client("kms")?;
    let mut request = serde_json::Map::new();
    request.insert("Description".into(), args.description.as_str().into());
    if let Some(spec) = &args.key_spec {
        request.insert("KeySpec".into(), spec.as_str().into());
    }
    if let Some(usage) = &args.key_usage {
        request.insert("KeyUsage".into(), usage.as_str().into());
    }
    let body = serde_json::to_vec(&request)?;
    let answer = runtime(1)?.block_on(client.call("TrentService.CreateKey", Bytes::from(body)))?;
    if answer.status != http::StatusCode::OK {
        bail!(
            "CreateKey failed: HTTP {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    let v: serde_json::Value =
        serde_json::from_slice(&answer.body).context("CreateKey answered with invalid JSON")?;
    let Some(key_id) = v.pointer("/KeyMetadata/KeyId").and_then(|k| k.as_str()) else {
        bail!("CreateKey response has no KeyMetadata.KeyId");
    };
    println!("{key_id}");
    Ok(ExitCode::SUCCESS)
}

fn bare_server(args: &BareArgs) -> anyhow::Result<ExitCode> {
    let body = match &args.response_file {
        Some(path) => Bytes::from(
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        ),
        None => bare::synthetic_encrypt_response(args.plaintext_bytes),
    };
    runtime(args.threads)?.block_on(bare::serve(args.addr, body))?;
    Ok(ExitCode::SUCCESS)
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Load(args) => load(args),
        Command::CreateKey(args) => create_key(args),
        Command::SsmSetup(args) => ssm_setup(args),
        Command::SmSetup(args) => sm_setup(args),
        Command::BareServer(args) => bare_server(args),
        Command::AuthzSetup(args) => {
            runtime(1)?.block_on(authz::run(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Micro(args) => {
            let bytes = args.bytes.unwrap_or_else(|| args.operation.default_bytes());
            let budget = Duration::from_millis(args.millis);
            match args.operation {
                Operation::Encrypt => micro::run(bytes, budget)?,
                Operation::Sign => micro::run_sign(bytes, budget)?,
                Operation::GenerateMac => micro::run_mac(bytes, budget)?,
                _ => bail!("micro times the KMS operations only"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
