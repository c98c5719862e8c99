//! Counters through the [`metrics`](https://docs.rs/metrics) facade, with the `metrics`
//! feature (off by default): the library only counts; the application installs a recorder
//! (e.g. `metrics-exporter-prometheus`) and decides where they go. Without the feature, or
//! without a recorder, these do nothing.
//!
//! - `tokenmint_verify_verifications_total{outcome}`: each `verify` call; `outcome` is
//!   `valid` or the [`VerifyError`] variant in snake case (`expired`, `revoked`, …).
//! - `tokenmint_verify_jwks_fetches_total{outcome}`: each JWKS fetch (discovery included),
//!   `ok` or `error`.
//! - `tokenmint_verify_feed_fetches_total{outcome}`: each page read from the revocation
//!   feed, `ok` or `error`.
//!
//! Label values come from these fixed sets only: never a token, a subject or a key id.

use crate::error::VerifyError;

/// Counts one verification.
pub(crate) fn verification<T>(result: &Result<T, VerifyError>) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "tokenmint_verify_verifications_total",
        "outcome" => result.as_ref().map_or_else(outcome, |_| "valid")
    )
    .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// Counts one JWKS fetch.
pub(crate) fn jwks_fetch<T>(result: &Result<T, VerifyError>) {
    #[cfg(feature = "metrics")]
    metrics::counter!("tokenmint_verify_jwks_fetches_total", "outcome" => ok_or_error(result))
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// Counts one read of a revocation-feed page.
pub(crate) fn feed_fetch<T>(result: &Result<T, VerifyError>) {
    #[cfg(feature = "metrics")]
    metrics::counter!("tokenmint_verify_feed_fetches_total", "outcome" => ok_or_error(result))
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

#[cfg(feature = "metrics")]
fn ok_or_error<T>(result: &Result<T, VerifyError>) -> &'static str {
    if result.is_ok() { "ok" } else { "error" }
}

/// The `outcome` label of a failed verification.
#[cfg(feature = "metrics")]
fn outcome(error: &VerifyError) -> &'static str {
    match error {
        VerifyError::TooLarge => "too_large",
        VerifyError::Malformed => "malformed",
        VerifyError::WrongType => "wrong_type",
        VerifyError::UnknownKey => "unknown_key",
        VerifyError::Invalid => "invalid",
        VerifyError::Expired => "expired",
        VerifyError::NotYetValid => "not_yet_valid",
        VerifyError::Revoked => "revoked",
        VerifyError::KeysUnavailable(_) => "keys_unavailable",
        // `verify` reports a refused feed as unavailable; kept together in one label.
        VerifyError::RevocationsUnavailable(_) | VerifyError::RevocationsUnauthorized(_) => {
            "revocations_unavailable"
        }
        VerifyError::Config(_) => "config",
    }
}
