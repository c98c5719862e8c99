//! The verifier: built explicitly, cheap to clone, no globals.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use tokio::sync::{Mutex, OnceCell};

use crate::feed::{Revocations, fetch_page};
use crate::jwks::{ACCEPTED, PinnedKey, fetch};
use crate::{Claims, VerifyError};

/// Tokens larger than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// The `typ` header of access tokens (RFC 9068).
const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Configures a [`Verifier`].
#[derive(Debug, Clone)]
pub struct VerifierBuilder {
    issuer: String,
    audiences: Vec<String>,
    jwks_url: Option<String>,
    feed_interval: Option<Duration>,
    feed_url: Option<String>,
    leeway: Duration,
    min_refetch_interval: Duration,
    algorithms: Vec<Algorithm>,
    http: Option<reqwest::Client>,
}

impl VerifierBuilder {
    /// Accepts tokens whose `aud` is `audience` (call again to accept several). Required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Fetches keys from this URL instead of discovering `jwks_uri` from the issuer.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Polls `{issuer}/v1/revocations` every `interval` (tokenmint's default is 5 s) and rejects
    /// revoked tokens. Needs a Tokio runtime when [`VerifierBuilder::build`] is called.
    pub fn revocation_feed(mut self, interval: Duration) -> Self {
        self.feed_interval = Some(interval);
        self
    }

    /// Polls this URL instead of `{issuer}/v1/revocations` (when tokenmint is reached by another
    /// address than its issuer URL, e.g. inside a cluster).
    pub fn revocations_url(mut self, url: impl Into<String>) -> Self {
        self.feed_url = Some(url.into());
        self
    }

    /// Clock leeway for `exp` and `iat` (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Least time between two JWKS fetches caused by unknown `kid`s (default 10 s).
    pub fn min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }

    /// Narrows the accepted algorithms (default: ES256, EdDSA, RS256; nothing else is possible).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms
            .into_iter()
            .filter(|a| ACCEPTED.contains(a))
            .collect();
        self
    }

    /// Uses this HTTP client (for proxies or custom roots) instead of a default one.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the verifier. Fails on an unusable configuration; fetches nothing yet.
    pub fn build(self) -> Result<Verifier, VerifyError> {
        if self.audiences.is_empty() {
            return Err(VerifyError::Config(
                "at least one audience is required".into(),
            ));
        }
        if self.algorithms.is_empty() {
            return Err(VerifyError::Config("no accepted algorithm is left".into()));
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|err| VerifyError::Config(err.to_string()))?,
        };
        let base = self.issuer.trim_end_matches('/').to_owned();
        let inner = Arc::new(Inner {
            feed: self.feed_interval.map(|_| FeedState {
                url: self
                    .feed_url
                    .clone()
                    .unwrap_or_else(|| format!("{base}/v1/revocations")),
                revocations: RwLock::default(),
            }),
            issuer: self.issuer,
            base,
            audiences: self.audiences,
            jwks_url: OnceCell::new_with(self.jwks_url),
            leeway: self.leeway,
            min_refetch_interval: self.min_refetch_interval,
            algorithms: self.algorithms,
            http,
            cache: RwLock::default(),
            fetch_lock: Mutex::new(None),
            jwks_fetches: AtomicU64::new(0),
            unknown_kid_fetches: AtomicU64::new(0),
            feed_failures: AtomicU64::new(0),
        });
        if let Some(interval) = self.feed_interval {
            let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
                VerifyError::Config("a revocation feed needs a Tokio runtime".into())
            })?;
            runtime.spawn(follow_feed(Arc::downgrade(&inner), interval));
        }
        Ok(Verifier(inner))
    }
}

/// Verifies tokenmint access tokens. Clone it freely: clones share keys and feed state.
#[derive(Clone)]
pub struct Verifier(Arc<Inner>);

struct Inner {
    issuer: String,
    base: String,
    audiences: Vec<String>,
    jwks_url: OnceCell<String>,
    leeway: Duration,
    min_refetch_interval: Duration,
    algorithms: Vec<Algorithm>,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
    /// Single-flight for fetches, holding when the last one happened.
    fetch_lock: Mutex<Option<Instant>>,
    jwks_fetches: AtomicU64,
    unknown_kid_fetches: AtomicU64,
    feed_failures: AtomicU64,
    feed: Option<FeedState>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, PinnedKey>,
    fresh_until: Option<Instant>,
}

struct FeedState {
    url: String,
    revocations: RwLock<Revocations>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl Verifier {
    /// Starts configuring a verifier for tokens issued by `issuer` (exactly tokenmint's
    /// `TOKENMINT_ISSUER`).
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder {
            issuer: issuer.into(),
            audiences: Vec::new(),
            jwks_url: None,
            feed_interval: None,
            feed_url: None,
            leeway: Duration::from_secs(30),
            min_refetch_interval: Duration::from_secs(10),
            algorithms: ACCEPTED.to_vec(),
            http: None,
        }
    }

