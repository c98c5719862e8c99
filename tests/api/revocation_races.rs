//! Revocations that land while an exchange is in flight: Appwrite vouched for the proof a
//! moment before the user was deleted, blocked or logged out, and the webhook saying so
//! arrived before tokenmint stored the new session. The session must not be created.

use std::time::Duration;

use crate::helpers::Backend;
use crate::oauth_helpers::{Harness, JWT_TYPE, advance, oauth_error, tokens};
use crate::on_both_backends;
use crate::webhooks::{Delivery, deliver, server_now, session_body, start, user_body};

/// Starts an exchange for `user` with Appwrite holding its answer, runs `during` while
/// Appwrite is "answering", then lets Appwrite answer (with the state it had before) and
/// returns the exchange's response.
async fn exchange_while(
    harness: &Harness,
    user: &str,
    during: impl AsyncFnOnce(&Harness, &str),
) -> reqwest::Response {
    let signed_in = harness.signed_in(user);
    let release = harness.appwrite.hold_answers();
    let seen = harness.appwrite.requests().len();
    let exchange = {
        let app_client = harness.app.client.clone();
        let url = harness.app.url("/oauth/token");
        let jwt = signed_in.jwt.clone();
        tokio::spawn(async move {
            app_client
                .post(url)
                .form(&[
                    ("grant_type", crate::oauth_helpers::EXCHANGE),
                    ("subject_token", jwt.as_str()),
                    ("subject_token_type", JWT_TYPE),
                ])
                .send()
                .await
                .unwrap()
        })
    };
    harness.appwrite.wait_for_requests(seen + 1).await;
    during(harness, &signed_in.session_id).await;
    release.send(true).unwrap();
    exchange.await.unwrap()
}

async fn assert_refused_and_nothing_stored(harness: &Harness, response: reqwest::Response) {
    let (status, error, body) = oauth_error(response).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "{body}");
    assert_eq!(
        harness.count("select count(*) from sessions").await,
        0,
        "a session was stored"
    );
}

async fn a_user_deleted_while_appwrite_answers_gets_no_session(backend: Backend) {
    let harness = start(backend).await;

    let response = exchange_while(&harness, "u1", async |harness, _| {
        let body = user_body("u1", &server_now(harness), true, &[]);
        let delivered = deliver(harness, &Delivery::new("users.u1.delete", body)).await;
        assert_eq!(delivered.status(), 200);
    })
    .await;

    assert_refused_and_nothing_stored(&harness, response).await;
    // A user re-created later under the same id (Appwrite allows custom ids) signs in again.
    advance(&harness.app, Duration::from_secs(2));
    let again = harness.signed_in("u1");
    tokens(harness.app.exchange(JWT_TYPE, &again.jwt, &[]).await).await;
}

async fn a_user_blocked_while_appwrite_answers_gets_no_session(backend: Backend) {
    let harness = start(backend).await;

    let response = exchange_while(&harness, "u1", async |harness, _| {
        let body = user_body("u1", &server_now(harness), false, &[]);
        let delivered = deliver(harness, &Delivery::new("users.u1.update.status", body)).await;
        assert_eq!(delivered.status(), 200);
    })
    .await;

    assert_refused_and_nothing_stored(&harness, response).await;
}

async fn an_appwrite_session_deleted_during_its_exchange_gets_no_session(backend: Backend) {
    let harness = start(backend).await;

    let response = exchange_while(&harness, "u1", async |harness, appwrite_session| {
        let body = session_body("u1", appwrite_session);
        let event = format!("users.u1.sessions.{appwrite_session}.delete");
        let delivered = deliver(harness, &Delivery::new(&event, body)).await;
        assert_eq!(delivered.status(), 200);
    })
    .await;

    assert_refused_and_nothing_stored(&harness, response).await;
    // Another Appwrite session of the same user is not affected.
    tokens(
        harness
            .app
            .exchange(JWT_TYPE, &harness.signed_in("u1").jwt, &[])
            .await,
    )
    .await;
}

on_both_backends!(
    a_user_deleted_while_appwrite_answers_gets_no_session,
    a_user_blocked_while_appwrite_answers_gets_no_session,
    an_appwrite_session_deleted_during_its_exchange_gets_no_session,
);
