//! The verifier: built explicitly, cheap to clone, no globals.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use tokio::sync::{OnceCell, watch};

use crate::builder::VerifierBuilder;
use crate::counters;
use crate::feed::{FeedState, fetch_page};
use crate::jwks::{FetchedKeys, PinnedKey, fetch};
use crate::keys::{KeyCache, Lookup, Reason};
use crate::{Claims, VerifyError};

/// Tokens larger than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Verifies tokenmint access tokens. Clone it freely: clones share keys and feed state.
#[derive(Clone)]
pub struct Verifier(Arc<Inner>);

struct Inner {
    issuer: String,
    base: String,
    jwks_url: OnceCell<String>,
    leeway: Duration,
    min_refetch_interval: Duration,
    algorithms: Vec<Algorithm>,
    /// The checks for each accepted algorithm, built once: `verify` allocates none of them.
    validations: Vec<(Algorithm, Validation)>,
    http: reqwest::Client,
    keys: Mutex<KeyCache>,
    /// Signalled (under the `keys` lock) each time a JWKS fetch ends.
    fetched: watch::Sender<()>,
    jwks_fetches: AtomicU64,
    unknown_kid_fetches: AtomicU64,
    feed_failures: AtomicU64,
    feed: Option<FeedState>,
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
        VerifierBuilder::new(issuer.into())
    }

    /// Starts the verifier `config` describes (already checked): no fetch yet, and the
    /// revocation feed's poller if there is a feed.
    pub(crate) fn start(config: VerifierBuilder) -> Result<Self, VerifyError> {
        let validations = config.validations();
        let http = match config.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|err| VerifyError::Config(err.to_string()))?,
        };
        let base = config.issuer.trim_end_matches('/').to_owned();
        let keys = match &config.fixed_jwks {
            Some(text) => KeyCache::fixed(crate::jwks::parse(text, &config.algorithms)?),
            None => KeyCache::default(),
        };
        let inner = Arc::new(Inner {
            feed: config.feed_interval.map(|_| {
                let url = config.feed_url.clone();
                FeedState::new(
                    url.unwrap_or_else(|| format!("{base}/v1/revocations")),
                    config.feed_key.clone(),
                    config.feed_policy,
                )
            }),
            issuer: config.issuer,
            base,
            jwks_url: OnceCell::new_with(config.jwks_url),
            validations,
            leeway: config.leeway,
            min_refetch_interval: config.min_refetch_interval,
            algorithms: config.algorithms,
            http,
            keys: Mutex::new(keys),
            fetched: watch::Sender::new(()),
            jwks_fetches: AtomicU64::new(0),
            unknown_kid_fetches: AtomicU64::new(0),
            feed_failures: AtomicU64::new(0),
        });
        if let Some(interval) = config.feed_interval {
            let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
                VerifyError::Config("a revocation feed needs a Tokio runtime".into())
            })?;
            runtime.spawn(follow_feed(Arc::downgrade(&inner), interval));
        }
        Ok(Verifier(inner))
    }

    /// Verifies an access token (the bearer token, without `Bearer `) and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let result = self.check(token).await;
        counters::verification(&result);
        result
    }

    async fn check(&self, token: &str) -> Result<Claims, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TooLarge);
        }
        if !tokenmint_token::jose::is_strict_compact_jws(token) {
            return Err(VerifyError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if !tokenmint_token::jose::is_access_token_type(header.typ.as_deref()) {
            return Err(VerifyError::WrongType);
        }
        let kid = header.kid.ok_or(VerifyError::Malformed)?;
        let key = self.key_for(&kid).await?;
        let inner = &self.0;
        // The algorithm is the key's, never the token's: a token claiming another is refused.
        let validation = inner
            .validations
            .iter()
            .find(|(algorithm, _)| *algorithm == key.algorithm)
            .map(|(_, validation)| validation)
            .ok_or(VerifyError::Invalid)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, validation)
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
            feed.check(&claims)?;
        }
        Ok(claims)
    }

    /// Fetches the JWKS now, whatever the cache and the backoff say (after an emergency key
    /// revocation); waits for a fetch already in flight first, then runs its own.
    pub async fn refresh_keys(&self) -> Result<(), VerifyError> {
        if self.0.lock_keys().is_fixed() {
            return Ok(());
        }
        loop {
            let mut fetched = self.0.fetched.subscribe();
            let started = {
                let mut keys = self.0.lock_keys();
                fetched.borrow_and_update();
                let started = keys.force(Instant::now());
                if started {
                    self.start_fetch(&mut keys, Reason::Stale);
                }
                started
            };
            // The next fetch to end is the one in flight: ours when `started`.
            let _ = fetched.changed().await;
            if started {
                return self.0.lock_keys().last_outcome();
            }
        }
    }

    /// Polls the revocation feed now (it is also polled in the background). With
    /// [`FeedFailurePolicy::Closed`](crate::FeedFailurePolicy::Closed), awaiting this at startup makes the verifier accept tokens
    /// as soon as it can.
    pub async fn sync_revocations(&self) -> Result<(), VerifyError> {
        self.0.poll_feed().await
    }

    /// Why the last poll of the revocation feed failed (for example
    /// [`VerifyError::RevocationsUnauthorized`]'s text when the key is missing or wrong);
    /// `None` once a poll succeeds, or without a feed. Log or alert on it: while polls fail,
    /// no revocation arrives.
    pub fn feed_error(&self) -> Option<String> {
        let feed = self.0.feed.as_ref()?;
        feed.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many JWKS fetches were started (successful or not; one at a time): for metrics and
    /// tests.
    pub fn jwks_fetches(&self) -> u64 {
        self.0.jwks_fetches.load(Ordering::Relaxed)
    }

    /// How many background polls of the revocation feed failed (they are retried on the next
    /// tick): alert on it, since revocations stop arriving while it grows.
    pub fn feed_failures(&self) -> u64 {
        self.0.feed_failures.load(Ordering::Relaxed)
    }

    /// When the revocation feed was last read to its end (wall clock); `None` before the first
    /// successful poll or without a feed. Revocations made since may not be applied yet.
    pub fn revocations_synced_at(&self) -> Option<SystemTime> {
        let feed = self.0.feed.as_ref()?;
        let synced = feed.synced.lock().unwrap_or_else(PoisonError::into_inner);
        synced.map(|(_, at)| at)
    }

    /// How many of those fetches a token with an unknown `kid` caused (while the cache was
    /// fresh). With tokenmint's rotation this stays 0: keys are published before they sign.
    pub fn unknown_kid_fetches(&self) -> u64 {
        self.0.unknown_kid_fetches.load(Ordering::Relaxed)
    }

    /// The key for `kid` (see the `keys` module for when a fetch starts and who waits for it):
    /// a cached key at once, fresh or stale; an unknown `kid` after one shared fetch at most.
    async fn key_for(&self, kid: &str) -> Result<Arc<PinnedKey>, VerifyError> {
        let mut waited = false;
        loop {
            let mut fetched = self.0.fetched.subscribe();
            {
                let mut keys = self.0.lock_keys();
                // Fetches end under this lock: the next change seen is one that ends later.
                fetched.borrow_and_update();
                let plan = keys.lookup(kid, Instant::now(), self.0.min_refetch_interval, waited);
                if let Some(reason) = plan.start {
                    self.start_fetch(&mut keys, reason);
                }
                match plan.lookup {
                    Lookup::Key(key) => return Ok(key),
                    Lookup::Fail(err) => return Err(err),
                    Lookup::Wait => {}
                }
            }
            // The sender lives as long as `self`: this returns when a fetch ends.
            let _ = fetched.changed().await;
            waited = true;
        }
    }

    /// Runs the fetch `keys` just recorded as started, in a task of its own so that no
    /// request's cancellation can abandon it (whoever waits for it is woken when it ends).
    fn start_fetch(&self, keys: &mut KeyCache, reason: Reason) {
        self.0.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        if reason == Reason::UnknownKid {
            self.0.unknown_kid_fetches.fetch_add(1, Ordering::Relaxed);
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(run_fetch(Arc::clone(&self.0)));
            }
            Err(_) => {
                let err = VerifyError::Config("verifying needs a Tokio runtime".into());
                self.0.fetch_ended(keys, Err(err));
            }
        }
    }
}

