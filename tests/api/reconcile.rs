//! Sessions that follow Appwrite without webhooks: with `APPWRITE_API_KEY`, the reconciler
//! checks each live session against Appwrite's Users API once per
//! `TOKENMINT_APPWRITE_RECONCILE` period and revokes what Appwrite no longer backs. The server
//! runs on a manual clock: moving it one period makes every session due, once.

use std::time::Duration;

use tokenmint_fake_appwrite::{Failure, FakeAppwrite};

use crate::helpers::{Backend, TestApp, eventually};
use crate::metrics_helpers::Scrape;
use crate::oauth_helpers::{Harness, JWT_TYPE, advance, tokens};
use crate::on_both_backends;

/// `TOKENMINT_APPWRITE_RECONCILE` of these tests: rounds run every 200 ms.
const PERIOD: Duration = Duration::from_secs(1);

async fn harness(backend: Backend) -> Harness {
    let appwrite = FakeAppwrite::start().await;
    let key = appwrite.create_api_key(&["users.read"]);
    Harness::start_beside(
        backend,
        appwrite,
        &[
            ("APPWRITE_API_KEY", key.as_str()),
            ("TOKENMINT_APPWRITE_RECONCILE", "1s"),
            ("APPWRITE_OAUTH_CLIENT_IDS", "app"),
        ],
    )
    .await
}

/// Signs `user` in with a new Appwrite session; returns the tokenmint session id and the
/// Appwrite session id.
async fn sign_in(harness: &Harness, user: &str) -> (uuid::Uuid, String) {
    let (appwrite_session, _) = harness.appwrite.create_session(user);
    let jwt = harness.appwrite.create_jwt(user, &appwrite_session);
    let issued = tokens(harness.app.exchange(JWT_TYPE, &jwt, &[]).await).await;
    let claims = harness
        .app
        .verify_access_token(&issued.access_token, "api")
        .await;
    (
        claims["sid"].as_str().unwrap().parse().unwrap(),
        appwrite_session,
    )
}

/// Requests the fake received for `GET /v1/users/{user}` (one per check of that user).
fn user_checks(appwrite: &FakeAppwrite, user: &str) -> usize {
    let path = format!("/v1/users/{user}");
    appwrite
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .count()
}

async fn reconcile_metric(app: &TestApp, outcome: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    Scrape::parse(&text).value(
        "tokenmint_appwrite_reconcile_checks_total",
        &[("outcome", outcome)],
    )
}

/// An Appwrite session logged out (no webhook configured) or expired (Appwrite sends none):
/// its tokenmint session is revoked within one period; the others live on.
async fn sessions_whose_appwrite_session_ended_are_revoked_within_a_period(backend: Backend) {
    let harness = harness(backend).await;
    harness.appwrite.add_user("u1");
    let (kept, _) = sign_in(&harness, "u1").await;
    let (logged_out, logged_out_appwrite) = sign_in(&harness, "u1").await;
    let (expired, expired_appwrite) = sign_in(&harness, "u1").await;
    harness.appwrite.delete_session(&logged_out_appwrite);
    harness.appwrite.expire_session(&expired_appwrite);
    // Not due yet: nothing is asked.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(user_checks(&harness.appwrite, "u1"), 0);

    advance(&harness.app, PERIOD);
    assert!(
        eventually(Duration::from_secs(5), || async {
            harness.session(expired).await.revoked_at.is_some()
                && harness.session(logged_out).await.revoked_at.is_some()
        })
        .await,
        "revoked within a period"
    );
    for id in [logged_out, expired] {
        assert_eq!(
            harness.session(id).await.revoked_reason.map(|r| r.as_str()),
            Some("appwrite_session_expired")
        );
    }
    assert!(harness.session(kept).await.revoked_at.is_none());
    assert_eq!(
        harness
            .count(
                "select count(*) from audit_events where event = 'session.revoked' \
                 and reason = 'appwrite_session_expired' and actor = 'system'"
            )
            .await,
        2
    );
    // One check of the user for its three sessions (claimed in one round).
    assert_eq!(user_checks(&harness.appwrite, "u1"), 1);
    assert!(reconcile_metric(&harness.app, "session_ended").await >= 1.0);
}

