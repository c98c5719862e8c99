//! Opt-in CORS (`TOKENMINT_CORS_ORIGINS`): browsers on the listed origins may call the OAuth
//! and well-known endpoints — read token answers and errors, send preflights — and nothing
//! else. No credentials are allowed (the OAuth endpoints take none from cookies), and without
//! configured origins no CORS header is ever sent.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The layer for the configured origins (validated by `config`); `None` when there are none.
pub fn layer(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}
