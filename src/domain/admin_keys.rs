//! Admin keys: operators' bearer credentials for the admin API and introspection.
//!
//! A key reads `tma_<id>_<secret>`: the id (16 hex digits) finds the row, the secret (base64url
//! of 32 random bytes) is checked against its Argon2id PHC hash (OWASP parameters:
//! m = 19 MiB, t = 2, p = 1). Argon2 costs tens of milliseconds of CPU on purpose, so a
//! successful check is cached in memory, keyed by the SHA-256 of the presented key, for
//! `TOKENMINT_ADMIN_KEY_CACHE_TTL` (default 30 s). A revoked key therefore stops working at
//! once on the replica that revoked it and within that lifetime on the others.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::audit::{Actor, AuditEvent, RequestContext};
use super::ports::{Store, StoreError};
use crate::clock::Clock;
use crate::crypto::{CryptoError, random_bytes};

/// The admin-key prefix, so leaked keys are recognisable by secret scanners.
pub const ADMIN_KEY_PREFIX: &str = "tma_";
const ID_LEN: usize = 16;
const SECRET_LEN: usize = 43;
/// Entries kept in the verification cache at most; beyond it the cache is cleared.
const CACHE_CAPACITY: usize = 1024;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRole {
    /// Everything under `/admin/v1` and introspection.
    Admin,
    /// Introspection only.
    Introspect,
}

impl AdminRole {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Introspect => "introspect",
        }
    }
}

impl fmt::Display for AdminRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AdminRole {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "introspect" => Ok(Self::Introspect),
            other => Err(StoreError::Corrupt(format!("unknown admin role {other:?}"))),
        }
    }
}

/// An admin key as stored: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminKeyRecord {
    /// The public id (the part after `tma_`).
    pub id: String,
    /// A name for humans.
    pub name: String,
    /// What it may do.
    pub role: AdminRole,
    /// Argon2id PHC string of the secret.
    pub secret_hash: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last successful (uncached) verification.
    pub last_used_at: Option<DateTime<Utc>>,
}

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

/// Why admin-key operations failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminKeyError {
    /// The presented key is malformed, unknown, wrong or revoked.
    #[error("invalid admin key")]
    InvalidKey,
    /// The name is empty or too long.
    #[error("the name must be 1 to 100 characters")]
    InvalidName,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Randomness or hashing failed.
    #[error("cannot create the key")]
    Crypto,
}

impl From<CryptoError> for AdminKeyError {
    fn from(_: CryptoError) -> Self {
        Self::Crypto
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
        let record = self
            .store
            .find_admin_key(id)
            .await?
            .ok_or(AdminKeyError::InvalidKey)?;
        if record.revoked_at.is_some() {
            return Err(AdminKeyError::InvalidKey);
        }
        let secret = secret.to_owned();
        let hash = record.secret_hash.clone();
        // Argon2 is deliberately slow: keep it off the async workers.
        let verified = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(secret.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false);
        if !verified {
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
                until: now + self.cache_ttl,
            },
        );
    }
}

/// `tma_<16 hex>_<43 base64url>` → (id, secret).
fn split_key(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix(ADMIN_KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_').filter(|(id, _)| id.len() == ID_LEN)?;
    let well_formed = id.bytes().all(|b| b.is_ascii_hexdigit())
        && secret.len() == SECRET_LEN
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then_some((id, secret))
}

/// The cache key: a hash of the presented key, so the cache never holds a usable secret.
fn fingerprint(presented: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, presented.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_into_id_and_secret_only_when_well_formed() {
        let secret = "A".repeat(43);
        let key = format!("tma_0123456789abcdef_{secret}");
        assert_eq!(split_key(&key), Some(("0123456789abcdef", secret.as_str())));
        for bad in [
            "".to_owned(),
            format!("tmx_0123456789abcdef_{secret}"),
            format!("tma_0123456789abcde_{secret}"),
            format!("tma_0123456789abcdeg_{secret}"),
            format!("tma_0123456789abcdef_{secret}A"),
            format!("tma_0123456789abcdef_{}+", "A".repeat(42)),
        ] {
            assert_eq!(split_key(&bad), None, "{bad}");
        }
    }
}
