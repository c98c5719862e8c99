//! Building and running the service: connect and migrate the database, obtain the KEK, make
//! sure a signing key exists, load the key set, bind the listener, serve until a shutdown
//! signal, and run the background tasks beside it.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::appwrite::AppwriteClient;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::crypto::kek::Kek;
use crate::crypto::validator::ValidatorKey;
use crate::domain::admin_keys::AdminKeys;
use crate::domain::availability::AvailabilityWatch;
use crate::domain::events::Events;
use crate::domain::feed::RevocationFeed;
use crate::domain::grants::{TokenPolicy, TokenService};
use crate::domain::keys::{KeyManager, KeyRing, RotationPolicy, SigningAlgorithm};
use crate::domain::ports::{IdentityProvider, UserDirectory};
use crate::domain::reconcile::{self, Reconciler};
use crate::domain::session_admin::SessionAdmin;
use crate::domain::webhook::WebhookHandler;
use crate::http::{self, AppState, Services};
use crate::prometheus::Metrics;
use crate::ratelimit::RateLimits;
use crate::shutdown;
use crate::store::{Database, DatabaseOptions, DatabaseTimeouts, MigrationReport};

/// A built, bound, not yet serving tokenmint.
pub struct App {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    database: Database,
    state: AppState,
    key_manager: KeyManager,
    key_changes: Option<crate::store::KeyChangeListener>,
    reconciler: Option<(Reconciler, std::time::Duration)>,
}

