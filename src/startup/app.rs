//! Building the service: connect and migrate the database, obtain the KEK, make sure a
//! signing key exists, load the key set, bind the listeners and wire the services together.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use super::database::open_database;
use super::kek::key_encryption_key;
use super::policy::{duration, token_policy};
use super::wiring::{app_metrics, appwrite_client, bind_metrics, user_directory};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::crypto::validator::ValidatorKey;
use crate::domain::admin_keys::AdminKeys;
use crate::domain::availability::AvailabilityWatch;
use crate::domain::events::Events;
use crate::domain::feed::RevocationFeed;
use crate::domain::grants::TokenService;
use crate::domain::keys::{KeyManager, KeyRing, RotationPolicy};
use crate::domain::ports::IdentityProvider;
use crate::domain::reconcile::Reconciler;
use crate::domain::session_admin::SessionAdmin;
use crate::domain::webhook::WebhookHandler;
use crate::http::{self, AppState, Services};
use crate::limiter::RateLimits;
use crate::store::{Database, KeyChangeListener};

/// A built, bound, not yet serving tokenmint.
pub struct App {
    pub(super) listener: TcpListener,
    pub(super) metrics_listener: Option<TcpListener>,
    pub(super) database: Database,
    pub(super) state: AppState,
    pub(super) key_manager: KeyManager,
    pub(super) key_changes: Option<KeyChangeListener>,
    pub(super) reconciler: Option<(Reconciler, std::time::Duration)>,
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
}
