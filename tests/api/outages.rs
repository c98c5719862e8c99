//! An outage must never look like an attack: a client that did nothing wrong and retries with
//! the token it holds (after a 503, a timeout, a dropped connection) keeps its session,
//! whether the database stalled on a row, lost the answer of a committed rotation, or every
//! replica died — and a replay with no outage in between is still a replay.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use futures_util::future::join_all;
use sqlx::Connection;
use tokenmint::domain::model::sessions::RevocationReason;
use tokenmint::domain::token::RefreshToken;

use crate::db_proxy::DbProxy;
use crate::helpers::{Backend, TestDb, eventually};
use crate::oauth_helpers::{Harness, advance, oauth_error, tokens};
use crate::on_both_backends;

const REVOKED: &str = "select count(*) from sessions where revoked_at is not null";
const REUSE_EVENTS: &str =
    "select count(*) from audit_events where event = 'refresh_token.reuse_detected'";

/// One session's row is locked by a transaction that does not end (a stalled writer, a slow
/// revocation, an I/O stall on its page). The refreshes of 20 other users are answered while
/// the lock is still held; the locked user's own refresh is answered 503 with nothing written,
/// and succeeds once the lock is gone. No session is revoked.
///
/// Before the batch skipped locked rows, the 20 waited behind the locked one until the
/// request timeout, were answered 503, were rotated anyway when the lock went, and their
/// retries were taken for token theft (all 20 sessions revoked).
#[tokio::test]
async fn a_locked_session_row_delays_only_its_own_refresh() {
    let harness = Harness::start_with(Backend::Postgres, &[("TOKENMINT_DB_TIMEOUT", "2s")]).await;
    let locked = harness.login("locked-user").await;
    let mut others = Vec::new();
    for i in 0..20 {
        others.push(harness.login(&format!("user-{i}")).await);
    }
    let mut locker = sqlx::PgConnection::connect(&harness.db.url).await.unwrap();
    sqlx::query("begin").execute(&mut locker).await.unwrap();
    let family = RefreshToken::parse(&locked.refresh_token).unwrap().family();
    sqlx::query("select session_id from sessions where family_hash = $1 for update")
        .bind(family.0.to_vec())
        .fetch_one(&mut locker)
        .await
        .unwrap();

    // The locked user's refresh first, so that it would share a batch with the others.
    let app = &harness.app;
    let all_at_once = async {
        let locked_refresh = tokio::spawn({
            let client = app.client.clone();
            let url = app.url("/oauth/token");
            let token = locked.refresh_token.clone();
            async move {
                client
                    .post(url)
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
                    .send()
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let answers = join_all(others.iter().map(|t| app.refresh(&t.refresh_token))).await;
        (locked_refresh.await.unwrap().unwrap(), answers)
    };
    let (locked_answer, answers) = tokio::time::timeout(Duration::from_secs(9), all_at_once)
        .await
        .expect("every refresh is answered while the row is still locked");
    for (i, answer) in answers.into_iter().enumerate() {
        assert_eq!(answer.status(), 200, "user-{i}, beside a locked row");
    }
    assert!(
        locked_answer.headers().contains_key("retry-after"),
        "{:?}",
        locked_answer.headers()
    );
    let (status, error, body) = oauth_error(locked_answer).await;
    assert_eq!(
        (status, error.as_str()),
        (503, "temporarily_unavailable"),
        "{body}"
    );
    let state = harness.token_family(&locked.refresh_token).await;
    assert_eq!(
        state.current,
        Some(RefreshToken::parse(&locked.refresh_token).unwrap().hash()),
        "the refresh answered 503 wrote nothing"
    );

    sqlx::query("rollback").execute(&mut locker).await.unwrap();
    let retried = harness.app.refresh(&locked.refresh_token).await;
    assert_eq!(
        retried.status(),
        200,
        "the same token, once the lock is gone"
    );
    assert_eq!(harness.count(REVOKED).await, 0, "no session revoked");
    assert_eq!(harness.count(REUSE_EVENTS).await, 0);
}

/// The database's address (`host:port`) in a PostgreSQL URL.
fn address_of(url: &str) -> SocketAddr {
    let url = reqwest::Url::parse(url).unwrap();
    let host = url.host_str().unwrap();
    (host, url.port().unwrap_or(5432))
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap()
}

/// A rotation reaches the database and commits, and its answer is lost (a failover, a
/// partition, a dying primary): tokenmint answers 503 when the database does not answer in
/// time. The database stays unreachable for a minute, far past the grace window; when it is
/// back, the client's retry with the token it holds gets the successor that was committed,
/// and the session lives on. A replay of that token later, with no outage in between, is
/// still a replay.
#[tokio::test]
async fn a_rotation_whose_answer_was_lost_in_an_outage_is_honoured_after_the_window() {
    let db = TestDb::postgres().await;
    let proxy = DbProxy::start(address_of(&db.url)).await;
    let through_proxy = proxy.url(&db.url);
    let harness = Harness::start_on(
        db,
        &[
            ("DATABASE_URL", through_proxy.as_str()),
            ("TOKENMINT_DB_TIMEOUT", "1s"),
        ],
    )
    .await;
    let login = harness.login("u1").await;
    // One refresh with answers, so that the connection the rotations use is already open.
    let first = tokens(harness.app.refresh(&login.refresh_token).await).await;

    proxy.lose_answers();
    let lost = harness.app.refresh(&first.refresh_token).await;
    assert!(lost.headers().contains_key("retry-after"), "{lost:?}");
    let (status, error, body) = oauth_error(lost).await;
    assert_eq!(
        (status, error.as_str()),
        (503, "temporarily_unavailable"),
        "{body}"
    );
    let presented = RefreshToken::parse(&first.refresh_token).unwrap().hash();
    let state = harness.token_family(&first.refresh_token).await;
    assert_eq!(
        state.previous.map(|p| p.hash),
        Some(presented),
        "the rotation committed; only its answer was lost"
    );
    let committed = state.current.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            harness.app.get("/readyz").await.status() == 503
        })
        .await,
        "/readyz says 503 while the database takes no write"
    );

    advance(&harness.app, Duration::from_secs(60));
    proxy.heal();
    assert!(
        eventually(Duration::from_secs(10), || async {
            harness.app.get("/readyz").await.status() == 200
        })
        .await,
        "ready once the database answers again"
    );
    let retried = tokens(harness.app.refresh(&first.refresh_token).await).await;
    assert_eq!(
        RefreshToken::parse(&retried.refresh_token).unwrap().hash(),
        committed,
        "the retry gets the successor that was committed"
    );
    let next = tokens(harness.app.refresh(&retried.refresh_token).await).await;
    assert_eq!(harness.count(REVOKED).await, 0);
    let metrics = harness.app.scrape().await;
    assert_eq!(
        metrics.value("tokenmint_refresh_grace_after_outage_total", &[]),
        1.0
    );
    assert!(metrics.value("tokenmint_db_outages_total", &[]) >= 1.0);
    assert_eq!(metrics.value("tokenmint_db_writable", &[]), 1.0);

    // No outage since `retried` was used: presented again past the window, it is a replay.
    advance(&harness.app, Duration::from_secs(11));
    let (status, error, _) = oauth_error(harness.app.refresh(&retried.refresh_token).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    let (status, _, _) = oauth_error(harness.app.refresh(&next.refresh_token).await).await;
    assert_eq!(status, 400, "the replay revoked the session");
    let family = harness.token_family(&next.refresh_token).await;
    assert_eq!(
        family.session.revoked_reason,
        Some(RevocationReason::RefreshTokenReuse)
    );
}

/// Every replica dies (kill -9, a node lost) just after committing a rotation and before
/// answering; the replacement starts a minute later. The client's retry with the token it
/// holds gets the successor it lost: no replica ran in between, and the first one to start
/// recorded that as an outage.
async fn a_rotation_lost_when_every_replica_died_is_honoured_after_a_restart(backend: Backend) {
    let harness = Harness::start(backend).await;
    let first = harness.login("u1").await;
    let lost = tokens(harness.app.refresh(&first.refresh_token).await).await;
    let harness = harness.restart(true, Duration::from_secs(60), &[]).await;
    let retried = tokens(harness.app.refresh(&first.refresh_token).await).await;
    assert_eq!(retried.refresh_token, lost.refresh_token);
    tokens(harness.app.refresh(&retried.refresh_token).await).await;
    assert_eq!(harness.count(REVOKED).await, 0);
    assert_eq!(
        harness
            .count("select count(*) from outages where ended_at_ms > started_at_ms")
            .await,
        1,
        "the span without a replica is recorded for every replica to see"
    );
}

/// The same, but the replica stopped gracefully (it answered what it accepted): a token
/// presented again a minute later is a replay.
async fn a_replay_after_a_graceful_restart_is_still_a_replay(backend: Backend) {
    let harness = Harness::start(backend).await;
    let first = harness.login("u1").await;
    let successor = tokens(harness.app.refresh(&first.refresh_token).await).await;
    let harness = harness.restart(false, Duration::from_secs(60), &[]).await;
    let (status, error, _) = oauth_error(harness.app.refresh(&first.refresh_token).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    let (status, _, _) = oauth_error(harness.app.refresh(&successor.refresh_token).await).await;
    assert_eq!(status, 400, "the replay revoked the session");
    assert_eq!(harness.count("select count(*) from outages").await, 0);
}

on_both_backends!(
    a_rotation_lost_when_every_replica_died_is_honoured_after_a_restart,
    a_replay_after_a_graceful_restart_is_still_a_replay,
);
