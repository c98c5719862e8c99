//! How a storage operation fails.

/// A boxed error from an adapter, kept for logs and never shown to clients.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A storage failure. The cause is kept as a source for logging; its text never reaches a
/// client, and it never carries row data (see `store::error`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached, did not answer in time, or cannot take writes
    /// (a standby, a server shutting down). The connection is no longer trusted. Whether a
    /// write in flight was committed is unknown.
    #[error("database unavailable")]
    Unavailable(#[source] BoxError),
    /// The database answered, but a lock wait or a statement ran past its timeout: the
    /// statement was cancelled and nothing it would have written was written.
    #[error("database busy")]
    Busy(#[source] BoxError),
    /// A concurrent transaction changed the same rows first (a serialization failure or a
    /// deadlock): nothing was written, and trying again may succeed.
    #[error("concurrent update")]
    Conflict(#[source] BoxError),
    /// The database refused or failed a statement.
    #[error("database statement failed")]
    Query(#[source] BoxError),
    /// A row holds a value the domain cannot represent.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}
