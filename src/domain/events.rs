//! What happened, for whoever watches: the domain reports its events through the [`Events`]
//! port, without knowing who counts them. The server counts them as Prometheus metrics
//! (`crate::prometheus`); tests and the CLI use [`NoEvents`].
//!
//! Every argument comes from a bounded set (an enum, a static name): an event never carries a
//! user id, a session id, a client id or a token, so an implementation may use each value as a
//! metric label as it is.

use std::time::Duration;

use super::error::TokenError;
use super::model::sessions::RevocationReason;

/// The grants of `POST /oauth/token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// RFC 8693 token exchange: an Appwrite session in, a new tokenmint session out.
    TokenExchange,
    /// RFC 6749 §6 refresh, with rotation.
    RefreshToken,
}

impl GrantType {
    /// Every grant type.
    pub const ALL: [Self; 2] = [Self::TokenExchange, Self::RefreshToken];

    /// Its name in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenExchange => "token_exchange",
            Self::RefreshToken => "refresh_token",
        }
    }
}

/// How one webhook delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Signed and applied (whether or not it changed anything).
    Applied,
    /// Signed, but about nothing tokenmint acts on, or a payload that does not fit its event.
    Ignored,
    /// Signed, but applying it failed on its data (answered 200 so Appwrite keeps the webhook).
    Failed,
    /// The database was unavailable (answered 503).
    Unavailable,
    /// Missing or wrong credentials or signature (answered 401; nothing changed).
    Unauthorized,
    /// A body over the size limit (answered 413; nothing changed).
    TooLarge,
    /// Webhooks are not configured (answered 404).
    Disabled,
    /// Signed, but a body first received under other events (answered 409; nothing done).
    Relabelled,
    /// Signed, but its event names disagree with its payload (answered 422; nothing done).
    Mismatched,
}

impl WebhookOutcome {
    /// Every outcome.
    pub const ALL: [Self; 9] = [
        Self::Applied,
        Self::Ignored,
        Self::Failed,
        Self::Unavailable,
        Self::Unauthorized,
        Self::TooLarge,
        Self::Disabled,
        Self::Relabelled,
        Self::Mismatched,
    ];

    /// Its name in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Ignored => "ignored",
            Self::Failed => "failed",
            Self::Unavailable => "unavailable",
            Self::Unauthorized => "unauthorized",
            Self::TooLarge => "too_large",
            Self::Disabled => "disabled",
            Self::Relabelled => "relabelled",
            Self::Mismatched => "mismatched",
        }
    }
}

/// How one verification of a session proof with the identity provider (Appwrite) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityOutcome {
    /// The proof is valid: a login.
    Verified,
    /// The proof was rejected (invalid, expired, unknown session).
    Rejected,
    /// The user is blocked.
    Blocked,
    /// The user must reset their password first.
    PasswordResetRequired,
    /// The user must complete multi-factor authentication first.
    MoreFactorsRequired,
    /// The provider rate-limited tokenmint.
    RateLimited,
    /// The provider rejected tokenmint's configuration (an unknown project).
    Misconfigured,
    /// No usable answer in time: unreachable, a server error, an unreadable body.
    Unavailable,
    /// No answer within the verification's time budget.
    Timeout,
}

impl IdentityOutcome {
    /// Every outcome.
    pub const ALL: [Self; 9] = [
        Self::Verified,
        Self::Rejected,
        Self::Blocked,
        Self::PasswordResetRequired,
        Self::MoreFactorsRequired,
        Self::RateLimited,
        Self::Misconfigured,
        Self::Unavailable,
        Self::Timeout,
    ];

    /// Its name in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "ok",
            Self::Rejected => "rejected",
            Self::Blocked => "blocked",
            Self::PasswordResetRequired => "password_reset_required",
            Self::MoreFactorsRequired => "more_factors_required",
            Self::RateLimited => "rate_limited",
            Self::Misconfigured => "misconfigured",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
        }
    }
}

/// What the reconciler found when it asked Appwrite about one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileOutcome {
    /// The user is active and backs every session checked.
    Active,
    /// The user is active, but an Appwrite session a login came from is gone or expired.
    SessionEnded,
    /// The user is blocked: their sessions were revoked.
    UserBlocked,
    /// The user is gone: their sessions were revoked.
    UserDeleted,
    /// Appwrite did not answer usefully (down, slow, rate-limiting): nothing revoked.
    Unavailable,
    /// Appwrite refused the API key or does not know the project: nothing revoked.
    Misconfigured,
}

impl ReconcileOutcome {
    /// Every outcome.
    pub const ALL: [Self; 6] = [
        Self::Active,
        Self::SessionEnded,
        Self::UserBlocked,
        Self::UserDeleted,
        Self::Unavailable,
        Self::Misconfigured,
    ];

    /// Its name in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::SessionEnded => "session_ended",
            Self::UserBlocked => "user_blocked",
            Self::UserDeleted => "user_deleted",
            Self::Unavailable => "unavailable",
            Self::Misconfigured => "misconfigured",
        }
    }
}

/// The events the domain and its adapters report. Implementations must be cheap and must
/// never block or fail: they run on the request path.
pub trait Events: Send + Sync {
    /// A grant ended: `Ok` when it issued tokens, the error it answered otherwise.
    fn grant_completed(&self, grant: GrantType, outcome: Result<(), &TokenError>);

    /// A used refresh token was presented after the grace window (its session is revoked).
    fn refresh_reuse_detected(&self);

    /// A used refresh token was presented again within the grace window and got its
    /// successor back.
    fn grace_window_hit(&self);

    /// A used refresh token was presented again after the grace window, which an outage had
    /// extended, and got its successor back.
    fn grace_window_hit_after_outage(&self);

    /// A refresh token of a later generation than the stored one was presented (the database
    /// had lost rotations) and its session moved forward to it.
    fn refresh_rolled_forward(&self);

    /// `count` live sessions were revoked for `reason` (revoking a revoked session is not
    /// reported: it changes nothing).
    fn sessions_revoked(&self, reason: RevocationReason, count: usize);

    /// An Appwrite webhook delivery ended. `event` is the event that decided its action (one
    /// of `appwrite::webhook::EVENTS`), `None` when it names none tokenmint knows or was not
    /// authenticated.
    fn webhook_delivered(&self, event: Option<&'static str>, outcome: WebhookOutcome);

    /// A verification with the identity provider ended after `elapsed`.
    fn identity_verified(&self, outcome: IdentityOutcome, elapsed: Duration);

    /// The reconciler asked Appwrite about one user.
    fn appwrite_reconciled(&self, outcome: ReconcileOutcome);
}

/// Reports nothing: for tests, the CLI and any use without metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl Events for NoEvents {
    fn grant_completed(&self, _: GrantType, _: Result<(), &TokenError>) {}
    fn refresh_reuse_detected(&self) {}
    fn grace_window_hit(&self) {}
    fn grace_window_hit_after_outage(&self) {}
    fn refresh_rolled_forward(&self) {}
    fn sessions_revoked(&self, _: RevocationReason, _: usize) {}
    fn webhook_delivered(&self, _: Option<&'static str>, _: WebhookOutcome) {}
    fn identity_verified(&self, _: IdentityOutcome, _: Duration) {}
    fn appwrite_reconciled(&self, _: ReconcileOutcome) {}
}
