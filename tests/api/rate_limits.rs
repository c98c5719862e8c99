//! Rate limits on the real server: per client IP (OAuth endpoints, webhook), per Appwrite user
//! (token exchange), per admin key (admin API); what a refused client sees; how the client IP
//! is found behind trusted proxies. Limits are made tiny through configuration (`N/h`, so no
//! bucket refills during a test).

use reqwest::Method;
use serde_json::Value;
use tokenmint::domain::model::admin_keys::AdminRole;
use tokenmint::domain::token::RefreshToken;

use crate::admin::create_key;
use crate::helpers::{Backend, TestApp};
use crate::oauth_helpers::{EXCHANGE, Harness, JWT_TYPE, Tokens, oauth_error, tokens};
use crate::on_both_backends;

const XFF: &str = "x-forwarded-for";
const LOOPBACK_PROXY: (&str, &str) = ("TOKENMINT_TRUSTED_PROXIES", "127.0.0.1/32");
const FORWARDED_PROXY: (&str, &str) = ("TOKENMINT_CLIENT_IP_HEADER", "forwarded");

async fn start(extra: &[(&str, &str)]) -> Harness {
    Harness::start_with(Backend::Sqlite, extra).await
}

/// A form POST carrying one extra header (a proxy header, usually).
async fn post_with(
    app: &TestApp,
    path: &str,
    header: (&str, &str),
    params: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header(header.0, header.1)
        .form(params)
        .send()
        .await
        .unwrap()
}

/// A refresh with a token that does not exist: 400 unless rate limited.
async fn bogus_refresh(app: &TestApp, header: (&str, &str)) -> reqwest::Response {
    let params = [("grant_type", "refresh_token"), ("refresh_token", "tmr_x")];
    post_with(app, "/oauth/token", header, &params).await
}

async fn exchange_with(harness: &Harness, user: &str, header: (&str, &str)) -> reqwest::Response {
    let jwt = harness.signed_in(user).jwt;
    let params = [
        ("grant_type", EXCHANGE),
        ("subject_token", jwt.as_str()),
        ("subject_token_type", JWT_TYPE),
    ];
    post_with(&harness.app, "/oauth/token", header, &params).await
}

async fn refresh_with(app: &TestApp, token: &str, header: (&str, &str)) -> reqwest::Response {
    let params = [("grant_type", "refresh_token"), ("refresh_token", token)];
    post_with(app, "/oauth/token", header, &params).await
}

/// `Retry-After` in whole seconds, at least 1.
fn retry_after(response: &reqwest::Response, context: &str) -> u64 {
    let value = response
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("{context}: a 429 without Retry-After"));
    let seconds: u64 = value.to_str().unwrap().parse().unwrap();
    assert!(seconds >= 1, "{context}: Retry-After {seconds}");
    seconds
}

/// Asserts an RFC 6749 `slow_down` 429 with `Retry-After`.
async fn assert_slow_down(response: reqwest::Response, context: &str) {
    assert_eq!(response.status(), 429, "{context}");
    retry_after(&response, context);
    let (_, error, _) = oauth_error(response).await;
    assert_eq!(error, "slow_down", "{context}");
}

/// Asserts an RFC 9457 problem 429 with `Retry-After`.
async fn assert_too_many(response: reqwest::Response, context: &str) {
    assert_eq!(response.status(), 429, "{context}");
    retry_after(&response, context);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{context}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 429, "{context}: {body}");
}

async fn assert_status(response: reqwest::Response, status: u16, context: &str) {
    let actual = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(actual, status, "{context}: {body}");
}

#[tokio::test]
async fn ip_limit_refuses_one_client_on_every_oauth_endpoint_while_another_is_served() {
    let harness = start(&[LOOPBACK_PROXY, ("TOKENMINT_RATE_LIMIT_IP", "3/h")]).await;
    let app = &harness.app;
    let limited = (XFF, "198.51.100.1");
    for i in 0..3 {
        assert_status(
            bogus_refresh(app, limited).await,
            400,
            &format!("request {i}"),
        )
        .await;
    }
    assert_slow_down(bogus_refresh(app, limited).await, "token").await;
    let revoke = post_with(app, "/oauth/revoke", limited, &[("token", "tmr_x")]).await;
    assert_slow_down(revoke, "revoke shares the bucket").await;
    let introspect = post_with(app, "/oauth/introspect", limited, &[("token", "x")]).await;
    assert_slow_down(introspect, "introspect shares the bucket").await;

    let other = (XFF, "198.51.100.2");
    assert_status(bogus_refresh(app, other).await, 400, "another client").await;
    let webhook = post_with(app, "/webhooks/appwrite", limited, &[]).await;
    assert_status(webhook, 404, "the webhook has a bucket of its own").await;
}

