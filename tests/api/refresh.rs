//! The refresh grant: rotation, the grace window, reuse detection, lifetimes, client binding,
//! scope narrowing, and exactly one winner under concurrency.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;
use tokenmint::domain::model::sessions::RevocationReason;

use crate::helpers::Backend;
use crate::oauth_helpers::{Harness, JWT_TYPE, advance, oauth_error, tokens};
use crate::on_both_backends;

async fn assert_invalid_grant(response: reqwest::Response, context: &str) {
    let (status, error, body) = oauth_error(response).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_grant"),
        "{context}: {body}"
    );
}

/// 50 rotations; then, past the grace window, every old token fails, and the first reuse has
/// revoked the session, so the newest token fails too.
async fn a_chain_of_50_rotations_then_reuse_revokes_the_session(backend: Backend) {
    let harness = Harness::start(backend).await;
    let first = harness.login("u1").await;
    let mut chain = vec![first.refresh_token.clone()];
    for step in 0..50 {
        let next = tokens(harness.app.refresh(chain.last().unwrap()).await).await;
        assert!(
            !chain.contains(&next.refresh_token),
            "step {step} reissued an old token"
        );
        chain.push(next.refresh_token);
    }
    advance(&harness.app, Duration::from_secs(11));

    assert_invalid_grant(harness.app.refresh(&chain[0]).await, "first token reused").await;
    assert_invalid_grant(
        harness.app.refresh(chain.last().unwrap()).await,
        "newest after reuse",
    )
    .await;
    for (i, old) in chain.iter().enumerate() {
        assert_invalid_grant(harness.app.refresh(old).await, &format!("token {i}")).await;
    }
    let claims = harness
        .app
        .verify_access_token(&first.access_token, "api")
        .await;
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
    assert_eq!(
        session.revoked_reason,
        Some(RevocationReason::RefreshTokenReuse)
    );
    assert_eq!(
        harness.count("select count(*) from sessions").await,
        1,
        "50 rotations, one row: storage does not grow with rotations"
    );
    assert_eq!(
        harness
            .count("select count(*) from audit_events where event = 'refresh_token.reuse_detected'")
            .await,
        1,
        "one reuse event, however many replays followed"
    );
}

/// A retry within the grace window (a lost response) gets the same successor and a fresh
/// access token; the successor then rotates normally.
async fn a_retry_within_the_grace_window_returns_the_same_successor(backend: Backend) {
    let harness = Harness::start(backend).await;
    let first = harness.login("u1").await;
    let original = tokens(harness.app.refresh(&first.refresh_token).await).await;
    advance(&harness.app, Duration::from_secs(9));

    let retry = tokens(harness.app.refresh(&first.refresh_token).await).await;

    assert_eq!(retry.refresh_token, original.refresh_token);
    assert_ne!(retry.access_token, original.access_token);
    let claims = harness
        .app
        .verify_access_token(&retry.access_token, "api")
        .await;
    let original_claims = harness
        .app
        .verify_access_token(&original.access_token, "api")
        .await;
    assert_ne!(claims["jti"], original_claims["jti"]);
    tokens(harness.app.refresh(&retry.refresh_token).await).await;
}

/// 32 concurrent refreshes with one token: all succeed with the same successor, and the
/// database holds exactly one successor.
async fn thirty_two_concurrent_refreshes_share_one_successor(backend: Backend) {
    let harness = Harness::start(backend).await;
    let first = harness.login("u1").await;

    let responses = join_all((0..32).map(|_| harness.app.refresh(&first.refresh_token))).await;

    let mut successors = HashSet::new();
    for response in responses {
        successors.insert(tokens(response).await.refresh_token);
    }
    assert_eq!(successors.len(), 1, "{successors:?}");
    assert_single_successor(&harness, &first.refresh_token, successors).await;
}

