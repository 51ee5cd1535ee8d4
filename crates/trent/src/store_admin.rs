//! `trent backup`, `trent restore` and `trent migrate`: a data directory's store copied to a
//! file, loaded from one, or moved from the embedded database onto PostgreSQL. Sealed columns are
//! copied as they are: none of these needs the root key, and a backup is useless without it.

use std::path::PathBuf;

use anyhow::Context as _;
use trent_store::StoreLocation;
use trent_store::backup::{self, Summary};

#[derive(clap::Args)]
pub struct BackupArgs {
    /// The data directory whose store is backed up (the embedded database, or the PostgreSQL
    /// store it records). Works while a server runs: the backup is one consistent snapshot.
    #[arg(long, env = "TRENT_DATA_DIR", default_value = "./trent-data")]
    data_dir: PathBuf,
    /// The backup file to write (gzip; created with mode 0600; must not exist).
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The data directory to restore into. Its seal must hold the root key of the backed-up
    /// store (copy the seal's files, or use the same shares, HSM or KMS key).
    #[arg(long, env = "TRENT_DATA_DIR", default_value = "./trent-data")]
    data_dir: PathBuf,
    /// The store to restore into: `sqlite` or a postgres:// URL (default: the data directory's).
    /// It must be empty; it is recorded in the data directory.
    #[arg(long, env = "TRENT_STORE")]
    store: Option<String>,
    /// The backup file (from `trent backup`).
    #[arg(long)]
    from: PathBuf,
}

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The data directory whose embedded store moves. Stop its server first: writes made
    /// after the copy began would stay behind.
    #[arg(long, env = "TRENT_DATA_DIR", default_value = "./trent-data")]
    data_dir: PathBuf,
    /// The empty PostgreSQL database to move to (postgres://...). Recorded in the data
    /// directory, so the next `trent serve` uses it.
    #[arg(long)]
    to: String,
}

fn report(action: &str, summary: &Summary) {
    println!("{action} {} rows:", summary.rows());
    for (table, rows) in &summary.tables {
        if *rows > 0 {
            println!("  {table:<24} {rows}");
        }
    }
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let location = StoreLocation::resolve(&args.data_dir, None)?;
    let summary = backup::backup(&location, &args.out)
        .await
        .with_context(|| format!("cannot back up {}", location.describe()))?;
    report(
        &format!(
            "backed up {} to {}:",
            location.describe(),
            args.out.display()
        ),
        &summary,
    );
    Ok(())
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let location = StoreLocation::resolve(&args.data_dir, args.store.as_deref())?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let summary = backup::restore(&location, &args.from)
        .await
        .map_err(|e| match e {
            trent_store::StoreError::AlreadyExists => {
                anyhow::anyhow!(
                    "{} is not empty: restore only into a new store",
                    location.describe()
                )
            }
            e => anyhow::Error::new(e),
        })
        .with_context(|| format!("cannot restore {}", args.from.display()))?;
    location.remember(&args.data_dir)?;
    report(
        &format!(
            "restored {} into {}:",
            args.from.display(),
            location.describe()
        ),
        &summary,
    );
    Ok(())
}

pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let from = StoreLocation::resolve(&args.data_dir, None)?;
    let to = StoreLocation::resolve(&args.data_dir, Some(&args.to))?;
    anyhow::ensure!(
        matches!(from, StoreLocation::Embedded(_)) && from.exists(),
        "{} has no embedded store to migrate (it uses {})",
        args.data_dir.display(),
        from.describe()
    );
    anyhow::ensure!(
        matches!(to, StoreLocation::Postgres(_)),
        "--to must be a postgres:// URL"
    );
    let snapshot = args
        .data_dir
        .join(format!("migrate-{}.trent-backup", std::process::id()));
    let copied = backup::backup(&from, &snapshot).await;
    let restored = match copied {
        Ok(_) => backup::restore(&to, &snapshot).await,
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&snapshot);
    let summary = restored.map_err(|e| match e {
        trent_store::StoreError::AlreadyExists => {
            anyhow::anyhow!(
                "{} is not empty: migrate only into a new database",
                to.describe()
            )
        }
        e => anyhow::Error::new(e),
    })?;
    to.remember(&args.data_dir)?;
    report(
        &format!("migrated {} to {}:", from.describe(), to.describe()),
        &summary,
    );
    println!(
        "{} now uses {}; {} is no longer used and can be archived",
        args.data_dir.display(),
        to.describe(),
        from.describe()
    );
    Ok(())
}
