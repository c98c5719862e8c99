//! Error responses. The admin API and generic HTTP errors use RFC 9457 problem details; OAuth
//! endpoints (added with the token grants) use RFC 6749 §5.2 error JSON. This module is the
//! only place errors become HTTP responses.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An RFC 9457 problem: `{"type","title","status","detail"}` as `application/problem+json`.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl Problem {
    /// A problem with the generic `about:blank` type, titled by its status.
    pub fn new(status: StatusCode) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: None,
        }
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
        let mut response = (status, Json(self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// Any path that is not routed.
pub async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND).with_detail("no such endpoint")
}
