//! The handles of the domain's counters, registered once per app.

use metrics::{Counter, Histogram, Recorder};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::names;
use super::recorder::{METADATA, register_counter};
use super::slots::Slots;
use crate::appwrite::webhook::EVENTS as WEBHOOK_EVENTS;
use crate::domain::error::InvalidGrantReason;
use crate::domain::events::{GrantType, IdentityOutcome, ReconcileOutcome, WebhookOutcome};
use crate::domain::model::sessions::RevocationReason;

/// `outcome` of `tokenmint_token_requests_total`: `issued`, or the OAuth error code answered.
pub(super) const TOKEN_OUTCOMES: [&str; 9] = [
    "issued",
    "invalid_request",
    "invalid_grant",
    "invalid_scope",
    "invalid_target",
    "unsupported_grant_type",
    "server_error",
    "temporarily_unavailable",
    "slow_down",
];

/// The handles of the domain's counters.
pub(super) struct DomainMetrics {
    pub(super) token_requests: Slots<Counter>,
    pub(super) invalid_grants: Slots<Counter>,
    pub(super) reuse_detected: Counter,
    pub(super) grace_hits: Counter,
    pub(super) grace_after_outage: Counter,
    pub(super) rolled_forward: Counter,
    pub(super) sessions_revoked: Slots<Counter>,
    pub(super) webhook_deliveries: Slots<Counter>,
    pub(super) appwrite_requests: Slots<Counter>,
    pub(super) appwrite_duration: Histogram,
    pub(super) appwrite_reconciled: Slots<Counter>,
}

impl DomainMetrics {
    /// The unlabelled metrics are registered now (so they read 0 before anything happens);
    /// labelled ones on the first use of each label set.
    pub(super) fn new(recorder: &PrometheusRecorder) -> Self {
        let grants = GrantType::ALL.len();
        Self {
            token_requests: Slots::new(grants * TOKEN_OUTCOMES.len()),
            invalid_grants: Slots::new(grants * InvalidGrantReason::ALL.len()),
            reuse_detected: register_counter(recorder, names::REUSE_DETECTED, Vec::new()),
            grace_hits: register_counter(recorder, names::GRACE_HITS, Vec::new()),
            grace_after_outage: register_counter(recorder, names::GRACE_AFTER_OUTAGE, Vec::new()),
            rolled_forward: register_counter(recorder, names::ROLLED_FORWARD, Vec::new()),
            sessions_revoked: Slots::new(RevocationReason::ALL.len()),
            webhook_deliveries: Slots::new((WEBHOOK_EVENTS.len() + 1) * WebhookOutcome::ALL.len()),
            appwrite_requests: Slots::new(IdentityOutcome::ALL.len()),
            appwrite_duration: recorder.register_histogram(
                &metrics::Key::from_name(names::APPWRITE_DURATION),
                &METADATA,
            ),
            appwrite_reconciled: Slots::new(ReconcileOutcome::ALL.len()),
        }
    }
}
