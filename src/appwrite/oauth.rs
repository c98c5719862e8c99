//! Tokens of Appwrite's OAuth2 / OpenID Connect server (docs/appwrite-2026.md §1), verified
//! locally: no call to Appwrite's API, only its discovery document and JWKS, cached.
//!
//! - The issuer is pinned (`APPWRITE_OAUTH_ISSUER`, by default `{APPWRITE_ENDPOINT}/oauth2/
//!   {APPWRITE_PROJECT_ID}`); the discovery document must name it exactly, and its `jwks_uri`
//!   is where keys come from.
//! - Only RS256, the one algorithm Appwrite's server publishes, and only with a key whose JWK
//!   allows it: a token naming another `alg` is refused before any key is used, so an RSA
//!   public key can never serve as an HMAC secret.
//! - `aud` must name one of `APPWRITE_OAUTH_CLIENT_IDS`; an access token's `client_id`, when
//!   present, too. An access token must carry `typ: at+jwt` (RFC 9068) and an ID token must
//!   not, so that neither passes for the other although one key signs both.
//! - The JWKS is cached as long as its `Cache-Control: max-age` says (5 min when it says
//!   nothing, 1 min to 1 day whatever it says); a `kid` it lacks fetches it again at once,
//!   at most once per [`MIN_REFETCH_INTERVAL`] (in between, such a token is answered 503:
//!   it may be signed with a key Appwrite has just rotated in, so it must not be refused). One fetch at a time: concurrent exchanges
//!   wait for the fetch in flight. When a refetch fails, the keys already held keep serving,
//!   and the next fetch waits a second; with no key held at all the exchange answers 503.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::jwks::{max_age, usable_keys};
use crate::domain::model::sessions::UserSnapshot;
use crate::domain::ports::{BoxError, IdentityError, VerifiedLogin};
use crate::domain::text::is_identifier;

/// Least time between two JWKS fetches caused by an unknown `kid`: a flood of tokens with
/// made-up `kid`s costs Appwrite one request per interval, not one per token.
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// After a failed fetch, how long exchanges use the keys held (or answer 503) before the next.
const FAILURE_BACKOFF: Duration = Duration::from_secs(1);
/// JWKS lifetime when Appwrite's answer says nothing usable.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// Bounds on the honoured `max-age`.
const SHORTEST_MAX_AGE: Duration = Duration::from_secs(60);
const LONGEST_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Largest discovery document or JWKS read: Cloud's are about 2 KiB and 0.5 KiB.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Clock leeway for `exp`, `nbf` and `iat`.
const LEEWAY_SECS: u64 = 30;

/// Which of the OAuth2 server's tokens was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthTokenKind {
    /// An access token (`urn:ietf:params:oauth:token-type:access_token`).
    AccessToken,
    /// An ID token (`urn:ietf:params:oauth:token-type:id_token`).
    IdToken,
}

/// Verifies the tokens of one Appwrite project's OAuth2 server.
pub struct OAuthVerifier {
    http: reqwest::Client,
    issuer: String,
    client_ids: Vec<String>,
    keys: Mutex<KeySet>,
}

impl std::fmt::Debug for OAuthVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthVerifier")
            .field("issuer", &self.issuer)
            .field("client_ids", &self.client_ids)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct KeySet {
    jwks_uri: Option<String>,
    keys: HashMap<String, Arc<DecodingKey>>,
    fresh_until: Option<Instant>,
    last_unknown_kid_fetch: Option<Instant>,
    last_failure: Option<Instant>,
}

/// The claims read from a token; `iss`, `aud` and `exp` are checked by `jsonwebtoken`.
#[derive(Deserialize)]
struct TokenClaims {
    sub: String,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    client_id: Option<String>,
    /// A session or grant id, when Appwrite names one (its discovery lists no such claim).
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
    #[serde(default)]
    name: Option<String>,
    /// RFC 8693 §4.1: who acts on the user's behalf.
    #[serde(default)]
    act: Option<Actor>,
    /// OIDC: seconds since the epoch.
    #[serde(default)]
    updated_at: Option<i64>,
}

