//! Readiness: whether this replica can do its job. The database must take a write (this
//! replica's heartbeat), not merely answer a read: a replica whose `DATABASE_URL` still
//! reaches a demoted primary reads fine and can write nothing. And a signing key must be
//! loaded, or no token can be issued.

use std::time::Duration;

use super::availability::AvailabilityWatch;
use super::keys::KeyRing;

/// What the database check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseCheck {
    /// The heartbeat was written.
    Ok,
    /// The database refused or failed the write.
    Unavailable,
    /// No answer within the probe's time.
    Timeout,
}

/// The outcome of every readiness check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// Whether the database takes writes.
    pub database: DatabaseCheck,
    /// Whether a key that signs new tokens is loaded.
    pub signing_key: bool,
}

impl Readiness {
    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.database == DatabaseCheck::Ok && self.signing_key
    }
}

/// Runs the checks; the database gets at most `within` to answer, so the probe answers in
/// time even while the database hangs.
pub async fn check(
    availability: &AvailabilityWatch,
    keys: &KeyRing,
    within: Duration,
) -> Readiness {
    let database = match tokio::time::timeout(within, availability.check()).await {
        Ok(Ok(())) => DatabaseCheck::Ok,
        // The outage itself is logged once by the store, as it begins and ends.
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "readiness: the database took no write");
            DatabaseCheck::Unavailable
        }
        Err(_) => DatabaseCheck::Timeout,
    };
    Readiness {
        database,
        signing_key: keys.current().active().is_some(),
    }
}