impl App {
    /// Builds the service on the system clock.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Builds the service on the given clock (tests move time with a `ManualClock`).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let database = open_database(&config, Arc::clone(&clock)).await?;
        let availability = AvailabilityWatch::new(database.availability(), Arc::clone(&clock));
        if let Err(err) = availability.record_downtime_before_start().await {
            tracing::warn!(error = %err, "cannot tell whether other replicas ran before this one");
        }
        let kek = key_encryption_key(&config, &database)?;
        let validators = ValidatorKey::derive(&kek)
            .map_err(|err| anyhow::anyhow!("cannot derive the refresh-token key: {err}"))?;
        let policy = token_policy(&config);
        let rotation = RotationPolicy {
            rotation: duration(config.key_rotation),
            access_ttl: policy.access_ttl,
        };
        let key_manager = KeyManager::new(
            database.store(),
            kek,
            Arc::clone(&clock),
            config.jwks_max_age,
        )
        .with_rotation(rotation);
        if let Some(created) = key_manager
            .ensure_active_key(config.signing_alg)
            .await
            .context("cannot create the first signing key")?
        {
            tracing::info!(kid = %created.kid, alg = %created.algorithm, "created the first signing key");
        }
        // Listening starts before the first load, so no change announced after it is missed;
        // and a built app already listens (a replica started just before a rotation hears it).
        let key_changes = database.key_change_listener().await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "cannot listen for key changes; relying on the periodic reload");
            None
        });
        let keys = KeyRing::new(
            key_manager
                .load()
                .await
                .context("cannot load the signing keys")?,
        );
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (TOKENMINT_LISTEN)", config.listen))?;
        let metrics_listener = bind_metrics(&config).await?;
        if config.appwrite_project_id.is_none() {
            tracing::warn!("APPWRITE_PROJECT_ID is not set: token exchange is disabled");
        }
        let metrics = app_metrics(&database, &keys);
        let events: Arc<dyn Events> = metrics.clone();
        let appwrite = appwrite_client(&config, &events, &metrics)?;
        let store = database.store();
        let access_ttl = policy.access_ttl;
        let directory = user_directory(&config, appwrite.as_ref());
        let reconciler = directory.clone().and_then(|directory| {
            let period = config.appwrite_reconcile?;
            let reconciler = Reconciler::new(
                Arc::clone(&store),
                directory,
                Arc::clone(&clock),
                duration(period),
                access_ttl,
            )
            .with_events(Arc::clone(&events));
            Some((reconciler, period))
        });
        let mut webhooks = WebhookHandler::new(Arc::clone(&store), Arc::clone(&clock), access_ttl);
        if let Some(directory) = directory {
            webhooks = webhooks.with_directory(directory);
        }
        let identity = appwrite.map(|client| Arc::new(client) as Arc<dyn IdentityProvider>);
        let refresh_ttl = policy.refresh_ttl;
        let rate_limits = Arc::new(RateLimits::new(&config.rate_limits));
        metrics.watch_rate_limits(Arc::clone(&rate_limits));
        let tokens = TokenService::new(
            Arc::clone(&store),
            database.availability(),
            identity,
            validators,
            keys.clone(),
            Arc::clone(&clock),
            policy,
        )
        .with_user_rate_limit(rate_limits.clone())
        .with_events(Arc::clone(&events));
        let state = AppState::new(Services {
            admin_keys: AdminKeys::new(
                Arc::clone(&store),
                Arc::clone(&clock),
                config.admin_key_cache_ttl,
            ),
            sessions: SessionAdmin::new(Arc::clone(&store), Arc::clone(&clock), access_ttl)
                .with_events(Arc::clone(&events)),
            webhooks: webhooks.with_events(events),
            feed: RevocationFeed::new(Arc::clone(&store), Arc::clone(&clock))
                .with_outage_retention(refresh_ttl),
            draining: http::Draining::default(),
            availability,
            metrics,
            key_manager: key_manager.clone(),
            rate_limits,
            config: Arc::new(config),
            store,
            keys,
            clock,
            tokens,
        });
        Ok(Self {
            listener,
            metrics_listener,
            database,
            state,
            key_manager,
            key_changes,
            reconciler,
        })
    }

    /// The address the listener is bound to (the real port when configured with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of the separate metrics listener (`TOKENMINT_METRICS_LISTEN`), if any.
    pub fn metrics_addr(&self) -> Option<std::io::Result<SocketAddr>> {
        self.metrics_listener.as_ref().map(TcpListener::local_addr)
    }

    /// Serves until SIGTERM or ctrl-c, then shuts down as [`App::run_until`] describes.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then shuts down the way orchestrators expect:
    ///
    /// 1. at once, `/readyz` answers 503 `draining` (everything else is still served);
    /// 2. for `TOKENMINT_SHUTDOWN_DELAY` new connections are still accepted, so requests a load
    ///    balancer sends before it notices are not refused;
    /// 3. then the listener closes (new connections are refused), idle keep-alive connections
    ///    are closed, and requests in flight finish, for at most `TOKENMINT_SHUTDOWN_TIMEOUT`;
    /// 4. whatever is still running then is abandoned, and the database pool is closed.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // Stopped when serving ends, and also if this future is dropped half-way.
        let mut background = BackgroundTasks::default();
        if let Some(listener) = self.key_changes {
            background.spawn(follow_key_changes(
                listener,
                self.key_manager.clone(),
                self.state.keys.clone(),
            ));
        }
        background.spawn(maintain_keys(
            self.key_manager,
            self.state.keys.clone(),
            self.state.config.signing_alg,
            self.state.config.key_reload_interval,
        ));
        background.spawn(purge_expired(self.state.feed.clone()));
        if let Some((reconciler, period)) = self.reconciler {
            background.spawn(reconcile_periodically(reconciler, period));
        }
        let availability = self.state.availability.clone();
        background.spawn(availability.clone().run());
        background.spawn(crate::ratelimit::sweep_periodically(
            self.state.rate_limits.clone(),
        ));
        background.spawn(crate::prometheus::keep_up(Arc::clone(&self.state.metrics)));
        // Scrapes need no draining: this listener simply stops with the main one.
        if let Some(listener) = self.metrics_listener {
            let router = http::metrics_router(self.state.clone());
            background.spawn(async move {
                if let Err(err) = axum::serve(listener, router).await {
                    tracing::error!(error = %err, "the metrics listener failed");
                }
            });
        }
        let address = self.listener.local_addr()?;
        tracing::info!(%address, issuer = %self.state.config.issuer, "tokenmint is serving");
        let (closing, closed) = tokio::sync::watch::channel(false);
        let stop_accepting = shutdown::drain_then_close(
            shutdown,
            self.state.draining.clone(),
            self.state.config.shutdown_delay,
            closing,
        );
        let timeout = self.state.config.shutdown_timeout;
        let router = http::router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(self.listener, router).with_graceful_shutdown(stop_accepting);
        let served = tokio::select! {
            served = serve.into_future() => served,
            () = shutdown::deadline_after_close(closed, timeout) => {
                tracing::warn!(
                    timeout = ?timeout,
                    "requests still in flight after TOKENMINT_SHUTDOWN_TIMEOUT; exiting without them"
                );
                Ok(())
            }
        };
        drop(background);
        availability.stopped().await;
        self.database.close().await;
        tracing::info!("tokenmint stopped");
        served.context("the HTTP server failed")
    }
}

/// Tasks that run beside the server and end with it: aborted when dropped, so a server
/// future dropped half-way (a crashed test server, a runtime shutting down) leaves none
/// running — a heartbeat outliving its server would pass for a live replica.
#[derive(Default)]
struct BackgroundTasks(Vec<tokio::task::JoinHandle<()>>);

