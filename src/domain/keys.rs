//! Signing keys: the operations that create, rotate, revoke and load them. The key set they
//! load is a [`KeySet`]; their stored form in [`super::model::keys`].
//!
//! Private keys are stored only sealed under the KEK, bound to their `kid` and algorithm. The
//! published JWKS is derived from the decrypted private keys, never from a stored public key,
//! so someone who can write to the database but does not hold the KEK cannot slip a key of
//! their own into the JWKS.

mod error;
mod set;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::model::audit::{Actor, AuditEvent, RequestContext};
use super::model::keys::{KeyState, SigningKeyRecord};
use super::ports::{Store, StoreError};
use crate::clock::{Clock, earlier, later};
use crate::crypto::kek::Kek;
pub use crate::crypto::signing::SigningAlgorithm;
use crate::crypto::signing::SigningKey;
use crate::crypto::{CryptoError, signing};
pub use error::KeyError;
pub use set::{KeyRing, KeySet, PublishedKey};

/// The associated data a private key is sealed with: its id and algorithm, so a sealed key
/// copied into another row, or relabelled with another algorithm, fails to open.
pub fn sealing_context(kid: &str, algorithm: SigningAlgorithm) -> Vec<u8> {
    format!("tokenmint/signing-key/v1|{kid}|{algorithm}").into_bytes()
}

/// What [`KeyManager::create_next_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextKey {
    /// A new `next` key was created and published.
    Created(SigningKeyRecord),
    /// A `next` key already existed; it was left as it is.
    AlreadyExists(SigningKeyRecord),
}

/// How keys rotate: how long a key signs, how long verifiers cache the JWKS, and how long the
/// tokens a retired key signed may still be presented.
#[derive(Debug, Clone, Copy)]
pub struct RotationPolicy {
    /// `TOKENMINT_KEY_ROTATION`: how long a key signs before the next one takes over.
    pub rotation: chrono::Duration,
    /// `TOKENMINT_ACCESS_TOKEN_TTL`: a retired key stays published this long (plus slack).
    pub access_ttl: chrono::Duration,
}

/// What one lifecycle pass changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleChanges {
    /// A `next` key was created.
    pub created: Option<String>,
    /// This key started signing.
    pub promoted: Option<String>,
    /// These retired keys left the JWKS.
    pub removed: Vec<String>,
}

impl LifecycleChanges {
    /// Whether anything changed.
    pub fn any(&self) -> bool {
        self.created.is_some() || self.promoted.is_some() || !self.removed.is_empty()
    }
}

/// Slack added to the access-token lifetime before a retired key leaves the JWKS, for
/// verifiers' clock leeway.
const RETIRED_SLACK_SECONDS: i64 = 120;

/// Creates, lists, rotates, revokes and loads signing keys.
#[derive(Clone)]
pub struct KeyManager {
    store: Arc<dyn Store>,
    kek: Kek,
    clock: Arc<dyn Clock>,
    jwks_max_age: chrono::Duration,
    rotation: Option<RotationPolicy>,
}

impl KeyManager {
    /// A manager over `store`, sealing with `kek`. `jwks_max_age` sets how long a new key
    /// waits, published, before it may sign.
    pub fn new(
        store: Arc<dyn Store>,
        kek: Kek,
        clock: Arc<dyn Clock>,
        jwks_max_age: std::time::Duration,
    ) -> Self {
        Self {
            store,
            kek,
            clock,
            jwks_max_age: chrono::Duration::from_std(jwks_max_age).unwrap_or(chrono::Duration::MAX),
            rotation: None,
        }
    }

    /// The same manager, rotating automatically under `policy` in [`KeyManager::rotate_if_due`].
    pub fn with_rotation(mut self, policy: RotationPolicy) -> Self {
        self.rotation = Some(policy);
        self
    }

