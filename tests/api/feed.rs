//! `GET /v1/revocations`: what verifiers learn, cursors, expiry, purge, concurrent writers.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::Value;
use tokenmint::clock::{Clock, ManualClock};
use tokenmint::domain::feed::RevocationFeed;
use tokenmint::domain::model::admin_keys::AdminRole;

use crate::admin::create_key;
use crate::helpers::{Backend, TestApp};
use crate::oauth_helpers::{Harness, advance};
use crate::on_both_backends;

/// A page of the feed, read with `key` (the feed needs a key by default).
async fn feed(app: &TestApp, key: &str, cursor: Option<&str>) -> Value {
    let path = cursor.map_or("/v1/revocations".to_owned(), |c| {
        format!("/v1/revocations?since={c}")
    });
    let response = app.client.get(app.url(&path)).bearer_auth(key).send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

fn sids(page: &Value) -> Vec<String> {
    page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sid"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_feed_carries_revocations_after_a_cursor_until_they_stop_mattering(backend: Backend) {
    let harness = Harness::start(backend).await;
    let (_, admin) = create_key(&harness.db, AdminRole::Admin).await;
    let (_, reader_key) = create_key(&harness.db, AdminRole::Feed).await;
    let empty = feed(&harness.app, &reader_key, None).await;
    assert!(sids(&empty).is_empty() && empty["users"].as_array().unwrap().is_empty());

    let logout = harness.login("u1").await;
    harness
        .app
        .post_form("/oauth/revoke", &[("token", &logout.refresh_token)])
        .await;
    let first = feed(
        &harness.app,
        &reader_key,
        Some(empty["cursor"].as_str().unwrap()),
    )
    .await;
    let logout_sid = harness.session_id(&logout.access_token).await;
    assert_eq!(sids(&first), [logout_sid.as_str()]);
    let exp = first["sessions"][0]["exp"].as_i64().unwrap();
    let access_exp = harness
        .app
        .verify_access_token(&logout.access_token, "api")
        .await["exp"]
        .as_i64()
        .unwrap();
    assert!(
        exp >= access_exp,
        "kept at least as long as the session's access tokens live"
    );

    harness.login("u2").await;
    harness.login("u2").await;
    harness
        .app
        .admin_json(Method::DELETE, "/admin/v1/users/u2/sessions", &admin)
        .await;
    let second = feed(
        &harness.app,
        &reader_key,
        Some(first["cursor"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        sids(&second).len(),
        2,
        "only what followed the cursor: {second}"
    );
    assert_eq!(second["users"][0]["sub"], "u2");
    let not_before = second["users"][0]["not_before"].as_i64().unwrap();
    let user_exp = second["users"][0]["exp"].as_i64().unwrap();
    assert!(not_before > 0);
    assert!(
        user_exp >= not_before + 15 * 60,
        "kept while an access token issued before the not-before may live: {second}"
    );
    let nothing_new = feed(
        &harness.app,
        &reader_key,
        Some(second["cursor"].as_str().unwrap()),
    )
    .await;
    assert!(sids(&nothing_new).is_empty());
    assert_eq!(nothing_new["cursor"], second["cursor"]);

    advance(&harness.app, Duration::from_secs(16 * 60 + 61));
    let later = feed(&harness.app, &reader_key, None).await;
    assert!(
        sids(&later).is_empty() && later["users"].as_array().unwrap().is_empty(),
        "{later}"
    );

    let bad = harness
        .app
        .client
        .get(harness.app.url("/v1/revocations?since=garbage"))
        .bearer_auth(&reader_key)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
}

async fn the_purge_deletes_only_what_no_longer_matters(backend: Backend) {
    let harness = Harness::start(backend).await;
    let revoked = harness.login("u1").await;
    let live = harness.login("u2").await;
    harness
        .app
        .post_form("/oauth/revoke", &[("token", &revoked.refresh_token)])
        .await;
    let store = harness.db.open().await.store();
    let clock = Arc::new(ManualClock::starting_now());
    let purge = RevocationFeed::new(Arc::clone(&store), Arc::clone(&clock) as Arc<dyn Clock>);

    assert_eq!(purge.purge().await.unwrap(), 0, "nothing has expired yet");
    clock.advance(chrono::Duration::minutes(20));
    assert_eq!(purge.purge().await.unwrap(), 1, "the feed entry");
    assert_eq!(harness.count("select count(*) from revocations").await, 0);
    assert_eq!(
        harness.count("select count(*) from sessions").await,
        2,
        "sessions outlive their feed entries"
    );
    crate::oauth_helpers::tokens(harness.app.refresh(&live.refresh_token).await).await;

    clock.advance(chrono::Duration::days(32));
    assert!(purge.purge().await.unwrap() >= 2);
    assert_eq!(
        harness.count("select count(*) from sessions").await,
        0,
        "sessions go, and their refresh-token state with them"
    );
}

/// The feed names users: without a key (or with a wrong one) it answers 401 with a Bearer
/// challenge and problem JSON; a key of any role reads it, and a `feed` key reads nothing
/// else; `TOKENMINT_REVOCATION_FEED_PUBLIC=true` opens it.
async fn the_feed_needs_a_key_of_any_role_unless_public(backend: Backend) {
    let harness = Harness::start(backend).await;
    let revoked = harness.login("u1").await;
    harness
        .app
        .post_form("/oauth/revoke", &[("token", &revoked.refresh_token)])
        .await;
    let get = |key: Option<String>| {
        let mut request = harness.app.client.get(harness.app.url("/v1/revocations"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move { request.send().await.unwrap() }
    };
    let (_, feed_key) = create_key(&harness.db, AdminRole::Feed).await;
    let wrong = format!("{}x", &feed_key[..feed_key.len() - 1]);
    for key in [None, Some("not-a-key".to_owned()), Some(wrong)] {
        let refused = get(key.clone()).await;
        assert_eq!(refused.status(), 401, "{key:?}");
        let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        assert_eq!(
            refused.headers()["content-type"],
            "application/problem+json"
        );
        let body = refused.text().await.unwrap();
        assert!(!body.contains("u1"), "a refusal names no user: {body}");
    }
    for role in [AdminRole::Feed, AdminRole::Introspect, AdminRole::Admin] {
        let (_, key) = create_key(&harness.db, role).await;
        let page = get(Some(key)).await;
        assert_eq!(page.status(), 200, "{role}");
        let page: Value = page.json().await.unwrap();
        assert_eq!(sids(&page).len(), 1, "{role}: {page}");
    }
    // A feed key opens neither introspection nor the admin API.
    let introspected = harness
        .app
        .client
        .post(harness.app.url("/oauth/introspect"))
        .bearer_auth(&feed_key)
        .form(&[("token", revoked.access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(introspected.status(), 401);
    let listed = harness
        .app
        .client
        .get(harness.app.url("/admin/v1/users/u1/sessions"))
        .bearer_auth(&feed_key)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 403);

    let public =
        Harness::start_with(backend, &[("TOKENMINT_REVOCATION_FEED_PUBLIC", "true")]).await;
    let open = public.app.get("/v1/revocations").await;
    assert_eq!(open.status(), 200);
}

on_both_backends!(
    the_feed_carries_revocations_after_a_cursor_until_they_stop_mattering,
    the_purge_deletes_only_what_no_longer_matters,
    the_feed_needs_a_key_of_any_role_unless_public,
);

/// Two servers revoke sessions concurrently while a reader follows the feed: the reader, by
/// passing back each cursor, sees every revocation exactly once.
#[tokio::test]
async fn a_reader_never_misses_revocations_written_concurrently_by_two_servers() {
    let harness = Harness::start(Backend::Postgres).await;
    let (_, reader_key) = create_key(&harness.db, AdminRole::Feed).await;
    let replica = harness.replica().await;
    let mut sessions = Vec::new();
    for i in 0..40 {
        sessions.push(harness.login(&format!("user{i}")).await);
    }
    let mut expected = HashSet::new();
    for session in &sessions {
        expected.insert(harness.session_id(&session.access_token).await);
    }

    let revocations = sessions.iter().enumerate().map(|(i, s)| {
        let server = if i % 2 == 0 { &harness.app } else { &replica };
        async move {
            server
                .post_form("/oauth/revoke", &[("token", s.refresh_token.as_str())])
                .await
        }
    });
    let reader = async {
        let first = feed(&harness.app, &reader_key, None).await;
        let mut seen = sids(&first);
        let mut cursor = first["cursor"].as_str().unwrap().to_owned();
        for _ in 0..400 {
            let page = feed(&replica, &reader_key, Some(&cursor)).await;
            seen.extend(sids(&page));
            cursor = page["cursor"].as_str().unwrap().to_owned();
            if seen.len() >= 40 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seen
    };
    let (responses, seen) = tokio::join!(join_all(revocations), reader);

    assert!(responses.iter().all(|r| r.status() == 200));
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), unique.len(), "an entry was delivered twice");
    assert_eq!(unique, expected, "the reader missed revocations");
}

/// The feed's ordering guarantee, made deterministic: a writer holds the feed lock with an
/// entry not yet committed; a revocation through the server must wait behind it, so a reader
/// cannot see the later entry first and move its cursor past the earlier one.
#[tokio::test]
async fn a_cursor_never_passes_an_entry_still_being_written() {
    use sqlx::Connection;
    let harness = Harness::start(Backend::Postgres).await;
    let (_, reader_key) = create_key(&harness.db, AdminRole::Feed).await;
    let issued = harness.login("u1").await;
    let start = feed(&harness.app, &reader_key, None).await["cursor"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut slow_writer = sqlx::PgConnection::connect(&harness.db.url).await.unwrap();
    let mut tx = slow_writer.begin().await.unwrap();
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(tokenmint::store::postgres::FEED_LOCK_KEY)
        .execute(&mut *tx)
        .await
        .unwrap();
    let pending: String = sqlx::query_scalar(
        "insert into revocations (kind, session_id, created_at, expires_at) \
         values ('session', gen_random_uuid(), 0, 4000000000) returning session_id::text",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();

    let params = [("token", issued.refresh_token.as_str())];
    let revoke = harness.app.post_form("/oauth/revoke", &params);
    let reader = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let during = feed(&harness.app, &reader_key, Some(&start)).await;
        tx.commit().await.unwrap();
        during
    };
    let (revoked, during) = tokio::join!(revoke, reader);
    assert_eq!(revoked.status(), 200);
    let after = feed(
        &harness.app,
        &reader_key,
        Some(during["cursor"].as_str().unwrap()),
    )
    .await;

    let mut seen = sids(&during);
    seen.extend(sids(&after));
    assert!(
        sids(&during).is_empty(),
        "an entry became visible while an earlier one was pending: {during}"
    );
    assert!(
        seen.contains(&pending),
        "the cursor skipped the slower writer's entry: {seen:?}"
    );
    assert_eq!(seen.len(), 2);
}
