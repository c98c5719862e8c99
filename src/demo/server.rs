//! tokenmint itself, started in this process for the demo on a free loopback port, with a
//! configuration of its own.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;

use anyhow::{Context, anyhow};
use base64::Engine;
use tokenmint_fake_appwrite::PROJECT_ID;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::steps;
use crate::Config;
use crate::startup::App;

/// The refresh grace window of the demo: short, so reuse detection is a short wait.
const GRACE: &str = "2s";

/// The server, running in this process.
pub struct Server {
    pub base: String,
    pub config: Config,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Builds and starts tokenmint on a free loopback port. The port is chosen before the
    /// build, since the issuer (the base of every published URL) names it; if another
    /// process takes it meanwhile, another port is tried.
    pub async fn start(scratch: &Path, appwrite_endpoint: &str) -> anyhow::Result<Self> {
        let mut attempts = 0;
        loop {
            let port = free_port()?;
            let config = demo_config(scratch, port, appwrite_endpoint)?;
            match App::build(config.clone()).await {
                Ok(app) => {
                    let (stop, stopped) = oneshot::channel::<()>();
                    let task = tokio::spawn(app.run_until(async {
                        let _ = stopped.await;
                    }));
                    let base = format!("http://127.0.0.1:{port}");
                    return Ok(Self {
                        base,
                        config,
                        stop,
                        task,
                    });
                }
                Err(err) if attempts < 3 && address_in_use(&err) => attempts += 1,
                Err(err) => return Err(err.context("cannot start tokenmint for the demo")),
            }
        }
    }

    /// Stops the server and waits until it has closed its database.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("the demo server panicked")?
    }
}

/// The demo's configuration: nothing from the shell or `tokenmint.toml`.
fn demo_config(scratch: &Path, port: u16, appwrite_endpoint: &str) -> anyhow::Result<Config> {
    let mut kek = [0u8; 32];
    aws_lc_rs::rand::fill(&mut kek).map_err(|_| anyhow!("no randomness for the demo's KEK"))?;
    let env = [
        (
            "DATABASE_URL",
            format!("sqlite://{}", scratch.join("tokenmint.db").display()),
        ),
        (
            "TOKENMINT_KEK",
            base64::engine::general_purpose::STANDARD.encode(kek),
        ),
        ("TOKENMINT_LISTEN", format!("127.0.0.1:{port}")),
        ("TOKENMINT_ISSUER", format!("http://127.0.0.1:{port}")),
        ("APPWRITE_ENDPOINT", appwrite_endpoint.to_owned()),
        ("APPWRITE_PROJECT_ID", PROJECT_ID.to_owned()),
        ("APPWRITE_OAUTH_CLIENT_IDS", steps::OAUTH_CLIENT.to_owned()),
        ("TOKENMINT_REFRESH_GRACE", GRACE.to_owned()),
        ("TOKENMINT_SHUTDOWN_DELAY", "0s".to_owned()),
    ];
    Ok(Config::from_sources(
        None,
        env.into_iter().map(|(k, v)| (k.to_owned(), v)),
    )?)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .context("cannot find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

fn address_in_use(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
    })
}
