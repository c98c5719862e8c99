//! Turning sqlx errors into the domain's [`StoreError`]: connection trouble and a server that
//! cannot take writes are `Unavailable` (clients get 503 and may retry; the connection is
//! closed), a statement cancelled by a lock or statement timeout is `Busy` (503 too; the
//! connection is fine), a lost serialization race is `Conflict`, anything else is `Query` (a
//! bug: 500).
//!
//! A database error is kept only as its SQLSTATE, constraint and table: the server's message,
//! detail and context can quote row data (`Failing row contains (…)`, the JSON of a claims
//! snapshot with an email in it) and must never reach a log line.

use std::fmt;

use crate::domain::ports::StoreError;

/// Classifies an sqlx error.
pub(crate) fn store_error(err: sqlx::Error) -> StoreError {
    let redacted = Redacted::of(&err);
    let kind = match &err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => Kind::Unavailable,
        sqlx::Error::Database(_) => Kind::of_sqlstate(redacted.code.as_deref().unwrap_or("")),
        _ => Kind::Query,
    };
    let cause = Box::new(redacted);
    match kind {
        Kind::Unavailable => StoreError::Unavailable(cause),
        Kind::Busy => StoreError::Busy(cause),
        Kind::Conflict => StoreError::Conflict(cause),
        Kind::Query => StoreError::Query(cause),
    }
}

/// The [`StoreError`] variant a database error becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unavailable,
    Busy,
    Conflict,
    Query,
}

impl Kind {
    fn of_sqlstate(code: &str) -> Self {
        // Unavailable, the connection not to be trusted with a write: class 08 (connection
        // exception); 57P01-05 (the server is shutting down or restarting, cannot connect now,
        // the database was dropped, the session timed out); 25006 (read_only_sql_transaction:
        // a primary demoted to a standby, or a standby reached through a stale address); 3D000
        // (no such database); class 53 (out of disk, memory or connections).
        if code.starts_with("08")
            || code.starts_with("57P0")
            || code.starts_with("53")
            || matches!(code, "25006" | "3D000")
        {
            Self::Unavailable
        // Busy, cancelled by a timeout and rolled back, the connection fine: 55P03
        // (lock_not_available: `lock_timeout`), 57014 (query_canceled: `statement_timeout`);
        // SQLite's SQLITE_BUSY (5) and SQLITE_LOCKED (6) after the busy timeout.
        } else if matches!(code, "55P03" | "57014" | "5" | "6") {
            Self::Busy
        // serialization_failure, deadlock_detected: a concurrent transaction won.
        } else if matches!(code, "40001" | "40P01") {
            Self::Conflict
        } else {
            Self::Query
        }
    }
}

/// An sqlx error reduced to what may be logged.
#[derive(Debug)]
struct Redacted {
    kind: &'static str,
    code: Option<String>,
    constraint: Option<String>,
    table: Option<String>,
    /// The text of errors that carry no row data (I/O, pool, protocol).
    text: Option<String>,
}

impl Redacted {
    fn of(err: &sqlx::Error) -> Self {
        let mut redacted = Self {
            kind: kind(err),
            code: None,
            constraint: None,
            table: None,
            text: None,
        };
        match err {
            sqlx::Error::Database(db) => {
                redacted.code = db.code().map(|c| c.into_owned());
                redacted.constraint = db.constraint().map(str::to_owned);
                redacted.table = db.table().map(str::to_owned);
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Configuration(_)
            | sqlx::Error::Migrate(_) => redacted.text = Some(err.to_string()),
            // Decoding and protocol errors may quote values: their kind is enough.
            _ => {}
        }
        redacted
    }
}

fn kind(err: &sqlx::Error) -> &'static str {
    match err {
        sqlx::Error::Database(_) => "database error",
        sqlx::Error::Io(_) => "I/O error",
        sqlx::Error::Tls(_) => "TLS error",
        sqlx::Error::Protocol(_) => "protocol error",
        sqlx::Error::PoolTimedOut => "pool timed out",
        sqlx::Error::PoolClosed => "pool closed",
        sqlx::Error::WorkerCrashed => "worker crashed",
        sqlx::Error::RowNotFound => "row not found",
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => "decoding error",
        sqlx::Error::ColumnNotFound(_) | sqlx::Error::ColumnIndexOutOfBounds { .. } => {
            "column error"
        }
        sqlx::Error::Configuration(_) => "configuration error",
        sqlx::Error::Migrate(_) => "migration error",
        _ => "sqlx error",
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind)?;
        if let Some(code) = &self.code {
            write!(f, " (SQLSTATE {code}")?;
            if let Some(constraint) = &self.constraint {
                write!(f, ", constraint {constraint}")?;
            }
            if let Some(table) = &self.table {
                write!(f, ", table {table}")?;
            }
            f.write_str(")")?;
        }
        if let Some(text) = &self.text {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Redacted {}

#[cfg(test)]
mod tests {
    use crate::store::error::*;

    #[test]
    fn io_errors_keep_their_text_and_are_unavailable() {
        let err = sqlx::Error::Io(std::io::Error::other("connection reset"));
        let mapped = store_error(err);
        assert!(matches!(mapped, StoreError::Unavailable(_)));
        let source = std::error::Error::source(&mapped).unwrap().to_string();
        assert!(source.ends_with("connection reset"), "{source}");
    }

    #[test]
    fn sqlstates_are_classified_by_what_they_say_about_the_connection() {
        for (code, expected) in [
            ("08006", Kind::Unavailable),
            ("57P01", Kind::Unavailable),
            ("57P03", Kind::Unavailable),
            ("25006", Kind::Unavailable),
            ("53300", Kind::Unavailable),
            ("3D000", Kind::Unavailable),
            ("55P03", Kind::Busy),
            ("57014", Kind::Busy),
            ("5", Kind::Busy),
            ("40001", Kind::Conflict),
            ("40P01", Kind::Conflict),
            ("23505", Kind::Query),
            ("42P01", Kind::Query),
        ] {
            assert_eq!(Kind::of_sqlstate(code), expected, "SQLSTATE {code}");
        }
    }

    #[test]
    fn decoding_errors_keep_only_their_kind() {
        let err = sqlx::Error::Decode("value 'jane@example.com' is not a uuid".into());
        let mapped = store_error(err);
        let logged = format!("{mapped:?} {}", std::error::Error::source(&mapped).unwrap());
        assert!(!logged.contains("jane"), "{logged}");
        assert!(logged.contains("decoding error"), "{logged}");
    }
}
