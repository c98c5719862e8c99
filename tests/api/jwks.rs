//! `GET /.well-known/jwks.json`: what is published, caching, and that the published keys
//! verify what the service's stored private keys sign.

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde_json::{Value, json};
use tokenmint::domain::keys::{NextKey, SigningAlgorithm};

use crate::helpers::{Backend, TestApp, TestDb, eventually};
use crate::on_both_backends;

async fn jwks_publishes_one_es256_key_by_default(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::spawn(db.config()).await;

    let response = app.get("/.well-known/jwks.json").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    assert_eq!(response.headers()["content-type"], "application/json");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "strong ETag: {etag}"
    );
    let body: Value = response.json().await.unwrap();
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{body}");
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["crv"], "P-256");
    assert_eq!(keys[0]["use"], "sig");
    assert!(keys[0]["kid"].as_str().is_some_and(|kid| kid.len() == 43));
    assert!(
        keys[0].get("d").is_none(),
        "private key material published: {body}"
    );
}

async fn jwks_answers_304_to_a_matching_if_none_match(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::spawn(db.config()).await;
    let etag = app.get("/.well-known/jwks.json").await.headers()["etag"].clone();

    let not_modified = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    let modified = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", "\"some-other-version\"")
        .send()
        .await
        .unwrap();

    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.headers()["etag"], etag);
    assert_eq!(
        not_modified.headers()["cache-control"],
        "public, max-age=300"
    );
    assert!(not_modified.bytes().await.unwrap().is_empty());
    assert_eq!(modified.status(), 200);
}

async fn jwks_max_age_follows_the_configuration(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::spawn(db.config_with(&[("TOKENMINT_JWKS_MAX_AGE", "90s")])).await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.headers()["cache-control"], "public, max-age=90");
}

async fn restarting_keeps_the_same_stored_key(backend: Backend) {
    let db = TestDb::new(backend).await;
    let first = TestApp::spawn(db.config()).await;
    let before = first.get_json("/.well-known/jwks.json").await;
    first.stop().await;

    let second = TestApp::spawn(db.config()).await;
    let after = second.get_json("/.well-known/jwks.json").await;

    assert_eq!(before, after);
    let stored = db.open().await.store().signing_keys().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(json!(stored[0].kid), after["keys"][0]["kid"]);
}

/// The heart of the JWKS contract: a token signed by the key the service stored (opened
/// independently from the database with the KEK) verifies with the published public key,
/// with the algorithm pinned by the verifier rather than read from the token.
async fn published_key_verifies_the_stored_key_signature(
    backend: Backend,
    algorithm: SigningAlgorithm,
) {
    let db = TestDb::new(backend).await;
    let config = db.config_with(&[("TOKENMINT_SIGNING_ALG", algorithm.as_str())]);
    let app = TestApp::spawn(config.clone()).await;
    let jwks: JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();

    let manager = db.key_manager(&config).await;
    let keys = manager.load().await.unwrap();
    let signer = keys.active().unwrap();
    let token = signer
        .sign_jwt("at+jwt", &json!({"sub": "u1", "exp": 4_000_000_000u64}))
        .unwrap();

    assert_eq!(jwks.keys.len(), 1);
    let jwk = jwks
        .find(signer.kid())
        .expect("the signing key is published");
    let pinned = match algorithm {
        SigningAlgorithm::Es256 => Algorithm::ES256,
        SigningAlgorithm::EdDsa => Algorithm::EdDSA,
        SigningAlgorithm::Rs256 => Algorithm::RS256,
    };
    let mut validation = Validation::new(pinned);
    validation.validate_aud = false;
    let claims =
        decode::<Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap();
    assert_eq!(claims.claims["sub"], "u1");

    let mut tampered = token.clone();
    tampered.insert(token.find('.').unwrap() + 2, 'x');
    assert!(decode::<Value>(&tampered, &DecodingKey::from_jwk(jwk).unwrap(), &validation).is_err());
}

async fn es256_key_verifies(backend: Backend) {
    published_key_verifies_the_stored_key_signature(backend, SigningAlgorithm::Es256).await;
}

async fn eddsa_key_verifies(backend: Backend) {
    published_key_verifies_the_stored_key_signature(backend, SigningAlgorithm::EdDsa).await;
}

async fn rs256_key_verifies(backend: Backend) {
    published_key_verifies_the_stored_key_signature(backend, SigningAlgorithm::Rs256).await;
}

/// `keys rotate` in another process: the running server publishes the new key (without a
/// restart) beside the active one, and its ETag changes.
async fn a_rotated_next_key_is_published_by_the_running_server(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = db.config();
    let app = TestApp::spawn(config.clone()).await;
    let old_etag = app.get("/.well-known/jwks.json").await.headers()["etag"].clone();

    let manager = db.key_manager(&config).await;
    let NextKey::Created(next) = manager
        .create_next_key(
            SigningAlgorithm::EdDsa,
            tokenmint::domain::model::audit::Actor::System,
            &Default::default(),
        )
        .await
        .unwrap()
    else {
        panic!("no next key existed, so one must be created");
    };
    assert!(matches!(
        manager
            .create_next_key(
                SigningAlgorithm::EdDsa,
                tokenmint::domain::model::audit::Actor::System,
                &Default::default()
            )
            .await
            .unwrap(),
        NextKey::AlreadyExists(_)
    ));

    let published = eventually(Duration::from_secs(5), || async {
        let jwks = app.get_json("/.well-known/jwks.json").await;
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == next.kid.as_str())
    })
    .await;
    assert!(published, "the next key never appeared in the JWKS");
    let jwks = app.get("/.well-known/jwks.json").await;
    assert_ne!(jwks.headers()["etag"], old_etag);
    let body: Value = jwks.json().await.unwrap();
    assert_eq!(body["keys"].as_array().unwrap().len(), 2);
}

on_both_backends!(
    jwks_publishes_one_es256_key_by_default,
    jwks_answers_304_to_a_matching_if_none_match,
    jwks_max_age_follows_the_configuration,
    restarting_keeps_the_same_stored_key,
    es256_key_verifies,
    eddsa_key_verifies,
    rs256_key_verifies,
    a_rotated_next_key_is_published_by_the_running_server,
);
