//! Test support: throw-away databases, and the real server on a random port.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use tokenmint::clock::{Clock, ManualClock};
use tokenmint::store::Database;
use tokenmint::{App, Config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TOKENMINT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A base64 KEK for tests (32 bytes of 0x42).
pub const TEST_KEK: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";

/// Which database backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A database of its own for one test: a fresh PostgreSQL database (dropped afterwards,
/// even when the test panics) or a SQLite file in a temporary directory.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    postgres_name: Option<String>,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Self::postgres().await,
            Backend::Sqlite => Self::sqlite(),
        }
    }

    pub async fn postgres() -> Self {
        let name = format!("tokenmint_test_{}", uuid::Uuid::now_v7().simple());
        let admin = postgres_admin_url();
        let mut connection = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|err| panic!("tests need PostgreSQL at {admin}: {err}"));
        // The name is generated above from a UUID: nothing user-controlled reaches this SQL.
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&mut connection)
            .await
            .unwrap();
        connection.close().await.unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        Self {
            url: url.to_string(),
            backend: Backend::Postgres,
            postgres_name: Some(name),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("tokenmint.db").display());
        Self {
            url,
            backend: Backend::Sqlite,
            postgres_name: None,
            dir,
        }
    }

    /// A configuration for this database: port 0, the test KEK (PostgreSQL needs one), and a
    /// quick key reload.
    pub fn config(&self) -> Config {
        self.config_with(&[])
    }

    /// Like [`TestDb::config`], with extra environment variables.
    pub fn config_with(&self, extra: &[(&str, &str)]) -> Config {
        let mut env = vec![
            ("DATABASE_URL".to_owned(), self.url.clone()),
            ("TOKENMINT_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            // Tests stop servers often; none needs load balancers to notice the drain.
            ("TOKENMINT_SHUTDOWN_DELAY".to_owned(), "0s".to_owned()),
        ];
        if self.backend == Backend::Postgres {
            env.push(("TOKENMINT_KEK".to_owned(), TEST_KEK.to_owned()));
        }
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let mut config = Config::from_sources(None, env).unwrap();
        config.key_reload_interval = Duration::from_millis(100);
        config
    }

    /// Opens the database directly (migrated), as a second process would.
    pub async fn open(&self) -> Database {
        let config = self.config();
        let mut options = tokenmint::startup::database_options(&config);
        options.max_connections = 5;
        let database = Database::connect(&options, Arc::new(tokenmint::clock::SystemClock))
            .await
            .unwrap();
        database.migrate().await.unwrap();
        database
    }

    /// Another connection holding `table` so that writes to it wait (PostgreSQL: a `SHARE`
    /// lock; SQLite: the database's write lock) while reads go on, until released.
    pub async fn hold_table_for_writes(&self, table: &str) -> TableHold {
        match self.backend {
            Backend::Postgres => {
                let mut connection = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql("begin")
                    .execute(&mut connection)
                    .await
                    .unwrap();
                // The table name comes from the test itself.
                let lock = format!("lock table {table} in share mode");
                sqlx::raw_sql(sqlx::AssertSqlSafe(lock))
                    .execute(&mut connection)
                    .await
                    .unwrap();
                TableHold::Postgres(connection)
            }
            Backend::Sqlite => {
                let mut connection = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql("begin immediate")
                    .execute(&mut connection)
                    .await
                    .unwrap();
                TableHold::Sqlite(connection)
            }
        }
    }

    /// A key manager over this database, as `tokenmint keys …` in another process builds one.
    pub async fn key_manager(&self, config: &Config) -> tokenmint::domain::keys::KeyManager {
        let database = self.open().await;
        let kek = tokenmint::startup::key_encryption_key(config, &database).unwrap();
        tokenmint::domain::keys::KeyManager::new(
            database.store(),
            kek,
            Arc::new(tokenmint::clock::SystemClock),
            config.jwks_max_age,
        )
    }

    /// Runs one SQL statement directly against the database, behind tokenmint's back.
    pub async fn execute(&self, sql: &'static str) {
        match self.backend {
            Backend::Postgres => {
                let mut connection = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query(sql).execute(&mut connection).await.unwrap();
            }
            Backend::Sqlite => {
                let mut connection = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query(sql).execute(&mut connection).await.unwrap();
            }
        }
    }

    /// Sets a PostgreSQL setting on this database (`alter database … set NAME = VALUE`): it
    /// applies to every connection opened afterwards.
    pub async fn alter_database(&self, name: &str, value: &str) {
        let database = self
            .postgres_name
            .as_deref()
            .expect("a PostgreSQL database");
        let mut connection = sqlx::PgConnection::connect(&postgres_admin_url())
            .await
            .unwrap();
        // Both parts come from the test's own constants, never from user input.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "alter database {database} set {name} = '{value}'"
        )))
        .execute(&mut connection)
        .await
        .unwrap();
    }

    /// Drops the PostgreSQL database now (terminating tokenmint's connections to it).
    pub async fn drop_database(&self) {
        if let Some(name) = &self.postgres_name {
            drop_postgres_database(name.clone()).await;
        }
    }
}

