//! Verifying an access token the way a microservice does: locally, with a key from the
//! published JWKS, the algorithm pinned by that key (never taken from the token), and the
//! `typ`, `iss`, `aud` and `exp` checks. The `tokenmint-verify` crate does the same (plus JWKS
//! caching and the revocation feed); this is the bare minimum, with jsonwebtoken alone.

use anyhow::{Context, bail};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// A token that verified.
pub struct Verified {
    /// The key that signed it.
    pub kid: String,
    /// Its algorithm, as the key pins it.
    pub algorithm: Algorithm,
    /// Its claims.
    pub claims: Value,
}

/// Verifies `token` against `jwks` (the JSON of `/.well-known/jwks.json`).
pub fn verify(token: &str, jwks: &Value, issuer: &str, audience: &str) -> anyhow::Result<Verified> {
    let jwks: JwkSet = serde_json::from_value(jwks.clone()).context("the JWKS is malformed")?;
    let header = jsonwebtoken::decode_header(token).context("the token is not a JWT")?;
    if header.typ.as_deref() != Some("at+jwt") {
        bail!("the token's typ is not at+jwt (RFC 9068)");
    }
    let kid = header.kid.context("the token names no key (kid)")?;
    let jwk = jwks
        .find(&kid)
        .with_context(|| format!("the JWKS has no key {kid}"))?;
    let algorithm: Algorithm = jwk
        .common
        .key_algorithm
        .context("the key does not pin an algorithm")?
        .to_string()
        .parse()
        .context("the key's algorithm is not a signing algorithm")?;
    let key = DecodingKey::from_jwk(jwk).context("the key is not usable")?;
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .context("the token does not verify")?
        .claims;
    Ok(Verified {
        kid,
        algorithm,
        claims,
    })
}
