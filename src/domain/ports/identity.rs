//! The identity provider (Appwrite): vouching for logins, and its user directory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::error::BoxError;
use crate::domain::model::sessions::UserSnapshot;

/// What Appwrite says of a user now, asked with a server API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppwriteUserState {
    /// The user exists and is not blocked; these are their sessions, expired ones included.
    Active {
        /// Each session's id and when it expires.
        sessions: Vec<(String, DateTime<Utc>)>,
    },
    /// The user is blocked (`status: false`).
    Blocked,
    /// The user does not exist (deleted).
    Deleted,
}

/// Appwrite's user directory (its Users API with a server API key): for the reconciler, never
/// on a request's path.
#[async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    /// What Appwrite says of `user_id` now.
    async fn user_state(&self, user_id: &str) -> Result<AppwriteUserState, IdentityError>;
}

/// Proof of an Appwrite login, as handed over by the app (or its back end).
#[derive(Debug, Clone)]
pub enum SubjectProof {
    /// An Appwrite JWT from `account.createJWT()` or the server's `users.createJWT()`.
    AppwriteJwt(SecretString),
    /// The session value (the `a_session_<project>` cookie value).
    AppwriteSession(SecretString),
    /// An access token of the project's Appwrite OAuth2 server.
    AppwriteOAuthAccessToken(SecretString),
    /// An ID token of the project's Appwrite OAuth2 server.
    AppwriteOAuthIdToken(SecretString),
}

/// What the identity provider vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLogin {
    /// The Appwrite user `$id`.
    pub user_id: String,
    /// The Appwrite session `$id` the proof belongs to.
    pub appwrite_session_id: String,
    /// The user as Appwrite describes them now.
    pub snapshot: UserSnapshot,
    /// The user's `$updatedAt`, in unix milliseconds.
    pub updated_at_ms: i64,
    /// Who acts as the user, when Appwrite says someone does (its `impersonatorUserId`, or an
    /// OAuth2 token's `act.sub`).
    pub impersonator: Option<String>,
    /// When Appwrite vouched for the login, when that was before it was asked: the issue time
    /// of a token verified locally. `None`: Appwrite vouched just now.
    pub vouched_at: Option<DateTime<Utc>>,
}

/// Why the identity provider did not vouch for a proof.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The proof is invalid, expired, or its session is gone.
    #[error("the subject token was rejected")]
    Rejected,
    /// The user is blocked.
    #[error("the user is blocked")]
    Blocked,
    /// The user must reset their password first.
    #[error("the user must reset their password")]
    PasswordResetRequired,
    /// The user must complete multi-factor authentication first.
    #[error("the user must complete multi-factor authentication")]
    MoreFactorsRequired,
    /// The provider rate-limited tokenmint.
    #[error("rate limited by the identity provider")]
    RateLimited {
        /// Seconds before a retry makes sense.
        retry_after: u64,
    },
    /// tokenmint's configuration is wrong (unknown project).
    #[error("the identity provider does not know tokenmint's project")]
    Misconfigured,
    /// The provider is down, slow, or answered something unreadable.
    #[error("the identity provider is unavailable")]
    Unavailable(#[source] BoxError),
    /// This kind of proof is not accepted by this configuration (Appwrite OAuth2 tokens
    /// without `APPWRITE_OAUTH_CLIENT_IDS`).
    #[error("this kind of subject token is not accepted")]
    NotAccepted,
    /// The provider failed repeatedly and is not being called for a while.
    #[error("the identity provider is failing; not calling it for now")]
    CircuitOpen {
        /// Seconds before a retry makes sense.
        retry_after: u64,
    },
}

/// The identity provider (Appwrite) that vouches for a login once, at exchange.
#[async_trait]
pub trait IdentityProvider: Send + Sync + 'static {
    /// Asks the provider who the proof belongs to.
    async fn verify(&self, proof: &SubjectProof) -> Result<VerifiedLogin, IdentityError>;
}
