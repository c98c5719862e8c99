//! Where the per-IP limits of `crate::limiter` apply, and what a refused client sees: 429
//! with `Retry-After` (whole seconds, at least 1), as `slow_down` RFC 6749 JSON on `/oauth/*`
//! and problem JSON elsewhere. The per-user exchange limit is the domain's (it answers
//! `TokenError::SlowDown`); the per-admin-key limit is checked by the `AdminKey` extractor once
//! the key is authenticated (`auth`).
//!
//! A refused request is answered before its body is read or its handler runs: a rate-limited
//! refresh changes nothing, and its refresh token stays usable.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::client_ip::ClientIp;
use super::error::{OAuthError, Problem};
use crate::limiter::{IpScope, RateLimits};

/// The per-IP bucket of a route, if it has one.
pub fn ip_scope(path: &str) -> Option<IpScope> {
    match path {
        "/oauth/token" | "/oauth/revoke" | "/oauth/introspect" => Some(IpScope::OAuth),
        "/webhooks/appwrite" => Some(IpScope::Webhook),
        _ => None,
    }
}

/// Route layer: counts each request against its client's bucket in `scope`, or refuses it.
/// A plain tower layer rather than `axum::middleware::from_fn`, which would clone its state and
/// box a future on every request of the hottest routes (see `super::envelope`).
#[derive(Clone)]
pub struct IpRateLimitLayer {
    limits: Arc<RateLimits>,
    scope: IpScope,
}

impl IpRateLimitLayer {
    /// Limits by client IP in `scope` of `limits`.
    pub fn new(limits: Arc<RateLimits>, scope: IpScope) -> Self {
        Self { limits, scope }
    }
}

impl<S> Layer<S> for IpRateLimitLayer {
    type Service = IpRateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IpRateLimit {
            inner,
            layer: self.clone(),
        }
    }
}

/// A route behind [`IpRateLimitLayer`].
#[derive(Clone)]
pub struct IpRateLimit<S> {
    inner: S,
    layer: IpRateLimitLayer,
}

impl<S> Service<Request> for IpRateLimit<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = RateLimited<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let IpRateLimitLayer { limits, scope } = &self.layer;
        if let Some(&ClientIp(client)) = request.extensions().get::<ClientIp>()
            && let Err(limited) = limits.check_ip(*scope, client)
        {
            tracing::debug!(?scope, "rate limited by client IP");
            let refusal = match scope {
                IpScope::OAuth => OAuthError::slow_down(limited.retry_after).into_response(),
                IpScope::Webhook => too_many_requests(limited.retry_after).into_response(),
            };
            return RateLimited::Refused {
                refusal: Some(refusal),
            };
        }
        RateLimited::Admitted {
            answer: self.inner.call(request),
        }
    }
}

pin_project! {
    /// The answer of a rate-limited route: its refusal, or the route's own answer.
    #[project = RateLimitedProjection]
    pub enum RateLimited<F> {
        /// Refused before the route ran; taken on the first poll.
        Refused { refusal: Option<Response> },
        /// Admitted: the route's answer.
        Admitted { #[pin] answer: F },
    }
}

impl<F> Future for RateLimited<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            // Polled again after it answered: a bug of the caller's, which hyper never has.
            RateLimitedProjection::Refused { refusal } => Poll::Ready(Ok(refusal
                .take()
                .unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response()))),
            RateLimitedProjection::Admitted { answer } => answer.poll(cx),
        }
    }
}

/// 429 problem JSON with `Retry-After`.
pub fn too_many_requests(retry_after: u64) -> Problem {
    Problem::new(StatusCode::TOO_MANY_REQUESTS)
        .with_detail("too many requests; retry later")
        .with_retry_after(retry_after)
}