async fn drop_postgres_database(name: String) {
    if let Ok(mut connection) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database if exists {name} with (force)"
        )))
        .execute(&mut connection)
        .await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.postgres_name.take() {
            // Drop runs inside the test's runtime, which cannot be blocked on: clean up from a
            // thread with a runtime of its own.
            let cleanup = std::thread::spawn(move || {
                if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    runtime.block_on(drop_postgres_database(name));
                }
            });
            let _ = cleanup.join();
        }
    }
}

/// The real server, serving on a random port until stopped or dropped.
pub struct TestApp {
    pub address: String,
    /// The separate metrics listener's base URL, when `TOKENMINT_METRICS_LISTEN` is set.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    pub async fn spawn(config: Config) -> Self {
        Self::try_spawn(config)
            .await
            .unwrap_or_else(|err| panic!("start-up failed: {err:#}"))
    }

    pub async fn try_spawn(config: Config) -> anyhow::Result<Self> {
        let clock = Arc::new(ManualClock::starting_now());
        Self::try_spawn_on(config, Arc::clone(&clock) as Arc<dyn Clock>, clock).await
    }

    /// The real server on a manual clock of the test's (e.g. one set ahead of another
    /// server's, as if the server started later).
    pub async fn spawn_with_clock(config: Config, clock: Arc<ManualClock>) -> Self {
        Self::try_spawn_on(config, Arc::clone(&clock) as Arc<dyn Clock>, clock)
            .await
            .unwrap_or_else(|err| panic!("start-up failed: {err:#}"))
    }

    /// The real server on the wall clock, as in production: for tests whose client cannot
    /// move a manual clock and expects time to pass (a user's not-before set by a revocation
    /// only stops sign-ins checked before it). `clock` is then not the server's: moving it
    /// changes nothing.
    pub async fn spawn_on_system_clock(config: Config) -> Self {
        let unused = Arc::new(ManualClock::starting_now());
        Self::try_spawn_on(config, Arc::new(tokenmint::clock::SystemClock), unused)
            .await
            .unwrap_or_else(|err| panic!("start-up failed: {err:#}"))
    }

    async fn try_spawn_on(
        config: Config,
        server_clock: Arc<dyn Clock>,
        clock: Arc<ManualClock>,
    ) -> anyhow::Result<Self> {
        if std::env::var_os("TEST_LOG").is_some() {
            tokenmint::telemetry::init(tokenmint::config::LogFormat::Pretty);
        }
        let app = App::build_with_clock(config, server_clock).await?;
        let address = format!("http://{}", app.local_addr()?);
        let metrics_address = app
            .metrics_addr()
            .transpose()?
            .map(|a| format!("http://{a}"));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Ok(Self {
            address,
            metrics_address,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            clock,
            shutdown: Some(shutdown),
            server,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// Starts the shutdown (as SIGTERM would) without waiting for it; see [`TestApp::stopped`].
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Waits until the server has stopped, and returns how `App::run_until` ended.
    pub async fn stopped(mut self) -> anyhow::Result<()> {
        (&mut self.server).await.unwrap()
    }

    /// Ends the server as a crash would: no drain, nothing more said to the database (its
    /// heartbeat stays that of a running replica), connections cut.
    pub async fn crash(self) {
        self.server.abort();
        let _ = self.server.await;
    }

    /// Stops the server gracefully and waits until it has released the database.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        (&mut self.server).await.unwrap().unwrap();
    }
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Declares `#[tokio::test]`s running the async function `$name(Backend)` once per backend,
/// in modules `postgres` and `sqlite`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
    };
}

/// A lock held by [`TestDb::hold_table_for_writes`].
pub enum TableHold {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl TableHold {
    /// Ends the transaction that holds the lock.
    pub async fn release(self) {
        match self {
            Self::Postgres(mut connection) => {
                sqlx::raw_sql("rollback")
                    .execute(&mut connection)
                    .await
                    .unwrap();
            }
            Self::Sqlite(mut connection) => {
                sqlx::raw_sql("rollback")
                    .execute(&mut connection)
                    .await
                    .unwrap();
            }
        }
    }
}

/// Polls `check` every 50 ms until it holds; fails the test naming `what` after 10 s.
pub async fn until(what: &str, check: impl AsyncFn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
