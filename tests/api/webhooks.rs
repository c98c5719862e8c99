//! `POST /webhooks/appwrite`: deliveries shaped as `appwrite-contract.md` §5 describes them —
//! its headers, expanded event names, and PHP `json_encode` bodies (`\/` and `\uXXXX`).

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use std::time::Duration;

use crate::helpers::Backend;
use crate::oauth_helpers::{Harness, Tokens, advance, oauth_error, tokens};
use crate::on_both_backends;

pub const KEY: &str = "whk_4f1d0c1b8e2a47d9b3c6f0a1e5d7c9b2a4f6e8d0c2b4a6f8e0d2c4b6a8f0e2d4c6b8a0f2e4d6c8b0a2f4e6d8c0b2a4f6e8d0c2b4a6f8e0d2c4b6a8f0e2d4";
pub const URL: &str = "http://localhost:8080/webhooks/appwrite";

pub fn sign(url: &str, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, KEY.as_bytes());
    STANDARD.encode(hmac::sign(&key, format!("{url}{body}").as_bytes()).as_ref())
}

/// Appwrite's expansion of a base event (`Event::generateEvents`).
pub fn expanded(base: &str) -> String {
    match base.split('.').collect::<Vec<_>>().as_slice() {
        ["users", user, "sessions", session, action] => format!(
            "users.{user}.sessions.{session}.{action},users.*.sessions.*.{action},users.{user}.sessions.*.{action},\
             users.*.sessions.{session}.{action},users.{user}.sessions.{session},users.*.sessions.*,\
             users.{user}.sessions.*,users.*.sessions.{session},users.{user},users.*"
        ),
        ["users", user, "sessions", action] => format!(
            "users.{user}.sessions.{action},users.*.sessions.{action},users.{user}.sessions,users.*.sessions,users.{user},users.*"
        ),
        ["users", user, "update", field] => format!(
            "users.{user}.update.{field},users.*.update.{field},users.{user}.update,users.*.update,users.{user},users.*"
        ),
        ["users", user, action] => {
            format!("users.{user}.{action},users.*.{action},users.{user},users.*")
        }
        _ => base.to_owned(),
    }
}

/// A User model as `json_encode` writes it: `\/` in URLs and `\u00e9` for é.
pub fn user_body(user: &str, updated_at: &str, status: bool, labels: &[&str]) -> String {
    let labels = labels
        .iter()
        .map(|l| format!("\"{l}\""))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"{{"$id":"{user}","$createdAt":"2026-08-01T10:00:00.000+00:00","$updatedAt":"{updated_at}","name":"Ren\u00e9e","password":"$argon2id$v=19$m=2048,t=4,p=3$abc","hash":"argon2","hashOptions":{{"type":"argon2"}},"registration":"2026-08-01T10:00:00.000+00:00","status":{status},"labels":[{labels}],"passwordUpdate":"","email":"renee@example.com","phone":"","emailVerification":true,"phoneVerification":false,"mfa":false,"prefs":{{"avatar":"https:\/\/cdn.example.com\/a.png"}},"targets":[],"accessedAt":"2026-08-02T08:00:00.000+00:00"}}"#
    )
}

