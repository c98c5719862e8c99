//! The `tokenmint` binary itself: configuration errors, commands, serving and SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::TestDb;

/// The binary with a clean environment: no inherited tokenmint or database variables.
fn tokenmint(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokenmint"));
    command.current_dir(dir).stdin(Stdio::null());
    for variable in tokenmint::config::VARIABLES {
        command.env_remove(variable);
    }
    command.env_remove("RUST_LOG");
    command
}

#[test]
fn an_invalid_value_stops_start_up_with_a_message_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokenmint(dir.path())
        .env("TOKENMINT_ACCESS_TOKEN_TTL", "forever")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TOKENMINT_ACCESS_TOKEN_TTL"), "{stderr}");
    assert!(
        !dir.path().join("tokenmint.db").exists(),
        "nothing is created on a bad configuration"
    );
}

#[test]
fn postgres_without_a_kek_exits_naming_tokenmint_kek() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::postgres());
    let output = tokenmint(db.dir.path())
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TOKENMINT_KEK"), "{stderr}");
    drop(db);
    drop(runtime);
}

#[test]
fn help_lists_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokenmint(dir.path()).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "migrate", "keys"] {
        assert!(help.contains(command), "{help}");
    }
    let keys_help = tokenmint(dir.path())
        .args(["keys", "--help"])
        .output()
        .unwrap();
    let keys_help = String::from_utf8_lossy(&keys_help.stdout);
    assert!(
        keys_help.contains("list") && keys_help.contains("rotate"),
        "{keys_help}"
    );
}

#[test]
fn migrate_then_keys_rotate_and_list_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = tokenmint(dir.path()).arg("migrate").output().unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let rotate = tokenmint(dir.path())
        .args(["keys", "rotate", "--alg", "RS256"])
        .output()
        .unwrap();
    assert!(
        rotate.status.success(),
        "{}",
        String::from_utf8_lossy(&rotate.stderr)
    );
    assert!(String::from_utf8_lossy(&rotate.stdout).contains("created next key"));
    let again = tokenmint(dir.path())
        .args(["keys", "rotate"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("already exists"));

    let list = tokenmint(dir.path())
        .args(["keys", "list", "--json"])
        .output()
        .unwrap();
    assert!(list.status.success());
    let keys: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys[0]["state"], "next");
    assert_eq!(keys[0]["alg"], "RS256");
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        !listed.contains("private"),
        "no private material in listings"
    );

    let bad_alg = tokenmint(dir.path())
        .args(["keys", "rotate", "--alg", "HS256"])
        .output()
        .unwrap();
    assert!(!bad_alg.status.success());
}

/// `tokenmint` with no arguments and no configuration serves on SQLite, publishes a key, and
/// stops cleanly on SIGTERM.
#[test]
fn serve_is_the_default_and_sigterm_stops_it_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokenmint(dir.path())
        .env("TOKENMINT_LISTEN", "127.0.0.1:0")
        .env("TOKENMINT_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let address = loop {
        assert!(
            Instant::now() < deadline,
            "the server never said it was serving"
        );
        let line = lines.next().expect("stderr closed before serving").unwrap();
        let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if event["message"] == "tokenmint is serving" {
            break event["address"].as_str().unwrap().to_owned();
        }
    };

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let jwks: Value = runtime.block_on(async {
        reqwest::get(format!("http://{address}/.well-known/jwks.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    assert!(dir.path().join("tokenmint.db").exists());
    assert!(dir.path().join("tokenmint.db.kek").exists());

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("tokenmint stopped")),
        "{rest:?}"
    );
}
