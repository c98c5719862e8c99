//! Refresh chains under faults, driven the way real apps behave: each chain holds its newest
//! refresh token and refreshes it in a loop; when an answer is lost (a 503, a reset
//! connection, a dead replica) it retries **with the token it holds**, on the next replica if
//! the connection failed. Every 200 is written into a [`Ledger`], which notices a fork (one
//! presented token answered with two different successors).
//!
//! What the scenarios then check: no chain lost (each newest token still refreshes), no fork,
//! no 5xx but 503, every 503 with `Retry-After`, no request answered later than the server's
//! own timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokenmint_fake_appwrite::FakeAppwrite;

use crate::oauth_helpers::{EXCHANGE, JWT_TYPE};

/// Longer than the server's request timeout (15 s): a request still unanswered by then hung.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a client waits before retrying after a 503 or a failed connection.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Every successor issued, by the token it was issued for, and when each was received.
#[derive(Default)]
pub struct Ledger {
    successors: Mutex<HashMap<String, String>>,
    forks: AtomicUsize,
    received: Mutex<Vec<Instant>>,
}

impl Ledger {
    fn record(&self, presented: &str, successor: &str) {
        self.received.lock().unwrap().push(Instant::now());
        let mut successors = self.successors.lock().unwrap();
        match successors.get(presented) {
            Some(known) if known != successor => {
                self.forks.fetch_add(1, Ordering::SeqCst);
            }
            Some(_) => {}
            None => {
                successors.insert(presented.to_owned(), successor.to_owned());
            }
        }
    }

    /// Presented tokens answered with two different successors.
    pub fn forks(&self) -> usize {
        self.forks.load(Ordering::SeqCst)
    }

    /// When the first successful refresh at or after `since` was received.
    pub fn first_success_after(&self, since: Instant) -> Option<Instant> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|&at| at >= since)
            .min()
    }
}

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub requests: usize,
    pub ok: usize,
    /// 503 answers (all `temporarily_unavailable` with `Retry-After`, else counted below).
    pub unavailable: usize,
    /// 503s without `Retry-After` or without the OAuth error `temporarily_unavailable`.
    pub malformed_unavailable: usize,
    /// Any other 5xx.
    pub server_errors: usize,
    /// 429 `slow_down` with `Retry-After` (none expected: the scenarios disable rate limits).
    pub slowed_down: usize,
    /// Answers other than 200 and 503 (an `invalid_grant` here means a lost chain).
    pub refused: Vec<(u16, String)>,
    /// Connections that failed (refused, reset) before an answer.
    pub transport_errors: usize,
    /// Requests that got no answer within [`CLIENT_TIMEOUT`].
    pub hung: usize,
    /// The slowest answer.
    pub slowest: Duration,
    /// Chains that ended on a refusal.
    pub lost_chains: usize,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.unavailable += other.unavailable;
        self.malformed_unavailable += other.malformed_unavailable;
        self.server_errors += other.server_errors;
        self.slowed_down += other.slowed_down;
        self.refused.extend(other.refused);
        self.transport_errors += other.transport_errors;
        self.hung += other.hung;
        self.slowest = self.slowest.max(other.slowest);
        self.lost_chains += other.lost_chains;
    }

    /// One line for docs/reliability.md.
    pub fn summary(&self) -> String {
        format!(
            "requests {}, 200 {}, 503 {}, other 5xx {}, 429 {}, refused {}, connection failures {}, hung {}, slowest {} ms",
            self.requests,
            self.ok,
            self.unavailable,
            self.server_errors,
            self.slowed_down,
            self.refused.len(),
            self.transport_errors,
            self.hung,
            self.slowest.as_millis()
        )
    }
}

/// A client for the chains: no connection pool surprises, a hard timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

/// Signs `count` users in with the fake Appwrite and exchanges each JWT on `server`: the
/// first refresh token of each chain.
pub async fn seed(server: &str, appwrite: &FakeAppwrite, count: usize) -> Vec<String> {
    let client = client();
    let mut tokens = Vec::with_capacity(count);
    for i in 0..count {
        let signed_in = appwrite.signed_in_user(&format!("chain-user-{i}"));
        let response = exchange(&client, server, &signed_in.jwt).await;
        assert_eq!(response.status(), 200, "seeding exchange");
        let body: Value = response.json().await.unwrap();
        tokens.push(body["refresh_token"].as_str().unwrap().to_owned());
    }
    tokens
}

/// Exchanges an Appwrite JWT on `server`.
pub async fn exchange(client: &reqwest::Client, server: &str, jwt: &str) -> reqwest::Response {
    client
        .post(format!("{server}/oauth/token"))
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token", jwt),
            ("subject_token_type", JWT_TYPE),
        ])
        .send()
        .await
        .unwrap()
}

/// Chains running until [`Load::finish`].
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<(Tally, String)>>,
    pub ledger: Arc<Ledger>,
}

impl Load {
    /// Starts one chain per token; chain `i` prefers server `i % servers.len()`, moves to the
    /// next one when a connection fails, and comes back after a success.
    pub fn start(servers: Vec<String>, tokens: Vec<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ledger = Arc::new(Ledger::default());
        let servers = Arc::new(servers);
        let client = client();
        let tasks = tokens
            .into_iter()
            .enumerate()
            .map(|(i, token)| {
                let chain = Chain {
                    client: client.clone(),
                    servers: Arc::clone(&servers),
                    home: i % servers.len(),
                    server: i % servers.len(),
                    token,
                    ledger: Arc::clone(&ledger),
                };
                tokio::spawn(chain.run(Arc::clone(&stop)))
            })
            .collect();
        Self {
            stop,
            tasks,
            ledger,
        }
    }

