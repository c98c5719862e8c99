//! The `tokenmint` binary: parse the command line, load the configuration, start logging,
//! dispatch.

use clap::Parser;
use tokenmint::cli::{self, Cli};
use tokenmint::{Config, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Cli::parse();
    let config = Config::load(args.config.as_deref())
        .map_err(|err| anyhow::anyhow!("invalid configuration: {err}"))?;
    telemetry::init(config.log_format);
    cli::run(args.command, config).await
}
