//! The domain's events, counted: the [`Events`] port implemented over this app's registry.

use std::time::Duration;

use metrics::Label;

use super::counters::TOKEN_OUTCOMES;
use super::names;
use super::registry::Metrics;
use super::slots::position;
use crate::appwrite::webhook::EVENTS as WEBHOOK_EVENTS;
use crate::domain::error::{InvalidGrantReason, TokenError};
use crate::domain::events::{Events, GrantType, IdentityOutcome, ReconcileOutcome, WebhookOutcome};
use crate::domain::model::sessions::RevocationReason;

/// `event` of a delivery that names no event tokenmint acts on (or was not authenticated).
const NO_EVENT: &str = "none";

/// The index of `(row, column)` in a table with `columns` columns.
fn cell(row: Option<usize>, column: Option<usize>, columns: usize) -> Option<usize> {
    Some(row? * columns + column?)
}

fn label(key: &'static str, value: &'static str) -> Label {
    Label::from_static_parts(key, value)
}

impl Events for Metrics {
    fn grant_completed(&self, grant: GrantType, outcome: Result<(), &TokenError>) {
        let domain = &self.domain;
        let grant_index = position(&GrantType::ALL, &grant);
        let code = outcome.map_or_else(TokenError::error_code, |()| "issued");
        domain.token_requests.with(
            cell(
                grant_index,
                position(&TOKEN_OUTCOMES, &code),
                TOKEN_OUTCOMES.len(),
            ),
            || {
                let labels = vec![label("grant", grant.as_str()), label("outcome", code)];
                self.counter(names::TOKEN_REQUESTS, labels)
            },
            |counter| counter.increment(1),
        );
        if let Err(TokenError::InvalidGrant(reason)) = outcome {
            let reasons = &InvalidGrantReason::ALL;
            domain.invalid_grants.with(
                cell(grant_index, position(reasons, reason), reasons.len()),
                || {
                    let labels = vec![
                        label("grant", grant.as_str()),
                        label("reason", reason.as_str()),
                    ];
                    self.counter(names::INVALID_GRANTS, labels)
                },
                |counter| counter.increment(1),
            );
        }
    }

    fn refresh_reuse_detected(&self) {
        self.domain.reuse_detected.increment(1);
    }

    fn grace_window_hit(&self) {
        self.domain.grace_hits.increment(1);
    }

    fn grace_window_hit_after_outage(&self) {
        self.domain.grace_after_outage.increment(1);
    }

    fn refresh_rolled_forward(&self) {
        self.domain.rolled_forward.increment(1);
    }

    fn sessions_revoked(&self, reason: RevocationReason, count: usize) {
        if count == 0 {
            return;
        }
        self.domain.sessions_revoked.with(
            position(&RevocationReason::ALL, &reason),
            || {
                self.counter(
                    names::SESSIONS_REVOKED,
                    vec![label("reason", reason.as_str())],
                )
            },
            |counter| counter.increment(u64::try_from(count).unwrap_or(u64::MAX)),
        );
    }

    fn webhook_delivered(&self, event: Option<&'static str>, outcome: WebhookOutcome) {
        // An event outside the known set would be a bug; it is still never used as a label.
        let event_index = match event {
            Some(event) => position(&WEBHOOK_EVENTS, &event),
            None => Some(WEBHOOK_EVENTS.len()),
        };
        let event = event_index
            .and_then(|i| WEBHOOK_EVENTS.get(i).copied())
            .unwrap_or(NO_EVENT);
        let outcomes = &WebhookOutcome::ALL;
        self.domain.webhook_deliveries.with(
            cell(event_index, position(outcomes, &outcome), outcomes.len()),
            || {
                let labels = vec![label("event", event), label("outcome", outcome.as_str())];
                self.counter(names::WEBHOOK_DELIVERIES, labels)
            },
            |counter| counter.increment(1),
        );
    }

    fn identity_verified(&self, outcome: IdentityOutcome, elapsed: Duration) {
        self.domain.appwrite_requests.with(
            position(&IdentityOutcome::ALL, &outcome),
            || {
                self.counter(
                    names::APPWRITE_REQUESTS,
                    vec![label("outcome", outcome.as_str())],
                )
            },
            |counter| counter.increment(1),
        );
        self.domain.appwrite_duration.record(elapsed);
    }

    fn appwrite_reconciled(&self, outcome: ReconcileOutcome) {
        self.domain.appwrite_reconciled.with(
            position(&ReconcileOutcome::ALL, &outcome),
            || {
                self.counter(
                    names::APPWRITE_RECONCILED,
                    vec![label("outcome", outcome.as_str())],
                )
            },
            |counter| counter.increment(1),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_has_its_slot() {
        let errors = [
            TokenError::invalid_request("x"),
            TokenError::invalid_grant(InvalidGrantReason::UnknownToken),
            TokenError::InvalidScope("x".into()),
            TokenError::InvalidTarget("x".into()),
            TokenError::UnsupportedGrantType,
            TokenError::ExchangeNotConfigured,
            TokenError::NoSigningKey,
            TokenError::SlowDown { retry_after: 1 },
        ];
        for error in &errors {
            assert!(
                TOKEN_OUTCOMES.contains(&error.error_code()),
                "{}",
                error.error_code()
            );
        }
    }

    #[test]
    fn an_invalid_grant_counts_its_outcome_and_its_reason() {
        let metrics = Metrics::new();
        let reuse = TokenError::invalid_grant(InvalidGrantReason::TokenReuse);
        metrics.grant_completed(GrantType::RefreshToken, Err(&reuse));
        metrics.grant_completed(GrantType::RefreshToken, Ok(()));
        metrics.grant_completed(GrantType::RefreshToken, Ok(()));
        let text = metrics.render();
        for line in [
            r#"tokenmint_token_requests_total{grant="refresh_token",outcome="invalid_grant"} 1"#,
            r#"tokenmint_token_requests_total{grant="refresh_token",outcome="issued"} 2"#,
            r#"tokenmint_invalid_grants_total{grant="refresh_token",reason="refresh_token_reuse"} 1"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn webhook_events_outside_the_known_set_are_labelled_none() {
        let metrics = Metrics::new();
        metrics.webhook_delivered(None, WebhookOutcome::Ignored);
        metrics.webhook_delivered(Some("users.*.delete"), WebhookOutcome::Applied);
        let text = metrics.render();
        assert!(
            text.contains(
                r#"tokenmint_webhook_deliveries_total{event="none",outcome="ignored"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(
            r#"tokenmint_webhook_deliveries_total{event="users.*.delete",outcome="applied"} 1"#
        ));
    }
}
