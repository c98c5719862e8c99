//! schemathesis (property-based API testing, from PyPI) against the real server's
//! `/openapi.json`: every documented operation is fed generated requests, valid and invalid,
//! and every answer is checked against the document. The run must end with no failure: no
//! server error and no answer outside the documented statuses, content types, headers and
//! schemas.
//!
//! What runs (`tests/schemathesis/`): `schemathesis run` with every check it has, except:
//! - `use_after_free`: it expects a deleted resource to be gone (404). A `DELETE` here revokes
//!   a session, which stays readable with `revoked_at` set (the design's idempotent
//!   revocation, and `?include=revoked`).
//! - `positive_data_acceptance` on `POST /oauth/token`: a schema-valid refresh or subject
//!   token that tokenmint or Appwrite never issued is refused with 400 `invalid_grant`
//!   (RFC 6749 §5.2), which the check counts as a failure. It runs on every other operation.
//! - `negative_data_rejection` on `POST /webhooks/appwrite`: a signed delivery is answered 2xx
//!   whatever its content, so that Appwrite keeps the webhook enabled
//!   (`hostile_input::signed_deliveries_tokenmint_cannot_apply_are_answered_2xx`).
//!
//! Credentials (`tests/schemathesis/hooks.py`): the admin key on `/admin/*` and introspection,
//! an access token of a new session on `/v1/me/*`, and webhook deliveries signed as Appwrite
//! signs them, so that generated requests reach the handlers instead of stopping at 401.
//! `ignored_auth` then sends each authenticated request again without the credential and with
//! a wrong one, and requires a 401 or 403. Rate limits are off (one client sends everything);
//! the server runs on the wall clock (a revocation's not-before must be able to pass).
//!
//! Bounded and reproducible: [`MAX_EXAMPLES`] test cases per operation and phase, generation
//! in schemathesis's deterministic mode with a fixed seed, one worker (several threads
//! generating at once crash CPython 3.11.7's `ast.parse`, a CPython bug), and a wall-time
//! limit, [`WALL_TIME`], after which schemathesis is killed and the test fails. 30 to 80 s
//! for both backends at once on the 2-core development machine.
//!
//! `.ci/run` installs schemathesis and sets `TOKENMINT_SCHEMATHESIS=required`, so in CI a
//! missing schemathesis fails the test. Elsewhere the test says it was skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokenmint::domain::model::admin_keys::AdminRole;

use crate::admin::create_key;
use crate::helpers::Backend;
use crate::oauth_helpers::Harness;
use crate::on_both_backends;
use crate::openapi::operations;

/// Test cases per operation and phase (`--max-examples`).
const MAX_EXAMPLES: &str = "50";

/// The longest one schemathesis run may take.
const WALL_TIME: Duration = Duration::from_secs(180);

