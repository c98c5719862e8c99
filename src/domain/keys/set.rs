//! The keys one process holds: the signing key, the published keys, and the JWKS document
//! rendered from them, swapped whole when keys change.

use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;

use crate::crypto::jwk::PublicJwk;
use crate::crypto::signing::{SigningAlgorithm, SigningKey};
use crate::domain::model::keys::KeyState;

/// A published key as it appears in the JWKS, with its state.
#[derive(Debug, Clone)]
pub struct PublishedKey {
    /// The public JWK, derived from the private key.
    pub jwk: PublicJwk,
    /// Its lifecycle state.
    pub state: KeyState,
}

/// The keys one process holds at a time: the signing key and everything published.
#[derive(Debug, Default)]
pub struct KeySet {
    active: Option<Arc<SigningKey>>,
    published: Vec<PublishedKey>,
    jwks_json: Bytes,
    jwks_etag: Bytes,
}

impl KeySet {
    /// Builds the set from opened keys, ordered so that every replica renders the same JWKS
    /// bytes (and so the same `ETag`).
    pub(super) fn new(mut keys: Vec<(KeyState, SigningKey)>) -> Self {
        keys.sort_by(|(a, ka), (b, kb)| a.cmp(b).then_with(|| ka.kid().cmp(kb.kid())));
        let published: Vec<PublishedKey> = keys
            .iter()
            .map(|(state, key)| PublishedKey {
                jwk: key.public_jwk().clone(),
                state: *state,
            })
            .collect();
        let jwks =
            serde_json::json!({ "keys": published.iter().map(|k| &k.jwk).collect::<Vec<_>>() });
        let jwks_json = jwks.to_string();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, jwks_json.as_bytes());
        let jwks_digest = URL_SAFE_NO_PAD.encode(&digest.as_ref()[..18]);
        let active = keys
            .into_iter()
            .find(|(state, _)| *state == KeyState::Active)
            .map(|(_, key)| Arc::new(key));
        Self {
            active,
            published,
            jwks_json: Bytes::from(jwks_json),
            jwks_etag: Bytes::from(format!("\"{jwks_digest}\"")),
        }
    }

    /// The key that signs new tokens, if one is loaded.
    pub fn active(&self) -> Option<&Arc<SigningKey>> {
        self.active.as_ref()
    }

    /// Every published key.
    pub fn published(&self) -> &[PublishedKey] {
        &self.published
    }

    /// The JWKS document (RFC 7517 §5), rendered once per key-set change. A shared buffer:
    /// serving it is a reference count, not a copy.
    pub fn jwks_json(&self) -> &Bytes {
        &self.jwks_json
    }

    /// A digest of [`KeySet::jwks_json`] as a strong entity tag (quoted, RFC 9110 §8.8.3),
    /// rendered once: equal tags, equal documents.
    pub fn jwks_etag(&self) -> &Bytes {
        &self.jwks_etag
    }

    /// The distinct algorithms of the published keys.
    pub fn algorithms(&self) -> Vec<SigningAlgorithm> {
        let mut algorithms: Vec<_> = self
            .published
            .iter()
            .filter_map(|k| k.jwk.alg.parse().ok())
            .collect();
        algorithms.sort();
        algorithms.dedup();
        algorithms
    }
}

/// The live key set, shared by every request and swapped whole when keys change.
#[derive(Debug, Clone, Default)]
pub struct KeyRing(Arc<RwLock<Arc<KeySet>>>);

impl KeyRing {
    /// A ring holding `set`.
    pub fn new(set: KeySet) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(set))))
    }

    /// The current set; cheap (one `Arc` clone under a read lock held for no longer).
    pub fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the set; requests already holding the old one finish with it.
    pub fn replace(&self, set: KeySet) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
    }
}
