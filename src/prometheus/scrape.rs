//! Values read when `/metrics` is scraped: the database pool, the signing keys, the rate
//! limiters' refusals and the Appwrite circuit breaker. Reading them then costs nothing on the
//! request path and can never drift from the source.

use std::sync::Arc;

use metrics::Label;

use super::names;
use super::registry::Metrics;
use crate::appwrite::breaker::{CircuitBreaker, CircuitState};
use crate::domain::keys::KeyRing;
use crate::domain::model::keys::KeyState;
use crate::limiter::{LimitKind, RateLimits};
use crate::store::{BatchCounts, DatabaseHealth, PoolStatus};

const CIRCUIT_STATES: [CircuitState; 3] = [
    CircuitState::Closed,
    CircuitState::Open,
    CircuitState::HalfOpen,
];

const KEY_STATES: [KeyState; 3] = [KeyState::Next, KeyState::Active, KeyState::Retired];

impl Metrics {
    /// Reports the pool that `status` reads, at each scrape.
    pub fn watch_pool(&self, status: impl Fn() -> PoolStatus + Send + Sync + 'static) {
        let size = self.gauge(names::DB_POOL_SIZE, Vec::new());
        let idle = self.gauge(names::DB_POOL_IDLE, Vec::new());
        let max_size = self.gauge(names::DB_POOL_MAX, Vec::new());
        let waiting = self.gauge(names::DB_POOL_WAITING, Vec::new());
        self.on_scrape(move || {
            let now = status();
            size.set(as_f64(now.size));
            idle.set(as_f64(now.idle));
            max_size.set(as_f64(now.max_size));
            waiting.set(as_f64(now.waiting));
        });
    }

    /// Reports the rotation statements that `counts` reads and the rotations they carried, at
    /// each scrape: how much the refreshes under load share their round trips.
    pub fn watch_rotation_batches(&self, counts: impl Fn() -> BatchCounts + Send + Sync + 'static) {
        let batches = self.counter(names::DB_ROTATION_BATCHES, Vec::new());
        let attempts = self.counter(names::DB_ROTATION_ATTEMPTS, Vec::new());
        let withdrawn = self.counter(names::DB_ROTATION_WITHDRAWN, Vec::new());
        self.on_scrape(move || {
            let now = counts();
            batches.absolute(now.batches);
            attempts.absolute(now.items);
            withdrawn.absolute(now.withdrawn);
        });
    }

    /// Reports whether the database takes writes and how many outages began, as `health`
    /// reads them, at each scrape.
    pub fn watch_database(&self, health: impl Fn() -> DatabaseHealth + Send + Sync + 'static) {
        let writable = self.gauge(names::DB_WRITABLE, Vec::new());
        let outages = self.counter(names::DB_OUTAGES, Vec::new());
        self.on_scrape(move || {
            let now = health();
            writable.set(if now.writable { 1.0 } else { 0.0 });
            outages.absolute(now.outages);
        });
    }

    /// Reports how many keys of `ring` are in each state, at each scrape.
    pub fn watch_keys(&self, ring: KeyRing) {
        let gauges = KEY_STATES.map(|state| {
            let labels = vec![Label::from_static_parts("state", state.as_str())];
            (state, self.gauge(names::SIGNING_KEYS, labels))
        });
        self.on_scrape(move || {
            let keys = ring.current();
            for (state, gauge) in &gauges {
                let count = keys
                    .published()
                    .iter()
                    .filter(|k| k.state == *state)
                    .count();
                gauge.set(as_f64(count));
            }
        });
    }
}

impl Metrics {
    /// Reports the refusals of each rate limit, at each scrape.
    pub fn watch_rate_limits(&self, limits: Arc<RateLimits>) {
        let counters = LimitKind::ALL.map(|kind| (kind, self.rate_limited_counter(kind.label())));
        self.on_scrape(move || {
            for (kind, counter) in &counters {
                counter.absolute(limits.counters().rejected(*kind));
            }
        });
    }

    /// Reports the Appwrite circuit breaker at each scrape: its state (one gauge per state,
    /// 1 for the current one), how often it opened, and the exchanges it refused.
    pub fn watch_circuit(&self, breaker: Arc<CircuitBreaker>) {
        let states = CIRCUIT_STATES.map(|state| {
            let labels = vec![Label::from_static_parts("state", state.as_str())];
            (state, self.gauge(names::APPWRITE_CIRCUIT_STATE, labels))
        });
        let opened = self.counter(names::APPWRITE_CIRCUIT_OPENED, Vec::new());
        let refused = self.counter(names::APPWRITE_CIRCUIT_REFUSED, Vec::new());
        self.on_scrape(move || {
            let now = breaker.state();
            for (state, gauge) in &states {
                gauge.set(if *state == now { 1.0 } else { 0.0 });
            }
            opened.absolute(breaker.times_opened());
            refused.absolute(breaker.rejected_calls());
        });
    }
}

/// A count as a gauge value (exact far beyond any pool or key count).
fn as_f64(count: usize) -> f64 {
    f64::from(u32::try_from(count).unwrap_or(u32::MAX))
}
