//! The `tokenmint` binary: parse the command line, load the configuration, start logging,
//! dispatch. Errors are printed as one line of causes, without a backtrace: they are meant for
//! operators (a missing KEK, a database that is down), not for debugging tokenmint itself.

use std::process::ExitCode;

use clap::Parser;
use tokenmint::cli::{self, Cli};
use tokenmint::{Config, telemetry};

/// mimalloc instead of the system allocator: a request allocates a few dozen small buffers
/// (HTTP, SQL, JSON), and glibc's malloc and free cost a tenth of a refresh's CPU time; see
/// docs/design/decisions.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Cli::parse();
    let config = match Config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: invalid configuration: {err}");
            return ExitCode::FAILURE;
        }
    };
    let default_filter = match &args.command {
        #[cfg(feature = "demo")]
        Some(cli::Command::Demo { .. }) => tokenmint::demo::LOG_FILTER,
        _ => telemetry::DEFAULT_FILTER,
    };
    telemetry::init_with_default(config.log_format, default_filter);
    match cli::run(args.command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
