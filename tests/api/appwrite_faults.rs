//! Appwrite misbehaving: truncated answers, and a circuit breaker that stops calling an
//! Appwrite that keeps failing, so exchanges fail at once (503 + `Retry-After`) instead of each
//! waiting out the Appwrite timeout. (Status codes, garbage, stalls, dropped and refused
//! connections, 429: tests/api/exchange.rs.)

use std::time::Duration;

use tokenmint::appwrite::breaker::{COOL_DOWN, FAILURES_TO_OPEN};
use tokenmint_fake_appwrite::Failure;

use crate::helpers::Backend;
use crate::oauth_helpers::{Harness, JWT_TYPE, oauth_error, tokens};

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_truncated_appwrite_answer_is_temporarily_unavailable() {
    let harness = Harness::start(Backend::Sqlite).await;
    let user = harness.signed_in("u1");
    harness.appwrite.fail_with(Some(Failure::Truncated));
    let response = harness.app.exchange(JWT_TYPE, &user.jwt, &[]).await;
    assert!(retry_after(&response) >= 1);
    let (status, error, body) = oauth_error(response).await;
    assert_eq!(
        (status, error.as_str()),
        (503, "temporarily_unavailable"),
        "{body}"
    );
    assert_eq!(harness.count("select count(*) from sessions").await, 0);
}

/// Ten failures in a row open the circuit: the next exchanges are answered 503 without a call
/// to Appwrite, until the cool-down ends and one probe finds it healthy again. Refresh, which
/// never calls Appwrite, is not affected. `/metrics` shows the circuit's state.
#[tokio::test]
async fn a_failing_appwrite_opens_the_circuit_until_a_probe_succeeds() {
    let harness = Harness::start(Backend::Sqlite).await;
    let user = harness.signed_in("u1");
    let session = tokens(harness.app.exchange(JWT_TYPE, &user.jwt, &[]).await).await;
    harness.appwrite.fail_with(Some(Failure::Status(503)));
    for _ in 0..FAILURES_TO_OPEN {
        let (status, ..) = oauth_error(harness.app.exchange(JWT_TYPE, &user.jwt, &[]).await).await;
        assert_eq!(status, 503);
    }
    let calls = harness.appwrite.requests().len();

    harness.appwrite.fail_with(None);
    let refused = harness.app.exchange(JWT_TYPE, &user.jwt, &[]).await;
    let wait = retry_after(&refused);
    assert!(
        (1..=COOL_DOWN.as_secs()).contains(&wait),
        "Retry-After {wait}"
    );
    let (status, error, _) = oauth_error(refused).await;
    assert_eq!((status, error.as_str()), (503, "temporarily_unavailable"));
    assert_eq!(
        harness.appwrite.requests().len(),
        calls,
        "an open circuit does not call Appwrite"
    );
    let refreshed = harness.app.refresh(&session.refresh_token).await;
    assert_eq!(refreshed.status(), 200, "refresh does not need Appwrite");
    let open = harness.app.scrape().await;
    let state = |scrape: &crate::metrics_helpers::Scrape, state| {
        scrape.value("tokenmint_appwrite_circuit_state", &[("state", state)])
    };
    assert_eq!((state(&open, "open"), state(&open, "closed")), (1.0, 0.0));
    assert_eq!(
        open.value("tokenmint_appwrite_circuit_opened_total", &[]),
        1.0
    );
    assert_eq!(
        open.value("tokenmint_appwrite_circuit_refused_total", &[]),
        1.0
    );

    tokio::time::sleep(COOL_DOWN + Duration::from_millis(200)).await;
    tokens(harness.app.exchange(JWT_TYPE, &user.jwt, &[]).await).await;
    tokens(harness.app.exchange(JWT_TYPE, &user.jwt, &[]).await).await;
    assert_eq!(harness.appwrite.requests().len(), calls + 2);
    let closed = harness.app.scrape().await;
    assert_eq!(
        (state(&closed, "open"), state(&closed, "closed")),
        (0.0, 1.0)
    );
}

/// Rejections are answers: a flood of bad proofs says Appwrite is alive and never opens the
/// circuit for everyone else.
#[tokio::test]
async fn rejected_proofs_do_not_open_the_circuit() {
    let harness = Harness::start(Backend::Sqlite).await;
    for _ in 0..FAILURES_TO_OPEN * 2 {
        let (status, error, _) =
            oauth_error(harness.app.exchange(JWT_TYPE, "a.b.c", &[]).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    }
    let user = harness.signed_in("u1");
    tokens(harness.app.exchange(JWT_TYPE, &user.jwt, &[]).await).await;
}

/// A user whose name Appwrite sends as text that is not valid Unicode (a lone UTF-16 surrogate
/// escape) signs in, the name read with U+FFFD in its place. And answers that Appwrite did give,
/// in JSON tokenmint cannot read as the account (one user's odd record), are refused one by one
/// without counting as Appwrite failing: other users keep signing in. (Before, the surrogate
/// made the exchange a 503, and ten such records opened the circuit breaker for everyone.)
#[tokio::test]
async fn one_users_unreadable_text_neither_fails_their_sign_in_nor_trips_the_breaker() {
    let harness = Harness::start(Backend::Sqlite).await;
    let odd = harness.signed_in("odd");
    harness
        .appwrite
        .update_user("odd", |user| user.raw_name_json = Some(r"x\ud800y".into()));
    let issued = tokens(harness.app.exchange(JWT_TYPE, &odd.jwt, &[]).await).await;
    let claims = harness
        .app
        .verify_access_token(&issued.access_token, "api")
        .await;
    assert_eq!(claims["name"], "x\u{fffd}y");

    // JSON, but not an account tokenmint can read: `status` twice, the second not a boolean.
    let broken = harness.signed_in("broken");
    harness.appwrite.update_user("broken", |user| {
        user.raw_name_json = Some(r#"b", "status": "maybe", "x": ""#.into());
    });
    for _ in 0..FAILURES_TO_OPEN + 2 {
        let (status, error, _) =
            oauth_error(harness.app.exchange(JWT_TYPE, &broken.jwt, &[]).await).await;
        assert_eq!((status, error.as_str()), (503, "temporarily_unavailable"));
    }
    let other = harness.signed_in("other");
    tokens(harness.app.exchange(JWT_TYPE, &other.jwt, &[]).await).await;
    let scrape = harness.app.scrape().await;
    assert_eq!(
        scrape.value("tokenmint_appwrite_circuit_opened_total", &[]),
        0.0
    );
}
