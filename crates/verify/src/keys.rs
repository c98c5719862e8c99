//! The key cache and its fetch schedule, without I/O: which key a token gets, and when a JWKS
//! fetch starts.
//!
//! - A `kid` the cache holds is served at once, fresh or stale: no request waits on the network
//!   for it. A stale cache starts one refetch in the background (stale-while-revalidate).
//! - At most one fetch is in flight. A request for an unknown `kid` waits for the fetch in
//!   flight, or starts one and waits for it; it never waits for a second one.
//! - After a failed fetch the next waits [`backoff`]: 1 s, doubling per consecutive failure up to
//!   [`MAX_BACKOFF`] (5 min). Meanwhile an unknown `kid` is answered at once, without network.
//! - With a fresh cache an unknown `kid` starts a fetch only if the last one started at least
//!   `min_refetch_interval` ago.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::VerifyError;
use crate::jwks::{FetchedKeys, PinnedKey};

/// How long the verifier waits after a first failed fetch before trying again.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two fetches after failures (from the 10th consecutive one).
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The wait after `failures` consecutive failed fetches: 1 s, 2 s, 4 s, … capped at 5 min.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

/// Why a fetch was started (for the verifier's counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The cache is stale, or empty.
    Stale,
    /// A fresh cache lacks a token's `kid`.
    UnknownKid,
}

/// What a request does after looking up its `kid`.
pub enum Lookup {
    /// Verify with this key.
    Key(Arc<PinnedKey>),
    /// Wait for the fetch in flight to finish, then look up once more.
    Wait,
    /// Reject the token with this error.
    Fail(VerifyError),
}

/// The answer of [`KeyCache::lookup`]; when `start` is set the caller must run a fetch and
/// report it through [`KeyCache::finish`].
pub struct Plan {
    pub lookup: Lookup,
    pub start: Option<Reason>,
}

/// The cached keys and the state of their fetches.
#[derive(Default)]
pub struct KeyCache {
    /// Shared, so that serving a key under the lock is a reference count, not a copy.
    keys: HashMap<String, Arc<PinnedKey>>,
    /// When the keys go stale; `None` until a fetch first succeeds.
    fresh_until: Option<Instant>,
    in_flight: bool,
    last_started: Option<Instant>,
    /// Consecutive failed fetches, and when the next may start.
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<VerifyError>,
    /// Set at build time and never fetched (`VerifierBuilder::fixed_jwks`).
    fixed: bool,
}

