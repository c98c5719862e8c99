//! JWT attacks on `Verifier::verify`: every forged token of the server suite's list
//! (`tests/api/jwt_forge.rs`: alg none, HS256 keyed with the public key, kid tricks,
//! key-location headers, `crit`, oversized parts, repeated members, wrong `typ`, broken
//! structure) is an error, and so is a token of a key the JWKS no longer publishes (retired past
//! its window, or revoked) once the verifier has refetched it. A genuine token is accepted, so
//! the suite cannot pass by rejecting everything; key-location headers are never followed.

// Test code: a failed unwrap is a failed test, with the error in its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../../tests/api/jwt_forge.rs"]
mod jwt_forge;

use std::time::Duration;

use common::{Upstream, claims, verifier};
use jwt_forge::{Es256, Tripwire, attacks, ignored_headers};
use tokenmint_verify::{Verifier, VerifyError};

/// A verifier of a stand-in JWKS publishing one genuine key.
async fn setup() -> (Upstream, Es256, Verifier) {
    let upstream = Upstream::start().await;
    let (genuine, key) = Es256::generate();
    upstream.publish(&key);
    let verifier = verifier(&upstream, Duration::from_secs(5)).build().unwrap();
    (upstream, genuine, verifier)
}

#[tokio::test]
async fn forged_access_tokens_are_rejected() {
    let (_upstream, genuine, verifier) = setup().await;
    let (attacker, _) = Es256::generate();
    let tripwire = Tripwire::start().await;
    let claims = claims("u1", "s1");
    let control = genuine.sign(&genuine.header(), &claims.to_string());
    verifier.verify(&control).await.expect("the genuine token");
    // RFC 9068 §4: the full media type is an access token too.
    let media_type = genuine.header().replace("at+jwt", "application/at+jwt");
    let control = genuine.sign(&media_type, &claims.to_string());
    verifier
        .verify(&control)
        .await
        .expect("typ application/at+jwt");

    let forged = attacks(&genuine, &attacker, &claims, &tripwire.base);
    let mut accepted = Vec::new();
    for attack in &forged {
        if let Ok(claims) = verifier.verify(&attack.token).await {
            accepted.push(format!("{}: sub {}", attack.name, claims.sub));
        }
    }

    assert!(
        accepted.is_empty(),
        "{} of {} forged tokens were accepted:\n{}",
        accepted.len(),
        forged.len(),
        accepted.join("\n")
    );
    assert_eq!(tripwire.connections(), 0, "a key location was followed");
}

/// `jku`, `x5u` and `jwk` on a genuinely signed token change nothing: it is judged by the
/// published key alone, and the URLs are never dialled.
#[tokio::test]
async fn key_location_headers_are_ignored_and_never_fetched() {
    let (_upstream, genuine, verifier) = setup().await;
    let (attacker, _) = Es256::generate();
    let tripwire = Tripwire::start().await;

    for token in ignored_headers(&genuine, &attacker, &claims("u1", "s1"), &tripwire.base) {
        let verified = verifier.verify(&token.token).await;
        assert!(verified.is_ok(), "{}: {verified:?}", token.name);
    }

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(tripwire.connections(), 0);
}

/// A key that left the JWKS (a retired key past its publish window, or an emergency-revoked
/// one: the verifier sees both the same way) verifies nothing once the verifier has refetched.
#[tokio::test]
async fn a_token_of_a_key_withdrawn_from_the_jwks_is_rejected_after_a_refetch() {
    let (upstream, old, verifier) = setup().await;
    let (_, new_key) = Es256::generate();
    upstream.publish(&new_key);
    let claims = claims("u1", "s1");
    let token = old.sign(&old.header(), &claims.to_string());
    verifier.verify(&token).await.expect("while published");

    upstream.withdraw(&old.kid);
    verifier.refresh_keys().await.unwrap();

    let result = verifier.verify(&token).await;
    assert!(matches!(result, Err(VerifyError::UnknownKey)), "{result:?}");
}

/// The fuzzing seam (`VerifierBuilder::fixed_jwks`): keys fixed at build time verify, an unknown
/// `kid` is rejected, and nothing is ever fetched, not even the configured JWKS URL.
#[tokio::test]
async fn a_verifier_with_a_fixed_jwks_never_fetches() {
    let tripwire = Tripwire::start().await;
    let (genuine, key) = Es256::generate();
    let (stranger, _) = Es256::generate();
    let jwks = serde_json::json!({ "keys": [key.public_jwk()] }).to_string();
    let verifier = Verifier::builder(common::ISSUER)
        .audience(common::AUDIENCE)
        .jwks_url(format!("{}/jwks.json", tripwire.base))
        .fixed_jwks(jwks)
        .build()
        .unwrap();
    let claims = claims("u1", "s1").to_string();

    verifier
        .verify(&genuine.sign(&genuine.header(), &claims))
        .await
        .expect("a fixed key verifies");
    let unknown = verifier
        .verify(&stranger.sign(&stranger.header(), &claims))
        .await;
    verifier.refresh_keys().await.unwrap();

    assert!(
        matches!(unknown, Err(VerifyError::UnknownKey)),
        "{unknown:?}"
    );
    assert_eq!((verifier.jwks_fetches(), tripwire.connections()), (0, 0));
}
