//! The Appwrite of 2026 (docs/appwrite-2026.md): tokens of Appwrite's OAuth2 server verified
//! locally against its JWKS, JWTs a back end mints with `users.createJWT`, and the refusals
//! that keep a token of another issuer, client, project or algorithm out.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokenmint::domain::model::admin_keys::AdminRole;
use tokenmint_fake_appwrite::{FakeAppwrite, OAuthAlgorithm, OAuthTokenSpec, PROJECT_ID};

use crate::admin::create_key;
use crate::helpers::Backend;
use crate::oauth_helpers::{Harness, JWT_TYPE, advance, oauth_error, tokens};
use crate::on_both_backends;

const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// The OAuth client (of Appwrite's OAuth2 server) the app signs in with.
const CLIENT: &str = "mobile-app";

async fn harness(backend: Backend) -> Harness {
    Harness::start_with(
        backend,
        &[("APPWRITE_OAUTH_CLIENT_IDS", "web-app, mobile-app")],
    )
    .await
}

async fn an_oauth2_access_token_opens_a_session_for_its_subject(backend: Backend) {
    let harness = harness(backend).await;
    harness.appwrite.add_user("u1");
    let token = harness.appwrite.oauth_access_token("u1", CLIENT);

    let issued = tokens(harness.app.exchange(ACCESS_TOKEN_TYPE, &token, &[]).await).await;

    let claims = harness
        .app
        .verify_access_token(&issued.access_token, "api")
        .await;
    assert_eq!(claims["sub"], "u1");
    assert!(
        claims.get("email").is_none(),
        "an access token names the user only: {claims}"
    );
    let session = harness.session_of(&issued.access_token).await;
    assert_eq!(session.user_id, "u1");
    assert_eq!(
        session.appwrite_session_id, "",
        "Appwrite's OAuth2 tokens name no Appwrite session"
    );
    // Verified locally: Appwrite's account API was never asked.
    assert!(
        harness
            .appwrite
            .requests()
            .iter()
            .all(|r| r.path.contains("/oauth2/")),
        "{:?}",
        harness.appwrite.requests()
    );
    // And the session lives on like any other.
    tokens(harness.app.refresh(&issued.refresh_token).await).await;
}