#[tokio::test]
async fn webhook_limit_answers_problem_json_with_retry_after() {
    let harness = start(&[
        ("TOKENMINT_RATE_LIMIT_WEBHOOK_IP", "1/h"),
        ("TOKENMINT_APPWRITE_WEBHOOK_KEY", "whkey"),
    ])
    .await;
    let app = &harness.app;
    let unsigned = post_with(
        app,
        "/webhooks/appwrite",
        ("x-appwrite-webhook-events", "x"),
        &[],
    );
    assert_status(unsigned.await, 401, "first delivery").await;
    let again = post_with(
        app,
        "/webhooks/appwrite",
        ("x-appwrite-webhook-events", "x"),
        &[],
    );
    assert_too_many(again.await, "second delivery").await;
    assert_status(
        bogus_refresh(app, (XFF, "1.2.3.4")).await,
        400,
        "OAuth bucket",
    )
    .await;
}

#[tokio::test]
async fn spoofed_forwarded_for_from_an_untrusted_peer_neither_escapes_the_limit_nor_is_recorded() {
    // Loopback (the test's peer) is not a trusted proxy here.
    let harness = start(&[
        ("TOKENMINT_TRUSTED_PROXIES", "10.0.0.0/8"),
        ("TOKENMINT_RATE_LIMIT_IP", "2/h"),
    ])
    .await;
    let issued = tokens(exchange_with(&harness, "alice", (XFF, "198.51.100.7")).await).await;
    let session = harness.token_family(&issued.refresh_token).await.session;
    assert_eq!(session.ip.as_deref(), Some("127.0.0.1"));
    let audited = "select count(*) from audit_events where event = 'session.created' \
                   and ip = '127.0.0.1'";
    assert_eq!(harness.count(audited).await, 1);

    let app = &harness.app;
    assert_status(
        bogus_refresh(app, (XFF, "198.51.100.8")).await,
        400,
        "second",
    )
    .await;
    let spoofed = bogus_refresh(app, (XFF, "198.51.100.9")).await;
    assert_slow_down(spoofed, "a new X-Forwarded-For does not make a new client").await;
    let forwarded = bogus_refresh(app, ("forwarded", "for=198.51.100.10")).await;
    assert_slow_down(forwarded, "nor does a new Forwarded").await;
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_in_sessions_and_audit_events() {
    let harness = start(&[LOOPBACK_PROXY]).await;
    // The leftmost entry is whatever the client sent; the proxy appended the real address.
    let chain = (XFF, "203.0.113.50, 198.51.100.7");
    let issued = tokens(exchange_with(&harness, "alice", chain).await).await;
    let session = harness.token_family(&issued.refresh_token).await.session;
    assert_eq!(session.ip.as_deref(), Some("198.51.100.7"));
    let audited = "select count(*) from audit_events where event = 'session.created' \
                   and ip = '198.51.100.7'";
    assert_eq!(harness.count(audited).await, 1);
}

#[tokio::test]
async fn forwarded_header_from_a_trusted_proxy_names_and_limits_the_client() {
    let harness = start(&[
        LOOPBACK_PROXY,
        FORWARDED_PROXY,
        ("TOKENMINT_RATE_LIMIT_IP", "1/h"),
    ])
    .await;
    let app = &harness.app;
    let quoted_ipv6 = ("forwarded", "for=\"[2001:db8::1]:4711\";proto=https");
    let issued = tokens(exchange_with(&harness, "alice", quoted_ipv6).await).await;
    let session = harness.token_family(&issued.refresh_token).await.session;
    assert_eq!(session.ip.as_deref(), Some("2001:db8::1"));

    let same_64 = ("forwarded", "for=\"[2001:db8::2]\"");
    assert_slow_down(bogus_refresh(app, same_64).await, "same /64").await;
    let other_64 = ("forwarded", "For=\"[2001:db8:0:1::1]\"");
    assert_status(bogus_refresh(app, other_64).await, 400, "another /64").await;
    // No address to go by: the peer (the proxy) is the client.
    assert_status(
        bogus_refresh(app, ("forwarded", "for=unknown")).await,
        400,
        "peer",
    )
    .await;
    let hidden = bogus_refresh(app, ("forwarded", "for=_hidden")).await;
    assert_slow_down(hidden, "an obfuscated client counts as the peer").await;
}

/// Behind a proxy that writes only `Forwarded` (HAProxy `option forwarded`, nginx set so), an
/// `X-Forwarded-For` the client sent reaches tokenmint untouched: with
/// `TOKENMINT_CLIENT_IP_HEADER=forwarded` it picks neither the recorded address nor the
/// rate-limit key. And with the default (`x-forwarded-for`), a `Forwarded` header is not read.
/// (Before the setting, `X-Forwarded-For` won whenever both were present.)
#[tokio::test]
async fn only_the_configured_proxy_header_names_the_client() {
    let harness = start(&[
        LOOPBACK_PROXY,
        FORWARDED_PROXY,
        ("TOKENMINT_RATE_LIMIT_IP", "1/h"),
    ])
    .await;
    let both = |spoofed: &str| {
        harness
            .app
            .client
            .post(harness.app.url("/oauth/token"))
            .header("forwarded", "for=198.51.100.7")
            .header(XFF, spoofed)
    };
    let jwt = harness.signed_in("alice").jwt;
    let exchange = both("6.6.6.6")
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token", jwt.as_str()),
            ("subject_token_type", JWT_TYPE),
        ])
        .send()
        .await
        .unwrap();
    let issued = tokens(exchange).await;
    let session = harness.token_family(&issued.refresh_token).await.session;
    assert_eq!(session.ip.as_deref(), Some("198.51.100.7"));
    // The same client with a fresh spoofed address each time is still one client.
    let bogus = [("grant_type", "refresh_token"), ("refresh_token", "tmr_x")];
    let next = both("7.7.7.7").form(&bogus).send().await.unwrap();
    assert_slow_down(next, "a new X-Forwarded-For does not make a new client").await;

    let default = start(&[LOOPBACK_PROXY]).await;
    let jwt = default.signed_in("bob").jwt;
    let exchange = post_with(
        &default.app,
        "/oauth/token",
        ("forwarded", "for=198.51.100.8"),
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", jwt.as_str()),
            ("subject_token_type", JWT_TYPE),
        ],
    )
    .await;
    let issued = tokens(exchange).await;
    let session = default.token_family(&issued.refresh_token).await.session;
    assert_eq!(
        session.ip.as_deref(),
        Some("127.0.0.1"),
        "Forwarded is not read unless configured"
    );
}

