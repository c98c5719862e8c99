//! Where the per-IP limits of `crate::ratelimit` apply, and what a refused client sees: 429
//! with `Retry-After` (whole seconds, at least 1), as `slow_down` RFC 6749 JSON on `/oauth/*`
//! and problem JSON elsewhere. The per-user exchange limit is the domain's (it answers
//! `TokenError::SlowDown`); the per-admin-key limit is checked by the `AdminKey` extractor once
//! the key is authenticated (`auth`).
//!
//! A refused request is answered before its body is read or its handler runs: a rate-limited
//! refresh changes nothing, and its refresh token stays usable.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::client_ip::ClientIp;
use super::error::{OAuthError, Problem};
use crate::ratelimit::IpScope;

/// The per-IP bucket of a route, if it has one.
pub fn ip_scope(path: &str) -> Option<IpScope> {
    match path {
        "/oauth/token" | "/oauth/revoke" | "/oauth/introspect" => Some(IpScope::OAuth),
        "/webhooks/appwrite" => Some(IpScope::Webhook),
        _ => None,
    }
}

/// Route middleware: counts the request against its client's bucket in `scope`, or refuses it.
pub async fn limit_by_client_ip(
    State((state, scope)): State<(AppState, IpScope)>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(&ClientIp(client)) = request.extensions().get::<ClientIp>()
        && let Err(limited) = state.rate_limits.check_ip(scope, client)
    {
        tracing::debug!(?scope, "rate limited by client IP");
        return match scope {
            IpScope::OAuth => OAuthError::slow_down(limited.retry_after).into_response(),
            IpScope::Webhook => too_many_requests(limited.retry_after).into_response(),
        };
    }
    next.run(request).await
}

/// 429 problem JSON with `Retry-After`.
pub fn too_many_requests(retry_after: u64) -> Problem {
    Problem::new(StatusCode::TOO_MANY_REQUESTS)
        .with_detail("too many requests; retry later")
        .with_retry_after(retry_after)
}
