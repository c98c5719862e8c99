//! `tokenmint demo`: tokenmint in one command, with nothing to set up. It starts the server
//! in this process on a throw-away SQLite file and a free loopback port, beside a local
//! Appwrite stand-in (the fake Appwrite of the tests, `crates/fake-appwrite`: **not**
//! Appwrite), then walks through the main job over HTTP, as a user with curl would
//! ([`steps`]). The shell's tokenmint configuration is not used: the demo never touches a
//! real database or Appwrite project.
//!
//! - [`steps`]: the walk-through; [`show`]: curl commands and answers; [`verify`]: local
//!   verification against the JWKS.

mod show;
mod steps;
mod verify;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use base64::Engine;
use tokenmint_fake_appwrite::{FakeAppwrite, PROJECT_ID};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use self::steps::{Tour, USER};
use crate::Config;
use crate::startup::{self, App};

/// Log levels of the demo when `RUST_LOG` is unset: warnings only, so the walk-through reads
/// cleanly (`RUST_LOG=info tokenmint demo` shows the server's request log too).
pub const LOG_FILTER: &str = "tokenmint=warn,tower_http=warn,sqlx=error";

/// The refresh grace window of the demo: short, so reuse detection is a short wait.
const GRACE: &str = "2s";

/// Runs the demo; with `keep_running`, leaves both servers up afterwards until ctrl-c.
pub async fn run(keep_running: bool) -> anyhow::Result<()> {
    let scratch = Scratch::create()?;
    let appwrite = FakeAppwrite::start().await;
    let server = Server::start(scratch.path(), &appwrite.endpoint).await?;
    introduce(&server, &appwrite, scratch.path());
    let tour = Tour {
        base: server.base.clone(),
        client: reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(10))
            .build()?,
        appwrite: &appwrite,
        config: &server.config,
    };
    let outcome = tokio::select! {
        outcome = steps::walk_through(&tour) => outcome,
        () = startup::shutdown_signal() => Err(anyhow!("interrupted")),
    };
    if let Ok(admin_key) = &outcome {
        println!("\nThat was all of it: tokenmint's main job, end to end.");
        if keep_running {
            invite_to_play(&tour, admin_key);
            startup::shutdown_signal().await;
        }
    }
    server.stop().await?;
    drop(scratch);
    outcome.map(|_| ())
}

fn introduce(server: &Server, appwrite: &FakeAppwrite, scratch: &Path) {
    println!("tokenmint demo: a guided tour on throw-away state\n");
    println!(
        "  tokenmint          {}   (in this process; SQLite database in {}, deleted at exit)",
        server.base,
        scratch.display()
    );
    println!(
        "  Appwrite stand-in  {}   (project {PROJECT_ID})\n",
        appwrite.endpoint
    );
    println!(
        "The stand-in is NOT Appwrite: it is the small fake Appwrite from tokenmint's tests\n\
         (crates/fake-appwrite), with made-up users in memory. With a real Appwrite project,\n\
         set APPWRITE_ENDPOINT and APPWRITE_PROJECT_ID and run `tokenmint serve`.\n\n\
         Each step shows the curl command a user would type, with every value in full (paste\n\
         them while `--keep-running` keeps the servers up), and tokenmint's answer, with\n\
         tokens abbreviated to their first 12 and last 6 characters."
    );
}

fn invite_to_play(tour: &Tour<'_>, admin_key: &str) {
    let (session_id, _) = tour.appwrite.create_session(USER);
    let jwt = tour.appwrite.create_jwt(USER, &session_id);
    println!(
        "\n== Your turn\n\n\
         Both servers stay up until ctrl-c (then the temporary directory is deleted). For your\n\
         shell: tokenmint's URL, a fresh Appwrite JWT of user \"{USER}\" from the stand-in (valid\n\
         15 minutes) and the admin key:\n"
    );
    println!("export TOKENMINT={}", tour.base);
    println!("export APPWRITE_JWT={jwt}");
    println!("export ADMIN_KEY={admin_key}\n");
    println!(
        "curl -s $TOKENMINT/oauth/token -d grant_type={} \\\n    -d subject_token_type={} -d subject_token=$APPWRITE_JWT",
        steps::EXCHANGE,
        steps::APPWRITE_JWT
    );
    println!("curl -s $TOKENMINT/.well-known/openid-configuration");
    println!(
        "curl -s -H \"Authorization: Bearer $ADMIN_KEY\" $TOKENMINT/admin/v1/users/{USER}/sessions"
    );
    println!(
        "curl -s -H \"Authorization: Bearer $ADMIN_KEY\" \"$TOKENMINT/admin/v1/audit?user_id={USER}\""
    );
    println!(
        "DATABASE_URL={} {} sessions list --user {USER}",
        tour.config.database_url,
        steps::program()
    );
}

/// The server, running in this process.
struct Server {
    base: String,
    config: Config,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Builds and starts tokenmint on a free loopback port. The port is chosen before the
    /// build, since the issuer (the base of every published URL) names it; if another
    /// process takes it meanwhile, another port is tried.
    async fn start(scratch: &Path, appwrite_endpoint: &str) -> anyhow::Result<Self> {
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
    async fn stop(self) -> anyhow::Result<()> {
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

/// A private temporary directory, deleted when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn create() -> anyhow::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("tokenmint-demo-{}", uuid::Uuid::now_v7().simple()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
