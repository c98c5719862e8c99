//! `tokenmint demo`: the real binary, run as a newcomer on a fresh clone would run it.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::cli::tokenmint;

/// The demo's output split into its intro and its steps (`== 3/7 Refresh…` and what follows).
fn sections(stdout: &str) -> (String, Vec<(String, String)>) {
    let mut parts = stdout.split("\n== ");
    let intro = parts.next().unwrap_or_default().to_owned();
    let steps = parts
        .map(|part| {
            let (title, body) = part.split_once('\n').unwrap_or((part, ""));
            (title.to_owned(), body.to_owned())
        })
        .collect();
    (intro, steps)
}

/// Every value of `"name": "value"` lines in a step's printed JSON, in order.
fn members(text: &str, name: &str) -> Vec<String> {
    let prefix = format!("\"{name}\": \"");
    text.lines()
        .filter_map(|line| line.trim().strip_prefix(&prefix))
        .map(|rest| rest.trim_end_matches(',').trim_end_matches('"').to_owned())
        .collect()
}

/// The binary, with its temporary directory inside `dir` (so a test can see it go away).
fn demo(dir: &std::path::Path) -> Command {
    let mut command = tokenmint(dir);
    command.env("TMPDIR", dir).arg("demo");
    command
}

#[test]
fn demo_walks_through_every_step_against_the_stand_in_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let output = demo(dir.path()).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (intro, steps) = sections(&stdout);
    assert!(intro.contains("NOT Appwrite"), "{intro}");
    let titles: Vec<&str> = steps.iter().map(|(title, _)| title.as_str()).collect();
    assert_eq!(titles.len(), 8, "{titles:?}");
    for (index, keyword) in [
        "Exchange",
        "Verify",
        "Refresh",
        "Grace",
        "Reuse",
        "Admin",
        "revocation feed",
        "OAuth2 server",
    ]
    .iter()
    .enumerate()
    {
        let title = titles[index];
        assert!(title.starts_with(&format!("{}/8 ", index + 1)), "{title}");
        assert!(title.contains(keyword), "{title}");
    }
    let step = |n: usize| steps[n - 1].1.as_str();

    assert!(
        step(1).contains("$ curl -s http://127.0.0.1:"),
        "{}",
        step(1)
    );
    assert!(step(1).contains("HTTP 200 OK"), "{}", step(1));
    let first_refresh = members(step(1), "refresh_token");
    assert!(step(2).contains("Verified locally"), "{}", step(2));
    let first_sid = members(step(2), "sid")
        .pop()
        .expect("the claims show a sid");

    // Grace retry: the answer carries the very successor step 3 got, unlike step 1's token.
    let successor = members(step(3), "refresh_token");
    assert_eq!(successor.len(), 1, "{}", step(3));
    assert_ne!(successor, first_refresh);
    assert!(step(4).contains("HTTP 200 OK"), "{}", step(4));
    assert_eq!(members(step(4), "refresh_token"), successor);

    // Reuse: the old token, then the newest one, both refused.
    assert_eq!(
        step(5).matches("HTTP 400 Bad Request").count(),
        2,
        "{}",
        step(5)
    );
    assert_eq!(
        members(step(5), "error"),
        ["invalid_grant", "invalid_grant"]
    );

    assert!(
        step(6).contains("admin-keys create --name demo"),
        "{}",
        step(6)
    );
    assert!(
        step(6).contains("$ curl -s -X DELETE http://127.0.0.1:"),
        "{}",
        step(6)
    );
    assert_eq!(members(step(6), "revoked_reason"), ["admin"]);
    let revoked_sid = members(step(6), "id")
        .pop()
        .expect("the revoked session is shown");

    let feed = members(step(7), "sid");
    assert!(feed.contains(&first_sid), "{}", step(7));
    assert!(feed.contains(&revoked_sid), "{}", step(7));

    assert!(
        step(8).contains("urn:ietf:params:oauth:token-type:access_token")
            && step(8).contains("HTTP 200 OK")
            && step(8).contains("account API was not called"),
        "{}",
        step(8)
    );

    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the demo left files behind: {left:?}");
}

/// `--keep-running`: after the walk-through both servers stay up, the printed Appwrite JWT
/// and admin key work, and ctrl-c (SIGINT) stops the demo cleanly.
#[test]
fn demo_keeps_running_for_the_user_until_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = demo(dir.path())
        .arg("--keep-running")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut exports = std::collections::HashMap::new();
    while exports.len() < 3 {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "no exports printed"
        );
        if let Some((name, value)) = line
            .trim()
            .strip_prefix("export ")
            .and_then(|l| l.split_once('='))
        {
            exports.insert(name.to_owned(), value.to_owned());
        }
    }
    let base = exports["TOKENMINT"].clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let exchanged = client
            .post(format!("{base}/oauth/token"))
            .form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                (
                    "subject_token_type",
                    "urn:tokenmint:params:token-type:appwrite-jwt",
                ),
                ("subject_token", &exports["APPWRITE_JWT"]),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(exchanged.status(), 200);
        let sessions = client
            .get(format!("{base}/admin/v1/users/demo/sessions"))
            .bearer_auth(&exports["ADMIN_KEY"])
            .send()
            .await
            .unwrap();
        assert_eq!(sessions.status(), 200);
        let sessions: Value = sessions.json().await.unwrap();
        // Live: step 8's (by an OAuth2 access token, no Appwrite session) and this one.
        let live = sessions["sessions"].as_array().unwrap();
        assert_eq!(live.len(), 2, "{sessions}");
        assert_eq!(
            live.iter()
                .filter(|s| s["appwrite_session_id"] == "")
                .count(),
            1,
            "{sessions}"
        );
    });

    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "exit after ctrl-c: {status:?}\n{rest}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the demo left files behind: {left:?}");
}