/// A User model whose `$updatedAt` and `passwordUpdate` are `updated_at`.
pub fn password_body(user: &str, updated_at: &str) -> String {
    user_body(user, updated_at, true, &[]).replace(
        r#""passwordUpdate":"""#,
        &format!(r#""passwordUpdate":"{updated_at}""#),
    )
}

/// A time as Appwrite writes it: `2026-08-01T10:00:00.000+00:00`.
pub fn appwrite_time(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()
}

/// The server's current time as Appwrite would write it.
pub fn server_now(harness: &Harness) -> String {
    use tokenmint::clock::Clock;
    appwrite_time(harness.app.clock.now())
}

pub fn session_body(user: &str, session: &str) -> String {
    format!(
        r#"{{"$id":"{session}","$createdAt":"2026-08-01T10:00:00.000+00:00","$updatedAt":"2026-08-01T10:00:00.000+00:00","userId":"{user}","expire":"2027-08-01T10:00:00.000+00:00","provider":"email","providerUid":"jane@example.com","providerAccessToken":"","providerAccessTokenExpiry":"","providerRefreshToken":"","ip":"203.0.113.7","osCode":"AND","osName":"Android","osVersion":"14","clientType":"","clientCode":"","clientName":"","clientVersion":"","clientEngine":"","clientEngineVersion":"","deviceName":"smartphone","deviceBrand":"Google","deviceModel":"Pixel 8","countryCode":"de","countryName":"Germany","current":true,"factors":["password"],"secret":"","mfaUpdatedAt":""}}"#
    )
}

pub struct Delivery {
    pub events: String,
    pub body: String,
    pub signature: Option<String>,
    pub basic: Option<(&'static str, &'static str)>,
}

impl Delivery {
    pub fn new(base_event: &str, body: String) -> Self {
        Self {
            signature: Some(sign(URL, &body)),
            events: expanded(base_event),
            body,
            basic: None,
        }
    }
}

pub async fn deliver(harness: &Harness, delivery: &Delivery) -> reqwest::Response {
    let mut request = harness
        .app
        .client
        .post(harness.app.url("/webhooks/appwrite"))
        .header("content-type", "application/json")
        .header(
            "user-agent",
            "Appwrite-Server v1.9.6. Please report abuse at security@appwrite.io",
        )
        .header("x-appwrite-webhook-id", "wh1")
        .header("x-appwrite-webhook-name", "tokenmint")
        .header("x-appwrite-webhook-project-id", "proj123")
        .header("x-appwrite-webhook-user-id", "")
        .header("x-appwrite-webhook-events", &delivery.events)
        .body(delivery.body.clone());
    if let Some(signature) = &delivery.signature {
        request = request.header("x-appwrite-webhook-signature", signature);
    }
    if let Some((user, password)) = delivery.basic {
        request = request.basic_auth(user, Some(password));
    }
    request.send().await.unwrap()
}

pub async fn start(backend: Backend) -> Harness {
    Harness::start_with(backend, &[("TOKENMINT_APPWRITE_WEBHOOK_KEY", KEY)]).await
}

pub async fn assert_revoked(harness: &Harness, session: &Tokens, context: &str) {
    let (_, error, _) = oauth_error(harness.app.refresh(&session.refresh_token).await).await;
    assert_eq!(error, "invalid_grant", "{context}");
}

/// Logs a user in twice, from two Appwrite sessions; returns their (Appwrite session, tokens).
async fn two_sessions(harness: &Harness, user: &str) -> Vec<(String, Tokens)> {
    let mut sessions = Vec::new();
    harness.appwrite.add_user(user);
    for _ in 0..2 {
        let (appwrite_session, _) = harness.appwrite.create_session(user);
        let jwt = harness.appwrite.create_jwt(user, &appwrite_session);
        let issued = tokens(
            harness
                .app
                .exchange(crate::oauth_helpers::JWT_TYPE, &jwt, &[])
                .await,
        )
        .await;
        sessions.push((appwrite_session, issued));
    }
    sessions
}

async fn deleting_an_appwrite_session_revokes_only_the_sessions_made_from_it(backend: Backend) {
    let harness = start(backend).await;
    let sessions = two_sessions(&harness, "u1").await;
    let (deleted, kept) = (&sessions[0], &sessions[1]);
    let delivery = Delivery::new(
        &format!("users.u1.sessions.{}.delete", deleted.0),
        session_body("u1", &deleted.0),
    );

    let response = deliver(&harness, &delivery).await;

    assert_eq!(response.status(), 200);
    assert_revoked(&harness, &deleted.1, "the deleted Appwrite session").await;
    tokens(harness.app.refresh(&kept.1.refresh_token).await).await;
    let replay = deliver(&harness, &delivery).await;
    assert_eq!(replay.status(), 200);
    assert_eq!(
        replay.json::<Value>().await.unwrap()["changed_sessions"],
        0,
        "a replay changes nothing"
    );
    assert_eq!(
        harness
            .count("select count(*) from audit_events where event = 'webhook.applied'")
            .await,
        1
    );
}

async fn user_level_events_revoke_every_session(backend: Backend) {
    let harness = start(backend).await;
    let cases = [
        (
            "blocked",
            "users.blocked.update.status",
            "appwrite_user_blocked",
        ),
        ("deleted", "users.deleted.delete", "appwrite_user_deleted"),
        (
            "password",
            "users.password.update.password",
            "appwrite_password_changed",
        ),
        (
            "logout-all",
            "users.logout-all.sessions.delete",
            "appwrite_sessions_deleted",
        ),
    ];
    for (user, event, reason) in cases {
        let sessions = two_sessions(&harness, user).await;
        // Events act as of their own time (`$updatedAt`): these happened just now.
        let now = server_now(&harness);
        let body = match user {
            "password" => password_body(user, &now),
            _ => user_body(user, &now, user != "blocked", &[]),
        };
        let response = deliver(&harness, &Delivery::new(event, body)).await;
        assert_eq!(response.status(), 200, "{event}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["changed_sessions"],
            2,
            "{event}"
        );
        for (_, session) in &sessions {
            assert_revoked(&harness, session, event).await;
        }
        let sid = harness
            .session_id(&sessions[0].1.access_token)
            .await
            .parse()
            .unwrap();
        let stored = harness
            .db
            .open()
            .await
            .store()
            .find_session(sid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.revoked_reason.unwrap().as_str(), reason);
    }
    let unblocked = two_sessions(&harness, "unblocked").await;
    let body = user_body("unblocked", "2026-08-03T10:00:00.000+00:00", true, &[]);
    assert_eq!(
        deliver(
            &harness,
            &Delivery::new("users.unblocked.update.status", body)
        )
        .await
        .status(),
        200
    );
    tokens(harness.app.refresh(&unblocked[0].1.refresh_token).await).await;
}

/// A label change reaches the next refreshed access token; an older delivery arriving late
/// does not roll it back.
async fn label_updates_reach_the_next_access_token_only_when_newer(backend: Backend) {
    let harness = start(backend).await;
    let issued = harness.login("u1").await;
    let newer = user_body(
        "u1",
        "2026-09-01T10:00:00.000+00:00",
        true,
        &["admin", "beta"],
    );
    assert_eq!(
        deliver(&harness, &Delivery::new("users.u1.update.labels", newer))
            .await
            .status(),
        200
    );

    let refreshed = tokens(harness.app.refresh(&issued.refresh_token).await).await;
    let claims = harness
        .app
        .verify_access_token(&refreshed.access_token, "api")
        .await;
    assert_eq!(claims["labels"], serde_json::json!(["admin", "beta"]));
    assert_eq!(claims["name"], "Renée", "the \\u00e9 escape was decoded");

    let older = user_body("u1", "2026-08-15T10:00:00.000+00:00", true, &["beta"]);
    let stale = deliver(&harness, &Delivery::new("users.u1.update.labels", older)).await;
    assert_eq!(stale.json::<Value>().await.unwrap()["changed_sessions"], 0);
    let again = tokens(harness.app.refresh(&refreshed.refresh_token).await).await;
    let claims = harness
        .app
        .verify_access_token(&again.access_token, "api")
        .await;
    assert_eq!(claims["labels"], serde_json::json!(["admin", "beta"]));
}

/// A password change or a block acts as of its own time: it revokes the sessions created
/// before it, and a replay of the same signed delivery later revokes nothing newer, moves no
/// not-before, and writes no audit or feed entry.
async fn a_replayed_password_or_status_event_spares_newer_sessions(backend: Backend) {
    let harness = start(backend).await;
    let cases = [
        ("password", "users.password.update.password"),
        ("blocked", "users.blocked.update.status"),
    ];
    for (user, event) in cases {
        let before = two_sessions(&harness, user).await;
        advance(&harness.app, Duration::from_secs(30));
        let at = server_now(&harness);
        let body = match user {
            "password" => password_body(user, &at),
            _ => user_body(user, &at, false, &[]),
        };
        let delivery = Delivery::new(event, body);
        let first = deliver(&harness, &delivery).await;
        assert_eq!(first.status(), 200, "{event}");
        for (_, session) in &before {
            assert_revoked(&harness, session, event).await;
        }
        // Later (past any clock-skew margin) the user signs in again; then the old delivery is
        // replayed.
        advance(&harness.app, Duration::from_secs(120));
        let after = harness.login(user).await;
        let audit_rows = harness.count("select count(*) from audit_events").await;
        let feed_rows = harness.count("select count(*) from revocations").await;

        let replay = deliver(&harness, &delivery).await;

        assert_eq!(replay.status(), 200, "{event}");
        assert_eq!(
            replay.json::<Value>().await.unwrap()["changed_sessions"],
            0,
            "{event}: the replay revoked a newer session"
        );
        let refreshed = tokens(harness.app.refresh(&after.refresh_token).await).await;
        let me = harness
            .app
            .client
            .get(harness.app.url("/v1/me/sessions"))
            .bearer_auth(&after.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            me.status(),
            200,
            "{event}: the not-before moved past the new login"
        );
        assert!(!refreshed.refresh_token.is_empty());
        assert_eq!(
            harness.count("select count(*) from audit_events").await,
            audit_rows,
            "{event}: the replay wrote audit rows"
        );
        assert_eq!(
            harness.count("select count(*) from revocations").await,
            feed_rows,
            "{event}: the replay added feed entries"
        );
    }
}

/// A genuine deletion can carry the very body of an earlier update (a rename, nothing else
/// changed, then a deletion). With `APPWRITE_API_KEY`, a re-labelled deletion is checked with
/// Appwrite: refused while the user exists, applied once Appwrite confirms it is gone.
async fn a_relabelled_deletion_appwrite_confirms_is_applied(backend: Backend) {
    let appwrite = tokenmint_fake_appwrite::FakeAppwrite::start().await;
    let key = appwrite.create_api_key(&["users.read"]);
    let harness = Harness::start_beside(
        backend,
        appwrite,
        &[
            ("TOKENMINT_APPWRITE_WEBHOOK_KEY", KEY),
            ("APPWRITE_API_KEY", key.as_str()),
            ("TOKENMINT_APPWRITE_RECONCILE", "off"),
        ],
    )
    .await;
    let before = two_sessions(&harness, "u1").await;
    let body = user_body("u1", &server_now(&harness), true, &[]);
    let renamed = Delivery::new("users.u1.update.name", body.clone());
    assert_eq!(deliver(&harness, &renamed).await.status(), 200);
    let deletion = Delivery::new("users.u1.delete", body.clone());
    assert_eq!(
        deliver(&harness, &deletion).await.status(),
        409,
        "Appwrite still has the user: refused"
    );
    let mut live = Vec::new();
    for (_, session) in &before {
        live.push(tokens(harness.app.refresh(&session.refresh_token).await).await);
    }

    harness.appwrite.delete_user("u1");
    assert_eq!(deliver(&harness, &deletion).await.status(), 200);
    for session in &live {
        assert_revoked(&harness, session, "confirmed deletion").await;
    }
}

/// The events header is not signed. A genuine name change, replayed with its header changed
/// to a deletion (or to "delete all sessions"), is refused with 409 and revokes nothing —
/// neither the sessions that existed at the genuine event nor those created since.
async fn a_delivery_relabelled_as_a_deletion_is_refused_and_revokes_nothing(backend: Backend) {
    let harness = start(backend).await;
    let before = two_sessions(&harness, "u1").await;
    let body = user_body("u1", &server_now(&harness), true, &[]);
    let genuine = Delivery::new("users.u1.update.name", body.clone());
    assert_eq!(deliver(&harness, &genuine).await.status(), 200);
    advance(&harness.app, Duration::from_secs(120));
    let after = harness.login("u1").await;
    let feed_rows = harness.count("select count(*) from revocations").await;

    for relabel in ["users.u1.delete", "users.u1.sessions.delete"] {
        // The same signed body: the signature still verifies.
        let replayed = deliver(&harness, &Delivery::new(relabel, body.clone())).await;
        assert_eq!(replayed.status(), 409, "{relabel}");
        assert_eq!(
            replayed.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = replayed.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains("other events"),
            "{problem}"
        );
    }
    // Again, to show it stays refused.
    let again = deliver(&harness, &Delivery::new("users.u1.delete", body.clone())).await;
    assert_eq!(again.status(), 409);

    let mut sessions: Vec<&Tokens> = before.iter().map(|(_, t)| t).collect();
    sessions.push(&after);
    for session in sessions {
        tokens(harness.app.refresh(&session.refresh_token).await).await;
    }
    assert_eq!(
        harness.count("select count(*) from revocations").await,
        feed_rows,
        "a refused delivery wrote feed entries"
    );
    assert_eq!(
        harness
            .count("select count(*) from audit_events where event = 'webhook.refused'")
            .await,
        3
    );
    // The genuine event may still be redelivered.
    assert_eq!(deliver(&harness, &genuine).await.status(), 200);
}

/// Redelivering a delivery (same body, same events, in any order) answers 200 again and is
/// idempotent: a "delete all sessions" acts as of its first receipt, so the redelivery spares
/// a session created since.
async fn an_identical_redelivery_succeeds_and_is_idempotent(backend: Backend) {
    let harness = start(backend).await;
    let before = two_sessions(&harness, "u1").await;
    let body = user_body("u1", "2026-08-03T10:00:00.000+00:00", true, &[]);
    let delivery = Delivery::new("users.u1.sessions.delete", body.clone());
    let first = deliver(&harness, &delivery).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.json::<Value>().await.unwrap()["changed_sessions"], 2);
    for (_, session) in &before {
        assert_revoked(&harness, session, "the first delivery").await;
    }
    advance(&harness.app, Duration::from_secs(120));
    let after = harness.login("u1").await;
    let audit_rows = harness.count("select count(*) from audit_events").await;

    let mut reordered = Delivery::new("users.u1.sessions.delete", body);
    let mut names: Vec<&str> = delivery.events.split(',').collect();
    names.reverse();
    reordered.events = names.join(", ");
    for redelivery in [&delivery, &reordered] {
        let again = deliver(&harness, redelivery).await;
        assert_eq!(again.status(), 200);
        assert_eq!(
            again.json::<Value>().await.unwrap(),
            serde_json::json!({"status": "ok", "changed_sessions": 0}),
            "the redelivery revoked a newer session"
        );
    }
    tokens(harness.app.refresh(&after.refresh_token).await).await;
    assert_eq!(
        harness.count("select count(*) from audit_events").await,
        audit_rows
    );
    assert_eq!(
        harness
            .count("select count(*) from webhook_deliveries")
            .await,
        1
    );
}

