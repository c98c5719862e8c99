//! `GET /metrics`: a scripted flow moves each counter by exactly its count, no label carries
//! a token or an id of the flow, each app counts only its own traffic, and
//! `TOKENMINT_METRICS_LISTEN` moves the endpoint to its own listener.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokenmint::domain::model::admin_keys::AdminRole;

use crate::admin::create_key;
use crate::helpers::{Backend, TestApp, TestDb};
use crate::metrics_helpers::{Scrape, answered, assert_moved, expected, moved};
use crate::oauth_helpers::{Harness, JWT_TYPE, advance, oauth_error, tokens};
use crate::on_both_backends;
use crate::webhooks::{self, Delivery, deliver, server_now, user_body};

const USER: &str = "metrics-user-5c1e9a";

/// One exchange, 3 refreshes, a grace retry, a reuse after the window, an admin revoke (of a
/// second session: the reuse already revoked the first) and one unrouted request: every
/// counter of `/metrics` moves by exactly its count, and nothing else moves. No label value
/// carries a token or an id of the flow.
async fn a_scripted_flow_moves_each_counter_by_exactly_its_count(backend: Backend) {
    // The flow below makes exactly seven token requests; the eighth is refused.
    let harness = Harness::start_with(backend, &[("TOKENMINT_RATE_LIMIT_IP", "7/h")]).await;
    let app = &harness.app;
    let (_, admin_key) = create_key(&harness.db, AdminRole::Admin).await;
    let signed_in = harness.signed_in(USER);
    let before = app.scrape().await;

    let first = tokens(app.exchange(JWT_TYPE, &signed_in.jwt, &[]).await).await;
    let r1 = tokens(app.refresh(&first.refresh_token).await).await;
    let r2 = tokens(app.refresh(&r1.refresh_token).await).await;
    let r3 = tokens(app.refresh(&r2.refresh_token).await).await;
    let retry = tokens(app.refresh(&r2.refresh_token).await).await;
    assert_eq!(retry.refresh_token, r3.refresh_token, "a grace retry");
    advance(app, Duration::from_secs(11));
    let (_, error, _) = oauth_error(app.refresh(&r2.refresh_token).await).await;
    assert_eq!(error, "invalid_grant", "a reuse after the window");
    let second_login = harness.signed_in(USER);
    let second = tokens(app.exchange(JWT_TYPE, &second_login.jwt, &[]).await).await;
    let claims = app.verify_access_token(&second.access_token, "api").await;
    let sid = claims["sid"].as_str().unwrap().to_owned();
    let path = format!("/admin/v1/sessions/{sid}");
    app.admin_json(Method::DELETE, &path, &admin_key).await;
    let (status, error, _) = oauth_error(app.refresh(&second.refresh_token).await).await;
    assert_eq!((status, error.as_str()), (429, "slow_down"), "rate limited");
    let unrouted = app.get(&format!("/no/such/{}", r3.refresh_token)).await;
    assert_eq!(unrouted.status(), 404);
    let after = app.scrape().await;

    let token = [("route", "/oauth/token"), ("method", "POST")];
    let with_status = |status| {
        let [route, method] = token;
        [route, method, ("status", status)]
    };
    let mut wanted = expected(&[
        (
            "tokenmint_token_requests_total",
            &[("grant", "token_exchange"), ("outcome", "issued")],
            2.0,
        ),
        (
            "tokenmint_token_requests_total",
            &[("grant", "refresh_token"), ("outcome", "issued")],
            4.0,
        ),
        (
            "tokenmint_token_requests_total",
            &[("grant", "refresh_token"), ("outcome", "invalid_grant")],
            1.0,
        ),
        (
            "tokenmint_invalid_grants_total",
            &[
                ("grant", "refresh_token"),
                ("reason", "refresh_token_reuse"),
            ],
            1.0,
        ),
        ("tokenmint_refresh_grace_hits_total", &[], 1.0),
        ("tokenmint_refresh_reuse_detected_total", &[], 1.0),
        (
            "tokenmint_sessions_revoked_total",
            &[("reason", "refresh_token_reuse")],
            1.0,
        ),
        (
            "tokenmint_sessions_revoked_total",
            &[("reason", "admin")],
            1.0,
        ),
        (
            "tokenmint_appwrite_requests_total",
            &[("outcome", "ok")],
            2.0,
        ),
        (
            "tokenmint_appwrite_request_duration_seconds_count",
            &[],
            2.0,
        ),
        ("tokenmint_http_requests_total", &with_status("200"), 6.0),
        ("tokenmint_http_requests_total", &with_status("400"), 1.0),
        ("tokenmint_http_requests_total", &with_status("429"), 1.0),
        ("tokenmint_rate_limited_total", &[("limit", "ip")], 1.0),
        ("tokenmint_http_request_duration_seconds_count", &token, 8.0),
    ]);
    wanted.extend(answered("/admin/v1/sessions/{id}", "DELETE", "200", 1.0));
    wanted.extend(answered("/.well-known/jwks.json", "GET", "200", 1.0));
    wanted.extend(answered("unmatched", "GET", "404", 1.0));
    // The first scrape is counted once it is answered.
    wanted.extend(answered("/metrics", "GET", "200", 1.0));
    if backend == Backend::Postgres {
        // Five rotations (three refreshes, the grace retry and the replay each try once), one
        // after the other: each a statement of its own.
        wanted.extend(expected(&[
            ("tokenmint_db_rotation_batches_total", &[], 5.0),
            ("tokenmint_db_rotation_attempts_total", &[], 5.0),
        ]));
    }
    assert_moved(&moved(&before, &after), &wanted);

    assert_eq!(
        after.value("tokenmint_signing_keys", &[("state", "active")]),
        1.0
    );
    assert!(after.value("tokenmint_db_pool_max_connections", &[]) >= 1.0);
    assert!(after.value("tokenmint_db_pool_connections", &[]) >= 1.0);
    let secrets = [
        USER,
        &sid,
        claims["jti"].as_str().unwrap(),
        &signed_in.session_id,
        &second_login.session_id,
        &signed_in.jwt,
        &first.access_token,
        &first.refresh_token,
        &r1.refresh_token,
        &r2.refresh_token,
        &r3.refresh_token,
        &second.refresh_token,
    ];
    for value in after.label_values() {
        for secret in &secrets {
            // Whole tokens, and any recognisable part of one.
            let part = &secret[..secret.len().min(16)];
            assert!(
                !value.contains(part),
                "label value {value:?} holds {secret:?}"
            );
        }
    }
}

