//! The report of a run, as text or as one JSON object.

use std::fmt::Write as _;

use crate::cli::{DatabaseKind, TargetKind, Workload};
use crate::procfs::{Memory, TickRate};
use crate::server::ServerLog;
use crate::stats::Totals;

/// Everything a run found.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// Whose server was measured.
    pub target: TargetKind,
    /// What was measured.
    pub workload: Workload,
    /// Workers.
    pub concurrency: u16,
    /// Measured time asked for, seconds.
    pub duration_s: f64,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// Sessions seeded before the run.
    pub sessions: u32,
    /// The fake Appwrite's answer latency during the run, milliseconds.
    pub appwrite_latency_ms: f64,
    /// The server and how it ran.
    pub server: ServerInfo,
    /// The database the driver prepared (none with `--server-url`).
    pub database: Option<DatabaseInfo>,
    /// Requests, latency, errors.
    #[serde(flatten)]
    pub totals: Totals,
    /// CPU and memory.
    pub usage: Usage,
}

impl Report {
    /// Requests that failed, warm-up included: the exit status depends on it.
    pub fn failed_requests(&self) -> u64 {
        self.totals.errors.values().sum::<u64>() + self.totals.warmup_errors
    }
}

/// The server under test.
#[derive(Debug, Default, serde::Serialize)]
pub struct ServerInfo {
    /// The binary the driver spawned.
    pub binary: Option<String>,
    /// Where it served.
    pub url: String,
    /// Its process id, when known.
    pub pid: Option<u32>,
    /// From spawn to the first `/readyz` 200, milliseconds.
    pub start_to_ready_ms: Option<f64>,
    /// How it ended after SIGTERM.
    pub exit: Option<String>,
    /// Warnings and errors it logged.
    pub log: Option<ServerLog>,
}

/// The database the driver prepared.
#[derive(Debug, serde::Serialize)]
pub struct DatabaseInfo {
    /// SQLite or PostgreSQL.
    pub kind: DatabaseKind,
    /// The PostgreSQL database's name.
    pub name: Option<String>,
    /// Whether it was kept (`--keep-database`).
    pub kept: bool,
}

/// CPU time and memory over the measured interval (CPU) and after it (memory).
#[derive(Debug, serde::Serialize)]
pub struct Usage {
    /// The clock-tick rate of the CPU readings.
    pub clock_ticks: TickRate,
    /// The server's user + system time, milliseconds.
    pub server_cpu_ms: Option<f64>,
    /// The same per measured request.
    pub server_cpu_ms_per_request: Option<f64>,
    /// The server's resident memory after the run.
    pub server_memory: Option<Memory>,
    /// All `postgres` processes' user + system time, milliseconds (`--database postgres`).
    pub database_cpu_ms: Option<f64>,
    /// The same per measured request.
    pub database_cpu_ms_per_request: Option<f64>,
    /// This process's (driver and fake Appwrite) user + system time, milliseconds.
    pub driver_cpu_ms: Option<f64>,
    /// The same per measured request.
    pub driver_cpu_ms_per_request: Option<f64>,
}

/// Prints the report on standard output.
pub fn print(report: &Report, json: bool) {
    if json {
        match serde_json::to_string(report) {
            Ok(text) => println!("{text}"),
            Err(err) => eprintln!("tokenmint-bench: cannot write the report as JSON: {err}"),
        }
    } else {
        print!("{}", text(report));
    }
}

fn text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tokenmint-bench: {} workload, {} workers, {} s measured after {} s warm-up",
        r.workload.name(),
        r.concurrency,
        r.duration_s,
        r.warmup_s
    );
    server_lines(&mut out, r);
    let t = &r.totals;
    let _ = writeln!(
        out,
        "requests      {} in {:.2} s = {:.1} req/s",
        t.requests, t.elapsed_s, t.requests_per_second
    );
    latency_line(&mut out, t);
    error_lines(&mut out, t);
    usage_lines(&mut out, &r.usage);
    server_end_lines(&mut out, &r.server);
    out
}

