//! Appwrite webhook deliveries (appwrite-contract.md §5): event names and payloads translated
//! into domain actions; the signature check is `webhook_signature`'s, re-exported here.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::model::sessions::{RevocationReason, UserSnapshot};
use crate::domain::text::is_identifier;
use crate::domain::webhook::WebhookAction;

pub use super::webhook_signature::signature_is_valid;

/// Why a signed delivery cannot be acted on.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The payload does not fit its event, or names ids no Appwrite would send: answered 200
    /// `ignored` (users control part of the content; it must never get the webhook disabled).
    #[error("the webhook payload does not fit its event")]
    Malformed,
    /// The event names disagree with the payload: a user event naming another user than the
    /// payload's `$id`, a session event naming another session or user than the payload's
    /// `$id` and `userId`, or a revoking event without its concrete name (`users.{id}.delete`
    /// and so on, which Appwrite always sends). Appwrite never sends such a delivery, so it is
    /// a signed body re-labelled by someone else: refused, nothing is done.
    #[error("the webhook's event names do not name the payload's user or session")]
    Mismatched,
}

/// Shorthand for the parsers below.
const MALFORMED: DeliveryError = DeliveryError::Malformed;

#[derive(Deserialize)]
struct UserPayload {
    #[serde(rename = "$id")]
    id: String,
    #[serde(rename = "$updatedAt", default)]
    updated_at: String,
    #[serde(rename = "passwordUpdate", default)]
    password_update: String,
    #[serde(default)]
    status: Option<bool>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(rename = "emailVerification", default)]
    email_verification: bool,
    #[serde(default)]
    labels: Vec<String>,
}

#[derive(Deserialize)]
struct SessionPayload {
    #[serde(rename = "$id")]
    id: String,
    #[serde(rename = "userId")]
    user_id: String,
}

/// The user of a user-model payload, if its id could be an Appwrite id.
fn user(body: &[u8]) -> Result<UserPayload, DeliveryError> {
    serde_json::from_slice::<UserPayload>(body)
        .ok()
        .filter(|user| is_identifier(&user.id))
        .ok_or(MALFORMED)
}

/// An Appwrite datetime (`2026-08-01T10:00:00.000+00:00`); `None` when empty or unreadable.
fn datetime(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The events tokenmint acts on, in the order that decides which one a delivery naming
/// several is about (Appwrite names an event in several forms, from `users.*` to
/// `users.{id}.sessions.{id}.delete`; the most specific known form decides).
pub const EVENTS: [&str; 8] = [
    "users.*.sessions.*.delete",
    "users.*.sessions.delete",
    "users.*.delete",
    "users.*.update.password",
    "users.*.update.status",
    "users.*.update.labels",
    "users.*.update.name",
    "users.*.update.email",
];

/// The event of [`EVENTS`] that decides what a delivery with
/// `X-Appwrite-Webhook-Events: events` does; `None` when it names none of them.
pub fn deciding_event(events: &str) -> Option<&'static str> {
    EVENTS
        .into_iter()
        .find(|known| events.split(',').any(|name| name.trim() == *known))
}

/// The event set of an `X-Appwrite-Webhook-Events` header in one canonical form: names
/// trimmed, empty ones dropped, sorted, duplicates removed, comma-joined. Two headers naming
/// the same events in another order or spacing give the same text.
pub fn normalised_events(events: &str) -> String {
    let mut names: Vec<&str> = events
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    names.sort_unstable();
    names.dedup();
    names.join(",")
}

/// Whether the event names agree with the payload of `action` (see
/// [`DeliveryError::Mismatched`]): every name of the form `users.{id}…` names the payload's user;
/// for a session deletion every `users.{id}.sessions.{id}…` names the payload's session; and a
/// revoking action's deciding event is present in its concrete form (`users.*.delete` as
/// `users.{id}.delete`), so that the names say which user it is about at all.
fn names_agree(events: &str, deciding: &str, action: &WebhookAction) -> bool {
    let (user_id, session_id, revoking) = match action {
        WebhookAction::Ignore => return true,
        WebhookAction::RevokeUser { user_id, .. } => (user_id.as_str(), None, true),
        WebhookAction::RevokeAppwriteSession {
            user_id,
            appwrite_session_id,
        } => (user_id.as_str(), Some(appwrite_session_id.as_str()), true),
        WebhookAction::UpdateSnapshot { user_id, .. } => (user_id.as_str(), None, false),
    };
    let names = || events.split(',').map(str::trim);
    let consistent = names().all(|name| {
        let parts: Vec<&str> = name.split('.').collect();
        match parts.as_slice() {
            ["users", user, ..] if *user != "*" && *user != user_id => false,
            ["users", _, "sessions", session, ..] => match session_id {
                Some(expected) => *session == "*" || *session == expected,
                None => true,
            },
            _ => true,
        }
    });
    let mut concrete = deciding.replacen('*', user_id, 1);
    if let Some(session) = session_id {
        concrete = concrete.replacen('*', session, 1);
    }
    consistent && (!revoking || names().any(|name| name == concrete))
}

