//! `tokenmint-verify`: verify tokenmint access tokens in a Rust microservice, locally, with no
//! network call on the hot path (guide: `docs/guides/verifying-tokens.md` in tokenmint's tree).
//!
//! - The JWKS is fetched from `jwks_url`, or found through the issuer's discovery document, and
//!   cached as long as its `Cache-Control: max-age` says (5 min when it says nothing, 24 h at
//!   most).
//! - The algorithm comes from the key, never from the token: each JWK's `alg` pins it, and only
//!   `ES256`, `EdDSA` and `RS256` are accepted (never `none`, never HMAC).
//! - `typ` must be `at+jwt` (RFC 9068); `iss`, `aud`, `exp` and `iat` are checked with a small
//!   leeway; every claim tokenmint issues must be present; tokens over 16 KiB are refused.
//! - A header or claims set that repeats a member name (at any depth), or a header with `crit`
//!   (RFC 7515 §4.1.11: no extension is understood), is refused; `jku`, `x5u`, `jwk` and `x5c`
//!   are never read: only the keys of the configured JWKS count.
//! - Optionally, the revocation feed (`GET {issuer}/v1/revocations`) is polled in the
//!   background: a token whose session was revoked, or issued before its user's not-before,
//!   is rejected within one poll interval. The feed names users, so tokenmint requires a key
//!   for it by default: pass an admin key with the `feed` role to
//!   [`VerifierBuilder::revocation_feed_key`]. A refused key is reported
//!   ([`VerifyError::RevocationsUnauthorized`] from [`Verifier::sync_revocations`],
//!   [`Verifier::feed_error`]), never read as "no revocations".
//!
//! # When the JWKS endpoint is slow or down
//!
//! `verify` never waits on the network for a `kid` the cache holds, fresh or stale:
//!
//! - A stale cache keeps serving while one refetch runs in the background
//!   (stale-while-revalidate), and while refetches fail.
//! - At most one JWKS fetch is in flight. After a failed one the next waits 1 s, then 2 s, 4 s,
//!   … doubling per consecutive failure up to 5 min; a success resets it.
//! - A token with an unknown `kid` waits for the fetch in flight, or starts one and waits for it
//!   (one shared fetch, however many tokens wait); never for a second. While backing off, or
//!   within `min_refetch_interval` (10 s) of the last fetch with a fresh cache, it is rejected at
//!   once with [`VerifyError::UnknownKey`] — or, before any fetch succeeded, with the error that
//!   fetch failed with (usually [`VerifyError::KeysUnavailable`]).
//! - The very first `verify` waits for the first fetch, shared by every concurrent request.
//!
//! Fetches run in their own Tokio task, so a cancelled request never abandons one; the HTTP
//! client's timeout (10 s by default) bounds how long a waiting request can wait.
//!
//! # When the revocation feed is down
//!
//! [`VerifierBuilder::feed_failure_policy`] chooses:
//!
//! - [`FeedFailurePolicy::Open`] (the default): tokens are accepted before the first successful
//!   poll and while polls fail, checked against the revocations received so far (none before
//!   the first poll). A revocation missed meanwhile takes effect at the next successful poll, or
//!   when the token expires. Availability of every service does not hang on tokenmint's, and
//!   access tokens are short-lived; watch [`Verifier::feed_failures`] and
//!   [`Verifier::revocations_synced_at`].
//! - [`FeedFailurePolicy::Closed`] `{ max_staleness }`: every token is rejected with
//!   [`VerifyError::RevocationsUnavailable`] before the first successful poll (the first poll
//!   starts when the verifier is built; await [`Verifier::sync_revocations`] to wait for it), and
//!   whenever the last successful poll is older than `max_staleness`, whether polls fail or
//!   hang. A poll succeeds once the feed is read to its end.
//!
//! Failed polls are retried at the next tick. Entries are forgotten once no token they revoke
//! can still be accepted: a session at its `exp`; a user's not-before at the entry's `exp`
//! (sent by newer servers: when every access token it could affect has expired), or 24 h after
//! `not_before` when the server sends none (tokenmint's access tokens live at most 24 h) —
//! each plus the verifier's leeway.
//!
//! ```no_run
//! use std::time::Duration;
//! use tokenmint_verify::Verifier;
//!
//! # async fn run(bearer: &str, feed_key: String) -> Result<(), tokenmint_verify::VerifyError> {
//! // feed_key: from `tokenmint admin-keys create --name orders --role feed`, kept as a secret.
//! let verifier = Verifier::builder("https://auth.example.com")
//!     .audience("orders")
//!     .revocation_feed(Duration::from_secs(5))
//!     .revocation_feed_key(feed_key)
//!     .build()?;
//! let claims = verifier.verify(bearer).await?;
//! println!("user {} (labels {:?})", claims.sub, claims.labels);
//! if let Some(support) = claims.impersonator() {
//!     // Appwrite reported an impersonation at sign-in: `act.sub` acts as the user.
//!     println!("acting: {support}");
//! }
//! # Ok(()) }
//! ```
//!
//! With the `axum` feature, [`axum::VerifiedClaims`] extracts the claims of the request's
//! bearer token (see `examples/orders_service.rs`).
//!
//! With the `metrics` feature, verifications, JWKS fetches and revocation-feed reads are
//! counted through the `metrics` facade, into whatever recorder the application installs:
//! `tokenmint_verify_verifications_total{outcome}`, `tokenmint_verify_jwks_fetches_total{outcome}`
//! and `tokenmint_verify_feed_fetches_total{outcome}` (see tokenmint's docs/reference/metrics.md).

mod builder;
mod counters;
mod error;
mod feed;
mod jwks;
mod keys;
mod verifier;

#[cfg(feature = "axum")]
pub mod axum;

pub use builder::VerifierBuilder;
pub use error::VerifyError;
pub use feed::FeedFailurePolicy;
/// The claims of a verified token (the same type tokenmint signs: crate `tokenmint-token`).
pub use tokenmint_token::{Actor, Claims};
pub use verifier::Verifier;
