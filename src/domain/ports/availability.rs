//! The database's availability as the replicas see it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::StoreError;
use super::outage::Outage;

/// What tokenmint knows about the database's availability: each replica watches its own
/// operations and a heartbeat, and shares the outages it saw through the database.
#[async_trait]
pub trait Availability: Send + Sync + 'static {
    /// Whether this replica could write to the database at its last attempt (no round trip).
    fn writable(&self) -> bool;

    /// Writes the heartbeat of `replica` (started at `started_at`) at `now`: the proof that
    /// the database takes writes, and what lets a replica starting later tell whether any
    /// replica was running in between.
    async fn heartbeat(
        &self,
        replica: Uuid,
        started_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The newest heartbeat of any replica other than `replica`, and whether that replica
    /// said it stopped on purpose; `None` when no other replica ever ran.
    async fn newest_heartbeat(
        &self,
        replica: Uuid,
    ) -> Result<Option<(DateTime<Utc>, bool)>, StoreError>;

    /// Marks `replica` as stopped on purpose (a graceful shutdown answers what it accepted).
    async fn mark_stopped(&self, replica: Uuid) -> Result<(), StoreError>;

    /// Writes the outages this replica saw and has not written yet, and `extra` (a span in
    /// which no replica ran), so that every replica knows them. Returns how many were written.
    async fn record_outages(&self, extra: Option<Outage>) -> Result<usize, StoreError>;

    /// The outages that overlap `from..=to`: those any replica recorded, and those this
    /// replica saw and has not recorded yet, including one still going on (ending `to`).
    async fn outages_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Outage>, StoreError>;
}
