//! Upgrading a database from before token families (migration 0002): sessions created then
//! keep refreshing with the token their device holds, get their family at the first rotation,
//! and from then on have the grace window and reuse detection of any other session.

use std::time::Duration;

use sqlx::Connection;
use tokenmint::domain::token::RefreshToken;

use crate::helpers::{Backend, TestDb};
use crate::oauth_helpers::{Harness, advance, oauth_error, tokens};
use crate::on_both_backends;

/// The schema as migration 0001 left it, with one live session whose device holds `token`.
async fn legacy_database(backend: Backend, token: &RefreshToken) -> TestDb {
    let db = TestDb::new(backend).await;
    let now = tokenmint::clock::unix_now();
    let session = uuid::Uuid::now_v7().to_string();
    let (created, absolute, idle) = (now - 86_400, now + 29 * 86_400, now + 6 * 86_400);
    let used = legacy_token();
    match backend {
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            tokenmint::store::postgres::MIGRATOR
                .run_to(1, &mut c)
                .await
                .unwrap();
            sqlx::query(
                "insert into sessions (session_id, user_id, client_id, appwrite_session_id, \
                 audience, auth_time, created_at, last_used_at, absolute_expires_at, \
                 idle_expires_at, claims, claims_updated_at_ms) \
                 values ($1::uuid, 'u1', null, 's1', 'api', $2, $2, $2, $3, $4, \
                 '{\"email\":\"u1@example.com\",\"email_verified\":true,\"name\":\"U\",\"labels\":[]}'::jsonb, 0)",
            )
            .bind(&session)
            .bind(created)
            .bind(absolute)
            .bind(idle)
            .execute(&mut c)
            .await
            .unwrap();
            for (hash, used_at) in [(token.hash(), None), (used.hash(), Some(created))] {
                sqlx::query(
                    "insert into refresh_tokens (token_hash, session_id, created_at, expires_at, used_at) \
                     values ($1, $2::uuid, $3, $4, $5)",
                )
                .bind(hash.0.to_vec())
                .bind(&session)
                .bind(created)
                .bind(absolute)
                .bind(used_at)
                .execute(&mut c)
                .await
                .unwrap();
            }
        }
        Backend::Sqlite => {
            let url = format!("{}?mode=rwc", db.url);
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            tokenmint::store::sqlite::MIGRATOR
                .run_to(1, &mut c)
                .await
                .unwrap();
            sqlx::query(
                "insert into sessions (session_id, user_id, client_id, appwrite_session_id, \
                 audience, auth_time, created_at, last_used_at, absolute_expires_at, \
                 idle_expires_at, claims, claims_updated_at_ms) \
                 values (?1, 'u1', null, 's1', 'api', ?2, ?2, ?2, ?3, ?4, \
                 '{\"email\":\"u1@example.com\",\"email_verified\":true,\"name\":\"U\",\"labels\":[]}', 0)",
            )
            .bind(&session)
            .bind(created)
            .bind(absolute)
            .bind(idle)
            .execute(&mut c)
            .await
            .unwrap();
            for (hash, used_at) in [(token.hash(), None), (used.hash(), Some(created))] {
                sqlx::query(
                    "insert into refresh_tokens (token_hash, session_id, created_at, expires_at, used_at) \
                     values (?1, ?2, ?3, ?4, ?5)",
                )
                .bind(hash.0.to_vec())
                .bind(&session)
                .bind(created)
                .bind(absolute)
                .bind(used_at)
                .execute(&mut c)
                .await
                .unwrap();
            }
        }
    }
    db
}

async fn a_session_from_before_the_upgrade_keeps_refreshing(backend: Backend) {
    let legacy = legacy_token();
    let db = legacy_database(backend, &legacy).await;
    let harness = Harness::start_on(db, &[]).await;

    let first = tokens(harness.app.refresh(legacy.expose()).await).await;

    let successor = RefreshToken::parse(&first.refresh_token).unwrap();
    assert_eq!(
        successor.family(),
        legacy.family(),
        "the session's family is taken from the token its device held"
    );
    let retry = tokens(harness.app.refresh(legacy.expose()).await).await;
    assert_eq!(retry.refresh_token, first.refresh_token, "the grace window");
    let second = tokens(harness.app.refresh(&first.refresh_token).await).await;
    advance(&harness.app, Duration::from_secs(11));
    // A token from before the upgrade, once superseded, cannot be told from one made up on
    // the session's selector (migration 0004): refused, and it revokes nothing.
    let (_, error, _) = oauth_error(harness.app.refresh(legacy.expose()).await).await;
    assert_eq!(error, "invalid_grant");
    let third = tokens(harness.app.refresh(&second.refresh_token).await).await;
    // A token issued after the upgrade is provably tokenmint's: its replay revokes the session.
    let (_, error, _) = oauth_error(harness.app.refresh(&first.refresh_token).await).await;
    assert_eq!(error, "invalid_grant");
    let (_, error, _) = oauth_error(harness.app.refresh(&third.refresh_token).await).await;
    assert_eq!(
        error, "invalid_grant",
        "the replay of a token issued after the upgrade revoked the session"
    );
}

on_both_backends!(a_session_from_before_the_upgrade_keeps_refreshing);

/// A refresh token as tokenmint made them before generations: 32 random bytes.
fn legacy_token() -> RefreshToken {
    use base64::Engine;
    let bytes = tokenmint::crypto::random_bytes::<32>().unwrap();
    let text = format!(
        "tmr_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    RefreshToken::parse(&text).unwrap()
}
