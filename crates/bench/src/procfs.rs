//! Readings from Linux's `/proc`: CPU time (in clock ticks) and memory of a process, and the
//! CPU time of every PostgreSQL process.

use std::io;
use std::path::Path;
use std::process::Command;

/// The clock-tick rate `/proc` counts CPU time in.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct TickRate {
    /// Ticks per second.
    pub per_second: u64,
    /// `true` when `getconf CLK_TCK` gave no answer and 100 (Linux's usual value) is assumed.
    pub assumed: bool,
}

impl TickRate {
    /// Asks `getconf CLK_TCK` once; assumes 100 if that fails.
    pub fn read() -> Self {
        let answer = Command::new("getconf").arg("CLK_TCK").output().ok();
        let parsed = answer
            .filter(|output| output.status.success())
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse::<u64>().ok())
            .filter(|rate| *rate > 0);
        match parsed {
            Some(per_second) => Self {
                per_second,
                assumed: false,
            },
            None => Self {
                per_second: 100,
                assumed: true,
            },
        }
    }

    /// `ticks` in milliseconds.
    pub fn millis(self, ticks: u64) -> f64 {
        ticks as f64 * 1000.0 / self.per_second as f64
    }
}

/// User plus system CPU time of a process, in clock ticks (`/proc/<pid>/stat` fields 14 and
/// 15; threads included, children not).
///
/// # Errors
/// When the process is gone or the file cannot be parsed.
pub fn cpu_ticks(pid: u32) -> io::Result<u64> {
    stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat"))?)
}

/// The CPU time of this process (the driver and the fake Appwrite).
///
/// # Errors
/// As [`cpu_ticks`].
pub fn own_cpu_ticks() -> io::Result<u64> {
    stat_ticks(&std::fs::read_to_string("/proc/self/stat")?)
}

/// utime + stime from the text of a `stat` file. The command name (field 2) is in
/// parentheses and may itself hold spaces or parentheses, so fields are counted from the last
/// `)`: field 3 is the first after it, so 14 and 15 are the 12th and 13th.
fn stat_ticks(stat: &str) -> io::Result<u64> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc stat format");
    let (_, rest) = stat.rsplit_once(')').ok_or_else(invalid)?;
    let mut fields = rest.split_whitespace().skip(11);
    let mut next = || -> io::Result<u64> {
        fields
            .next()
            .and_then(|field| field.parse().ok())
            .ok_or_else(invalid)
    };
    Ok(next()? + next()?)
}

/// Resident memory of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Memory {
    /// `VmRSS`: resident now, KiB.
    pub rss_kib: u64,
    /// `VmHWM`: the most ever resident, KiB.
    pub peak_rss_kib: u64,
}

/// Reads [`Memory`] of `pid`.
///
/// # Errors
/// When the process is gone or the fields are missing.
pub fn memory(pid: u32) -> io::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no {name}")))
    };
    Ok(Memory {
        rss_kib: field("VmRSS")?,
        peak_rss_kib: field("VmHWM")?,
    })
}

/// The summed CPU time of every process named `postgres` (postmaster, backends, WAL writer,
/// checkpointer, …), whoever's database they serve. Processes that vanish while being read
/// are skipped.
///
/// # Errors
/// When `/proc` cannot be listed.
pub fn postgres_cpu_ticks() -> io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc")? {
        let path = entry?.path();
        let is_pid = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit()));
        if is_pid
            && is_postgres(&path)
            && let Ok(stat) = std::fs::read_to_string(path.join("stat"))
        {
            total += stat_ticks(&stat).unwrap_or(0);
        }
    }
    Ok(total)
}

fn is_postgres(process: &Path) -> bool {
    std::fs::read_to_string(process.join("comm")).is_ok_and(|comm| comm.trim_end() == "postgres")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_read_past_a_command_name_with_parentheses() {
        let stat = "4242 (tokio (worker) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 12345 1000 200";
        assert_eq!(stat_ticks(stat).unwrap(), 325);
        assert!(stat_ticks("4242 (x) S 1 2").is_err());
    }

    #[test]
    fn this_process_has_readable_figures() {
        let pid = std::process::id();
        assert!(cpu_ticks(pid).is_ok());
        let memory = memory(pid).unwrap();
        assert!(memory.rss_kib > 0 && memory.peak_rss_kib >= memory.rss_kib);
        assert!(TickRate::read().per_second > 0);
    }
}