async fn an_oauth2_id_token_opens_a_session_with_the_users_profile(backend: Backend) {
    let harness = harness(backend).await;
    harness.appwrite.add_user("u2");
    let token = harness.appwrite.oauth_id_token("u2", "web-app");

    let issued = tokens(harness.app.exchange(ID_TOKEN_TYPE, &token, &[]).await).await;

    let claims = harness
        .app
        .verify_access_token(&issued.access_token, "api")
        .await;
    assert_eq!(claims["sub"], "u2");
    assert_eq!(claims["email"], "u2@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "User u2");
}

/// `users.createJWT` (`POST /v1/users/{userId}/jwts`, an API key with `users.write`), as an
/// SSR back end calls it, with and without naming the session.
async fn jwts_minted_by_a_back_end_open_sessions_linked_to_their_appwrite_session(
    backend: Backend,
) {
    let harness = harness(backend).await;
    harness.appwrite.add_user("u3");
    let (first, _) = harness.appwrite.create_session("u3");
    let (latest, _) = harness.appwrite.create_session("u3");
    let key = harness.appwrite.create_api_key(&["users.write"]);

    for (session_id, expected) in [(Some(first.as_str()), &first), (None, &latest)] {
        let jwt = users_create_jwt(&harness.appwrite, &key, "u3", session_id).await;
        let issued = tokens(harness.app.exchange(JWT_TYPE, &jwt, &[]).await).await;
        let session = harness.session_of(&issued.access_token).await;
        assert_eq!(
            &session.appwrite_session_id, expected,
            "sessionId {session_id:?}"
        );
    }
}

on_both_backends!(
    an_oauth2_access_token_opens_a_session_for_its_subject,
    an_oauth2_id_token_opens_a_session_with_the_users_profile,
    jwts_minted_by_a_back_end_open_sessions_linked_to_their_appwrite_session,
    a_token_issued_before_its_user_was_revoked_opens_no_session,
    an_impersonated_sign_in_is_visible_in_tokens_sessions_and_audit,
);

/// `users.createJWT` over the fake's HTTP API.
async fn users_create_jwt(
    appwrite: &FakeAppwrite,
    key: &str,
    user_id: &str,
    session_id: Option<&str>,
) -> String {
    let body = session_id.map_or_else(|| json!({}), |id| json!({ "sessionId": id }));
    let response = reqwest::Client::new()
        .post(format!("{}/users/{user_id}/jwts", appwrite.endpoint))
        .header("X-Appwrite-Project", PROJECT_ID)
        .header("X-Appwrite-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["jwt"].as_str().unwrap().to_owned()
}

/// Appwrite accepts a JWT whose `sessionId` is empty (minted for a user with no session) as
/// its user until it expires; tokenmint does not, since no Appwrite session would ever end it.
#[tokio::test]
async fn a_back_end_jwt_naming_no_session_is_refused() {
    let harness = harness(Backend::Sqlite).await;
    harness.appwrite.add_user("u4");
    let key = harness.appwrite.create_api_key(&["users.write"]);
    let jwt = users_create_jwt(&harness.appwrite, &key, "u4", None).await;
    let account = reqwest::Client::new()
        .get(format!("{}/account", harness.appwrite.endpoint))
        .header("X-Appwrite-Project", PROJECT_ID)
        .header("X-Appwrite-JWT", &jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), 200, "Appwrite itself accepts it");

    let (status, error, body) = oauth_error(harness.app.exchange(JWT_TYPE, &jwt, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "{body}");
    assert_eq!(harness.count("select count(*) from sessions").await, 0);
}

#[tokio::test]
async fn without_accepted_client_ids_oauth2_tokens_are_refused_clearly() {
    let harness = Harness::start(Backend::Sqlite).await;
    harness.appwrite.add_user("u1");
    for (kind, token) in [
        (
            ACCESS_TOKEN_TYPE,
            harness.appwrite.oauth_access_token("u1", CLIENT),
        ),
        (ID_TOKEN_TYPE, harness.appwrite.oauth_id_token("u1", CLIENT)),
    ] {
        let (status, error, body) =
            oauth_error(harness.app.exchange(kind, &token, &[]).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_request"), "{body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("unsupported subject_token_type"),
            "{body}"
        );
    }
    assert_eq!(harness.appwrite.oauth_jwks_fetches(), 0);
}

/// Every token that is not one Appwrite's OAuth2 server issued to an accepted client, now:
/// `invalid_grant`, and no session.
#[tokio::test]
async fn oauth2_tokens_of_another_issuer_client_project_or_algorithm_are_refused() {
    let harness = harness(Backend::Sqlite).await;
    harness.appwrite.add_user("u1");
    let other_project = FakeAppwrite::start().await;
    other_project.add_user("u1");
    let ours = harness.appwrite.oauth_issuer();
    let access = || OAuthTokenSpec::access("u1", CLIENT);
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "another issuer",
            ACCESS_TOKEN_TYPE,
            harness.appwrite.oauth_token(&OAuthTokenSpec {
                issuer: Some(format!("{ours}-other")),
                ..access()
            }),
        ),
        (
            "another audience",
            ACCESS_TOKEN_TYPE,
            harness.appwrite.oauth_token(&OAuthTokenSpec {
                audience: Some("someone-else".into()),
                ..access()
            }),
        ),
        (
            "a client not accepted",
            ACCESS_TOKEN_TYPE,
            harness.appwrite.oauth_access_token("u1", "someone-else"),
        ),
        (
            "expired",
            ACCESS_TOKEN_TYPE,
            harness.appwrite.oauth_token(&OAuthTokenSpec {
                expires_in: -120,
                ..access()
            }),
        ),
        (
            "HS256 keyed with the RSA public key (PEM)",
            ACCESS_TOKEN_TYPE,
            harness.appwrite.oauth_token(&OAuthTokenSpec {
                algorithm: OAuthAlgorithm::Hs256SignedWithPublicKeyBytes,
                ..access()
            }),
        ),
        (
            "HS256 keyed with the RSA modulus",
            ACCESS_TOKEN_TYPE,
            harness.appwrite.oauth_token(&OAuthTokenSpec {
                algorithm: OAuthAlgorithm::Hs256SignedWithModulus,
                ..access()
            }),
        ),
        (
            "alg none",
            ACCESS_TOKEN_TYPE,
            harness.appwrite.oauth_token(&OAuthTokenSpec {
                algorithm: OAuthAlgorithm::None,
                ..access()
            }),
        ),
        (
            "another project's token naming our issuer",
            ACCESS_TOKEN_TYPE,
            other_project.oauth_token(&OAuthTokenSpec {
                issuer: Some(ours.clone()),
                ..access()
            }),
        ),
        (
            "another project's token",
            ACCESS_TOKEN_TYPE,
            other_project.oauth_access_token("u1", CLIENT),
        ),
        (
            "an ID token presented as an access token",
            ACCESS_TOKEN_TYPE,
            harness.appwrite.oauth_id_token("u1", CLIENT),
        ),
        (
            "an access token presented as an ID token",
            ID_TOKEN_TYPE,
            harness.appwrite.oauth_access_token("u1", CLIENT),
        ),
        (
            "an Appwrite JWT presented as an access token",
            ACCESS_TOKEN_TYPE,
            harness.signed_in("u1").jwt,
        ),
    ];
    for (case, kind, token) in cases {
        let (status, error, body) =
            oauth_error(harness.app.exchange(kind, &token, &[]).await).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_grant"),
            "{case}: {body}"
        );
    }
    assert_eq!(harness.count("select count(*) from sessions").await, 0);
    // The genuine token still works after all that.
    let token = harness.appwrite.oauth_access_token("u1", CLIENT);
    tokens(harness.app.exchange(ACCESS_TOKEN_TYPE, &token, &[]).await).await;
}

