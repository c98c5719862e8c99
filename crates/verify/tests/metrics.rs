//! With the `metrics` feature, verifications, JWKS fetches and feed reads are counted through
//! the `metrics` facade into the recorder the application installs (here a local one).

// Test code: a failed unwrap is a failed test, with the error in its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "metrics")]

mod common;

use std::time::Duration;

use common::{Mode, Upstream, claims, signing_key, token, verifier};
use metrics_exporter_prometheus::PrometheusBuilder;

/// A line of the text exposition, e.g. `name{outcome="valid"} 2`.
fn has(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

// One thread: the verifier's fetches run in tasks of their own, which must see the
// thread-local recorder too.
#[tokio::test(flavor = "current_thread")]
async fn verifications_and_fetches_are_counted_by_outcome() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let upstream = Upstream::start().await;
    let key = signing_key();
    upstream.publish(&key);
    upstream.set_feed(Mode::Fail);
    let verifier = verifier(&upstream, Duration::from_secs(5))
        .revocation_feed(Duration::from_secs(3600))
        .revocations_url(upstream.feed_url())
        .build()
        .unwrap();
    let valid = token(&key, &claims("u1", "s1"));
    let mut expired = claims("u1", "s1");
    expired["exp"] = serde_json::json!(1_000_000);

    verifier.verify(&valid).await.unwrap();
    verifier.verify(&valid).await.unwrap();
    assert!(verifier.verify(&token(&key, &expired)).await.is_err());
    assert!(verifier.verify("not a token").await.is_err());
    assert!(verifier.sync_revocations().await.is_err());

    let text = handle.render();
    for line in [
        r#"tokenmint_verify_verifications_total{outcome="valid"} 2"#,
        r#"tokenmint_verify_verifications_total{outcome="expired"} 1"#,
        r#"tokenmint_verify_verifications_total{outcome="malformed"} 1"#,
        r#"tokenmint_verify_jwks_fetches_total{outcome="ok"} 1"#,
    ] {
        assert!(has(&text, line), "{line} in\n{text}");
    }
    // The background poll at start-up failed too, or is still to run: one or two reads.
    let failed_reads = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"tokenmint_verify_feed_fetches_total{outcome="error"} "#))
        .expect("failed feed reads are counted");
    assert!(["1", "2"].contains(&failed_reads), "{text}");
    assert!(!text.contains("u1") && !text.contains("s1"), "{text}");
}
