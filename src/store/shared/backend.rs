//! What the shared implementation needs of a store: its connections, its dialect, and how it
//! rotates a session's current token.

use std::borrow::Cow;
use std::future::Future;

use crate::domain::model::sessions::Grant;
use crate::domain::ports::{Rotation, StoreError};
use crate::store::dialect::Dialect;
use crate::store::pool::Connections;

/// A store over one database backend. Every storage port is implemented once, for any
/// `Backend` (see the sibling files).
pub(crate) trait Backend: Send + Sync + 'static {
    /// The backend's database.
    type Db: Dialect;

    /// The connections for everything but what the backend batches.
    fn pool(&self) -> &Connections<<Self::Db as sqlx::Database>::Connection>;

    /// Rotates a session's current token: how differs by backend (PostgreSQL batches
    /// concurrent rotations into one statement; SQLite, in process, runs each alone).
    fn rotate_current(
        &self,
        rotation: &Rotation,
    ) -> impl Future<Output = Result<Option<Grant>, StoreError>> + Send;
}

/// Runs `$op`, an expression with `$conn` bound to a `&mut` connection from the pool `$pool`,
/// within the pool's operation deadline, and returns its result; the connection goes back to
/// the pool unless the result says it is broken (see `pool`). A macro rather than a function
/// taking a closure: the operation borrows the connection across its awaits.
macro_rules! on_connection {
    ($pool:expr, $conn:ident => $op:expr) => {{
        let pool = $pool;
        let mut pooled = pool.get().await?;
        let result = {
            let $conn = &mut *pooled;
            $crate::store::pool::within(pool.deadline(), async { $op }).await
        };
        pooled.finish(result)
    }};
}

pub(crate) use on_connection;

/// A text as it may be stored: U+0000 (that PostgreSQL cannot store in `text` or `jsonb`)
/// replaced by U+FFFD. The domain already did so; this is the last line of defence, applied
/// to every text that came from outside.
pub(crate) fn text(value: &str) -> Cow<'_, str> {
    crate::domain::text::storable(value)
}

/// An optional text as it may be stored.
pub(crate) fn optional_text(value: Option<&str>) -> Option<Cow<'_, str>> {
    value.map(text)
}
