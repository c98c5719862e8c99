//! The only place that reads the wall clock. Everything else takes `now` from a [`Clock`], so
//! tests can move time (expiry, grace windows) without sleeping.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned wall-clock read
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: for tests of lifetimes and windows.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    /// A clock stopped at the current wall-clock time, truncated to whole seconds.
    pub fn starting_now() -> Self {
        let now = SystemClock.now();
        Self::new(DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now))
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The current unix time in seconds, for the rare adapter that must compare with a time sent
/// by another system (Appwrite's `X-RateLimit-Reset`), not with tokenmint's own clock.
pub fn unix_now() -> i64 {
    SystemClock.now().timestamp()
}

/// `time + by`, or the latest representable time if that would overflow. Configured durations
/// are range-checked at start-up (see `config`); this makes sure time arithmetic on a request
/// path still cannot panic.
pub fn later(time: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    time.checked_add_signed(by)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `time - by`, or the earliest representable time if that would overflow.
pub fn earlier(time: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    time.checked_sub_signed(by)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_arithmetic_saturates_instead_of_panicking() {
        let now = ManualClock::starting_now().now();
        assert_eq!(later(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(earlier(now, Duration::MAX), DateTime::<Utc>::MIN_UTC);
        assert_eq!(later(now, Duration::seconds(1)), now + Duration::seconds(1));
    }
}
