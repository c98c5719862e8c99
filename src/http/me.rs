//! Self-service: `GET /v1/me/sessions` and `DELETE /v1/me/sessions/{id}` with the caller's own
//! access token ("log out other devices"). A user can never see or end another user's
//! session: someone else's session answers 404, exactly like one that does not exist.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use super::admin::{cursor, limit};
use super::auth::AccessToken;
use super::error::Problem;
use super::extract::{PathParams, QueryParams, request_context};
use super::openapi::errors::{
    ProblemBadRequest, ProblemNotFound, ProblemUnauthorized, ProblemUnavailable,
};
use super::openapi::schemas::SessionPage;
use super::state::AppState;
use super::views::SessionView;
use crate::domain::model::audit::Actor;
use crate::domain::model::sessions::RevocationReason;

/// `GET /v1/me/sessions[?limit=N][&cursor=C]`: the caller's live sessions, newest first, the
/// current one marked.
#[utoipa::path(
    get,
    path = "/v1/me/sessions",
    tag = "self-service",
    summary = "List the caller's live sessions",
    description = "Newest first; the session of the presented access token has `current: true`.",
    params(
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
        ProblemBadRequest, ProblemUnauthorized, ProblemUnavailable,
    ),
    security(("access_token" = [])),
)]
pub async fn list_my_sessions(
    State(state): State<AppState>,
    caller: AccessToken,
    params: QueryParams,
) -> Result<Response, Problem> {
    let page = state
        .sessions
        .list(&caller.claims.sub, false, cursor(&params)?, limit(&params)?)
        .await?;
    let now = state.clock.now();
    let sessions: Vec<_> = page
        .items
        .iter()
        .map(|s| SessionView::new(s, now, Some(s.id == caller.session.id)))
        .collect();
    Ok(
        Json(json!({ "sessions": sessions, "next_cursor": page.next.map(|c| c.to_string()) }))
            .into_response(),
    )
}

/// `DELETE /v1/me/sessions/{id}`: 204, idempotent; 404 for sessions that are not the caller's.
#[utoipa::path(
    delete,
    path = "/v1/me/sessions/{id}",
    tag = "self-service",
    summary = "Log out one of the caller's sessions",
    description = "Idempotent. Another user's session answers 404, exactly like one that does \
        not exist.",
    params(("id" = String, Path, format = "uuid", description = "The session id")),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        ProblemBadRequest, ProblemUnauthorized, ProblemNotFound, ProblemUnavailable,
    ),
    security(("access_token" = [])),
)]
pub async fn revoke_my_session(
    State(state): State<AppState>,
    caller: AccessToken,
    PathParams(id): PathParams<String>,
    request: Request,
) -> Result<Response, Problem> {
    let not_found = || Problem::new(StatusCode::NOT_FOUND).with_detail("no such session");
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    let session = state.sessions.get(id).await?.ok_or_else(not_found)?;
    if session.user_id != caller.claims.sub {
        return Err(not_found());
    }
    let context = request_context(&request);
    state
        .sessions
        .revoke(id, RevocationReason::Logout, Actor::User, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