/// The database holds exactly `successor` as the current token and `first` as the previous.
async fn assert_single_successor(harness: &Harness, first: &str, successors: HashSet<String>) {
    let successor = successors.into_iter().next().unwrap();
    let family = harness.token_family(&successor).await;
    let hash = |t: &str| {
        tokenmint::domain::token::RefreshToken::parse(t)
            .unwrap()
            .hash()
    };
    assert_eq!(family.current, Some(hash(&successor)));
    assert_eq!(family.previous.map(|p| p.hash), Some(hash(first)));
}

async fn the_absolute_lifetime_ends_the_session_however_often_it_refreshes(backend: Backend) {
    let lifetimes = [
        ("TOKENMINT_REFRESH_TOKEN_TTL", "1h"),
        ("TOKENMINT_REFRESH_IDLE_TTL", "30m"),
    ];
    let harness = Harness::start_with(backend, &lifetimes).await;
    let mut current = harness.login("u1").await.refresh_token;
    for _ in 0..2 {
        advance(&harness.app, Duration::from_secs(25 * 60));
        current = tokens(harness.app.refresh(&current).await)
            .await
            .refresh_token;
    }
    advance(&harness.app, Duration::from_secs(9 * 60));
    let last = tokens(harness.app.refresh(&current).await).await;
    let claims = harness
        .app
        .verify_access_token(&last.access_token, "api")
        .await;
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60,
        "capped at the session end"
    );
    assert_eq!(last.expires_in, 60);

    advance(&harness.app, Duration::from_secs(61));
    assert_invalid_grant(
        harness.app.refresh(&last.refresh_token).await,
        "after the absolute end",
    )
    .await;
}

async fn an_idle_session_ends(backend: Backend) {
    let harness = Harness::start_with(backend, &[("TOKENMINT_REFRESH_IDLE_TTL", "30m")]).await;
    let first = harness.login("u1").await;
    advance(&harness.app, Duration::from_secs(29 * 60));
    let second = tokens(harness.app.refresh(&first.refresh_token).await).await;
    advance(&harness.app, Duration::from_secs(31 * 60));
    assert_invalid_grant(harness.app.refresh(&second.refresh_token).await, "idle").await;
}

/// The grace window is measured to the millisecond: a retry exactly at its end is honoured
/// (whatever fraction of a second the first use fell on), one millisecond later it is reuse.
async fn a_retry_at_the_end_of_the_grace_window_is_honoured_to_the_millisecond(backend: Backend) {
    let harness = Harness::start_with(backend, &[("TOKENMINT_REFRESH_GRACE", "2s")]).await;
    let first = harness.login("u1").await;
    advance(&harness.app, Duration::from_millis(863));
    let original = tokens(harness.app.refresh(&first.refresh_token).await).await;
    advance(&harness.app, Duration::from_millis(2000));

    let retry = tokens(harness.app.refresh(&first.refresh_token).await).await;

    assert_eq!(retry.refresh_token, original.refresh_token);
    advance(&harness.app, Duration::from_millis(1));
    assert_invalid_grant(
        harness.app.refresh(&first.refresh_token).await,
        "1 ms past the window",
    )
    .await;
    assert_invalid_grant(
        harness.app.refresh(&original.refresh_token).await,
        "the reuse revoked the session",
    )
    .await;
}

/// A token replayed weeks after it was used, long after the idle lifetime but while the
/// session is alive, is still recognised as reuse: the session is revoked and audited. The
/// purge that runs meanwhile keeps what detection needs.
async fn a_token_replayed_weeks_later_still_revokes_the_session(backend: Backend) {
    let harness = Harness::start(backend).await;
    let first = harness.login("u1").await;
    let mut current = first.refresh_token.clone();
    for _ in 0..4 {
        advance(&harness.app, Duration::from_secs(3 * 86400));
        current = tokens(harness.app.refresh(&current).await)
            .await
            .refresh_token;
    }
    let feed = tokenmint::domain::feed::RevocationFeed::new(
        harness.db.open().await.store(),
        harness.app.clock.clone(),
    );
    while feed.purge().await.unwrap() > 0 {}

    assert_invalid_grant(harness.app.refresh(&first.refresh_token).await, "replay").await;

    assert_invalid_grant(
        harness.app.refresh(&current).await,
        "the replay revoked the session",
    )
    .await;
    assert_eq!(
        harness
            .count("select count(*) from audit_events where event = 'refresh_token.reuse_detected'")
            .await,
        1
    );
}