async fn exchange_limit_per_user_spares_other_users_and_creates_no_session(backend: Backend) {
    let harness =
        Harness::start_with(backend, &[("TOKENMINT_RATE_LIMIT_EXCHANGE_USER", "2/h")]).await;
    // A proof Appwrite rejects is not counted: the user is known only once it vouches.
    let expired = harness.appwrite.expired_jwt("alice", "s0");
    let (_, error, _) = oauth_error(harness.app.exchange(JWT_TYPE, &expired, &[]).await).await;
    assert_eq!(error, "invalid_grant");
    harness.login("alice").await;
    harness.login("alice").await;

    let third = harness.signed_in("alice").jwt;
    assert_slow_down(harness.app.exchange(JWT_TYPE, &third, &[]).await, "alice").await;
    let sessions = "select count(*) from sessions where user_id = 'alice'";
    assert_eq!(
        harness.count(sessions).await,
        2,
        "the refused exchange created nothing"
    );
    harness.login("bob").await;
}

async fn a_rate_limited_refresh_leaves_its_refresh_token_usable(backend: Backend) {
    let harness = Harness::start_with(
        backend,
        &[
            LOOPBACK_PROXY,
            ("TOKENMINT_RATE_LIMIT_IP", "2/h"),
            // A used token is then refused at once (reuse), so a later success proves the
            // limited refresh did not use it.
            ("TOKENMINT_REFRESH_GRACE", "0s"),
        ],
    )
    .await;
    let app = &harness.app;
    let device = (XFF, "198.51.100.20");
    let first = tokens(exchange_with(&harness, "alice", device).await).await;
    let second: Tokens = tokens(refresh_with(app, &first.refresh_token, device).await).await;

    assert_slow_down(
        refresh_with(app, &second.refresh_token, device).await,
        "third",
    )
    .await;
    let family = harness.token_family(&second.refresh_token).await;
    let presented = RefreshToken::parse(&second.refresh_token).unwrap().hash();
    assert!(family.current == Some(presented), "still the current token");

    let elsewhere = (XFF, "198.51.100.21");
    tokens(refresh_with(app, &second.refresh_token, elsewhere).await).await;
}

