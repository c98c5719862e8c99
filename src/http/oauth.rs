//! `POST /oauth/token` (token exchange, refresh) and `POST /oauth/revoke`: parse, call the
//! token service, map the result.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::auth::{AdminKeyRejection, AnyAdminKey};
use super::error::OAuthError;
use super::extract::OAuthParams;
use super::openapi::errors::{
    OAuthBadRequest, OAuthServerError, OAuthTooManyRequests, OAuthUnauthorized, OAuthUnavailable,
};
use super::openapi::schemas::{
    AccessTokenType, IntrospectionRequest, IntrospectionResponse, RevocationRequest, TokenRequest,
};
use super::state::AppState;
use super::wellknown::TOKEN_EXCHANGE_GRANT;
use crate::domain::error::TokenError;
use crate::domain::exchange::ExchangeRequest;
use crate::domain::grants::IssuedTokens;
use crate::domain::refresh::RefreshRequest;
use crate::domain::revoke::RevokeRequest;

/// RFC 8693 §3: the type of the issued token.
const ACCESS_TOKEN_TYPE_URI: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A successful token response (RFC 6749 §5.1), sent with `Cache-Control: no-store`.
#[derive(Serialize, utoipa::ToSchema)]
struct TokenResponse {
    /// The access JWT (`typ: at+jwt`, RFC 9068).
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
    /// The new refresh token (`tmr_…`); the one presented, if any, is now used.
    refresh_token: String,
    /// The granted scope, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// On token exchange only (RFC 8693 §2.2.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<AccessTokenType>)]
    issued_token_type: Option<&'static str>,
}

/// `POST /oauth/token`.
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "oauth",
    summary = "Exchange an Appwrite login for tokens, or refresh them",
    description = "RFC 8693 token exchange (the Appwrite proof is checked with Appwrite once) or \
        RFC 6749 §6 refresh (rotates the refresh token; a used refresh token presented again \
        within the grace window gets the same successor, and after it revokes the whole \
        session).",
    request_body(content(
        (TokenRequest = "application/x-www-form-urlencoded"),
        (TokenRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse),
        OAuthBadRequest, OAuthTooManyRequests, OAuthServerError, OAuthUnavailable,
    ),
)]
pub async fn issue_token(
    State(state): State<AppState>,
    mut params: OAuthParams,
) -> Result<Response, OAuthError> {
    let context = std::mem::take(&mut params.context);
    let (tokens, issued_token_type) = match params.take("grant_type").as_deref() {
        Some(TOKEN_EXCHANGE_GRANT) => {
            let request = ExchangeRequest {
                subject_token: params.take("subject_token"),
                subject_token_type: params.take("subject_token_type"),
                audience: params.take("audience"),
                scope: params.take("scope"),
                client_id: params.take("client_id"),
                device_name: params.take("device_name"),
                requested_token_type: params.take("requested_token_type"),
                context,
            };
            // Boxed: the exchange's future (an Appwrite call) is large, and inline it would
            // make every refresh's handler future, which axum moves to the heap, as large.
            (
                Box::pin(state.tokens.exchange(request)).await?,
                Some(ACCESS_TOKEN_TYPE_URI),
            )
        }
        Some("refresh_token") => {
            let request = RefreshRequest {
                refresh_token: params.take("refresh_token"),
                scope: params.take("scope"),
                client_id: params.take("client_id"),
                context,
            };
            (state.tokens.refresh(request).await?, None)
        }
        Some(_) => return Err(OAuthError::unsupported_grant_type()),
        None => return Err(OAuthError::invalid_request("grant_type is required")),
    };
    Ok(no_store(Json(token_response(tokens, issued_token_type))))
}

fn token_response(tokens: IssuedTokens, issued_token_type: Option<&'static str>) -> TokenResponse {
    TokenResponse {
        access_token: tokens.access_token,
        token_type: "Bearer",
        expires_in: tokens.expires_in,
        refresh_token: tokens.refresh_token.expose().to_owned(),
        scope: tokens.scope,
        issued_token_type,
    }
}

/// `POST /oauth/revoke` (RFC 7009): 200 with an empty body, whether or not the token existed.
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    tag = "oauth",
    summary = "Revoke a token's whole session (RFC 7009)",
    description = "A refresh or access token. Answers 200 whether or not the token existed \
        (RFC 7009 §2.2).",
    request_body(content(
        (RevocationRequest = "application/x-www-form-urlencoded"),
        (RevocationRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke; empty body"),
        OAuthBadRequest, OAuthTooManyRequests, OAuthUnavailable,
    ),
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    mut params: OAuthParams,
) -> Result<Response, OAuthError> {
    let request = RevokeRequest {
        token: params.take("token"),
        token_type_hint: params.take("token_type_hint"),
        context: std::mem::take(&mut params.context),
    };
    state.tokens.revoke(request).await?;
    Ok(no_store(StatusCode::OK))
}

fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `POST /oauth/introspect` (RFC 7662), for holders of an `admin` or `introspect` key:
/// `{"active": false}` for anything not currently valid, with no reason given.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    tag = "oauth",
    summary = "Introspect an access or refresh token (RFC 7662)",
    description = "For holders of an admin key with the `admin` or `introspect` role. \
        `{\"active\": false}` for anything not currently valid, with no reason given.",
    request_body(content(
        (IntrospectionRequest = "application/x-www-form-urlencoded"),
        (IntrospectionRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "The token's state", body = IntrospectionResponse),
        OAuthBadRequest, OAuthUnauthorized, OAuthTooManyRequests, OAuthUnavailable,
    ),
    security(("admin_key" = [])),
)]
pub async fn introspect_token(
    State(state): State<AppState>,
    caller: Result<AnyAdminKey, AdminKeyRejection>,
    mut params: OAuthParams,
) -> Result<Response, OAuthError> {
    let caller = match caller {
        Ok(AnyAdminKey(caller)) if caller.role.may_introspect() => caller,
        // A `feed` key reads the revocation feed only.
        Ok(AnyAdminKey(_)) => return Err(OAuthError::invalid_client()),
        Err(
            AdminKeyRejection::Throttled(retry_after) | AdminKeyRejection::RateLimited(retry_after),
        ) => {
            return Err(OAuthError::slow_down(retry_after));
        }
        Err(AdminKeyRejection::Store(err)) => return Err(TokenError::from(err).into()),
        Err(AdminKeyRejection::Invalid(_) | AdminKeyRejection::Forbidden) => {
            return Err(OAuthError::invalid_client());
        }
    };
    tracing::debug!(admin_key = %caller.key_id, "introspection");
    let token = params
        .take("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let body = match state.tokens.introspect(&token).await? {
        None => serde_json::json!({ "active": false }),
        Some(active) => serde_json::json!({
            "active": true,
            "token_type": active.token_type,
            "sub": active.sub,
            "aud": active.aud,
            "iss": active.iss,
            "exp": active.exp,
            "iat": active.iat,
            "client_id": active.client_id,
            "scope": active.scope,
            "sid": active.sid,
            "jti": active.jti,
        }),
    };
    Ok(no_store(Json(strip_nulls(body))))
}

/// RFC 7662 members are optional: absent rather than null.
fn strip_nulls(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(object) = value.as_object_mut() {
        object.retain(|_, v| !v.is_null());
    }
    value
}
