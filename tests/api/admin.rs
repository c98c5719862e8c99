//! The admin API: authentication and roles on every endpoint, sessions, keys, the audit log.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokenmint::clock::SystemClock;
use tokenmint::domain::admin_keys::AdminKeys;
use tokenmint::domain::model::admin_keys::AdminRole;
use tokenmint::domain::model::audit::{Actor, RequestContext};

use crate::helpers::{Backend, TestApp, TestDb};
use crate::oauth_helpers::{Harness, Tokens, advance, oauth_error, tokens};
use crate::on_both_backends;

/// Creates an admin key in the database, as `tokenmint admin-keys create` would.
pub async fn create_key(db: &TestDb, role: AdminRole) -> (String, String) {
    let keys = admin_keys(db).await;
    let (record, key) = keys
        .create("test key", role, Actor::System, &RequestContext::default())
        .await
        .unwrap();
    (record.id, key)
}

async fn admin_keys(db: &TestDb) -> AdminKeys {
    AdminKeys::new(
        db.open().await.store(),
        Arc::new(SystemClock),
        Duration::from_secs(30),
    )
}

impl TestApp {
    pub async fn admin(&self, method: Method, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.unwrap()
    }

    pub async fn admin_json(&self, method: Method, path: &str, key: &str) -> Value {
        let response = self.admin(method.clone(), path, Some(key)).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body
    }
}

async fn assert_problem(response: reqwest::Response, status: u16, context: &str) {
    assert_eq!(response.status(), status, "{context}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{context}"
    );
    if status == 401 {
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "{context}: {challenge}");
    }
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status, "{context}: {body}");
}

async fn login_sid(harness: &Harness, user: &str) -> (Tokens, String) {
    let issued = harness.login(user).await;
    let sid = harness.session_id(&issued.access_token).await;
    (issued, sid)
}

/// Every endpoint refuses no key, a malformed key, an unknown key, a wrong secret and the
/// introspect role, and accepts an admin key.
async fn every_admin_endpoint_checks_the_key_and_its_role(backend: Backend) {
    let harness = Harness::start(backend).await;
    let (_, session) = login_sid(&harness, "u1").await;
    let (_, admin) = create_key(&harness.db, AdminRole::Admin).await;
    let (_, introspect) = create_key(&harness.db, AdminRole::Introspect).await;
    let wrong_secret = format!(
        "{}{}",
        &admin[..admin.len() - 1],
        if admin.ends_with('A') { 'B' } else { 'A' }
    );
    let unknown = format!("tma_0000000000000000_{}", "A".repeat(43));
    let endpoints = [
        (Method::GET, "/admin/v1/users/u1/sessions".to_owned()),
        (Method::GET, format!("/admin/v1/sessions/{session}")),
        (Method::GET, "/admin/v1/keys".to_owned()),
        (Method::GET, "/admin/v1/audit".to_owned()),
        (Method::POST, "/admin/v1/keys/rotate".to_owned()),
        (Method::DELETE, format!("/admin/v1/sessions/{session}")),
        (Method::DELETE, "/admin/v1/users/u1/sessions".to_owned()),
    ];
    for (method, path) in &endpoints {
        let context = format!("{method} {path}");
        assert_problem(
            harness.app.admin(method.clone(), path, None).await,
            401,
            &context,
        )
        .await;
        for bad in ["garbage", unknown.as_str(), wrong_secret.as_str()] {
            assert_problem(
                harness.app.admin(method.clone(), path, Some(bad)).await,
                401,
                &context,
            )
            .await;
        }
        assert_problem(
            harness
                .app
                .admin(method.clone(), path, Some(&introspect))
                .await,
            403,
            &context,
        )
        .await;
        let ok = harness.app.admin(method.clone(), path, Some(&admin)).await;
        assert!(ok.status().is_success(), "{context}: {}", ok.status());
    }
}

