//! Built-in rotators for database credentials, the strategies of AWS's rotation function
//! templates (`SecretsManagerRDS{PostgreSQL,MySQL,MariaDB}Rotation{SingleUser,MultiUser}`), on
//! secrets in AWS's JSON shape:
//! `{"engine", "host", "port", "username", "password", "dbname", "masterarn"}`.
//!
//! - createSecret: a copy of AWSCURRENT with a new password (32 characters from the
//!   GetRandomPassword generator, without ``:/@"'\``, which the templates exclude) and, for
//!   alternating users, the other user name (`<user>` ⇄ `<user>_clone`).
//! - setSecret, single user: logs in with the pending, current or previous credentials (first
//!   that works) and sets the user's own password to the pending one (PostgreSQL
//!   `ALTER USER … WITH PASSWORD`; MySQL/MariaDB `SET PASSWORD`). Running it again is harmless.
//! - setSecret, alternating users: checks that AWSCURRENT logs in, then logs in with the master
//!   secret (`masterarn`, its AWSCURRENT) and creates the other user the first time (PostgreSQL
//!   `CREATE ROLE … LOGIN` + `GRANT <user> TO <clone>`; MySQL `CREATE USER` + the user's grants
//!   replayed from `SHOW GRANTS`), or else sets its password.
//! - testSecret: logs in with the pending credentials and runs `SELECT NOW()`.
//! - finishSecret: AWSCURRENT moves to the pending version.
//!
//! Errors name the step and the SQLSTATE, never the server's message (which may quote a
//! statement) nor a password. Connections use TLS when the server offers it (unverified, as
//! libpq's `sslmode=prefer`), plain TCP otherwise.

use std::time::Duration;

use serde_json::{Map, Value};
use sqlx::Connection as _;
use trent_crypto::SecretBytes;
use trent_secrets::{RotatorError, StepContext};
use zeroize::Zeroize as _;

/// Characters AWS's database rotation templates keep out of generated passwords.
pub const EXCLUDED_CHARACTERS: &str = ":/@\"'\\";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    /// MySQL and MariaDB.
    MySql,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    SingleUser,
    AlternatingUsers,
}

pub struct DbRotator {
    engine: Engine,
    strategy: Strategy,
}

/// A database secret's JSON, parsed; the other members are kept as they are. Zeroized on drop.
struct DbSecret {
    fields: Map<String, Value>,
}

impl Drop for DbSecret {
    fn drop(&mut self) {
        if let Some(Value::String(p)) = self.fields.get_mut("password") {
            p.zeroize();
        }
    }
}

fn err(message: impl Into<String>) -> RotatorError {
    RotatorError(message.into())
}

impl DbSecret {
    fn parse(value: &SecretBytes, engine: Engine) -> Result<DbSecret, RotatorError> {
        let fields: Map<String, Value> = serde_json::from_slice(value.expose_secret())
            .map_err(|_| err("the secret value is not a JSON object"))?;
        let s = DbSecret { fields };
        for member in ["host", "username", "password"] {
            if s.text(member).is_none() {
                return Err(err(format!("the secret has no string member {member}")));
            }
        }
        let engine_ok = match s.text("engine") {
            None => true,
            Some(e) => match engine {
                Engine::Postgres => e == "postgres" || e == "postgresql",
                Engine::MySql => e == "mysql" || e == "mariadb",
            },
        };
        if !engine_ok {
            return Err(err("the secret's engine does not match the rotator"));
        }
        Ok(s)
    }

    fn text(&self, member: &str) -> Option<&str> {
        self.fields.get(member).and_then(Value::as_str)
    }

    fn port(&self, engine: Engine) -> Result<u16, RotatorError> {
        match self.fields.get("port") {
            None | Some(Value::Null) => Ok(match engine {
                Engine::Postgres => 5432,
                Engine::MySql => 3306,
            }),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| err("the secret's port is not a port number")),
            Some(Value::String(s)) => s
                .parse()
                .map_err(|_| err("the secret's port is not a port number")),
            Some(_) => Err(err("the secret's port is not a port number")),
        }
    }

    fn username(&self) -> &str {
        self.text("username").unwrap_or_default()
    }

    fn password(&self) -> &str {
        self.text("password").unwrap_or_default()
    }

    fn to_bytes(&self) -> Result<SecretBytes, RotatorError> {
        serde_json::to_vec(&self.fields)
            .map(SecretBytes::new)
            .map_err(|_| err("the secret value could not be written"))
    }
}

