//! The HTTP adapter: routes, middleware and the mapping of domain results to responses.
//! Handlers extract, call the domain, and map; they hold no business rules and no SQL.

mod admin;
mod auth;
pub mod client_ip;
mod cors;
mod docs;
mod envelope;
mod error;
mod extract;
mod feed;
mod forwarded;
mod health;
mod me;
mod metrics;
mod oauth;
mod openapi;
mod rate_limit;
mod views;
mod webhooks;
mod wellknown;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, Method};
use axum::routing::{MethodRouter, delete, get, post};
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::admin_keys::AdminKeys;
use crate::domain::availability::AvailabilityWatch;
use crate::domain::feed::RevocationFeed;
use crate::domain::grants::TokenService;
use crate::domain::keys::{KeyManager, KeyRing};
use crate::domain::ports::Store;
use crate::domain::session_admin::SessionAdmin;
use crate::domain::webhook::WebhookHandler;
use crate::ratelimit::RateLimits;

use self::envelope::EnvelopeLayer;
pub use self::metrics::{METRICS_PATH, metrics_router};
pub use error::{OAuthError, Problem};
pub use extract::decode_oauth_body;
pub use health::Draining;

/// Largest request body accepted. Token requests are a few hundred bytes and Appwrite's
/// webhook payloads a few kilobytes; anything near this limit is not a legitimate request.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A request taking longer than this is answered 503: a safety net behind the tighter
/// timeouts on the database (3 s to get a connection) and Appwrite (5 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler can reach: [`Services`] behind one `Arc`, so that handing it to a handler
/// (axum clones the state for every request) is one reference-count increment.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    /// The state over `services`.
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services of the HTTP layer.
pub struct Services {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Persistent state.
    pub store: Arc<dyn Store>,
    /// The live signing and published keys.
    pub keys: KeyRing,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// The token grants.
    pub tokens: TokenService,
    /// Admin keys.
    pub admin_keys: AdminKeys,
    /// Session administration.
    pub sessions: SessionAdmin,
    /// Signing-key management.
    pub key_manager: KeyManager,
    /// Appwrite webhook actions.
    pub webhooks: WebhookHandler,
    /// The revocation feed.
    pub feed: RevocationFeed,
    /// The rate limits; `rate_limits.counters()` are the refusals by kind, for metrics.
    pub rate_limits: Arc<RateLimits>,
    /// Set when shutdown begins: readiness fails from then on.
    pub draining: Draining,
    /// This replica's heartbeat: what readiness checks the database with.
    pub availability: AvailabilityWatch,
    /// This app's metrics registry.
    pub metrics: Arc<crate::prometheus::Metrics>,
}

/// The error format of a route: what its refusals look like, including 405 and malformed
/// paths or queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFamily {
    /// RFC 6749 §5.2 `{"error","error_description"}`: every `/oauth/*` route.
    OAuth,
    /// RFC 9457 `application/problem+json`: everything else.
    Problem,
}

impl ErrorFamily {
    fn of(path: &str) -> Self {
        if path.starts_with("/oauth/") {
            Self::OAuth
        } else {
            Self::Problem
        }
    }
}

/// One route of the API.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its method.
    pub method: Method,
    /// Its path, with `{name}` for path parameters.
    pub path: &'static str,
    /// How it answers errors.
    pub family: ErrorFamily,
    /// Whether browsers on `TOKENMINT_CORS_ORIGINS` may call it: only the OAuth and well-known
    /// endpoints, never the admin API.
    pub cors: bool,
}

/// Every route: the one table [`router`] is built from, so tests (and tools) that go over
/// [`endpoints`] always see exactly what is served.
fn routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::GET, "/openapi.json", get(openapi::get_openapi)),
        (Method::GET, "/docs", get(docs::get_docs)),
        (Method::GET, "/docs/", get(docs::get_docs_page)),
        // The page's scripts, style sheets and icons: not API operations, so not in the
        // OpenAPI document (the `openapi` test lists this route as the one exception).
        (Method::GET, "/docs/{*asset}", get(docs::get_docs_asset)),
        (
            Method::GET,
            "/.well-known/jwks.json",
            get(wellknown::get_jwks),
        ),
        (
            Method::GET,
            "/.well-known/openid-configuration",
            get(wellknown::get_discovery),
        ),
        (
            Method::GET,
            "/.well-known/oauth-authorization-server",
            get(wellknown::get_discovery),
        ),
        (Method::POST, "/oauth/token", post(oauth::issue_token)),
        (Method::POST, "/oauth/revoke", post(oauth::revoke_token)),
        (
            Method::POST,
            "/oauth/introspect",
            post(oauth::introspect_token),
        ),
        (Method::GET, "/v1/me/sessions", get(me::list_my_sessions)),
        (
            Method::DELETE,
            "/v1/me/sessions/{id}",
            delete(me::revoke_my_session),
        ),
        (Method::GET, "/v1/revocations", get(feed::get_revocations)),
        (
            Method::POST,
            "/webhooks/appwrite",
            post(webhooks::receive_appwrite_webhook),
        ),
        (
            Method::GET,
            "/admin/v1/users/{user_id}/sessions",
            get(admin::list_user_sessions),
        ),
        (
            Method::DELETE,
            "/admin/v1/users/{user_id}/sessions",
            delete(admin::revoke_user_sessions),
        ),
        (
            Method::GET,
            "/admin/v1/sessions/{id}",
            get(admin::get_session),
        ),
        (
            Method::DELETE,
            "/admin/v1/sessions/{id}",
            delete(admin::revoke_session),
        ),
        (Method::GET, "/admin/v1/keys", get(admin::list_keys)),
        (
            Method::POST,
            "/admin/v1/keys/rotate",
            post(admin::rotate_keys),
        ),
        (
            Method::GET,
            "/admin/v1/audit",
            get(admin::list_audit_events),
        ),
        (Method::GET, "/healthz", get(health::get_health)),
        (Method::GET, "/readyz", get(health::get_readiness)),
        (Method::GET, METRICS_PATH, get(metrics::get_metrics)),
    ]
}

/// Every route the router serves.
pub fn endpoints() -> Vec<Endpoint> {
    routes()
        .into_iter()
        .map(|(method, path, _)| Endpoint {
            method,
            path,
            family: ErrorFamily::of(path),
            cors: exposed_to_browsers(path),
        })
        .collect()
}

fn exposed_to_browsers(path: &str) -> bool {
    path.starts_with("/oauth/") || path.starts_with("/.well-known/")
}

/// The whole HTTP API with its middleware: request ids (set or kept, and echoed), a trace span
/// per request carrying that id, a timeout, and a body-size limit; CORS on the public OAuth
/// and well-known routes when origins are configured; a 405 in the route's own error format.
/// The client IP is resolved once per request (`client_ip`); the OAuth endpoints and the
/// webhook are rate limited by it (`rate_limit`).
/// Request metrics for every answer; `/metrics` itself only without `TOKENMINT_METRICS_LISTEN`
/// (see [`metrics_router`]).
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
    let tracking = Arc::new(metrics::HttpMetrics::new(
        Arc::clone(&state.metrics),
        &paths,
    ));
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
