//! The walk-through: exchange → verify → refresh → grace retry → reuse detection → admin
//! revocation → revocation feed → an Appwrite OAuth2-server token, each step against the
//! running server, over HTTP, and checked: an unexpected answer stops the demo with an error.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokenmint_fake_appwrite::FakeAppwrite;

use super::show::{Answer, Call, expect};
use super::verify;
use crate::Config;
use crate::clock::SystemClock;
use crate::domain::admin_keys::AdminKeys;
use crate::domain::model::admin_keys::AdminRole;
use crate::domain::model::audit::{Actor, RequestContext};

/// How many steps the walk-through has.
pub const STEPS: usize = 8;
/// The demo's Appwrite user.
pub const USER: &str = "demo";
/// RFC 8693's grant type.
pub const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The subject-token type of an Appwrite JWT.
pub const APPWRITE_JWT: &str = "urn:tokenmint:params:token-type:appwrite-jwt";
/// The audience tokens are issued for (tokenmint's default).
pub const AUDIENCE: &str = "api";
/// The demo app's client id at the stand-in's OAuth2 server (`APPWRITE_OAUTH_CLIENT_IDS`).
pub const OAUTH_CLIENT: &str = "demo-app";
/// The subject-token type of an access token (RFC 8693 §3).
pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// What the steps work with.
pub struct Tour<'a> {
    /// tokenmint's base URL (also its issuer).
    pub base: String,
    /// The HTTP client (no proxy: everything is on loopback).
    pub client: reqwest::Client,
    /// The Appwrite stand-in.
    pub appwrite: &'a FakeAppwrite,
    /// The server's configuration (its database, its grace window).
    pub config: &'a Config,
}

/// Runs every step; returns the admin key it created.
pub async fn walk_through(tour: &Tour<'_>) -> anyhow::Result<String> {
    let signed_in = tour.appwrite.signed_in_user(USER);
    heading(1, "Exchange an Appwrite JWT for tokenmint's tokens");
    println!(
        "An app signs its user in with the Appwrite SDK and calls account.createJWT(). The\n\
         stand-in signed in user \"{USER}\" and issued the JWT below (valid 15 minutes);\n\
         tokenmint asks the stand-in, once, whom it belongs to (GET /v1/account)."
    );
    let first = exchange(tour, &signed_in.jwt).await?;
    expect(first.status == 200, "the exchange to succeed")?;
    let first_refresh = first.text("refresh_token")?;

    heading(
        2,
        "Verify the access token against the JWKS, as a microservice does",
    );
    let sid = verify_step(tour, &first.text("access_token")?).await?;

    heading(3, "Refresh: every refresh returns a new refresh token");
    let refreshed = refresh(tour, &first_refresh).await?;
    expect(refreshed.status == 200, "the refresh to succeed")?;
    let successor = refreshed.text("refresh_token")?;
    expect(successor != first_refresh, "a new refresh token")?;
    println!("The refresh token of step 1 is used now; an app keeps only the newest.");

    heading(
        4,
        "Grace retry: the same old token again, within the grace window",
    );
    let retried = refresh(tour, &first_refresh).await?;
    expect(
        retried.status == 200 && retried.text("refresh_token")? == successor,
        "the same successor as in step 3",
    )?;
    println!(
        "The same refresh token as in step 3: a retry after a lost answer (or two threads\n\
         refreshing at once) gets the successor it missed, with a fresh access token."
    );

    heading(
        5,
        "Reuse detection: the old token again, after the grace window",
    );
    reuse_step(tour, &first_refresh, &successor).await?;

    heading(6, "Admin revocation of one session");
    let (admin_key, second_sid) = admin_step(tour).await?;

    heading(7, "The revocation feed");
    feed_step(tour, &admin_key, &[&sid, &second_sid]).await?;

    heading(8, "Sign in through Appwrite's OAuth2 server instead");
    oauth_step(tour).await?;
    Ok(admin_key)
}

/// A step's heading: `== 3/8 Refresh`.
fn heading(number: usize, title: &str) {
    println!("\n== {number}/{STEPS} {title}\n");
}

/// The token-exchange call for an Appwrite JWT.
pub fn exchange_call(base: &str, jwt: &str) -> Call {
    Call::post_form(
        format!("{base}/oauth/token"),
        vec![
            ("grant_type", EXCHANGE.to_owned()),
            ("subject_token_type", APPWRITE_JWT.to_owned()),
            ("subject_token", jwt.to_owned()),
        ],
    )
}

