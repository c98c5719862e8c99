//! How handles are registered: the registry's histogram buckets and the metadata every
//! handle carries.

use metrics::{Counter, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

use super::names;

/// Buckets of request latencies, in seconds: a refresh takes about a millisecond, an
/// exchange waits for Appwrite, and the server gives up at 15 s.
const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0,
];
/// Buckets of Appwrite verifications, in seconds (the budget is 5 s by default, 60 s at most).
const APPWRITE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

pub(super) const METADATA: Metadata<'static> = Metadata::new("tokenmint", Level::INFO, None);

/// A registry builder with the histogram buckets set.
pub(super) fn builder() -> PrometheusBuilder {
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

/// The counter `name{labels}`, registered in `recorder`.
pub(super) fn register_counter(
    recorder: &PrometheusRecorder,
    name: &'static str,
    labels: Vec<Label>,
) -> Counter {
    recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
}
