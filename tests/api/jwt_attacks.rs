//! JWT attacks on the server's access-token check, through `GET /v1/me/sessions` (Bearer) and
//! `POST /oauth/introspect`: every forged token of `jwt_forge.rs` (alg none, HS256 keyed with
//! the public key, kid tricks, key-location headers, `crit`, oversized parts, repeated members,
//! wrong `typ`, broken structure) answers 401 `invalid_token` and `{"active":false}`; so do tokens
//! of a retired key past its publish window and of an emergency-revoked key. A genuine token,
//! re-signed by the test with the server's own key, is accepted: the suite cannot pass by
//! rejecting everything. The key-location headers are never followed.

use std::time::Duration;

use serde_json::Value;
use tokenmint::domain::keys::sealing_context;
use tokenmint::domain::model::admin_keys::AdminRole;

use crate::admin::create_key;
use crate::helpers::Backend;
use crate::helpers::until;
use crate::jwt_forge::{Es256, Tripwire, attacks, ignored_headers};
use crate::oauth_helpers::{Harness, advance};

/// A server, its signing key as the test holds it, and a genuine token's claims.
struct Target {
    harness: Harness,
    introspect_key: String,
    genuine: Es256,
    claims: Value,
}

impl Target {
    async fn start(extra: &[(&str, &str)]) -> Self {
        let harness = Harness::start_with(Backend::Sqlite, extra).await;
        let (_, introspect_key) = create_key(&harness.db, AdminRole::Introspect).await;
        let claims = login_claims(&harness, "u1").await;
        let genuine = Es256::from_pkcs8(&private_key(&harness, &signing_kid(&harness).await).await);
        Self {
            harness,
            introspect_key,
            genuine,
            claims,
        }
    }

