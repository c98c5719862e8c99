//! Bearer credentials: admin keys for `/admin/v1` and introspection, access tokens for
//! `/v1/me`. Failures are opaque: the response never says whether a key exists.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::error::Problem;
use super::state::AppState;
use crate::domain::admin_keys::{AdminCaller, AdminKeyError};
use crate::domain::model::admin_keys::AdminRole;
use crate::domain::model::sessions::Session;
use crate::domain::ports::StoreError;
use crate::domain::token::AccessClaims;

const ADMIN_CHALLENGE: &str = "Bearer realm=\"tokenmint-admin\"";
const ADMIN_INVALID: &str = "Bearer realm=\"tokenmint-admin\", error=\"invalid_token\"";
const USER_CHALLENGE: &str = "Bearer realm=\"tokenmint\"";
const USER_INVALID: &str = "Bearer realm=\"tokenmint\", error=\"invalid_token\"";

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A caller holding a valid admin key of any role.
pub struct AnyAdminKey(pub AdminCaller);

/// A caller allowed to read the revocation feed: anyone when
/// `TOKENMINT_REVOCATION_FEED_PUBLIC=true`, else a valid admin key of any role (`feed`,
/// `introspect` or `admin`), checked like every admin key (hashed, constant-time, cached).
/// Not held to the per-key rate limit: a fleet of verifiers may share one key, each polling
/// every few seconds; the per-IP limit still applies.
pub struct FeedReader;

/// A caller holding a valid key with the `admin` role.
pub struct AdminKey(pub AdminCaller);

/// Why an admin key was not accepted. Answers problem JSON on the admin API; introspection,
/// an OAuth endpoint, maps it to RFC 6749 errors itself.
pub enum AdminKeyRejection {
    /// No key, or a malformed, unknown, wrong or revoked one (401).
    Invalid(Problem),
    /// Too many failed attempts for this key id just now (429 with `Retry-After`).
    Throttled(u64),
    /// A valid key over its request rate (`TOKENMINT_RATE_LIMIT_ADMIN_KEY`; 429 with
    /// `Retry-After`).
    RateLimited(u64),
    /// The key is valid but its role does not allow the call (403).
    Forbidden,
    /// The database failed.
    Store(StoreError),
}

impl IntoResponse for AdminKeyRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Invalid(problem) => problem.into_response(),
            Self::Throttled(retry_after) => Problem::new(StatusCode::TOO_MANY_REQUESTS)
                .with_detail("too many failed attempts for this key; retry later")
                .with_retry_after(retry_after)
                .into_response(),
            Self::RateLimited(retry_after) => Problem::new(StatusCode::TOO_MANY_REQUESTS)
                .with_detail("too many requests with this key; retry later")
                .with_retry_after(retry_after)
                .into_response(),
            Self::Forbidden => Problem::new(StatusCode::FORBIDDEN)
                .with_detail("this key's role does not allow this call")
                .into_response(),
            Self::Store(err) => Problem::from(err).into_response(),
        }
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<AdminCaller, AdminKeyRejection> {
    let Some(token) = bearer_token(parts) else {
        return Err(AdminKeyRejection::Invalid(Problem::unauthorized(
            ADMIN_CHALLENGE,
            "an admin key is required",
        )));
    };
    match state.admin_keys.authenticate(token).await {
        Ok(caller) => Ok(caller),
        Err(AdminKeyError::Store(err)) => Err(AdminKeyRejection::Store(err)),
        Err(AdminKeyError::Throttled { retry_after }) => {
            Err(AdminKeyRejection::Throttled(retry_after))
        }
        Err(_) => Err(AdminKeyRejection::Invalid(Problem::unauthorized(
            ADMIN_INVALID,
            "the admin key is invalid or revoked",
        ))),
    }
}

impl FromRequestParts<AppState> for AnyAdminKey {
    type Rejection = AdminKeyRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await.map(Self)
    }
}

impl FromRequestParts<AppState> for AdminKey {
    type Rejection = AdminKeyRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = authenticate(parts, state).await?;
        // Keyed by the authenticated key, not the presented id: ids are not secret, so a
        // limit counted before the Argon2 check would let anyone exhaust another's budget.
        // Wrong secrets are the Argon2 throttle's business (`domain::admin_keys`).
        if let Err(limited) = state.rate_limits.check_admin_key(&caller.key_id) {
            return Err(AdminKeyRejection::RateLimited(limited.retry_after));
        }
        if caller.role != AdminRole::Admin {
            return Err(AdminKeyRejection::Forbidden);
        }
        Ok(Self(caller))
    }
}

impl FromRequestParts<AppState> for FeedReader {
    type Rejection = AdminKeyRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.config.revocation_feed_public {
            return Ok(Self);
        }
        let caller = authenticate(parts, state).await?;
        if !caller.role.may_read_feed() {
            return Err(AdminKeyRejection::Forbidden);
        }
        Ok(Self)
    }
}

/// A user authenticated by a valid access token of a live session.
pub struct AccessToken {
    /// The token's claims.
    pub claims: AccessClaims,
    /// Its session.
    pub session: Session,
}

impl FromRequestParts<AppState> for AccessToken {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer_token(parts) else {
            return Err(Problem::unauthorized(
                USER_CHALLENGE,
                "an access token is required",
            ));
        };
        match state.tokens.authorize_self_service(token).await? {
            Some((claims, session)) => Ok(Self { claims, session }),
            None => Err(Problem::unauthorized(
                USER_INVALID,
                "the access token is invalid, expired or revoked",
            )),
        }
    }
}
