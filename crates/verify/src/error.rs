//! Why a token was rejected, or a verifier could not be built.

/// A verification failure. Treat every variant as "401": the distinctions are for logs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Over 16 KiB.
    #[error("the token is too large")]
    TooLarge,
    /// Not a JWT, a claim is missing or malformed, a member name is repeated, or the header
    /// has `crit`.
    #[error("the token is malformed")]
    Malformed,
    /// `typ` is not `at+jwt`.
    #[error("the token is not an access token (typ must be at+jwt)")]
    WrongType,
    /// No published key has the token's `kid`, even after refetching the JWKS.
    #[error("the token's signing key is unknown")]
    UnknownKey,
    /// The signature, algorithm, issuer or audience is wrong.
    #[error("the token is invalid")]
    Invalid,
    /// `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// `iat` is in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The revocation feed lists its session, or its user's not-before is later than `iat`.
    #[error("the token has been revoked")]
    Revoked,
    /// The JWKS or discovery document could not be fetched or read, and no key was ever
    /// fetched (or, from [`Verifier::refresh_keys`](crate::Verifier::refresh_keys), the fetch
    /// failed).
    #[error("cannot fetch the signing keys: {0}")]
    KeysUnavailable(String),
    /// The revocation feed could not be polled; from `verify`, only with
    /// [`FeedFailurePolicy::Closed`](crate::FeedFailurePolicy::Closed), before the first
    /// successful poll or once the last one is older than its `max_staleness`.
    #[error("the revocation feed is unavailable: {0}")]
    RevocationsUnavailable(String),
    /// The revocation feed refused the verifier's credential (HTTP 401 or 403): no key was
    /// set with [`VerifierBuilder::revocation_feed_key`](crate::VerifierBuilder::revocation_feed_key)
    /// while the server requires one, or the key is wrong, revoked or of a role that may not
    /// read it. Returned by [`Verifier::sync_revocations`](crate::Verifier::sync_revocations)
    /// and kept in [`Verifier::feed_error`](crate::Verifier::feed_error); no revocation arrives
    /// until it is fixed.
    #[error("the revocation feed refused the key: {0}")]
    RevocationsUnauthorized(String),
    /// The verifier's configuration is unusable.
    #[error("invalid verifier configuration: {0}")]
    Config(String),
}

impl VerifyError {
    /// This fetch failure again, for each request that shared the fetch or arrives while the
    /// verifier backs off after it (a fetch fails only with `KeysUnavailable` or `Config`).
    pub(crate) fn for_waiter(&self) -> Self {
        match self {
            Self::Config(message) => Self::Config(message.clone()),
            Self::KeysUnavailable(message) => Self::KeysUnavailable(message.clone()),
            other => Self::KeysUnavailable(other.to_string()),
        }
    }
}