    /// `None` when the token is rejected on both endpoints as it must be; why not otherwise.
    async fn rejection(&self, token: &str) -> Option<String> {
        let app = &self.harness.app;
        let me = app
            .client
            .get(app.url("/v1/me/sessions"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let challenge = me
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if me.status() != 401
            || !challenge.starts_with("Bearer ")
            || !challenge.contains(r#"error="invalid_token""#)
        {
            return Some(format!("/v1/me: {} {challenge:?}", me.status()));
        }
        let introspection = self.introspect(token).await;
        (introspection != serde_json::json!({ "active": false }))
            .then(|| format!("introspection: {introspection}"))
    }

    async fn introspect(&self, token: &str) -> Value {
        let app = &self.harness.app;
        let response = app
            .client
            .post(app.url("/oauth/introspect"))
            .bearer_auth(&self.introspect_key)
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn assert_accepted(&self, what: &str, token: &str) {
        let app = &self.harness.app;
        let me = app
            .client
            .get(app.url("/v1/me/sessions"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200, "{what}: /v1/me");
        assert_eq!(
            self.introspect(token).await["active"],
            true,
            "{what}: introspection"
        );
    }

    async fn assert_rejected(&self, what: &str, token: &str) {
        if let Some(why) = self.rejection(token).await {
            panic!("{what} was accepted: {why}");
        }
    }
}

async fn login_claims(harness: &Harness, user: &str) -> Value {
    let issued = harness.login(user).await;
    harness
        .app
        .verify_access_token(&issued.access_token, "api")
        .await
}

async fn signing_kid(harness: &Harness) -> String {
    let issued = harness.login("kid-probe").await;
    jsonwebtoken::decode_header(&issued.access_token)
        .unwrap()
        .kid
        .unwrap()
}

/// The PKCS#8 private key of `kid`, opened from the database with the KEK.
async fn private_key(harness: &Harness, kid: &str) -> Vec<u8> {
    let config = harness.db.config();
    let database = harness.db.open().await;
    let kek = tokenmint::startup::key_encryption_key(&config, &database).unwrap();
    let record = database
        .store()
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|record| record.kid == kid)
        .expect("the key is stored");
    kek.open(
        &sealing_context(&record.kid, record.algorithm),
        &record.private_key_sealed,
    )
    .unwrap()
}

async fn kids(harness: &Harness) -> Vec<String> {
    let jwks = harness.app.get_json("/.well-known/jwks.json").await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn forged_access_tokens_are_rejected_by_the_api_and_introspection() {
    let target = Target::start(&[]).await;
    let tripwire = Tripwire::start().await;
    let (attacker, _) = Es256::generate();
    let control = target
        .genuine
        .sign(&target.genuine.header(), &target.claims.to_string());
    target
        .assert_accepted("the genuine token, re-signed", &control)
        .await;
    // RFC 9068 §4: the full media type is an access token too.
    let media_type = target
        .genuine
        .header()
        .replace("at+jwt", "application/at+jwt");
    let control = target.genuine.sign(&media_type, &target.claims.to_string());
    target
        .assert_accepted("typ application/at+jwt", &control)
        .await;

    let forged = attacks(&target.genuine, &attacker, &target.claims, &tripwire.base);
    let mut accepted = Vec::new();
    for attack in &forged {
        if let Some(why) = target.rejection(&attack.token).await {
            accepted.push(format!("{}: {why}", attack.name));
        }
    }

    assert!(
        accepted.is_empty(),
        "{} of {} forged tokens were not rejected:\n{}",
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
    let target = Target::start(&[]).await;
    let tripwire = Tripwire::start().await;
    let (attacker, _) = Es256::generate();

    for token in ignored_headers(&target.genuine, &attacker, &target.claims, &tripwire.base) {
        target.assert_accepted(&token.name, &token.token).await;
    }

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(tripwire.connections(), 0);
}

const LIFECYCLE: [(&str, &str); 3] = [
    ("TOKENMINT_JWKS_MAX_AGE", "60s"),
    ("TOKENMINT_KEY_ROTATION", "10m"),
    ("TOKENMINT_ACCESS_TOKEN_TTL", "5m"),
];

/// A retired key verifies while it is published (its tokens may still be live); past its
/// publish window, a token it signs is rejected even with live claims.
#[tokio::test]
async fn a_token_of_a_retired_key_is_rejected_after_its_publish_window() {
    let target = Target::start(&LIFECYCLE).await;
    let (harness, old) = (&target.harness, &target.genuine);
    advance(&harness.app, Duration::from_secs(8 * 60 + 1));
    until("the next key is published", async || {
        kids(harness).await.len() == 2
    })
    .await;
    advance(&harness.app, Duration::from_secs(2 * 60));
    until("the next key signs", async || {
        signing_kid(harness).await != old.kid
    })
    .await;
    let live = login_claims(harness, "u2").await;
    let by_old_key = old.sign(&old.header(), &live.to_string());
    target
        .assert_accepted("a retired key within its window", &by_old_key)
        .await;

    advance(&harness.app, Duration::from_secs(5 * 60 + 121));
    until("the retired key leaves the JWKS", async || {
        !kids(harness).await.contains(&old.kid)
    })
    .await;

    let live = login_claims(harness, "u3").await;
    let by_old_key = old.sign(&old.header(), &live.to_string());
    target
        .assert_rejected("a retired key past its window", &by_old_key)
        .await;
}

/// `tokenmint keys revoke`: the key's tokens are rejected at once, even fresh ones.
#[tokio::test]
async fn a_token_of_an_emergency_revoked_key_is_rejected() {
    let target = Target::start(&[]).await;
    let (harness, old) = (&target.harness, &target.genuine);
    let issued = harness.login("u2").await;
    target
        .assert_accepted("before revocation", &issued.access_token)
        .await;
    let config = harness.db.config();
    let manager = harness.db.key_manager(&config).await;

    let revoked = manager
        .revoke(
            &old.kid,
            config.signing_alg,
            tokenmint::domain::model::audit::Actor::System,
            &Default::default(),
        )
        .await
        .unwrap();

    assert!(revoked);
    until("the revoked key is unpublished", async || {
        !kids(harness).await.contains(&old.kid)
    })
    .await;
    target
        .assert_rejected("a token it issued", &issued.access_token)
        .await;
    let live = login_claims(harness, "u3").await;
    target
        .assert_rejected(
            "a fresh token it signs",
            &old.sign(&old.header(), &live.to_string()),
        )
        .await;
}
