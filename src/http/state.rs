//! What every handler can reach: the services of the HTTP layer, shared behind one `Arc`.

use std::sync::Arc;

use super::draining::Draining;
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::admin_keys::AdminKeys;
use crate::domain::availability::AvailabilityWatch;
use crate::domain::feed::RevocationFeed;
use crate::domain::grants::TokenService;
use crate::domain::keys::{KeyManager, KeyRing};
use crate::domain::ports::Store;
use crate::domain::session_admin::SessionAdmin;
use crate::domain::webhook::WebhookHandler;
use crate::limiter::RateLimits;
use crate::prometheus::Metrics;

/// What every handler can reach: [`Services`] behind one `Arc`, so that handing it to a handler
/// (axum clones the state for every request) is one reference-count increment.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    /// The state over `services`.
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services of the HTTP layer.
pub struct Services {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Persistent state.
    pub store: Arc<dyn Store>,
    /// The live signing and published keys.
    pub keys: KeyRing,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// The token grants.
    pub tokens: TokenService,
    /// Admin keys.
    pub admin_keys: AdminKeys,
    /// Session administration.
    pub sessions: SessionAdmin,
    /// Signing-key management.
    pub key_manager: KeyManager,
    /// Appwrite webhook actions.
    pub webhooks: WebhookHandler,
    /// The revocation feed.
    pub feed: RevocationFeed,
    /// The rate limits; `rate_limits.counters()` are the refusals by kind, for metrics.
    pub rate_limits: Arc<RateLimits>,
    /// Set when shutdown begins: readiness fails from then on.
    pub draining: Draining,
    /// This replica's heartbeat: what readiness checks the database with.
    pub availability: AvailabilityWatch,
    /// This app's metrics registry.
    pub metrics: Arc<Metrics>,
}
