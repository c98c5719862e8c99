//! The workers: each sends one request at a time, back to back, until the window ends, and
//! records what happened.

use std::time::{Duration, Instant};

use tokenmint_fake_appwrite::FakeAppwrite;
use tokio::task::JoinSet;

use crate::api::{self, Failure, Target};
use crate::cli::Workload;
use crate::stats::WorkerRecord;

/// The time a run covers: warm-up until `measured_from`, measurement until `until`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// The end of the warm-up and start of the measurement.
    pub measured_from: Instant,
    /// No request starts at or after this.
    pub until: Instant,
}

impl Window {
    /// A window starting now.
    pub fn starting_now(warmup: Duration, duration: Duration) -> Self {
        let measured_from = Instant::now() + warmup;
        Self {
            measured_from,
            until: measured_from + duration,
        }
    }
}

/// What every worker shares.
#[derive(Clone)]
pub struct Setup {
    /// The HTTP client (one pooled keep-alive connection per worker).
    pub client: reqwest::Client,
    /// The server.
    pub target: Target,
    /// The fake Appwrite the server checks exchanges with.
    pub appwrite: FakeAppwrite,
    /// When to work and measure.
    pub window: Window,
}

/// Starts `workers` workers of `workload`; `refresh` takes one seeded refresh token each.
pub fn spawn(
    workload: Workload,
    workers: u16,
    setup: &Setup,
    mut refresh_tokens: Vec<String>,
) -> JoinSet<WorkerRecord> {
    let mut tasks = JoinSet::new();
    for index in 0..workers {
        let worker = Worker {
            setup: setup.clone(),
            index,
        };
        match workload {
            Workload::Refresh => {
                let token = refresh_tokens.pop().unwrap_or_default();
                tasks.spawn(worker.refresh_chain(token))
            }
            Workload::Exchange => tasks.spawn(worker.exchanges()),
            Workload::Jwks => tasks.spawn(worker.gets("/.well-known/jwks.json")),
            Workload::Healthz => tasks.spawn(worker.gets("/healthz")),
        };
    }
    tasks
}

struct Worker {
    setup: Setup,
    index: u16,
}

impl Worker {
    /// Now, if a request may still start.
    fn next_start(&self) -> Option<Instant> {
        let now = Instant::now();
        (now < self.setup.window.until).then_some(now)
    }

    fn record<T>(&self, record: &mut WorkerRecord, started: Instant, outcome: &Result<T, Failure>) {
        record.record(started, self.setup.window.measured_from, outcome);
    }

    /// A rotation chain: always sends the newest refresh token. After a network failure it
    /// retries with the token it holds, as an app does; after a refusal (the chain is dead) it
    /// starts a new session, unmeasured.
    async fn refresh_chain(self, mut token: String) -> WorkerRecord {
        let mut record = WorkerRecord::new();
        let mut restarts = 0_u64;
        while let Some(started) = self.next_start() {
            let outcome = api::refresh(&self.setup.client, &self.setup.target, &token).await;
            self.record(&mut record, started, &outcome);
            match outcome {
                Ok(successor) => token = successor,
                Err(Failure::Network(_)) => {}
                Err(_) => {
                    restarts += 1;
                    let user = format!("bench-restart-{}-{restarts}", self.index);
                    if let Ok(fresh) = self.new_session(&user, restarts).await {
                        token = fresh;
                    }
                }
            }
        }
        record
    }

    /// New token exchanges, each for a new user whose JWT is made before the clock starts.
    async fn exchanges(self) -> WorkerRecord {
        let mut record = WorkerRecord::new();
        for n in 0_u64.. {
            let user = self
                .setup
                .appwrite
                .signed_in_user(&format!("bench-exchange-{}-{n}", self.index));
            let Some(started) = self.next_start() else {
                break;
            };
            let outcome = api::exchange(&self.setup.client, &self.setup.target, &user.jwt).await;
            self.record(&mut record, started, &outcome);
        }
        record
    }

    /// `GET path`, over and over.
    async fn gets(self, path: &'static str) -> WorkerRecord {
        let url = self.setup.target.url(path);
        let mut record = WorkerRecord::new();
        while let Some(started) = self.next_start() {
            let outcome = api::get(&self.setup.client, &url).await;
            self.record(&mut record, started, &outcome);
        }
        record
    }

    /// A new chain after a refusal; on the peer, from its seeding route, for an account no
    /// seeded chain has.
    async fn new_session(&self, user_id: &str, restart: u64) -> Result<String, Failure> {
        if self.setup.target.peer.is_some() {
            let from = 1_000_000_u64 * (u64::from(self.index) + 1) + restart;
            let mut chains =
                api::peer_chains(&self.setup.client, &self.setup.target, from, 1).await?;
            return chains.pop().ok_or(Failure::NoRefreshToken);
        }
        let user = self.setup.appwrite.signed_in_user(user_id);
        api::exchange(&self.setup.client, &self.setup.target, &user.jwt).await
    }
}
