//! `POST /oauth/introspect` (RFC 7662).

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokenmint::domain::model::admin_keys::AdminRole;

use crate::admin::create_key;
use crate::helpers::Backend;
use crate::oauth_helpers::{Harness, advance, oauth_error, tokens};
use crate::on_both_backends;

async fn introspect(harness: &Harness, key: Option<&str>, token: &str) -> reqwest::Response {
    let mut request = harness
        .app
        .client
        .post(harness.app.url("/oauth/introspect"))
        .form(&[("token", token)]);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

async fn active(harness: &Harness, key: &str, token: &str) -> Value {
    let response = introspect(harness, Some(key), token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn introspection_reports_live_tokens_and_nothing_else(backend: Backend) {
    let harness = Harness::start(backend).await;
    let (_, key) = create_key(&harness.db, AdminRole::Introspect).await;
    let issued = harness.login("u1").await;

    let access = active(&harness, &key, &issued.access_token).await;
    assert_eq!(access["active"], true);
    assert_eq!(access["token_type"], "access_token");
    assert_eq!(access["sub"], "u1");
    assert_eq!(access["aud"], "api");
    assert_eq!(access["client_id"], "anonymous");
    assert!(access["exp"].is_i64() && access["jti"].is_string() && access["sid"].is_string());
    let refresh = active(&harness, &key, &issued.refresh_token).await;
    assert_eq!(refresh["active"], true);
    assert_eq!(refresh["token_type"], "refresh_token");
    assert_eq!(refresh["sid"], access["sid"]);

    let next = tokens(harness.app.refresh(&issued.refresh_token).await).await;
    assert_eq!(
        active(&harness, &key, &issued.refresh_token).await,
        serde_json::json!({"active": false}),
        "used"
    );
    assert_eq!(
        active(&harness, &key, &next.refresh_token).await["active"],
        true
    );
    for garbage in [
        "garbage",
        "tmr_AAAA",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1MSJ9.",
    ] {
        assert_eq!(
            active(&harness, &key, garbage).await,
            serde_json::json!({"active": false}),
            "{garbage}"
        );
    }

    harness
        .app
        .post_form("/oauth/revoke", &[("token", &next.refresh_token)])
        .await;
    assert_eq!(
        active(&harness, &key, &next.access_token).await["active"],
        false,
        "revoked session"
    );
    assert_eq!(
        active(&harness, &key, &next.refresh_token).await["active"],
        false
    );
}

on_both_backends!(introspection_reports_live_tokens_and_nothing_else);

#[tokio::test]
async fn introspection_needs_an_admin_or_introspect_key() {
    let harness = Harness::start(Backend::Sqlite).await;
    let (_, admin) = create_key(&harness.db, AdminRole::Admin).await;
    let issued = harness.login("u1").await;
    for key in [None, Some("garbage"), Some(issued.access_token.as_str())] {
        let (status, error, _) =
            oauth_error(introspect(&harness, key, &issued.access_token).await).await;
        assert_eq!((status, error.as_str()), (401, "invalid_client"), "{key:?}");
    }
    assert_eq!(
        active(&harness, &admin, &issued.access_token).await["active"],
        true
    );
    let missing = harness
        .app
        .client
        .post(harness.app.url("/oauth/introspect"))
        .bearer_auth(&admin)
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    let (status, error, _) = oauth_error(missing).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
}

/// Revoking all of a user's sessions sets their not-before: access tokens issued earlier are
/// inactive even though they have not expired; tokens from a later login are fine.
#[tokio::test]
async fn revoke_all_makes_earlier_access_tokens_inactive() {
    let harness = Harness::start(Backend::Sqlite).await;
    let (_, admin) = create_key(&harness.db, AdminRole::Admin).await;
    let before = harness.login("u1").await;
    harness
        .app
        .admin_json(Method::DELETE, "/admin/v1/users/u1/sessions", &admin)
        .await;
    assert_eq!(
        active(&harness, &admin, &before.access_token).await["active"],
        false
    );

    advance(&harness.app, Duration::from_secs(2));
    let after = harness.login("u1").await;
    assert_eq!(
        active(&harness, &admin, &after.access_token).await["active"],
        true
    );
}