    /// One lifecycle pass, safe to run on every replica at once: creates the `next` key when
    /// the active one is due to hand over within two JWKS lifetimes (the unique index allows
    /// one), promotes it once its time has come (under the key lock, re-checked, so once), and
    /// removes retired keys whose tokens have all expired. Tells the other replicas when
    /// anything changed.
    pub async fn rotate_if_due(
        &self,
        algorithm: SigningAlgorithm,
    ) -> Result<LifecycleChanges, KeyError> {
        let Some(policy) = self.rotation else {
            return Ok(LifecycleChanges::default());
        };
        let now = self.clock.now();
        let keys = self.store.signing_keys().await?;
        let mut changes = LifecycleChanges::default();
        let active = keys.iter().find(|k| k.state == KeyState::Active);
        let has_next = keys.iter().any(|k| k.state == KeyState::Next);
        let handover_due = active.is_some_and(|key| {
            let signing_since = key.activates_at.unwrap_or(key.created_at);
            earlier(
                earlier(later(signing_since, policy.rotation), self.jwks_max_age),
                self.jwks_max_age,
            ) <= now
        });
        if handover_due
            && !has_next
            && let NextKey::Created(key) = self
                .create_next_key(algorithm, Actor::System, &RequestContext::default())
                .await?
        {
            changes.created = Some(key.kid);
        }
        let publish_until = later(
            later(now, policy.access_ttl),
            chrono::Duration::seconds(RETIRED_SLACK_SECONDS),
        );
        let rotated = system_event("key.rotated", "scheduled", now);
        if let Some(kid) = self
            .store
            .promote_next_key(now, publish_until, &rotated)
            .await?
        {
            changes.promoted = Some(kid);
        }
        let removed = system_event("key.removed", "tokens expired", now);
        changes.removed = self.store.remove_retired_keys(now, &removed).await?;
        if changes.any() {
            self.store.notify_keys_changed().await?;
        }
        Ok(changes)
    }

    /// Emergency removal of `kid`, effective at once: it leaves the JWKS, and if it was
    /// signing, the `next` key (or a new key of `algorithm`) signs from now on. Returns `false`
    /// for an unknown kid.
    pub async fn revoke(
        &self,
        kid: &str,
        algorithm: SigningAlgorithm,
        actor: Actor,
        context: &RequestContext,
    ) -> Result<bool, KeyError> {
        self.load().await?; // proves the KEK before adding a replacement
        let now = self.clock.now();
        let replacement = self
            .generate_record(algorithm, KeyState::Active, Some(now))
            .await?;
        let audit = AuditEvent::about("key.revoked", actor, kid, Some("emergency"), context, now);
        if !self
            .store
            .revoke_signing_key(kid, now, &replacement, &audit)
            .await?
        {
            return Ok(false);
        }
        self.store.notify_keys_changed().await?;
        Ok(true)
    }

