//! The `tokenmint` binary itself: configuration errors, commands, serving and SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::TestDb;

/// The binary with a clean environment: no inherited tokenmint or database variables.
pub fn tokenmint(dir: &std::path::Path) -> Command {
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

/// Values that parse but cannot work (a session lifetime of 300,000 years overflows every
/// date) stop start-up with a message naming the variable, instead of panicking later.
#[test]
fn an_out_of_range_value_stops_start_up_naming_the_variable() {
    for (variable, value) in [
        ("TOKENMINT_REFRESH_TOKEN_TTL", "300000years"),
        ("TOKENMINT_ACCESS_TOKEN_TTL", "1000years"),
        ("TOKENMINT_REFRESH_GRACE", "100years"),
        ("TOKENMINT_APPWRITE_TIMEOUT", "3days"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = tokenmint(dir.path())
            .env(variable, value)
            .env("TOKENMINT_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{variable}={value}: tokenmint started instead of refusing");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "{variable}={value}");
        assert!(stderr.contains(variable), "{variable}={value}: {stderr}");
    }
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

/// `admin-keys create` prints the key alone on stdout; the key works against the API; `list`
/// never shows a secret; `revoke` ends it.
#[test]
fn admin_keys_are_created_listed_and_revoked_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let create = tokenmint(dir.path())
        .args(["admin-keys", "create", "--name", "ops laptop"])
        .output()
        .unwrap();
    assert!(
        create.status.success(),
        "{}",
        String::from_utf8_lossy(&create.stderr)
    );
    let stdout = String::from_utf8(create.stdout).unwrap();
    let key = stdout.trim_end_matches('\n');
    assert_eq!(
        stdout.lines().count(),
        1,
        "the key alone on stdout: {stdout:?}"
    );
    assert!(
        key.starts_with("tma_") && key.len() == 4 + 16 + 1 + 43,
        "{key}"
    );
    let id = &key[4..20];

    let introspect = tokenmint(dir.path())
        .args([
            "admin-keys",
            "create",
            "--name",
            "billing",
            "--role",
            "introspect",
        ])
        .output()
        .unwrap();
    assert!(introspect.status.success());
    let bad_role = tokenmint(dir.path())
        .args(["admin-keys", "create", "--name", "x", "--role", "root"])
        .output()
        .unwrap();
    assert!(!bad_role.status.success());

    let list = tokenmint(dir.path())
        .args(["admin-keys", "list", "--json"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    let keys = listed.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    // Both keys share a creation second, so their list order is not their creation order.
    let ops = keys
        .iter()
        .find(|k| k["id"] == id)
        .expect("the created key is listed");
    assert_eq!(ops["role"], "admin");
    assert_eq!(ops["name"], "ops laptop");
    assert!(
        keys.iter()
            .any(|k| k["role"] == "introspect" && k["name"] == "billing")
    );
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        !text.contains(&key[21..]) && !text.contains("argon2"),
        "no secret or hash in listings"
    );

    let revoke = tokenmint(dir.path())
        .args(["admin-keys", "revoke", id])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&revoke.stdout).contains("revoked admin key"));
    let again = tokenmint(dir.path())
        .args(["admin-keys", "revoke", id])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing changed"));
    let list = tokenmint(dir.path())
        .args(["admin-keys", "list", "--json"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    let ops = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .unwrap();
    assert!(ops["revoked_at"].is_string());
}

/// `sessions list|revoke` against the database a running server uses.
#[test]
fn sessions_are_listed_and_revoked_from_the_cli() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let harness = runtime.block_on(crate::oauth_helpers::Harness::start(
        crate::helpers::Backend::Sqlite,
    ));
    let (first, second) =
        runtime.block_on(async { (harness.login("u1").await, harness.login("u1").await) });
    let database_url = harness.db.url.clone();
    let cli = |args: &[&str]| {
        let output = tokenmint(harness.db.dir.path())
            .env("DATABASE_URL", &database_url)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };

    let listed: Value =
        serde_json::from_str(&cli(&["sessions", "list", "--user", "u1", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let first_sid =
        runtime.block_on(harness.app.verify_access_token(&first.access_token, "api"))["sid"]
            .clone();
    assert!(
        cli(&[
            "sessions",
            "revoke",
            "--session",
            first_sid.as_str().unwrap()
        ])
        .contains("revoked")
    );
    let refused = runtime.block_on(harness.app.refresh(&first.refresh_token));
    assert_eq!(refused.status(), 400);
    let kept = runtime.block_on(harness.app.refresh(&second.refresh_token));
    assert_eq!(kept.status(), 200);

    assert!(cli(&["sessions", "revoke", "--user", "u1"]).contains("revoked 1 session"));
    let listed: Value = serde_json::from_str(&cli(&[
        "sessions", "list", "--user", "u1", "--all", "--json",
    ]))
    .unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["active"] == false)
    );
    let neither = tokenmint(harness.db.dir.path())
        .env("DATABASE_URL", &database_url)
        .args(["sessions", "revoke"])
        .output()
        .unwrap();
    assert!(!neither.status.success());
    drop(harness);
    drop(runtime);
}

/// The lines `tokenmint migrate` should print for a fresh database of `backend`: one per
/// migration file (`0002_refresh_state.sql` → `applied migration 0002 refresh state`).
fn expected_migrations(backend: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".sql").map(str::to_owned))
        .collect();
    names.sort();
    names
        .iter()
        .map(|name| {
            let (version, description) = name.split_once('_').unwrap();
            format!(
                "applied migration {version} {}",
                description.replace('_', " ")
            )
        })
        .collect()
}

/// `tokenmint migrate` says what it applied, then that nothing is left, on both backends.
#[test]
fn migrate_lists_what_it_applied_then_says_the_database_is_up_to_date() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (backend, db) in [
        ("sqlite", TestDb::sqlite()),
        ("postgres", runtime.block_on(TestDb::postgres())),
    ] {
        let migrate = || {
            let output = tokenmint(db.dir.path())
                .env("DATABASE_URL", &db.url)
                .arg("migrate")
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{backend}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap()
        };
        let expected = expected_migrations(backend);
        let up_to_date = format!("database is up to date ({} migrations)", expected.len());
        let mut first: Vec<String> = expected.clone();
        first.push(up_to_date.clone());
        assert_eq!(migrate().lines().collect::<Vec<_>>(), first, "{backend}");
        assert_eq!(
            migrate().lines().collect::<Vec<_>>(),
            [up_to_date],
            "{backend}"
        );
        drop(db);
    }
    drop(runtime);
}
