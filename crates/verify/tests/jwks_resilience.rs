//! The verifier against a JWKS endpoint that hangs or fails: keys it already holds keep
//! serving without waiting on the network, fetches are single-flight, and failures back off.

// Test code: a failed unwrap is a failed test, with the error in its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Mode, Upstream, claims, signing_key, token, until, verifier};
use tokenmint_verify::{Claims, Verifier, VerifyError};

/// Far longer than any of these tests needs, far shorter than a hanging fetch (30 s): a verify
/// that waits on the hanging JWKS endpoint trips it.
const HANG_GUARD: Duration = Duration::from_secs(3);
const LONG_TIMEOUT: Duration = Duration::from_secs(30);

/// `n` verifies of `token` at once, each in its own task.
async fn verify_concurrently(
    verifier: &Verifier,
    token: &str,
    n: usize,
) -> Vec<Result<Claims, VerifyError>> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (verifier, token) = (verifier.clone(), token.to_owned());
        tasks.spawn(async move { verifier.verify(&token).await });
    }
    let mut results = Vec::with_capacity(n);
    while let Some(result) = tasks.join_next().await {
        results.push(result.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_keys_keep_serving_while_the_jwks_hangs() {
    let upstream = Upstream::start().await;
    let key = signing_key();
    upstream.publish(&key);
    upstream.set_max_age(0); // every fetched JWKS is stale at once
    let verifier = verifier(&upstream, LONG_TIMEOUT).build().unwrap();
    let token = token(&key, &claims("u1", "s1"));
    verifier.verify(&token).await.unwrap();
    assert_eq!(upstream.jwks_hits(), 1);

    upstream.set_jwks(Mode::Hang);
    let results = tokio::time::timeout(HANG_GUARD, verify_concurrently(&verifier, &token, 20))
        .await
        .expect("verifies of a known kid waited on the hanging JWKS endpoint");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // Counted when started: a verify that returns at once may leave its fetch still dialling.
    assert_eq!(verifier.jwks_fetches(), 2, "one background refetch");

    // The stale cache did start a background refetch: more verifies while it hangs neither
    // wait for it nor start another.
    until("the background refetch reaches the server", || {
        upstream.jwks_hits() >= 2
    })
    .await;
    let results = tokio::time::timeout(HANG_GUARD, verify_concurrently(&verifier, &token, 20))
        .await
        .expect("verifies waited on the hanging refetch");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(verifier.jwks_fetches(), 2, "single flight");
    // Time for any other fetch to reach the server, which saw one request while hanging.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(upstream.jwks_hits(), 2, "single flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_jwks_is_retried_with_backoff_while_stale_keys_serve() {
    let upstream = Upstream::start().await;
    let key = signing_key();
    upstream.publish(&key);
    upstream.set_max_age(0);
    let verifier = verifier(&upstream, LONG_TIMEOUT).build().unwrap();
    let token = token(&key, &claims("u1", "s1"));
    verifier.verify(&token).await.unwrap();

    upstream.set_jwks(Mode::Fail);
    // About two seconds of steady traffic with a stale cache and a failing endpoint.
    for _ in 0..40 {
        verifier.verify(&token).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let attempts = upstream.jwks_hits() - 1;
    // Backing off from 1 s that is 2 attempts (at 0 s and 1 s); without backoff it is 40.
    assert!(
        (1..=4).contains(&attempts),
        "{attempts} fetch attempts in 40 verifies"
    );

    // Once the endpoint recovers, the next refetch after the backoff brings a new key.
    let rotated = signing_key();
    upstream.publish(&rotated);
    upstream.set_jwks(Mode::Serve);
    let new_token = common::token(&rotated, &claims("u2", "s2"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Err(err) = verifier.verify(&new_token).await {
        assert!(matches!(err, VerifyError::UnknownKey), "{err:?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new key never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_share_one_fetch_and_back_off_while_the_jwks_hangs() {
    let upstream = Upstream::start().await;
    let key = signing_key();
    upstream.publish(&key);
    // A short client timeout: an unknown kid may wait for the one shared fetch, which gives
    // up after 1 s here. No refetch rate limit: only single flight and backoff are tested.
    let verifier = verifier(&upstream, Duration::from_secs(1))
        .min_refetch_interval(Duration::ZERO)
        .build()
        .unwrap();
    let known = token(&key, &claims("u1", "s1"));
    verifier.verify(&known).await.unwrap();

    upstream.set_jwks(Mode::Hang);
    let unknown = token(&signing_key(), &claims("u1", "s1"));
    let guarded = tokio::time::timeout(HANG_GUARD, async {
        let unknowns = verify_concurrently(&verifier, &unknown, 20);
        // A known kid does not wait for the fetch the unknown ones wait for.
        let known = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            tokio::time::timeout(Duration::from_millis(500), verifier.verify(&known)).await
        };
        tokio::join!(unknowns, known)
    });
    let (results, known_result) = guarded
        .await
        .expect("each unknown kid queued its own fetch");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(VerifyError::UnknownKey))),
        "{results:?}"
    );
    assert!(matches!(known_result, Ok(Ok(_))), "{known_result:?}");
    assert_eq!(
        upstream.jwks_hits(),
        2,
        "one shared fetch for 20 unknown kids"
    );

    // The fetch failed (timed out): backing off, unknown kids are answered at once.
    for _ in 0..10 {
        let result = tokio::time::timeout(Duration::from_millis(500), verifier.verify(&unknown))
            .await
            .expect("an unknown kid waited while backing off");
        assert!(matches!(result, Err(VerifyError::UnknownKey)), "{result:?}");
    }
    assert_eq!(upstream.jwks_hits(), 2, "no fetch while backing off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_verifies_share_one_fetch() {
    let upstream = Upstream::start().await;
    let key = signing_key();
    upstream.publish(&key);
    let verifier = verifier(&upstream, LONG_TIMEOUT).build().unwrap();
    let token = token(&key, &claims("u1", "s1"));

    let results = tokio::time::timeout(HANG_GUARD, verify_concurrently(&verifier, &token, 20))
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(upstream.jwks_hits(), 1);
    assert_eq!(verifier.jwks_fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_keys_yet_a_failing_jwks_is_not_hammered() {
    let upstream = Upstream::start().await;
    let key = signing_key();
    upstream.publish(&key);
    upstream.set_jwks(Mode::Fail);
    let verifier = verifier(&upstream, LONG_TIMEOUT).build().unwrap();
    let token = token(&key, &claims("u1", "s1"));

    let first = verifier.verify(&token).await;
    assert!(
        matches!(first, Err(VerifyError::KeysUnavailable(_))),
        "{first:?}"
    );
    assert_eq!(upstream.jwks_hits(), 1);
    for _ in 0..10 {
        let result = verifier.verify(&token).await;
        assert!(
            matches!(result, Err(VerifyError::KeysUnavailable(_))),
            "{result:?}"
        );
    }
    assert_eq!(upstream.jwks_hits(), 1, "no fetch while backing off");

    upstream.set_jwks(Mode::Serve);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while verifier.verify(&token).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(upstream.jwks_hits(), 2, "one retry after the backoff");
}