/// Many sessions refreshing at once — on PostgreSQL they share rotation statements — each get
/// their own grant; in the same burst, a refusal for one session (another client) burns nothing
/// and a replay revokes only its own session.
async fn a_burst_of_refreshes_over_many_sessions_keeps_each_to_its_own(backend: Backend) {
    let harness = Harness::start(backend).await;
    let mut sessions = Vec::new();
    for i in 0..24 {
        let user = format!("u{i}");
        let signed_in = harness.signed_in(&user);
        let client: &[(&str, &str)] = if i % 3 == 0 {
            &[("client_id", "mobile")]
        } else {
            &[]
        };
        let issued = tokens(harness.app.exchange(JWT_TYPE, &signed_in.jwt, client).await).await;
        let claims = harness
            .app
            .verify_access_token(&issued.access_token, "api")
            .await;
        sessions.push((
            user,
            claims["sid"].clone(),
            issued.refresh_token,
            i % 3 == 0,
        ));
    }
    // Session 1 has rotated once, so its first token is a replay past the grace window below.
    let replayed = sessions[1].2.clone();
    sessions[1].2 = tokens(harness.app.refresh(&replayed).await)
        .await
        .refresh_token;
    advance(&harness.app, Duration::from_secs(11));

    let requests = sessions
        .iter()
        .enumerate()
        .map(|(i, (_, _, token, bound))| {
            let client: &[(&str, &str)] = match (bound, i % 2) {
                (true, 0) => &[("client_id", "web")],
                (true, _) => &[("client_id", "mobile")],
                (false, _) => &[],
            };
            let token = if i == 1 { &replayed } else { token };
            harness.app.refresh_with(token, client)
        });
    let responses = join_all(requests).await;

    for (i, ((user, sid, token, bound), response)) in sessions.iter().zip(responses).enumerate() {
        let refused = *bound && i % 2 == 0;
        if i == 1 {
            assert_invalid_grant(response, "the replayed token").await;
            assert_invalid_grant(
                harness.app.refresh(token).await,
                "the newest after the replay",
            )
            .await;
            continue;
        }
        if refused {
            assert_invalid_grant(response, &format!("session {i} for another client")).await;
            // Refused, not burnt: its own client still refreshes with it.
            let again = harness
                .app
                .refresh_with(token, &[("client_id", "mobile")])
                .await;
            tokens(again).await;
            continue;
        }
        let refreshed = tokens(response).await;
        let claims = harness
            .app
            .verify_access_token(&refreshed.access_token, "api")
            .await;
        assert_eq!(
            (&claims["sub"], &claims["sid"]),
            (&serde_json::json!(user), sid),
            "session {i}"
        );
        let family = harness.token_family(&refreshed.refresh_token).await;
        assert_eq!(family.session.user_id, *user, "session {i}'s new token");
    }
    assert_eq!(
        harness
            .count("select count(*) from sessions where revoked_at is not null")
            .await,
        1,
        "the replay revoked its own session and no other"
    );
}

on_both_backends!(
    a_chain_of_50_rotations_then_reuse_revokes_the_session,
    a_retry_within_the_grace_window_returns_the_same_successor,
    thirty_two_concurrent_refreshes_share_one_successor,
    the_absolute_lifetime_ends_the_session_however_often_it_refreshes,
    an_idle_session_ends,
    a_retry_at_the_end_of_the_grace_window_is_honoured_to_the_millisecond,
    a_token_replayed_weeks_later_still_revokes_the_session,
    a_burst_of_refreshes_over_many_sessions_keeps_each_to_its_own,
    a_session_bound_to_a_client_refreshes_only_for_that_client,
);

