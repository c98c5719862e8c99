//! Ports: the traits the domain needs from the outside world, implemented by adapters
//! (`crate::store` for PostgreSQL and SQLite).

use async_trait::async_trait;

use super::keys::SigningKeyRecord;

/// A boxed error from an adapter, kept for logs and never shown to clients.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A storage failure. The cause is kept as a source for logging; its text never reaches a
/// client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached, or did not answer in time.
    #[error("database unavailable")]
    Unavailable(#[source] BoxError),
    /// The database refused or failed a statement.
    #[error("database statement failed")]
    Query(#[source] BoxError),
    /// A row holds a value the domain cannot represent.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// Persistent state, with one implementation per database backend. Each method is one unit of
/// work: it commits entirely or not at all.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Inserts a signing key. Returns `false`, writing nothing, when the key's state is
    /// `active` or `next` and another key already holds that state: at most one key signs and
    /// at most one waits, whatever number of replicas race to create them.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<bool, StoreError>;

    /// Every stored signing key, oldest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
}
