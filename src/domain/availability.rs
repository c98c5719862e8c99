//! Watching the database's availability from one replica: a heartbeat write every second (a
//! quarter of a second while the database is failing, so recovery is noticed fast), which
//! also records the outages this replica saw for every replica to see, and at start-up the
//! span in which no replica ran at all.
//!
//! What the outages are for: `domain::grace`. What readiness says: whether the last attempt
//! to write worked (`Availability::writable`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::ports::{Availability, Outage, StoreError};
use crate::clock::{Clock, earlier};

/// Heartbeats while the database takes writes.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// Heartbeats while it does not: recovery is noticed within this.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(250);
/// A replica whose heartbeat is older than this is not running.
pub const STALE_AFTER: chrono::Duration = chrono::Duration::seconds(5);

/// One replica's heartbeat and outage records. Cheap to clone.
#[derive(Clone)]
pub struct AvailabilityWatch {
    availability: Arc<dyn Availability>,
    clock: Arc<dyn Clock>,
    replica: Uuid,
    started_at: DateTime<Utc>,
}

impl AvailabilityWatch {
    /// A watch for a replica starting now.
    pub fn new(availability: Arc<dyn Availability>, clock: Arc<dyn Clock>) -> Self {
        let started_at = clock.now();
        Self {
            availability,
            clock,
            replica: Uuid::now_v7(),
            started_at,
        }
    }

    /// This replica's id in the heartbeat table.
    pub fn replica(&self) -> Uuid {
        self.replica
    }

    /// At start-up, before the first heartbeat: if every other replica stopped without saying
    /// so (crashed, killed) more than [`STALE_AFTER`] ago, no replica answered from then until
    /// now — requests in flight then lost their answers — and that span is recorded as an
    /// outage. Returns it.
    pub async fn record_downtime_before_start(&self) -> Result<Option<Outage>, StoreError> {
        let Some((seen, stopped)) = self.availability.newest_heartbeat(self.replica).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if stopped || seen >= earlier(now, STALE_AFTER) {
            return Ok(None);
        }
        let outage = Outage {
            start: seen,
            end: now,
        };
        self.availability.record_outages(Some(outage)).await?;
        tracing::info!(
            since = %seen,
            "no replica was running since its last heartbeat: recorded as an outage, so \
             refreshes in flight then can be retried"
        );
        Ok(Some(outage))
    }

    /// One heartbeat: `Ok` when the database took the write (readiness asks this).
    pub async fn check(&self) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.availability
            .heartbeat(self.replica, self.started_at, now)
            .await
    }

    /// One heartbeat, then (if it worked) the outages seen and not yet recorded. Returns
    /// whether the database took the write.
    pub async fn beat(&self) -> bool {
        if self.check().await.is_err() {
            // Logged once per outage by the store, as it begins and ends.
            return false;
        }
        if let Err(err) = self.availability.record_outages(None).await {
            tracing::warn!(error = %err, "cannot record outages yet; will retry");
        }
        true
    }

    /// Beats until the task is dropped.
    pub async fn run(self) {
        loop {
            let interval = if self.beat().await {
                HEARTBEAT_INTERVAL
            } else {
                RETRY_INTERVAL
            };
            tokio::time::sleep(interval).await;
        }
    }

    /// At a graceful shutdown, after the last request: this replica stopped on purpose, so a
    /// replica starting later does not count the time since as an outage.
    pub async fn stopped(&self) {
        if let Err(err) = self.availability.mark_stopped(self.replica).await {
            tracing::warn!(error = %err, "cannot mark this replica as stopped");
        }
    }
}
