//! The admin API under `/admin/v1` (keys with the `admin` role): sessions, signing keys, the
//! audit log. Errors are RFC 9457 problem JSON.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use super::auth::AdminKey;
use super::error::Problem;
use super::extract::{PathParams, QueryParams, request_context};
use super::openapi::errors::{
    ProblemBadRequest, ProblemForbidden, ProblemNotFound, ProblemTooManyRequests,
    ProblemUnauthorized, ProblemUnavailable,
};
use super::openapi::schemas::{
    AuditPage, KeyList, SessionInclude, SessionPage, UserId, UserRevocation,
};
use super::state::AppState;
use super::views::{AuditView, KeyView, SessionView};
use crate::domain::keys::NextKey;
use crate::domain::model::audit::AuditQuery;
use crate::domain::model::sessions::RevocationReason;
use crate::domain::session_admin::{DEFAULT_PAGE, MAX_PAGE};
use crate::domain::text::is_identifier;

fn bad_request(detail: &str) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST).with_detail(detail)
}

fn session_id(text: &str) -> Result<Uuid, Problem> {
    text.parse()
        .map_err(|_| Problem::new(StatusCode::NOT_FOUND).with_detail("no such session"))
}

/// The `limit` parameter: 1 to [`MAX_PAGE`].
pub(super) fn limit(params: &QueryParams) -> Result<Option<u32>, Problem> {
    params
        .get("limit")
        .map(|v| v.parse::<u32>().ok().filter(|n| (1..=MAX_PAGE).contains(n)))
        .map(|v| v.ok_or_else(|| bad_request("limit must be a whole number from 1 to 200")))
        .transpose()
}

/// A session-list `cursor` parameter (the last session id of the previous page).
pub(super) fn cursor(params: &QueryParams) -> Result<Option<Uuid>, Problem> {
    params
        .get("cursor")
        .map(|c| {
            c.parse::<Uuid>()
                .map_err(|_| bad_request("cursor is malformed"))
        })
        .transpose()
}

/// A user id from a path or query: what Appwrite could have issued (see `domain::text`).
fn user_id(text: &str) -> Result<&str, Problem> {
    if is_identifier(text) {
        Ok(text)
    } else {
        Err(bad_request(
            "user_id must be 1 to 255 bytes with no control characters",
        ))
    }
}

/// `GET /admin/v1/users/{user_id}/sessions[?include=revoked][&limit=N][&cursor=C]`.
#[utoipa::path(
    get,
    path = "/admin/v1/users/{user_id}/sessions",
    tag = "admin",
    summary = "List a user's sessions",
    description = "Active sessions, newest first; with `include=revoked`, revoked ones too.",
    params(
        ("user_id" = UserId, Path, description = "The Appwrite user id"),
        (
            "include" = Option<SessionInclude>, Query,
            description = "`revoked` to include revoked sessions"
        ),
        (
            "limit" = Option<u32>, Query, minimum = 1, maximum = 200,
            description = "Page size (default 50)"
        ),
        (
            "cursor" = Option<String>, Query, format = "uuid",
            description = "`next_cursor` of the previous page"
        ),
    ),
    responses(
        (status = 200, description = "A page of sessions", body = SessionPage),
        ProblemBadRequest, ProblemUnauthorized, ProblemForbidden, ProblemTooManyRequests,
        ProblemUnavailable,
    ),
    security(("admin_key" = [])),
)]
pub async fn list_user_sessions(
    State(state): State<AppState>,
    AdminKey(_): AdminKey,
    PathParams(user): PathParams<String>,
    params: QueryParams,
) -> Result<Response, Problem> {
    let include_revoked = match params.get("include") {
        None => false,
        Some("revoked") => true,
        Some(_) => return Err(bad_request("include may only be `revoked`")),
    };
    let page = state
        .sessions
        .list(
            user_id(&user)?,
            include_revoked,
            cursor(&params)?,
            limit(&params)?,
        )
        .await?;
    let now = state.clock.now();
    let sessions: Vec<_> = page
        .items
        .iter()
        .map(|s| SessionView::new(s, now, None))
        .collect();
    Ok(
        Json(json!({ "sessions": sessions, "next_cursor": page.next.map(|c| c.to_string()) }))
            .into_response(),
    )
}

/// `DELETE /admin/v1/users/{user_id}/sessions`: revokes all and sets the user's not-before.
#[utoipa::path(
    delete,
    path = "/admin/v1/users/{user_id}/sessions",
    tag = "admin",
    summary = "Revoke all of a user's sessions",
    description = "Also sets the user's not-before to now, so verifiers following the \
        revocation feed reject the user's earlier access tokens. Idempotent.",
    params(("user_id" = UserId, Path, description = "The Appwrite user id")),
    responses(
        (status = 200, description = "Revoked", body = UserRevocation),
        ProblemBadRequest, ProblemUnauthorized, ProblemForbidden, ProblemTooManyRequests,
        ProblemUnavailable,
    ),
    security(("admin_key" = [])),
)]
pub async fn revoke_user_sessions(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    PathParams(user): PathParams<String>,
    request: Request,
) -> Result<Response, Problem> {
    let context = request_context(&request);
    let reason = RevocationReason::UserRevokeAll;
    let revoked = state
        .sessions
        .revoke_all(user_id(&user)?, reason, caller.actor(), &context)
        .await?;
    let body = json!({
        "revoked_sessions": revoked.sessions.iter().map(Uuid::to_string).collect::<Vec<_>>(),
        "not_before": revoked.not_before.timestamp(),
    });
    Ok(Json(body).into_response())
}

