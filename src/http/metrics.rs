//! `GET /metrics`: the Prometheus text exposition of the app's registry, including the HTTP
//! request metrics (`super::request_metrics`).
//!
//! `/metrics` is served on the main listener, or — when `TOKENMINT_METRICS_LISTEN` is set —
//! only on that address ([`metrics_router`]), so it need not be exposed with the API.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::envelope::EnvelopeLayer;
use super::error;
use super::family::ErrorFamily;
use super::request_metrics::HttpMetrics;
use super::state::AppState;
use crate::prometheus::CONTENT_TYPE;

/// The path of the metrics endpoint.
pub const METRICS_PATH: &str = "/metrics";

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    description = "The Prometheus text exposition format. Served on `TOKENMINT_METRICS_LISTEN` \
        instead (and 404 here) when that is set. No label carries a user id, session id, \
        token or IP address.",
    responses((
        status = 200,
        description = "Every metric, in the text exposition format",
        content_type = "text/plain",
        body = String
    )),
)]
pub async fn get_metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render();
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The router of the separate metrics listener: `/metrics`, and 404 problem JSON for
/// anything else.
pub fn metrics_router(state: AppState) -> Router {
    let tracking = Arc::new(HttpMetrics::new(
        Arc::clone(&state.metrics),
        &[METRICS_PATH],
    ));
    let handler =
        get(get_metrics).fallback(|| async { error::method_not_allowed(ErrorFamily::Problem) });
    Router::new()
        .route(METRICS_PATH, handler)
        .fallback(error::not_found)
        .layer(EnvelopeLayer::new(
            &state.config.trusted_proxies,
            state.config.client_ip_header,
            tracking,
        ))
        .with_state(state)
}