/// Exchanges Appwrite refuses and webhook deliveries are counted by outcome and reason.
async fn refused_exchanges_and_webhooks_are_counted_by_outcome(backend: Backend) {
    let harness = webhooks::start(backend).await;
    let app = &harness.app;
    let before = app.scrape().await;

    let expired = harness.appwrite.expired_jwt(USER, "s1");
    let (_, error, _) = oauth_error(app.exchange(JWT_TYPE, &expired, &[]).await).await;
    assert_eq!(error, "invalid_grant");
    harness.login(USER).await;
    let body = user_body(USER, &server_now(&harness), true, &[]);
    let deleted = deliver(
        &harness,
        &Delivery::new(&format!("users.{USER}.delete"), body.clone()),
    )
    .await;
    assert_eq!(deleted.status(), 200);
    let mut forged = Delivery::new(&format!("users.{USER}.delete"), body);
    forged.signature = Some("bm90IGl0".into());
    assert_eq!(deliver(&harness, &forged).await.status(), 401);
    let after = app.scrape().await;

    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let exchange_refused = [
        ("grant", "token_exchange"),
        ("reason", "subject_token_rejected"),
    ];
    assert_eq!(
        delta("tokenmint_invalid_grants_total", &exchange_refused),
        1.0
    );
    assert_eq!(
        delta(
            "tokenmint_appwrite_requests_total",
            &[("outcome", "rejected")]
        ),
        1.0
    );
    assert_eq!(
        delta("tokenmint_appwrite_requests_total", &[("outcome", "ok")]),
        1.0
    );
    let applied = [("event", "users.*.delete"), ("outcome", "applied")];
    assert_eq!(delta("tokenmint_webhook_deliveries_total", &applied), 1.0);
    let unauthorized = [("event", "none"), ("outcome", "unauthorized")];
    assert_eq!(
        delta("tokenmint_webhook_deliveries_total", &unauthorized),
        1.0
    );
    let deleted = [("reason", "appwrite_user_deleted")];
    assert_eq!(delta("tokenmint_sessions_revoked_total", &deleted), 1.0);
}

