//! The Prometheus adapter: one registry per [`App`](crate::App), the domain's
//! [`Events`](crate::domain::events::Events) port counted into it, and the values read at
//! scrape time (database pool, signing keys, and whatever else registers a collector).
//!
//! There is no global recorder: each `Metrics` owns a `PrometheusRecorder` and registers its
//! handles from it, so several apps in one process (the tests) each count only their own
//! traffic. Handles are registered once — at start-up, or on the first use of a label set (see
//! [`slots`]) — and then incremented through atomics: no lock, no allocation and no key
//! hashing on the request path.
//!
//! Every label value comes from a bounded set (enums, route templates, status codes): never
//! a user id, session id, client id, token, IP address or raw path. docs/reference/metrics.md
//! lists every metric.
//!
//! # Scrape-time collectors
//!
//! Values that already live somewhere else are read when `/metrics` is scraped rather than
//! mirrored on every change: [`Metrics::watch_pool`], [`Metrics::watch_keys`], and any closure
//! given to [`Metrics::on_scrape`]; the rate limiters' refusals and the Appwrite circuit
//! breaker arrive that way too ([`Metrics::watch_rate_limits`], [`Metrics::watch_circuit`]):
//! they keep their own atomic counters.

mod counters;
mod events;
pub mod names;
mod recorder;
mod registry;
mod scrape;
pub(crate) mod slots;

pub use self::registry::{CONTENT_TYPE, Metrics, UPKEEP_INTERVAL, keep_up};
