//! Self-service sessions: a user sees and ends their own sessions, never anyone else's.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::Backend;
use crate::oauth_helpers::{Harness, JWT_TYPE, oauth_error, tokens};
use crate::on_both_backends;

async fn me(
    harness: &Harness,
    method: Method,
    path: &str,
    access_token: Option<&str>,
) -> reqwest::Response {
    let mut request = harness.app.client.request(method, harness.app.url(path));
    if let Some(token) = access_token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn users_see_and_end_only_their_own_sessions(backend: Backend) {
    let harness = Harness::start(backend).await;
    let phone = harness.login("u1").await;
    let laptop = harness.login("u1").await;
    let stranger = harness.login("u2").await;
    let laptop_sid = harness.session_id(&laptop.access_token).await;
    let stranger_sid = harness.session_id(&stranger.access_token).await;

    let listed: Value = me(
        &harness,
        Method::GET,
        "/v1/me/sessions",
        Some(&phone.access_token),
    )
    .await
    .json()
    .await
    .unwrap();
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    assert!(sessions.iter().all(|s| s["user_id"] == "u1"));
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(sessions.iter().all(|s| s["id"] != stranger_sid));

    let theirs = me(
        &harness,
        Method::DELETE,
        &format!("/v1/me/sessions/{stranger_sid}"),
        Some(&phone.access_token),
    )
    .await;
    assert_eq!(
        theirs.status(),
        404,
        "another user's session looks like a missing one"
    );
    tokens(harness.app.refresh(&stranger.refresh_token).await).await;

    let mine = me(
        &harness,
        Method::DELETE,
        &format!("/v1/me/sessions/{laptop_sid}"),
        Some(&phone.access_token),
    )
    .await;
    assert_eq!(mine.status(), 204);
    let (_, error, _) = oauth_error(harness.app.refresh(&laptop.refresh_token).await).await;
    assert_eq!(error, "invalid_grant");
    let again = me(
        &harness,
        Method::DELETE,
        &format!("/v1/me/sessions/{laptop_sid}"),
        Some(&phone.access_token),
    )
    .await;
    assert_eq!(again.status(), 204, "idempotent");
    let revoked_token = me(
        &harness,
        Method::GET,
        "/v1/me/sessions",
        Some(&laptop.access_token),
    )
    .await;
    assert_eq!(
        revoked_token.status(),
        401,
        "a revoked session's access token is refused"
    );
}

/// With `TOKENMINT_SELF_SERVICE_AUDIENCE=account`, an access token minted for another audience
/// (`api`: what a resource server receives) can neither list its user's sessions nor end them,
/// on `/v1/me` or by `/oauth/revoke`; one minted for `account` can. (Before the setting, any
/// audience could.)
async fn only_the_self_service_audience_acts_on_the_users_sessions(backend: Backend) {
    let harness = Harness::start_with(
        backend,
        &[
            ("TOKENMINT_AUDIENCES", "api,account"),
            ("TOKENMINT_SELF_SERVICE_AUDIENCE", "account"),
        ],
    )
    .await;
    let for_api = harness.login("u1").await;
    let signed_in = harness.signed_in("u1");
    let for_account = tokens(
        harness
            .app
            .exchange(JWT_TYPE, &signed_in.jwt, &[("audience", "account")])
            .await,
    )
    .await;

    let listed = me(
        &harness,
        Method::GET,
        "/v1/me/sessions",
        Some(&for_api.access_token),
    )
    .await;
    assert_eq!(listed.status(), 401, "a token for `api`");
    let listed = me(
        &harness,
        Method::GET,
        "/v1/me/sessions",
        Some(&for_account.access_token),
    )
    .await;
    assert_eq!(listed.status(), 200, "a token for `account`");

    // Revocation by an `api` access token changes nothing (RFC 7009: still 200).
    let revoked = harness
        .app
        .post_form("/oauth/revoke", &[("token", for_api.access_token.as_str())])
        .await;
    assert_eq!(revoked.status(), 200);
    tokens(harness.app.refresh(&for_api.refresh_token).await).await;
    // By an `account` access token it ends that session.
    let revoked = harness
        .app
        .post_form(
            "/oauth/revoke",
            &[("token", for_account.access_token.as_str())],
        )
        .await;
    assert_eq!(revoked.status(), 200);
    let (status, _, _) = oauth_error(harness.app.refresh(&for_account.refresh_token).await).await;
    assert_eq!(status, 400, "revoked");
}

on_both_backends!(
    only_the_self_service_audience_acts_on_the_users_sessions,
    users_see_and_end_only_their_own_sessions
);

#[tokio::test]
async fn self_service_needs_a_valid_access_token() {
    let harness = Harness::start(Backend::Sqlite).await;
    let issued = harness.login("u1").await;
    let mut tampered = issued.access_token.clone();
    tampered.truncate(tampered.len() - 2);
    for token in [
        None,
        Some("garbage"),
        Some(tampered.as_str()),
        Some(issued.refresh_token.as_str()),
    ] {
        let response = me(&harness, Method::GET, "/v1/me/sessions", token).await;
        assert_eq!(response.status(), 401, "{token:?}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
}