/// What a database said, without its message: the SQLSTATE, or the kind of failure.
fn db_error(what: &str, e: &sqlx::Error) -> RotatorError {
    match e {
        sqlx::Error::Database(d) => err(format!(
            "{what} failed (SQLSTATE {})",
            d.code().as_deref().unwrap_or("unknown")
        )),
        sqlx::Error::Io(_) => err(format!("{what} failed: the database is unreachable")),
        sqlx::Error::Tls(_) => err(format!("{what} failed: TLS")),
        _ => err(format!("{what} failed")),
    }
}

/// A PostgreSQL identifier, quoted.
fn pg_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A PostgreSQL string literal (standard_conforming_strings: only `'` needs doubling).
fn pg_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A MySQL string literal: backslashes and quotes escaped.
fn my_literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A MySQL account, `'user'@'%'` (the templates' accounts have the default host).
fn my_account(user: &str) -> String {
    format!("{}@'%'", my_literal(user))
}

type DbFuture<'c, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, sqlx::Error>> + Send + 'c>>;

// Each database call is a boxed future over a concrete connection type: written inline in the
// rotator's async methods, sqlx's higher-ranked executor bounds defeat the compiler's proof
// that the future is `Send`.

fn pg_execute(c: &mut sqlx::PgConnection, sql: String) -> DbFuture<'_, ()> {
    Box::pin(async move {
        // A query without arguments goes through the simple (text) protocol.
        let r = sqlx::Executor::execute(c, sql.as_str()).await.map(|_| ());
        let mut sql = sql;
        sql.zeroize();
        r
    })
}

fn my_execute(c: &mut sqlx::MySqlConnection, sql: String) -> DbFuture<'_, ()> {
    Box::pin(async move {
        // A query without arguments goes through the simple (text) protocol.
        let r = sqlx::Executor::execute(c, sql.as_str()).await.map(|_| ());
        let mut sql = sql;
        sql.zeroize();
        r
    })
}

fn pg_role_exists(c: &mut sqlx::PgConnection, user: String) -> DbFuture<'_, bool> {
    Box::pin(async move {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1")
                .bind(user)
                .fetch_optional(c)
                .await?;
        Ok(found.is_some())
    })
}

fn my_user_exists(c: &mut sqlx::MySqlConnection, user: String) -> DbFuture<'_, bool> {
    Box::pin(async move {
        // `SELECT 1`: the User column is binary-collated, which does not decode as text.
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM mysql.user WHERE User = ? AND Host = '%'")
                .bind(user)
                .fetch_optional(c)
                .await?;
        Ok(found.is_some())
    })
}

fn my_version(c: &mut sqlx::MySqlConnection) -> DbFuture<'_, String> {
    Box::pin(async move { sqlx::query_scalar("SELECT VERSION()").fetch_one(c).await })
}

fn my_grants(c: &mut sqlx::MySqlConnection, account: String) -> DbFuture<'_, Vec<String>> {
    Box::pin(async move {
        use sqlx::Row as _;
        let sql = format!("SHOW GRANTS FOR {account}");
        let rows = sqlx::Executor::fetch_all(c, sql.as_str()).await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok())
            .collect())
    })
}

enum Conn {
    Pg(sqlx::PgConnection),
    My(sqlx::MySqlConnection),
}

impl Conn {
    async fn open(engine: Engine, s: &DbSecret) -> Result<Conn, RotatorError> {
        let host = s.text("host").unwrap_or_default();
        let port = s.port(engine)?;
        let fut = async {
            match engine {
                Engine::Postgres => {
                    let mut o = sqlx::postgres::PgConnectOptions::new()
                        .host(host)
                        .port(port)
                        .username(s.username());
                    // An empty password is no password (not the hash of "").
                    if !s.password().is_empty() {
                        o = o.password(s.password());
                    }
                    o = o.database(s.text("dbname").unwrap_or("postgres"));
                    sqlx::PgConnection::connect_with(&o).await.map(Conn::Pg)
                }
                Engine::MySql => {
                    let mut o = sqlx::mysql::MySqlConnectOptions::new()
                        .host(host)
                        .port(port)
                        .username(s.username());
                    if !s.password().is_empty() {
                        o = o.password(s.password());
                    }
                    if let Some(db) = s.text("dbname") {
                        o = o.database(db);
                    }
                    sqlx::MySqlConnection::connect_with(&o).await.map(Conn::My)
                }
            }
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, fut).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(db_error("logging in", &e)),
            Err(_) => Err(err("logging in timed out")),
        }
    }

    /// Runs a statement through the simple-query protocol (DDL takes no parameters).
    async fn execute(&mut self, what: &str, sql: &str) -> Result<(), RotatorError> {
        let r = match self {
            Conn::Pg(c) => pg_execute(c, sql.to_string()).await,
            Conn::My(c) => my_execute(c, sql.to_string()).await,
        };
        r.map_err(|e| db_error(what, &e))
    }

    async fn close(self) {
        let _ = match self {
            Conn::Pg(c) => c.close().await,
            Conn::My(c) => c.close().await,
        };
    }
}