fn server_lines(out: &mut String, r: &Report) {
    let s = &r.server;
    let pid = s.pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default();
    let Some(binary) = &s.binary else {
        let whose = match r.target {
            TargetKind::Tokenmint => "",
            TargetKind::OidcProvider => "node-oidc-provider (the peer), ",
        };
        let _ = writeln!(
            out,
            "server        {whose}already running at {}{pid}",
            s.url
        );
        return;
    };
    let _ = writeln!(out, "server        {binary}{pid} at {}", s.url);
    if binary.split('/').any(|part| part == "debug") {
        let _ = writeln!(out, "              (a debug build: its figures say little)");
    }
    if let Some(ready) = s.start_to_ready_ms {
        let _ = writeln!(
            out,
            "start-to-ready {ready:.1} ms (spawn to the first /readyz 200)"
        );
    }
    if let Some(db) = &r.database {
        let name = db
            .name
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        let kept = if db.kept { " (kept)" } else { "" };
        let _ = writeln!(out, "database      {}{name}{kept}", db.kind.name());
    }
    let _ = writeln!(
        out,
        "appwrite      fake, {} ms answer latency; {} sessions seeded",
        r.appwrite_latency_ms, r.sessions
    );
}

fn latency_line(out: &mut String, t: &Totals) {
    let failed: u64 = t.errors.values().sum();
    if t.requests == failed {
        let _ = writeln!(out, "latency       (no successful request)");
        return;
    }
    let ms = |us: u32| f64::from(us) / 1000.0;
    let l = &t.latency_us;
    let _ = writeln!(
        out,
        "latency       p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.max)
    );
}

fn error_lines(out: &mut String, t: &Totals) {
    if t.errors.is_empty() {
        let _ = writeln!(out, "errors        none");
    }
    for (kind, count) in &t.errors {
        let _ = writeln!(out, "errors        {count} × {kind}");
    }
    if t.warmup_errors > 0 {
        let _ = writeln!(out, "errors        {} during the warm-up", t.warmup_errors);
    }
}

fn usage_lines(out: &mut String, u: &Usage) {
    let assumed = if u.clock_ticks.assumed {
        " (clock ticks assumed 100/s)"
    } else {
        ""
    };
    if let (Some(total), Some(each)) = (u.server_cpu_ms, u.server_cpu_ms_per_request) {
        let _ = writeln!(
            out,
            "server CPU    {each:.3} ms per request ({total:.0} ms user+system){assumed}"
        );
    }
    if let Some(memory) = u.server_memory {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let _ = writeln!(
            out,
            "server RSS    {:.1} MiB after the run, peak {:.1} MiB",
            mib(memory.rss_kib),
            mib(memory.peak_rss_kib)
        );
    }
    if let (Some(total), Some(each)) = (u.database_cpu_ms, u.database_cpu_ms_per_request) {
        let _ = writeln!(
            out,
            "postgres CPU  {each:.3} ms per request ({total:.0} ms, every postgres process on this machine)"
        );
    }
    if let (Some(total), Some(each)) = (u.driver_cpu_ms, u.driver_cpu_ms_per_request) {
        let _ = writeln!(
            out,
            "driver CPU    {each:.3} ms per request ({total:.0} ms, this process with the fake Appwrite)"
        );
    }
}

fn server_end_lines(out: &mut String, s: &ServerInfo) {
    if let Some(log) = &s.log {
        let exit = s.exit.as_deref().unwrap_or("not stopped");
        let _ = writeln!(
            out,
            "server log    {} warnings, {} errors; after SIGTERM: {exit}",
            log.warnings, log.errors
        );
        if log.warnings + log.errors > 0 {
            let skip = log.tail.len().saturating_sub(5);
            for line in log.tail.iter().skip(skip) {
                let _ = writeln!(out, "  | {line}");
            }
        }
    }
}
