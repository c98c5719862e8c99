//! `tokenmint-verify` against the real server: what it rejects, key rotation and revocation,
//! the revocation feed, and its axum extractor.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};
use tokenmint::crypto::signing::{SigningAlgorithm, SigningKey};
use tokenmint::domain::model::admin_keys::AdminRole;
use tokenmint_verify::{Verifier, VerifyError};

use crate::admin::create_key;
use crate::helpers::until;
use crate::helpers::{Backend, TestApp};
use crate::oauth_helpers::{Harness, advance, tokens};

/// A verifier of `app`'s tokens; with `feed`, following the revocation feed every interval,
/// with the key given (if any).
fn verifier(app: &TestApp, feed: Option<(Duration, Option<&str>)>) -> Verifier {
    let mut builder = Verifier::builder("http://localhost:8080")
        .audience("api")
        .jwks_url(app.url("/.well-known/jwks.json"))
        .min_refetch_interval(Duration::ZERO);
    if let Some((interval, key)) = feed {
        builder = builder
            .revocation_feed(interval)
            .revocations_url(app.url("/v1/revocations"));
        if let Some(key) = key {
            builder = builder.revocation_feed_key(key);
        }
    }
    builder.build().unwrap()
}

/// Which rejection a forged token must get.
type Expected = fn(&VerifyError) -> bool;

fn b64(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(json.to_string())
}

/// Claims as the server issues them, for forging variants with the server's own key.
fn claims(issued: &Value) -> Value {
    issued.clone()
}

#[tokio::test]
async fn the_verifier_accepts_real_tokens_and_rejects_every_forgery() {
    let harness = Harness::start(Backend::Sqlite).await;
    let config = harness.db.config();
    let issued = harness.login("u1").await;
    let verifier = verifier(&harness.app, None);

    let verified = verifier.verify(&issued.access_token).await.unwrap();
    assert_eq!(verified.sub, "u1");
    assert!(verified.has_label("beta"));
    assert_eq!(
        verifier.verify(&issued.access_token).await.unwrap(),
        verified
    );
    assert_eq!(verifier.jwks_fetches(), 1, "the JWKS is cached");

    let keys = harness.db.key_manager(&config).await.load().await.unwrap();
    let server_key = keys.active().unwrap();
    let real = harness
        .app
        .verify_access_token(&issued.access_token, "api")
        .await;
    let sign = |claims: &Value, typ: &str| server_key.sign_jwt(typ, claims).unwrap();
    let now = tokenmint::clock::unix_now();
    let with = |field: &str, value: Value| {
        let mut forged = claims(&real);
        forged[field] = value;
        forged
    };
    let header = json!({"alg": "none", "typ": "at+jwt", "kid": server_key.kid()});
    let alg_none = format!("{}.{}.", b64(&header), b64(&real));
    let public_key = serde_json::to_vec(server_key.public_jwk()).unwrap();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.typ = Some("at+jwt".into());
    hs_header.kid = Some(server_key.kid().to_owned());
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &real,
        &jsonwebtoken::EncodingKey::from_secret(&public_key),
    )
    .unwrap();
    let (stranger, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let unknown_kid = stranger.sign_jwt("at+jwt", &real).unwrap();
    let mut tampered = issued.access_token.clone();
    let payload_start = tampered.find('.').unwrap() + 5;
    let flipped = if &tampered[payload_start..=payload_start] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(payload_start..=payload_start, flipped);
    let huge = sign(&with("name", json!("x".repeat(17 * 1024))), "at+jwt");

    let cases: Vec<(&str, String, Expected)> = vec![
        ("alg none", alg_none, |e| {
            matches!(e, VerifyError::Malformed | VerifyError::Invalid)
        }),
        ("HS256 signed with the public key", hs256, |e| {
            matches!(e, VerifyError::Invalid)
        }),
        ("unknown kid", unknown_kid, |e| {
            matches!(e, VerifyError::UnknownKey)
        }),
        (
            "wrong iss",
            sign(&with("iss", json!("https://evil.example.com")), "at+jwt"),
            |e| matches!(e, VerifyError::Invalid),
        ),
        (
            "wrong aud",
            sign(&with("aud", json!("billing")), "at+jwt"),
            |e| matches!(e, VerifyError::Invalid),
        ),
        ("wrong typ", sign(&real, "JWT"), |e| {
            matches!(e, VerifyError::WrongType)
        }),
        (
            "expired",
            sign(&with("exp", json!(now - 3600)), "at+jwt"),
            |e| matches!(e, VerifyError::Expired),
        ),
        (
            "not yet valid",
            sign(&with("iat", json!(now + 3600)), "at+jwt"),
            |e| matches!(e, VerifyError::NotYetValid),
        ),
        (
            "missing sid",
            sign(
                &{
                    let mut c = claims(&real);
                    c.as_object_mut().unwrap().remove("sid");
                    c
                },
                "at+jwt",
            ),
            |e| matches!(e, VerifyError::Malformed),
        ),
        ("tampered payload", tampered, |e| {
            matches!(e, VerifyError::Invalid | VerifyError::Malformed)
        }),
        ("over 16 KB", huge, |e| matches!(e, VerifyError::TooLarge)),
        ("garbage", "not.a.token".into(), |e| {
            matches!(e, VerifyError::Malformed)
        }),
    ];
    for (case, token, expected) in cases {
        match verifier.verify(&token).await {
            Ok(_) => panic!("{case}: accepted"),
            Err(err) => assert!(expected(&err), "{case}: {err:?}"),
        }
    }
}

