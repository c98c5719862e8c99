//! The real `tokenmint` binary as a child process: spawned with a clean environment and a
//! JSON log file, its address read from the log, stopped with SIGTERM or killed with SIGKILL.
//! Dropping it kills it, so a failed test leaves no server behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `tokenmint serve`.
pub struct ServerProcess {
    child: Child,
    log: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl ServerProcess {
    /// Starts the binary in `dir` (its log goes to `dir/<name>.log`) with `env` on top of a
    /// clean environment, and waits until it says where it serves.
    pub fn start(dir: &Path, name: &str, env: &[(String, String)]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_tokenmint"));
        for variable in tokenmint::config::VARIABLES {
            command.env_remove(variable);
        }
        let child = command
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .env("TOKENMINT_LISTEN", "127.0.0.1:0")
            .env("TOKENMINT_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .spawn()
            .unwrap();
        let mut server = Self {
            child,
            log,
            url: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.url.is_empty() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("{name} exited at start-up ({status}):\n{}", server.log());
            }
            assert!(
                Instant::now() < deadline,
                "{name} never said it was serving:\n{}",
                server.log()
            );
            match serving_address(&server.log()) {
                Some(address) => server.url = format!("http://{address}"),
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        server
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Everything it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Log lines at `ERROR` level (JSON `level`), for assertions.
    pub fn errors_logged(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|line| {
                serde_json::from_str::<Value>(line).is_ok_and(|event| event["level"] == "ERROR")
            })
            .map(str::to_owned)
            .collect()
    }

    /// `kill -9`: the process dies at once, mid-request.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // What the server warned about is the first thing a failed scenario needs.
            let log = self.log();
            let warnings: Vec<&str> = log
                .lines()
                .filter(|line| {
                    serde_json::from_str::<Value>(line)
                        .is_ok_and(|event| event["level"] == "WARN" || event["level"] == "ERROR")
                })
                .collect();
            eprintln!(
                "{} warnings and errors logged by {}; the last ones:",
                warnings.len(),
                self.url
            );
            for line in &warnings[warnings.len().saturating_sub(40)..] {
                eprintln!("  {line}");
            }
        }
    }
}

fn serving_address(log: &str) -> Option<String> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["message"] == "tokenmint is serving")
        .and_then(|event| event["address"].as_str().map(str::to_owned))
}