/// The action for a delivery with `X-Appwrite-Webhook-Events: events` and `body`. Returns the
/// event that decided it (for the audit log) and the action.
pub fn action_for(events: &str, body: &[u8]) -> Result<(String, WebhookAction), DeliveryError> {
    let (event, action) = action_from_payload(events, body)?;
    if !names_agree(events, &event, &action) {
        return Err(DeliveryError::Mismatched);
    }
    Ok((event, action))
}

/// The action the deciding event and the payload describe, before the names are compared with
/// the payload.
fn action_from_payload(
    events: &str,
    body: &[u8],
) -> Result<(String, WebhookAction), DeliveryError> {
    let Some(event) = deciding_event(events) else {
        return Ok((String::new(), WebhookAction::Ignore));
    };
    let revoke = |user: UserPayload, reason, as_of| WebhookAction::RevokeUser {
        user_id: user.id,
        reason,
        as_of,
    };
    let action = match event {
        "users.*.sessions.*.delete" => {
            let session: SessionPayload = serde_json::from_slice(body).map_err(|_| MALFORMED)?;
            if !is_identifier(&session.id) || !is_identifier(&session.user_id) {
                return Err(MALFORMED);
            }
            WebhookAction::RevokeAppwriteSession {
                user_id: session.user_id,
                appwrite_session_id: session.id,
            }
        }
        "users.*.sessions.delete" => {
            revoke(user(body)?, RevocationReason::AppwriteSessionsDeleted, None)
        }
        "users.*.delete" => revoke(user(body)?, RevocationReason::AppwriteUserDeleted, None),
        "users.*.update.password" => {
            // As of the change itself, so that a replay spares sessions created since.
            let user = user(body)?;
            let as_of = datetime(&user.password_update).or_else(|| datetime(&user.updated_at));
            revoke(user, RevocationReason::AppwritePasswordChanged, as_of)
        }
        "users.*.update.status" => {
            let user = user(body)?;
            match user.status {
                Some(false) => {
                    let as_of = datetime(&user.updated_at);
                    revoke(user, RevocationReason::AppwriteUserBlocked, as_of)
                }
                _ => WebhookAction::Ignore,
            }
        }
        // The labels, name and email updates.
        _ => snapshot_update(user(body)?)?,
    };
    Ok((event.to_owned(), action))
}

