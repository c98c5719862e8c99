//! A circuit breaker in front of Appwrite: after [`FAILURES_TO_OPEN`] consecutive failures
//! (timeouts, refused or dropped connections, 5xx, unreadable answers) calls stop for a
//! cool-down and exchanges fail at once with 503 and `Retry-After`, instead of each one waiting
//! out the Appwrite timeout. After the cool-down one call goes through as a probe: success
//! closes the circuit, failure opens it again for twice as long (at most [`MAX_COOL_DOWN`]).
//!
//! Why: a dead or stalled Appwrite must not tie up tokenmint. Without the breaker every
//! exchange holds a connection, a task and a client for the whole Appwrite timeout (5 s by
//! default), and a burst of logins piles up behind them. Answers that show Appwrite is alive —
//! a rejection, a 429 — count as successes here: Appwrite is reachable.
//!
//! Time is monotonic (`tokio::time::Instant`), not the wall clock: the breaker measures
//! intervals, it never dates anything.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Consecutive failures that open the circuit.
pub const FAILURES_TO_OPEN: u32 = 10;
/// How long the circuit first stays open.
pub const COOL_DOWN: Duration = Duration::from_secs(5);
/// The longest it stays open after repeated failed probes.
pub const MAX_COOL_DOWN: Duration = Duration::from_secs(60);

/// Where the circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the cool-down ends.
    Open,
    /// One probe call is under way; the others are refused until it ends.
    HalfOpen,
}

impl CircuitState {
    /// The state's name, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// How a call went, as far as Appwrite's health is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Appwrite answered (whatever it said about the proof).
    Answered,
    /// Appwrite could not be reached or answered nothing usable.
    Failed,
}

/// The breaker; shared by every exchange of the process.
#[derive(Debug)]
pub struct CircuitBreaker {
    inner: Mutex<Inner>,
    rejected: AtomicU64,
    opened: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    failures: u32,
    open_until: Option<Instant>,
    cool_down: Duration,
    probing: bool,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                failures: 0,
                open_until: None,
                cool_down: COOL_DOWN,
                probing: false,
            }),
            rejected: AtomicU64::new(0),
            opened: AtomicU64::new(0),
        }
    }
}

/// Leave to make one call; report its outcome with [`Permit::finish`]. Dropped unfinished (the
/// caller went away), a probe ends without a verdict and the next caller probes.
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    finished: bool,
}

impl CircuitBreaker {
    /// Leave to call Appwrite, or the seconds to wait when the circuit is open.
    pub fn permit(&self) -> Result<Permit<'_>, u64> {
        let mut inner = self.lock();
        let probe = match inner.open_until {
            None => false,
            Some(until) => {
                let now = Instant::now();
                if now < until || inner.probing {
                    drop(inner);
                    self.rejected.fetch_add(1, Ordering::Relaxed);
                    let wait = until.saturating_duration_since(now);
                    return Err((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1));
                }
                inner.probing = true;
                true
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            finished: false,
        })
    }

    /// Where the circuit stands now.
    pub fn state(&self) -> CircuitState {
        let inner = self.lock();
        match inner.open_until {
            None => CircuitState::Closed,
            Some(_) if inner.probing => CircuitState::HalfOpen,
            Some(until) if Instant::now() >= until => CircuitState::HalfOpen,
            Some(_) => CircuitState::Open,
        }
    }

    /// Calls refused because the circuit was open, since start.
    pub fn rejected_calls(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Times the circuit opened, since start.
    pub fn times_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    fn record(&self, probe: bool, outcome: Outcome) {
        let mut inner = self.lock();
        if probe {
            inner.probing = false;
        }
        match outcome {
            Outcome::Answered => {
                if inner.open_until.is_some() {
                    tracing::info!("Appwrite answers again: circuit closed");
                }
                inner.failures = 0;
                inner.open_until = None;
                inner.cool_down = COOL_DOWN;
            }
            Outcome::Failed if probe => {
                inner.cool_down = (inner.cool_down * 2).min(MAX_COOL_DOWN);
                inner.open_until = Some(Instant::now() + inner.cool_down);
                tracing::warn!(cool_down = ?inner.cool_down, "Appwrite still failing: circuit open again");
            }
            Outcome::Failed => {
                inner.failures = inner.failures.saturating_add(1);
                if inner.failures >= FAILURES_TO_OPEN && inner.open_until.is_none() {
                    inner.open_until = Some(Instant::now() + inner.cool_down);
                    self.opened.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        failures = inner.failures,
                        cool_down = ?inner.cool_down,
                        "Appwrite keeps failing: circuit open, exchanges answer 503 at once"
                    );
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a few assignments: a panic cannot leave it half-done.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Permit<'_> {
    /// Reports how the call went.
    pub fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        self.breaker.record(self.probe, outcome);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.finished && self.probe {
            self.breaker.lock().probing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(breaker: &CircuitBreaker, times: u32) {
        for _ in 0..times {
            breaker.permit().unwrap().finish(Outcome::Failed);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_only() {
        let breaker = CircuitBreaker::default();
        fail(&breaker, FAILURES_TO_OPEN - 1);
        breaker.permit().unwrap().finish(Outcome::Answered);
        fail(&breaker, FAILURES_TO_OPEN - 1);
        assert_eq!(breaker.state(), CircuitState::Closed);
        fail(&breaker, 1);
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_eq!(breaker.permit().unwrap_err(), COOL_DOWN.as_secs());
        assert_eq!((breaker.times_opened(), breaker.rejected_calls()), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn one_probe_after_the_cool_down_closes_or_reopens_for_longer() {
        let breaker = CircuitBreaker::default();
        fail(&breaker, FAILURES_TO_OPEN);
        tokio::time::advance(COOL_DOWN).await;
        let probe = breaker.permit().unwrap();
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert!(breaker.permit().is_err(), "one probe at a time");
        probe.finish(Outcome::Failed);
        assert_eq!(breaker.permit().unwrap_err(), 2 * COOL_DOWN.as_secs());

        tokio::time::advance(2 * COOL_DOWN).await;
        breaker.permit().unwrap().finish(Outcome::Answered);
        assert_eq!(breaker.state(), CircuitState::Closed);
        fail(&breaker, FAILURES_TO_OPEN);
        assert_eq!(
            breaker.permit().unwrap_err(),
            COOL_DOWN.as_secs(),
            "a closed circuit starts again from the first cool-down"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_lets_the_next_caller_probe() {
        let breaker = CircuitBreaker::default();
        fail(&breaker, FAILURES_TO_OPEN);
        tokio::time::advance(COOL_DOWN).await;
        drop(breaker.permit().unwrap());
        assert!(breaker.permit().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn the_cool_down_is_bounded() {
        let breaker = CircuitBreaker::default();
        fail(&breaker, FAILURES_TO_OPEN);
        for _ in 0..10 {
            tokio::time::advance(MAX_COOL_DOWN).await;
            breaker.permit().unwrap().finish(Outcome::Failed);
        }
        assert_eq!(breaker.permit().unwrap_err(), MAX_COOL_DOWN.as_secs());
    }
}