    /// Stops the chains, refreshes each newest token once more on `server`, prints the
    /// scenario's `reliability:` line (`what` and the figures), and asserts the guarantees of
    /// [`assert_nothing_lost`]. Returns what the chains saw.
    pub async fn finish_and_check(self, server: &str, what: &str) -> Tally {
        let ledger = Arc::clone(&self.ledger);
        let chains = self.tasks.len();
        let (tally, newest) = self.finish().await;
        let lost = chains_that_cannot_go_on(server, &newest).await;
        println!(
            "reliability: {what}: {}; chains {chains}, lost {}, forked {}",
            tally.summary(),
            lost.len(),
            ledger.forks()
        );
        assert_nothing_lost(&tally, &ledger, &lost);
        tally
    }

    /// Stops the chains (each finishes its request in flight, retries included) and returns
    /// what they saw and each chain's newest token.
    pub async fn finish(self) -> (Tally, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let mut tally = Tally::default();
        let mut newest = Vec::new();
        for task in self.tasks {
            let (seen, token) = task.await.unwrap();
            tally.add(seen);
            newest.push(token);
        }
        (tally, newest)
    }
}

struct Chain {
    client: reqwest::Client,
    servers: Arc<Vec<String>>,
    /// The replica this chain goes back to after a success (as a load balancer would, once a
    /// replaced replica answers again).
    home: usize,
    /// The replica of the next attempt.
    server: usize,
    token: String,
    ledger: Arc<Ledger>,
}

/// The outcome of one attempt.
enum Attempt {
    Rotated(String),
    Retry,
    Refused,
}

impl Chain {
    /// Refreshes until told to stop, then until the request in flight (with its retries) has
    /// an answer: a chain never stops holding a token whose fate it does not know.
    async fn run(mut self, stop: Arc<AtomicBool>) -> (Tally, String) {
        let mut tally = Tally::default();
        let mut pending = false;
        while pending || !stop.load(Ordering::SeqCst) {
            match self.attempt(&mut tally).await {
                Attempt::Rotated(successor) => {
                    self.token = successor;
                    self.server = self.home;
                    pending = false;
                }
                Attempt::Retry => {
                    pending = true;
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Attempt::Refused => {
                    tally.lost_chains += 1;
                    break;
                }
            }
        }
        (tally, self.token)
    }

    async fn attempt(&mut self, tally: &mut Tally) -> Attempt {
        tally.requests += 1;
        let url = format!("{}/oauth/token", self.servers[self.server]);
        let started = Instant::now();
        let sent = self
            .client
            .post(url)
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &self.token),
            ])
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) => {
                if err.is_timeout() {
                    tally.hung += 1;
                } else {
                    tally.transport_errors += 1;
                }
                self.server = (self.server + 1) % self.servers.len();
                return Attempt::Retry;
            }
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let body: Value = response.json().await.unwrap_or(Value::Null);
        tally.slowest = tally.slowest.max(started.elapsed());
        match status {
            200 => {
                tally.ok += 1;
                let successor = body["refresh_token"].as_str().unwrap().to_owned();
                self.ledger.record(&self.token, &successor);
                Attempt::Rotated(successor)
            }
            503 => {
                tally.unavailable += 1;
                if !retry_after || body["error"] != "temporarily_unavailable" {
                    tally.malformed_unavailable += 1;
                }
                Attempt::Retry
            }
            500..=599 => {
                tally.server_errors += 1;
                Attempt::Retry
            }
            // Rate limited: refused before anything was written; retry with the same token.
            429 if retry_after => {
                tally.slowed_down += 1;
                Attempt::Retry
            }
            _ => {
                let why = self.invalid_grant_reasons().await;
                tally.refused.push((status, format!("{body} ({why})")));
                Attempt::Refused
            }
        }
    }
}

impl Chain {
    /// The server's `invalid_grant` answers by reason so far: what a refusal was (the answer
    /// itself does not say, by design).
    async fn invalid_grant_reasons(&self) -> String {
        let url = format!("{}/metrics", self.servers[self.server]);
        let text = match self.client.get(url).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(err) => return format!("metrics unavailable: {err}"),
        };
        text.lines()
            .filter(|line| line.starts_with("tokenmint_invalid_grants_total{"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Refreshes each token once more on `server` (retrying 503s for up to 10 s): how many chains
/// could not go on — the chains lost.
pub async fn chains_that_cannot_go_on(server: &str, tokens: &[String]) -> Vec<String> {
    let client = client();
    let mut lost = Vec::new();
    for token in tokens {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let response = client
                .post(format!("{server}/oauth/token"))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
                .send()
                .await;
            match response {
                Ok(r) if r.status() == 200 => break,
                Ok(r) if r.status() != 503 || Instant::now() > deadline => {
                    lost.push(format!(
                        "{}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    ));
                    break;
                }
                _ => tokio::time::sleep(RETRY_PAUSE).await,
            }
        }
    }
    lost
}

/// Asserts the guarantees every scenario keeps.
pub fn assert_nothing_lost(tally: &Tally, ledger: &Ledger, lost_after: &[String]) {
    assert_eq!(
        tally.lost_chains, 0,
        "chains refused mid-run: {:?}",
        tally.refused
    );
    assert!(lost_after.is_empty(), "chains lost: {lost_after:?}");
    assert_eq!(
        ledger.forks(),
        0,
        "a token was answered with two successors"
    );
    assert_eq!(
        tally.server_errors,
        0,
        "5xx other than 503: {}",
        tally.summary()
    );
    assert_eq!(
        tally.malformed_unavailable, 0,
        "503 without Retry-After or temporarily_unavailable"
    );
    assert_eq!(tally.hung, 0, "requests hung past their timeout");
}
