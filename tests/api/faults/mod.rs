//! Fault scenarios (issue 11): the database goes away, a replica dies, replicas race, all
//! under refresh load through real `tokenmint` processes, checking that nothing is lost.
//!
//! The long scenarios are `#[ignore]`d so the README's `cargo test --workspace` stays quick;
//! `.ci/run` runs them by name: `cargo test --test api -- --ignored faults::`. Each prints a
//! `reliability:` line with its figures (docs/reliability.md quotes them).

mod appwrite_outage;
mod chains;
mod cluster;
mod database_outage;
mod ha;
mod process;
mod process_death;
mod racing_replicas;

use sqlx::Connection;
use tokenmint_fake_appwrite::{FakeAppwrite, PROJECT_ID};

use crate::helpers::TEST_KEK;

/// The environment of a `tokenmint` process on `database_url`, wired to `appwrite`, with
/// `extra` settings last.
fn server_env(
    database_url: &str,
    appwrite: &FakeAppwrite,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    [
        ("DATABASE_URL", database_url),
        ("TOKENMINT_KEK", TEST_KEK),
        ("APPWRITE_ENDPOINT", appwrite.endpoint.as_str()),
        ("APPWRITE_PROJECT_ID", PROJECT_ID),
        // All load comes from one loopback address: the per-IP limit is for real clients.
        ("TOKENMINT_RATE_LIMIT_IP", "0"),
        ("TOKENMINT_RATE_LIMIT_EXCHANGE_USER", "0"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// How many sessions of the database at `url` are revoked.
async fn revoked_sessions(url: &str) -> i64 {
    let sql = "select count(*) from sessions where revoked_at is not null";
    if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql)
            .fetch_one(&mut connection)
            .await
            .unwrap()
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql)
            .fetch_one(&mut connection)
            .await
            .unwrap()
    }
}
