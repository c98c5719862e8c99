//! One app's metrics: the registry, its domain counters, and its scrape-time collectors.

use std::sync::{PoisonError, RwLock};

use metrics::{Counter, Gauge, Histogram, Key, Label, Recorder};
use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};

use super::counters::DomainMetrics;
use super::names::{self, DESCRIPTIONS};
use super::recorder::{METADATA, builder, register_counter};

/// `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often histogram samples are folded into their buckets between scrapes, so memory does
/// not grow when nobody scrapes.
pub const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

type Collector = Box<dyn Fn() + Send + Sync>;

/// One app's metrics: the registry, its domain counters, and its scrape-time collectors.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    pub(super) domain: DomainMetrics,
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
            domain: DomainMetrics::new(&recorder),
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
