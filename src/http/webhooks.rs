//! `POST /webhooks/appwrite`: Appwrite's deliveries. Refused with 404 when no webhook key is
//! configured; 401, changing nothing, for missing or wrong Basic credentials (when configured)
//! or a missing or bad signature. Answers fast: no Appwrite call happens here.
//!
//! Appwrite disables a webhook after repeated failed deliveries, and some of their content is
//! under users' control (their name, for one). So a signed delivery is never refused for its
//! content: one tokenmint cannot apply (a payload that does not fit its event, ids no Appwrite
//! would send, a statement that fails on its data) is answered 200 with `"status":"ignored"`
//! or `"failed"` and logged with its event name, never its body. Only a database outage
//! answers 503 (the delivery is lost either way; the 503 makes it visible in Appwrite).
//!
//! Two refusals concern the unsigned events header, never the content, and Appwrite itself
//! does not cause them: event names that disagree with the payload's user or session (422),
//! and a body already received under other events (409, see `domain::webhook`). Both are
//! logged as warnings and audited (`webhook.refused`), without the body.

use axum::Json;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;
use serde_json::json;

use super::error::Problem;
use super::extract::request_context;
use super::limits::BODY_LIMIT;
use super::openapi::errors::{
    ProblemConflict, ProblemNotFound, ProblemPayloadTooLarge, ProblemTooManyRequests,
    ProblemUnauthorized, ProblemUnavailable, ProblemUnprocessable,
};
use super::openapi::schemas::WebhookResult;
use super::state::AppState;
use crate::appwrite::webhook::{
    DeliveryError, action_for, deciding_event, normalised_events, signature_is_valid,
};
use crate::domain::events::WebhookOutcome;
use crate::domain::model::audit::RequestContext;
use crate::domain::ports::StoreError;
use crate::domain::webhook::{Sighting, WebhookAction};

/// Handles one delivery, and reports how it ended.
#[utoipa::path(
    post,
    path = "/webhooks/appwrite",
    tag = "webhooks",
    summary = "Receive an Appwrite webhook delivery",
    description = "Revokes sessions on user deletion, blocking, password change and session \
        deletion, and updates the claims snapshot on label, name and email changes. Idempotent. \
        A signed delivery tokenmint cannot apply is answered 200 (`ignored` or `failed`) so \
        that Appwrite keeps the webhook enabled. The events header is not signed: a body \
        already received under other events is refused (409), and so are event names that \
        disagree with the payload's user or session (422); Appwrite sends neither. 404 when \
        no webhook key is configured.",
    params((
        "X-Appwrite-Webhook-Events" = Option<String>,
        Header,
        description = "Comma-separated event names, as Appwrite expands them. Appwrite always \
            sends it; a signed delivery without it names no event and is answered 200 `ignored`"
    )),
    request_body(
        content = std::collections::HashMap<String, serde_json::Value>,
        content_type = "application/json",
        description = "The Appwrite model of the event (a User or a Session), as Appwrite sends it"
    ),
    responses(
        (status = 200, description = "Applied, ignored or failed", body = WebhookResult),
        ProblemUnauthorized, ProblemNotFound, ProblemConflict, ProblemPayloadTooLarge,
        ProblemUnprocessable, ProblemTooManyRequests, ProblemUnavailable,
    ),
    security(("webhook_signature" = []), ("webhook_signature" = [], "webhook_basic" = [])),
)]
pub async fn receive_appwrite_webhook(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, Problem> {
    let (event, outcome, answer) = deliver(&state, request).await;
    state.webhooks.events().webhook_delivered(event, outcome);
    answer
}

/// What a delivery is about (once authenticated), how it ended, and the answer.
type Delivery = (
    Option<&'static str>,
    WebhookOutcome,
    Result<Response, Problem>,
);

async fn deliver(state: &AppState, request: Request) -> Delivery {
    let config = &state.config;
    let Some(key) = &config.appwrite_webhook_key else {
        let refused =
            Problem::new(StatusCode::NOT_FOUND).with_detail("webhooks are not configured");
        return (None, WebhookOutcome::Disabled, Err(refused));
    };
    let context = request_context(&request);
    let headers = request.headers().clone();
    if !basic_auth_matches(
        &headers,
        config.appwrite_webhook_username.as_deref(),
        config.appwrite_webhook_password.as_ref(),
    ) {
        let refused = unauthorized("the webhook credentials are missing or wrong");
        return (None, WebhookOutcome::Unauthorized, Err(refused));
    }
    let Ok(body) = to_bytes(request.into_body(), BODY_LIMIT).await else {
        let refused =
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE).with_detail("the body is too large");
        return (None, WebhookOutcome::TooLarge, Err(refused));
    };
    let signature = header_text(&headers, "x-appwrite-webhook-signature");
    if !signature_is_valid(
        key.expose_secret(),
        &config.appwrite_webhook_url,
        &body,
        signature,
    ) {
        tracing::warn!(request_id = ?context.request_id, "Appwrite webhook with a missing or bad signature");
        let refused = unauthorized("the webhook signature is missing or wrong");
        return (None, WebhookOutcome::Unauthorized, Err(refused));
    }
    let events = header_text(&headers, "x-appwrite-webhook-events");
    apply_signed(state, events, &body, &context).await
}

