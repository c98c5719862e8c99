//! The optional parts of the service, from the configuration: the metrics listener and
//! registry, and the Appwrite client and user directory.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::appwrite::AppwriteClient;
use crate::config::Config;
use crate::domain::events::Events;
use crate::domain::keys::KeyRing;
use crate::domain::ports::UserDirectory;
use crate::prometheus::Metrics;
use crate::store::Database;

/// The separate metrics listener, when `TOKENMINT_METRICS_LISTEN` is set.
pub(super) async fn bind_metrics(config: &Config) -> anyhow::Result<Option<TcpListener>> {
    let Some(address) = config.metrics_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (TOKENMINT_METRICS_LISTEN)"))?;
    Ok(Some(listener))
}

/// This app's metrics registry, reading the pool and the keys at scrape time.
pub(super) fn app_metrics(database: &Database, keys: &KeyRing) -> Arc<Metrics> {
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
pub(super) fn appwrite_client(
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
pub(super) fn user_directory(
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
