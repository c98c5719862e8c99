//! Values read when `/metrics` is scraped: the database pool and the signing keys. Reading
//! them then costs nothing on the request path and can never drift from the source.

use metrics::Label;

use super::{Metrics, names};
use crate::domain::keys::{KeyRing, KeyState};
use crate::store::PoolStatus;

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

/// A count as a gauge value (exact far beyond any pool or key count).
fn as_f64(count: usize) -> f64 {
    f64::from(u32::try_from(count).unwrap_or(u32::MAX))
}
