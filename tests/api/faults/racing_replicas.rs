//! Three replicas on one PostgreSQL database, the same refresh token sent to all three at the
//! same moment, for many tokens: each token gets exactly one successor, every 200 carries it,
//! and reuse detection still fires once the grace window has passed.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use tokenmint_fake_appwrite::FakeAppwrite;

use super::chains;
use super::process::ServerProcess;
use super::server_env;
use crate::helpers::TestDb;

const TOKENS: usize = 24;
const ROUNDS: usize = 3;

async fn refresh(client: &reqwest::Client, server: &str, token: &str) -> (u16, Value) {
    let response = client
        .post(format!("{server}/oauth/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Sends `token` to every replica at once; the successor they all answered with.
async fn race(client: &reqwest::Client, replicas: &[ServerProcess], token: &str) -> String {
    let answers = futures_util::future::join_all(
        replicas
            .iter()
            .map(|replica| refresh(client, &replica.url, token)),
    )
    .await;
    let successors: HashSet<String> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "a racing refresh was refused: {body}");
            body["refresh_token"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(successors.len(), 1, "one token, several successors");
    successors.into_iter().next().unwrap()
}

#[tokio::test]
#[ignore = "fault scenario (~10 s): cargo test --test api -- --ignored faults::"]
async fn three_replicas_racing_on_each_token_issue_one_successor() {
    let db = TestDb::postgres().await;
    let appwrite = FakeAppwrite::start().await;
    let env = server_env(&db.url, &appwrite, &[("TOKENMINT_REFRESH_GRACE", "2s")]);
    let replicas: Vec<ServerProcess> = (0..3)
        .map(|i| ServerProcess::start(db.dir.path(), &format!("replica-{i}"), &env))
        .collect();
    let client = chains::client();
    let first = chains::seed(&replicas[0].url, &appwrite, TOKENS).await;

    let mut history = vec![first.clone()];
    for _ in 0..ROUNDS {
        let previous = history.last().unwrap().clone();
        let next = futures_util::future::join_all(
            previous.iter().map(|token| race(&client, &replicas, token)),
        )
        .await;
        history.push(next);
    }

    // Past the grace window, a replay of any used token revokes its session, on any replica.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let mut revoked = 0;
    for (i, token) in first.iter().enumerate() {
        let replay = &replicas[i % 3];
        let (status, body) = refresh(&client, &replay.url, token).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let newest = &history.last().unwrap()[i];
        let (status, _) = refresh(&client, &replicas[(i + 1) % 3].url, newest).await;
        assert_eq!(status, 400, "the newest token outlived a detected reuse");
        revoked += 1;
    }
    println!(
        "reliability: 3 replicas racing: {TOKENS} tokens x {ROUNDS} rounds x 3 replicas = {} racing refreshes, one successor each; {revoked} replays detected after the grace window",
        TOKENS * ROUNDS * 3
    );
}
