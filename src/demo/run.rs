//! The demo from start to end: the two servers up, the introduction, the walk-through, and
//! (with `--keep-running`) the invitation to try it by hand.

use std::path::Path;

use anyhow::anyhow;
use tokenmint_fake_appwrite::{FakeAppwrite, PROJECT_ID};

use super::scratch::Scratch;
use super::server::Server;
use super::steps::{self, Tour, USER};
use crate::startup;

/// Log levels of the demo when `RUST_LOG` is unset: warnings only, so the walk-through reads
/// cleanly (`RUST_LOG=info tokenmint demo` shows the server's request log too).
pub const LOG_FILTER: &str = "tokenmint=warn,tower_http=warn,sqlx=error";

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
