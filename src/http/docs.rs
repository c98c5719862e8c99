//! `GET /docs`: the human API documentation, Swagger UI over `/openapi.json`. Its assets are
//! compiled into the binary (utoipa-swagger-ui's vendored Swagger UI, from a crates.io crate),
//! and a Content-Security-Policy keeps the page to this server: nothing comes from a CDN.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use utoipa_swagger_ui::Config;

use super::error::Problem;
use super::extract::PathParams;

/// The page may load only what this server serves. Swagger UI sets inline styles, and shows
/// inline SVG images as `data:` URIs; it needs neither inline scripts nor `eval`.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
    form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The documentation page.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "operations",
    summary = "API documentation (redirects to `/docs/`)",
    description = "The page's assets are relative to `/docs/`, so `/docs` redirects there.",
    responses((
        status = 303,
        description = "See `/docs/`",
        headers(("Location" = String, description = "`docs/`"))
    )),
)]
pub async fn get_docs() -> Redirect {
    // Relative, so the redirect also works behind a reverse proxy that adds a path prefix.
    Redirect::to("docs/")
}

/// The documentation page itself: Swagger UI, loading `../openapi.json`.
#[utoipa::path(
    get,
    path = "/docs/",
    tag = "operations",
    summary = "API documentation (Swagger UI)",
    description = "A page rendered by the browser from `/openapi.json`; every asset it loads \
        is served by tokenmint under `/docs/`.",
    responses((status = 200, description = "The page", content_type = "text/html")),
)]
pub async fn get_docs_page() -> Response {
    asset("")
}

/// An asset of the documentation page (scripts, style sheets, icons).
pub async fn get_docs_asset(PathParams(path): PathParams<String>) -> Response {
    asset(&path)
}

fn asset(path: &str) -> Response {
    // Relative to the page (`/docs/`), for the same reason as the redirect. The base layout
    // has no "explore any URL" bar, and no validator badge (which would call swagger.io).
    let config = Config::new(["../openapi.json"])
        .use_base_layout()
        .validator_url("none");
    match utoipa_swagger_ui::serve(path, Arc::new(config)) {
        Ok(Some(file)) => {
            let body = match file.bytes {
                Cow::Borrowed(bytes) => Body::from(bytes),
                Cow::Owned(bytes) => Body::from(bytes),
            };
            let mut response = (StatusCode::OK, body).into_response();
            let headers = response.headers_mut();
            if let Ok(content_type) = HeaderValue::from_str(&file.content_type) {
                headers.insert(header::CONTENT_TYPE, content_type);
            }
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            response
        }
        Ok(None) => Problem::new(StatusCode::NOT_FOUND)
            .with_detail("no such documentation asset")
            .into_response(),
        Err(err) => Problem::internal(err.as_ref()).into_response(),
    }
}
