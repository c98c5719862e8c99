//! What the metrics read of the database at scrape time.

/// The database's health as one replica sees it (for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseHealth {
    /// Whether the last attempt to write worked.
    pub writable: bool,
    /// Outages begun since start-up.
    pub outages: u64,
}

/// A connection pool's state at one moment (for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    /// Open connections, idle or in use.
    pub size: usize,
    /// Idle connections.
    pub idle: usize,
    /// The most connections the pool opens.
    pub max_size: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}
