//! What this replica has seen of the database: every operation's outcome, and the heartbeat.
//!
//! An operation that fails because the database is unreachable, did not answer in time, or
//! cannot take writes opens an **outage**, from the start of that operation (or the last time
//! anything worked, if earlier). Only a successful heartbeat — a write — closes it: a read
//! that works on a connection still open to a demoted primary proves nothing. Closed outages
//! wait here until the heartbeat task has written them to the database for every replica to see
//! (`Availability::record_outages`); until that write commits they are answered from here, so
//! no refresh judged meanwhile misses one.
//!
//! A statement cancelled by a lock or statement timeout (`StoreError::Busy`) neither opens
//! nor closes an outage: the database answered, and the statement was rolled back.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::domain::ports::{Outage, StoreError};

/// Outages kept in memory while the database cannot take them, at most (the oldest go first:
/// a flapping database for hours must not grow memory without bound).
const MAX_UNRECORDED: usize = 4096;

/// One replica's view of the database's availability. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Observer(Arc<Inner>);

struct Inner {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Outages begun since start-up, for metrics.
    outages: AtomicU64,
}

#[derive(Default)]
struct State {
    /// When an operation last worked.
    last_ok: Option<DateTime<Utc>>,
    /// The outage going on, if any.
    down: Option<Down>,
    /// Outages over and not yet written to the database.
    unrecorded: Vec<Outage>,
}

struct Down {
    since: DateTime<Utc>,
    /// For the log line when it ends.
    began: Instant,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("writable", &self.writable())
            .finish_non_exhaustive()
    }
}

impl Observer {
    /// An observer reading time from `clock`, with nothing seen yet (counted as writable: the
    /// store was just connected).
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self(Arc::new(Inner {
            clock,
            state: Mutex::new(State::default()),
            outages: AtomicU64::new(0),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The time now, on the clock outages are measured with.
    pub fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    /// An operation worked.
    pub fn succeeded(&self) {
        let now = self.now();
        let mut state = self.lock();
        state.last_ok = Some(state.last_ok.map_or(now, |last| last.max(now)));
    }

    /// An operation started at `started` failed for want of a usable database (`cause` is a
    /// redacted error: no row data). An outage going on is taken to have begun no later than
    /// `started`: every operation it failed was running in it.
    pub fn failed(&self, started: DateTime<Utc>, cause: &dyn Display) {
        let mut state = self.lock();
        if let Some(down) = &mut state.down {
            down.since = down.since.min(started);
            return;
        }
        let since = state.last_ok.map_or(started, |last| last.min(started));
        state.down = Some(Down {
            since,
            began: Instant::now(),
        });
        drop(state);
        self.0.outages.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            error = %cause,
            "database unavailable: answering 503 until a heartbeat write succeeds"
        );
    }

    /// A heartbeat write worked: the database takes writes again, and an outage going on is
    /// over.
    pub fn heartbeat_succeeded(&self) {
        let now = self.now();
        let mut state = self.lock();
        state.last_ok = Some(state.last_ok.map_or(now, |last| last.max(now)));
        let Some(down) = state.down.take() else {
            return;
        };
        if state.unrecorded.len() >= MAX_UNRECORDED {
            state.unrecorded.remove(0);
        }
        state.unrecorded.push(Outage {
            start: down.since,
            end: now,
        });
        drop(state);
        tracing::info!(
            after_ms = u64::try_from(down.began.elapsed().as_millis()).unwrap_or(u64::MAX),
            "database available again"
        );
    }

    /// Whether no outage is going on.
    pub fn writable(&self) -> bool {
        self.lock().down.is_none()
    }

    /// How many outages began since start-up.
    pub fn outages_begun(&self) -> u64 {
        self.0.outages.load(Ordering::Relaxed)
    }

    /// The outages seen here and not yet recorded that overlap `from..=to`, with one going on
    /// as ending at `to`.
    pub fn unrecorded_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Outage> {
        let state = self.lock();
        let ongoing = state.down.as_ref().map(|down| Outage {
            start: down.since,
            end: to,
        });
        state
            .unrecorded
            .iter()
            .copied()
            .chain(ongoing)
            .filter(|outage| outage.start <= to && outage.end >= from)
            .collect()
    }

    /// The outages not yet recorded, oldest first. They stay here (and in
    /// [`unrecorded_between`](Self::unrecorded_between)) until [`forget_recorded`] is told
    /// they were written: a refresh judged while they are being written must still see them.
    ///
    /// [`forget_recorded`]: Self::forget_recorded
    pub fn unrecorded(&self) -> Vec<Outage> {
        self.lock().unrecorded.clone()
    }

    /// Keeps `outage` until it is recorded (one that could not be written yet).
    pub fn remember(&self, outage: Outage) {
        let mut state = self.lock();
        if state.unrecorded.len() >= MAX_UNRECORDED {
            state.unrecorded.remove(0);
        }
        state.unrecorded.push(outage);
    }

    /// `recorded` are in the database now, for every replica to see: they leave memory.
    pub fn forget_recorded(&self, recorded: &[Outage]) {
        let mut state = self.lock();
        for outage in recorded {
            if let Some(at) = state.unrecorded.iter().position(|o| o == outage) {
                state.unrecorded.remove(at);
            }
        }
    }
}

/// A store error with its cause, for the one log line an outage gets (the cause is redacted:
/// see `store::error`).
pub(crate) struct Cause<'a>(pub &'a StoreError);

impl std::fmt::Display for Cause<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        if let Some(source) = std::error::Error::source(self.0) {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::clock::ManualClock;
    use crate::store::availability::*;

