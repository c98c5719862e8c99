//! `tokenmint-bench`: measures tokenmint end to end, over HTTP, on loopback only.
//!
//! One run:
//!
//! 1. starts the fake Appwrite (`tokenmint-fake-appwrite`, a stand-in following
//!    `shared/appwrite-contract.md`, not Appwrite) in this process;
//! 2. prepares a throw-away database: a SQLite file in a temporary directory, or a fresh
//!    PostgreSQL database `tokenmint_bench_<uuid>` (dropped at the end unless
//!    `--keep-database`);
//! 3. spawns the server binary (`--server-bin`, default the release `tokenmint` of this
//!    driver's target directory) wired to both, waits until it says where it serves and
//!    `/readyz` answers 200 (reported as start-to-ready), or drives a running server
//!    (`--server-url`, loopback only; `jwks` and `healthz` workloads only, since only a server
//!    this driver started talks to its fake Appwrite);
//! 4. seeds `--sessions` sessions through real token exchanges (not measured);
//! 5. runs the workload on `--concurrency` workers for `--warmup` (not measured), then for
//!    `--duration`;
//! 6. prints requests/s, latency percentiles, errors by HTTP status and OAuth `error` code,
//!    the server's CPU time per request and memory, and (with `--database postgres`) the CPU
//!    time of every `postgres` process per request; `--json` prints the same as one object;
//! 7. stops the server with SIGTERM (it is killed if anything goes wrong on the way).
//!
//! Workloads: `refresh` (one rotation chain per worker, always sending the newest refresh
//! token), `exchange` (a new Appwrite user and JWT per request, prepared before the clock
//! starts), `jwks` (`GET /.well-known/jwks.json`) and `healthz` (`GET /healthz`, the ceiling
//! for `jwks`).
//!
//! The peer: `--target oidc-provider` drives node-oidc-provider as set up in
//! `bench/peer/oidc-provider` (already running; `bench/peer/run.sh` starts it): refresh chains
//! seeded through its bench-only seeding route, then the same refresh loop against its own,
//! unmodified token endpoint, with the same report (the server CPU is its node process's).
//!
//! The driver shares the machine with the server: on a small machine its own CPU use (also
//! reported) limits what it can measure. Numbers are a comparison between runs on the same
//! machine, not a capacity statement.
//!
//! Exit status: 0 when every request succeeded, 1 when any request failed (warm-up
//! included), 2 when the run could not be made. Timing never affects it.
//!
//! ```sh
//! cargo build --release -p tokenmint -p tokenmint-bench
//! target/release/tokenmint-bench --workload refresh --concurrency 32 --duration 10s --database postgres
//! ```

mod api;
mod cli;
mod database;
mod procfs;
mod report;
mod run;
mod seed;
mod server;
mod stats;
mod workload;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    if let Err(err) = args.validate() {
        eprintln!("tokenmint-bench: {err}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("tokenmint-bench: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run::run(&args)) {
        Ok(report) => {
            report::print(&report, args.json);
            if report.failed_requests() > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => {
            eprintln!("tokenmint-bench: {err:#}");
            ExitCode::from(2)
        }
    }
}
