//! The route table: every path, its method and handler, and what the API says about each
//! (its error format, whether browsers may call it).

use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, post};

use super::family::ErrorFamily;
use super::metrics::METRICS_PATH;
use super::state::AppState;
use super::{admin, docs, feed, health, me, metrics, oauth, openapi, webhooks, wellknown};

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

/// Every route: the one table [`router`](super::router()) is built from, so tests (and tools) that go over
/// [`endpoints`] always see exactly what is served.
pub(super) fn routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
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

/// Whether CORS applies to `path`.
pub(super) fn exposed_to_browsers(path: &str) -> bool {
    path.starts_with("/oauth/") || path.starts_with("/.well-known/")
}
