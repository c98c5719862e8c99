//! Error responses. The admin API and generic HTTP errors use RFC 9457 problem details; OAuth
//! endpoints (added with the token grants) use RFC 6749 §5.2 error JSON. This module is the
//! only place errors become HTTP responses.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::family::ErrorFamily;
use crate::domain::error::TokenError;
use crate::domain::ports::StoreError;

/// An RFC 9457 problem: `{"type","title","status","detail"}` as `application/problem+json`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "about:blank", "title": "Not Found", "status": 404, "detail": "no such session"
}))]
pub struct Problem {
    /// Always `about:blank`: the status says what went wrong.
    #[serde(rename = "type")]
    kind: &'static str,
    /// The status's reason phrase.
    title: &'static str,
    /// The HTTP status code.
    status: u16,
    /// A human-readable explanation. Never an internal detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip)]
    www_authenticate: Option<&'static str>,
    #[serde(skip)]
    retry_after: Option<u64>,
}

impl Problem {
    /// A problem with the generic `about:blank` type, titled by its status.
    pub fn new(status: StatusCode) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: None,
            www_authenticate: None,
            retry_after: None,
        }
    }

    /// Adds `Retry-After` (seconds).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 401 with a `WWW-Authenticate: Bearer …` challenge (RFC 6750 §3).
    pub fn unauthorized(challenge: &'static str, detail: &str) -> Self {
        let mut problem = Self::new(StatusCode::UNAUTHORIZED).with_detail(detail);
        problem.www_authenticate = Some(challenge);
        problem
    }

    /// 500, logging the cause; the client learns nothing of it.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %cause, source = ?cause.source(), "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR).with_detail("internal error")
    }

    /// Adds a human-readable explanation. It must never carry internal details.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let challenge = self.www_authenticate;
        let retry_after = self.retry_after;
        let mut response = (status, Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        if let Some(challenge) = challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static(challenge),
            );
        }
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

/// Any path that is not routed.
pub async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND).with_detail("no such endpoint")
}

/// A request that took longer than the server's timeout: 503 with `Retry-After`.
pub fn timed_out(family: ErrorFamily) -> Response {
    const RETRY_AFTER: u64 = 5;
    match family {
        ErrorFamily::OAuth => OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the request took too long; retry later",
        )
        .retry_after(RETRY_AFTER)
        .into_response(),
        ErrorFamily::Problem => Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail("the request took too long; retry later")
            .with_retry_after(RETRY_AFTER)
            .into_response(),
    }
}

/// A routed path called with a method it does not serve: 405 in the route's format (axum adds
/// the `Allow` header).
pub fn method_not_allowed(family: ErrorFamily) -> Response {
    match family {
        ErrorFamily::OAuth => OAuthError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "this endpoint does not serve that method",
        )
        .into_response(),
        ErrorFamily::Problem => Problem::new(StatusCode::METHOD_NOT_ALLOWED)
            .with_detail("this endpoint does not serve that method")
            .into_response(),
    }
}

/// An RFC 6749 §5.2 error: `{"error","error_description"}`, never cached.
#[derive(Debug, Clone)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 400 `unsupported_grant_type`.
    pub fn unsupported_grant_type() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type is not supported",
        )
    }

    fn server_error(description: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            description,
        )
    }

    fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl From<StoreError> for Problem {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) | StoreError::Busy(_) | StoreError::Conflict(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE)
                    .with_detail("the database is temporarily unavailable")
                    .with_retry_after(crate::domain::error::DATABASE_RETRY_AFTER)
            }
            other => Self::internal(&other),
        }
    }
}

impl From<TokenError> for Problem {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Store(store) => store.into(),
            TokenError::TemporarilyUnavailable { retry_after, .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE)
                    .with_detail("temporarily unavailable")
                    .with_retry_after(retry_after)
            }
            TokenError::NoSigningKey => Self::new(StatusCode::SERVICE_UNAVAILABLE)
                .with_detail("temporarily unavailable")
                .with_retry_after(5),
            other => Self::internal(&other),
        }
    }
}

