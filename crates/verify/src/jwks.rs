//! Fetching and reading the JWKS: only signing keys of the accepted algorithms are kept, each
//! with the one algorithm its JWK names.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::header::CACHE_CONTROL;

use crate::VerifyError;

/// Cache lifetime when the JWKS response says nothing usable.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// Longest cache lifetime honoured, whatever the server says.
const LONGEST_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The algorithms tokenmint signs with; anything else is refused.
pub const ACCEPTED: [Algorithm; 3] = [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256];

/// A usable key and the algorithm it is pinned to.
#[derive(Clone)]
pub struct PinnedKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

/// A fetched JWKS: keys by `kid`, and how long it may be cached.
pub struct FetchedKeys {
    pub keys: HashMap<String, PinnedKey>,
    pub max_age: Duration,
}

/// GETs and reads the JWKS at `url`.
pub async fn fetch(
    http: &reqwest::Client,
    url: &str,
    accepted: &[Algorithm],
) -> Result<FetchedKeys, VerifyError> {
    let unavailable =
        |err: reqwest::Error| VerifyError::KeysUnavailable(err.without_url().to_string());
    let response = http
        .get(url)
        .send()
        .await
        .map_err(unavailable)?
        .error_for_status()
        .map_err(unavailable)?;
    let max_age = response
        .headers()
        .get(CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(max_age)
        .unwrap_or(DEFAULT_MAX_AGE)
        .min(LONGEST_MAX_AGE);
    let set: JwkSet = response.json().await.map_err(unavailable)?;
    Ok(FetchedKeys {
        keys: usable_keys(&set, accepted),
        max_age,
    })
}

/// The usable keys of a JWKS document's text, for a key set fixed at build time
/// (`VerifierBuilder::fixed_jwks`).
pub fn parse(
    text: &str,
    accepted: &[Algorithm],
) -> Result<HashMap<String, PinnedKey>, VerifyError> {
    let set: JwkSet = serde_json::from_str(text)
        .map_err(|err| VerifyError::Config(format!("the fixed JWKS is unreadable: {err}")))?;
    Ok(usable_keys(&set, accepted))
}

/// The signing keys of `set` whose JWK pins one of the `accepted` algorithms, by `kid`.
fn usable_keys(set: &JwkSet, accepted: &[Algorithm]) -> HashMap<String, PinnedKey> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let common = &jwk.common;
        if common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != PublicKeyUse::Signature)
        {
            continue;
        }
        let (Some(kid), Some(alg)) = (&common.key_id, common.key_algorithm) else {
            continue; // without a pinned algorithm a key is not used at all
        };
        let Ok(algorithm) = Algorithm::try_from(alg) else {
            continue;
        };
        if !accepted.contains(&algorithm) {
            continue;
        }
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            keys.insert(kid.clone(), PinnedKey { key, algorithm });
        }
    }
    keys
}

/// `max-age=N` from a `Cache-Control` value; `no-store`/`no-cache` mean zero.
fn max_age(cache_control: &str) -> Option<Duration> {
    let directives: Vec<String> = cache_control
        .split(',')
        .map(|d| d.trim().to_ascii_lowercase())
        .collect();
    if directives
        .iter()
        .any(|d| d == "no-store" || d == "no-cache")
    {
        return Some(Duration::ZERO);
    }
    directives
        .iter()
        .find_map(|d| d.strip_prefix("max-age="))
        .and_then(|v| v.trim_matches('"').parse().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age_is_read() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("max-age=\"60\""), Some(Duration::from_secs(60)));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }
}