/// A revoked key stops working: at once on the replica that revoked it, within the cache
/// lifetime on one that had verified it before.
async fn a_revoked_key_stops_working_within_the_cache_lifetime(backend: Backend) {
    let harness = Harness::start(backend).await;
    let (id, key) = create_key(&harness.db, AdminRole::Admin).await;
    let path = "/admin/v1/keys";
    assert_eq!(
        harness
            .app
            .admin(Method::GET, path, Some(&key))
            .await
            .status(),
        200
    );

    let revoked = admin_keys(&harness.db)
        .await
        .revoke(&id, Actor::System, &RequestContext::default())
        .await
        .unwrap();
    assert!(revoked);

    assert_eq!(
        harness
            .app
            .admin(Method::GET, path, Some(&key))
            .await
            .status(),
        200,
        "cached on this server"
    );
    advance(&harness.app, Duration::from_secs(31));
    assert_problem(
        harness.app.admin(Method::GET, path, Some(&key)).await,
        401,
        "after the cache lifetime",
    )
    .await;
    let fresh = harness.replica().await;
    assert_problem(
        fresh.admin(Method::GET, path, Some(&key)).await,
        401,
        "a server that never cached it",
    )
    .await;
}

async fn admins_list_and_revoke_one_or_all_sessions(backend: Backend) {
    let harness = Harness::start(backend).await;
    let (_, admin) = create_key(&harness.db, AdminRole::Admin).await;
    let (first, first_sid) = login_sid(&harness, "u1").await;
    let (second, second_sid) = login_sid(&harness, "u1").await;
    let (third, _) = login_sid(&harness, "u1").await;
    let (other_user, _) = login_sid(&harness, "u2").await;

    let page = harness
        .app
        .admin_json(Method::GET, "/admin/v1/users/u1/sessions?limit=2", &admin)
        .await;
    assert_eq!(page["sessions"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let rest = harness
        .app
        .admin_json(
            Method::GET,
            &format!("/admin/v1/users/u1/sessions?limit=2&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(rest["sessions"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    assert_eq!(
        rest["sessions"][0]["id"],
        first_sid.as_str(),
        "newest first"
    );

    let revoked = harness
        .app
        .admin_json(
            Method::DELETE,
            &format!("/admin/v1/sessions/{first_sid}"),
            &admin,
        )
        .await;
    assert_eq!(revoked["revoked_reason"], "admin");
    assert_eq!(revoked["active"], false);
    let again = harness
        .app
        .admin_json(
            Method::DELETE,
            &format!("/admin/v1/sessions/{first_sid}"),
            &admin,
        )
        .await;
    assert_eq!(again["revoked_at"], revoked["revoked_at"], "idempotent");
    let (_, error, _) = oauth_error(harness.app.refresh(&first.refresh_token).await).await;
    assert_eq!(error, "invalid_grant");
    tokens(harness.app.refresh(&second.refresh_token).await).await;

    let one = harness
        .app
        .admin_json(
            Method::GET,
            &format!("/admin/v1/sessions/{second_sid}"),
            &admin,
        )
        .await;
    assert_eq!(one["user_id"], "u1");
    assert_eq!(one["active"], true);
    let live = harness
        .app
        .admin_json(Method::GET, "/admin/v1/users/u1/sessions", &admin)
        .await;
    assert_eq!(live["sessions"].as_array().unwrap().len(), 2);
    let all = harness
        .app
        .admin_json(
            Method::GET,
            "/admin/v1/users/u1/sessions?include=revoked",
            &admin,
        )
        .await;
    assert_eq!(all["sessions"].as_array().unwrap().len(), 3);

    let everything = harness
        .app
        .admin_json(Method::DELETE, "/admin/v1/users/u1/sessions", &admin)
        .await;
    assert_eq!(everything["revoked_sessions"].as_array().unwrap().len(), 2);
    for token in [&third.refresh_token] {
        let (_, error, _) = oauth_error(harness.app.refresh(token).await).await;
        assert_eq!(error, "invalid_grant");
    }
    tokens(harness.app.refresh(&other_user.refresh_token).await).await;
    let none = harness
        .app
        .admin_json(Method::GET, "/admin/v1/users/u1/sessions", &admin)
        .await;
    assert!(none["sessions"].as_array().unwrap().is_empty());

    let missing = uuid::Uuid::now_v7();
    assert_problem(
        harness
            .app
            .admin(
                Method::GET,
                &format!("/admin/v1/sessions/{missing}"),
                Some(&admin),
            )
            .await,
        404,
        "unknown",
    )
    .await;
    assert_problem(
        harness
            .app
            .admin(
                Method::DELETE,
                "/admin/v1/sessions/not-a-uuid",
                Some(&admin),
            )
            .await,
        404,
        "malformed",
    )
    .await;
    assert_problem(
        harness
            .app
            .admin(
                Method::GET,
                "/admin/v1/users/u1/sessions?limit=0",
                Some(&admin),
            )
            .await,
        400,
        "limit",
    )
    .await;
}

async fn keys_are_listed_and_rotated_through_the_api(backend: Backend) {
    let harness = Harness::start(backend).await;
    let (_, admin) = create_key(&harness.db, AdminRole::Admin).await;
    let keys = harness
        .app
        .admin_json(Method::GET, "/admin/v1/keys", &admin)
        .await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    assert_eq!(keys["keys"][0]["state"], "active");

    let rotated = harness
        .app
        .admin(Method::POST, "/admin/v1/keys/rotate", Some(&admin))
        .await;
    assert_eq!(rotated.status(), 201);
    let next: Value = rotated.json().await.unwrap();
    assert_eq!(next["state"], "next");
    let again = harness
        .app
        .admin(Method::POST, "/admin/v1/keys/rotate", Some(&admin))
        .await;
    assert_eq!(again.status(), 200, "a next key already exists");
    assert_eq!(again.json::<Value>().await.unwrap()["kid"], next["kid"]);
}

/// Expired sessions are left out by the query itself, so a page is never cut short: with the
/// two newest sessions expired, `limit=1` still finds the live ones and their cursor, for the
/// admin API and for `/v1/me/sessions` alike.
async fn pages_skip_expired_sessions_without_stopping_early(backend: Backend) {
    let harness = Harness::start_with(backend, &[("TOKENMINT_REFRESH_IDLE_TTL", "30m")]).await;
    let (_, admin) = create_key(&harness.db, AdminRole::Admin).await;
    let (oldest, oldest_sid) = login_sid(&harness, "u1").await;
    let (older, older_sid) = login_sid(&harness, "u1").await;
    login_sid(&harness, "u1").await;
    login_sid(&harness, "u1").await;
    advance(&harness.app, Duration::from_secs(20 * 60));
    let oldest = tokens(harness.app.refresh(&oldest.refresh_token).await).await;
    tokens(harness.app.refresh(&older.refresh_token).await).await;
    advance(&harness.app, Duration::from_secs(15 * 60));
    // A fresh access token for `/v1/me` (the last one has expired by now).
    let oldest = tokens(harness.app.refresh(&oldest.refresh_token).await).await;

    let admin_pages = |path: &'static str| {
        let harness = &harness;
        let admin = admin.clone();
        async move {
            let mut ids = Vec::new();
            let mut cursor: Option<String> = None;
            for _ in 0..5 {
                let url = match &cursor {
                    None => format!("{path}?limit=1"),
                    Some(c) => format!("{path}?limit=1&cursor={c}"),
                };
                let page = harness.app.admin_json(Method::GET, &url, &admin).await;
                let sessions = page["sessions"].as_array().unwrap();
                ids.extend(
                    sessions
                        .iter()
                        .map(|s| s["id"].as_str().unwrap().to_owned()),
                );
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            ids
        }
    };
    assert_eq!(
        admin_pages("/admin/v1/users/u1/sessions").await,
        [older_sid.clone(), oldest_sid.clone()]
    );

    let mut ids = Vec::new();
    let mut url = "/v1/me/sessions?limit=1".to_owned();
    for _ in 0..5 {
        let page: Value = harness
            .app
            .client
            .get(harness.app.url(&url))
            .bearer_auth(&oldest.access_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let sessions = page["sessions"].as_array().unwrap();
        ids.extend(
            sessions
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => url = format!("/v1/me/sessions?limit=1&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(ids, [older_sid, oldest_sid]);
}

/// A flood of wrong secrets for one known key id costs at most three Argon2 hashes: the rest
/// are throttled (429 with `Retry-After`) without hashing. The right key works once the short
/// throttle has passed, and other endpoints are not held up meanwhile.
async fn a_flood_of_wrong_secrets_for_one_key_is_throttled(backend: Backend) {
    let harness = Harness::start(backend).await;
    let issued = harness.login("u1").await;
    let (_, admin) = create_key(&harness.db, AdminRole::Admin).await;
    let prefix = &admin[..admin.len() - 43];
    let wrong: Vec<String> = (0..40)
        .map(|i| format!("{prefix}{:A>43}", format!("wrong{i}")))
        .collect();

    let responses = futures_util::future::join_all(
        wrong
            .iter()
            .map(|key| harness.app.admin(Method::GET, "/admin/v1/keys", Some(key))),
    )
    .await;

    let mut refused = 0;
    let mut throttled = 0;
    for response in responses {
        match response.status().as_u16() {
            401 => refused += 1,
            429 => {
                assert!(response.headers().contains_key("retry-after"));
                assert_eq!(
                    response.headers()["content-type"],
                    "application/problem+json"
                );
                throttled += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        refused <= 3,
        "{refused} wrong secrets were hashed, {throttled} throttled"
    );
    tokens(harness.app.refresh(&issued.refresh_token).await).await;
    advance(&harness.app, Duration::from_secs(2));
    assert_eq!(
        harness
            .app
            .admin(Method::GET, "/admin/v1/keys", Some(&admin))
            .await
            .status(),
        200
    );
}

on_both_backends!(
    every_admin_endpoint_checks_the_key_and_its_role,
    a_revoked_key_stops_working_within_the_cache_lifetime,
    admins_list_and_revoke_one_or_all_sessions,
    keys_are_listed_and_rotated_through_the_api,
    pages_skip_expired_sessions_without_stopping_early,
    a_flood_of_wrong_secrets_for_one_key_is_throttled,
);

/// The audit log records each security event, newest first, with actor, subject and reason,
/// and holds no token or secret anywhere.
#[tokio::test]
async fn the_audit_log_records_each_event_and_no_secret() {
    let harness = Harness::start(Backend::Postgres).await;
    let (admin_id, admin) = create_key(&harness.db, AdminRole::Admin).await;
    let user = harness.signed_in("u1");
    let issued = tokens(
        harness
            .app
            .exchange(crate::oauth_helpers::JWT_TYPE, &user.jwt, &[])
            .await,
    )
    .await;
    let claims = harness
        .app
        .verify_access_token(&issued.access_token, "api")
        .await;
    let next = tokens(harness.app.refresh(&issued.refresh_token).await).await;
    advance(&harness.app, Duration::from_secs(11));
    oauth_error(harness.app.refresh(&issued.refresh_token).await).await;
    let (_, second_sid) = login_sid(&harness, "u1").await;
    harness
        .app
        .admin_json(
            Method::DELETE,
            &format!("/admin/v1/sessions/{second_sid}"),
            &admin,
        )
        .await;
    harness
        .app
        .admin(Method::POST, "/admin/v1/keys/rotate", Some(&admin))
        .await;
    let (revoked_id, _) = create_key(&harness.db, AdminRole::Introspect).await;
    admin_keys(&harness.db)
        .await
        .revoke(&revoked_id, Actor::System, &RequestContext::default())
        .await
        .unwrap();

    let log = harness
        .app
        .admin_json(Method::GET, "/admin/v1/audit?limit=200", &admin)
        .await;
    let events = log["events"].as_array().unwrap();
    let find = |event: &str, reason: Option<&str>| {
        events
            .iter()
            .find(|e| e["event"] == event && reason.is_none_or(|r| e["reason"] == r))
            .unwrap_or_else(|| panic!("no {event} ({reason:?}) in {log}"))
    };
    let created = events
        .iter()
        .find(|e| e["event"] == "session.created" && e["session_id"] == claims["sid"])
        .unwrap_or_else(|| panic!("no session.created for the first login in {log}"));
    assert_eq!(created["actor"], "user");
    assert_eq!(created["user_id"], "u1");
    assert_eq!(created["ip"], "127.0.0.1");
    assert!(created["request_id"].is_string());
    assert_eq!(
        find("refresh_token.reuse_detected", None)["actor"],
        "system"
    );
    let by_admin = find("session.revoked", Some("admin"));
    assert_eq!(by_admin["actor"], format!("admin:{admin_id}"));
    assert_eq!(by_admin["session_id"], second_sid.as_str());
    assert_eq!(find("key.created", Some("first key"))["actor"], "system");
    assert_eq!(
        find("key.created", Some("rotate"))["actor"],
        format!("admin:{admin_id}")
    );
    let has = |event: &str, subject: &str| {
        events
            .iter()
            .any(|e| e["event"] == event && e["subject"] == subject)
    };
    assert!(has("admin_key.created", &admin_id), "{log}");
    assert!(has("admin_key.revoked", &revoked_id), "{log}");
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    let filtered = harness
        .app
        .admin_json(
            Method::GET,
            &format!("/admin/v1/audit?session_id={second_sid}"),
            &admin,
        )
        .await;
    assert!(
        filtered["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["session_id"] == second_sid.as_str())
    );
    let paged = harness
        .app
        .admin_json(Method::GET, "/admin/v1/audit?limit=2", &admin)
        .await;
    let before = paged["next_before"].as_i64().expect("more pages");
    let page_two = harness
        .app
        .admin_json(
            Method::GET,
            &format!("/admin/v1/audit?limit=2&before={before}"),
            &admin,
        )
        .await;
    assert!(
        page_two["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"].as_i64().unwrap() < before)
    );

    let dump = format!("{log}{}", dump_audit_table(&harness.db).await);
    // `tma_<id>_<secret>`: the secret is base64url, so it may itself hold `_`.
    let admin_secret = admin
        .strip_prefix(&format!("tma_{admin_id}_"))
        .expect("tma_<id>_<secret>");
    assert_eq!(admin_secret.len(), 43);
    let secrets: [&str; 7] = [
        &issued.refresh_token,
        &next.refresh_token,
        &issued.access_token,
        &user.jwt,
        &user.session_value,
        &admin,
        admin_secret,
    ];
    let names = [
        "refresh token",
        "its successor",
        "access token",
        "Appwrite JWT",
        "Appwrite session secret",
        "admin key",
        "admin secret",
    ];
    for (secret, name) in secrets.into_iter().zip(names) {
        assert!(!dump.contains(secret), "the {name} is in the audit log");
    }
}

async fn dump_audit_table(db: &TestDb) -> String {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar("select row_to_json(a)::text from audit_events a")
        .fetch_all(&mut connection)
        .await
        .unwrap();
    rows.join("\n")
}

/// The database gone (dropped under a running server): the admin API answers 503 problem JSON
/// with `Retry-After`, like the OAuth endpoints, so clients and operators' scripts back off.
#[tokio::test]
async fn a_database_outage_is_a_503_problem_with_retry_after() {
    let harness = Harness::start(Backend::Postgres).await;
    let (_, admin) = create_key(&harness.db, AdminRole::Admin).await;
    // Authenticated once: the key is now cached, so the next request reaches the store.
    harness
        .app
        .admin_json(Method::GET, "/admin/v1/users/u1/sessions", &admin)
        .await;
    harness.db.drop_database().await;
    let response = harness
        .app
        .admin(Method::GET, "/admin/v1/users/u1/sessions", Some(&admin))
        .await;
    assert_eq!(response.status(), 503);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_problem(response, 503, "database gone").await;
}