    /// Verifies an access token (the bearer token, without `Bearer `) and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TooLarge);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(VerifyError::WrongType);
        }
        let kid = header.kid.ok_or(VerifyError::Malformed)?;
        let key = self.key_for(&kid).await?;
        let inner = &self.0;
        // The algorithm is the key's, never the token's: a token claiming another is refused.
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&inner.issuer]);
        validation.set_audience(&inner.audiences);
        validation.leeway = inner.leeway.as_secs();
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => VerifyError::Expired,
                ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidIssuer
                | ErrorKind::InvalidAudience
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::InvalidKeyFormat => VerifyError::Invalid,
                _ => VerifyError::Malformed,
            })?
            .claims;
        let leeway = i64::try_from(inner.leeway.as_secs()).unwrap_or(i64::MAX);
        if claims.iat > unix_now().saturating_add(leeway) {
            return Err(VerifyError::NotYetValid);
        }
        if let Some(feed) = &inner.feed {
            let revocations = feed
                .revocations
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if revocations.revokes(&claims.sid, &claims.sub, claims.iat) {
                return Err(VerifyError::Revoked);
            }
        }
        Ok(claims)
    }

    /// Fetches the JWKS now, whatever the cache says (after an emergency key revocation).
    pub async fn refresh_keys(&self) -> Result<(), VerifyError> {
        let mut last = self.0.fetch_lock.lock().await;
        self.fetch_keys(&mut last).await
    }

    /// Polls the revocation feed now (it is also polled in the background).
    pub async fn sync_revocations(&self) -> Result<(), VerifyError> {
        self.0.poll_feed().await
    }

    /// How many times the JWKS has been fetched: for metrics and tests.
    pub fn jwks_fetches(&self) -> u64 {
        self.0.jwks_fetches.load(Ordering::Relaxed)
    }

    /// How many background polls of the revocation feed failed (they are retried on the next
    /// tick): alert on it, since revocations stop arriving while it grows.
    pub fn feed_failures(&self) -> u64 {
        self.0.feed_failures.load(Ordering::Relaxed)
    }

    /// How many of those fetches a token with an unknown `kid` caused (while the cache was
    /// fresh). With tokenmint's rotation this stays 0: keys are published before they sign.
    pub fn unknown_kid_fetches(&self) -> u64 {
        self.0.unknown_kid_fetches.load(Ordering::Relaxed)
    }

    /// The key for `kid`: from a fresh cache; else after a (single-flight) fetch when the cache
    /// is stale or the kid unknown, unknown kids refetching at most once per interval.
    async fn key_for(&self, kid: &str) -> Result<PinnedKey, VerifyError> {
        if let Some(key) = self.cached(kid, true) {
            return Ok(key);
        }
        let mut last = self.0.fetch_lock.lock().await;
        if let Some(key) = self.cached(kid, true) {
            return Ok(key); // another request fetched while this one waited
        }
        let stale = !self.is_fresh();
        let rate_limited = last.is_some_and(|at| at.elapsed() < self.0.min_refetch_interval);
        if !stale && !rate_limited {
            self.0.unknown_kid_fetches.fetch_add(1, Ordering::Relaxed);
        }
        if (stale || !rate_limited)
            && let Err(err) = self.fetch_keys(&mut last).await
        {
            // Keep serving from stale keys rather than failing every request.
            return self.cached(kid, false).ok_or(err);
        }
        self.cached(kid, false).ok_or(VerifyError::UnknownKey)
    }

    fn is_fresh(&self) -> bool {
        let cache = self.0.cache.read().unwrap_or_else(PoisonError::into_inner);
        cache
            .fresh_until
            .is_some_and(|until| Instant::now() < until)
    }

    fn cached(&self, kid: &str, fresh_only: bool) -> Option<PinnedKey> {
        let cache = self.0.cache.read().unwrap_or_else(PoisonError::into_inner);
        let fresh = cache
            .fresh_until
            .is_some_and(|until| Instant::now() < until);
        (fresh || !fresh_only)
            .then(|| cache.keys.get(kid).cloned())
            .flatten()
    }

    async fn fetch_keys(&self, last: &mut Option<Instant>) -> Result<(), VerifyError> {
        let inner = &self.0;
        *last = Some(Instant::now());
        let url = inner.jwks_url.get_or_try_init(|| inner.discover()).await?;
        inner.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = fetch(&inner.http, url, &inner.algorithms).await?;
        let mut cache = inner.cache.write().unwrap_or_else(PoisonError::into_inner);
        cache.keys = fetched.keys;
        cache.fresh_until = Some(Instant::now() + fetched.max_age);
        Ok(())
    }
}

impl Inner {
    /// `jwks_uri` from the issuer's discovery document, whose `issuer` must match exactly.
    async fn discover(&self) -> Result<String, VerifyError> {
        let url = format!("{}/.well-known/openid-configuration", self.base);
        let unavailable =
            |err: reqwest::Error| VerifyError::KeysUnavailable(err.without_url().to_string());
        let document: Discovery = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(unavailable)?
            .error_for_status()
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        if document.issuer != self.issuer {
            return Err(VerifyError::Config(format!(
                "the discovery document names issuer {:?}",
                document.issuer
            )));
        }
        Ok(document.jwks_uri)
    }

    async fn poll_feed(&self) -> Result<(), VerifyError> {
        let Some(feed) = &self.feed else {
            return Ok(());
        };
        // Bounded: a huge backlog is read over several polls rather than in one loop.
        for _ in 0..100 {
            let url = feed
                .revocations
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .next_url(&feed.url);
            let page = fetch_page(&self.http, &url).await?;
            let more = page.more;
            let mut revocations = feed
                .revocations
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            revocations.apply(page);
            revocations.prune(unix_now());
            if !more {
                break;
            }
        }
        Ok(())
    }
}

/// Polls the feed until the verifier is dropped.
async fn follow_feed(inner: Weak<Inner>, interval: Duration) {
    loop {
        let Some(verifier) = inner.upgrade() else {
            return;
        };
        if verifier.poll_feed().await.is_err() {
            // Retried on the next tick; visible through `Verifier::feed_failures`.
            verifier.feed_failures.fetch_add(1, Ordering::Relaxed);
        }
        drop(verifier);
        tokio::time::sleep(interval).await;
    }
}

// A library has no tokenmint Clock to take time from; tokens are judged by the wall clock.
#[allow(clippy::disallowed_methods)]
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
