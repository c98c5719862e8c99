//! Admin keys: operators' bearer credentials for the admin API and introspection.
//!
//! A key reads `tma_<id>_<secret>`: the id (16 hex digits) finds the row, the secret (base64url
//! of 32 random bytes) is checked against its Argon2id PHC hash (OWASP parameters:
//! m = 19 MiB, t = 2, p = 1). Argon2 costs tens of milliseconds of CPU on purpose, so a
//! successful check is cached in memory, keyed by the SHA-256 of the presented key, for
//! `TOKENMINT_ADMIN_KEY_CACHE_TTL` (default 30 s). A revoked key therefore stops working at
//! once on the replica that revoked it and within that lifetime on the others.
//!
//! Argon2 work is bounded, so that a flood of wrong secrets for a known key id (ids are not
//! secret: they appear in listings and the audit log) can neither exhaust the CPU nor slow the
//! token endpoint:
//! - at most one Argon2 verification runs at a time in the process ([`ARGON2_CONCURRENCY`]);
//! - verifications for one key id run one after the other, and once [`FAILURES_BEFORE_THROTTLE`]
//!   have failed within [`FAILURE_WINDOW`], each further failure throttles that id for
//!   [`FAILURE_COOLDOWN`]: other secrets for it are answered `Throttled` at once, without hashing
//!   (so a flood costs a few hashes, then about one per second per id; a single mistyped key
//!   throttles nothing);
//! - a key that failed is remembered (by hash) for [`REJECTION_MEMORY`]: presenting it again is
//!   refused without hashing.
//!
//! The price: while someone floods a key id with wrong secrets, its holder's first request with
//! the right key may be throttled too (429 with `Retry-After: 1`); once verified it is cached.

mod error;
mod format;
mod throttle;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use argon2::{Argon2, PasswordHasher};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::model::admin_keys::{AdminKeyRecord, AdminRole};
use super::model::audit::{Actor, AuditEvent, RequestContext};
use super::ports::Store;
use crate::clock::{Clock, later};
use crate::crypto::random_bytes;
pub use error::AdminKeyError;
pub use format::ADMIN_KEY_PREFIX;
use format::{fingerprint, split_key};
pub use throttle::{
    ARGON2_CONCURRENCY, FAILURE_COOLDOWN, FAILURE_WINDOW, FAILURES_BEFORE_THROTTLE,
    REJECTION_MEMORY,
};
use throttle::{Argon2Limits, CACHE_CAPACITY};

/// A caller authenticated by an admin key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCaller {
    /// The key's id, for the audit log.
    pub key_id: String,
    /// Its role.
    pub role: AdminRole,
}

impl AdminCaller {
    /// The audit actor for this caller.
    pub fn actor(&self) -> Actor {
        Actor::Admin(self.key_id.clone())
    }
}

#[derive(Clone)]
struct CachedKey {
    caller: AdminCaller,
    until: DateTime<Utc>,
}

/// Creates, lists, revokes and checks admin keys.
#[derive(Clone)]
pub struct AdminKeys {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    cache_ttl: chrono::Duration,
    cache: Arc<Mutex<HashMap<[u8; 32], CachedKey>>>,
    limits: Arc<Argon2Limits>,
}

impl AdminKeys {
    /// The service; successful verifications are cached for `cache_ttl`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        cache_ttl: std::time::Duration,
    ) -> Self {
        Self {
            store,
            clock,
            cache_ttl: chrono::Duration::from_std(cache_ttl).unwrap_or(chrono::Duration::zero()),
            cache: Arc::default(),
            limits: Arc::default(),
        }
    }

    /// Creates a key; returns its record and the full key, which is shown this once only.
    pub async fn create(
        &self,
        name: &str,
        role: AdminRole,
        actor: Actor,
        context: &RequestContext,
    ) -> Result<(AdminKeyRecord, String), AdminKeyError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(AdminKeyError::InvalidName);
        }
        let id: String = random_bytes::<8>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let secret = URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
        let salt = random_bytes::<16>()?;
        let secret_for_hash = secret.clone();
        let secret_hash = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password_with_salt(secret_for_hash.as_bytes(), &salt)
                .map(|hash| hash.to_string())
        })
        .await
        .map_err(|_| AdminKeyError::Crypto)?
        .map_err(|_| AdminKeyError::Crypto)?;
        let now = self.clock.now();
        let record = AdminKeyRecord {
            id: id.clone(),
            name: name.to_owned(),
            role,
            secret_hash,
            created_at: now,
            revoked_at: None,
            last_used_at: None,
        };
        let audit = AuditEvent::about("admin_key.created", actor, &id, None, context, now);
        self.store.insert_admin_key(&record, &audit).await?;
        Ok((record, format!("{ADMIN_KEY_PREFIX}{id}_{secret}")))
    }

    /// Every key, oldest first, without secrets.
    pub async fn list(&self) -> Result<Vec<AdminKeyRecord>, AdminKeyError> {
        Ok(self.store.admin_keys().await?)
    }

    /// Revokes a key. Returns `false` when it was unknown or already revoked.
    pub async fn revoke(
        &self,
        id: &str,
        actor: Actor,
        context: &RequestContext,
    ) -> Result<bool, AdminKeyError> {
        let now = self.clock.now();
        let audit = AuditEvent::about(
            "admin_key.revoked",
            actor,
            id,
            Some("revoked"),
            context,
            now,
        );
        let revoked = self.store.revoke_admin_key(id, now, &audit).await?;
        // This replica forgets the key at once; others within the cache lifetime.
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, cached| cached.caller.key_id != id);
        Ok(revoked)
    }

    /// Checks a presented key.
    pub async fn authenticate(&self, presented: &str) -> Result<AdminCaller, AdminKeyError> {
        let (id, secret) = split_key(presented).ok_or(AdminKeyError::InvalidKey)?;
        let now = self.clock.now();
        let fingerprint = fingerprint(presented);
        if let Some(cached) = self.cached(&fingerprint, now) {
            return Ok(cached);
        }
        self.limits.refuse_known_failures(id, &fingerprint, now)?;
        let record = self
            .store
            .find_admin_key(id)
            .await?
            .ok_or(AdminKeyError::InvalidKey)?;
        if record.revoked_at.is_some() {
            return Err(AdminKeyError::InvalidKey);
        }
        // One verification per key id at a time: a flood for one id queues here, and after the
        // first failure the rest are answered from the cooldown without hashing.
        let id_lock = self.limits.id_lock(id);
        let _one_at_a_time = id_lock.lock().await;
        let now = self.clock.now();
        if let Some(cached) = self.cached(&fingerprint, now) {
            return Ok(cached);
        }
        self.limits.refuse_known_failures(id, &fingerprint, now)?;
        if !self.limits.verify_secret(secret, &record.secret_hash).await {
            self.limits.record_failure(id, fingerprint, now);
            return Err(AdminKeyError::InvalidKey);
        }
        let caller = AdminCaller {
            key_id: record.id,
            role: record.role,
        };
        self.remember(fingerprint, caller.clone(), now);
        Ok(caller)
    }

    fn cached(&self, fingerprint: &[u8; 32], now: DateTime<Utc>) -> Option<AdminCaller> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(fingerprint)
            .filter(|c| c.until > now)
            .map(|c| c.caller.clone())
    }

    fn remember(&self, fingerprint: [u8; 32], caller: AdminCaller, now: DateTime<Utc>) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, c| c.until > now);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(
            fingerprint,
            CachedKey {
                caller,
                until: later(now, self.cache_ttl),
            },
        );
    }
}
