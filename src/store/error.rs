//! Turning sqlx errors into the domain's [`StoreError`]: connection trouble is
//! `Unavailable` (clients get 503 and may retry), anything else is `Query` (a bug: 500).

use crate::domain::ports::StoreError;

/// Classifies an sqlx error.
pub(crate) fn store_error(err: sqlx::Error) -> StoreError {
    let unavailable = match &err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        // SQLSTATE class 08 (connection exception), 57P01-03 (shutdown / cannot connect now),
        // 3D000 (the database does not exist), 53300 (too many connections); SQLite's
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6) after the busy timeout.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("57P0")
                || matches!(code.as_ref(), "3D000" | "53300" | "5" | "6")
        }),
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(Box::new(err))
    } else {
        StoreError::Query(Box::new(err))
    }
}