impl BackgroundTasks {
    fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.0.push(tokio::spawn(task));
    }
}

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// The rules of the token grants, from the configuration: the domain's view of it.
pub fn token_policy(config: &Config) -> TokenPolicy {
    TokenPolicy {
        issuer: config.issuer.clone(),
        audiences: config.audiences.clone(),
        access_ttl: duration(config.access_token_ttl),
        refresh_ttl: duration(config.refresh_token_ttl),
        idle_ttl: duration(config.refresh_idle_ttl),
        grace: duration(config.refresh_grace),
        claims: config.claims.clone(),
        self_service_audience: config.self_service_audience.clone(),
        allow_impersonation: config.allow_impersonation,
    }
}

/// A configured duration for the domain's time arithmetic. Configuration ranges keep every
/// duration far below chrono's limit; saturating keeps this total anyway.
fn duration(duration: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// The separate metrics listener, when `TOKENMINT_METRICS_LISTEN` is set.
async fn bind_metrics(config: &Config) -> anyhow::Result<Option<TcpListener>> {
    let Some(address) = config.metrics_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (TOKENMINT_METRICS_LISTEN)"))?;
    Ok(Some(listener))
}

/// This app's metrics registry, reading the pool and the keys at scrape time.
fn app_metrics(database: &Database, keys: &KeyRing) -> Arc<Metrics> {
    let metrics = Arc::new(Metrics::new());
    metrics.watch_pool(database.pool_status());
    metrics.watch_database(database.health());
    if let Some(counts) = database.rotation_batches() {
        metrics.watch_rotation_batches(counts);
    }
    metrics.watch_keys(keys.clone());
    metrics
}

/// The Appwrite client, when `APPWRITE_PROJECT_ID` is set; its circuit breaker is reported
/// in `metrics`.
fn appwrite_client(
    config: &Config,
    events: &Arc<dyn Events>,
    metrics: &Metrics,
) -> anyhow::Result<Option<AppwriteClient>> {
    let Some(project_id) = &config.appwrite_project_id else {
        return Ok(None);
    };
    let client = AppwriteClient::new(
        config.appwrite_endpoint.as_str(),
        project_id,
        config.appwrite_connect_timeout,
        config.appwrite_timeout,
    )
    .map_err(|err| anyhow::anyhow!("cannot build the Appwrite client: {err}"))?
    .with_events(Arc::clone(events));
    let client = match config.appwrite_oauth_issuer() {
        Some(issuer) => client.with_oauth(&issuer, config.appwrite_oauth_client_ids.clone()),
        None => client,
    };
    metrics.watch_circuit(client.circuit_breaker());
    Ok(Some(client))
}

/// Appwrite's user directory, when `APPWRITE_API_KEY` is set: for the reconciler and to
/// confirm re-labelled webhook deliveries.
fn user_directory(
    config: &Config,
    appwrite: Option<&AppwriteClient>,
) -> Option<Arc<dyn UserDirectory>> {
    let key = config.appwrite_api_key.clone()?;
    let Some(appwrite) = appwrite else {
        tracing::warn!("APPWRITE_API_KEY is set without APPWRITE_PROJECT_ID: it is not used");
        return None;
    };
    match config.appwrite_reconcile {
        Some(period) => {
            tracing::info!(period = ?period, "live sessions are checked against Appwrite")
        }
        None => tracing::info!(
            "TOKENMINT_APPWRITE_RECONCILE=off: sessions are not checked against Appwrite"
        ),
    }
    Some(Arc::new(appwrite.directory(key)))
}

/// Runs the reconciler: a round every tenth of the period (200 ms to 30 s), and further
/// rounds at once while each finds a full batch due (at most ten in a row).
async fn reconcile_periodically(reconciler: Reconciler, period: std::time::Duration) {
    let tick = (period / 10).clamp(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(30),
    );
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        for _ in 0..10 {
            match reconciler.run_once().await {
                Ok(round) if round.sessions == reconcile::BATCH as usize && !round.interrupted => {}
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "reconciliation failed; will retry");
                    break;
                }
            }
        }
    }
}

/// Connects to the configured database and applies pending migrations. The database's
/// availability is measured on `clock`.
pub async fn open_database(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Database> {
    let database = connect_database(config, clock).await?;
    migrate_database(&database).await?;
    Ok(database)
}

/// What `Database::connect` needs, from the configuration.
pub fn database_options(config: &Config) -> DatabaseOptions {
    DatabaseOptions {
        url: config.database_url.clone(),
        max_connections: config.db_max_connections,
        sqlite_sync: config.sqlite_synchronous,
        timeouts: DatabaseTimeouts {
            statement: config.db_timeout,
        },
    }
}

/// Connects to the configured database, without migrating it.
pub async fn connect_database(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Database> {
    Database::connect(&database_options(config), clock)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {} (DATABASE_URL)",
                config.database_url
            )
        })
}

