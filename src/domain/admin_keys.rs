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

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::model::admin_keys::{AdminKeyRecord, AdminRole};
use super::model::audit::{Actor, AuditEvent, RequestContext};
use super::ports::{Store, StoreError};
use crate::clock::{Clock, later};
use crate::crypto::{CryptoError, random_bytes};

/// The admin-key prefix, so leaked keys are recognisable by secret scanners.
pub const ADMIN_KEY_PREFIX: &str = "tma_";
const ID_LEN: usize = 16;
const SECRET_LEN: usize = 43;
/// Entries kept in each in-memory cache at most; beyond it expired entries go, then all.
const CACHE_CAPACITY: usize = 1024;
/// Argon2 verifications running at once, at most (each takes one core for ~20 ms).
pub const ARGON2_CONCURRENCY: usize = 1;
/// Failed verifications of one key id within [`FAILURE_WINDOW`] before it is throttled.
pub const FAILURES_BEFORE_THROTTLE: u32 = 3;
/// The window in which failures of one key id are counted.
pub const FAILURE_WINDOW: chrono::Duration = chrono::Duration::seconds(10);
/// How long a key id is throttled after each failure beyond [`FAILURES_BEFORE_THROTTLE`].
pub const FAILURE_COOLDOWN: chrono::Duration = chrono::Duration::seconds(1);
/// How long a presented key that failed verification is refused without hashing.
pub const REJECTION_MEMORY: chrono::Duration = chrono::Duration::minutes(1);

// Here rather than beside the type: an unknown role is a storage failure, and the model
// must not depend on the port that defines it.
impl FromStr for AdminRole {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "introspect" => Ok(Self::Introspect),
            "feed" => Ok(Self::Feed),
            other => Err(StoreError::Corrupt(format!("unknown admin role {other:?}"))),
        }
    }
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
    /// A verification for this key id failed a moment ago: retry after this many seconds.
    #[error("too many failed attempts for this key; retry later")]
    Throttled {
        /// Seconds before a retry makes sense.
        retry_after: u64,
    },
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
    limits: Arc<Argon2Limits>,
}

/// What bounds Argon2 work (see the module documentation).
struct Argon2Limits {
    running: tokio::sync::Semaphore,
    per_id: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Per key id: failures counted since the window began.
    failures: Mutex<HashMap<String, (u32, DateTime<Utc>)>>,
    cooldown: Mutex<HashMap<String, DateTime<Utc>>>,
    rejected: Mutex<HashMap<[u8; 32], DateTime<Utc>>>,
}

impl Default for Argon2Limits {
    fn default() -> Self {
        Self {
            running: tokio::sync::Semaphore::new(ARGON2_CONCURRENCY),
            per_id: Mutex::default(),
            failures: Mutex::default(),
            cooldown: Mutex::default(),
            rejected: Mutex::default(),
        }
    }
}

/// Whether `map` holds `key` with a time still after `now`.
fn still<K: Eq + std::hash::Hash>(
    map: &Mutex<HashMap<K, DateTime<Utc>>>,
    key: &K,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let map = map.lock().unwrap_or_else(PoisonError::into_inner);
    map.get(key).copied().filter(|until| *until > now)
}

/// Inserts into a bounded map of expiry times.
fn remember_until<K: Eq + std::hash::Hash>(
    map: &Mutex<HashMap<K, DateTime<Utc>>>,
    key: K,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) {
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    if map.len() >= CACHE_CAPACITY {
        map.retain(|_, until| *until > now);
        if map.len() >= CACHE_CAPACITY {
            map.clear();
        }
    }
    map.insert(key, until);
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
        self.refuse_known_failures(id, &fingerprint, now)?;
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
        let id_lock = self.id_lock(id);
        let _one_at_a_time = id_lock.lock().await;
        let now = self.clock.now();
        if let Some(cached) = self.cached(&fingerprint, now) {
            return Ok(cached);
        }
        self.refuse_known_failures(id, &fingerprint, now)?;
        if !self.verify_secret(secret, &record.secret_hash).await {
            self.record_failure(id, fingerprint, now);
            return Err(AdminKeyError::InvalidKey);
        }
        let caller = AdminCaller {
            key_id: record.id,
            role: record.role,
        };
        self.remember(fingerprint, caller.clone(), now);
        Ok(caller)
    }

    /// Refuses without hashing a key that failed a moment ago, and any key for an id that is
    /// cooling down after a failure.
    fn refuse_known_failures(
        &self,
        id: &str,
        fingerprint: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<(), AdminKeyError> {
        if still(&self.limits.rejected, fingerprint, now).is_some() {
            return Err(AdminKeyError::InvalidKey);
        }
        if let Some(until) = still(&self.limits.cooldown, &id.to_owned(), now) {
            let wait = (until - now).num_milliseconds().max(1);
            let retry_after = u64::try_from((wait + 999) / 1000).unwrap_or(1);
            return Err(AdminKeyError::Throttled { retry_after });
        }
        Ok(())
    }

    /// Remembers a failed key, counts the failure, and throttles the id once failures repeat.
    fn record_failure(&self, id: &str, fingerprint: [u8; 32], now: DateTime<Utc>) {
        let limits = &self.limits;
        remember_until(
            &limits.rejected,
            fingerprint,
            later(now, REJECTION_MEMORY),
            now,
        );
        let count = {
            let mut failures = limits
                .failures
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if failures.len() >= CACHE_CAPACITY {
                failures.retain(|_, (_, since)| later(*since, FAILURE_WINDOW) > now);
            }
            let entry = failures.entry(id.to_owned()).or_insert((0, now));
            if later(entry.1, FAILURE_WINDOW) <= now {
                *entry = (0, now);
            }
            entry.0 += 1;
            entry.0
        };
        if count >= FAILURES_BEFORE_THROTTLE {
            remember_until(
                &limits.cooldown,
                id.to_owned(),
                later(now, FAILURE_COOLDOWN),
                now,
            );
        }
    }

    fn id_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .limits
            .per_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(locks.entry(id.to_owned()).or_default())
    }

    /// Argon2 off the async workers, never more than [`ARGON2_CONCURRENCY`] at once.
    async fn verify_secret(&self, secret: &str, hash: &str) -> bool {
        let Ok(_permit) = self.limits.running.acquire().await else {
            return false;
        };
        let (secret, hash) = (secret.to_owned(), hash.to_owned());
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(secret.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false)
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
    fn a_record_debug_never_shows_the_secret_hash() {
        let record = AdminKeyRecord {
            id: "0123456789abcdef".into(),
            name: "ops".into(),
            role: AdminRole::Admin,
            secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created_at: DateTime::<Utc>::MIN_UTC,
            revoked_at: None,
            last_used_at: None,
        };
        assert!(!format!("{record:?}").contains("argon2"));
    }

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
