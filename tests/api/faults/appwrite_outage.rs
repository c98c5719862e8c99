//! Appwrite dies while apps keep logging in: exchanges fail fast (the circuit breaker stops
//! calling it) and refresh, which needs no Appwrite, keeps its throughput. One run, two phases
//! of the same load — refresh chains plus a stream of logins — first with Appwrite healthy,
//! then with Appwrite stalled past tokenmint's timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokenmint_fake_appwrite::FakeAppwrite;

use super::chains::{self, Load};
use super::process::ServerProcess;
use super::server_env;

const CHAINS: usize = 8;
const LOGINS: usize = 8;
const PHASE: Duration = Duration::from_secs(4);

/// What the login stream saw.
#[derive(Debug, Default)]
struct Logins {
    ok: usize,
    unavailable: usize,
    other: usize,
    slowest_refusal: Duration,
}

/// Logs in over and over until `stop`; after a 503 a client waits 100 ms (less than it is
/// told: an impatient app).
async fn log_in_repeatedly(
    server: String,
    appwrite: Arc<FakeAppwrite>,
    stop: Arc<AtomicBool>,
) -> Logins {
    let client = chains::client();
    let mut seen = Logins::default();
    let signed_in = appwrite.signed_in_user("login-stream");
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let response = chains::exchange(&client, &server, &signed_in.jwt).await;
        match response.status().as_u16() {
            200 => seen.ok += 1,
            503 => {
                assert!(response.headers().contains_key("retry-after"));
                seen.unavailable += 1;
                seen.slowest_refusal = seen.slowest_refusal.max(started.elapsed());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => seen.other += 1,
        }
    }
    seen
}

/// Runs the chains and the login stream for one phase; refreshes answered 200 in it.
async fn phase(
    server: &ServerProcess,
    appwrite: &Arc<FakeAppwrite>,
    tokens: Vec<String>,
) -> (usize, Logins, Vec<String>, chains::Tally) {
    let stop = Arc::new(AtomicBool::new(false));
    let logins: Vec<_> = (0..LOGINS)
        .map(|_| {
            tokio::spawn(log_in_repeatedly(
                server.url.clone(),
                Arc::clone(appwrite),
                Arc::clone(&stop),
            ))
        })
        .collect();
    let load = Load::start(vec![server.url.clone()], tokens);
    tokio::time::sleep(PHASE).await;
    stop.store(true, Ordering::SeqCst);
    let ledger = Arc::clone(&load.ledger);
    let (tally, newest) = load.finish().await;
    assert_eq!(ledger.forks(), 0);
    let mut seen = Logins::default();
    for login in logins {
        let one = login.await.unwrap();
        seen.ok += one.ok;
        seen.unavailable += one.unavailable;
        seen.other += one.other;
        seen.slowest_refusal = seen.slowest_refusal.max(one.slowest_refusal);
    }
    (tally.ok, seen, newest, tally)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault scenario (~10 s): cargo test --test api -- --ignored faults::"]
async fn a_dead_appwrite_fails_logins_fast_and_leaves_refresh_alone() {
    let db_dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db_dir.path().join("tokenmint.db").display());
    let appwrite = Arc::new(FakeAppwrite::start().await);
    let env = server_env(
        &url,
        &appwrite,
        &[
            ("TOKENMINT_APPWRITE_TIMEOUT", "1s"),
            ("TOKENMINT_APPWRITE_CONNECT_TIMEOUT", "500ms"),
        ],
    );
    let server = ServerProcess::start(db_dir.path(), "tokenmint", &env);
    let tokens = chains::seed(&server.url, &appwrite, CHAINS).await;

    let (healthy, healthy_logins, tokens, healthy_tally) = phase(&server, &appwrite, tokens).await;
    appwrite.set_latency(Duration::from_secs(30));
    let calls_before = appwrite.requests().len();
    let (dead, dead_logins, newest, dead_tally) = phase(&server, &appwrite, tokens).await;
    let calls = appwrite.requests().len() - calls_before;
    appwrite.set_latency(Duration::ZERO);

    println!(
        "reliability: Appwrite healthy then stalled (30 s, timeout 1 s), {CHAINS} refresh chains + {LOGINS} login loops, {} s each: \
         refreshes {healthy} vs {dead} ({:.2}x); logins healthy {} ok / {} refused; stalled {} ok / {} refused ({calls} reached Appwrite), slowest refusal {} ms",
        PHASE.as_secs(),
        dead as f64 / healthy as f64,
        healthy_logins.ok,
        healthy_logins.unavailable,
        dead_logins.ok,
        dead_logins.unavailable,
        dead_logins.slowest_refusal.as_millis()
    );
    for tally in [&healthy_tally, &dead_tally] {
        assert_eq!(
            tally.requests,
            tally.ok,
            "every refresh succeeds: {}",
            tally.summary()
        );
    }
    assert!(healthy_logins.ok > 0 && healthy_logins.unavailable == 0);
    assert_eq!(dead_logins.other, 0);
    assert!(dead_logins.unavailable > 0);
    // Without the breaker every refusal is a call that waited out the timeout; with it, only
    // the calls that open the circuit and its probes reach Appwrite.
    assert!(
        calls * 2 < dead_logins.unavailable,
        "{calls} of {} refused logins still reached the dead Appwrite",
        dead_logins.unavailable
    );
    let lost = chains::chains_that_cannot_go_on(&server.url, &newest).await;
    assert!(lost.is_empty(), "{lost:?}");
}
