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

mod events;
mod scrape;
pub(crate) mod slots;

use std::sync::{PoisonError, RwLock};

use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often histogram samples are folded into their buckets between scrapes, so memory does
/// not grow when nobody scrapes.
pub const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The metric names.
pub mod names {
    /// Counter `{route, method, status}`.
    pub const HTTP_REQUESTS: &str = "tokenmint_http_requests_total";
    /// Histogram `{route, method}`.
    pub const HTTP_DURATION: &str = "tokenmint_http_request_duration_seconds";
    /// Counter `{grant, outcome}`.
    pub const TOKEN_REQUESTS: &str = "tokenmint_token_requests_total";
    /// Counter `{grant, reason}`.
    pub const INVALID_GRANTS: &str = "tokenmint_invalid_grants_total";
    /// Counter.
    pub const REUSE_DETECTED: &str = "tokenmint_refresh_reuse_detected_total";
    /// Counter.
    pub const GRACE_HITS: &str = "tokenmint_refresh_grace_hits_total";
    /// Counter.
    pub const GRACE_AFTER_OUTAGE: &str = "tokenmint_refresh_grace_after_outage_total";
    /// Counter.
    pub const ROLLED_FORWARD: &str = "tokenmint_refresh_rolled_forward_total";
    /// Counter `{reason}`.
    pub const SESSIONS_REVOKED: &str = "tokenmint_sessions_revoked_total";
    /// Counter `{event, outcome}`.
    pub const WEBHOOK_DELIVERIES: &str = "tokenmint_webhook_deliveries_total";
    /// Counter `{outcome}`.
    pub const APPWRITE_REQUESTS: &str = "tokenmint_appwrite_requests_total";
    /// Histogram.
    pub const APPWRITE_DURATION: &str = "tokenmint_appwrite_request_duration_seconds";
    /// Counter `{outcome}`.
    pub const APPWRITE_RECONCILED: &str = "tokenmint_appwrite_reconcile_checks_total";
    /// Counter `{limit}`.
    pub const RATE_LIMITED: &str = "tokenmint_rate_limited_total";
    /// Gauge `{state}`.
    pub const SIGNING_KEYS: &str = "tokenmint_signing_keys";
    /// Gauge.
    pub const DB_POOL_SIZE: &str = "tokenmint_db_pool_connections";
    /// Gauge.
    pub const DB_POOL_IDLE: &str = "tokenmint_db_pool_idle_connections";
    /// Gauge.
    pub const DB_POOL_MAX: &str = "tokenmint_db_pool_max_connections";
    /// Gauge.
    pub const DB_POOL_WAITING: &str = "tokenmint_db_pool_waiting";
    /// Counter (PostgreSQL only).
    pub const DB_ROTATION_BATCHES: &str = "tokenmint_db_rotation_batches_total";
    /// Counter (PostgreSQL only).
    pub const DB_ROTATION_ATTEMPTS: &str = "tokenmint_db_rotation_attempts_total";
    /// Counter (PostgreSQL only).
    pub const DB_ROTATION_WITHDRAWN: &str = "tokenmint_db_rotation_withdrawn_total";
    /// Gauge, 1 or 0.
    pub const DB_WRITABLE: &str = "tokenmint_db_writable";
    /// Counter.
    pub const DB_OUTAGES: &str = "tokenmint_db_outages_total";
    /// Gauge `{version}`, always 1.
    pub const BUILD_INFO: &str = "tokenmint_build_info";
    /// Gauge `{state}`: 1 for the circuit breaker's current state, 0 for the others.
    pub const APPWRITE_CIRCUIT_STATE: &str = "tokenmint_appwrite_circuit_state";
    /// Counter.
    pub const APPWRITE_CIRCUIT_OPENED: &str = "tokenmint_appwrite_circuit_opened_total";
    /// Counter.
    pub const APPWRITE_CIRCUIT_REFUSED: &str = "tokenmint_appwrite_circuit_refused_total";
}

