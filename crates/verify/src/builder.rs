//! [`VerifierBuilder`]: what a [`Verifier`] accepts and where it finds keys and revocations,
//! checked before anything is fetched.

use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};

use crate::feed::{FeedFailurePolicy, FeedKey};
use crate::jwks::ACCEPTED;
use crate::{Verifier, VerifyError};

/// Configures a [`Verifier`].
#[derive(Debug, Clone)]
pub struct VerifierBuilder {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) jwks_url: Option<String>,
    pub(crate) feed_interval: Option<Duration>,
    pub(crate) feed_url: Option<String>,
    pub(crate) feed_key: Option<FeedKey>,
    pub(crate) feed_policy: FeedFailurePolicy,
    pub(crate) leeway: Duration,
    pub(crate) min_refetch_interval: Duration,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) http: Option<reqwest::Client>,
    pub(crate) fixed_jwks: Option<String>,
}

impl VerifierBuilder {
    /// The defaults: 30 s of leeway, every accepted algorithm, the JWKS found by discovery,
    /// no revocation feed.
    pub(crate) fn new(issuer: String) -> Self {
        Self {
            issuer,
            audiences: Vec::new(),
            jwks_url: None,
            feed_interval: None,
            feed_url: None,
            feed_key: None,
            feed_policy: FeedFailurePolicy::Open,
            leeway: Duration::from_secs(30),
            min_refetch_interval: Duration::from_secs(10),
            algorithms: ACCEPTED.to_vec(),
            http: None,
            fixed_jwks: None,
        }
    }

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
    /// revoked tokens; while polls fail, see [`VerifierBuilder::feed_failure_policy`]. Needs a
    /// Tokio runtime when [`VerifierBuilder::build`] is called.
    pub fn revocation_feed(mut self, interval: Duration) -> Self {
        self.feed_interval = Some(interval);
        self
    }

    /// Sends `key` as `Authorization: Bearer` on every poll of the revocation feed, which
    /// tokenmint requires unless it runs with `TOKENMINT_REVOCATION_FEED_PUBLIC=true`: an admin
    /// key with the `feed` role (`tokenmint admin-keys create --name orders --role feed`).
    /// Without it, or with a wrong one, every poll fails with
    /// [`VerifyError::RevocationsUnauthorized`] (see [`Verifier::feed_error`](crate::Verifier::feed_error)).
    /// The key is never shown by `Debug`.
    pub fn revocation_feed_key(mut self, key: impl Into<String>) -> Self {
        self.feed_key = Some(FeedKey(key.into()));
        self
    }

    /// Polls this URL instead of `{issuer}/v1/revocations` (when tokenmint is reached by another
    /// address than its issuer URL, e.g. inside a cluster).
    pub fn revocations_url(mut self, url: impl Into<String>) -> Self {
        self.feed_url = Some(url.into());
        self
    }

    /// What `verify` does while the revocation feed cannot be polled (default
    /// [`FeedFailurePolicy::Open`]: accept). [`FeedFailurePolicy::Closed`] needs
    /// [`VerifierBuilder::revocation_feed`], with a poll interval shorter than `max_staleness`.
    pub fn feed_failure_policy(mut self, policy: FeedFailurePolicy) -> Self {
        self.feed_policy = policy;
        self
    }

    /// Clock leeway for `exp` and `iat` (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Least time between two JWKS fetches caused by unknown `kid`s while the cached JWKS is
    /// fresh (default 10 s); within it a token with an unknown `kid` is rejected at once.
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

    /// Verifies against the keys of this JWKS document (its JSON text) and never fetches any:
    /// for fuzzing and for tests of the checks themselves, with no network. Not a way to run a
    /// verifier in production, where keys rotate.
    #[doc(hidden)]
    pub fn fixed_jwks(mut self, jwks: impl Into<String>) -> Self {
        self.fixed_jwks = Some(jwks.into());
        self
    }

    /// Builds the verifier. Fails on an unusable configuration; fetches nothing yet.
    pub fn build(self) -> Result<Verifier, VerifyError> {
        self.check()?;
        Verifier::start(self)
    }

    /// The configuration errors [`VerifierBuilder::build`] reports.
    fn check(&self) -> Result<(), VerifyError> {
        if self.audiences.is_empty() {
            return Err(VerifyError::Config(
                "at least one audience is required".into(),
            ));
        }
        if self.algorithms.is_empty() {
            return Err(VerifyError::Config("no accepted algorithm is left".into()));
        }
        if let FeedFailurePolicy::Closed { max_staleness } = self.feed_policy {
            match self.feed_interval {
                None => Err(VerifyError::Config(
                    "a fail-closed feed policy needs a revocation feed".into(),
                )),
                Some(interval) if max_staleness <= interval => Err(VerifyError::Config(
                    "max_staleness must be longer than the feed's poll interval".into(),
                )),
                Some(_) => Ok(()),
            }?;
        }
        Ok(())
    }
}

impl VerifierBuilder {
    /// The checks of every token, for each accepted algorithm: `iss`, `aud`, `exp` with the
    /// leeway, and the claims every tokenmint access token carries. Built once, so `verify`
    /// allocates none of them.
    pub(crate) fn validations(&self) -> Vec<(Algorithm, Validation)> {
        self.algorithms
            .iter()
            .map(|&algorithm| {
                let mut validation = Validation::new(algorithm);
                validation.set_issuer(&[&self.issuer]);
                validation.set_audience(&self.audiences);
                validation.leeway = self.leeway.as_secs();
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                (algorithm, validation)
            })
            .collect()
    }
}