/// A destructive event must name the payload's user (and session): a deletion whose body is
/// another user's, or a session deletion naming another session, is refused with 422 and
/// does nothing; the genuine delivery of the same body is still applied afterwards.
async fn a_deletion_whose_body_names_another_user_is_refused(backend: Backend) {
    let harness = start(backend).await;
    let u1 = two_sessions(&harness, "u1").await;
    let u2 = two_sessions(&harness, "u2").await;
    let body = user_body("u2", &server_now(&harness), true, &[]);

    let mismatched = deliver(&harness, &Delivery::new("users.u1.delete", body.clone())).await;
    assert_eq!(mismatched.status(), 422);
    assert_eq!(
        mismatched.headers()["content-type"],
        "application/problem+json"
    );
    let session = session_body("u1", &u1[0].0);
    let other_session = deliver(
        &harness,
        &Delivery::new("users.u1.sessions.elsewhere.delete", session),
    )
    .await;
    assert_eq!(other_session.status(), 422);
    for (_, session) in u1.iter().chain(&u2) {
        tokens(harness.app.refresh(&session.refresh_token).await).await;
    }
    assert_eq!(
        harness
            .count("select count(*) from audit_events where event = 'webhook.refused'")
            .await,
        2
    );

    let genuine = deliver(&harness, &Delivery::new("users.u2.delete", body)).await;
    assert_eq!(genuine.status(), 200);
    assert_eq!(
        genuine.json::<Value>().await.unwrap()["changed_sessions"],
        2
    );
}

