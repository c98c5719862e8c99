//! The closed sets of choices a setting may name, and the database URL that hides its password.

use std::fmt;

/// How durably SQLite commits (`TOKENMINT_SQLITE_SYNCHRONOUS`; PostgreSQL is always durable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSync {
    /// `PRAGMA synchronous = NORMAL` in WAL mode: a commit survives a crash of tokenmint, but an
    /// operating-system crash or power loss may roll back the last commits (since the last
    /// checkpoint). The default: nearly 4× the refresh rate of `Full` on the development
    /// machine (BENCHMARKS.md).
    Normal,
    /// `PRAGMA synchronous = FULL`: every commit waits for the disk.
    Full,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured; the default on a terminal.
    Pretty,
    /// One JSON object per line; the default otherwise.
    Json,
}

/// The database URL. Its `Debug` and `Display` hide any password it carries.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub(super) fn new(url: &str) -> Self {
        Self(url.to_owned())
    }

    /// The URL with its password, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the URL names the embedded SQLite backend.
    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(mut parsed) if parsed.password().is_some() => {
                // Setting a password only fails for URLs that cannot carry one.
                let _ = parsed.set_password(Some("***"));
                f.write_str(parsed.as_str())
            }
            _ => f.write_str(&self.0),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}
