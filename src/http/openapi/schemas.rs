//! Schemas of the request bodies, and of the responses the handlers build as JSON values
//! (`serde_json::json!`), for the OpenAPI document. Schema-only: the `openapi` integration
//! test checks real responses against them, so they cannot drift unnoticed. Types the
//! handlers serialize themselves (the token response, the session, key and audit views, the
//! discovery document, problem details) derive their schema where they are defined.

// The types below exist only to be described: they are never built.
#![allow(dead_code)]

use std::collections::HashMap;

use utoipa::ToSchema;

use crate::http::views::{AuditView, KeyView, SessionView};

/// `grant_type` of a token exchange (RFC 8693 §2.1).
#[derive(ToSchema)]
pub enum ExchangeGrantType {
    /// The token-exchange grant.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

/// `grant_type` of a refresh (RFC 6749 §6).
#[derive(ToSchema)]
pub enum RefreshGrantType {
    /// The refresh grant.
    #[serde(rename = "refresh_token")]
    RefreshToken,
}

/// What the subject token is.
#[derive(ToSchema)]
pub enum SubjectTokenType {
    /// An Appwrite JWT from `account.createJWT()` (recommended).
    #[serde(rename = "urn:tokenmint:params:token-type:appwrite-jwt")]
    AppwriteJwt,
    /// The Appwrite session secret (the `a_session_<projectId>` cookie value).
    #[serde(rename = "urn:tokenmint:params:token-type:appwrite-session")]
    AppwriteSession,
    /// An access token of the project's Appwrite OAuth2 server (RS256, `typ: at+jwt`),
    /// verified against its JWKS; accepted only with `APPWRITE_OAUTH_CLIENT_IDS`.
    #[serde(rename = "urn:ietf:params:oauth:token-type:access_token")]
    AccessToken,
    /// An ID token of the project's Appwrite OAuth2 server (RS256), verified against its
    /// JWKS; accepted only with `APPWRITE_OAUTH_CLIENT_IDS`.
    #[serde(rename = "urn:ietf:params:oauth:token-type:id_token")]
    IdToken,
}

/// The token type a client may request and tokenmint issues (RFC 8693 §3).
#[derive(ToSchema)]
pub enum AccessTokenType {
    /// An access token.
    #[serde(rename = "urn:ietf:params:oauth:token-type:access_token")]
    AccessToken,
}

/// RFC 8693 token exchange: an Appwrite login for a new session's tokens.
#[derive(ToSchema)]
pub struct TokenExchangeRequest {
    grant_type: ExchangeGrantType,
    /// The Appwrite JWT, session secret, or Appwrite OAuth2 access or ID token: visible ASCII.
    /// Empty counts as absent (RFC 6749 §3.1).
    #[schema(min_length = 1, max_length = 4096, pattern = r"^[!-~]+$")]
    subject_token: String,
    subject_token_type: SubjectTokenType,
    /// Must be one of the configured audiences; default: the first configured audience.
    audience: Option<String>,
    /// Space-separated scopes to put in the access token (RFC 6749 §3.3).
    #[schema(pattern = r"^([!#-\[\]-~]+( [!#-\[\]-~]+)*)?$")]
    scope: Option<String>,
    /// The client (visible ASCII); later refreshes of this session must present the same one
    /// (RFC 9700 §4.14).
    #[schema(max_length = 255, pattern = r"^[!-~]*$")]
    client_id: Option<String>,
    /// A name for the device, shown in session lists: no control characters.
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    device_name: Option<String>,
    /// Only an access token can be requested.
    requested_token_type: Option<AccessTokenType>,
}

/// RFC 6749 §6 refresh: rotates the refresh token.
#[derive(ToSchema)]
pub struct RefreshTokenRequest {
    grant_type: RefreshGrantType,
    /// The current refresh token (`tmr_…`). Empty counts as absent (RFC 6749 §3.1).
    #[schema(min_length = 1, max_length = 512, pattern = r"^[!-~]+$")]
    refresh_token: String,
    /// Space-separated scopes (RFC 6749 §3.3); may only narrow the session's scope.
    #[schema(pattern = r"^([!#-\[\]-~]+( [!#-\[\]-~]+)*)?$")]
    scope: Option<String>,
    /// Required to match when the session was created with one (RFC 9700 §4.14).
    client_id: Option<String>,
}

/// A token request: a token exchange or a refresh. The same field names in both content
/// types; each parameter at most once.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum TokenRequest {
    /// Token exchange.
    Exchange(TokenExchangeRequest),
    /// Refresh.
    Refresh(RefreshTokenRequest),
}

/// RFC 7009 revocation request.
#[derive(ToSchema)]
pub struct RevocationRequest {
    /// A refresh token (revokes its whole session) or an access token: visible ASCII. Empty
    /// counts as absent (RFC 6749 §3.1).
    #[schema(min_length = 1, max_length = 16384, pattern = r"^[!-~]+$")]
    token: String,
    /// `refresh_token` or `access_token`. Only a hint (RFC 7009 §2.1): both kinds are tried
    /// whatever it says, and a value tokenmint does not know is ignored.
    #[schema(examples("refresh_token", "access_token"))]
    token_type_hint: Option<String>,
}

/// RFC 7662 introspection request.
#[derive(ToSchema)]
pub struct IntrospectionRequest {
    /// An access or refresh token. Empty counts as absent (RFC 6749 §3.1).
    #[schema(min_length = 1)]
    token: String,
}

