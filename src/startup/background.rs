//! Tasks that run beside the server: their lifetime, the purge of expired rows and the
//! reconciliation against Appwrite.

use std::future::Future;

use crate::domain::feed::RevocationFeed;
use crate::domain::reconcile::{self, Reconciler};

/// Tasks that run beside the server and end with it: aborted when dropped, so a server
/// future dropped half-way (a crashed test server, a runtime shutting down) leaves none
/// running — a heartbeat outliving its server would pass for a live replica.
#[derive(Default)]
pub(super) struct BackgroundTasks(Vec<tokio::task::JoinHandle<()>>);

impl BackgroundTasks {
    pub(super) fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
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

/// Runs the reconciler: a round every tenth of the period (200 ms to 30 s), and further
/// rounds at once while each finds a full batch due (at most ten in a row).
pub(super) async fn reconcile_periodically(reconciler: Reconciler, period: std::time::Duration) {
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

/// Deletes expired rows in bounded batches: a pass every minute, repeated at once while a pass
/// still finds work, so a backlog drains without one huge delete locking the tables.
pub(super) async fn purge_expired(feed: RevocationFeed) {
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