impl OAuthError {
    /// 429 `slow_down` with `Retry-After`.
    pub fn slow_down(retry_after: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            "too many requests; retry later",
        )
        .retry_after(retry_after)
    }

    /// 401 `invalid_client` with a Bearer challenge: a protected OAuth endpoint without valid
    /// credentials (RFC 7662 §2.1).
    pub fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "a valid admin or introspect key is required",
        )
    }
}

impl From<TokenError> for OAuthError {
    fn from(err: TokenError) -> Self {
        let bad_request = StatusCode::BAD_REQUEST;
        match err {
            TokenError::InvalidRequest(d) => Self::new(bad_request, "invalid_request", d),
            TokenError::InvalidGrant(reason) => {
                Self::new(bad_request, "invalid_grant", reason.description())
            }
            TokenError::InvalidScope(d) => Self::new(bad_request, "invalid_scope", d),
            TokenError::InvalidTarget(d) => Self::new(bad_request, "invalid_target", d),
            TokenError::UnsupportedGrantType => Self::unsupported_grant_type(),
            TokenError::ExchangeNotConfigured => {
                Self::server_error("token exchange is not configured")
            }
            TokenError::SlowDown { retry_after } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                "too many requests; retry later",
            )
            .retry_after(retry_after),
            ref unavailable @ TokenError::TemporarilyUnavailable { retry_after, .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                unavailable.to_string(),
            )
            .retry_after(retry_after),
            TokenError::NoSigningKey => {
                tracing::error!("no active signing key: cannot issue tokens");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "tokens cannot be issued right now",
                )
                .retry_after(5)
            }
            TokenError::UpstreamMisconfigured => Self::server_error("the server is misconfigured"),
            internal @ (TokenError::Store(_) | TokenError::Crypto(_)) => {
                tracing::error!(error = ?internal, "token request failed");
                Self::server_error("internal error")
            }
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::debug!(error = self.error, description = %self.description, "OAuth request refused");
        }
        let body =
            serde_json::json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        headers.insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
        if self.error == "invalid_client" {
            headers.insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"tokenmint\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::error::InvalidGrantReason;

    /// Metrics label a grant's outcome with `TokenError::error_code`: it must be the code
    /// the client was answered.
    #[test]
    fn the_answered_code_is_the_error_code() {
        let errors = || {
            vec![
                TokenError::invalid_request("x"),
                TokenError::invalid_grant(InvalidGrantReason::ClientMismatch),
                TokenError::InvalidScope("x".into()),
                TokenError::InvalidTarget("x".into()),
                TokenError::UnsupportedGrantType,
                TokenError::ExchangeNotConfigured,
                TokenError::UpstreamMisconfigured,
                TokenError::TemporarilyUnavailable {
                    what: "x",
                    retry_after: 1,
                },
                TokenError::SlowDown { retry_after: 1 },
                TokenError::Store(StoreError::Corrupt("x".into())),
                TokenError::Crypto(crate::crypto::CryptoError),
                TokenError::NoSigningKey,
            ]
        };
        for (error, code) in errors()
            .into_iter()
            .zip(errors().iter().map(TokenError::error_code))
        {
            assert_eq!(OAuthError::from(error).error, code);
        }
    }

    #[test]
    fn refresh_token_reasons_read_alike_to_clients() {
        let answer = |reason| OAuthError::from(TokenError::invalid_grant(reason)).description;
        assert_eq!(
            answer(InvalidGrantReason::UnknownToken),
            answer(InvalidGrantReason::TokenReuse)
        );
        assert_eq!(
            answer(InvalidGrantReason::UnknownToken),
            answer(InvalidGrantReason::SessionEnded)
        );
        assert_eq!(
            answer(InvalidGrantReason::UnknownToken),
            answer(InvalidGrantReason::ForgedToken)
        );
    }
}