on_both_backends!(
    exchange_limit_per_user_spares_other_users_and_creates_no_session,
    a_rate_limited_refresh_leaves_its_refresh_token_usable,
);

/// The key with the last character of its secret changed.
fn wrong_secret(key: &str) -> String {
    let mut wrong = key.to_owned();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    wrong
}

#[tokio::test]
async fn admin_key_limit_refuses_one_key_and_spares_another() {
    let harness = start(&[("TOKENMINT_RATE_LIMIT_ADMIN_KEY", "2/h")]).await;
    let app = &harness.app;
    let (_, limited) = create_key(&harness.db, AdminRole::Admin).await;
    let (_, other) = create_key(&harness.db, AdminRole::Admin).await;
    for i in 0..2 {
        let response = app
            .admin(Method::GET, "/admin/v1/keys", Some(&limited))
            .await;
        assert_status(response, 200, &format!("request {i}")).await;
    }
    let refused = app
        .admin(Method::GET, "/admin/v1/keys", Some(&limited))
        .await;
    assert_too_many(refused, "third request").await;
    // Counted after authentication, so a wrong secret for a key id is not refused by this
    // limit (it is the Argon2 throttle's business) and does not use up the key's budget.
    let wrong = wrong_secret(&limited);
    assert_status(
        app.admin(Method::GET, "/admin/v1/keys", Some(&wrong)).await,
        401,
        "wrong",
    )
    .await;
    let wrong = wrong_secret(&other);
    assert_status(
        app.admin(Method::GET, "/admin/v1/keys", Some(&wrong)).await,
        401,
        "wrong",
    )
    .await;
    for i in 0..2 {
        let response = app.admin(Method::GET, "/admin/v1/keys", Some(&other)).await;
        assert_status(response, 200, &format!("another key, request {i}")).await;
    }
    // Only the admin API is limited per key; introspection is limited per IP.
    let introspect = app
        .client
        .post(app.url("/oauth/introspect"))
        .bearer_auth(&limited)
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_status(introspect, 200, "introspection").await;
}

#[tokio::test]
async fn zero_disables_every_limit() {
    let harness = start(&[
        LOOPBACK_PROXY,
        ("TOKENMINT_RATE_LIMIT_IP", "0"),
        ("TOKENMINT_RATE_LIMIT_WEBHOOK_IP", "0"),
        ("TOKENMINT_RATE_LIMIT_EXCHANGE_USER", "0"),
        ("TOKENMINT_RATE_LIMIT_ADMIN_KEY", "0"),
    ])
    .await;
    let app = &harness.app;
    let client = (XFF, "198.51.100.30");
    for i in 0..5 {
        tokens(exchange_with(&harness, "alice", client).await).await;
        assert_status(
            bogus_refresh(app, client).await,
            400,
            &format!("refresh {i}"),
        )
        .await;
        let webhook = post_with(app, "/webhooks/appwrite", client, &[]).await;
        assert_status(webhook, 404, &format!("webhook {i}")).await;
    }
    let (_, key) = create_key(&harness.db, AdminRole::Admin).await;
    for i in 0..5 {
        let response = app.admin(Method::GET, "/admin/v1/keys", Some(&key)).await;
        assert_status(response, 200, &format!("admin {i}")).await;
    }
}