/// The JWKS is fetched once and cached; a token signed with a key it lacks (Appwrite rotated)
/// fetches it once more; a flood of made-up `kid`s costs Appwrite at most one fetch.
#[tokio::test]
async fn the_jwks_is_cached_and_refetched_once_for_a_rotated_key() {
    let harness = harness(Backend::Sqlite).await;
    harness.appwrite.add_user("u1");
    for _ in 0..3 {
        let token = harness.appwrite.oauth_access_token("u1", CLIENT);
        tokens(harness.app.exchange(ACCESS_TOKEN_TYPE, &token, &[]).await).await;
    }
    assert_eq!(harness.appwrite.oauth_discovery_fetches(), 1);
    assert_eq!(harness.appwrite.oauth_jwks_fetches(), 1);

    harness.appwrite.rotate_oauth_key(true);
    let token = harness.appwrite.oauth_access_token("u1", CLIENT);
    tokens(harness.app.exchange(ACCESS_TOKEN_TYPE, &token, &[]).await).await;
    assert_eq!(harness.appwrite.oauth_jwks_fetches(), 2, "refetched once");
    assert_eq!(harness.appwrite.oauth_discovery_fetches(), 1);

    // The refetch for the rotated key was just made: made-up kids are answered 503 (maybe a
    // key rotated in since: retry) without asking Appwrite.
    for i in 0..20 {
        let forged = harness.appwrite.oauth_token(&OAuthTokenSpec {
            kid: Some(format!("made-up-{i}")),
            ..OAuthTokenSpec::access("u1", CLIENT)
        });
        let (status, error, _) =
            oauth_error(harness.app.exchange(ACCESS_TOKEN_TYPE, &forged, &[]).await).await;
        assert_eq!((status, error.as_str()), (503, "temporarily_unavailable"));
    }
    assert_eq!(
        harness.appwrite.oauth_jwks_fetches(),
        2,
        "no fetch for 20 unknown kids"
    );
}

/// Appwrite's documents cannot be fetched and no key is held yet: the client is told to come
/// back (503), not that its token is bad; once Appwrite answers again the same token works.
#[tokio::test]
async fn an_unreachable_jwks_answers_503_not_invalid_grant() {
    let harness = harness(Backend::Sqlite).await;
    harness.appwrite.add_user("u1");
    let token = harness.appwrite.oauth_access_token("u1", CLIENT);
    harness
        .appwrite
        .fail_with(Some(tokenmint_fake_appwrite::Failure::Status(503)));

    let (status, error, _) =
        oauth_error(harness.app.exchange(ACCESS_TOKEN_TYPE, &token, &[]).await).await;
    assert_eq!((status, error.as_str()), (503, "temporarily_unavailable"));

    harness.appwrite.fail_with(None);
    // After a failed fetch the next waits a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    tokens(harness.app.exchange(ACCESS_TOKEN_TYPE, &token, &[]).await).await;
}

