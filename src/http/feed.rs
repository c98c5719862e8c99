//! `GET /v1/revocations?since=CURSOR`: the revocation feed for verifiers. It names Appwrite
//! users and when they were revoked, so it needs an admin key (role `feed`, `introspect` or
//! `admin`) as `Authorization: Bearer`, unless `TOKENMINT_REVOCATION_FEED_PUBLIC=true`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::FeedReader;
use super::error::Problem;
use super::extract::QueryParams;
use super::openapi::errors::{
    ProblemBadRequest, ProblemTooManyRequests, ProblemUnauthorized, ProblemUnavailable,
};
use super::openapi::schemas::RevocationFeed;
use super::state::AppState;
use crate::domain::feed::FeedCursor;
use crate::domain::ports::FeedEntry;

/// Answers `{"cursor", "sessions": [{"sid","exp"}], "users": [{"sub","not_before","exp"}],
/// "more"}`. `exp` says when an entry stops mattering: every access token it could affect has
/// expired by then, so a verifier may forget it.
#[utoipa::path(
    get,
    path = "/v1/revocations",
    tag = "verifiers",
    summary = "Revocations since a cursor, for verifiers",
    description = "Verifiers that check access tokens locally poll this to reject tokens of \
        revoked sessions and users before they expire. Start without `since`; then pass the \
        returned `cursor`. Needs an admin key of any role (`feed` is the one meant for \
        verifiers) unless the server runs with `TOKENMINT_REVOCATION_FEED_PUBLIC=true`.",
    params((
        "since" = Option<String>, Query,
        pattern = r"^(v1\.[A-Za-f][A-Za-z0-9_-]{9}[AEIMQUYcgkosw048])?$",
        description = "The `cursor` of the previous answer (opaque; the pattern is what the \
            server checks). Absent or empty: from the oldest entry that can still matter."
    )),
    responses(
        (status = 200, description = "Revocations that can still matter", body = RevocationFeed),
        ProblemBadRequest, ProblemUnauthorized, ProblemTooManyRequests, ProblemUnavailable,
    ),
    security(("admin_key" = [])),
)]
pub async fn get_revocations(
    _reader: FeedReader,
    State(state): State<AppState>,
    params: QueryParams,
) -> Result<Response, Problem> {
    let since = match params.get("since").filter(|s| !s.is_empty()) {
        None => FeedCursor::default(),
        Some(text) => FeedCursor::parse(text).ok_or_else(|| {
            Problem::new(StatusCode::BAD_REQUEST)
                .with_detail("since is not a cursor this feed issued")
        })?,
    };
    let page = state.feed.since(since).await?;
    let mut sessions = Vec::new();
    let mut users = Vec::new();
    for entry in &page.entries {
        match entry {
            FeedEntry::Session { sid, until, .. } => {
                sessions.push(json!({ "sid": sid.to_string(), "exp": until.timestamp() }))
            }
            FeedEntry::User {
                sub,
                not_before,
                until,
                ..
            } => users.push(json!({
                "sub": sub,
                "not_before": not_before.timestamp(),
                "exp": until.timestamp(),
            })),
        }
    }
    let body = json!({ "cursor": page.cursor.encode(), "sessions": sessions, "users": users, "more": page.more });
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
