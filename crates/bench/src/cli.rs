//! Command-line arguments, their bounds, and the checks that span several of them.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::{Parser, ValueEnum};

/// Most workers a run may have.
pub const MAX_CONCURRENCY: u16 = 1024;
/// Most sessions a run may seed.
pub const MAX_SESSIONS: u32 = 100_000;
/// Longest measured interval.
const MAX_DURATION: Duration = Duration::from_secs(600);
/// Longest warm-up.
const MAX_WARMUP: Duration = Duration::from_secs(60);
/// Longest fake Appwrite answer latency.
const MAX_LATENCY: Duration = Duration::from_secs(10);

/// Measures tokenmint end to end over HTTP on loopback: spawns the server against a fake
/// Appwrite and a throw-away database, seeds sessions, drives a workload, and reports
/// throughput, latency, errors and server (and PostgreSQL) CPU time per request.
///
/// Exit status: 0 when every request succeeded, 1 when any failed, 2 when the run could not
/// be made.
#[derive(Debug, Parser)]
#[command(name = "tokenmint-bench", version)]
pub struct Args {
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Workload::Refresh)]
    pub workload: Workload,

    /// Whose token endpoint to drive. `oidc-provider` drives the benchmark peer of
    /// `bench/peer/oidc-provider` (already running: `--server-url` and `--server-pid`), with the
    /// `refresh` workload only: chains seeded through its bench-only `/bench/seed` route, then
    /// the same refresh loop against its own `/token`, authenticated as `--client-id`.
    #[arg(long, value_enum, default_value_t = TargetKind::Tokenmint)]
    pub target: TargetKind,

    /// With `--target oidc-provider`: the client the peer knows (`client_secret_post`).
    #[arg(long, default_value = "bench")]
    pub client_id: String,

    /// With `--target oidc-provider`: that client's secret.
    #[arg(long, default_value = "bench-secret")]
    pub client_secret: String,

    /// Concurrent workers, each with at most one request in flight on a keep-alive
    /// connection (1 to 1024).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_CONCURRENCY)))]
    pub concurrency: u16,

    /// Measured time, e.g. `10s`, `1m` (at most 10 minutes).
    #[arg(long, default_value = "10s", value_parser = measured_duration)]
    pub duration: Duration,

    /// Unmeasured time before the measurement (at most 1 minute).
    #[arg(long, default_value = "2s", value_parser = warmup_duration)]
    pub warmup: Duration,

    /// Sessions to seed through real token exchanges before the run, not measured (default:
    /// the concurrency; at most 100000). `refresh` needs at least one per worker.
    #[arg(long)]
    pub sessions: Option<u32>,

    /// How long the fake Appwrite takes to answer during the run (at most 10s). Seeding runs
    /// without it.
    #[arg(long, default_value = "20ms", value_parser = latency)]
    pub appwrite_latency: Duration,

    /// The database of the spawned server. With `--server-url` it only says whether to read
    /// the CPU time of the local PostgreSQL processes.
    #[arg(long, value_enum, default_value_t = DatabaseKind::Sqlite)]
    pub database: DatabaseKind,

    /// Where to create (and drop) the throw-away PostgreSQL database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_admin_url: String,

    /// Keep the PostgreSQL database after the run (its name is printed).
    #[arg(long)]
    pub keep_database: bool,

    /// The server binary to spawn [default: `release/tokenmint` in this driver's target
    /// directory, else `<workspace>/target/release/tokenmint`].
    #[arg(long, value_name = "PATH", conflicts_with = "server_url")]
    pub server_bin: Option<PathBuf>,

    /// `RUST_LOG` of the spawned server; `tokenmint::startup=info` is added unless named,
    /// since the driver reads the server's address from that log line.
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    pub server_log: String,

    /// An extra environment variable for the spawned server, applied last (repeatable).
    #[arg(long = "server-env", value_name = "KEY=VALUE", value_parser = key_value)]
    pub server_env: Vec<(String, String)>,

    /// Drive an already-running server instead (loopback only: 127.0.0.0/8, ::1,
    /// localhost). For tokenmint, only the `jwks` and `healthz` workloads: the other two need
    /// a server wired to this driver's fake Appwrite. For `--target oidc-provider`, the peer.
    #[arg(long, value_name = "URL", value_parser = loopback_url)]
    pub server_url: Option<url::Url>,

    /// With `--server-url`: the server's process id, for its CPU time and memory.
    #[arg(long, value_name = "PID", requires = "server_url")]
    pub server_pid: Option<u32>,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What the workers send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// `POST /oauth/token` with `grant_type=refresh_token`, one rotation chain per worker.
    Refresh,
    /// `POST /oauth/token` token exchange of a new Appwrite JWT each time.
    Exchange,
    /// `GET /.well-known/jwks.json`.
    Jwks,
    /// `GET /healthz`.
    Healthz,
}

/// The server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// tokenmint: spawned by the driver (or running, for `jwks` and `healthz`).
    Tokenmint,
    /// node-oidc-provider as set up in `bench/peer/oidc-provider`, already running.
    OidcProvider,
}