impl DbRotator {
    pub fn new(engine: Engine, strategy: Strategy) -> Self {
        DbRotator { engine, strategy }
    }

    async fn stage(
        &self,
        ctx: &StepContext<'_>,
        stage: &str,
    ) -> Result<Option<DbSecret>, RotatorError> {
        ctx.value(stage)
            .await?
            .map(|v| DbSecret::parse(&v, self.engine))
            .transpose()
    }

    async fn pending(&self, ctx: &StepContext<'_>) -> Result<DbSecret, RotatorError> {
        let v = ctx
            .pending()
            .await?
            .ok_or_else(|| err("the pending version has no value"))?;
        DbSecret::parse(&v, self.engine)
    }

    async fn create_secret(&self, ctx: &StepContext<'_>) -> Result<(), RotatorError> {
        if ctx.pending().await?.is_some() {
            return Ok(());
        }
        let mut new = self
            .stage(ctx, "AWSCURRENT")
            .await?
            .ok_or_else(|| err("the secret has no AWSCURRENT value"))?;
        if self.strategy == Strategy::AlternatingUsers {
            let user = new.username().to_string();
            let other = match user.strip_suffix("_clone") {
                Some(base) => base.to_string(),
                None => format!("{user}_clone"),
            };
            let max = match self.engine {
                Engine::Postgres => 63,
                Engine::MySql => 32,
            };
            if other.len() > max {
                return Err(err(format!(
                    "the user name {other} is longer than {max} characters"
                )));
            }
            new.fields.insert("username".into(), Value::String(other));
        }
        let password = ctx.password(EXCLUDED_CHARACTERS)?;
        let text = String::from_utf8(password.expose_secret().to_vec())
            .map_err(|_| err("generated password"))?;
        new.fields.insert("password".into(), Value::String(text));
        ctx.put_pending(new.to_bytes()?).await
    }

