//! The two error formats as OpenAPI schemas and reusable responses: RFC 6749 §5.2 JSON on
//! `/oauth/*`, RFC 9457 problem JSON everywhere else. Schema-only: the bodies themselves are
//! built in `http::error`, and the `openapi` integration test checks real error responses
//! against these schemas.

// The types below exist only to be described: they are never built.
#![allow(dead_code)]

use utoipa::{IntoResponses, ToSchema};

use crate::http::error::Problem;

/// An RFC 6749 §5.2 error response (also used by RFC 7009 revocation and RFC 7662
/// introspection).
#[derive(ToSchema)]
#[schema(example = json!({
    "error": "invalid_grant",
    "error_description": "the refresh token is invalid, expired or revoked"
}))]
pub struct OAuthErrorBody {
    /// The error code.
    error: OAuthErrorCode,
    /// A human-readable explanation. Never an internal detail.
    error_description: String,
}

/// The RFC 6749 §5.2 (and RFC 8693, RFC 8628 `slow_down`) error codes tokenmint answers.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    /// 400: a missing, repeated or malformed parameter, an unsupported content type, a body
    /// that is too large.
    InvalidRequest,
    /// 401: introspection without a valid admin or introspect key.
    InvalidClient,
    /// 400: an unknown, expired, used or revoked refresh token; Appwrite refused the subject
    /// token; the user is blocked.
    InvalidGrant,
    /// 400: the requested scope exceeds the grant.
    InvalidScope,
    /// 400: the audience is not allowed (RFC 8693).
    InvalidTarget,
    /// 400: a `grant_type` other than token exchange and refresh.
    UnsupportedGrantType,
    /// 429: rate limited; see `Retry-After`.
    SlowDown,
    /// 503: Appwrite or the database is unreachable or slow; see `Retry-After`.
    TemporarilyUnavailable,
    /// 500: a server misconfiguration (e.g. token exchange without an Appwrite project).
    ServerError,
}

/// The request is malformed or the grant is refused (RFC 6749 §5.2).
#[derive(IntoResponses)]
#[response(status = 400)]
pub struct OAuthBadRequest(OAuthErrorBody);

/// No valid admin or introspect key (`invalid_client`, with `WWW-Authenticate: Bearer`).
#[derive(IntoResponses)]
#[response(
    status = 401,
    headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tokenmint\"`"))
)]
pub struct OAuthUnauthorized(OAuthErrorBody);

/// Too many requests (`slow_down`); retry after the number of seconds in `Retry-After`.
#[derive(IntoResponses)]
#[response(
    status = 429,
    headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))
)]
pub struct OAuthTooManyRequests(OAuthErrorBody);

/// A server misconfiguration (`server_error`); never caused by the request.
#[derive(IntoResponses)]
#[response(status = 500)]
pub struct OAuthServerError(OAuthErrorBody);

/// Appwrite or the database is unreachable or slow (`temporarily_unavailable`), or the
/// request took too long.
#[derive(IntoResponses)]
#[response(
    status = 503,
    headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))
)]
pub struct OAuthUnavailable(OAuthErrorBody);

/// A malformed path, query or body.
#[derive(IntoResponses)]
#[response(status = 400, content_type = "application/problem+json")]
pub struct ProblemBadRequest(Problem);

/// A missing, invalid, expired or revoked credential, with a `WWW-Authenticate` challenge
/// (or, on the webhook, a missing or bad signature or Basic credentials).
#[derive(IntoResponses)]
#[response(
    status = 401,
    content_type = "application/problem+json",
    headers((
        "WWW-Authenticate" = String,
        description = "A `Bearer` challenge (RFC 6750 §3); absent on the webhook"
    ))
)]
pub struct ProblemUnauthorized(Problem);

/// The admin key is valid but its role (`introspect`, `feed`) does not allow this call.
#[derive(IntoResponses)]
#[response(status = 403, content_type = "application/problem+json")]
pub struct ProblemForbidden(Problem);

/// No such resource (a session that does not exist, or is not the caller's).
#[derive(IntoResponses)]
#[response(status = 404, content_type = "application/problem+json")]
pub struct ProblemNotFound(Problem);

/// Too many requests (rate limited, or too many failed attempts with one admin key); retry
/// after `Retry-After` seconds.
#[derive(IntoResponses)]
#[response(
    status = 429,
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))
)]
pub struct ProblemTooManyRequests(Problem);

/// The database is unavailable, or the request took too long. `Retry-After` is sent when
/// the server knows how long to wait (a timed-out request).
#[derive(IntoResponses)]
#[response(
    status = 503,
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait before retrying, when known"))
)]
pub struct ProblemUnavailable(Problem);

/// The body is larger than the limit (64 KiB).
#[derive(IntoResponses)]
#[response(status = 413, content_type = "application/problem+json")]
pub struct ProblemPayloadTooLarge(Problem);

/// A signed webhook body already received under other events: the events header is not
/// signed, so this is someone re-labelling a captured delivery. Nothing is done.
#[derive(IntoResponses)]
#[response(status = 409, content_type = "application/problem+json")]
pub struct ProblemConflict(Problem);

/// A signed webhook delivery whose event names disagree with its payload (another user or
/// session, or no concrete name for a revocation). Nothing is done.
#[derive(IntoResponses)]
#[response(status = 422, content_type = "application/problem+json")]
pub struct ProblemUnprocessable(Problem);