/// Missing or bad signatures, a body altered by one byte, another URL: 401, nothing changes.
async fn unauthenticated_deliveries_are_refused_and_change_nothing(backend: Backend) {
    let harness = start(backend).await;
    let sessions = two_sessions(&harness, "u1").await;
    let body = user_body("u1", "2026-08-03T10:00:00.000+00:00", true, &[]);
    let good = Delivery::new("users.u1.delete", body.clone());
    let mut altered = body.clone().into_bytes();
    altered[10] ^= 1;
    let attempts = [
        (
            "missing signature",
            Delivery {
                signature: None,
                ..Delivery::new("users.u1.delete", body.clone())
            },
        ),
        (
            "garbage signature",
            Delivery {
                signature: Some("bm90IGl0".into()),
                ..Delivery::new("users.u1.delete", body.clone())
            },
        ),
        (
            "altered body",
            Delivery {
                body: String::from_utf8(altered).unwrap(),
                ..Delivery::new("users.u1.delete", body.clone())
            },
        ),
        (
            "other URL",
            Delivery {
                signature: Some(sign("https://evil.example.com/webhooks/appwrite", &body)),
                ..Delivery::new("users.u1.delete", body.clone())
            },
        ),
        (
            "other key",
            Delivery {
                signature: Some({
                    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, b"another-key");
                    STANDARD.encode(hmac::sign(&key, format!("{URL}{body}").as_bytes()).as_ref())
                }),
                ..Delivery::new("users.u1.delete", body.clone())
            },
        ),
    ];
    for (case, delivery) in &attempts {
        let response = deliver(&harness, delivery).await;
        assert_eq!(response.status(), 401, "{case}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    for (_, session) in &sessions {
        tokens(harness.app.refresh(&session.refresh_token).await).await;
    }
    assert_eq!(
        harness
            .count("select count(*) from sessions where revoked_at is not null")
            .await,
        0
    );
    assert_eq!(
        deliver(&harness, &good).await.status(),
        200,
        "the genuine delivery still applies"
    );
}