async fn exchange(tour: &Tour<'_>, jwt: &str) -> anyhow::Result<Answer> {
    exchange_call(&tour.base, jwt).run(&tour.client).await
}

async fn refresh(tour: &Tour<'_>, refresh_token: &str) -> anyhow::Result<Answer> {
    Call::post_form(
        format!("{}/oauth/token", tour.base),
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.to_owned()),
        ],
    )
    .run(&tour.client)
    .await
}

fn is_invalid_grant(answer: &Answer) -> bool {
    answer.status == 400 && answer.json["error"] == "invalid_grant"
}

/// Fetches the JWKS (shown), verifies the token locally, shows its claims; returns its `sid`.
async fn verify_step(tour: &Tour<'_>, access_token: &str) -> anyhow::Result<String> {
    let jwks = Call::get(format!("{}/.well-known/jwks.json", tour.base))
        .run(&tour.client)
        .await?;
    expect(jwks.status == 200, "the JWKS")?;
    let verified = verify::verify(access_token, &jwks.json, &tour.base, AUDIENCE)?;
    println!(
        "\nVerified locally, with no call to tokenmint:\n  \
         signature by key {}, algorithm {:?} (pinned by the key, never taken from the token)\n  \
         typ at+jwt, iss {}, aud {AUDIENCE}, exp in the future\n\
         The claims:",
        verified.kid, verified.algorithm, tour.base
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&verified.claims).unwrap_or_default()
    );
    println!(
        "In Rust, the tokenmint-verify crate does this with a cached JWKS and the revocation\n\
         feed; any JWT library with a JWKS client does it too (PyJWT, jose, …)."
    );
    verified.claims["sid"]
        .as_str()
        .map(str::to_owned)
        .context("the access token has no sid")
}

async fn reuse_step(tour: &Tour<'_>, used: &str, newest: &str) -> anyhow::Result<()> {
    let wait = tour.config.refresh_grace + Duration::from_secs(1);
    println!(
        "This demo runs with TOKENMINT_REFRESH_GRACE={} (the default is 10s) so this wait is\n\
         short. Waiting {} s…",
        humantime::format_duration(tour.config.refresh_grace),
        wait.as_secs()
    );
    tokio::time::sleep(wait).await;
    let reused = refresh(tour, used).await?;
    expect(
        is_invalid_grant(&reused),
        "400 invalid_grant for a reused token",
    )?;
    println!(
        "\nA used token after the grace window means a copy exists: tokenmint revoked the whole\n\
         session (reason refresh_token_reuse, audited). Even the newest token is refused now:"
    );
    let newest = refresh(tour, newest).await?;
    expect(
        is_invalid_grant(&newest),
        "400 invalid_grant for the revoked session's newest token",
    )
}

/// A second sign-in, an admin key, `DELETE /admin/v1/sessions/{id}`; returns the key and the
/// revoked session's id.
async fn admin_step(tour: &Tour<'_>) -> anyhow::Result<(String, String)> {
    println!("A second sign-in, say on a tablet:");
    let (session_id, _) = tour.appwrite.create_session(USER);
    let second = exchange(tour, &tour.appwrite.create_jwt(USER, &session_id)).await?;
    expect(second.status == 200, "the second exchange to succeed")?;
    let jwks = tour
        .client
        .get(format!("{}/.well-known/jwks.json", tour.base))
        .send()
        .await?
        .bytes()
        .await?;
    let jwks = serde_json::from_slice(&jwks).context("the JWKS is not JSON")?;
    let claims = verify::verify(&second.text("access_token")?, &jwks, &tour.base, AUDIENCE)?.claims;
    let sid = claims["sid"].as_str().context("no sid")?.to_owned();

    println!("\nAn operator creates an admin key (shown once; stored as an Argon2id hash):");
    println!(
        "$ DATABASE_URL={} {} admin-keys create --name demo",
        tour.config.database_url,
        program()
    );
    let key = create_admin_key(tour.config).await?;
    println!("{key}\n\nand revokes the tablet's session ({sid}):");
    let revoked = Call::delete(format!("{}/admin/v1/sessions/{sid}", tour.base))
        .bearer(&key)
        .run(&tour.client)
        .await?;
    expect(
        revoked.status == 200 && revoked.json["revoked_reason"] == "admin",
        "the session revoked with reason admin",
    )?;
    println!("\nIts refresh token no longer works:");
    let refused = refresh(tour, &second.text("refresh_token")?).await?;
    expect(
        is_invalid_grant(&refused),
        "400 invalid_grant after the revocation",
    )?;
    Ok((key, sid))
}

