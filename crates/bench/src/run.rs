//! One run, start to finish: fake Appwrite, database, server, seeding, workload, readings,
//! clean-up.

use std::path::Path;

use anyhow::{Context, anyhow};
use tokenmint_fake_appwrite::{FakeAppwrite, PROJECT_ID};

use crate::api::{self, PeerClient, Target};
use crate::cli::{Args, DatabaseKind, TargetKind};
use crate::database::BenchDatabase;
use crate::procfs::{self, TickRate};
use crate::report::{DatabaseInfo, Report, ServerInfo, Usage};
use crate::server::{self, Launch};
use crate::stats::{self, Totals};
use crate::workload::{self, Setup, Window};

/// Runs the benchmark `args` describe.
///
/// # Errors
/// When the run cannot be made: no database, a server that does not start, a failed seeding
/// exchange, Ctrl-C. Failed requests during the workload are in the report instead.
pub async fn run(args: &Args) -> anyhow::Result<Report> {
    let appwrite = FakeAppwrite::start().await;
    let client = api::client(args.concurrency).context("building the HTTP client")?;
    if let Some(url) = &args.server_url {
        let mut target = Target::tokenmint(
            url.as_str().trim_end_matches('/').to_owned(),
            args.server_pid,
        );
        if args.target == TargetKind::OidcProvider {
            target.peer = Some(PeerClient {
                id: args.client_id.clone(),
                secret: args.client_secret.clone(),
            });
        }
        let (totals, usage) = measure(args, &client, &appwrite, &target).await?;
        let server = ServerInfo {
            url: target.base,
            pid: target.pid,
            ..ServerInfo::default()
        };
        return Ok(report(args, server, None, totals, usage));
    }
    let bin = match &args.server_bin {
        // The server runs in its own temporary directory: a relative path must not follow it.
        Some(bin) => std::path::absolute(bin)
            .with_context(|| format!("cannot resolve --server-bin {}", bin.display()))?,
        None => server::default_bin()?,
    };
    let database = BenchDatabase::create(args.database, &args.postgres_admin_url).await?;
    let outcome = tokio::select! {
        outcome = with_server(args, &bin, &database, &client, &appwrite) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    let info = DatabaseInfo {
        kind: database.kind,
        name: database.postgres_name().map(str::to_owned),
        kept: args.keep_database && database.postgres_name().is_some(),
    };
    if let Err(err) = database.remove(args.keep_database).await {
        eprintln!("tokenmint-bench: warning: {err:#}");
    }
    let (server, totals, usage) = outcome?;
    Ok(report(args, server, Some(info), totals, usage))
}

/// Spawns the server on `database`, measures, and stops it (killing it on every early
/// return: the process guard is dropped).
async fn with_server(
    args: &Args,
    bin: &Path,
    database: &BenchDatabase,
    client: &reqwest::Client,
    appwrite: &FakeAppwrite,
) -> anyhow::Result<(ServerInfo, Totals, Usage)> {
    let launch = Launch {
        bin,
        dir: database.dir(),
        env: server_env(args, database, appwrite),
    };
    let started = server::start(&launch, client).await?;
    let measured = measure(args, client, appwrite, &started.target).await;
    let (exit, log) = started.process.stop().await;
    let (totals, usage) = measured?;
    let server = ServerInfo {
        binary: Some(bin.display().to_string()),
        url: started.target.base,
        pid: started.target.pid,
        start_to_ready_ms: Some(started.start_to_ready.as_secs_f64() * 1000.0),
        exit: Some(exit),
        log: Some(log),
    };
    Ok((server, totals, usage))
}

/// The server's environment: database, loopback port 0, JSON logs, the fake Appwrite, a test
/// KEK, a per-IP rate limit no run reaches, then `--server-env`.
fn server_env(
    args: &Args,
    database: &BenchDatabase,
    appwrite: &FakeAppwrite,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("DATABASE_URL", database.url.as_str()),
        ("TOKENMINT_LISTEN", "127.0.0.1:0"),
        ("TOKENMINT_LOG_FORMAT", "json"),
        ("TOKENMINT_KEK", server::BENCH_KEK),
        ("APPWRITE_ENDPOINT", appwrite.endpoint.as_str()),
        ("APPWRITE_PROJECT_ID", PROJECT_ID),
        // Every request comes from loopback, one client to the limiter: the default (1200/min)
        // would refuse most of a run. Still on, so its cost per request is measured.
        ("TOKENMINT_RATE_LIMIT_IP", "1000000/s"),
        // Nothing routes by readiness here: stop at once after SIGTERM.
        ("TOKENMINT_SHUTDOWN_DELAY", "0s"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.push(("RUST_LOG".to_owned(), server::log_filter(&args.server_log)));
    env.extend(args.server_env.iter().cloned());
    env
}

/// Seeds, runs the workload with its warm-up, and takes the CPU readings around the measured
/// interval and the memory reading after it.
async fn measure(
    args: &Args,
    client: &reqwest::Client,
    appwrite: &FakeAppwrite,
    target: &Target,
) -> anyhow::Result<(Totals, Usage)> {
    let tokens = if target.peer.is_some() {
        crate::seed::peer_chains(client, target, args.session_count()).await?
    } else {
        crate::seed::sessions(
            client,
            target,
            appwrite,
            args.session_count(),
            args.concurrency,
        )
        .await?
    };
    appwrite.set_latency(args.appwrite_latency);
    let window = Window::starting_now(args.warmup, args.duration);
    let setup = Setup {
        client: client.clone(),
        target: target.clone(),
        appwrite: appwrite.clone(),
        window,
    };
    let mut workers = workload::spawn(args.workload, args.concurrency, &setup, tokens);
    let postgres = args.database == DatabaseKind::Postgres;
    tokio::time::sleep_until(window.measured_from.into()).await;
    let before = Readings::take(target.pid, postgres);
    let mut records = Vec::with_capacity(usize::from(args.concurrency));
    while let Some(record) = workers.join_next().await {
        records.push(record.context("a worker panicked")?);
    }
    let after = Readings::take(target.pid, postgres);
    let totals = stats::merge(records, window.measured_from);
    let usage = before.usage(&after, target.pid, totals.requests);
    Ok((totals, usage))
}

/// CPU ticks at one moment; `None` where unknown or unreadable.
struct Readings {
    server: Option<u64>,
    postgres: Option<u64>,
    driver: Option<u64>,
}

impl Readings {
    fn take(server_pid: Option<u32>, postgres: bool) -> Self {
        Self {
            server: server_pid.and_then(|pid| procfs::cpu_ticks(pid).ok()),
            postgres: postgres
                .then(procfs::postgres_cpu_ticks)
                .and_then(Result::ok),
            driver: procfs::own_cpu_ticks().ok(),
        }
    }

    /// The CPU used from `self` to `after`, in total and per request, and the memory now.
    fn usage(&self, after: &Self, server_pid: Option<u32>, requests: u64) -> Usage {
        let clock_ticks = TickRate::read();
        let spent = |from: Option<u64>, to: Option<u64>| {
            let ms = clock_ticks.millis(to?.saturating_sub(from?));
            Some((ms, (requests > 0).then(|| ms / requests as f64)?))
        };
        let server = spent(self.server, after.server);
        let postgres = spent(self.postgres, after.postgres);
        let driver = spent(self.driver, after.driver);
        Usage {
            clock_ticks,
            server_cpu_ms: server.map(|s| s.0),
            server_cpu_ms_per_request: server.map(|s| s.1),
            server_memory: server_pid.and_then(|pid| procfs::memory(pid).ok()),
            database_cpu_ms: postgres.map(|s| s.0),
            database_cpu_ms_per_request: postgres.map(|s| s.1),
            driver_cpu_ms: driver.map(|s| s.0),
            driver_cpu_ms_per_request: driver.map(|s| s.1),
        }
    }
}

fn report(
    args: &Args,
    server: ServerInfo,
    database: Option<DatabaseInfo>,
    totals: Totals,
    usage: Usage,
) -> Report {
    Report {
        target: args.target,
        workload: args.workload,
        concurrency: args.concurrency,
        duration_s: args.duration.as_secs_f64(),
        warmup_s: args.warmup.as_secs_f64(),
        sessions: args.session_count(),
        appwrite_latency_ms: args.appwrite_latency.as_secs_f64() * 1000.0,
        server,
        database,
        totals,
        usage,
    }
}