on_both_backends!(
    deleting_an_appwrite_session_revokes_only_the_sessions_made_from_it,
    user_level_events_revoke_every_session,
    label_updates_reach_the_next_access_token_only_when_newer,
    a_replayed_password_or_status_event_spares_newer_sessions,
    unauthenticated_deliveries_are_refused_and_change_nothing,
    a_delivery_relabelled_as_a_deletion_is_refused_and_revokes_nothing,
    a_relabelled_deletion_appwrite_confirms_is_applied,
    an_identical_redelivery_succeeds_and_is_idempotent,
    a_deletion_whose_body_names_another_user_is_refused,
);

/// A signed delivery naming no event tokenmint acts on, or no event at all, is answered 200
/// `ignored` (as `WebhookResult` documents), not `ok`, and changes nothing.
#[tokio::test]
async fn unknown_events_are_ignored_with_200() {
    let harness = start(Backend::Sqlite).await;
    let issued = harness.login("u1").await;
    let body = session_body("u1", "s9");
    let response = deliver(
        &harness,
        &Delivery::new("users.u1.sessions.s9.create", body),
    )
    .await;
    let ignored = serde_json::json!({"status": "ignored", "changed_sessions": 0});
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), ignored);
    // No event named at all (Appwrite always sends the header; schemathesis did not).
    let body = user_body("u1", "2026-08-03T10:00:00.000+00:00", false, &[]);
    let request = harness
        .app
        .client
        .post(harness.app.url("/webhooks/appwrite"));
    let request = request.header("x-appwrite-webhook-signature", sign(URL, &body));
    let response = request.body(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), ignored);
    tokens(harness.app.refresh(&issued.refresh_token).await).await;
    // So the document does not call the header required (schemathesis's
    // `missing_required_header` check holds it to that).
    let document = harness.app.get_json("/openapi.json").await;
    let parameters = &document["paths"]["/webhooks/appwrite"]["post"]["parameters"];
    let events = parameters.as_array().unwrap().iter();
    let events = events
        .filter(|p| p["name"] == "X-Appwrite-Webhook-Events")
        .collect::<Vec<_>>();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["required"], false);
}

