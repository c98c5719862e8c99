//! Turning sqlx errors into the domain's [`StoreError`]: connection trouble is `Unavailable`
//! (clients get 503 and may retry), a lost serialization race is `Conflict`, anything else is
//! `Query` (a bug: 500).
//!
//! A database error is kept only as its SQLSTATE, constraint and table: the server's message,
//! detail and context can quote row data (`Failing row contains (…)`, the JSON of a claims
//! snapshot with an email in it) and must never reach a log line.

use std::fmt;

use crate::domain::ports::StoreError;

/// Classifies an sqlx error.
pub(crate) fn store_error(err: sqlx::Error) -> StoreError {
    let redacted = Redacted::of(&err);
    let code = redacted.code.as_deref().unwrap_or("");
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
        sqlx::Error::Database(_) => {
            code.starts_with("08")
                || code.starts_with("57P0")
                || matches!(code, "3D000" | "53300" | "5" | "6")
        }
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(Box::new(redacted))
    } else if matches!(code, "40001" | "40P01") {
        // serialization_failure, deadlock_detected: a concurrent transaction won.
        StoreError::Conflict(Box::new(redacted))
    } else {
        StoreError::Query(Box::new(redacted))
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
    use super::*;

    #[test]
    fn io_errors_keep_their_text_and_are_unavailable() {
        let err = sqlx::Error::Io(std::io::Error::other("connection reset"));
        let mapped = store_error(err);
        assert!(matches!(mapped, StoreError::Unavailable(_)));
        let source = std::error::Error::source(&mapped).unwrap().to_string();
        assert!(source.ends_with("connection reset"), "{source}");
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
