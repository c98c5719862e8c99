//! Token exchange: an Appwrite proof in, tokenmint's tokens out; every Appwrite answer of the
//! contract mapped to its OAuth error.

use std::time::{Duration, Instant};

use serde_json::json;
use tokenmint::domain::token::RefreshToken;

use crate::helpers::{Backend, TestApp, TestDb};
use crate::oauth_helpers::{Harness, JWT_TYPE, SESSION_TYPE, oauth_error, tokens};
use crate::on_both_backends;
use tokenmint_fake_appwrite::Failure;

async fn exchange_with_an_appwrite_jwt_issues_verifiable_tokens_and_links_the_session(
    backend: Backend,
) {
    let harness = Harness::start(backend).await;
    let user = harness.signed_in("u1");

    let response = harness
        .app
        .exchange(JWT_TYPE, &user.jwt, &[("device_name", "Jane's Pixel")])
        .await;

    let issued = tokens(response).await;
    assert_eq!(
        issued.body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(issued.expires_in, 900);
    assert!(issued.refresh_token.starts_with("tmr_") && issued.refresh_token.len() == 47);
    let claims = harness
        .app
        .verify_access_token(&issued.access_token, "api")
        .await;
    assert_eq!(claims["sub"], "u1");
    assert_eq!(claims["aud"], "api");
    assert_eq!(claims["client_id"], "anonymous");
    assert_eq!(claims["email"], "u1@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "User u1");
    assert_eq!(claims["labels"], json!(["beta"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(claims["auth_time"], claims["iat"]);
    assert!(
        uuid::Uuid::parse_str(claims["jti"].as_str().unwrap())
            .is_ok_and(|id| id.get_version_num() == 7)
    );
    assert!(claims.get("scope").is_none());

    let store = harness.db.open().await.store();
    let sid = claims["sid"].as_str().unwrap().parse().unwrap();
    let session = store
        .find_session(sid)
        .await
        .unwrap()
        .expect("the session row exists");
    assert_eq!(session.user_id, "u1");
    assert_eq!(session.appwrite_session_id, user.session_id);
    assert_eq!(session.device_name.as_deref(), Some("Jane's Pixel"));
    assert_eq!(session.ip.as_deref(), Some("127.0.0.1"));
    let refresh = RefreshToken::parse(&issued.refresh_token).unwrap();
    let stored = store
        .token_family(&refresh.family(), &refresh.hash())
        .await
        .unwrap()
        .expect("stored by its hash");
    assert_eq!(stored.session.id, sid);
    assert_eq!(
        stored.current,
        Some(refresh.hash()),
        "only the hash is stored"
    );
    assert_eq!(
        harness
            .count("select count(*) from audit_events where event = 'session.created'")
            .await,
        1
    );
}

async fn exchange_with_an_appwrite_session_value_uses_the_current_session_id(backend: Backend) {
    let harness = Harness::start(backend).await;
    let user = harness.signed_in("u2");

    let issued = tokens(
        harness
            .app
            .exchange(SESSION_TYPE, &user.session_value, &[])
            .await,
    )
    .await;

    let claims = harness
        .app
        .verify_access_token(&issued.access_token, "api")
        .await;
    assert_eq!(claims["sub"], "u2");
    let sid = claims["sid"].as_str().unwrap().parse().unwrap();
    let session = harness
        .db
        .open()
        .await
        .store()
        .find_session(sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.appwrite_session_id, user.session_id);
}

on_both_backends!(
    exchange_with_an_appwrite_jwt_issues_verifiable_tokens_and_links_the_session,
    exchange_with_an_appwrite_session_value_uses_the_current_session_id,
);

#[tokio::test]
async fn the_appwrite_client_sends_only_the_project_and_the_proof() {
    let harness = Harness::start(Backend::Sqlite).await;
    let user = harness.signed_in("u1");
    tokens(harness.app.exchange(JWT_TYPE, &user.jwt, &[]).await).await;
    tokens(
        harness
            .app
            .exchange(SESSION_TYPE, &user.session_value, &[])
            .await,
    )
    .await;

    let requests = harness.appwrite.requests();
    assert_eq!(
        requests.len(),
        3,
        "one call for a JWT, two for a session value"
    );
    for request in &requests {
        assert_eq!(request.headers["x-appwrite-project"], "proj123");
        for forbidden in ["origin", "cookie", "x-appwrite-key", "x-fallback-cookies"] {
            assert!(
                !request.headers.contains_key(forbidden),
                "{forbidden} sent to {}",
                request.path
            );
        }
    }
    assert_eq!(requests[0].path, "/v1/account");
    assert_eq!(requests[0].headers["x-appwrite-jwt"], user.jwt.as_str());
    assert!(!requests[0].headers.contains_key("x-appwrite-session"));
    assert!(
        requests[1..]
            .iter()
            .all(|r| r.headers["x-appwrite-session"] == user.session_value.as_str())
    );
}

#[tokio::test]
async fn json_bodies_audience_scope_and_client_id_are_honoured() {
    let harness = Harness::start(Backend::Sqlite).await;
    let user = harness.signed_in("u1");
    let body = json!({
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": user.jwt, "subject_token_type": JWT_TYPE,
        "audience": "orders", "scope": "read write read", "client_id": "mobile-app",
    });

    let response = harness
        .app
        .client
        .post(harness.app.url("/oauth/token"))
        .json(&body)
        .send()
        .await
        .unwrap();

    let issued = tokens(response).await;
    assert_eq!(issued.body["scope"], "read write");
    let claims = harness
        .app
        .verify_access_token(&issued.access_token, "orders")
        .await;
    assert_eq!(claims["aud"], "orders");
    assert_eq!(claims["scope"], "read write");
    assert_eq!(claims["client_id"], "mobile-app");
}

#[tokio::test]
async fn an_audience_outside_the_allow_list_is_invalid_target() {
    let harness = Harness::start(Backend::Sqlite).await;
    let user = harness.signed_in("u1");
    let response = harness
        .app
        .exchange(JWT_TYPE, &user.jwt, &[("audience", "billing")])
        .await;
    let (status, error, _) = oauth_error(response).await;
    assert_eq!((status, error.as_str()), (400, "invalid_target"));
    assert!(
        harness.appwrite.requests().is_empty(),
        "refused before calling Appwrite"
    );
}

#[tokio::test]
async fn the_snapshot_claims_follow_tokenmint_claims() {
    let harness = Harness::start_with(Backend::Sqlite, &[("TOKENMINT_CLAIMS", "labels")]).await;
    let issued = harness.login("u1").await;
    let claims = harness
        .app
        .verify_access_token(&issued.access_token, "api")
        .await;
    assert_eq!(claims["labels"], json!(["beta"]));
    for absent in ["email", "email_verified", "name"] {
        assert!(claims.get(absent).is_none(), "{absent} present: {claims}");
    }
}

#[tokio::test]
async fn without_a_project_id_exchange_is_a_server_error_but_the_rest_serves() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    let response = app.exchange(JWT_TYPE, "eyJ.eyJ.sig", &[]).await;
    let (status, error, body) = oauth_error(response).await;
    assert_eq!((status, error.as_str()), (500, "server_error"));
    assert_eq!(
        body["error_description"],
        "token exchange is not configured"
    );
    assert_eq!(app.get("/.well-known/jwks.json").await.status(), 200);
}

/// Each Appwrite refusal of the contract, and what the client gets.
#[tokio::test]
async fn appwrite_refusals_map_to_invalid_grant_and_write_nothing() {
    let harness = Harness::start(Backend::Sqlite).await;
    let appwrite = &harness.appwrite;
    let expired = appwrite.signed_in_user("expired");
    let tampered = appwrite.signed_in_user("tampered");
    let gone = appwrite.signed_in_user("gone");
    appwrite.delete_session(&gone.session_id);
    let blocked = appwrite.signed_in_user("blocked");
    appwrite.update_user("blocked", |u| u.status = false);
    let reset = appwrite.signed_in_user("reset");
    appwrite.update_user("reset", |u| u.password_reset = true);
    let mfa = appwrite.signed_in_user("mfa");
    appwrite.update_user("mfa", |u| u.mfa = true);
    let deleted = appwrite.signed_in_user("deleted");
    appwrite.delete_user("deleted");
    let mut bad_signature = tampered.jwt.clone();
    bad_signature.pop();
    bad_signature.push(if tampered.jwt.ends_with('A') {
        'B'
    } else {
        'A'
    });

    let cases = [
        (
            "expired JWT",
            JWT_TYPE,
            appwrite.expired_jwt("expired", &expired.session_id),
            "invalid or has expired",
        ),
        (
            "bad signature",
            JWT_TYPE,
            bad_signature,
            "invalid or has expired",
        ),
        (
            "malformed JWT",
            JWT_TYPE,
            "not-a-jwt".to_owned(),
            "invalid or has expired",
        ),
        (
            "session deleted",
            JWT_TYPE,
            gone.jwt.clone(),
            "invalid or has expired",
        ),
        (
            "user deleted",
            SESSION_TYPE,
            deleted.session_value.clone(),
            "invalid or has expired",
        ),
        (
            "unknown session value",
            SESSION_TYPE,
            "eyJpZCI6InUxIiwic2VjcmV0IjoieCJ9".to_owned(),
            "invalid or has expired",
        ),
        ("blocked", JWT_TYPE, blocked.jwt.clone(), "user is blocked"),
        (
            "password reset",
            JWT_TYPE,
            reset.jwt.clone(),
            "reset their password",
        ),
        (
            "mfa incomplete",
            SESSION_TYPE,
            mfa.session_value.clone(),
            "multi-factor",
        ),
    ];
    for (case, token_type, token, description) in cases {
        let (status, error, body) =
            oauth_error(harness.app.exchange(token_type, &token, &[]).await).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_grant"),
            "{case}: {body}"
        );
        let text = body["error_description"].as_str().unwrap();
        assert!(text.contains(description), "{case}: {text}");
        assert!(
            !text.contains("scopes") && !text.contains("Failed to verify"),
            "{case} leaks Appwrite's message: {text}"
        );
    }
    let mfa_by_jwt = harness.app.exchange(JWT_TYPE, &mfa.jwt, &[]).await;
    assert_eq!(
        mfa_by_jwt.status(),
        200,
        "JWT calls skip the MFA check (contract §1.1)"
    );
    assert_eq!(harness.count("select count(*) from sessions").await, 1);
}

#[tokio::test]
async fn a_wrong_project_id_is_a_server_error() {
    let harness =
        Harness::start_with(Backend::Sqlite, &[("APPWRITE_PROJECT_ID", "other-project")]).await;
    let user = harness.signed_in("u1");
    let (status, error, _) =
        oauth_error(harness.app.exchange(JWT_TYPE, &user.jwt, &[]).await).await;
    assert_eq!((status, error.as_str()), (500, "server_error"));
}

#[tokio::test]
async fn appwrite_rate_limits_become_slow_down_with_retry_after() {
    let harness = Harness::start(Backend::Sqlite).await;
    let user = harness.signed_in("u1");
    harness.appwrite.fail_with(Some(Failure::RateLimited));
    let response = harness.app.exchange(JWT_TYPE, &user.jwt, &[]).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let (status, error, _) = oauth_error(response).await;
    assert_eq!((status, error.as_str()), (429, "slow_down"));
}

/// Appwrite down, failing, answering garbage, slow, or dropping connections: 503 with
/// `Retry-After`, within the configured budget (1 s here, against a 30 s stall).
#[tokio::test]
async fn appwrite_outages_become_temporarily_unavailable_quickly() {
    let harness = Harness::start(Backend::Sqlite).await;
    let user = harness.signed_in("u1");
    let failures = [
        (Some(Failure::Status(500)), Duration::ZERO),
        (Some(Failure::Status(503)), Duration::ZERO),
        (Some(Failure::Garbage), Duration::ZERO),
        (None, Duration::from_secs(30)),
        (Some(Failure::DropConnection), Duration::ZERO),
    ];
    for (failure, latency) in failures {
        harness.appwrite.fail_with(failure);
        harness.appwrite.set_latency(latency);
        let started = Instant::now();
        let response = harness.app.exchange(JWT_TYPE, &user.jwt, &[]).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{failure:?} took {:?}",
            started.elapsed()
        );
        assert!(
            response.headers().contains_key("retry-after"),
            "{failure:?}"
        );
        let (status, error, _) = oauth_error(response).await;
        assert_eq!(
            (status, error.as_str()),
            (503, "temporarily_unavailable"),
            "{failure:?}"
        );
    }
    assert_eq!(
        harness.appwrite.dropped_connections(),
        2,
        "a dropped connection is retried exactly once"
    );
    assert_eq!(harness.count("select count(*) from sessions").await, 0);

    harness.appwrite.fail_with(None);
    harness.appwrite.set_latency(Duration::ZERO);
    tokens(harness.app.exchange(JWT_TYPE, &user.jwt, &[]).await).await;
}

#[tokio::test]
async fn appwrite_unreachable_is_temporarily_unavailable() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{closed_port}/v1");
    let harness = Harness::start_with(Backend::Sqlite, &[("APPWRITE_ENDPOINT", &endpoint)]).await;
    let (status, error, _) = oauth_error(harness.app.exchange(JWT_TYPE, "a.b.c", &[]).await).await;
    assert_eq!((status, error.as_str()), (503, "temporarily_unavailable"));
}
