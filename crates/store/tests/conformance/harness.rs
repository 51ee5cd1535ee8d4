//! The stores a conformance test runs against.

use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::postgres::PgConnectOptions;
use trent_crypto::SecretBytes;
use trent_store::{Barrier, PostgresStore, SqliteStore, Store, StoreError};

/// A store under test and what it takes to open it again (a restart).
pub struct Subject {
    pub name: &'static str,
    pub store: Arc<dyn Store>,
    root: SecretBytes,
    location: Location,
}

enum Location {
    Sqlite(tempfile::TempDir),
    Postgres { url: String, schema: String },
}

impl Subject {
    /// Another handle on the same data, as a second process (or a restarted one) opens it.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        self.reopen_with(Barrier::new(&self.root).unwrap())
            .await
            .unwrap()
    }

    /// Opens the same data with `barrier`'s root key.
    pub async fn reopen_with(&self, barrier: Barrier) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match &self.location {
            Location::Sqlite(dir) => Arc::new(SqliteStore::open(dir.path(), barrier).await?),
            Location::Postgres { url, schema } => {
                Arc::new(PostgresStore::open_with(options(url, schema), barrier).await?)
            }
        })
    }

    /// Where the data is, as the server and the admin tools name a store.
    pub fn location(&self) -> trent_store::StoreLocation {
        match &self.location {
            Location::Sqlite(dir) => trent_store::StoreLocation::Embedded(dir.path().to_path_buf()),
            Location::Postgres { url, schema } => {
                trent_store::StoreLocation::Postgres(url_with_schema(url, schema))
            }
        }
    }

    /// The root key the store was made with.
    pub fn root(&self) -> &SecretBytes {
        &self.root
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.location, Location::Postgres { .. })
    }
}

fn options(url: &str, schema: &str) -> PgConnectOptions {
    PgConnectOptions::from_str(url)
        .unwrap()
        .options([("search_path", schema)])
}

/// `url` with `schema` first on the search path.
pub fn url_with_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// A new empty schema for a store of the test `test`, and its URL.
pub async fn fresh_postgres(url: &str, test: &str) -> (String, String) {
    let schema = fresh_schema(url, test).await;
    let with = url_with_schema(url, &schema);
    (schema, with)
}

/// Drops a schema made by [`fresh_postgres`].
pub async fn drop_schema(url: &str, schema: &str) {
    let admin = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}

/// The PostgreSQL server the tests use, if any (printed once when absent).
pub fn postgres_url() -> Option<String> {
    match std::env::var("TRENT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                eprintln!(
                    "TRENT_TEST_POSTGRES_URL is unset: the conformance suite runs on SQLite only"
                );
            });
            None
        }
    }
}

/// A fresh schema in the test database, named after the test.
async fn fresh_schema(url: &str, test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let schema = format!(
        "conf_{}_{}_{}",
        test.to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(30)
            .collect::<String>(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let admin = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    schema
}

/// A new, empty store of every kind available.
pub async fn subjects(test: &str) -> Vec<Subject> {
    let mut out = Vec::new();
    let root = SecretBytes::random(32).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Barrier::new(&root).unwrap())
        .await
        .unwrap();
    out.push(Subject {
        name: "sqlite",
        store: Arc::new(store),
        root,
        location: Location::Sqlite(dir),
    });
    if let Some(url) = postgres_url() {
        let root = SecretBytes::random(32).unwrap();
        let schema = fresh_schema(&url, test).await;
        let store = PostgresStore::open_with(options(&url, &schema), Barrier::new(&root).unwrap())
            .await
            .unwrap();
        out.push(Subject {
            name: "postgres",
            store: Arc::new(store),
            root,
            location: Location::Postgres { url, schema },
        });
    }
    out
}

/// Runs `body` against every store; the schema of a passing PostgreSQL run is dropped.
macro_rules! for_each_store {
    ($test:expr, |$subject:ident| $body:expr) => {{
        for $subject in $crate::harness::subjects($test).await {
            eprintln!("-- {} on {}", $test, $subject.name);
            $body;
            $subject.finish().await;
        }
    }};
}
pub(crate) use for_each_store;

impl Subject {
    pub async fn finish(self) {
        self.store.close().await;
        if let Location::Postgres { url, schema } = &self.location {
            let admin = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
        }
    }
}