/// The fixed seed (`--seed`), for when deterministic mode does not decide alone.
const SEED: &str = "20261202";

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `4.32.5`, from `… version 4.32.5`; `None` when it is not installed.
fn schemathesis_version() -> Option<String> {
    let output = Command::new("python3")
        .args(["-m", "schemathesis.cli", "--version"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.split_whitespace().last()?.to_owned();
    output.status.success().then_some(version)
}

/// What one run printed, how it ended, and how long it took.
struct Run {
    success: bool,
    report: String,
    elapsed: Duration,
}

/// Runs `schemathesis run` with its output in files (no pipe to fill), killed after
/// [`WALL_TIME`]. Blocking: call it off the runtime that serves the API.
fn run_schemathesis(dir: &Path, env: Vec<(&'static str, String)>, url: &str) -> Run {
    let config = repository().join("tests/schemathesis/schemathesis.toml");
    let stdout = dir.join("stdout.txt");
    let started = Instant::now();
    // `python3 -m`: the `schemathesis` script may not be on PATH (pip's user scheme).
    let mut child = Command::new("python3")
        .args(["-m", "schemathesis.cli", "--no-color"])
        .arg("--config-file")
        .arg(&config)
        // From a file: loaded from its URL, schemathesis leaves `GET /openapi.json` out.
        .args(["run", "openapi.json", "--url", url])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED])
        .args(["--generation-deterministic", "--workers", "1"])
        .args(["--request-timeout", "10"])
        .current_dir(dir)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", repository().join("tests/schemathesis"))
        .envs(env)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > WALL_TIME {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut report = std::fs::read_to_string(&stdout).unwrap_or_default();
    report.push_str(&std::fs::read_to_string(dir.join("stderr.txt")).unwrap_or_default());
    if status.is_none() {
        report.push_str(&format!("\nkilled after {WALL_TIME:?}\n"));
    }
    Run {
        success: status.is_some_and(|s| s.success()),
        report,
        elapsed: started.elapsed(),
    }
}

/// The number after `label` in schemathesis's summary (`Tested: 22`, `1611 generated`).
fn figure(report: &str, label: &str) -> Option<u64> {
    report.lines().find_map(|line| {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix(label) {
            return rest
                .trim()
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok();
        }
        let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let at = words.iter().position(|w| *w == label)?;
        words.get(at.checked_sub(1)?)?.parse().ok()
    })
}

async fn schemathesis_finds_no_failure_on_any_documented_operation(backend: Backend) {
    let Some(version) = schemathesis_version() else {
        assert!(
            std::env::var("TOKENMINT_SCHEMATHESIS").as_deref() != Ok("required"),
            "schemathesis is missing (pip install 'schemathesis>=4,<5')"
        );
        eprintln!("schemathesis test skipped: schemathesis is not installed");
        return;
    };
    let settings = [
        ("TOKENMINT_RATE_LIMIT_IP", "0"),
        ("TOKENMINT_RATE_LIMIT_WEBHOOK_IP", "0"),
        ("TOKENMINT_RATE_LIMIT_EXCHANGE_USER", "0"),
        ("TOKENMINT_RATE_LIMIT_ADMIN_KEY", "0"),
        ("TOKENMINT_APPWRITE_WEBHOOK_KEY", crate::webhooks::KEY),
    ];
    let harness = Harness::start_on_system_clock(backend, &settings).await;
    let (_, admin_key) = create_key(&harness.db, AdminRole::Admin).await;
    let document = harness.app.get_json("/openapi.json").await;
    let documented = operations(&document).len() as u64;
    let env = vec![
        ("TOKENMINT_SCHEMATHESIS_URL", harness.app.address.clone()),
        ("TOKENMINT_SCHEMATHESIS_ADMIN_KEY", admin_key),
        (
            "TOKENMINT_SCHEMATHESIS_APPWRITE_JWT",
            harness.signed_in("schemathesis").jwt,
        ),
        (
            "TOKENMINT_SCHEMATHESIS_WEBHOOK_KEY",
            crate::webhooks::KEY.to_owned(),
        ),
        (
            "TOKENMINT_SCHEMATHESIS_WEBHOOK_URL",
            crate::webhooks::URL.to_owned(),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("openapi.json"), document.to_string()).unwrap();
    let dir_path: PathBuf = dir.path().to_owned();
    let url = harness.app.address.clone();

    let run = tokio::task::spawn_blocking(move || run_schemathesis(&dir_path, env, &url))
        .await
        .unwrap();

    assert!(
        run.success,
        "schemathesis {version} found failures (or did not finish) on {backend:?}:\n{}",
        run.report
    );
    let tested = figure(&run.report, "Tested:");
    assert_eq!(
        tested,
        Some(documented),
        "schemathesis did not test every documented operation:\n{}",
        run.report
    );
    let cases = figure(&run.report, "generated").unwrap_or(0);
    assert!(
        cases >= documented * 10,
        "only {cases} test cases:\n{}",
        run.report
    );
    eprintln!(
        "schemathesis {version} on {backend:?}: {documented} operations, {cases} test cases, \
         0 failures, {:.0} s",
        run.elapsed.as_secs_f64()
    );
}

on_both_backends!(schemathesis_finds_no_failure_on_any_documented_operation);

#[test]
fn figures_are_read_from_the_summary() {
    let summary = "API Operations:\n  Selected: 22/22\n  Tested: 22\n\nTest cases:\n  \
                   1611 generated, 1611 passed, 24 skipped\n";
    assert_eq!(figure(summary, "Tested:"), Some(22));
    assert_eq!(figure(summary, "generated"), Some(1611));
    assert_eq!(figure(summary, "missing"), None);
}
