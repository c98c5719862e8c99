//! Spans of time in which the database could not be used.

use chrono::{DateTime, Utc};

/// A span of time in which a replica of tokenmint could not use the database (or no replica
/// ran at all): answers were 503s or never came, and a client could not have retried
/// successfully. The grace window of a rotation does not run out during one (see
/// `domain::grace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// When it began: at the latest, when the first failed operation started.
    pub start: DateTime<Utc>,
    /// When the database was seen working again.
    pub end: DateTime<Utc>,
}