/// With tokenmint's rotation a verifier that honours the JWKS max-age already holds the new
/// key when it starts signing: no unknown-kid refetch, no rejected token.
#[tokio::test]
async fn a_cached_jwks_carries_a_verifier_across_an_automatic_rotation() {
    let lifecycle = [
        ("TOKENMINT_JWKS_MAX_AGE", "3s"),
        ("TOKENMINT_KEY_ROTATION", "10m"),
    ];
    let harness = Harness::start_with(Backend::Sqlite, &lifecycle).await;
    let app = &harness.app;
    // The server's clock is moved ten minutes ahead; the verifier reads the wall clock, so it
    // needs that much leeway to accept tokens "issued in its future".
    let verifier = Verifier::builder("http://localhost:8080")
        .audience("api")
        .jwks_url(app.url("/.well-known/jwks.json"))
        .leeway(Duration::from_secs(3600))
        .build()
        .unwrap();
    let before = harness.login("u1").await;
    verifier.verify(&before.access_token).await.unwrap();

    advance(app, Duration::from_secs(10 * 60 - 6 + 1));
    until("the next key is published", async || {
        app.get_json("/.well-known/jwks.json").await["keys"]
            .as_array()
            .unwrap()
            .len()
            == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    verifier.verify(&before.access_token).await.unwrap();
    let fetches = verifier.jwks_fetches();
    assert_eq!(fetches, 2, "refetched only because the cache went stale");

    advance(app, Duration::from_secs(7));
    let old_kid = jsonwebtoken::decode_header(&before.access_token)
        .unwrap()
        .kid;
    let mut after = harness.login("u2").await;
    while jsonwebtoken::decode_header(&after.access_token)
        .unwrap()
        .kid
        == old_kid
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = harness.login("u2").await;
    }
    verifier.verify(&after.access_token).await.unwrap();
    verifier.verify(&before.access_token).await.unwrap();
    assert_eq!(verifier.unknown_kid_fetches(), 0);
    assert_eq!(
        verifier.jwks_fetches(),
        fetches,
        "the new key was already cached"
    );
}

#[tokio::test]
async fn a_revoked_key_is_rejected_once_the_verifier_refetches() {
    let harness = Harness::start(Backend::Sqlite).await;
    let config = harness.db.config();
    let issued = harness.login("u1").await;
    let verifier = verifier(&harness.app, None);
    verifier.verify(&issued.access_token).await.unwrap();

    let kid = jsonwebtoken::decode_header(&issued.access_token)
        .unwrap()
        .kid
        .unwrap();
    let manager = harness.db.key_manager(&config).await;
    manager
        .revoke(
            &kid,
            config.signing_alg,
            tokenmint::domain::model::audit::Actor::System,
            &Default::default(),
        )
        .await
        .unwrap();
    until("the key is unpublished", async || {
        !harness
            .app
            .get_json("/.well-known/jwks.json")
            .await
            .to_string()
            .contains(&kid)
    })
    .await;

    verifier.refresh_keys().await.unwrap();
    assert!(matches!(
        verifier.verify(&issued.access_token).await,
        Err(VerifyError::UnknownKey)
    ));
    let fresh = tokens(harness.app.refresh(&issued.refresh_token).await).await;
    verifier.verify(&fresh.access_token).await.unwrap();
}

/// An admin revokes a session, or all of a user's: the verifier following the feed rejects
/// the still-unexpired access tokens within one poll interval.
#[tokio::test]
async fn the_feed_makes_revocations_reach_the_verifier_within_a_poll() {
    let harness = Harness::start(Backend::Postgres).await;
    let (_, admin) = create_key(&harness.db, AdminRole::Admin).await;
    let (_, reader) = create_key(&harness.db, AdminRole::Feed).await;
    let verifier = verifier(
        &harness.app,
        Some((Duration::from_millis(200), Some(reader.as_str()))),
    );
    let one = harness.login("u1").await;
    let two = harness.login("u2").await;
    let three = harness.login("u2").await;
    for session in [&one, &two, &three] {
        verifier.verify(&session.access_token).await.unwrap();
    }

    let sid = harness.session_id(&one.access_token).await;
    harness
        .app
        .admin_json(Method::DELETE, &format!("/admin/v1/sessions/{sid}"), &admin)
        .await;
    harness
        .app
        .admin_json(Method::DELETE, "/admin/v1/users/u2/sessions", &admin)
        .await;

    tokio::time::sleep(Duration::from_millis(600)).await;
    for (name, session) in [("one", &one), ("two", &two), ("three", &three)] {
        let result = verifier.verify(&session.access_token).await;
        assert!(
            matches!(result, Err(VerifyError::Revoked)),
            "{name}: {result:?} {:?}",
            verifier.feed_error()
        );
    }
    let other = harness.login("u3").await;
    verifier.verify(&other.access_token).await.unwrap();
    assert_eq!(verifier.feed_failures(), 0);
    assert_eq!(verifier.feed_error(), None);
}

/// Without a key, or with a wrong one, the feed's 401 is reported as such — by
/// `sync_revocations` and `feed_error` — and never read as "no revocations".
#[tokio::test]
async fn a_verifier_without_the_feed_key_reports_the_refusal() {
    let harness = Harness::start(Backend::Sqlite).await;
    let (_, reader) = create_key(&harness.db, AdminRole::Feed).await;
    let wrong = format!("{}x", &reader[..reader.len() - 1]);
    for key in [None, Some(wrong.as_str())] {
        let verifier = verifier(&harness.app, Some((Duration::from_secs(3600), key)));
        let synced = verifier.sync_revocations().await;
        assert!(
            matches!(synced, Err(VerifyError::RevocationsUnauthorized(_))),
            "{key:?}: {synced:?}"
        );
        let reported = verifier.feed_error().unwrap();
        assert!(reported.contains("401"), "{reported}");
        assert!(
            !reported.contains(&reader),
            "the error does not show the key"
        );
        assert_eq!(verifier.revocations_synced_at(), None);
    }
    let verifier = verifier(
        &harness.app,
        Some((Duration::from_secs(3600), Some(reader.as_str()))),
    );
    verifier.sync_revocations().await.unwrap();
    assert!(verifier.revocations_synced_at().is_some());
    let builder = Verifier::builder("http://localhost:8080").revocation_feed_key(&reader);
    assert!(
        !format!("{builder:?}").contains(&reader),
        "Debug hides the key"
    );
}

#[tokio::test]
async fn the_axum_extractor_answers_401_with_a_bearer_challenge() {
    use axum::Router;
    use axum::routing::get;
    use tokenmint_verify::axum::VerifiedClaims;

    async fn whoami(VerifiedClaims(claims): VerifiedClaims) -> String {
        claims.sub
    }
    let harness = Harness::start(Backend::Sqlite).await;
    let issued = harness.login("u1").await;
    let router = Router::new()
        .route("/whoami", get(whoami))
        .with_state(verifier(&harness.app, None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/whoami", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::new();

    let ok = client
        .get(&url)
        .bearer_auth(&issued.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "u1");
    let missing = client.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let bad = client
        .get(&url)
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert_eq!(
        bad.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
}

/// Given only the issuer, the verifier finds the JWKS through the discovery document; many
/// concurrent tokens with an unknown `kid` cause a single refetch.
#[tokio::test]
async fn discovery_finds_the_jwks_and_unknown_kids_refetch_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let settings = [
        ("TOKENMINT_ISSUER", issuer.as_str()),
        ("TOKENMINT_LISTEN", listen.as_str()),
    ];
    let harness = Harness::start_with(Backend::Sqlite, &settings).await;
    let issued = harness.login("u1").await;
    let verifier = Verifier::builder(issuer.as_str())
        .audience("api")
        .min_refetch_interval(Duration::from_secs(1))
        .build()
        .unwrap();

    assert_eq!(
        verifier.verify(&issued.access_token).await.unwrap().sub,
        "u1"
    );
    assert_eq!(verifier.jwks_fetches(), 1);

    let (stranger, _) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(&issued.access_token)
        .unwrap()
        .claims;
    let forged = stranger.sign_jwt("at+jwt", &claims).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await; // the refetch rate limit counts from the last fetch
    let attempts = futures_util::future::join_all((0..20).map(|_| verifier.verify(&forged))).await;
    assert!(
        attempts
            .iter()
            .all(|r| matches!(r, Err(VerifyError::UnknownKey)))
    );
    assert_eq!(
        verifier.jwks_fetches(),
        2,
        "one single-flight refetch for 20 unknown-kid tokens"
    );
    assert!(matches!(
        verifier.verify(&forged).await,
        Err(VerifyError::UnknownKey)
    ));
    assert_eq!(
        verifier.jwks_fetches(),
        2,
        "rate-limited: no refetch within the interval"
    );

    let wrong_issuer = Verifier::builder(format!("{issuer}/"))
        .audience("api")
        .build()
        .unwrap();
    assert!(matches!(
        wrong_issuer.verify(&issued.access_token).await,
        Err(VerifyError::Config(_))
    ));
}