/// RFC 7662 introspection response: `{"active": false}` alone for anything not currently
/// valid; otherwise the token's details (members without a value are absent).
#[derive(ToSchema)]
pub struct IntrospectionResponse {
    /// Whether the token is currently valid.
    active: bool,
    /// `access_token` or `refresh_token`.
    token_type: Option<String>,
    /// The Appwrite user id.
    sub: Option<String>,
    /// The audience.
    aud: Option<String>,
    /// The issuer.
    iss: Option<String>,
    /// Expiry, unix seconds.
    exp: Option<i64>,
    /// Issue time, unix seconds (access tokens).
    iat: Option<i64>,
    /// The client.
    client_id: Option<String>,
    /// The scope.
    scope: Option<String>,
    /// The tokenmint session id.
    sid: Option<String>,
    /// The token id (access tokens).
    jti: Option<String>,
}

/// A page of sessions, newest first.
#[derive(ToSchema)]
pub struct SessionPage {
    sessions: Vec<SessionView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(format = "uuid")]
    next_cursor: Option<String>,
}

/// The result of revoking all of a user's sessions.
#[derive(ToSchema)]
pub struct UserRevocation {
    /// The ids of the sessions this call revoked (empty when there were none left).
    revoked_sessions: Vec<String>,
    /// The user's new not-before time, unix seconds: earlier access tokens are rejected by
    /// verifiers that follow the revocation feed.
    not_before: i64,
}

/// The signing keys and their states.
#[derive(ToSchema)]
pub struct KeyList {
    keys: Vec<KeyView>,
}

/// A page of audit events, newest first.
#[derive(ToSchema)]
pub struct AuditPage {
    events: Vec<AuditView>,
    /// Pass as `before` to get the next page; `null` on the last page.
    next_before: Option<i64>,
}

/// A revoked session.
#[derive(ToSchema)]
pub struct RevokedSession {
    /// The session id (the `sid` claim).
    sid: String,
    /// When this entry stops mattering (unix seconds): every access token it could affect
    /// has expired by then.
    exp: i64,
}

/// A user whose tokens issued before `not_before` are revoked.
#[derive(ToSchema)]
pub struct RevokedUser {
    /// The user id (the `sub` claim).
    sub: String,
    /// Access tokens with `iat` before this (unix seconds) are revoked.
    not_before: i64,
    /// When this entry stops mattering (unix seconds).
    exp: i64,
}

/// A position in the revocation feed. Opaque: pass back the `cursor` of the previous answer
/// as `since`. The pattern is what the server checks, not an invitation to build cursors.
#[derive(ToSchema)]
#[schema(
    pattern = r"^v1\.[A-Za-f][A-Za-z0-9_-]{9}[AEIMQUYcgkosw048]$",
    example = "v1.AAAAAAAAAAo"
)]
pub struct FeedCursor(String);

/// An Appwrite user id, as tokenmint accepts one: 1 to 255 bytes of UTF-8 (255 characters
/// only when they are ASCII, as Appwrite's ids are) with no control characters.
#[derive(ToSchema)]
#[schema(
    min_length = 1,
    max_length = 255,
    pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$",
    example = "6651f0c1a2b3c4d5e6f7"
)]
pub struct UserId(String);

/// `include` of a user's session list: `revoked` lists revoked sessions too.
#[derive(ToSchema)]
pub enum SessionInclude {
    /// Active and revoked sessions.
    #[serde(rename = "revoked")]
    Revoked,
}

/// Revocations since the cursor, for verifiers that check tokens locally.
#[derive(ToSchema)]
pub struct RevocationFeed {
    cursor: FeedCursor,
    sessions: Vec<RevokedSession>,
    users: Vec<RevokedUser>,
    /// More entries are waiting: poll again at once with the new cursor.
    more: bool,
}

/// Liveness.
#[derive(ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: String,
}

/// Readiness: the database answers and a signing key is loaded.
#[derive(ToSchema)]
pub struct Readiness {
    /// `ready`, `not_ready`, or `draining` (shutdown has begun; `checks` is then empty).
    status: String,
    /// Each check and its outcome: `database` (`ok`, `unavailable` or `timeout`) and
    /// `signing_key` (`ok` or `missing`).
    #[schema(example = json!({"database": "ok", "signing_key": "ok"}))]
    checks: HashMap<String, String>,
}

/// How a webhook delivery ended.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookStatus {
    /// Applied (`changed_sessions` may still be 0: nothing left to change).
    Ok,
    /// An event or payload tokenmint does not act on, or no event named.
    Ignored,
    /// Logged; answered 2xx so that Appwrite keeps the webhook enabled.
    Failed,
}

/// What a webhook delivery did.
#[derive(ToSchema)]
pub struct WebhookResult {
    status: WebhookStatus,
    /// How many sessions changed.
    changed_sessions: u64,
}

/// A JSON Web Key Set (RFC 7517 §5) of public signing keys.
#[derive(ToSchema)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

/// A public signing key (RFC 7517 §4).
#[derive(ToSchema)]
pub struct Jwk {
    /// `EC`, `OKP` or `RSA`.
    kty: String,
    /// The key id: its RFC 7638 thumbprint.
    kid: String,
    /// The one algorithm the key signs with (`ES256`, `EdDSA`, `RS256`): pin it.
    alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    use_: String,
    /// The curve (`EC`, `OKP`).
    #[serde(skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    /// The x coordinate (`EC`) or public key (`OKP`), base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    /// The y coordinate (`EC`), base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    /// The modulus (`RSA`), base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    /// The public exponent (`RSA`), base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<String>,
}
