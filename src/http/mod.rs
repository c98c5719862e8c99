//! The HTTP adapter: routes, middleware and the mapping of domain results to responses.
//! Handlers extract, call the domain, and map; they hold no business rules and no SQL.

mod admin;
mod auth;
mod error;
mod extract;
mod feed;
mod health;
mod me;
mod oauth;
mod views;
mod webhooks;
mod wellknown;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, StatusCode};
use axum::routing::{delete, get, post};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::admin_keys::AdminKeys;
use crate::domain::feed::RevocationFeed;
use crate::domain::grants::TokenService;
use crate::domain::keys::{KeyManager, KeyRing};
use crate::domain::ports::Store;
use crate::domain::session_admin::SessionAdmin;
use crate::domain::webhook::WebhookHandler;

pub use error::{OAuthError, Problem};

/// Largest request body accepted. Token requests are a few hundred bytes and Appwrite's
/// webhook payloads a few kilobytes; anything near this limit is not a legitimate request.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A request taking longer than this is answered 503: a safety net behind the tighter
/// timeouts on the database (3 s to get a connection) and Appwrite (5 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
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
}

/// The whole HTTP API with its middleware: request ids (set or kept, and echoed), a trace span
/// per request carrying that id, a timeout, and a body-size limit.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/.well-known/jwks.json", get(wellknown::get_jwks))
        .route(
            "/.well-known/openid-configuration",
            get(wellknown::get_discovery),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(wellknown::get_discovery),
        )
        .route("/oauth/token", post(oauth::issue_token))
        .route("/oauth/revoke", post(oauth::revoke_token))
        .route("/oauth/introspect", post(oauth::introspect_token))
        .route("/v1/me/sessions", get(me::list_my_sessions))
        .route("/v1/me/sessions/{id}", delete(me::revoke_my_session))
        .route("/v1/revocations", get(feed::get_revocations))
        .route(
            "/webhooks/appwrite",
            post(webhooks::receive_appwrite_webhook),
        )
        .route(
            "/admin/v1/users/{user_id}/sessions",
            get(admin::list_user_sessions).delete(admin::revoke_user_sessions),
        )
        .route(
            "/admin/v1/sessions/{id}",
            get(admin::get_session).delete(admin::revoke_session),
        )
        .route("/admin/v1/keys", get(admin::list_keys))
        .route("/admin/v1/keys/rotate", post(admin::rotate_keys))
        .route("/admin/v1/audit", get(admin::list_audit_events))
        .route("/healthz", get(health::get_health))
        .route("/readyz", get(health::get_readiness))
        .fallback(error::not_found)
        .with_state(state);
    routes.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                REQUEST_TIMEOUT,
            ))
            .layer(DefaultBodyLimit::max(BODY_LIMIT)),
    )
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
