//! The server under test as a child process: spawned with a controlled environment, its
//! address read from its JSON log, readiness awaited, stopped with SIGTERM — and killed if the
//! driver gives up on the way ([`ServerProcess`] kills it when dropped).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::api::Target;

/// How long the server may take to say where it serves, and then to be ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Log lines kept for an error message.
const TAIL_LINES: usize = 20;

/// A base64 key-encryption key (32 bytes of 0x42), as the integration tests use: fine for
/// throw-away databases, never for real ones.
pub const BENCH_KEK: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";

/// Variables of the driver's own environment the server does not inherit, so that a shell's
/// settings cannot change what is measured (`--server-env` sets them on purpose).
const NOT_INHERITED: [&str; 3] = ["TOKENMINT_", "APPWRITE_", "DATABASE_URL"];

/// The server binary to use when `--server-bin` is not given: the release `tokenmint` of this
/// driver's target directory (so `CARGO_TARGET_DIR` is honoured), else the workspace's
/// `target/release/tokenmint`.
///
/// # Errors
/// When neither exists, naming both.
pub fn default_bin() -> anyhow::Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(target_dir) = exe.parent().and_then(Path::parent)
    {
        candidates.push(target_dir.join("release").join("tokenmint"));
    }
    // crates/bench → the workspace root.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    candidates.push(workspace.join("target/release/tokenmint"));
    if let Some(found) = candidates.iter().find(|path| path.is_file()) {
        return Ok(found.clone());
    }
    let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    bail!(
        "no server binary at {}: run `cargo build --release -p tokenmint` or pass --server-bin",
        tried.join(" or ")
    )
}

/// The `RUST_LOG` for the server: `filter`, plus the start-up log line the driver reads the
/// address from.
pub fn log_filter(filter: &str) -> String {
    if filter.contains("tokenmint::startup") {
        filter.to_owned()
    } else {
        format!("{filter},tokenmint::startup=info")
    }
}

/// How to start the server.
#[derive(Debug)]
pub struct Launch<'a> {
    /// The binary.
    pub bin: &'a Path,
    /// Its working directory (a temporary one, so no `tokenmint.toml` is picked up).
    pub dir: &'a Path,
    /// Its environment, on top of the driver's (minus [`NOT_INHERITED`]).
    pub env: Vec<(String, String)>,
}

/// A started, ready server.
pub struct Started {
    /// The running process.
    pub process: ServerProcess,
    /// Where it serves.
    pub target: Target,
    /// From spawning it to the first `GET /readyz` answering 200.
    pub start_to_ready: Duration,
}

/// Spawns the server, reads its address from its log and waits for `/readyz`.
///
/// # Errors
/// When it cannot be spawned, exits, or is not ready within a minute; the message carries
/// the end of its log.
pub async fn start(launch: &Launch<'_>, client: &reqwest::Client) -> anyhow::Result<Started> {
    let spawned_at = Instant::now();
    let mut command = Command::new(launch.bin);
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if NOT_INHERITED.iter().any(|prefix| text.starts_with(prefix)) {
            command.env_remove(&name);
        }
    }
    let mut child = command
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .current_dir(launch.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", launch.bin.display()))?;
    let stderr = child
        .stderr
        .take()
        .context("the server's stderr is not piped")?;
    let (address_tx, address_rx) = oneshot::channel();
    let log = Arc::new(Mutex::new(ServerLog::default()));
    let reader = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || read_log(stderr, &log, address_tx))
    };
    let mut process = ServerProcess {
        child,
        log,
        reader: Some(reader),
        stopped: false,
    };
    let address = process.address(address_rx).await?;
    let target = Target::tokenmint(format!("http://{address}"), Some(process.child.id()));
    process.wait_ready(client, &target).await?;
    Ok(Started {
        process,
        target,
        start_to_ready: spawned_at.elapsed(),
    })
}