/// The database behind the spawned server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on `--postgres-admin-url`'s server.
    Postgres,
}

impl Workload {
    /// The name as given on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Refresh => "refresh",
            Self::Exchange => "exchange",
            Self::Jwks => "jwks",
            Self::Healthz => "healthz",
        }
    }
}

impl DatabaseKind {
    /// The name as given on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl Args {
    /// Sessions to seed: `--sessions`, else one per worker (none on a running tokenmint).
    pub fn session_count(&self) -> u32 {
        let default = if self.server_url.is_some() && self.target == TargetKind::Tokenmint {
            0
        } else {
            u32::from(self.concurrency)
        };
        self.sessions.unwrap_or(default)
    }

    /// Checks that span several arguments.
    ///
    /// # Errors
    /// A message naming the arguments that do not fit together.
    pub fn validate(&self) -> anyhow::Result<()> {
        let sessions = self.session_count();
        if self.target == TargetKind::OidcProvider
            && (self.server_url.is_none() || self.workload != Workload::Refresh)
        {
            bail!(
                "--target oidc-provider drives a running peer (--server-url, and --server-pid for \
                 its CPU time) with the refresh workload only"
            );
        }
        let needs_fake = matches!(self.workload, Workload::Refresh | Workload::Exchange);
        let tokenmint = self.target == TargetKind::Tokenmint;
        if tokenmint && self.server_url.is_some() && (needs_fake || sessions > 0) {
            bail!(
                "--server-url drives only the jwks and healthz workloads without sessions: token \
                 exchanges need a server wired to this driver's fake Appwrite (use --server-bin)"
            );
        }
        if sessions > MAX_SESSIONS {
            bail!("--sessions {sessions} is over the limit of {MAX_SESSIONS}");
        }
        if self.workload == Workload::Refresh && sessions < u32::from(self.concurrency) {
            bail!(
                "--workload refresh needs a session per worker: --sessions {sessions} is below --concurrency {}",
                self.concurrency
            );
        }
        Ok(())
    }
}

fn measured_duration(text: &str) -> Result<Duration, String> {
    duration_up_to(text, MAX_DURATION)
}

fn warmup_duration(text: &str) -> Result<Duration, String> {
    duration_up_to(text, MAX_WARMUP)
}

fn latency(text: &str) -> Result<Duration, String> {
    duration_up_to(text, MAX_LATENCY)
}

/// A humantime duration (`10s`, `1m30s`, `20ms`) of at most `max`.
fn duration_up_to(text: &str, max: Duration) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|err| err.to_string())?;
    if duration > max {
        return Err(format!("at most {}", humantime::format_duration(max)));
    }
    Ok(duration)
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err("expected KEY=VALUE".to_owned()),
    }
}

/// An `http://` URL whose host is loopback: the driver never loads another machine.
fn loopback_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|err| err.to_string())?;
    if url.scheme() != "http" {
        return Err("expected an http:// URL (the driver speaks plain HTTP)".to_owned());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    };
    if !loopback {
        return Err("only loopback servers: 127.0.0.0/8, ::1 or localhost".to_owned());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_accepted_and_others_refused() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.8.7/",
            "http://[::1]:80",
            "http://LOCALHOST:1",
        ] {
            assert!(loopback_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:8080",
            "http://example.com",
            "http://localhost.example.com",
            "https://127.0.0.1",
            "http://[::2]:80",
            "http://0.0.0.0:8080",
        ] {
            assert!(loopback_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_are_bounded() {
        assert_eq!(measured_duration("10m").unwrap(), MAX_DURATION);
        assert!(measured_duration("601s").is_err());
        assert!(warmup_duration("2m").is_err());
        assert!(latency("soon").is_err());
    }

    #[test]
    fn refresh_needs_a_session_per_worker() {
        let args = Args::parse_from(["tokenmint-bench", "--concurrency", "4", "--sessions", "3"]);
        assert!(args.validate().is_err());
        let args = Args::parse_from(["tokenmint-bench", "--concurrency", "4"]);
        assert!(args.validate().is_ok());
    }

    #[test]
    fn a_running_server_takes_only_the_get_workloads() {
        let url = ["--server-url", "http://127.0.0.1:8080"];
        let args = Args::parse_from([&["tokenmint-bench"][..], &url[..]].concat());
        assert!(args.validate().is_err());
        let args =
            Args::parse_from([&["tokenmint-bench", "--workload", "jwks"][..], &url[..]].concat());
        assert!(args.validate().is_ok());
    }

    #[test]
    fn the_peer_is_driven_running_and_with_refreshes_only() {
        let peer = ["tokenmint-bench", "--target", "oidc-provider"];
        let url = ["--server-url", "http://127.0.0.1:8080"];
        assert!(Args::parse_from(peer).validate().is_err());
        let args = Args::parse_from([&peer[..], &url[..]].concat());
        assert!(args.validate().is_ok());
        assert_eq!(args.session_count(), 8);
        let jwks = ["--workload", "jwks"];
        assert!(
            Args::parse_from([&peer[..], &url[..], &jwks[..]].concat())
                .validate()
                .is_err()
        );
    }
}