/// `# HELP` of each metric.
const DESCRIPTIONS: &[(&str, &str)] = &[
    (
        names::HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status",
    ),
    (
        names::HTTP_DURATION,
        "Time to answer an HTTP request (to the response head), by route template and method",
    ),
    (
        names::TOKEN_REQUESTS,
        "Grants of POST /oauth/token by outcome: issued, or the OAuth error code answered",
    ),
    (names::INVALID_GRANTS, "invalid_grant answers by reason"),
    (
        names::REUSE_DETECTED,
        "Used refresh tokens presented after the grace window (each revokes its session)",
    ),
    (
        names::GRACE_HITS,
        "Used refresh tokens presented again within the grace window (answered with the same successor)",
    ),
    (
        names::GRACE_AFTER_OUTAGE,
        "Used refresh tokens presented after the grace window and still answered with the same successor, because an outage began within the window",
    ),
    (
        names::ROLLED_FORWARD,
        "Sessions moved forward to a refresh token of a later generation than the stored one: rotations the database had lost (a failover of asynchronous replication, a restored backup)",
    ),
    (names::SESSIONS_REVOKED, "Live sessions revoked, by reason"),
    (
        names::WEBHOOK_DELIVERIES,
        "Appwrite webhook deliveries by deciding event and outcome",
    ),
    (
        names::APPWRITE_REQUESTS,
        "Verifications of a session proof with Appwrite, by outcome",
    ),
    (
        names::APPWRITE_DURATION,
        "Time of a verification with Appwrite, retry included",
    ),
    (
        names::APPWRITE_RECONCILED,
        "Users the reconciler asked Appwrite about, by outcome (unavailable: nothing revoked)",
    ),
    (
        names::RATE_LIMITED,
        "Requests refused by a rate limit, by limit",
    ),
    (names::SIGNING_KEYS, "Signing keys loaded, by state"),
    (names::DB_POOL_SIZE, "Open database connections"),
    (names::DB_POOL_IDLE, "Idle database connections"),
    (
        names::DB_POOL_MAX,
        "Largest number of database connections the pool opens",
    ),
    (
        names::DB_POOL_WAITING,
        "Requests waiting for a database connection",
    ),
    (
        names::DB_ROTATION_BATCHES,
        "Rotation statements sent to PostgreSQL, each carrying the rotations of the refreshes waiting at the time",
    ),
    (
        names::DB_ROTATION_ATTEMPTS,
        "Refresh-token rotations those statements carried, won or lost (divided by the batches: the mean batch size)",
    ),
    (
        names::DB_ROTATION_WITHDRAWN,
        "Rotations withdrawn before any statement carried them, because their request had given up (its deadline passed)",
    ),
    (
        names::DB_WRITABLE,
        "1 while this replica's last attempt to write to the database worked (what /readyz reports), 0 during an outage",
    ),
    (
        names::DB_OUTAGES,
        "Database outages this replica saw begin: operations that found the database unreachable, unresponsive or read-only",
    ),
    (names::BUILD_INFO, "The running tokenmint's version"),
    (
        names::APPWRITE_CIRCUIT_STATE,
        "The Appwrite circuit breaker's state: 1 for the current one (closed, open, half_open)",
    ),
    (
        names::APPWRITE_CIRCUIT_OPENED,
        "Times the Appwrite circuit breaker opened after consecutive failures",
    ),
    (
        names::APPWRITE_CIRCUIT_REFUSED,
        "Exchanges answered 503 at once because the Appwrite circuit was open",
    ),
];

/// Buckets of request latencies, in seconds: a refresh takes about a millisecond, an
/// exchange waits for Appwrite, and the server gives up at 15 s.
const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0,
];
/// Buckets of Appwrite verifications, in seconds (the budget is 5 s by default, 60 s at most).
const APPWRITE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

const METADATA: Metadata<'static> = Metadata::new("tokenmint", Level::INFO, None);

type Collector = Box<dyn Fn() + Send + Sync>;

