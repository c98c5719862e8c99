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
    #[error("{}", .0.description())]
    InvalidGrant(InvalidGrantReason),
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
            // An outage is logged once, as it begins and ends (see `store::availability`),
            // not once per request it fails.
            StoreError::Unavailable(cause) => {
                tracing::debug!(error = %cause, "database unavailable");
                TokenError::TemporarilyUnavailable {
                    what: "the database",
                    retry_after: DATABASE_RETRY_AFTER,
                }
            }
            StoreError::Busy(cause) | StoreError::Conflict(cause) => {
                tracing::warn!(error = %cause, "database busy or contended");
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
    /// `invalid_grant` for `reason`.
    pub fn invalid_grant(reason: InvalidGrantReason) -> Self {
        Self::InvalidGrant(reason)
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::InvalidRequest(description.into())
    }
}

impl TokenError {
    /// The RFC 6749 §5.2 (or RFC 8693 §2.2.2) `error` code this error is answered with.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::SlowDown { .. } => "slow_down",
            Self::TemporarilyUnavailable { .. } | Self::NoSigningKey => "temporarily_unavailable",
            Self::ExchangeNotConfigured
            | Self::UpstreamMisconfigured
            | Self::Store(_)
            | Self::Crypto(_) => "server_error",
        }
    }
}

/// Why a grant is `invalid_grant`: a bounded set, for metrics and logs. Clients see only the
/// [description](Self::description), which for refresh tokens is the same whatever the
/// reason: a caller holding a stolen token learns nothing from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidGrantReason {
    /// Not a refresh token tokenmint issued, or one whose session is gone.
    UnknownToken,
    /// A token with a live session's selector that tokenmint never issued (a leaked prefix
    /// with a made-up tail): refused, the session unchanged.
    ForgedToken,
    /// The token's session has ended: revoked, or past its absolute or idle lifetime.
    SessionEnded,
    /// A used refresh token presented after the grace window: its session is now revoked.
    TokenReuse,
    /// The session is bound to another client (RFC 9700 §4.14).
    ClientMismatch,
    /// Appwrite rejected the subject token (invalid, expired, or its session is gone).
    SubjectRejected,
    /// The Appwrite user is blocked.
    UserBlocked,
    /// The user must reset their password first.
    PasswordResetRequired,
    /// The user must complete multi-factor authentication first.
    MoreFactorsRequired,
    /// The user or the Appwrite session was revoked while the exchange was being checked.
    RevokedDuringExchange,
    /// Appwrite reports someone impersonating the user, and `TOKENMINT_IMPERSONATION=deny`.
    ImpersonationDenied,
}

/// What a client is told about an unusable refresh token, whatever the reason.
const INVALID_REFRESH_TOKEN: &str = "the refresh token is invalid, expired or revoked";

impl InvalidGrantReason {
    /// Every reason.
    pub const ALL: [Self; 11] = [
        Self::UnknownToken,
        Self::ForgedToken,
        Self::SessionEnded,
        Self::TokenReuse,
        Self::ClientMismatch,
        Self::SubjectRejected,
        Self::UserBlocked,
        Self::PasswordResetRequired,
        Self::MoreFactorsRequired,
        Self::RevokedDuringExchange,
        Self::ImpersonationDenied,
    ];

    /// Its name in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownToken => "unknown_token",
            Self::ForgedToken => "forged_token",
            Self::SessionEnded => "session_ended",
            Self::TokenReuse => "refresh_token_reuse",
            Self::ClientMismatch => "client_mismatch",
            Self::SubjectRejected => "subject_token_rejected",
            Self::UserBlocked => "user_blocked",
            Self::PasswordResetRequired => "password_reset_required",
            Self::MoreFactorsRequired => "more_factors_required",
            Self::RevokedDuringExchange => "revoked_during_exchange",
            Self::ImpersonationDenied => "impersonation_denied",
        }
    }

    /// The `error_description` clients get.
    pub fn description(self) -> &'static str {
        match self {
            Self::UnknownToken | Self::ForgedToken | Self::SessionEnded | Self::TokenReuse => {
                INVALID_REFRESH_TOKEN
            }
            Self::ClientMismatch => "the refresh token was issued to another client",
            Self::SubjectRejected => "the Appwrite session is invalid or has expired",
            Self::UserBlocked => "user is blocked",
            Self::PasswordResetRequired => "the user must reset their password first",
            Self::MoreFactorsRequired => "the user must complete multi-factor authentication first",
            Self::RevokedDuringExchange => {
                "the sign-in was revoked while it was being checked; sign in again"
            }
            Self::ImpersonationDenied => "impersonated sign-ins are not accepted",
        }
    }
}
