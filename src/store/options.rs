//! What opening the database takes: its URL, its pool size, and its time limits.

use std::time::Duration;

use crate::config::{DatabaseUrl, SqliteSync};

/// How long tokenmint lets the database take, from `TOKENMINT_DB_TIMEOUT`.
///
/// A refresh should take milliseconds; a database that takes seconds is stalled, and the
/// client is better served by a quick 503 and a retry than by a request that runs into the
/// request timeout. Every limit is derived from the one setting:
///
/// | limit | value | what happens when it runs out |
/// |---|---|---|
/// | `statement_timeout` (PostgreSQL, per statement) | the setting | the server cancels and rolls back; 503 |
/// | `lock_timeout` (PostgreSQL, per lock wait) | half of it | the same |
/// | `lock_timeout` of a batch of rotations | 200 ms at most | the batch is rolled back and each of its rotations runs alone |
/// | SQLite's busy timeout (waiting for the write lock) | the setting | the same |
/// | `idle_in_transaction_session_timeout` | twice it | a transaction left open by a vanished replica releases its locks |
/// | operation deadline (in tokenmint) | the setting + 1 s | no answer at all (a dead connection): the connection is closed; 503 |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseTimeouts {
    /// `TOKENMINT_DB_TIMEOUT`: the longest one statement may run.
    pub statement: Duration,
}

impl DatabaseTimeouts {
    /// The longest an operation waits for the database's answer before tokenmint gives up on
    /// the connection: a little longer than the server's own limit, which should fire first.
    pub fn operation_deadline(self) -> Duration {
        self.statement + Duration::from_secs(1)
    }

    /// The longest one statement waits for a lock.
    pub fn lock(self) -> Duration {
        self.statement / 2
    }

    /// The PostgreSQL settings of a connection that waits at most `lock` for a lock.
    pub(crate) fn postgres_settings(self, lock: Duration) -> [(&'static str, String); 3] {
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        [
            ("statement_timeout", ms(self.statement)),
            ("lock_timeout", ms(lock)),
            (
                "idle_in_transaction_session_timeout",
                ms(self.statement * 2),
            ),
        ]
    }
}

/// What [`Database::connect`] needs.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// `DATABASE_URL`.
    pub url: DatabaseUrl,
    /// `TOKENMINT_DB_MAX_CONNECTIONS` (PostgreSQL).
    pub max_connections: u32,
    /// `TOKENMINT_SQLITE_SYNCHRONOUS`.
    pub sqlite_sync: SqliteSync,
    /// `TOKENMINT_DB_TIMEOUT` and what follows from it.
    pub timeouts: DatabaseTimeouts,
}