/// One app's metrics: the registry, its domain counters, and its scrape-time collectors.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    domain: events::DomainMetrics,
    collectors: RwLock<Vec<Collector>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry of its own, with every metric described.
    pub fn new() -> Self {
        let recorder = builder().build_recorder();
        for (name, help) in DESCRIPTIONS {
            // One call describes a name whatever its kind.
            recorder.describe_counter((*name).into(), None, (*help).into());
        }
        let handle = recorder.handle();
        let metrics = Self {
            domain: events::DomainMetrics::new(&recorder),
            recorder,
            handle,
            collectors: RwLock::new(Vec::new()),
        };
        metrics
            .gauge(
                names::BUILD_INFO,
                vec![Label::from_static_parts(
                    "version",
                    env!("CARGO_PKG_VERSION"),
                )],
            )
            .set(1.0);
        metrics
    }

    /// The text exposition of every metric, after running the scrape-time collectors.
    pub fn render(&self) -> String {
        for collect in self
            .collectors
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            collect();
        }
        self.handle.render()
    }

    /// Folds recorded histogram samples into their buckets; run it every
    /// [`UPKEEP_INTERVAL`] (a scrape does it too).
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// Runs `collect` before each rendering, to set values read at scrape time (through
    /// handles it registered beforehand, e.g. from [`Metrics::rate_limited_counter`]).
    pub fn on_scrape(&self, collect: impl Fn() + Send + Sync + 'static) {
        self.collectors
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(collect));
    }

    /// `tokenmint_rate_limited_total{limit}`: increment it per rejection, or set it with
    /// `absolute` from a collector. `limit` names one of a fixed set of limits.
    pub fn rate_limited_counter(&self, limit: &'static str) -> Counter {
        self.counter(
            names::RATE_LIMITED,
            vec![Label::from_static_parts("limit", limit)],
        )
    }

    /// The counter `name{labels}`, registered in this app's registry.
    pub(crate) fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        register_counter(&self.recorder, name, labels)
    }

    /// The histogram `name{labels}`, registered in this app's registry.
    pub(crate) fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.recorder
            .register_histogram(&Key::from_parts(name, labels), &METADATA)
    }

    /// The gauge `name{labels}`, registered in this app's registry.
    pub(crate) fn gauge(&self, name: &'static str, labels: Vec<Label>) -> Gauge {
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &METADATA)
    }
}

/// Runs [`Metrics::run_upkeep`] every [`UPKEEP_INTERVAL`], so that histogram samples do not
/// pile up however rarely `/metrics` is scraped. Runs until aborted.
pub async fn keep_up(metrics: std::sync::Arc<Metrics>) {
    let mut ticker = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        ticker.tick().await;
        metrics.run_upkeep();
    }
}

fn builder() -> PrometheusBuilder {
    let buckets = [
        (names::HTTP_DURATION, HTTP_BUCKETS),
        (names::APPWRITE_DURATION, APPWRITE_BUCKETS),
    ];
    buckets
        .into_iter()
        .fold(PrometheusBuilder::new(), |builder, (name, values)| {
            // Only fails for an empty bucket list, and these are constants.
            builder
                .set_buckets_for_metric(Matcher::Full(name.to_owned()), values)
                .unwrap_or_else(|_| PrometheusBuilder::new())
        })
}

fn register_counter(
    recorder: &PrometheusRecorder,
    name: &'static str,
    labels: Vec<Label>,
) -> Counter {
    recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_registries_count_apart() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.rate_limited_counter("ip").increment(3);
        assert!(
            a.render()
                .contains("tokenmint_rate_limited_total{limit=\"ip\"} 3")
        );
        assert!(!b.render().contains("tokenmint_rate_limited_total"));
    }

    #[test]
    fn latencies_render_as_histograms_with_buckets() {
        let metrics = Metrics::new();
        metrics
            .histogram(names::HTTP_DURATION, Vec::new())
            .record(0.002);
        let text = metrics.render();
        assert!(
            text.contains("tokenmint_http_request_duration_seconds_bucket{le=\"0.0025\"} 1"),
            "{text}"
        );
        assert!(text.contains("# TYPE tokenmint_http_request_duration_seconds histogram"));
    }

    #[test]
    fn a_collector_runs_at_each_scrape() {
        let metrics = Metrics::new();
        let counter = metrics.rate_limited_counter("admin_key");
        let scrapes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = std::sync::Arc::clone(&scrapes);
        metrics.on_scrape(move || {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            counter.absolute(n * 10);
        });
        metrics.render();
        let text = metrics.render();
        assert!(
            text.contains("tokenmint_rate_limited_total{limit=\"admin_key\"} 20"),
            "{text}"
        );
    }
}
