//! The whole HTTP API as one router: the route table with its per-route layers, inside the
//! middleware every request goes through.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::HeaderName;
use axum::routing::MethodRouter;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use super::envelope::EnvelopeLayer;
use super::family::ErrorFamily;
use super::limits::BODY_LIMIT;
use super::metrics::METRICS_PATH;
use super::request_metrics::HttpMetrics;
use super::routes::{exposed_to_browsers, routes};
use super::state::AppState;
use super::{cors, error, rate_limit};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP API with its middleware: request ids (set or kept, and echoed), a trace span
/// per request carrying that id, a timeout, and a body-size limit; CORS on the public OAuth
/// and well-known routes when origins are configured; a 405 in the route's own error format.
/// The client IP is resolved once per request (`client_ip`); the OAuth endpoints and the
/// webhook are rate limited by it (`rate_limit`).
/// Request metrics for every answer; `/metrics` itself only without `TOKENMINT_METRICS_LISTEN`
/// (see [`metrics_router`](super::metrics::metrics_router)).
pub fn router(state: AppState) -> Router {
    let cors = cors::layer(&state.config.cors_origins);
    let separate_metrics = state.config.metrics_listen.is_some();
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for (_, path, handler) in routes() {
        if separate_metrics && path == METRICS_PATH {
            continue;
        }
        match by_path.iter_mut().find(|(p, _)| *p == path) {
            Some((_, routed)) => *routed = std::mem::take(routed).merge(handler),
            None => by_path.push((path, handler)),
        }
    }
    let paths: Vec<&'static str> = by_path.iter().map(|(path, _)| *path).collect();
    let tracking = Arc::new(HttpMetrics::new(Arc::clone(&state.metrics), &paths));
    let mut routes = Router::new();
    for (path, handler) in by_path {
        let family = ErrorFamily::of(path);
        let handler = handler.fallback(move || async move { error::method_not_allowed(family) });
        let handler = match rate_limit::ip_scope(path) {
            Some(scope) => handler.layer(rate_limit::IpRateLimitLayer::new(
                Arc::clone(&state.rate_limits),
                scope,
            )),
            None => handler,
        };
        let handler = match &cors {
            Some(cors) if exposed_to_browsers(path) => handler.layer(cors.clone()),
            _ => handler,
        };
        routes = routes.route(path, handler);
    }
    let envelope = EnvelopeLayer::new(
        &state.config.trusted_proxies,
        state.config.client_ip_header,
        tracking,
    );
    routes.fallback(error::not_found).with_state(state).layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                    // A 5xx is logged where it is understood: 500s at ERROR with their cause
                    // (`error.rs`), an outage's 503s at WARN by the domain. Not once more here.
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(envelope)
            .layer(DefaultBodyLimit::max(BODY_LIMIT)),
    )
}

/// Request ids: UUIDv4 from aws-lc's generator (tower-http's `MakeRequestUuid` asks the kernel
/// through `getrandom` on every request).
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = crate::crypto::uuid_v4().ok()?;
        let text = id
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer())
            .to_owned();
        axum::http::HeaderValue::from_str(&text)
            .ok()
            .map(RequestId::new)
    }
}

/// The span of one request. Only the matched route is recorded, never the raw URI, whose
/// query string could carry a token.
fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!("request", method = %request.method(), route, request_id)
}