    async fn set_secret(&self, ctx: &StepContext<'_>) -> Result<(), RotatorError> {
        let pending = self.pending(ctx).await?;
        match self.strategy {
            Strategy::SingleUser => {
                // Whichever credentials still log in set the pending password; setting it again
                // after a restart is harmless.
                let current = self.stage(ctx, "AWSCURRENT").await?;
                let previous = self.stage(ctx, "AWSPREVIOUS").await?;
                let mut conn = None;
                let mut last = err("no credentials to log in with");
                for s in std::iter::once(&pending)
                    .chain(current.iter())
                    .chain(previous.iter())
                {
                    match Conn::open(self.engine, s).await {
                        Ok(c) => {
                            conn = Some(c);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                let mut conn = conn.ok_or_else(|| {
                    err(format!(
                        "unable to log in with the pending, current or previous secret ({})",
                        last.0
                    ))
                })?;
                let sql = match self.engine {
                    Engine::Postgres => format!(
                        "ALTER USER {} WITH PASSWORD {}",
                        pg_ident(pending.username()),
                        pg_literal(pending.password())
                    ),
                    Engine::MySql => {
                        format!(
                            "SET PASSWORD = PASSWORD({})",
                            my_literal(pending.password())
                        )
                    }
                };
                let result = self.set_own_password(&mut conn, sql, &pending).await;
                conn.close().await;
                result
            }
            Strategy::AlternatingUsers => {
                let current = self
                    .stage(ctx, "AWSCURRENT")
                    .await?
                    .ok_or_else(|| err("the secret has no AWSCURRENT value"))?;
                Conn::open(self.engine, &current)
                    .await
                    .map_err(|e| err(format!("the current secret does not log in: {}", e.0)))?
                    .close()
                    .await;
                let master_arn = current
                    .text("masterarn")
                    .or_else(|| pending.text("masterarn"))
                    .ok_or_else(|| err("the secret has no masterarn"))?
                    .to_string();
                let master = DbSecret::parse(&ctx.current_of(&master_arn).await?, self.engine)?;
                let mut conn = Conn::open(self.engine, &master)
                    .await
                    .map_err(|e| err(format!("the master secret does not log in: {}", e.0)))?;
                let result = self
                    .set_other_user(&mut conn, current.username(), &pending)
                    .await;
                conn.close().await;
                result
            }
        }
    }

    async fn set_own_password(
        &self,
        conn: &mut Conn,
        mut sql: String,
        pending: &DbSecret,
    ) -> Result<(), RotatorError> {
        if let Conn::My(c) = conn {
            // MySQL 8 dropped PASSWORD(); MariaDB and MySQL 5.7 have it.
            let version = my_version(c)
                .await
                .map_err(|e| db_error("reading the server version", &e))?;
            if !version.contains("MariaDB") && !version.starts_with("5.") {
                sql.zeroize();
                sql = format!("SET PASSWORD = {}", my_literal(pending.password()));
            }
        }
        let r = conn.execute("setting the password", &sql).await;
        sql.zeroize();
        r
    }

    async fn set_other_user(
        &self,
        conn: &mut Conn,
        current_user: &str,
        pending: &DbSecret,
    ) -> Result<(), RotatorError> {
        let user = pending.username();
        let mut statements: Vec<String> = Vec::new();
        match conn {
            Conn::Pg(c) => {
                let exists = pg_role_exists(c, user.to_string())
                    .await
                    .map_err(|e| db_error("looking up the user", &e))?;
                if !exists {
                    statements.push(format!(
                        "CREATE ROLE {} WITH LOGIN PASSWORD {}",
                        pg_ident(user),
                        pg_literal(pending.password())
                    ));
                    statements.push(format!(
                        "GRANT {} TO {}",
                        pg_ident(current_user),
                        pg_ident(user)
                    ));
                } else {
                    statements.push(format!(
                        "ALTER USER {} WITH PASSWORD {}",
                        pg_ident(user),
                        pg_literal(pending.password())
                    ));
                }
            }
            Conn::My(c) => {
                let exists = my_user_exists(c, user.to_string())
                    .await
                    .map_err(|e| db_error("looking up the user", &e))?;
                if !exists {
                    statements.push(format!(
                        "CREATE USER {} IDENTIFIED BY {}",
                        my_account(user),
                        my_literal(pending.password())
                    ));
                    // The current user's grants, replayed onto the new user.
                    let grants = my_grants(c, my_account(current_user))
                        .await
                        .map_err(|e| db_error("reading the user's grants", &e))?;
                    for g in grants {
                        let Some((what, _to)) = g.split_once(" TO ") else {
                            continue;
                        };
                        if what.trim_start().starts_with("GRANT PROXY") {
                            continue;
                        }
                        let with_grant = if g.ends_with("WITH GRANT OPTION") {
                            " WITH GRANT OPTION"
                        } else {
                            ""
                        };
                        statements.push(format!("{what} TO {}{with_grant}", my_account(user)));
                    }
                } else {
                    let version = my_version(c)
                        .await
                        .map_err(|e| db_error("reading the server version", &e))?;
                    let value = if version.contains("MariaDB") || version.starts_with("5.") {
                        format!("PASSWORD({})", my_literal(pending.password()))
                    } else {
                        my_literal(pending.password())
                    };
                    statements.push(format!("SET PASSWORD FOR {} = {value}", my_account(user)));
                }
            }
        }
        let mut result = Ok(());
        for s in &statements {
            result = conn.execute("changing the user", s).await;
            if result.is_err() {
                break;
            }
        }
        for s in &mut statements {
            s.zeroize();
        }
        result
    }

    async fn test_secret(&self, ctx: &StepContext<'_>) -> Result<(), RotatorError> {
        let pending = self.pending(ctx).await?;
        let mut conn = Conn::open(self.engine, &pending)
            .await
            .map_err(|e| err(format!("the pending secret does not log in: {}", e.0)))?;
        let r = conn.execute("SELECT NOW()", "SELECT NOW()").await;
        conn.close().await;
        r
    }
}

#[async_trait::async_trait]
impl trent_secrets::Rotator for DbRotator {
    async fn run(&self, step: &str, ctx: &StepContext<'_>) -> Result<(), RotatorError> {
        match step {
            "createSecret" => self.create_secret(ctx).await,
            "setSecret" => self.set_secret(ctx).await,
            "testSecret" => self.test_secret(ctx).await,
            "finishSecret" => ctx.finish().await,
            other => Err(err(format!("unknown step {other}"))),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(pg_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(pg_literal("it's"), "'it''s'");
        assert_eq!(my_literal("a'b\\c"), "'a\\'b\\\\c'");
        assert_eq!(my_account("app"), "'app'@'%'");
    }

    #[test]
    fn secrets_in_aws_shape() {
        let v = SecretBytes::new(
            br#"{"engine":"postgres","host":"h","port":"5433","username":"u","password":"p","x":1}"#
                .to_vec(),
        );
        let s = DbSecret::parse(&v, Engine::Postgres).unwrap();
        assert_eq!(s.port(Engine::Postgres).unwrap(), 5433);
        assert!(DbSecret::parse(&v, Engine::MySql).is_err());
        let out: Value = serde_json::from_slice(s.to_bytes().unwrap().expose_secret()).unwrap();
        assert_eq!(out["x"], 1);
        let v = SecretBytes::new(br#"{"host":"h","username":"u"}"#.to_vec());
        assert!(DbSecret::parse(&v, Engine::MySql).is_err());
    }
}