    /// Makes sure a key is active, creating one with `algorithm` when none is. Returns the
    /// created key, or `None` when a key was already active (or another replica created one
    /// at the same moment).
    pub async fn ensure_active_key(
        &self,
        algorithm: SigningAlgorithm,
    ) -> Result<Option<SigningKeyRecord>, KeyError> {
        // Opening the published keys first proves the KEK is the right one: a wrong KEK must
        // stop here, not add a key nobody else can open.
        if self.load().await?.active().is_some() {
            return Ok(None);
        }
        let now = self.clock.now();
        let record = self
            .generate_record(algorithm, KeyState::Active, Some(now))
            .await?;
        let audit = AuditEvent::about(
            "key.created",
            Actor::System,
            &record.kid,
            Some("first key"),
            &RequestContext::default(),
            now,
        );
        if !self.store.insert_signing_key(&record, &audit).await? {
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// Creates a `next` key: published now, allowed to sign after two JWKS cache lifetimes,
    /// so verifiers holding a cached JWKS already know it when it starts signing.
    pub async fn create_next_key(
        &self,
        algorithm: SigningAlgorithm,
        actor: Actor,
        context: &RequestContext,
    ) -> Result<NextKey, KeyError> {
        self.load().await?; // proves the KEK, as in `ensure_active_key`
        if let Some(existing) = self.existing_next().await? {
            return Ok(NextKey::AlreadyExists(existing));
        }
        let activates_at = later(
            later(self.clock.now(), self.jwks_max_age),
            self.jwks_max_age,
        );
        let record = self
            .generate_record(algorithm, KeyState::Next, Some(activates_at))
            .await?;
        let audit = AuditEvent::about(
            "key.created",
            actor,
            &record.kid,
            Some("rotate"),
            context,
            self.clock.now(),
        );
        if self.store.insert_signing_key(&record, &audit).await? {
            self.store.notify_keys_changed().await?;
            return Ok(NextKey::Created(record));
        }
        // Another process created one between our read and our insert.
        let existing = self.existing_next().await?.ok_or_else(|| {
            StoreError::Corrupt("a next key was reported but cannot be found".into())
        })?;
        Ok(NextKey::AlreadyExists(existing))
    }

    async fn existing_next(&self) -> Result<Option<SigningKeyRecord>, KeyError> {
        let keys = self.store.signing_keys().await?;
        Ok(keys.into_iter().find(|k| k.state == KeyState::Next))
    }

    /// Every stored key, oldest first.
    pub async fn list(&self) -> Result<Vec<SigningKeyRecord>, KeyError> {
        Ok(self.store.signing_keys().await?)
    }

    /// Opens every key that is still published and builds the key set. Fails when any
    /// published key does not open: signing with a subset would hide a wrong KEK.
    pub async fn load(&self) -> Result<KeySet, KeyError> {
        let now = self.clock.now();
        let records = self.store.signing_keys().await?;
        let published = records
            .into_iter()
            .filter(|r| r.state != KeyState::Retired || r.publish_until.is_some_and(|t| t > now));
        let mut keys = Vec::new();
        for record in published {
            keys.push((record.state, self.open(&record)?));
        }
        Ok(KeySet::new(keys))
    }

    fn open(&self, record: &SigningKeyRecord) -> Result<SigningKey, KeyError> {
        let context = sealing_context(&record.kid, record.algorithm);
        let pkcs8 = self
            .kek
            .open(&context, &record.private_key_sealed)
            .map_err(|_| KeyError::WrongKek {
                kid: record.kid.clone(),
            })?;
        let key =
            SigningKey::from_pkcs8(record.algorithm, &pkcs8).map_err(|_| KeyError::Corrupt {
                kid: record.kid.clone(),
            })?;
        if key.kid() != record.kid {
            return Err(KeyError::Corrupt {
                kid: record.kid.clone(),
            });
        }
        Ok(key)
    }

    async fn generate_record(
        &self,
        algorithm: SigningAlgorithm,
        state: KeyState,
        activates_at: Option<DateTime<Utc>>,
    ) -> Result<SigningKeyRecord, KeyError> {
        // RSA key generation takes tens of milliseconds: keep it off the async workers.
        let (key, pkcs8) =
            tokio::task::spawn_blocking(move || signing::SigningKey::generate(algorithm))
                .await
                .map_err(|_| CryptoError)??;
        let context = sealing_context(key.kid(), algorithm);
        let public_jwk = serde_json::to_string(key.public_jwk()).map_err(|_| CryptoError)?;
        Ok(SigningKeyRecord {
            kid: key.kid().to_owned(),
            algorithm,
            state,
            public_jwk,
            private_key_sealed: self.kek.seal(&context, &pkcs8)?,
            created_at: self.clock.now(),
            activates_at,
            retired_at: None,
            publish_until: None,
        })
    }
}

/// A key-lifecycle audit event by the system; the store fills in the key it is about.
fn system_event(event: &'static str, reason: &str, now: DateTime<Utc>) -> AuditEvent {
    AuditEvent::about(
        event,
        Actor::System,
        "",
        Some(reason),
        &RequestContext::default(),
        now,
    )
}