    fn observer() -> (Observer, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::starting_now());
        (Observer::new(Arc::clone(&clock) as Arc<dyn Clock>), clock)
    }

    #[test]
    fn a_failure_opens_an_outage_that_only_a_heartbeat_closes() {
        let (observer, clock) = observer();
        let t0 = clock.now();
        observer.succeeded();
        clock.advance(chrono::Duration::seconds(1));
        let started = clock.now();
        clock.advance(chrono::Duration::seconds(5));
        observer.failed(started, &"connection reset");
        assert!(!observer.writable());
        clock.advance(chrono::Duration::seconds(10));
        // A read that worked on some connection does not end it.
        observer.succeeded();
        assert!(!observer.writable());
        let ongoing = observer.unrecorded_between(t0, clock.now());
        assert_eq!(
            ongoing,
            vec![Outage {
                start: t0,
                end: clock.now()
            }],
            "from the last success before the failure"
        );
        observer.heartbeat_succeeded();
        assert!(observer.writable());
        let end = clock.now();
        let outage = Outage { start: t0, end };
        assert_eq!(observer.unrecorded(), vec![outage]);
        assert_eq!(
            observer.unrecorded_between(t0, end),
            vec![outage],
            "still seen while it is being recorded"
        );
        observer.forget_recorded(&[outage]);
        assert!(observer.unrecorded().is_empty());
        assert!(observer.unrecorded_between(t0, end).is_empty());
    }

    #[test]
    fn an_outage_starts_no_later_than_the_failed_operation() {
        let (observer, clock) = observer();
        let started = clock.now();
        clock.advance(chrono::Duration::seconds(3));
        observer.succeeded();
        clock.advance(chrono::Duration::seconds(3));
        observer.failed(started, &"timeout");
        observer.heartbeat_succeeded();
        assert_eq!(observer.unrecorded()[0].start, started);
    }

    #[test]
    fn outages_leave_memory_only_once_recorded_and_memory_is_bounded() {
        let (observer, clock) = observer();
        for _ in 0..3 {
            observer.failed(clock.now(), &"down");
            clock.advance(chrono::Duration::seconds(1));
            observer.heartbeat_succeeded();
        }
        let writing = observer.unrecorded();
        assert_eq!(writing.len(), 3);
        // Another outage ends while the three are being written.
        observer.failed(clock.now(), &"down");
        observer.heartbeat_succeeded();
        let newest = *observer.unrecorded().last().unwrap();
        observer.forget_recorded(&writing);
        assert_eq!(observer.unrecorded(), vec![newest]);
        for _ in 0..MAX_UNRECORDED + 10 {
            observer.remember(newest);
        }
        assert_eq!(observer.unrecorded().len(), MAX_UNRECORDED);
    }
}