async fn feed_step(tour: &Tour<'_>, key: &str, sids: &[&str]) -> anyhow::Result<()> {
    println!(
        "A revoked session's access tokens stay valid until they expire (15 minutes) for\n\
         verifiers that only check signatures. The feed closes that gap. It names users, so it\n\
         takes a key (verifiers get one with `--role feed`; the demo reuses its admin key):"
    );
    let feed = Call::get(format!("{}/v1/revocations", tour.base))
        .bearer(key)
        .run(&tour.client)
        .await?;
    let listed = |sid: &str| {
        feed.json["sessions"]
            .as_array()
            .is_some_and(|s| s.iter().any(|e| e["sid"] == sid))
    };
    expect(
        feed.status == 200 && sids.iter().all(|sid| listed(sid)),
        "both revoked sessions in the feed",
    )?;
    println!(
        "\nBoth sessions are listed (step 5's and step 6's). Verifiers poll the feed\n\
         (tokenmint-verify every 5 s by default, passing back the cursor) and reject those\n\
         sessions' access tokens at once."
    );
    Ok(())
}

/// An access token of the stand-in's OAuth2 server, exchanged and verified locally.
async fn oauth_step(tour: &Tour<'_>) -> anyhow::Result<()> {
    println!(
        "An app that signs users in through Appwrite's OAuth2 server holds Appwrite's own RS256\n\
         access token (typ at+jwt) and no Appwrite session. tokenmint accepts it for the OAuth\n\
         clients in APPWRITE_OAUTH_CLIENT_IDS (here {OAUTH_CLIENT}) and checks it locally against\n\
         the project's JWKS, found through {}/.well-known/openid-configuration:",
        tour.appwrite.oauth_issuer()
    );
    let token = tour.appwrite.oauth_access_token(USER, OAUTH_CLIENT);
    let account_calls = account_calls(tour);
    let answer = Call::post_form(
        format!("{}/oauth/token", tour.base),
        vec![
            ("grant_type", EXCHANGE.to_owned()),
            ("subject_token_type", ACCESS_TOKEN.to_owned()),
            ("subject_token", token),
        ],
    )
    .run(&tour.client)
    .await?;
    expect(
        answer.status == 200,
        "the OAuth2 access token to be exchanged",
    )?;
    expect(
        account_calls == self::account_calls(tour),
        "no call to Appwrite's account API",
    )?;
    println!(
        "\nAppwrite's account API was not called: the stand-in served its discovery document\n\
         {} time(s) and its JWKS {} time(s), which tokenmint caches (Cache-Control) and fetches\n\
         again only for a key id it has not seen.",
        tour.appwrite.oauth_discovery_fetches(),
        tour.appwrite.oauth_jwks_fetches()
    );
    Ok(())
}

/// How many requests the stand-in's account API has answered.
fn account_calls(tour: &Tour<'_>) -> usize {
    tour.appwrite
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v1/account"))
        .count()
}

/// Creates an admin key as `tokenmint admin-keys create` does: through the database, with the
/// domain's admin-key service.
async fn create_admin_key(config: &Config) -> anyhow::Result<String> {
    let database =
        crate::startup::open_database(config, std::sync::Arc::new(crate::clock::SystemClock))
            .await?;
    let keys = AdminKeys::new(
        database.store(),
        Arc::new(SystemClock),
        config.admin_key_cache_ttl,
    );
    let created = keys
        .create(
            "demo",
            AdminRole::Admin,
            Actor::System,
            &RequestContext::default(),
        )
        .await;
    database.close().await;
    let (record, key) = created?;
    println!(
        "created admin key {} (demo, role admin); it is shown once, below",
        record.id
    );
    Ok(key)
}

/// This program as the user can run it again (its full path), for the commands shown.
pub fn program() -> String {
    std::env::current_exe()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|_| "tokenmint".into())
}
