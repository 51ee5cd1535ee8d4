//! `trent audit export` and `trent audit verify --export`: the trail as CloudTrail log files
//! with signed digest files (see `trent_audit::export`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use trent_audit::export::{self, ExportSettings, Exporter};
use trent_store::clock::Clock as _;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The data directory of the server (a running server may use it meanwhile).
    #[arg(long, env = "TRENT_DATA_DIR", default_value = "./trent-data")]
    data_dir: PathBuf,

    /// The export directory. If it holds an earlier export, this one continues after it.
    #[arg(long)]
    out: PathBuf,

    /// Start at the first event at or after this time (RFC 3339, or YYYY-MM-DD for midnight
    /// UTC). Only for a first export into --out: a later one continues after the last.
    #[arg(long, value_parser = parse_time)]
    from: Option<i64>,

    /// Stop before the first event after this time (RFC 3339, or YYYY-MM-DD).
    #[arg(long, value_parser = parse_time)]
    to: Option<i64>,

    /// The account id in paths and file names (the trail holds every account's events).
    #[arg(long, env = "TRENT_ACCOUNT_ID", default_value = "000000000000")]
    account_id: String,

    /// The region in paths and file names.
    #[arg(long, default_value = "us-east-1")]
    region: String,

    /// Most records in one log file.
    #[arg(long, default_value_t = export::DEFAULT_RECORDS_PER_FILE, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    records_per_file: u32,
}

fn parse_time(s: &str) -> Result<i64, String> {
    export::parse_time(s).ok_or_else(|| {
        format!("'{s}' is not a time: use RFC 3339 (2026-11-22T10:00:00Z) or YYYY-MM-DD")
    })
}

/// Events read from the store at a time.
const PAGE: u32 = 10_000;

pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let store = trent_server::open_store(&args.data_dir).await?;
    let result = export_store(store.as_ref(), &args).await;
    store.close().await;
    match result? {
        Some(s) => println!(
            "exported events {} to {} in {} log file(s); digest {}: {}",
            s.first_seq,
            s.last_seq,
            s.files,
            s.digest_seq,
            args.out.join(&s.digest_file).display()
        ),
        None => println!("nothing new to export"),
    }
    Ok(())
}

async fn export_store(
    store: &dyn trent_store::Store,
    args: &ExportArgs,
) -> anyhow::Result<Option<export::ExportSummary>> {
    let signer = trent_audit::Signer::load(store)
        .await?
        .context("this data directory has no audit signing key yet")?;
    // Export only what verified: the tail now, then the whole trail up to it.
    let Some((tail, _)) = store.audit_tail().await? else {
        return Ok(None);
    };
    let report = crate::verify_store(store, None).await?;
    if !report.is_ok() {
        for p in &report.problems {
            eprintln!("PROBLEM: {p}");
        }
        anyhow::bail!(
            "the audit trail does not verify ({} problem(s)); nothing was exported",
            report.problems.len()
        );
    }
    let settings = ExportSettings {
        account_id: args.account_id.clone(),
        region: args.region.clone(),
        records_per_file: usize::try_from(args.records_per_file)?,
    };
    let mut exporter = Exporter::open(&args.out, settings, signer.public_key_der())?;
    exporter.set_checkpoint(store.audit_checkpoints().await?.pop());
    let mut after = match exporter.resume_after() {
        Some((seq, _)) => {
            if args.from.is_some() {
                anyhow::bail!(
                    "{} already holds an export up to event {seq}: a further export continues \
                     after it, so --from does not apply",
                    args.out.display()
                );
            }
            seq
        }
        None => match args.from {
            Some(from) => match store.first_audit_seq_since(from).await? {
                Some(seq) => seq.saturating_sub(1),
                None => return Ok(None),
            },
            None => 0,
        },
    };
    'pages: while after < tail {
        let page = store.audit_events(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            if e.seq > tail || args.to.is_some_and(|to| e.event_time_ms > to) {
                break 'pages;
            }
            exporter.push(e).with_context(|| {
                "the store does not continue the export: were events pruned before they were \
                 exported? Start a new export directory"
            })?;
        }
    }
    let now = trent_store::clock::SystemClock.now_ms();
    Ok(exporter.finish(&signer, now)?)
}

pub fn verify_export(dir: &Path, public_key: Option<&Path>) -> anyhow::Result<trent_audit::Report> {
    let key = match public_key {
        Some(path) => crate::read_public_key(path)?,
        None => {
            println!(
                "note: using the public key the export carries ({}); pass --public-key to use \
                 one kept elsewhere",
                export::PUBLIC_KEY_FILE
            );
            export::export_public_key(dir).with_context(|| {
                format!(
                    "{} has no readable {}: pass --public-key",
                    dir.display(),
                    export::PUBLIC_KEY_FILE
                )
            })?
        }
    };
    Ok(export::verify_export(dir, &key)?)
}