/// Appwrite vouched for a locally verified token when it issued it: a user revoked since
/// cannot open a new session with it, although the token has not expired.
async fn a_token_issued_before_its_user_was_revoked_opens_no_session(backend: Backend) {
    let harness = harness(backend).await;
    harness.appwrite.add_user("u5");
    let token = harness.appwrite.oauth_access_token("u5", CLIENT);
    let (_, admin) = create_key(&harness.db, AdminRole::Admin).await;
    advance(&harness.app, Duration::from_secs(1));
    harness
        .app
        .admin_json(Method::DELETE, "/admin/v1/users/u5/sessions", &admin)
        .await;

    let (status, error, body) =
        oauth_error(harness.app.exchange(ACCESS_TOKEN_TYPE, &token, &[]).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"), "{body}");
    // A token issued after the revocation is fine (the fake's clock is the wall clock, the
    // server's is a second ahead of it: wait until the wall clock passes the revocation).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    advance(&harness.app, Duration::from_secs(5));
    let fresh = harness.appwrite.oauth_access_token("u5", CLIENT);
    tokens(harness.app.exchange(ACCESS_TOKEN_TYPE, &fresh, &[]).await).await;
}

/// Appwrite reports someone acting as the user (`impersonatorUserId`): the tokens say so
/// (`act`, RFC 8693 §4.1) on every refresh, the session and the audit log record it, and
/// `tokenmint-verify` hands it to services.
async fn an_impersonated_sign_in_is_visible_in_tokens_sessions_and_audit(backend: Backend) {
    let harness = harness(backend).await;
    let user = harness.signed_in("u6");
    harness.appwrite.impersonate(&user.session_id, "support-7");

    let issued = tokens(harness.app.exchange(JWT_TYPE, &user.jwt, &[]).await).await;

    let claims = harness
        .app
        .verify_access_token(&issued.access_token, "api")
        .await;
    assert_eq!(claims["sub"], "u6");
    assert_eq!(claims["act"], json!({ "sub": "support-7" }));
    let session = harness.session_of(&issued.access_token).await;
    assert_eq!(session.impersonator.as_deref(), Some("support-7"));
    assert_eq!(
        harness
            .count(
                "select count(*) from audit_events where event = 'session.created' \
                 and actor = 'impersonator:support-7'"
            )
            .await,
        1
    );
    let refreshed = tokens(harness.app.refresh(&issued.refresh_token).await).await;
    let verifier = tokenmint_verify::Verifier::builder("http://localhost:8080")
        .audience("api")
        .jwks_url(harness.app.url("/.well-known/jwks.json"))
        .build()
        .unwrap();
    let verified = verifier.verify(&refreshed.access_token).await.unwrap();
    assert_eq!(verified.impersonator(), Some("support-7"));

    // The user's own sign-in carries no `act`.
    let own = harness.signed_in("u6");
    let issued = tokens(harness.app.exchange(JWT_TYPE, &own.jwt, &[]).await).await;
    let verified = verifier.verify(&issued.access_token).await.unwrap();
    assert_eq!(verified.impersonator(), None);
    assert!(verified.act.is_none());
}

#[tokio::test]
async fn impersonated_sign_ins_are_refused_when_impersonation_is_denied() {
    let harness = Harness::start_with(
        Backend::Sqlite,
        &[
            ("TOKENMINT_IMPERSONATION", "deny"),
            ("APPWRITE_OAUTH_CLIENT_IDS", CLIENT),
        ],
    )
    .await;
    let user = harness.signed_in("u7");
    harness.appwrite.impersonate(&user.session_id, "support-7");
    let (_, session_value) = (user.session_id.clone(), user.session_value.clone());
    let acted = harness.appwrite.oauth_token(&OAuthTokenSpec {
        extra_claims: serde_json::from_value(json!({ "act": { "sub": "support-7" } })).unwrap(),
        ..OAuthTokenSpec::access("u7", CLIENT)
    });
    for (kind, token) in [
        (JWT_TYPE, user.jwt.as_str()),
        (crate::oauth_helpers::SESSION_TYPE, session_value.as_str()),
        (ACCESS_TOKEN_TYPE, acted.as_str()),
    ] {
        let (status, error, body) = oauth_error(harness.app.exchange(kind, token, &[]).await).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_grant"),
            "{kind}: {body}"
        );
        assert_eq!(
            body["error_description"], "impersonated sign-ins are not accepted",
            "{kind}"
        );
    }
    assert_eq!(harness.count("select count(*) from sessions").await, 0);
    // The user's own sign-in is unaffected.
    let own = harness.signed_in("u7");
    tokens(harness.app.exchange(JWT_TYPE, &own.jwt, &[]).await).await;
}
