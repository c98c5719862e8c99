//! The domain's view of the configuration: token rules and durations.

use crate::config::Config;
use crate::domain::grants::TokenPolicy;

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
pub(super) fn duration(duration: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
