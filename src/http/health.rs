//! Liveness (`/healthz`: the process serves) and readiness (`/readyz`: it can do its job, as
//! `domain::readiness` checks, and it is not shutting down).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::openapi::schemas::{Health, Readiness};
use super::state::AppState;
use crate::domain::readiness::{self, DatabaseCheck};

/// A readiness probe must answer well within a load balancer's probe timeout.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness: the process serves",
    responses((status = 200, description = "Alive", body = Health)),
)]
pub async fn get_health() -> Response {
    no_store((StatusCode::OK, Json(json!({ "status": "ok" }))))
}

/// `GET /readyz`: 200 when ready; 503 with the failing checks otherwise, or at once with
/// `{"status":"draining"}` once shutdown has begun (no database round trip: a draining
/// replica is not coming back).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness: the database takes writes and a signing key is loaded",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready; `checks` says why", body = Readiness),
    ),
)]
pub async fn get_readiness(State(state): State<AppState>) -> Response {
    if state.draining.is_draining() {
        let body = json!({ "status": "draining", "checks": {} });
        return no_store((StatusCode::SERVICE_UNAVAILABLE, Json(body)));
    }
    let readiness = readiness::check(&state.availability, &state.keys, PING_TIMEOUT).await;
    let database = match readiness.database {
        DatabaseCheck::Ok => "ok",
        DatabaseCheck::Unavailable => "unavailable",
        DatabaseCheck::Timeout => "timeout",
    };
    let signing_key = if readiness.signing_key {
        "ok"
    } else {
        "missing"
    };
    let ready = readiness.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": { "database": database, "signing_key": signing_key },
    });
    no_store((status, Json(body)))
}

fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