/// Applies an authenticated delivery: whatever its content, it is answered 200 unless the
/// database is unavailable, its event names disagree with its payload (422), or its body was
/// received before under other events (409).
async fn apply_signed(
    state: &AppState,
    events: &str,
    body: &[u8],
    context: &RequestContext,
) -> Delivery {
    let deciding = deciding_event(events);
    // Compared before the body is remembered, so that a re-labelled copy arriving first
    // cannot claim a body for its events without at least naming the right user.
    let parsed = action_for(events, body);
    if parsed == Err(DeliveryError::Mismatched) {
        let refused = refuse(state, deciding, None, WebhookOutcome::Mismatched, context).await;
        return (deciding, WebhookOutcome::Mismatched, refused);
    }
    let first_seen_at = match state.webhooks.sight(body, &normalised_events(events)).await {
        Ok(Sighting::First) => None,
        Ok(Sighting::Redelivery { first_seen_at }) => Some(first_seen_at),
        Ok(Sighting::Relabelled) => {
            let action = parsed.as_ref().ok().map(|(_, action)| action);
            let confirmed = match action {
                Some(action) => state.webhooks.confirmed_by_appwrite(action).await,
                None => false,
            };
            if confirmed {
                tracing::info!(
                    event = deciding.unwrap_or("none"),
                    "a signed body first received under other events, confirmed by Appwrite; applied"
                );
                None
            } else {
                let user = action.and_then(WebhookAction::user_id);
                let refused =
                    refuse(state, deciding, user, WebhookOutcome::Relabelled, context).await;
                return (deciding, WebhookOutcome::Relabelled, refused);
            }
        }
        Err(err) => return (deciding, WebhookOutcome::Unavailable, Err(err.into())),
    };
    let Ok((event, action)) = parsed else {
        tracing::warn!(
            events,
            "signed Appwrite webhook that cannot be applied; ignored"
        );
        return (deciding, WebhookOutcome::Ignored, Ok(status("ignored", 0)));
    };
    let action = match first_seen_at {
        Some(at) => action.redelivered(at),
        None => action,
    };
    // An event tokenmint does not act on (or none named) is `ignored`, as documented; `ok`
    // means the delivery was applied, even when it changed no session.
    let (outcome, answer) = if action == WebhookAction::Ignore {
        (WebhookOutcome::Ignored, "ignored")
    } else {
        (WebhookOutcome::Applied, "ok")
    };
    match state.webhooks.apply(&event, action, context).await {
        Ok(changed) => {
            if outcome == WebhookOutcome::Ignored {
                tracing::info!(
                    event,
                    "Appwrite webhook for an event tokenmint does not act on; ignored"
                );
            } else {
                tracing::info!(event, changed, "Appwrite webhook applied");
            }
            (deciding, outcome, Ok(status(answer, changed)))
        }
        Err(err @ (StoreError::Unavailable(_) | StoreError::Busy(_) | StoreError::Conflict(_))) => {
            (deciding, WebhookOutcome::Unavailable, Err(err.into()))
        }
        Err(err) => {
            tracing::error!(event, error = %err, source = ?std::error::Error::source(&err), "Appwrite webhook failed to apply; answered 200 so Appwrite keeps the webhook enabled");
            (deciding, WebhookOutcome::Failed, Ok(status("failed", 0)))
        }
    }
}

/// Refuses a signed delivery over its events header: logs a warning and audits it (never the
/// body), and answers 409 (`Relabelled`) or 422 (`Mismatched`).
async fn refuse(
    state: &AppState,
    deciding: Option<&'static str>,
    user_id: Option<&str>,
    outcome: WebhookOutcome,
    context: &RequestContext,
) -> Result<Response, Problem> {
    let (code, detail) = if outcome == WebhookOutcome::Relabelled {
        (
            StatusCode::CONFLICT,
            "this signed body was first received under other events; only those may act on it",
        )
    } else {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "the event names do not name the payload's user or session",
        )
    };
    tracing::warn!(
        event = deciding.unwrap_or("none"),
        outcome = outcome.as_str(),
        request_id = ?context.request_id,
        "signed Appwrite webhook refused: its events header does not fit its body; nothing done"
    );
    state
        .webhooks
        .record_refusal(deciding, user_id, outcome.as_str(), context)
        .await?;
    Err(Problem::new(code).with_detail(detail))
}

fn status(status: &str, changed: usize) -> Response {
    Json(json!({ "status": status, "changed_sessions": changed })).into_response()
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED).with_detail(detail)
}

/// No credentials configured: anything passes. Configured: `Authorization: Basic` must carry
/// exactly them; compared in constant time.
fn basic_auth_matches(
    headers: &HeaderMap,
    username: Option<&str>,
    password: Option<&secrecy::SecretString>,
) -> bool {
    let (Some(username), Some(password)) = (username, password) else {
        return true;
    };
    let expected = format!("{username}:{}", password.expose_secret());
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| STANDARD.decode(encoded.trim()).ok())
        .unwrap_or_default();
    let expected_digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, expected.as_bytes());
    let presented_digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &presented);
    // Comparing fixed-length digests in constant time hides both content and length.
    aws_lc_rs::constant_time::verify_slices_are_equal(
        expected_digest.as_ref(),
        presented_digest.as_ref(),
    )
    .is_ok()
}