/// A user blocked (Appwrite keeps their sessions) or deleted: every session of theirs is
/// revoked, those opened by an OAuth2 token (which names no Appwrite session) included.
async fn blocked_and_deleted_users_lose_their_sessions(backend: Backend) {
    let harness = harness(backend).await;
    harness.appwrite.add_user("blocked");
    harness.appwrite.add_user("deleted");
    harness.appwrite.add_user("fine");
    let (blocked, _) = sign_in(&harness, "blocked").await;
    let oauth = harness.appwrite.oauth_access_token("blocked", "app");
    let by_oauth = tokens(
        harness
            .app
            .exchange("urn:ietf:params:oauth:token-type:access_token", &oauth, &[])
            .await,
    )
    .await;
    let (deleted, _) = sign_in(&harness, "deleted").await;
    let (fine, _) = sign_in(&harness, "fine").await;
    harness
        .appwrite
        .update_user("blocked", |user| user.status = false);
    harness.appwrite.delete_user("deleted");

    advance(&harness.app, PERIOD);
    assert!(
        eventually(Duration::from_secs(5), || async {
            harness.session(blocked).await.revoked_at.is_some()
                && harness.session(deleted).await.revoked_at.is_some()
        })
        .await
    );
    assert_eq!(
        harness
            .session(blocked)
            .await
            .revoked_reason
            .map(|r| r.as_str()),
        Some("appwrite_user_blocked")
    );
    assert_eq!(
        harness
            .session(deleted)
            .await
            .revoked_reason
            .map(|r| r.as_str()),
        Some("appwrite_user_deleted")
    );
    let (status, error, _) =
        crate::oauth_helpers::oauth_error(harness.app.refresh(&by_oauth.refresh_token).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert!(harness.session(fine).await.revoked_at.is_none());
    assert!(reconcile_metric(&harness.app, "user_blocked").await >= 1.0);
    assert!(reconcile_metric(&harness.app, "user_deleted").await >= 1.0);
}

/// Appwrite down: nothing is revoked, the metric says why, and the sessions come due again
/// after the retry delay (here the period, shorter than a minute); once Appwrite answers, the
/// check is made.
async fn appwrite_down_revokes_nothing_and_is_retried(backend: Backend) {
    let harness = harness(backend).await;
    harness.appwrite.add_user("u1");
    let (id, appwrite_session) = sign_in(&harness, "u1").await;
    harness.appwrite.delete_session(&appwrite_session);
    harness.appwrite.fail_with(Some(Failure::Status(503)));

    advance(&harness.app, PERIOD);
    assert!(
        eventually(Duration::from_secs(5), || async {
            reconcile_metric(&harness.app, "unavailable").await >= 1.0
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        harness.session(id).await.revoked_at.is_none(),
        "nothing revoked"
    );
    let asked = user_checks(&harness.appwrite, "u1");
    assert_eq!(asked, 1, "not asked again before the retry is due");

    harness.appwrite.fail_with(None);
    advance(&harness.app, PERIOD);
    assert!(
        eventually(Duration::from_secs(5), || async {
            harness.session(id).await.revoked_at.is_some()
        })
        .await,
        "checked again after the retry delay: {} checks, unavailable {}",
        user_checks(&harness.appwrite, "u1"),
        reconcile_metric(&harness.app, "unavailable").await
    );
}

/// Two replicas on one database: each session is checked once per period, not once per
/// replica, and not again until the next period.
async fn replicas_share_the_work_each_session_once_per_period(backend: Backend) {
    let harness = harness(backend).await;
    let key = harness.appwrite.create_api_key(&["users.read"]);
    let replica = harness
        .replica_on_same_clock(&[
            ("APPWRITE_API_KEY", key.as_str()),
            ("TOKENMINT_APPWRITE_RECONCILE", "1s"),
        ])
        .await;
    const USERS: usize = 30;
    for i in 0..USERS {
        harness.appwrite.add_user(&format!("u{i}"));
        sign_in(&harness, &format!("u{i}")).await;
    }
    let checks = |appwrite: &FakeAppwrite| -> Vec<usize> {
        (0..USERS)
            .map(|i| user_checks(appwrite, &format!("u{i}")))
            .collect()
    };

    for period in 1..=2 {
        advance(&harness.app, PERIOD);
        assert!(
            eventually(Duration::from_secs(5), || async {
                checks(&harness.appwrite).iter().all(|&n| n >= period)
            })
            .await,
            "period {period}: {:?}",
            checks(&harness.appwrite)
        );
        // Both replicas keep ticking; nothing more is due until the clock moves on.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            checks(&harness.appwrite),
            vec![period; USERS],
            "period {period}: each user checked exactly once per period"
        );
    }
    let mut by_replica = 0.0;
    for app in [&harness.app, &replica] {
        by_replica += reconcile_metric(app, "active").await;
    }
    assert_eq!(by_replica, (2 * USERS) as f64);
}

on_both_backends!(
    sessions_whose_appwrite_session_ended_are_revoked_within_a_period,
    blocked_and_deleted_users_lose_their_sessions,
    appwrite_down_revokes_nothing_and_is_retried,
    replicas_share_the_work_each_session_once_per_period,
);

/// Without `APPWRITE_API_KEY` Appwrite's Users API is never called.
#[tokio::test]
async fn without_an_api_key_nothing_is_reconciled() {
    let harness = Harness::start(Backend::Sqlite).await;
    harness.appwrite.add_user("u1");
    sign_in(&harness, "u1").await;
    harness.appwrite.delete_user("u1");
    advance(&harness.app, PERIOD * 2);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        harness
            .appwrite
            .requests()
            .iter()
            .all(|r| !r.path.starts_with("/v1/users")),
    );
}

/// A key Appwrite refuses (wrong, or without `users.read`): counted as `misconfigured`,
/// logged, and nothing is revoked.
#[tokio::test]
async fn a_refused_api_key_revokes_nothing() {
    let appwrite = FakeAppwrite::start().await;
    let without_scope = appwrite.create_api_key(&["users.write"]);
    let harness = Harness::start_beside(
        Backend::Sqlite,
        appwrite,
        &[
            ("APPWRITE_API_KEY", without_scope.as_str()),
            ("TOKENMINT_APPWRITE_RECONCILE", "1s"),
        ],
    )
    .await;
    harness.appwrite.add_user("u1");
    let (id, _) = sign_in(&harness, "u1").await;
    harness.appwrite.delete_user("u1");
    advance(&harness.app, PERIOD);
    assert!(
        eventually(Duration::from_secs(5), || async {
            reconcile_metric(&harness.app, "misconfigured").await >= 1.0
        })
        .await
    );
    assert!(harness.session(id).await.revoked_at.is_none());
}
