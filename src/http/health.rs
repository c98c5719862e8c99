//! Liveness (`/healthz`: the process serves) and readiness (`/readyz`: it can do its job —
//! the database answers and a signing key is loaded).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::openapi::schemas::{Health, Readiness};

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

/// `GET /readyz`: 200 when ready, 503 with the failing checks otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness: the database answers and a signing key is loaded",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready; `checks` says why", body = Readiness),
    ),
)]
pub async fn get_readiness(State(state): State<AppState>) -> Response {
    let database = match tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => "ok",
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: database check failed");
            "unavailable"
        }
        Err(_) => "timeout",
    };
    let signing_key = if state.keys.current().active().is_some() {
        "ok"
    } else {
        "missing"
    };
    let ready = database == "ok" && signing_key == "ok";
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
