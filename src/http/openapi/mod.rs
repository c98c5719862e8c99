//! `GET /openapi.json`: the OpenAPI 3.1 document of the HTTP API, generated from the
//! `#[utoipa::path]` annotations on the handlers and the schemas of their request and
//! response types. The `openapi` integration test keeps it honest: its operations must be
//! exactly the routes of [`super::routes::endpoints`], and real responses must match its schemas.

pub mod errors;
pub mod schemas;

use axum::Json;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, docs, feed, health, me, oauth, views, webhooks, wellknown};

const DESCRIPTION: &str = "\
tokenmint exchanges an Appwrite session for its own short-lived access JWTs and rotating \
refresh tokens. Microservices verify access tokens locally against the JWKS.

Errors: `/oauth/*` answers RFC 6749 §5.2 JSON (`{\"error\", \"error_description\"}`); every \
other endpoint answers RFC 9457 `application/problem+json`. A method an endpoint does not \
serve is answered 405 in the endpoint's format, with `Allow`; an unknown path 404. A request \
that takes too long is answered 503 with `Retry-After`. Bodies are limited to 64 KiB.";

/// The document's skeleton: the operations, the schemas the error responses refer to, the
/// security schemes and the tags.
#[derive(OpenApi)]
#[openapi(
    info(title = "tokenmint", description = DESCRIPTION),
    paths(
        oauth::issue_token,
        oauth::revoke_token,
        oauth::introspect_token,
        wellknown::get_jwks,
        wellknown::get_discovery,
        me::list_my_sessions,
        me::revoke_my_session,
        feed::get_revocations,
        webhooks::receive_appwrite_webhook,
        admin::list_user_sessions,
        admin::revoke_user_sessions,
        admin::get_session,
        admin::revoke_session,
        admin::list_keys,
        admin::rotate_keys,
        admin::list_audit_events,
        health::get_health,
        health::get_readiness,
        super::metrics::get_metrics,
        get_openapi,
        docs::get_docs,
        docs::get_docs_page,
    ),
    components(schemas(
        errors::OAuthErrorBody,
        super::error::Problem,
        views::SessionView,
        // Parameter types: `params(...)` refers to them without registering them.
        schemas::UserId,
        schemas::SessionInclude,
    )),
    modifiers(&SecuritySchemes, &DiscoveryAlias, &OAuthParameters),
    tags(
        (name = "oauth", description = "OAuth 2.0 token endpoint, revocation and introspection"),
        (name = "well-known", description = "JWKS and discovery metadata"),
        (name = "self-service", description = "The caller's own sessions, with an access token"),
        (name = "verifiers", description = "The revocation feed"),
        (name = "webhooks", description = "Appwrite webhook receiver"),
        (name = "admin", description = "Admin API (an admin key with the `admin` role)"),
        (name = "operations", description = "Health, readiness, metrics and API documentation"),
    )
)]
struct ApiDoc;

/// The security schemes the operations name.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |format: &str, description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format(format)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            "admin_key",
            bearer(
                "tma_…",
                "An admin key (`tokenmint admin-keys create`) as `Authorization: Bearer tma_…`. \
                 The admin API needs the `admin` role; introspection accepts `admin` or \
                 `introspect`; the revocation feed accepts any role, `feed` being the one \
                 meant for verifiers (and no key when `TOKENMINT_REVOCATION_FEED_PUBLIC=true`).",
            ),
        );
        components.add_security_scheme(
            "access_token",
            bearer(
                "JWT",
                "An access token tokenmint issued, of a session that is still live.",
            ),
        );
        components.add_security_scheme(
            "webhook_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Appwrite-Webhook-Signature",
                "base64(HMAC-SHA1(TOKENMINT_APPWRITE_WEBHOOK_KEY, webhook URL + raw body)), \
                 as Appwrite signs its webhooks.",
            ))),
        );
        components.add_security_scheme(
            "webhook_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "Required in addition to the signature when \
                         TOKENMINT_APPWRITE_WEBHOOK_USERNAME and _PASSWORD are set (the \
                         credentials configured on the webhook in Appwrite).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The OAuth request bodies: parameters tokenmint does not know are ignored (RFC 6749 §3.2),
/// but, like every parameter, each must be one string (or `null` in JSON, which counts as
/// absent): a repeated form parameter or a JSON value of another type is `invalid_request`.
/// The derive can only say "anything" for members it does not name.
struct OAuthParameters;

impl Modify for OAuthParameters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let one_string = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .build();
        for name in [
            "TokenExchangeRequest",
            "RefreshTokenRequest",
            "RevocationRequest",
            "IntrospectionRequest",
        ] {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
                object.additional_properties = Some(Box::new(AdditionalProperties::RefOr(
                    RefOr::T(Schema::Object(one_string.clone())),
                )));
            }
        }
    }
}

/// `/.well-known/oauth-authorization-server` serves the same document as
/// `/.well-known/openid-configuration` from the same handler, and a handler carries one
/// `#[utoipa::path]`: the second path gets a copy of the operation, under its own id.
struct DiscoveryAlias;

impl Modify for DiscoveryAlias {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let paths = &mut openapi.paths.paths;
        let Some(mut item) = paths.get("/.well-known/openid-configuration").cloned() else {
            return;
        };
        if let Some(operation) = item.get.as_mut() {
            operation.operation_id = Some("get_oauth_authorization_server".to_owned());
        }
        paths.insert("/.well-known/oauth-authorization-server".to_owned(), item);
    }
}

/// The OpenAPI document; `info.version` is the crate's version.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((
        status = 200,
        description = "The OpenAPI 3.1 document",
        content_type = "application/json"
    )),
)]
pub async fn get_openapi() -> Response {
    Json(document()).into_response()
}