/// Reads the server's log lines: hands over the address of the `tokenmint is serving` event,
/// counts warnings and errors, keeps the last lines.
fn read_log(stderr: ChildStderr, log: &Mutex<ServerLog>, address: oneshot::Sender<String>) {
    let mut address = Some(address);
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if event["message"] == "tokenmint is serving"
            && let Some(sender) = address.take()
        {
            let _ = sender.send(event["address"].as_str().unwrap_or_default().to_owned());
        }
        log.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(event["level"].as_str(), line);
    }
}

/// What the server logged.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ServerLog {
    /// Lines at `WARN`.
    pub warnings: u64,
    /// Lines at `ERROR`.
    pub errors: u64,
    /// The last lines, oldest first.
    #[serde(skip)]
    pub tail: VecDeque<String>,
}

impl ServerLog {
    fn record(&mut self, level: Option<&str>, line: String) {
        match level {
            Some("WARN") => self.warnings += 1,
            Some("ERROR") => self.errors += 1,
            _ => {}
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

/// The server's process. Dropping it without [`ServerProcess::stop`] kills the server.
pub struct ServerProcess {
    child: Child,
    log: Arc<Mutex<ServerLog>>,
    reader: Option<JoinHandle<()>>,
    stopped: bool,
}

impl ServerProcess {
    async fn address(&mut self, address: oneshot::Receiver<String>) -> anyhow::Result<String> {
        match tokio::time::timeout(START_TIMEOUT, address).await {
            Ok(Ok(address)) if !address.is_empty() => Ok(address),
            Ok(Ok(_)) => bail!("the server's serving line had no address{}", self.tail()),
            Ok(Err(_)) => bail!(
                "the server stopped before serving ({}){}",
                self.exit_description(),
                self.tail()
            ),
            Err(_) => bail!(
                "the server did not say where it serves within a minute{}",
                self.tail()
            ),
        }
    }

    async fn wait_ready(
        &mut self,
        client: &reqwest::Client,
        target: &Target,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = target.url("/readyz");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "the server exited before it was ready ({status}){}",
                    self.tail()
                );
            }
            if crate::api::get(client, &url).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("/readyz did not answer 200 within a minute{}", self.tail())
    }

    /// What the server logged so far.
    pub fn log(&self) -> ServerLog {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends SIGTERM and waits for the exit (killing the server after 10 s); returns how it
    /// ended (e.g. `exit status: 0`) and what it logged.
    pub async fn stop(mut self) -> (String, ServerLog) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        let ended = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => break None,
            }
        };
        let description = match ended {
            Some(status) => status.to_string(),
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                format!(
                    "killed: still running {} s after SIGTERM",
                    STOP_TIMEOUT.as_secs()
                )
            }
        };
        self.stopped = true;
        if let Some(reader) = self.reader.take() {
            // The pipe closed with the process: the reader is at its end.
            let _ = reader.join();
        }
        (description, self.log())
    }

    fn exit_description(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(status)) => status.to_string(),
            _ => "still running".to_owned(),
        }
    }

    fn tail(&self) -> String {
        let log = self.log();
        if log.tail.is_empty() {
            return String::new();
        }
        let lines: Vec<String> = log.tail.into_iter().collect();
        format!("; its last log lines:\n{}", lines.join("\n"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if !self.stopped {
            // SIGKILL: on an error path there is nothing to wait for.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_filter_keeps_the_serving_line() {
        assert_eq!(log_filter("warn"), "warn,tokenmint::startup=info");
        assert_eq!(
            log_filter("tokenmint::startup=debug"),
            "tokenmint::startup=debug"
        );
    }

    #[test]
    fn the_log_counts_levels_and_keeps_a_bounded_tail() {
        let mut log = ServerLog::default();
        for n in 0..30 {
            log.record(
                Some(if n % 3 == 0 { "WARN" } else { "INFO" }),
                format!("line {n}"),
            );
        }
        log.record(Some("ERROR"), "boom".to_owned());
        assert_eq!((log.warnings, log.errors), (10, 1));
        assert_eq!(log.tail.len(), TAIL_LINES);
        assert_eq!(log.tail.back().map(String::as_str), Some("boom"));
    }
}
