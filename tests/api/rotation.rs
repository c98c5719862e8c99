//! The signing-key lifecycle: automatic rotation (published before it signs; retired keys
//! published until their tokens expire), one rotation across replicas, emergency revocation.

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;

use crate::helpers::until;
use crate::helpers::{Backend, TestApp};
use crate::oauth_helpers::{Harness, advance};
use crate::on_both_backends;

const LIFECYCLE: [(&str, &str); 3] = [
    ("TOKENMINT_JWKS_MAX_AGE", "60s"),
    ("TOKENMINT_KEY_ROTATION", "10m"),
    ("TOKENMINT_ACCESS_TOKEN_TTL", "5m"),
];

async fn kids(app: &TestApp) -> Vec<String> {
    let jwks: JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    jwks.keys
        .iter()
        .map(|k| k.common.key_id.clone().unwrap())
        .collect()
}

async fn signing_kid(harness: &Harness, app: &TestApp) -> String {
    let user = harness.signed_in("u-kid");
    let issued = crate::oauth_helpers::tokens(
        app.exchange(crate::oauth_helpers::JWT_TYPE, &user.jwt, &[])
            .await,
    )
    .await;
    jsonwebtoken::decode_header(&issued.access_token)
        .unwrap()
        .kid
        .unwrap()
}

async fn automatic_rotation_publishes_before_signing_and_retires_after(backend: Backend) {
    let harness = Harness::start_with(backend, &LIFECYCLE).await;
    let app = &harness.app;
    let first = kids(app).await;
    assert_eq!(first.len(), 1);

    advance(app, Duration::from_secs(7 * 60));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        kids(app).await,
        first,
        "not yet within two JWKS lifetimes of the handover"
    );

    advance(app, Duration::from_secs(61));
    until("the next key is published", async || {
        kids(app).await.len() == 2
    })
    .await;
    let next = kids(app)
        .await
        .into_iter()
        .find(|k| !first.contains(k))
        .unwrap();
    assert_eq!(
        signing_kid(&harness, app).await,
        first[0],
        "published, not yet signing"
    );

    advance(app, Duration::from_secs(2 * 60));
    until("the next key signs", async || {
        signing_kid(&harness, app).await == next
    })
    .await;
    assert!(
        kids(app).await.contains(&first[0]),
        "the retired key stays published"
    );

    advance(app, Duration::from_secs(5 * 60 + 121));
    until("the retired key leaves the JWKS", async || {
        kids(app).await == [next.clone()]
    })
    .await;
    for (event, count) in [("key.rotated", 1), ("key.removed", 1)] {
        let sql = match event {
            "key.rotated" => "select count(*) from audit_events where event = 'key.rotated'",
            _ => "select count(*) from audit_events where event = 'key.removed'",
        };
        assert_eq!(harness.count(sql).await, count, "{event}");
    }
}

/// Emergency revocation of the signing key: it leaves the JWKS at once and another key signs.
async fn revoking_the_signing_key_replaces_it_at_once(backend: Backend) {
    let harness = Harness::start_with(backend, &LIFECYCLE).await;
    let app = &harness.app;
    let old = kids(app).await.remove(0);
    let config = harness.db.config_with(&LIFECYCLE);

    let manager = harness.db.key_manager(&config).await;
    let revoked = manager
        .revoke(
            &old,
            config.signing_alg,
            tokenmint::domain::model::audit::Actor::System,
            &Default::default(),
        )
        .await
        .unwrap();
    assert!(revoked);
    assert!(
        !manager
            .revoke(
                "no-such-kid",
                config.signing_alg,
                tokenmint::domain::model::audit::Actor::System,
                &Default::default()
            )
            .await
            .unwrap()
    );

    until("the revoked key is unpublished", async || {
        !kids(app).await.contains(&old)
    })
    .await;
    let current = kids(app).await;
    assert_eq!(current.len(), 1);
    until("a new key signs", async || {
        signing_kid(&harness, app).await == current[0]
    })
    .await;
    assert_eq!(
        harness
            .count("select count(*) from audit_events where event = 'key.revoked'")
            .await,
        1
    );
}

on_both_backends!(
    automatic_rotation_publishes_before_signing_and_retires_after,
    revoking_the_signing_key_replaces_it_at_once,
);

/// Two servers due at once rotate once; a replica that only hears of it through
/// LISTEN/NOTIFY (its periodic reload is off) signs with the new key within seconds.
#[tokio::test]
async fn two_servers_rotate_once_and_share_the_new_key() {
    let harness = Harness::start_with(Backend::Postgres, &LIFECYCLE).await;
    let second = harness.replica_with(&LIFECYCLE, None).await;
    let listener = harness
        .replica_with(&LIFECYCLE, Some(Duration::from_secs(3600)))
        .await;
    let first_kid = kids(&harness.app).await.remove(0);

    for app in [&harness.app, &second] {
        advance(app, Duration::from_secs(8 * 60 + 1));
    }
    until("the next key is published", async || {
        kids(&harness.app).await.len() == 2
    })
    .await;
    for app in [&harness.app, &second] {
        advance(app, Duration::from_secs(2 * 60));
    }
    until("both servers sign with the new key", async || {
        let one = signing_kid(&harness, &harness.app).await;
        let two = signing_kid(&harness, &second).await;
        one != first_kid && one == two
    })
    .await;
    let new_kid = signing_kid(&harness, &harness.app).await;
    until("the notified replica signs with it", async || {
        signing_kid(&harness, &listener).await == new_kid
    })
    .await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        harness
            .count("select count(*) from audit_events where event = 'key.rotated'")
            .await,
        1
    );
    assert_eq!(
        harness.count("select count(*) from audit_events where event = 'key.created' and reason = 'rotate'").await,
        1
    );
    assert_eq!(harness.count("select count(*) from signing_keys").await, 2);
}

/// Three replicas find the same rotation due at the same moment (their clocks moved together,
/// each running its rotation pass every 100 ms): one next key is created and one activated.
#[tokio::test]
async fn three_servers_due_at_once_rotate_once() {
    let harness = Harness::start_with(Backend::Postgres, &LIFECYCLE).await;
    let second = harness.replica_with(&LIFECYCLE, None).await;
    let third = harness.replica_with(&LIFECYCLE, None).await;
    let servers = [&harness.app, &second, &third];
    let first_kid = kids(&harness.app).await.remove(0);

    for app in servers {
        advance(app, Duration::from_secs(8 * 60 + 1));
    }
    until("the next key is published", async || {
        kids(&harness.app).await.len() == 2
    })
    .await;
    for app in servers {
        advance(app, Duration::from_secs(2 * 60));
    }
    until("all three sign with one new key", async || {
        let mut signing = Vec::new();
        for app in servers {
            signing.push(signing_kid(&harness, app).await);
        }
        signing[0] != first_kid && signing.iter().all(|kid| *kid == signing[0])
    })
    .await;

    // Give every replica a few more passes at the same instant.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rotated = "select count(*) from audit_events where event = 'key.rotated'";
    let created =
        "select count(*) from audit_events where event = 'key.created' and reason = 'rotate'";
    assert_eq!(harness.count(rotated).await, 1);
    assert_eq!(harness.count(created).await, 1);
    assert_eq!(harness.count("select count(*) from signing_keys").await, 2);
}