/// Connections the database closed behind tokenmint's back (a restart, a failover, an
/// operator's `pg_terminate_backend`) are noticed by the first operation that picks one up — for
/// a request, a 503 `temporarily_unavailable` that changed nothing — and all of them are
/// replaced: the client's retry with the same token succeeds. Never a 500.
#[tokio::test]
async fn connections_killed_under_the_pool_are_replaced() {
    let harness = Harness::start(Backend::Postgres).await;
    let mut current = harness.login("u1").await.refresh_token;
    // Fill the pool: many connections opened by concurrent requests.
    let users: Vec<String> = (0..8).map(|i| format!("w{i}")).collect();
    let warm = join_all(users.iter().map(|user| harness.login(user))).await;
    assert_eq!(warm.len(), 8);
    let database = harness.db.url.rsplit('/').next().unwrap().to_owned();
    {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&crate::helpers::postgres_admin_url())
            .await
            .unwrap();
        let killed: Vec<bool> = sqlx::query_scalar(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1",
        )
        .bind(&database)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert!(!killed.is_empty());
    }

    // The first user of a dead connection — this refresh, or a background task such as the
    // key reload that got there first — closes them all; every later request gets a new one.
    let mut unavailable = 0;
    let mut refreshed = false;
    for _ in 0..30 {
        let response = harness.app.refresh(&current).await;
        if response.status() == 503 {
            let (_, error, _) = oauth_error(response).await;
            assert_eq!(error, "temporarily_unavailable");
            unavailable += 1;
            continue;
        }
        current = tokens(response).await.refresh_token;
        refreshed = true;
        break;
    }
    assert!(refreshed, "the client's retry never succeeded");
    assert!(
        unavailable <= 1,
        "{unavailable} requests found dead connections: the first should have closed them all"
    );
    // The chain goes on, so the retries really changed nothing.
    tokens(harness.app.refresh(&current).await).await;
}

/// On SQLite the WAL is checkpointed while refreshes run: a long chain of rotations leaves few
/// frames in it. (An `update … returning` read with `fetch_optional` commits without running
/// SQLite's automatic checkpoint, and the WAL grew by a page per refresh, without bound.)
#[tokio::test]
async fn sqlite_checkpoints_its_wal_while_refreshing() {
    // No key reloads meanwhile: their reads would run the pending checkpoint and hide a miss.
    let db = crate::helpers::TestDb::sqlite();
    // 2,800 refreshes from one address: beyond the default per-IP limit, which is not the
    // point here.
    let no_ip_limit = [("TOKENMINT_RATE_LIMIT_IP", "0")];
    let harness = Harness::start_reloading(db, &no_ip_limit, Some(Duration::from_secs(3600))).await;
    let mut chains = Vec::new();
    for user in ["u1", "u2", "u3", "u4"] {
        chains.push(harness.login(user).await.refresh_token);
    }
    for _ in 0..700 {
        let rotated = join_all(chains.iter().map(|token| harness.app.refresh(token))).await;
        chains.clear();
        for response in rotated {
            chains.push(tokens(response).await.refresh_token);
        }
    }

    use sqlx::Connection;
    let mut connection = sqlx::SqliteConnection::connect(&harness.db.url)
        .await
        .unwrap();
    let (_, frames, _): (i64, i64, i64) = sqlx::query_as("pragma wal_checkpoint(passive)")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert!(
        frames < 1500,
        "{frames} frames in the WAL after 2,800 rotations: SQLite's automatic checkpoint \
         (every 1,000 frames) did not run"
    );
}

