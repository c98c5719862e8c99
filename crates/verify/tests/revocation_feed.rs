//! The verifier's revocation feed when the feed is unavailable: fail-open (the default) keeps
//! accepting and says how stale it is; fail-closed rejects until synced and once too stale.

// Test code: a failed unwrap is a failed test, with the error in its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Mode, Upstream, claims, feed_page, signing_key, token, until, verifier};
use serde_json::json;
use tokenmint_verify::{FeedFailurePolicy, VerifierBuilder, VerifyError};

const POLL: Duration = Duration::from_millis(100);

fn with_feed(upstream: &Upstream) -> VerifierBuilder {
    verifier(upstream, Duration::from_secs(30))
        .revocation_feed(POLL)
        .revocations_url(upstream.feed_url())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_rejects_until_synced_and_once_the_feed_is_too_stale() {
    let upstream = Upstream::start().await;
    let key = signing_key();
    upstream.publish(&key);
    upstream.set_feed(Mode::Fail);
    let verifier = with_feed(&upstream)
        .feed_failure_policy(FeedFailurePolicy::Closed {
            max_staleness: Duration::from_secs(1),
        })
        .build()
        .unwrap();
    let token = token(&key, &claims("u1", "s1"));

    until("a poll has failed", || verifier.feed_failures() >= 1).await;
    let result = verifier.verify(&token).await;
    assert!(
        matches!(result, Err(VerifyError::RevocationsUnavailable(_))),
        "before the first successful poll: {result:?}"
    );
    assert_eq!(verifier.revocations_synced_at(), None);

    upstream.set_feed(Mode::Serve);
    until("the feed is synced", || {
        verifier.revocations_synced_at().is_some()
    })
    .await;
    verifier.verify(&token).await.unwrap();

    // The feed now hangs: within `max_staleness` tokens are accepted, then rejected.
    upstream.set_feed(Mode::Hang);
    let hung_at = tokio::time::Instant::now();
    verifier.verify(&token).await.unwrap();
    tokio::time::sleep_until(hung_at + Duration::from_millis(1300)).await;
    let result = verifier.verify(&token).await;
    assert!(
        matches!(result, Err(VerifyError::RevocationsUnavailable(_))),
        "the feed is over 1 s stale: {result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_rejects_while_the_first_poll_hangs() {
    let upstream = Upstream::start().await;
    let key = signing_key();
    upstream.publish(&key);
    upstream.set_feed(Mode::Hang);
    let verifier = with_feed(&upstream)
        .feed_failure_policy(FeedFailurePolicy::Closed {
            max_staleness: Duration::from_secs(60),
        })
        .build()
        .unwrap();
    let token = token(&key, &claims("u1", "s1"));

    until("the first poll is under way", || upstream.feed_hits() >= 1).await;
    let result = tokio::time::timeout(Duration::from_secs(3), verifier.verify(&token))
        .await
        .expect("verify waited on the feed");
    assert!(
        matches!(result, Err(VerifyError::RevocationsUnavailable(_))),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_is_the_default_and_reports_how_stale_the_feed_is() {
    let upstream = Upstream::start().await;
    let key = signing_key();
    upstream.publish(&key);
    upstream.set_feed(Mode::Fail);
    let verifier = with_feed(&upstream).build().unwrap();
    let token = token(&key, &claims("u1", "s1"));

    until("a poll has failed", || verifier.feed_failures() >= 1).await;
    verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.revocations_synced_at(), None);

    upstream.set_feed(Mode::Serve);
    until("the feed is synced", || {
        verifier.revocations_synced_at().is_some()
    })
    .await;
    upstream.set_feed(Mode::Fail);
    let synced = verifier.revocations_synced_at();
    let failures = verifier.feed_failures();
    until("polls fail again", || {
        verifier.feed_failures() >= failures + 3
    })
    .await;
    verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.revocations_synced_at(), synced, "no sync since");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fail_closed_policy_needs_a_feed() {
    let upstream = Upstream::start().await;
    let result = verifier(&upstream, Duration::from_secs(30))
        .feed_failure_policy(FeedFailurePolicy::Closed {
            max_staleness: Duration::from_secs(60),
        })
        .build();
    assert!(matches!(result, Err(VerifyError::Config(_))));
}

/// A revoked session's entry outlives its `exp` by the verifier's leeway: a token of that
/// session is still accepted (as not yet expired) until then, so the entry must still reject it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_session_stays_revoked_while_its_tokens_are_within_the_leeway() {
    let upstream = Upstream::start().await;
    let key = signing_key();
    upstream.publish(&key);
    let now = tokenmint::clock::unix_now();
    let mut just_expired = claims("u1", "s-revoked");
    just_expired["iat"] = json!(now - 605);
    just_expired["exp"] = json!(now - 5); // within the default 30 s leeway
    upstream.set_feed_page(feed_page(
        json!([{ "sid": "s-revoked", "exp": now - 5 }]),
        json!([]),
    ));
    let verifier = with_feed(&upstream).build().unwrap();
    verifier.sync_revocations().await.unwrap();

    let result = verifier.verify(&token(&key, &just_expired)).await;
    assert!(matches!(result, Err(VerifyError::Revoked)), "{result:?}");
}

/// Entries of a newer server carry `exp`; the verifier reads it and still revokes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_entries_with_exp_revoke_older_tokens() {
    let upstream = Upstream::start().await;
    let key = signing_key();
    upstream.publish(&key);
    let now = tokenmint::clock::unix_now();
    let mut older = claims("u1", "s1");
    older["iat"] = json!(now - 10);
    upstream.set_feed_page(feed_page(
        json!([]),
        json!([{ "sub": "u1", "not_before": now - 5, "exp": now + 600 }]),
    ));
    let verifier = with_feed(&upstream).build().unwrap();
    verifier.sync_revocations().await.unwrap();

    let result = verifier.verify(&token(&key, &older)).await;
    assert!(matches!(result, Err(VerifyError::Revoked)), "{result:?}");
    verifier
        .verify(&token(&key, &claims("u1", "s2")))
        .await
        .unwrap();
}