/// Applies pending migrations, logging each one applied.
pub async fn migrate_database(database: &Database) -> anyhow::Result<MigrationReport> {
    let report = database
        .migrate()
        .await
        .context("cannot apply the database migrations")?;
    for migration in &report.applied {
        tracing::info!(
            version = migration.version,
            description = %migration.description,
            "applied a database migration"
        );
    }
    Ok(report)
}

/// The KEK from `TOKENMINT_KEK`; for SQLite without one, the KEK file beside the database
/// (created on first use). PostgreSQL without a KEK is refused: a generated key would have to
/// live on one replica's disk, and losing it would lose every signing key.
pub fn key_encryption_key(config: &Config, database: &Database) -> anyhow::Result<Kek> {
    if let Some(kek) = &config.kek {
        return Ok(Kek::from_base64(kek.expose_secret())?);
    }
    if database.is_postgres() {
        bail!(
            "TOKENMINT_KEK is required with PostgreSQL: generate one with `openssl rand -base64 32`, \
             keep it in your secret store, and set TOKENMINT_KEK (or TOKENMINT_KEK_FILE)"
        );
    }
    let Some(database_file) = database.sqlite_file() else {
        tracing::warn!(
            "in-memory database without TOKENMINT_KEK: using a throw-away key-encryption key"
        );
        return Ok(Kek::generate()?);
    };
    let mut kek_file = database_file.as_os_str().to_owned();
    kek_file.push(".kek");
    let kek_file = std::path::PathBuf::from(kek_file);
    let (kek, created) = Kek::load_or_create_file(&kek_file)?;
    if created {
        tracing::warn!(
            path = %kek_file.display(),
            "created a key-encryption key file (mode 0600) beside the SQLite database; back it up \
             with the database, or set TOKENMINT_KEK"
        );
    } else {
        tracing::info!(path = %kek_file.display(), "using the key-encryption key file");
    }
    Ok(kek)
}

/// The key lifecycle on a timer: a rotation pass (see `KeyManager::rotate_if_due`; safe on
/// every replica at once), then a reload of the key set, so keys created or rotated anywhere
/// are published and used without a restart. A failed pass keeps the current set: better to
/// keep signing with a known key than to stop.
async fn maintain_keys(
    manager: KeyManager,
    ring: KeyRing,
    algorithm: SigningAlgorithm,
    interval: std::time::Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match manager.rotate_if_due(algorithm).await {
            Ok(changes) if changes.any() => tracing::info!(?changes, "signing keys rotated"),
            Ok(_) => {}
            // The outage is logged by the store; the keys in hand keep signing meanwhile.
            Err(err) if err.is_outage() => {
                tracing::debug!(error = %err, "key rotation pass skipped: database unavailable");
            }
            Err(err) => tracing::error!(error = %err, "key rotation pass failed"),
        }
        reload_keys(&manager, &ring).await;
    }
}

/// Reloads the key set as soon as another replica announces a change (PostgreSQL only).
async fn follow_key_changes(
    mut listener: crate::store::KeyChangeListener,
    manager: KeyManager,
    ring: KeyRing,
) {
    loop {
        match listener.changed().await {
            Ok(()) => reload_keys(&manager, &ring).await,
            Err(err) => {
                tracing::warn!(error = %err, "key-change listener interrupted");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

async fn reload_keys(manager: &KeyManager, ring: &KeyRing) {
    match manager.load().await {
        Ok(set) => {
            if set.jwks_etag() != ring.current().jwks_etag() {
                tracing::info!(
                    keys = set.published().len(),
                    "signing keys changed; reloaded"
                );
            }
            ring.replace(set);
        }
        Err(err) if err.is_outage() => {
            tracing::debug!(error = %err, "signing keys not reloaded: database unavailable");
        }
        Err(err) => tracing::error!(error = %err, "cannot reload the signing keys"),
    }
}

/// Deletes expired rows in bounded batches: a pass every minute, repeated at once while a pass
/// still finds work, so a backlog drains without one huge delete locking the tables.
async fn purge_expired(feed: RevocationFeed) {
    const PASS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
    loop {
        tokio::time::sleep(PASS_INTERVAL).await;
        loop {
            match feed.purge().await {
                Ok(0) => break,
                Ok(purged) => tracing::debug!(purged, "purged expired rows"),
                Err(err) => {
                    tracing::warn!(error = %err, "purge failed; will retry");
                    break;
                }
            }
        }
    }
}

/// Completes on ctrl-c or, on Unix, SIGTERM (what container runtimes send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
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