/// Rotation's single winner and grace window do not depend on the database's default
/// isolation: with `repeatable read` or `serializable` as the default, concurrent refreshes
/// of one token all succeed with one successor (no 500 from serialization failures).
#[tokio::test]
async fn rotation_holds_whatever_the_default_isolation_of_the_database() {
    for level in ["repeatable read", "serializable"] {
        let db = crate::helpers::TestDb::postgres().await;
        db.alter_database("default_transaction_isolation", level)
            .await;
        let harness = Harness::start_on(db, &[]).await;
        let mut current = harness.login("u1").await.refresh_token;

        // Several rounds, so that transactions really overlap on the same row.
        for round in 0..8 {
            let responses = join_all((0..32).map(|_| harness.app.refresh(&current))).await;

            let mut successors = HashSet::new();
            for response in responses {
                successors.insert(tokens(response).await.refresh_token);
            }
            assert_eq!(
                successors.len(),
                1,
                "{level}, round {round}: {successors:?}"
            );
            current = successors.into_iter().next().unwrap();
        }
    }
}

/// Two tokenmint servers on one PostgreSQL database: still exactly one winner.
#[tokio::test]
async fn two_servers_on_one_database_share_one_successor() {
    let harness = Harness::start(Backend::Postgres).await;
    let replica = harness.replica().await;
    let first = harness.login("u1").await;

    let requests = (0..32).map(|i| {
        let server = if i % 2 == 0 { &harness.app } else { &replica };
        server.refresh(&first.refresh_token)
    });
    let responses = join_all(requests).await;

    let mut successors = HashSet::new();
    for response in responses {
        successors.insert(tokens(response).await.refresh_token);
    }
    assert_eq!(successors.len(), 1, "{successors:?}");
    assert_single_successor(&harness, &first.refresh_token, successors).await;
}

async fn a_session_bound_to_a_client_refreshes_only_for_that_client(backend: Backend) {
    let harness = Harness::start(backend).await;
    let user = harness.signed_in("u1");
    let issued = tokens(
        harness
            .app
            .exchange(JWT_TYPE, &user.jwt, &[("client_id", "mobile")])
            .await,
    )
    .await;

    assert_invalid_grant(
        harness.app.refresh(&issued.refresh_token).await,
        "no client_id",
    )
    .await;
    let other = harness
        .app
        .refresh_with(&issued.refresh_token, &[("client_id", "web")])
        .await;
    assert_invalid_grant(other, "another client").await;

    let refreshed = tokens(
        harness
            .app
            .refresh_with(&issued.refresh_token, &[("client_id", "mobile")])
            .await,
    )
    .await;
    let claims = harness
        .app
        .verify_access_token(&refreshed.access_token, "api")
        .await;
    assert_eq!(claims["client_id"], "mobile");
}

#[tokio::test]
async fn scope_may_only_narrow_on_refresh() {
    let harness = Harness::start(Backend::Sqlite).await;
    let user = harness.signed_in("u1");
    let issued = tokens(
        harness
            .app
            .exchange(JWT_TYPE, &user.jwt, &[("scope", "read write")])
            .await,
    )
    .await;

    let wider = harness
        .app
        .refresh_with(&issued.refresh_token, &[("scope", "read admin")])
        .await;
    let (status, error, _) = oauth_error(wider).await;
    assert_eq!((status, error.as_str()), (400, "invalid_scope"));

    let narrowed = tokens(
        harness
            .app
            .refresh_with(&issued.refresh_token, &[("scope", "read")])
            .await,
    )
    .await;
    assert_eq!(narrowed.body["scope"], "read");
    let claims = harness
        .app
        .verify_access_token(&narrowed.access_token, "api")
        .await;
    assert_eq!(claims["scope"], "read");

    let full = tokens(harness.app.refresh(&narrowed.refresh_token).await).await;
    assert_eq!(
        full.body["scope"], "read write",
        "narrowing one access token keeps the grant"
    );
}

#[tokio::test]
async fn unknown_and_malformed_refresh_tokens_are_invalid_grant() {
    let harness = Harness::start(Backend::Sqlite).await;
    let unknown = format!("tmr_{}", "A".repeat(43));
    for token in [unknown.as_str(), "tmr_short", "not-a-token"] {
        assert_invalid_grant(harness.app.refresh(token).await, token).await;
    }
}