#[tokio::test]
async fn without_a_webhook_key_deliveries_are_refused_with_404() {
    let harness = Harness::start(Backend::Sqlite).await;
    let body = user_body("u1", "2026-08-03T10:00:00.000+00:00", true, &[]);
    let response = deliver(&harness, &Delivery::new("users.u1.delete", body)).await;
    assert_eq!(response.status(), 404);
}

/// Appwrite 1.9.6 signs the percent-decoded URL; `main` the URL as configured. Both pass.
#[tokio::test]
async fn both_url_forms_are_accepted() {
    let configured = "http://localhost:8080/webhooks/appwrite?tenant=a%2Fb";
    let harness = Harness::start_with(
        Backend::Sqlite,
        &[
            ("TOKENMINT_APPWRITE_WEBHOOK_KEY", KEY),
            ("TOKENMINT_APPWRITE_WEBHOOK_URL", configured),
        ],
    )
    .await;
    let body = user_body("u1", "2026-08-03T10:00:00.000+00:00", true, &[]);
    for url in [
        configured,
        "http://localhost:8080/webhooks/appwrite?tenant=a/b",
    ] {
        let delivery = Delivery {
            signature: Some(sign(url, &body)),
            ..Delivery::new("users.u1.delete", body.clone())
        };
        assert_eq!(deliver(&harness, &delivery).await.status(), 200, "{url}");
    }
    let plain = Delivery {
        signature: Some(sign(URL, &body)),
        ..Delivery::new("users.u1.delete", body.clone())
    };
    assert_eq!(
        deliver(&harness, &plain).await.status(),
        401,
        "not the configured URL"
    );
}

#[tokio::test]
async fn configured_basic_credentials_are_required() {
    let harness = Harness::start_with(
        Backend::Sqlite,
        &[
            ("TOKENMINT_APPWRITE_WEBHOOK_KEY", KEY),
            ("TOKENMINT_APPWRITE_WEBHOOK_USERNAME", "appwrite"),
            ("TOKENMINT_APPWRITE_WEBHOOK_PASSWORD", "s3cret"),
        ],
    )
    .await;
    let body = user_body("u1", "2026-08-03T10:00:00.000+00:00", true, &[]);
    let without = Delivery::new("users.u1.delete", body.clone());
    assert_eq!(deliver(&harness, &without).await.status(), 401);
    let wrong = Delivery {
        basic: Some(("appwrite", "guess")),
        ..Delivery::new("users.u1.delete", body.clone())
    };
    assert_eq!(deliver(&harness, &wrong).await.status(), 401);
    let right = Delivery {
        basic: Some(("appwrite", "s3cret")),
        ..Delivery::new("users.u1.delete", body)
    };
    assert_eq!(deliver(&harness, &right).await.status(), 200);
}
