//! Errors of the token grants, named after RFC 6749 §5.2 so the HTTP layer maps them 1:1.
//! Descriptions are written for clients: they never carry internal detail.

use super::ports::StoreError;
use crate::crypto::CryptoError;

/// Why a token request failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A parameter is missing, repeated or malformed (400 `invalid_request`).
    #[error("{0}")]
    InvalidRequest(String),
    /// The grant (refresh token or subject token) is invalid, expired, used or revoked, or the
    /// user may not sign in (400 `invalid_grant`).
    #[error("{0}")]
    InvalidGrant(String),
    /// The scope is malformed or exceeds what was granted (400 `invalid_scope`).
    #[error("{0}")]
    InvalidScope(String),
    /// The audience is not allowed (400 `invalid_target`, RFC 8693 §2.2.2).
    #[error("{0}")]
    InvalidTarget(String),
    /// The grant type is not supported (400 `unsupported_grant_type`).
    #[error("unsupported grant_type")]
    UnsupportedGrantType,
    /// Token exchange is disabled: `APPWRITE_PROJECT_ID` is not set (500 `server_error`).
    #[error("token exchange is not configured")]
    ExchangeNotConfigured,
    /// Appwrite rejected tokenmint's own configuration (500 `server_error`).
    #[error("the identity provider rejected tokenmint's configuration")]
    UpstreamMisconfigured,
    /// Appwrite or the database is unreachable or slow (503 `temporarily_unavailable`).
    #[error("{what} is temporarily unavailable")]
    TemporarilyUnavailable {
        /// What is unavailable, for the description.
        what: &'static str,
        /// Seconds before a retry makes sense.
        retry_after: u64,
    },
    /// Rate limited (429 `slow_down`).
    #[error("too many requests; retry later")]
    SlowDown {
        /// Seconds before a retry makes sense.
        retry_after: u64,
    },
    /// A database statement failed (500 `server_error`; the cause is logged).
    #[error("storage failure")]
    Store(#[source] StoreError),
    /// A cryptographic operation failed (500 `server_error`).
    #[error("internal cryptographic failure")]
    Crypto(#[from] CryptoError),
    /// No signing key is loaded (503 `temporarily_unavailable`).
    #[error("no signing key is available")]
    NoSigningKey,
}

/// Seconds a client should wait after a database outage.
pub const DATABASE_RETRY_AFTER: u64 = 2;

impl From<StoreError> for TokenError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) | StoreError::Conflict(cause) => {
                tracing::warn!(error = %cause, "database unavailable or contended");
                TokenError::TemporarilyUnavailable {
                    what: "the database",
                    retry_after: DATABASE_RETRY_AFTER,
                }
            }
            other => TokenError::Store(other),
        }
    }
}

impl TokenError {
    /// `invalid_grant` with a description.
    pub fn invalid_grant(description: &str) -> Self {
        Self::InvalidGrant(description.to_owned())
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::InvalidRequest(description.into())
    }
}
