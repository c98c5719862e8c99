//! What a worker records, and the run's figures merged from all workers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::api::Failure;

/// One worker's record of the run.
#[derive(Debug)]
pub struct WorkerRecord {
    /// Latency of each measured successful request, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Measured failed requests, by kind.
    pub failures: BTreeMap<Failure, u64>,
    /// Requests that failed during the warm-up.
    pub warmup_failures: u64,
    /// When the worker's last request ended.
    pub finished: Instant,
}

impl WorkerRecord {
    /// An empty record.
    pub fn new() -> Self {
        Self {
            latencies_us: Vec::new(),
            failures: BTreeMap::new(),
            warmup_failures: 0,
            finished: Instant::now(),
        }
    }

    /// Records a request that started at `started` and ended now; only requests started at or
    /// after `measured_from` are measured.
    pub fn record<T>(
        &mut self,
        started: Instant,
        measured_from: Instant,
        outcome: &Result<T, Failure>,
    ) {
        let now = Instant::now();
        self.finished = now;
        match (started >= measured_from, outcome) {
            (true, Ok(_)) => {
                let micros = now.duration_since(started).as_micros();
                self.latencies_us
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
            }
            (true, Err(failure)) => *self.failures.entry(failure.clone()).or_default() += 1,
            (false, Err(_)) => self.warmup_failures += 1,
            (false, Ok(_)) => {}
        }
    }
}

/// Latency percentiles in microseconds (nearest rank).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u32,
    /// 90th percentile.
    pub p90: u32,
    /// 99th percentile.
    pub p99: u32,
    /// Slowest.
    pub max: u32,
}

/// The merged figures of all workers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Totals {
    /// Measured requests, successful or not.
    pub requests: u64,
    /// From the start of the measurement to the end of the last measured request, seconds.
    pub elapsed_s: f64,
    /// `requests / elapsed_s`.
    pub requests_per_second: f64,
    /// Of successful measured requests.
    pub latency_us: Latency,
    /// Measured failures by kind (`HTTP 400 invalid_grant`, `network: timeout`, …).
    pub errors: BTreeMap<String, u64>,
    /// Failures during the warm-up.
    pub warmup_errors: u64,
}

/// Merges worker records; `measured_from` is when the measurement began.
pub fn merge(records: Vec<WorkerRecord>, measured_from: Instant) -> Totals {
    let mut latencies = Vec::new();
    let mut errors = BTreeMap::new();
    let mut warmup_errors = 0;
    let mut finished = measured_from;
    for record in records {
        latencies.extend(record.latencies_us);
        for (failure, count) in record.failures {
            *errors.entry(failure.to_string()).or_default() += count;
        }
        warmup_errors += record.warmup_failures;
        finished = finished.max(record.finished);
    }
    latencies.sort_unstable();
    let requests = latencies.len() as u64 + errors.values().sum::<u64>();
    let elapsed = finished
        .duration_since(measured_from)
        .max(Duration::from_micros(1));
    Totals {
        requests,
        elapsed_s: elapsed.as_secs_f64(),
        requests_per_second: requests as f64 / elapsed.as_secs_f64(),
        latency_us: percentiles(&latencies),
        errors,
        warmup_errors,
    }
}

/// Nearest-rank percentiles of sorted samples (all zero when there are none).
fn percentiles(sorted: &[u32]) -> Latency {
    let rank = |p: usize| {
        let index = (sorted.len() * p).div_ceil(100).saturating_sub(1);
        sorted.get(index).copied().unwrap_or(0)
    };
    Latency {
        p50: rank(50),
        p90: rank(90),
        p99: rank(99),
        max: sorted.last().copied().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<u32> = (1..=100).collect();
        let latency = percentiles(&samples);
        assert_eq!(
            (latency.p50, latency.p90, latency.p99, latency.max),
            (50, 90, 99, 100)
        );
        assert_eq!(percentiles(&[7]).p99, 7);
        assert_eq!(percentiles(&[]).max, 0);
    }

    #[test]
    fn warmup_requests_are_not_measured_but_their_failures_count() {
        let start = Instant::now();
        let measured_from = start + Duration::from_secs(3600);
        let mut record = WorkerRecord::new();
        record.record(start, measured_from, &Ok::<(), Failure>(()));
        record.record(
            start,
            measured_from,
            &Err::<(), _>(Failure::Network("connect")),
        );
        record.record(measured_from, measured_from, &Ok::<(), Failure>(()));
        record.record(
            measured_from,
            measured_from,
            &Err::<(), _>(Failure::Status(400, Some("invalid_grant".into()))),
        );
        let totals = merge(vec![record], start);
        assert_eq!(totals.requests, 2);
        assert_eq!(totals.warmup_errors, 1);
        assert_eq!(totals.errors["HTTP 400 invalid_grant"], 1);
    }
}