#[derive(Deserialize)]
struct Actor {
    sub: String,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct KeysUnavailable(String);

impl OAuthVerifier {
    /// A verifier of tokens issued by `issuer` to one of `client_ids`, fetching over `http`.
    pub fn new(http: reqwest::Client, issuer: &str, client_ids: Vec<String>) -> Self {
        Self {
            http,
            issuer: issuer.to_owned(),
            client_ids,
            keys: Mutex::default(),
        }
    }

    /// Verifies `token` as a `kind` and says whom it names; [`IdentityError::Rejected`] for
    /// every token that is not one Appwrite issued for an accepted client, now.
    pub async fn verify(
        &self,
        token: &SecretString,
        kind: OAuthTokenKind,
    ) -> Result<VerifiedLogin, IdentityError> {
        let token = token.expose_secret();
        let header = jsonwebtoken::decode_header(token).map_err(|_| IdentityError::Rejected)?;
        if header.alg != Algorithm::RS256 {
            tracing::info!(alg = ?header.alg, "Appwrite OAuth2 token refused: not RS256");
            return Err(IdentityError::Rejected);
        }
        let is_access_token = tokenmint_token::jose::is_access_token_type(header.typ.as_deref());
        if is_access_token != (kind == OAuthTokenKind::AccessToken) {
            tracing::info!(
                ?kind,
                "Appwrite OAuth2 token refused: its typ is another kind's"
            );
            return Err(IdentityError::Rejected);
        }
        // A token that does not even claim to be this issuer's is refused before any key is
        // looked up: only tokens naming the configured issuer can cause a JWKS fetch.
        if unverified_issuer(token).as_deref() != Some(self.issuer.as_str()) {
            tracing::info!("Appwrite OAuth2 token refused: another issuer's");
            return Err(IdentityError::Rejected);
        }
        let kid = header.kid.ok_or(IdentityError::Rejected)?;
        let key = self.key(&kid).await?;
        let claims = jsonwebtoken::decode::<TokenClaims>(token, &key, &self.validation())
            .map_err(|err| {
                tracing::info!(reason = ?err.kind(), "Appwrite OAuth2 token refused");
                IdentityError::Rejected
            })?
            .claims;
        self.login(claims, kind)
    }

    fn validation(&self) -> Validation {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.client_ids);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation
    }

    fn login(
        &self,
        claims: TokenClaims,
        kind: OAuthTokenKind,
    ) -> Result<VerifiedLogin, IdentityError> {
        if let Some(client_id) = &claims.client_id
            && !self.client_ids.contains(client_id)
        {
            tracing::info!("Appwrite OAuth2 token refused: issued to a client not accepted");
            return Err(IdentityError::Rejected);
        }
        let now = crate::clock::unix_now();
        let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(0);
        if claims.iat.is_some_and(|iat| iat > now + leeway) {
            return Err(IdentityError::Rejected);
        }
        if !is_identifier(&claims.sub) {
            return Err(IdentityError::Rejected);
        }
        // Only an id Appwrite could have issued links the session; anything else is dropped
        // rather than stored.
        let appwrite_session_id = claims.sid.filter(|sid| is_identifier(sid));
        let impersonator = claims
            .act
            .map(|act| act.sub)
            .filter(|sub| is_identifier(sub));
        // An access token names the user only; an ID token describes them.
        let snapshot = match kind {
            OAuthTokenKind::AccessToken => UserSnapshot::default(),
            OAuthTokenKind::IdToken => UserSnapshot {
                email: claims.email.unwrap_or_default(),
                email_verified: claims.email_verified.unwrap_or(false),
                name: claims.name.unwrap_or_default(),
                labels: Vec::new(),
            },
        };
        Ok(VerifiedLogin {
            user_id: claims.sub,
            appwrite_session_id: appwrite_session_id.unwrap_or_default(),
            snapshot,
            updated_at_ms: claims.updated_at.map_or(0, |s| s.saturating_mul(1000)),
            impersonator,
            // Appwrite vouched when it issued the token, not now: a revocation recorded since
            // must refuse it (see `NewSession::verified_at`).
            vouched_at: claims
                .iat
                .and_then(|iat| chrono::DateTime::from_timestamp(iat, 0)),
        })
    }