/// `GET /admin/v1/sessions/{id}`.
#[utoipa::path(
    get,
    path = "/admin/v1/sessions/{id}",
    tag = "admin",
    summary = "Get one session",
    params(("id" = String, Path, format = "uuid", description = "The session id")),
    responses(
        (status = 200, description = "The session", body = SessionView),
        ProblemBadRequest, ProblemUnauthorized, ProblemForbidden, ProblemTooManyRequests,
        ProblemNotFound, ProblemUnavailable,
    ),
    security(("admin_key" = [])),
)]
pub async fn get_session(
    State(state): State<AppState>,
    AdminKey(_): AdminKey,
    PathParams(id): PathParams<String>,
) -> Result<Response, Problem> {
    let session = state.sessions.get(session_id(&id)?).await?;
    let session = session
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND).with_detail("no such session"))?;
    Ok(Json(SessionView::new(&session, state.clock.now(), None)).into_response())
}

/// `DELETE /admin/v1/sessions/{id}`: idempotent; answers the (revoked) session.
#[utoipa::path(
    delete,
    path = "/admin/v1/sessions/{id}",
    tag = "admin",
    summary = "Revoke one session",
    description = "Idempotent: revoking a revoked session changes nothing. Answers the session.",
    params(("id" = String, Path, format = "uuid", description = "The session id")),
    responses(
        (status = 200, description = "The revoked session", body = SessionView),
        ProblemBadRequest, ProblemUnauthorized, ProblemForbidden, ProblemTooManyRequests,
        ProblemNotFound, ProblemUnavailable,
    ),
    security(("admin_key" = [])),
)]
pub async fn revoke_session(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    PathParams(id): PathParams<String>,
    request: Request,
) -> Result<Response, Problem> {
    let context = request_context(&request);
    let id = session_id(&id)?;
    let session = state
        .sessions
        .revoke(id, RevocationReason::Admin, caller.actor(), &context)
        .await?;
    let session = session
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND).with_detail("no such session"))?;
    Ok(Json(SessionView::new(&session, state.clock.now(), None)).into_response())
}

/// `GET /admin/v1/keys`: signing keys and their states.
#[utoipa::path(
    get,
    path = "/admin/v1/keys",
    tag = "admin",
    summary = "List the signing keys and their states",
    responses(
        (status = 200, description = "The keys", body = KeyList),
        ProblemBadRequest, ProblemUnauthorized, ProblemForbidden, ProblemTooManyRequests,
        ProblemUnavailable,
    ),
    security(("admin_key" = [])),
)]
pub async fn list_keys(
    State(state): State<AppState>,
    AdminKey(_): AdminKey,
) -> Result<Response, Problem> {
    let keys = state
        .key_manager
        .list()
        .await
        .map_err(|err| Problem::internal(&err))?;
    let keys: Vec<KeyView> = keys.iter().map(KeyView::from).collect();
    Ok(Json(json!({ "keys": keys })).into_response())
}

/// `POST /admin/v1/keys/rotate`: creates the `next` key (201), or answers the existing one (200).
#[utoipa::path(
    post,
    path = "/admin/v1/keys/rotate",
    tag = "admin",
    summary = "Rotate: create the next signing key",
    description = "The new key is published at once and signs from `activates_at` (two JWKS \
        cache lifetimes later), so verifiers know it before it signs anything.",
    responses(
        (status = 201, description = "The next key, created", body = KeyView),
        (status = 200, description = "A next key already exists; here it is", body = KeyView),
        ProblemBadRequest, ProblemUnauthorized, ProblemForbidden, ProblemTooManyRequests,
        ProblemUnavailable,
    ),
    security(("admin_key" = [])),
)]
pub async fn rotate_keys(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    request: Request,
) -> Result<Response, Problem> {
    let context = request_context(&request);
    let next = state
        .key_manager
        .create_next_key(state.config.signing_alg, caller.actor(), &context)
        .await
        .map_err(|err| Problem::internal(&err))?;
    let (status, key) = match next {
        NextKey::Created(key) => (StatusCode::CREATED, key),
        NextKey::AlreadyExists(key) => (StatusCode::OK, key),
    };
    Ok((status, Json(KeyView::from(&key))).into_response())
}

/// `GET /admin/v1/audit?user_id=&session_id=&limit=&before=`: newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/audit",
    tag = "admin",
    summary = "List audit events, newest first",
    params(
        ("user_id" = Option<UserId>, Query, description = "Only this user's events"),
        (
            "session_id" = Option<String>, Query, format = "uuid",
            description = "Only this session's events"
        ),
        (
            "limit" = Option<u32>, Query, minimum = 1, maximum = 200,
            description = "Page size (default 50)"
        ),
        ("before" = Option<i64>, Query, description = "`next_before` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        ProblemBadRequest, ProblemUnauthorized, ProblemForbidden, ProblemTooManyRequests,
        ProblemUnavailable,
    ),
    security(("admin_key" = [])),
)]
pub async fn list_audit_events(
    State(state): State<AppState>,
    AdminKey(_): AdminKey,
    params: QueryParams,
) -> Result<Response, Problem> {
    let limit = limit(&params)?.unwrap_or(DEFAULT_PAGE);
    let query = AuditQuery {
        user_id: params
            .get("user_id")
            .map(|id| user_id(id).map(str::to_owned))
            .transpose()?,
        session_id: params
            .get("session_id")
            .map(|s| {
                s.parse()
                    .map_err(|_| bad_request("session_id is malformed"))
            })
            .transpose()?,
        before: params
            .get("before")
            .map(|b| b.parse().map_err(|_| bad_request("before is malformed")))
            .transpose()?,
        limit,
    };
    let page = state.sessions.audit_events(&query).await?;
    let events: Vec<AuditView> = page.items.into_iter().map(AuditView::from).collect();
    Ok(Json(json!({ "events": events, "next_before": page.next })).into_response())
}
