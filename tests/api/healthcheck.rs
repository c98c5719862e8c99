//! `tokenmint healthcheck`: the container's probe, run as the real binary against a running
//! server and against a port where nothing listens.

use std::process::Output;

use crate::cli::tokenmint;
use crate::helpers::{TestApp, TestDb};

/// Runs `tokenmint healthcheck ARGS` with `TOKENMINT_LISTEN=listen`, off the test's runtime
/// (the server under test runs on it).
pub async fn healthcheck(listen: String, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let output = tokenmint(dir.path())
            .env("TOKENMINT_LISTEN", listen)
            .arg("healthcheck")
            .args(args)
            .output()
            .unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "the probe created files: {left:?}");
        output
    })
    .await
    .unwrap()
}

fn port(app: &TestApp) -> u16 {
    app.address.rsplit(':').next().unwrap().parse().unwrap()
}

/// The container sets `TOKENMINT_LISTEN=0.0.0.0:8080`; the probe asks 127.0.0.1.
#[tokio::test]
async fn healthcheck_exits_0_when_the_server_on_tokenmint_listen_is_ready() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    for args in [&[][..], &["--liveness"][..]] {
        let output = healthcheck(format!("0.0.0.0:{}", port(&app)), args).await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{args:?}: {stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        let path = if args.is_empty() {
            "/readyz"
        } else {
            "/healthz"
        };
        assert!(
            stdout.starts_with(&format!(
                "healthy: http://127.0.0.1:{}{path} answered 200",
                port(&app)
            )),
            "{stdout}"
        );
    }
}

#[tokio::test]
async fn healthcheck_exits_1_when_nothing_listens() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let output = healthcheck(address.to_string(), &[]).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unhealthy: cannot connect"), "{stderr}");
}
