//! `POST /oauth/revoke` (RFC 7009).

use crate::helpers::Backend;
use crate::oauth_helpers::{Harness, oauth_error};
use crate::on_both_backends;

async fn revoking_a_refresh_token_ends_its_session_idempotently(backend: Backend) {
    let harness = Harness::start(backend).await;
    let issued = harness.login("u1").await;
    let next = crate::oauth_helpers::tokens(harness.app.refresh(&issued.refresh_token).await).await;

    let revoked = harness
        .app
        .post_form("/oauth/revoke", &[("token", &issued.refresh_token)])
        .await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(revoked.headers()["cache-control"], "no-store");

    let (status, error, _) = oauth_error(harness.app.refresh(&next.refresh_token).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_grant"),
        "the whole session ended"
    );
    let again = harness
        .app
        .post_form(
            "/oauth/revoke",
            &[
                ("token", &next.refresh_token),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        harness
            .count("select count(*) from audit_events where event = 'session.revoked'")
            .await,
        1
    );
}

on_both_backends!(revoking_a_refresh_token_ends_its_session_idempotently);

#[tokio::test]
async fn revoking_an_access_token_ends_its_session() {
    let harness = Harness::start(Backend::Sqlite).await;
    let issued = harness.login("u1").await;
    let revoked = harness
        .app
        .post_form("/oauth/revoke", &[("token", &issued.access_token)])
        .await;
    assert_eq!(revoked.status(), 200);
    let (_, error, _) = oauth_error(harness.app.refresh(&issued.refresh_token).await).await;
    assert_eq!(error, "invalid_grant");
}

#[tokio::test]
async fn unknown_tokens_are_accepted_and_a_missing_token_is_invalid_request() {
    let harness = Harness::start(Backend::Sqlite).await;
    let unknown = format!("tmr_{}", "B".repeat(43));
    for token in [unknown.as_str(), "eyJhbGciOiJub25lIn0.e30.", "whatever"] {
        let response = harness
            .app
            .post_form("/oauth/revoke", &[("token", token)])
            .await;
        assert_eq!(response.status(), 200, "{token}");
    }
    let (status, error, _) = oauth_error(harness.app.post_form("/oauth/revoke", &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
}
