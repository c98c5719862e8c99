//! Published metadata: the JWKS (RFC 7517) and the discovery document (RFC 8414, served at
//! both the OAuth and the OpenID Connect well-known paths, since client libraries look at one
//! or the other).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::openapi::schemas::Jwks;
use super::state::AppState;

/// The token-exchange grant (RFC 8693 §2.1).
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// `GET /.well-known/jwks.json`: every published key, cacheable for `TOKENMINT_JWKS_MAX_AGE`,
/// with a strong `ETag` and `304 Not Modified` on a matching `If-None-Match`.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "well-known",
    summary = "The public signing keys (RFC 7517)",
    description = "Verify access tokens with these keys, pinning each key's `alg`. Cacheable \
        for `TOKENMINT_JWKS_MAX_AGE`; a matching `If-None-Match` is answered 304.",
    params((
        "If-None-Match" = Option<String>,
        Header,
        description = "An `ETag` from an earlier answer"
    )),
    responses(
        (status = 200, description = "The key set", body = Jwks, headers(
            ("ETag" = String, description = "Changes when the key set changes"),
            ("Cache-Control" = String, description = "`public, max-age=N`"),
        )),
        (status = 304, description = "The cached key set is current"),
    ),
)]
pub async fn get_jwks(State(state): State<AppState>, request_headers: HeaderMap) -> Response {
    let keys = state.keys.current();
    // The body and the tag are shared buffers rendered when the keys last changed: a JWKS
    // answer copies and allocates nothing of its own but the `Cache-Control` value.
    let etag = keys.jwks_etag();
    let not_modified =
        std::str::from_utf8(etag).is_ok_and(|etag| if_none_match_matches(&request_headers, etag));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Body::from(keys.jwks_json().clone()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_maybe_shared(etag.clone()) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from(CacheControl(state.config.jwks_max_age)),
    );
    response
}

/// RFC 9110 §13.1.2: `*` or any listed tag matches, compared weakly (a `W/` prefix on the
/// client's copy still names the same representation).
fn if_none_match_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// The RFC 8414 authorization server metadata.
#[derive(Serialize, utoipa::ToSchema)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    token_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    grant_types_supported: [&'static str; 2],
    token_endpoint_auth_methods_supported: [&'static str; 1],
    revocation_endpoint_auth_methods_supported: [&'static str; 1],
    /// tokenmint has no authorization endpoint, so it supports no response type; the member is
    /// REQUIRED by RFC 8414 §2, hence present and empty.
    response_types_supported: [&'static str; 0],
    subject_types_supported: [&'static str; 1],
    /// tokenmint issues no ID tokens; OpenID-minded libraries read this member to learn which
    /// algorithms the JWKS keys sign with, so it lists exactly those.
    id_token_signing_alg_values_supported: Vec<&'static str>,
    claims_supported: Vec<String>,
}

/// `GET /.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.
///
/// The OpenAPI document describes the second path with a copy of this operation (see
/// `http::openapi`): one handler carries one `#[utoipa::path]`.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    operation_id = "get_openid_configuration",
    tag = "well-known",
    summary = "Authorization server metadata (RFC 8414)",
    description = "Served at both `/.well-known/openid-configuration` and \
        `/.well-known/oauth-authorization-server`, since client libraries look at one or the \
        other.",
    responses((status = 200, description = "The metadata", body = Discovery)),
)]
pub async fn get_discovery(State(state): State<AppState>) -> Response {
    let config = &state.config;
    let mut claims_supported: Vec<String> = [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "jti",
        "client_id",
        "sid",
        "auth_time",
        "scope",
    ]
    .map(String::from)
    .to_vec();
    claims_supported.extend(config.claims.iter().cloned());
    let document = Discovery {
        issuer: config.issuer.clone(),
        jwks_uri: config.issuer_url("/.well-known/jwks.json"),
        token_endpoint: config.issuer_url("/oauth/token"),
        revocation_endpoint: config.issuer_url("/oauth/revoke"),
        introspection_endpoint: config.issuer_url("/oauth/introspect"),
        grant_types_supported: [TOKEN_EXCHANGE_GRANT, "refresh_token"],
        token_endpoint_auth_methods_supported: ["none"],
        revocation_endpoint_auth_methods_supported: ["none"],
        response_types_supported: [],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: state
            .keys
            .current()
            .algorithms()
            .into_iter()
            .map(|alg| alg.as_str())
            .collect(),
        claims_supported,
    };
    let mut response = Json(document).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from(CacheControl(config.jwks_max_age)),
    );
    response
}

/// `Cache-Control: public, max-age=N` for documents that change only with the keys.
struct CacheControl(std::time::Duration);

impl From<CacheControl> for HeaderValue {
    fn from(CacheControl(max_age): CacheControl) -> Self {
        let value = format!("public, max-age={}", max_age.as_secs());
        // Digits and ASCII letters only: always a valid header value.
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn if_none_match_follows_rfc_9110() {
        let etag = "\"abc\"";
        assert!(if_none_match_matches(&headers(&["\"abc\""]), etag));
        assert!(if_none_match_matches(&headers(&["W/\"abc\""]), etag));
        assert!(if_none_match_matches(&headers(&["\"x\", \"abc\""]), etag));
        assert!(if_none_match_matches(&headers(&["\"x\"", "\"abc\""]), etag));
        assert!(if_none_match_matches(&headers(&["*"]), etag));
        assert!(!if_none_match_matches(&headers(&["\"abcd\""]), etag));
        assert!(!if_none_match_matches(&headers(&["abc"]), etag));
        assert!(!if_none_match_matches(&headers(&[]), etag));
    }
}