    /// The key `kid`, fetching the JWKS when it is stale or lacks `kid`.
    async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, IdentityError> {
        // Held across the fetch: concurrent exchanges wait for one fetch, never start several.
        let mut keys = self.keys.lock().await;
        let now = Instant::now();
        let since_last =
            |at: Option<Instant>| at.map_or(Duration::MAX, |at| now.duration_since(at));
        let stale = keys.fresh_until.is_none_or(|until| now >= until);
        let known = keys.keys.get(kid).cloned();
        let unknown_kid_fetch_allowed =
            since_last(keys.last_unknown_kid_fetch) >= MIN_REFETCH_INTERVAL;
        let fetch = if stale {
            since_last(keys.last_failure) >= FAILURE_BACKOFF
        } else {
            known.is_none() && unknown_kid_fetch_allowed
        };
        if fetch {
            if !stale {
                keys.last_unknown_kid_fetch = Some(now);
            }
            if let Err(err) = self.fetch(&mut keys).await {
                keys.last_failure = Some(Instant::now());
                tracing::warn!(error = %err, "Appwrite's JWKS could not be fetched");
            }
        }
        if let Some(key) = keys.keys.get(kid).cloned().or(known) {
            return Ok(key);
        }
        if keys.fresh_until.is_none() {
            // No key was ever fetched: Appwrite is unreachable, not the token bad.
            return Err(IdentityError::Unavailable(Box::new(KeysUnavailable(
                "Appwrite's JWKS could not be fetched".into(),
            ))));
        }
        if !fetch {
            // Not checked against Appwrite's current keys (refetches are rate-limited): a key
            // Appwrite has just rotated in must get a retry, not a refusal.
            return Err(IdentityError::Unavailable(Box::new(KeysUnavailable(
                "a token names a kid not in Appwrite's JWKS; it is refetched at most every 10 s"
                    .into(),
            ))));
        }
        tracing::info!("Appwrite OAuth2 token refused: its kid is not in Appwrite's JWKS");
        Err(IdentityError::Rejected)
    }

    async fn fetch(&self, keys: &mut KeySet) -> Result<(), BoxError> {
        let jwks_uri = match &keys.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let url = format!("{}/.well-known/openid-configuration", self.issuer);
                let (discovery, _) = self.get::<Discovery>(&url).await?;
                if discovery.issuer != self.issuer {
                    return Err(Box::new(KeysUnavailable(format!(
                        "Appwrite's discovery document names issuer {:?}, not the configured one",
                        discovery.issuer
                    ))));
                }
                keys.jwks_uri = Some(discovery.jwks_uri.clone());
                discovery.jwks_uri
            }
        };
        let (set, max_age) = self.get::<JwkSet>(&jwks_uri).await?;
        keys.keys = usable_keys(&set);
        keys.fresh_until = Some(Instant::now() + max_age);
        Ok(())
    }

    /// GETs a JSON document of at most [`MAX_DOCUMENT_BYTES`] and its cache lifetime.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<(T, Duration), BoxError> {
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(reqwest::Error::without_url)?
            .error_for_status()
            .map_err(reqwest::Error::without_url)?;
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_MAX_AGE)
            .clamp(SHORTEST_MAX_AGE, LONGEST_MAX_AGE);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(reqwest::Error::without_url)?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(Box::new(KeysUnavailable(format!(
                    "an Appwrite OAuth2 document is larger than {MAX_DOCUMENT_BYTES} bytes"
                ))));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((serde_json::from_slice(&body)?, max_age))
    }
}

/// The `iss` a token claims, unverified.
fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    let payload = token.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Issuer>(&json).ok().map(|c| c.iss)
}