on_both_backends!(
    a_scripted_flow_moves_each_counter_by_exactly_its_count,
    refused_exchanges_and_webhooks_are_counted_by_outcome,
);

/// On PostgreSQL, concurrent refreshes share rotation statements, and the two batch counters
/// say so exactly: one attempt per refresh, and no more statements than attempts.
#[tokio::test]
async fn rotation_batches_count_every_concurrent_refresh_once() {
    let harness = Harness::start(Backend::Postgres).await;
    let mut current = Vec::new();
    for i in 0..24 {
        current.push(
            harness
                .login(&format!("batch-user-{i}"))
                .await
                .refresh_token,
        );
    }
    let before = harness.app.scrape().await;

    let refreshed =
        futures_util::future::join_all(current.iter().map(|token| harness.app.refresh(token)))
            .await;
    for response in refreshed {
        tokens(response).await;
    }
    let after = harness.app.scrape().await;

    let delta = |name| after.value(name, &[]) - before.value(name, &[]);
    assert_eq!(delta("tokenmint_db_rotation_attempts_total"), 24.0);
    let batches = delta("tokenmint_db_rotation_batches_total");
    assert!(
        (1.0..=24.0).contains(&batches),
        "{batches} statements for 24 rotations"
    );
}

/// Several apps in one process (as in these tests) each count only their own traffic: no
/// global recorder.
#[tokio::test]
async fn each_app_counts_only_its_own_traffic() {
    let (one, other) = (
        Harness::start(Backend::Sqlite).await,
        Harness::start(Backend::Sqlite).await,
    );
    let quiet = other.app.scrape().await;

    one.login(USER).await;

    let issued = [("grant", "token_exchange"), ("outcome", "issued")];
    assert_eq!(
        one.app
            .scrape()
            .await
            .value("tokenmint_token_requests_total", &issued),
        1.0
    );
    assert_moved(
        &moved(&quiet, &other.app.scrape().await),
        &answered("/metrics", "GET", "200", 1.0),
    );
}

/// With `TOKENMINT_METRICS_LISTEN`, `/metrics` is served there only: the main listener answers
/// 404 problem JSON for it, and the metrics listener serves nothing else.
#[tokio::test]
async fn metrics_move_to_their_own_listener_when_one_is_configured() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::spawn(db.config_with(&[("TOKENMINT_METRICS_LISTEN", "127.0.0.1:0")])).await;
    let metrics = app.metrics_address.clone().expect("a metrics listener");
    assert_ne!(metrics, app.address);

    let on_main = app.get("/metrics").await;
    assert_eq!(on_main.status(), 404);
    assert_eq!(
        on_main.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(on_main.json::<Value>().await.unwrap()["status"], 404);

    let scraped = app
        .client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = Scrape::parse(&scraped.text().await.unwrap());
    assert_eq!(
        text.value(
            "tokenmint_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    let main_404 = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert_eq!(text.value("tokenmint_http_requests_total", &main_404), 1.0);

    let other = app
        .client
        .get(format!("{metrics}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    assert_eq!(other.headers()["content-type"], "application/problem+json");
    app.stop().await;
}

/// Without `TOKENMINT_METRICS_LISTEN`, `/metrics` is one of the API's routes.
#[tokio::test]
async fn metrics_are_a_route_of_the_api_by_default() {
    assert!(
        tokenmint::http::endpoints()
            .iter()
            .any(|e| e.method == Method::GET && e.path == "/metrics"),
        "GET /metrics is in http::endpoints()"
    );
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::spawn(db.config()).await;
    assert!(app.metrics_address.is_none());
    let scrape = app.scrape().await;
    let reuse = "tokenmint_refresh_reuse_detected_total";
    assert_eq!(scrape.kind(reuse), Some("counter"));
    assert!(
        scrape.samples.iter().any(|s| s.name == reuse),
        "read 0 from the start"
    );
    assert_eq!(scrape.kind("tokenmint_signing_keys"), Some("gauge"));
    app.stop().await;
}
