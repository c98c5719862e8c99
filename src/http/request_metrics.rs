//! The HTTP request metrics: every answer counted by route template, method and status, with
//! its latency. The request envelope (`super::envelope`) records into them; `/metrics` shows
//! them with everything else in the registry.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::MatchedPath;
use axum::http::{Method, StatusCode};
use metrics::{Counter, Histogram, Label};

use crate::prometheus::slots::Slots;
use crate::prometheus::{Metrics, names};

/// `route` of requests that matched no route: raw paths are never labels.
const UNMATCHED: &str = "unmatched";

/// Methods with a slot of their own; any other is `other`.
const METHODS: [&str; 7] = ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"];
const OTHER_METHOD: &str = "other";

/// Statuses with a slot of their own: every status tokenmint answers. Others are counted too,
/// on the slower path that registers their handle on each request.
const STATUSES: [u16; 19] = [
    200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 500, 502, 503, 504,
];

/// The HTTP request metrics of one router.
pub struct HttpMetrics {
    metrics: Arc<Metrics>,
    /// Route template → row; the last row is [`UNMATCHED`].
    rows: HashMap<&'static str, usize>,
    routes: Vec<&'static str>,
    requests: Slots<Counter>,
    durations: Slots<Histogram>,
}

impl HttpMetrics {
    /// The metrics of a router serving `paths` (route templates).
    pub fn new(metrics: Arc<Metrics>, paths: &[&'static str]) -> Self {
        let mut routes: Vec<&'static str> = Vec::new();
        for path in paths {
            if !routes.contains(path) {
                routes.push(path);
            }
        }
        routes.push(UNMATCHED);
        let rows = routes.iter().enumerate().map(|(i, r)| (*r, i)).collect();
        let methods = METHODS.len() + 1;
        Self {
            metrics,
            rows,
            requests: Slots::new(routes.len() * methods * STATUSES.len()),
            durations: Slots::new(routes.len() * methods),
            routes,
        }
    }

    pub(super) fn row(&self, route: Option<&MatchedPath>) -> usize {
        route
            .and_then(|r| self.rows.get(r.as_str()).copied())
            .unwrap_or(self.routes.len() - 1)
    }

    pub(super) fn record(
        &self,
        row: usize,
        method: usize,
        status: StatusCode,
        elapsed: std::time::Duration,
    ) {
        let route = self.routes.get(row).copied().unwrap_or(UNMATCHED);
        let method_name = METHODS.get(method).copied().unwrap_or(OTHER_METHOD);
        let labels = || {
            vec![
                Label::from_static_parts("route", route),
                Label::from_static_parts("method", method_name),
            ]
        };
        let methods = METHODS.len() + 1;
        let column = STATUSES.iter().position(|s| *s == status.as_u16());
        let request_slot = column.map(|column| (row * methods + method) * STATUSES.len() + column);
        self.requests.with(
            request_slot,
            || {
                let mut labels = labels();
                labels.push(Label::new("status", status.as_str().to_owned()));
                self.metrics.counter(names::HTTP_REQUESTS, labels)
            },
            |counter| counter.increment(1),
        );
        self.durations.with(
            Some(row * methods + method),
            || self.metrics.histogram(names::HTTP_DURATION, labels()),
            |histogram| histogram.record(elapsed),
        );
    }
}

/// The method's column in the metric slots; every other method shares the last one.
pub(super) fn method_column(method: &Method) -> usize {
    METHODS
        .iter()
        .position(|m| *m == method.as_str())
        .unwrap_or(METHODS.len())
}
