//! Keeping the key set current: periodic rotation and reload, and reloads on announced changes.

use crate::domain::keys::{KeyManager, KeyRing, SigningAlgorithm};
use crate::store::KeyChangeListener;

/// The key lifecycle on a timer: a rotation pass (see `KeyManager::rotate_if_due`; safe on
/// every replica at once), then a reload of the key set, so keys created or rotated anywhere
/// are published and used without a restart. A failed pass keeps the current set: better to
/// keep signing with a known key than to stop.
pub(super) async fn maintain_keys(
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
pub(super) async fn follow_key_changes(
    mut listener: KeyChangeListener,
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