impl KeyCache {
    /// A cache holding `keys` for good: it never starts a fetch.
    pub fn fixed(keys: HashMap<String, PinnedKey>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|(kid, key)| (kid, Arc::new(key)))
                .collect(),
            fixed: true,
            ..Self::default()
        }
    }

    /// Whether the keys were fixed at build time.
    pub fn is_fixed(&self) -> bool {
        self.fixed
    }

    /// Looks up `kid` at `now`. `waited` says the request already waited for a fetch: it then
    /// gets an answer, never a second wait.
    pub fn lookup(
        &mut self,
        kid: &str,
        now: Instant,
        min_refetch_interval: Duration,
        waited: bool,
    ) -> Plan {
        if self.fixed {
            let lookup = self
                .keys
                .get(kid)
                .cloned()
                .map_or(Lookup::Fail(VerifyError::UnknownKey), Lookup::Key);
            return Plan {
                lookup,
                start: None,
            };
        }
        let stale = self.fresh_until.is_none_or(|until| now >= until);
        let may_start = !self.in_flight && self.retry_at.is_none_or(|at| now >= at);
        if let Some(key) = self.keys.get(kid).cloned() {
            // A request that waited for this fetch got its keys: with `max-age=0` they are
            // stale already, and refetching at once would fetch twice per cold start.
            let start = (stale && may_start && !waited).then(|| self.begin(now, Reason::Stale));
            return Plan {
                lookup: Lookup::Key(key),
                start,
            };
        }
        if self.in_flight && !waited {
            return Plan {
                lookup: Lookup::Wait,
                start: None,
            };
        }
        let recent = self
            .last_started
            .is_some_and(|at| now.saturating_duration_since(at) < min_refetch_interval);
        if waited || !may_start || (!stale && recent) {
            return Plan {
                lookup: Lookup::Fail(self.unknown_key()),
                start: None,
            };
        }
        let reason = if stale {
            Reason::Stale
        } else {
            Reason::UnknownKid
        };
        Plan {
            lookup: Lookup::Wait,
            start: Some(self.begin(now, reason)),
        }
    }

    /// Starts a fetch whatever the cache and the backoff say, unless one is in flight.
    pub fn force(&mut self, now: Instant) -> bool {
        if self.in_flight {
            return false;
        }
        self.begin(now, Reason::Stale);
        true
    }

    /// Records the end of the fetch in flight.
    pub fn finish(&mut self, result: Result<FetchedKeys, VerifyError>, now: Instant) {
        self.in_flight = false;
        match result {
            Ok(fetched) => {
                self.keys = (fetched.keys.into_iter())
                    .map(|(kid, key)| (kid, Arc::new(key)))
                    .collect();
                self.fresh_until = Some(now + fetched.max_age);
                self.failures = 0;
                self.retry_at = None;
                self.last_error = None;
            }
            Err(err) => {
                self.failures = self.failures.saturating_add(1);
                self.retry_at = Some(now + backoff(self.failures));
                self.last_error = Some(err);
            }
        }
    }

    /// How the last fetch ended.
    pub fn last_outcome(&self) -> Result<(), VerifyError> {
        self.last_error
            .as_ref()
            .map_or(Ok(()), |err| Err(err.for_waiter()))
    }

    fn begin(&mut self, now: Instant, reason: Reason) -> Reason {
        self.in_flight = true;
        self.last_started = Some(now);
        reason
    }

    /// The rejection for a `kid` the cache lacks: `UnknownKey` once keys were fetched, else why
    /// they could not be.
    fn unknown_key(&self) -> VerifyError {
        match (&self.fresh_until, &self.last_error) {
            (Some(_), _) => VerifyError::UnknownKey,
            (None, Some(err)) => err.for_waiter(),
            (None, None) => VerifyError::KeysUnavailable("no signing keys fetched yet".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, DecodingKey};

    use super::*;

    const MIN: Duration = Duration::from_secs(10);

    fn fetched(kids: &[&str], max_age: u64) -> Result<FetchedKeys, VerifyError> {
        let key = PinnedKey {
            key: DecodingKey::from_secret(b"unused"),
            algorithm: Algorithm::ES256,
        };
        let keys = kids
            .iter()
            .map(|k| ((*k).to_owned(), key.clone()))
            .collect();
        Ok(FetchedKeys {
            keys,
            max_age: Duration::from_secs(max_age),
        })
    }

    fn failed() -> Result<FetchedKeys, VerifyError> {
        Err(VerifyError::KeysUnavailable("500".into()))
    }

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        let waits: Vec<u64> = (1..=11).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn a_stale_key_is_served_and_refetched_once() {
        let (mut cache, t0) = (KeyCache::default(), Instant::now());
        cache.force(t0);
        cache.finish(fetched(&["k"], 0), t0);
        let first = cache.lookup("k", t0, MIN, false);
        assert!(matches!(first.lookup, Lookup::Key(_)));
        assert_eq!(first.start, Some(Reason::Stale));
        let second = cache.lookup("k", t0, MIN, false);
        assert!(matches!(second.lookup, Lookup::Key(_)));
        assert_eq!(second.start, None, "single flight");
    }

    #[test]
    fn a_request_that_waited_for_a_fetch_does_not_start_another() {
        let (mut cache, t0) = (KeyCache::default(), Instant::now());
        assert!(cache.lookup("k", t0, MIN, false).start.is_some());
        cache.finish(fetched(&["k"], 0), t0);
        let plan = cache.lookup("k", t0, MIN, true);
        assert!(matches!(plan.lookup, Lookup::Key(_)));
        assert_eq!(plan.start, None);
    }

    #[test]
    fn after_a_failure_nothing_is_fetched_until_the_backoff_ends() {
        let (mut cache, t0) = (KeyCache::default(), Instant::now());
        cache.force(t0);
        cache.finish(fetched(&["k"], 0), t0);
        assert!(cache.lookup("k", t0, MIN, false).start.is_some());
        cache.finish(failed(), t0);
        assert_eq!(cache.lookup("k", t0, MIN, false).start, None);
        let unknown = cache.lookup("other", t0, Duration::ZERO, false);
        assert!(matches!(
            unknown.lookup,
            Lookup::Fail(VerifyError::UnknownKey)
        ));
        assert_eq!(unknown.start, None);
        let later = t0 + FIRST_BACKOFF;
        assert_eq!(
            cache.lookup("k", later, MIN, false).start,
            Some(Reason::Stale)
        );
    }

    #[test]
    fn an_unknown_kid_waits_for_one_fetch_at_most() {
        let (mut cache, t0) = (KeyCache::default(), Instant::now());
        let first = cache.lookup("k", t0, MIN, false);
        assert!(matches!(first.lookup, Lookup::Wait));
        assert_eq!(first.start, Some(Reason::Stale));
        assert!(matches!(
            cache.lookup("k", t0, MIN, false).lookup,
            Lookup::Wait
        ));
        cache.finish(fetched(&["k"], 60), t0);
        let later = t0 + MIN;
        let unknown = cache.lookup("new", later, MIN, false);
        assert_eq!(unknown.start, Some(Reason::UnknownKid));
        let after_wait = cache.lookup("new", later, MIN, true);
        assert!(matches!(
            after_wait.lookup,
            Lookup::Fail(VerifyError::UnknownKey)
        ));
        cache.finish(fetched(&["k"], 60), later);
        let soon = cache.lookup("new", later, MIN, false);
        assert!(matches!(soon.lookup, Lookup::Fail(VerifyError::UnknownKey)));
        assert_eq!(soon.start, None, "rate-limited");
    }

    #[test]
    fn a_fixed_cache_never_fetches() {
        let t0 = Instant::now();
        let mut cache = KeyCache::fixed(fetched(&["k"], 0).unwrap().keys);
        let known = cache.lookup("k", t0, Duration::ZERO, false);
        assert!(matches!(known.lookup, Lookup::Key(_)));
        let unknown = cache.lookup("other", t0 + MIN, Duration::ZERO, false);
        assert!(matches!(
            unknown.lookup,
            Lookup::Fail(VerifyError::UnknownKey)
        ));
        assert_eq!((known.start, unknown.start), (None, None));
    }

    #[test]
    fn without_keys_a_failure_is_reported_while_backing_off() {
        let (mut cache, t0) = (KeyCache::default(), Instant::now());
        assert!(cache.lookup("k", t0, MIN, false).start.is_some());
        cache.finish(failed(), t0);
        let plan = cache.lookup("k", t0, MIN, false);
        assert!(matches!(
            plan.lookup,
            Lookup::Fail(VerifyError::KeysUnavailable(_))
        ));
        assert_eq!(plan.start, None);
    }
}
