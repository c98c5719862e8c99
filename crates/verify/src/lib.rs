//! `tokenmint-verify`: verify [tokenmint](https://github.com/) access tokens in a Rust
//! microservice, locally, with no network call on the hot path.
//!
//! - The JWKS is fetched once (from `jwks_url`, or found through the issuer's discovery
//!   document), cached as long as its `Cache-Control: max-age` says, and refetched when a
//!   token names an unknown `kid` — single-flight, and at most once per `min_refetch_interval`.
//! - The algorithm comes from the key, never from the token: each JWK's `alg` pins it, and only
//!   `ES256`, `EdDSA` and `RS256` are accepted (never `none`, never HMAC).
//! - `typ` must be `at+jwt` (RFC 9068); `iss`, `aud`, `exp` and `iat` are checked with a small
//!   leeway; every claim tokenmint issues must be present; tokens over 16 KiB are refused.
//! - Optionally, the revocation feed (`GET {issuer}/v1/revocations`) is polled in the
//!   background: a token whose session was revoked, or issued before its user's not-before,
//!   is rejected within one poll interval.
//!
//! ```no_run
//! use std::time::Duration;
//! use tokenmint_verify::Verifier;
//!
//! # async fn run(bearer: &str) -> Result<(), tokenmint_verify::VerifyError> {
//! let verifier = Verifier::builder("https://auth.example.com")
//!     .audience("orders")
//!     .revocation_feed(Duration::from_secs(5))
//!     .build()?;
//! let claims = verifier.verify(bearer).await?;
//! println!("user {} (labels {:?})", claims.sub, claims.labels);
//! # Ok(()) }
//! ```
//!
//! With the `axum` feature, [`axum::VerifiedClaims`] extracts the claims of the request's
//! bearer token (see `examples/orders_service.rs`).

mod claims;
mod error;
mod feed;
mod jwks;
mod verifier;

#[cfg(feature = "axum")]
pub mod axum;

pub use claims::Claims;
pub use error::VerifyError;
pub use verifier::{Verifier, VerifierBuilder};
