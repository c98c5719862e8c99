//! Shutting down the way orchestrators expect: `/readyz` fails at once, connections are still
//! accepted for `TOKENMINT_SHUTDOWN_DELAY`, then refused; requests in flight finish, for at
//! most `TOKENMINT_SHUTDOWN_TIMEOUT`. In process (`App::run_until` with a shutdown the test
//! triggers) and as the real binary under SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokenmint_fake_appwrite::{FakeAppwrite, PROJECT_ID};

use crate::cli::tokenmint;
use crate::healthcheck::healthcheck;
use crate::helpers::{Backend, eventually};
use crate::oauth_helpers::{EXCHANGE, Harness, JWT_TYPE};

/// An exchange on a connection of its own, so it can be in flight while the test goes on.
async fn exchange(base: String, jwt: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token_type", JWT_TYPE),
            ("subject_token", &jwt),
        ])
        .send()
        .await
        .unwrap()
}

/// GET on a new connection (a pooled one would not show whether new connections are taken).
async fn fresh_get(url: String) -> Result<reqwest::Response, reqwest::Error> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
}

async fn refused(address: &str) -> bool {
    let address = address.trim_start_matches("http://");
    tokio::net::TcpStream::connect(address).await.is_err()
}

/// Long enough that a held exchange waits for the test, not for tokenmint's Appwrite budget.
const APPWRITE_TIMEOUT: (&str, &str) = ("TOKENMINT_APPWRITE_TIMEOUT", "60s");

/// An exchange held at the fake Appwrite: in flight until the test releases it.
async fn start_held_exchange(
    harness: &Harness,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<reqwest::Response>,
) {
    let user = harness.signed_in("u1");
    let release = harness.appwrite.hold_answers();
    let in_flight = tokio::spawn(exchange(harness.app.address.clone(), user.jwt));
    harness.appwrite.wait_for_requests(1).await;
    (release, in_flight)
}

#[tokio::test]
async fn readyz_answers_503_as_soon_as_draining_starts_while_everything_else_is_served() {
    let mut harness = Harness::start_with(
        Backend::Sqlite,
        &[("TOKENMINT_SHUTDOWN_DELAY", "5m"), APPWRITE_TIMEOUT],
    )
    .await;
    assert_eq!(harness.app.get("/readyz").await.status(), 200);
    let (release, in_flight) = start_held_exchange(&harness).await;

    harness.app.begin_shutdown();
    let url = |path: &str| harness.app.url(path);
    let draining = eventually(Duration::from_secs(10), || async {
        fresh_get(url("/readyz")).await.unwrap().status() == 503
    })
    .await;
    assert!(draining, "/readyz stayed 200 after the shutdown began");
    let body: Value = fresh_get(url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "draining");
    assert_eq!(fresh_get(url("/healthz")).await.unwrap().status(), 200);
    let jwks = fresh_get(url("/.well-known/jwks.json")).await.unwrap();
    assert_eq!(jwks.status(), 200, "still serving on new connections");
    let listen = harness.app.address.trim_start_matches("http://").to_owned();
    let probe = healthcheck(listen.clone(), &[]).await;
    assert_eq!(
        probe.status.code(),
        Some(1),
        "the container probe fails too"
    );
    assert!(String::from_utf8_lossy(&probe.stderr).contains("draining"));
    assert!(healthcheck(listen, &["--liveness"]).await.status.success());

    release.send(true).unwrap();
    assert_eq!(in_flight.await.unwrap().status(), 200);
}

#[tokio::test]
async fn after_the_delay_new_connections_are_refused_and_requests_in_flight_finish() {
    let harness = Harness::start_with(
        Backend::Sqlite,
        &[
            ("TOKENMINT_SHUTDOWN_DELAY", "1s"),
            ("TOKENMINT_SHUTDOWN_TIMEOUT", "1m"),
            APPWRITE_TIMEOUT,
        ],
    )
    .await;
    let (release, in_flight) = start_held_exchange(&harness).await;
    let Harness { mut app, .. } = harness;

    app.begin_shutdown();
    let address = app.address.clone();
    let closed = eventually(Duration::from_secs(20), || refused(&address)).await;
    assert!(closed, "still accepting connections after the delay");

    release.send(true).unwrap();
    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status(), 200, "the request in flight was answered");
    let body: Value = answer.json().await.unwrap();
    assert!(body["refresh_token"].is_string(), "{body}");
    tokio::time::timeout(Duration::from_secs(30), app.stopped())
        .await
        .expect("the server stopped once its last request was answered")
        .unwrap();
}

#[tokio::test]
async fn a_request_still_in_flight_after_the_timeout_does_not_keep_the_server_up() {
    let harness = Harness::start_with(
        Backend::Sqlite,
        &[("TOKENMINT_SHUTDOWN_TIMEOUT", "1s"), APPWRITE_TIMEOUT],
    )
    .await;
    let (_never_released, in_flight) = start_held_exchange(&harness).await;
    let Harness { mut app, db, .. } = harness;

    app.begin_shutdown();
    // A guard against hanging, not a timing check.
    tokio::time::timeout(Duration::from_secs(30), app.stopped())
        .await
        .expect("the server waited for a request that never ends")
        .unwrap();
    // Without the timeout the server would have waited until the request ended (answered 503
    // by the 15-s request timeout at the earliest).
    assert!(
        !in_flight.is_finished(),
        "the server waited for the request in flight, which ended: {:?}",
        in_flight.await
    );
    in_flight.abort();
    drop(db);
}

/// The real binary: SIGTERM → `/readyz` 503 while new connections are still taken → refused
/// after `TOKENMINT_SHUTDOWN_DELAY` → the request in flight is answered → exit 0.
#[test]
fn sigterm_drains_then_stops_accepting_and_exits_after_the_last_request() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let appwrite = runtime.block_on(FakeAppwrite::start());
    let user = appwrite.signed_in_user("u1");
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokenmint(dir.path())
        .env("TOKENMINT_LISTEN", "127.0.0.1:0")
        .env("TOKENMINT_LOG_FORMAT", "json")
        .env("APPWRITE_ENDPOINT", &appwrite.endpoint)
        .env("APPWRITE_PROJECT_ID", PROJECT_ID)
        .env("TOKENMINT_SHUTDOWN_DELAY", "5s")
        .env(APPWRITE_TIMEOUT.0, APPWRITE_TIMEOUT.1)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("stderr closed before serving").unwrap();
        let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if event["message"] == "tokenmint is serving" {
            break format!("http://{}", event["address"].as_str().unwrap());
        }
    };
    let log = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let release = appwrite.hold_answers();
    let in_flight = runtime.spawn(exchange(address.clone(), user.jwt));
    runtime.block_on(appwrite.wait_for_requests(1));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    runtime.block_on(async {
        let readyz = format!("{address}/readyz");
        let draining = eventually(Duration::from_secs(5), || async {
            fresh_get(readyz.clone())
                .await
                .is_ok_and(|r| r.status() == 503)
        })
        .await;
        assert!(draining, "/readyz did not answer 503 while draining");
        let closed = eventually(Duration::from_secs(20), || refused(&address)).await;
        assert!(closed, "still accepting connections after the delay");
        release.send(true).unwrap();
        assert_eq!(in_flight.await.unwrap().status(), 200);
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running after its last request"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    let log = log.join().unwrap();
    for message in ["draining", "no longer accepting", "tokenmint stopped"] {
        assert!(
            log.iter().any(|l| l.contains(message)),
            "{message}: {log:?}"
        );
    }
}
