//! Refresh tokens tokenmint can prove it issued (a generation under a tag made with a key
//! derived from the KEK): a token with a session's selector and a made-up tail changes nothing;
//! a genuine old token is still a replay, for the session's whole life; a genuine token of a
//! generation the database lost (a failover of asynchronous replication, a restored backup)
//! moves the session forward; and no successor is stored, so a database dump plus an old token
//! yields nothing.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokenmint::domain::model::sessions::RevocationReason;
use tokenmint::domain::token::RefreshToken;

use crate::helpers::{Backend, TestDb};
use crate::oauth_helpers::{Harness, advance, oauth_error, tokens};
use crate::on_both_backends;

const REVOKED: &str = "select count(*) from sessions where revoked_at is not null";

async fn assert_invalid_grant(response: reqwest::Response, context: &str) {
    let (status, error, body) = oauth_error(response).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_grant"),
        "{context}: {body}"
    );
}

/// `token` with its last 16 bytes replaced: the selector of a real session (as a truncated
/// token in a log keeps it) and a tail the forger made up.
fn forged_from(token: &str, tail: u8) -> String {
    let mut bytes = URL_SAFE_NO_PAD
        .decode(token.strip_prefix("tmr_").unwrap())
        .unwrap();
    for byte in &mut bytes[16..] {
        *byte ^= tail;
    }
    format!("tmr_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A token with the genuine selector and a made-up tail is refused and changes nothing: the
/// genuine token still refreshes, the session is not revoked, and the attempt is audited.
/// (At 498bd54 it revoked the session as `refresh_token_reuse`.)
async fn a_forged_token_on_a_genuine_selector_changes_nothing(backend: Backend) {
    let harness = Harness::start(backend).await;
    let first = harness.login("u1").await;
    let second = tokens(harness.app.refresh(&first.refresh_token).await).await;
    for tail in [1, 0x5a, 0xff] {
        let forged = forged_from(&second.refresh_token, tail);
        assert_invalid_grant(harness.app.refresh(&forged).await, "a forged token").await;
    }
    // Also after the grace window, and a forgery of the *previous* token's selector.
    advance(&harness.app, Duration::from_secs(30));
    let forged = forged_from(&first.refresh_token, 7);
    assert_invalid_grant(harness.app.refresh(&forged).await, "a forged old token").await;

    assert_eq!(harness.count(REVOKED).await, 0, "nothing revoked");
    let third = tokens(harness.app.refresh(&second.refresh_token).await).await;
    tokens(harness.app.refresh(&third.refresh_token).await).await;
    assert_eq!(
        harness
            .count(
                "select count(*) from audit_events where event = 'refresh_token.forgery_rejected'"
            )
            .await,
        4
    );
    assert_eq!(
        harness
            .count("select count(*) from audit_events where event = 'refresh_token.reuse_detected'")
            .await,
        0
    );
    let metrics = harness.app.scrape().await;
    assert_eq!(
        metrics.value(
            "tokenmint_invalid_grants_total",
            &[("grant", "refresh_token"), ("reason", "forged_token")]
        ),
        4.0
    );
}

/// RFC 7009 revocation with a forged token (a genuine selector, a made-up tail) ends nothing;
/// with any token tokenmint issued for the session, used or not, it ends the session. (At
/// b8c10c8 the forged token ended the session.)
async fn only_a_token_tokenmint_issued_revokes_its_session(backend: Backend) {
    let harness = Harness::start(backend).await;
    let first = harness.login("u1").await;
    let second = tokens(harness.app.refresh(&first.refresh_token).await).await;
    let forged = forged_from(&second.refresh_token, 0x33);
    let answer = harness
        .app
        .post_form("/oauth/revoke", &[("token", forged.as_str())])
        .await;
    assert_eq!(answer.status(), 200, "RFC 7009 answers 200 for any token");
    assert_eq!(harness.count(REVOKED).await, 0, "a forgery ends nothing");
    let third = tokens(harness.app.refresh(&second.refresh_token).await).await;
    // A used, genuine token is authority enough.
    let answer = harness
        .app
        .post_form("/oauth/revoke", &[("token", first.refresh_token.as_str())])
        .await;
    assert_eq!(answer.status(), 200);
    assert_invalid_grant(harness.app.refresh(&third.refresh_token).await, "revoked").await;
}

/// A genuine token of an old generation is a replay however old: it revokes the session.
async fn a_genuine_old_generation_replayed_weeks_later_revokes_the_session(backend: Backend) {
    let harness = Harness::start_with(backend, &[("TOKENMINT_REFRESH_IDLE_TTL", "30d")]).await;
    let first = harness.login("u1").await;
    let mut newest = first.refresh_token.clone();
    for _ in 0..5 {
        advance(&harness.app, Duration::from_secs(3 * 86_400));
        newest = tokens(harness.app.refresh(&newest).await)
            .await
            .refresh_token;
    }
    assert_invalid_grant(
        harness.app.refresh(&first.refresh_token).await,
        "15 days on",
    )
    .await;
    assert_invalid_grant(harness.app.refresh(&newest).await, "after the replay").await;
    let family = harness.token_family(&newest).await;
    assert_eq!(
        family.session.revoked_reason,
        Some(RevocationReason::RefreshTokenReuse)
    );
}

/// The database loses rotations (a failover of asynchronous replication, a restored backup):
/// the client holds a genuine token of a later generation than the stored one. It refreshes,
/// and the session moves forward to it; a genuine older token is still a replay afterwards.
/// (At 498bd54 the client was taken for a thief: session revoked.)
async fn a_generation_the_database_lost_moves_the_session_forward(backend: Backend) {
    let harness = Harness::start(backend).await;
    let first = harness.login("u1").await;
    let second = tokens(harness.app.refresh(&first.refresh_token).await).await;
    let snapshot = SessionState::read(&harness.db, &second.refresh_token).await;
    let third = tokens(harness.app.refresh(&second.refresh_token).await).await;
    let fourth = tokens(harness.app.refresh(&third.refresh_token).await).await;
    // The database goes back to where it was after the second token was issued.
    snapshot.restore(&harness.db).await;

    advance(&harness.app, Duration::from_secs(60));
    let fifth = tokens(harness.app.refresh(&fourth.refresh_token).await).await;
    let sixth = tokens(harness.app.refresh(&fifth.refresh_token).await).await;
    assert_eq!(harness.count(REVOKED).await, 0);
    assert_eq!(
        harness
            .count("select count(*) from audit_events where event = 'refresh_token.rolled_forward'")
            .await,
        1
    );
    let metrics = harness.app.scrape().await;
    assert_eq!(
        metrics.value("tokenmint_refresh_rolled_forward_total", &[]),
        1.0
    );

    // The genuine third token, older than what the session moved to: a replay.
    advance(&harness.app, Duration::from_secs(60));
    assert_invalid_grant(harness.app.refresh(&third.refresh_token).await, "a replay").await;
    assert_invalid_grant(harness.app.refresh(&sixth.refresh_token).await, "revoked").await;
}

/// No successor is stored: after a rotation the session row holds hashes and the generation
/// only, and the grace window still answers the same successor (computed again).
async fn no_successor_is_stored_and_the_grace_window_still_answers_it(backend: Backend) {
    let harness = Harness::start(backend).await;
    let first = harness.login("u1").await;
    let second = tokens(harness.app.refresh(&first.refresh_token).await).await;
    assert_eq!(
        harness
            .count("select count(*) from sessions where successor_sealed is not null")
            .await,
        0
    );
    let again = tokens(harness.app.refresh(&first.refresh_token).await).await;
    assert_eq!(again.refresh_token, second.refresh_token);
}

/// A session rotated by a build before generations keeps working through the upgrade: its
/// previous token, within the grace window, gets the successor that build sealed; the
/// successor (a random token) rotates into the first generation.
async fn a_session_rotated_before_generations_keeps_its_grace_window(backend: Backend) {
    let harness = Harness::start(backend).await;
    let login = harness.login("u1").await;
    // As 498bd54 rotated: a random successor, sealed under the presented token, no generation.
    let presented = RefreshToken::parse(&login.refresh_token).unwrap();
    let successor = random_token(&presented);
    let sealed = tokenmint::crypto::successor::seal(
        presented.expose(),
        &presented.hash().0,
        successor.expose(),
    )
    .unwrap();
    let now_ms = {
        use tokenmint::clock::Clock;
        harness.app.clock.now().timestamp_millis()
    };
    execute(
        &harness.db,
        "update sessions set token_hash = $1, previous_token_hash = $2, \
         previous_used_at_ms = $3, successor_sealed = $4, generation = null",
        vec![
            Value::Bytes(Some(successor.hash().0.to_vec())),
            Value::Bytes(Some(presented.hash().0.to_vec())),
            Value::Int(Some(now_ms)),
            Value::Bytes(Some(sealed)),
        ],
    )
    .await;
    let retried = tokens(harness.app.refresh(&login.refresh_token).await).await;
    assert_eq!(retried.refresh_token, successor.expose());
    let next = tokens(harness.app.refresh(successor.expose()).await).await;
    tokens(harness.app.refresh(&next.refresh_token).await).await;
    assert_eq!(harness.count(REVOKED).await, 0);
}

/// A token of `of`'s family with a random tail, as tokens were before generations.
fn random_token(of: &RefreshToken) -> RefreshToken {
    let mut bytes = URL_SAFE_NO_PAD
        .decode(of.expose().strip_prefix("tmr_").unwrap())
        .unwrap();
    bytes[16..].copy_from_slice(&tokenmint::crypto::random_bytes::<16>().unwrap());
    RefreshToken::parse(&format!("tmr_{}", URL_SAFE_NO_PAD.encode(bytes))).unwrap()
}

/// A session's refresh-token state, read and written back behind tokenmint's back.
struct SessionState {
    family: Vec<u8>,
    columns: TokenColumns,
}

/// `token_hash, previous_token_hash, previous_used_at_ms, generation`.
type TokenColumns = (Option<Vec<u8>>, Option<Vec<u8>>, Option<i64>, Option<i64>);

impl SessionState {
    async fn read(db: &TestDb, token: &str) -> Self {
        use sqlx::Connection;
        let family = RefreshToken::parse(token).unwrap().family().0.to_vec();
        let sql = "select token_hash, previous_token_hash, previous_used_at_ms, generation \
                   from sessions where family_hash = $1";
        let columns = match db.backend {
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::query_as(sql)
                    .bind(family.clone())
                    .fetch_one(&mut c)
                    .await
                    .unwrap()
            }
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
                sqlx::query_as(sqlx::AssertSqlSafe(sql.replace('$', "?")))
                    .bind(family.clone())
                    .fetch_one(&mut c)
                    .await
                    .unwrap()
            }
        };
        Self { family, columns }
    }

    async fn restore(&self, db: &TestDb) {
        let (token, previous, used_at, generation) = self.columns.clone();
        execute(
            db,
            "update sessions set token_hash = $1, previous_token_hash = $2, \
             previous_used_at_ms = $3, generation = $4 where family_hash = $5",
            vec![
                Value::Bytes(token),
                Value::Bytes(previous),
                Value::Int(used_at),
                Value::Int(generation),
                Value::Bytes(Some(self.family.clone())),
            ],
        )
        .await;
    }
}

/// A value bound to a statement run behind tokenmint's back.
enum Value {
    Bytes(Option<Vec<u8>>),
    Int(Option<i64>),
}

/// Runs one statement (written with `$n` parameters) directly against the database.
async fn execute(db: &TestDb, sql: &str, values: Vec<Value>) {
    use sqlx::Connection;
    match db.backend {
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
            for value in values {
                query = match value {
                    Value::Bytes(v) => query.bind(v),
                    Value::Int(v) => query.bind(v),
                };
            }
            query.execute(&mut c).await.unwrap();
        }
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.replace('$', "?")));
            for value in values {
                query = match value {
                    Value::Bytes(v) => query.bind(v),
                    Value::Int(v) => query.bind(v),
                };
            }
            query.execute(&mut c).await.unwrap();
        }
    }
}

on_both_backends!(
    a_forged_token_on_a_genuine_selector_changes_nothing,
    only_a_token_tokenmint_issued_revokes_its_session,
    a_genuine_old_generation_replayed_weeks_later_revokes_the_session,
    a_generation_the_database_lost_moves_the_session_forward,
    no_successor_is_stored_and_the_grace_window_still_answers_it,
    a_session_rotated_before_generations_keeps_its_grace_window,
);