/// A JWKS fetch in flight; whatever ends it (even a panic or a runtime shutdown) records how.
struct PendingFetch {
    inner: Arc<Inner>,
    result: Option<Result<FetchedKeys, VerifyError>>,
}

impl Drop for PendingFetch {
    fn drop(&mut self) {
        let result = self.result.take().unwrap_or_else(|| {
            Err(VerifyError::KeysUnavailable(
                "the JWKS fetch was abandoned".into(),
            ))
        });
        let mut keys = self.inner.lock_keys();
        self.inner.fetch_ended(&mut keys, result);
    }
}

async fn run_fetch(inner: Arc<Inner>) {
    let mut pending = PendingFetch {
        inner,
        result: None,
    };
    let result = pending.inner.fetch_jwks().await;
    counters::jwks_fetch(&result);
    pending.result = Some(result);
}

impl Inner {
    fn lock_keys(&self) -> MutexGuard<'_, KeyCache> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the end of the fetch in flight and wakes whoever waits for it; called with the
    /// `keys` lock held, so that a waiter cannot miss the wake-up.
    fn fetch_ended(&self, keys: &mut KeyCache, result: Result<FetchedKeys, VerifyError>) {
        keys.finish(result, Instant::now());
        self.fetched.send_modify(|()| {});
    }

    /// Discovers the JWKS URL (once) and fetches the JWKS.
    async fn fetch_jwks(&self) -> Result<FetchedKeys, VerifyError> {
        let url = self.jwks_url.get_or_try_init(|| self.discover()).await?;
        fetch(&self.http, url, &self.algorithms).await
    }

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

    /// Reads the feed from the last cursor, up to 100 pages; the feed counts as synced once a
    /// page says nothing more follows.
    async fn poll_feed(&self) -> Result<(), VerifyError> {
        let Some(feed) = &self.feed else {
            return Ok(());
        };
        let polled = self.read_feed(feed).await;
        *feed
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = polled.as_ref().err().map(|e| e.to_string());
        polled
    }

    /// Reads `feed` from its last cursor (see [`Inner::poll_feed`]).
    async fn read_feed(&self, feed: &FeedState) -> Result<(), VerifyError> {
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        // Bounded: a huge backlog is read over several polls rather than in one loop.
        for _ in 0..100 {
            let url = feed
                .revocations
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .next_url(&feed.url);
            let page = fetch_page(&self.http, &url, feed.key.as_ref()).await;
            counters::feed_fetch(&page);
            let page = page?;
            let more = page.more;
            let mut revocations = feed
                .revocations
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            revocations.apply(page);
            // A token is accepted until `exp` + leeway: entries must outlive that.
            revocations.prune(unix_now().saturating_sub(leeway));
            if !more {
                let mut synced = feed.synced.lock().unwrap_or_else(PoisonError::into_inner);
                *synced = Some((Instant::now(), wall_clock()));
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
fn wall_clock() -> SystemTime {
    SystemTime::now()
}

fn unix_now() -> i64 {
    wall_clock()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