fn snapshot_update(user: UserPayload) -> Result<WebhookAction, DeliveryError> {
    let updated_at_ms = datetime(&user.updated_at)
        .ok_or(MALFORMED)?
        .timestamp_millis();
    Ok(WebhookAction::UpdateSnapshot {
        user_id: user.id,
        snapshot: UserSnapshot {
            email: user.email,
            email_verified: user.email_verification,
            name: user.name,
            labels: user.labels,
        },
        updated_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::hmac;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn sign(key: &str, url: &str, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes());
        let mut message = url.as_bytes().to_vec();
        message.extend_from_slice(body);
        STANDARD.encode(hmac::sign(&key, &message).as_ref())
    }

    #[test]
    fn signatures_over_the_configured_or_decoded_url_verify() {
        let url = "https://auth.example.com/webhooks/appwrite?tenant=a%20b";
        let body = br#"{"$id":"u1","url":"https:\/\/x"}"#;
        assert!(signature_is_valid("k", url, body, &sign("k", url, body)));
        let decoded = "https://auth.example.com/webhooks/appwrite?tenant=a b";
        assert!(signature_is_valid(
            "k",
            url,
            body,
            &sign("k", decoded, body)
        ));
        assert!(!signature_is_valid(
            "other",
            url,
            body,
            &sign("k", url, body)
        ));
        assert!(!signature_is_valid("k", url, b"{}", &sign("k", url, body)));
        assert!(!signature_is_valid("k", url, body, "not base64!"));
        assert!(!signature_is_valid("k", url, body, ""));
    }

    #[test]
    fn events_map_to_actions() {
        let user = br#"{"$id":"u1","$updatedAt":"2026-08-03T10:00:00.000+00:00","status":false,"name":"J","email":"j@x","emailVerification":true,"labels":["admin"]}"#;
        let session = br#"{"$id":"s1","userId":"u1"}"#;
        let (_, deleted) =
            action_for("users.u1.delete,users.*.delete,users.u1,users.*", user).unwrap();
        assert_eq!(
            deleted,
            WebhookAction::RevokeUser {
                user_id: "u1".into(),
                reason: RevocationReason::AppwriteUserDeleted,
                as_of: None,
            }
        );
        let (_, blocked) = action_for(
            "users.u1.update.status,users.*.update.status,users.u1.update,users.*.update",
            user,
        )
        .unwrap();
        assert!(matches!(
            blocked,
            WebhookAction::RevokeUser {
                reason: RevocationReason::AppwriteUserBlocked,
                as_of: Some(at),
                ..
            } if at.timestamp_millis() == 1_785_751_200_000
        ));
        let password = br#"{"$id":"u1","$updatedAt":"2026-08-03T10:00:00.000+00:00","passwordUpdate":"2026-08-03T09:59:59.500+00:00"}"#;
        assert!(matches!(
            action_for("users.u1.update.password,users.*.update.password", password).unwrap().1,
            WebhookAction::RevokeUser {
                reason: RevocationReason::AppwritePasswordChanged,
                as_of: Some(at),
                ..
            } if at.timestamp_millis() == 1_785_751_199_500
        ));
        for unusable in [
            &br#"{"$id":"","status":false}"#[..],
            br#"{"$id":"u\u0000","status":false}"#,
            br#"{"status":false}"#,
        ] {
            assert!(action_for("users.*.update.status", unusable).is_err());
        }
        let unblocked = br#"{"$id":"u1","status":true}"#;
        assert_eq!(
            action_for("users.*.update.status", unblocked).unwrap().1,
            WebhookAction::Ignore
        );
        let (_, one) = action_for(
            "users.u1.sessions.s1.delete,users.*.sessions.*.delete",
            session,
        )
        .unwrap();
        assert_eq!(
            one,
            WebhookAction::RevokeAppwriteSession {
                user_id: "u1".into(),
                appwrite_session_id: "s1".into()
            }
        );
        let (event, labels) =
            action_for("users.u1.update.labels,users.*.update.labels", user).unwrap();
        assert_eq!(event, "users.*.update.labels");
        assert!(matches!(
            labels,
            WebhookAction::UpdateSnapshot {
                updated_at_ms: 1_785_751_200_000,
                ..
            }
        ));
        assert_eq!(
            action_for(
                "users.u1.sessions.s1.create,users.*.sessions.*.create",
                session
            )
            .unwrap()
            .1,
            WebhookAction::Ignore
        );
        assert!(action_for("users.*.delete", b"not json").is_err());
    }

    #[test]
    fn event_names_must_agree_with_the_payload() {
        let user = br#"{"$id":"u1","$updatedAt":"2026-08-03T10:00:00.000+00:00","status":false}"#;
        let session = br#"{"$id":"s1","userId":"u1"}"#;
        let mismatched = Err(DeliveryError::Mismatched);
        // Another user named, or no concrete name at all for a revocation.
        assert_eq!(
            action_for("users.u2.delete,users.*.delete", user),
            mismatched
        );
        assert_eq!(action_for("users.*.delete,users.*", user), mismatched);
        assert_eq!(
            action_for("users.u1.delete,users.*.delete,users.u2", user),
            mismatched
        );
        assert_eq!(
            action_for("users.u2.update.name,users.*.update.name", user),
            mismatched
        );
        // A session event naming another session or user.
        assert_eq!(
            action_for(
                "users.u1.sessions.s2.delete,users.*.sessions.*.delete",
                session
            ),
            mismatched
        );
        assert_eq!(
            action_for(
                "users.u2.sessions.s1.delete,users.*.sessions.*.delete",
                session
            ),
            mismatched
        );
        // What Appwrite sends agrees.
        assert!(
            action_for(
                "users.u1.sessions.s1.delete,users.*.sessions.*.delete,users.u1.sessions.*.delete,\
                 users.*.sessions.s1.delete,users.u1.sessions.s1,users.*.sessions.*,\
                 users.u1.sessions.*,users.*.sessions.s1,users.u1,users.*",
                session
            )
            .is_ok()
        );
        assert!(action_for("users.u1.sessions.delete,users.*.sessions.delete", user).is_ok());
        // A snapshot update needs no concrete name; an ignored event is not compared.
        assert!(action_for("users.*.update.name", user).is_ok());
        assert!(action_for("users.u2.sessions.s9.create", session).is_ok());
    }

    #[test]
    fn event_sets_are_normalised() {
        assert_eq!(
            normalised_events(" users.*, users.u1.delete,,users.*.delete,users.u1.delete"),
            "users.*,users.*.delete,users.u1.delete"
        );
        assert_eq!(normalised_events(""), "");
    }
}
