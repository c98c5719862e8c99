//! A PostgreSQL cluster of the test's own — `initdb` in a temporary directory, a free port —
//! so a test can stop and start the database under tokenmint without touching the machine's
//! shared server. Run as the `postgres` user when the tests run as root (initdb refuses root).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How PostgreSQL is stopped (`pg_ctl stop -m …`).
#[derive(Debug, Clone, Copy)]
pub enum StopMode {
    /// Disconnects every client, rolls back open transactions, checkpoints, exits.
    Fast,
    /// Exits at once, like a crash: the next start replays the WAL.
    Immediate,
}

/// A private PostgreSQL server on 127.0.0.1.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
}

impl PgCluster {
    /// Creates and starts a cluster with trust authentication for user `postgres`.
    pub fn start() -> Self {
        let bin = server_bin_dir();
        let dir = tempfile::tempdir().unwrap();
        if running_as_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()));
        }
        let cluster = Self {
            port: free_port(),
            bin,
            dir,
        };
        cluster.pg("initdb", |c| {
            c.arg("-D").arg(cluster.data()).args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ])
        });
        cluster.start_server();
        cluster
    }

    /// `postgres://postgres@127.0.0.1:PORT/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server; clients see their connections closed and new ones refused.
    pub fn stop(&self, mode: StopMode) {
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        self.pg("pg_ctl", |c| {
            c.arg("-D")
                .arg(self.data())
                .args(["-m", mode, "-w", "-t", "30", "stop"])
        });
    }

    /// Starts the (stopped) server and returns once it accepts connections.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        self.pg("pg_ctl", |c| {
            c.arg("-D")
                .arg(self.data())
                .args(["-o", &options, "-l"])
                .arg(self.dir.path().join("server.log"))
                .args(["-w", "-t", "60", "start"])
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.accepts_connections() {
            assert!(Instant::now() < deadline, "PostgreSQL did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server answers `pg_isready`.
    pub fn accepts_connections(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Creates a database.
    pub async fn create_database(&self, name: &str) {
        use sqlx::Connection;
        let mut connection = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .unwrap();
        // `name` is the test's own constant.
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&mut connection)
            .await
            .unwrap();
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs one of the server's programs, as `postgres` when we are root.
    fn pg(&self, program: &str, args: impl FnOnce(&mut Command) -> &mut Command) {
        let path = self.bin.join(program);
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        args(&mut command);
        run(&mut command);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.accepts_connections() {
            self.stop(StopMode::Immediate);
        }
    }
}

/// The newest PostgreSQL's server programs (`/usr/lib/postgresql/<version>/bin` on Debian).
fn server_bin_dir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .unwrap_or_else(|err| {
            panic!(
                "fault tests need PostgreSQL's server programs in {}: {err}",
                root.display()
            )
        })
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("initdb under /usr/lib/postgresql/*/bin")
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
