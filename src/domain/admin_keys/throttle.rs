//! Bounding Argon2 work: one verification at a time in the process, one at a time per key id,
//! a cooldown for a key id whose verifications keep failing, and a memory of keys that failed
//! (see the parent module's documentation).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use argon2::{Argon2, PasswordVerifier};
use chrono::{DateTime, Utc};

use super::error::AdminKeyError;
use crate::clock::later;

/// Entries kept in each in-memory cache at most; beyond it expired entries go, then all.
pub(super) const CACHE_CAPACITY: usize = 1024;
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

/// What bounds Argon2 work (see the module documentation).
pub(super) struct Argon2Limits {
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

impl Argon2Limits {
    /// Refuses without hashing a key that failed a moment ago, and any key for an id that is
    /// cooling down after a failure.
    pub(super) fn refuse_known_failures(
        &self,
        id: &str,
        fingerprint: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<(), AdminKeyError> {
        if still(&self.rejected, fingerprint, now).is_some() {
            return Err(AdminKeyError::InvalidKey);
        }
        if let Some(until) = still(&self.cooldown, &id.to_owned(), now) {
            let wait = (until - now).num_milliseconds().max(1);
            let retry_after = u64::try_from((wait + 999) / 1000).unwrap_or(1);
            return Err(AdminKeyError::Throttled { retry_after });
        }
        Ok(())
    }

    /// Remembers a failed key, counts the failure, and throttles the id once failures repeat.
    pub(super) fn record_failure(&self, id: &str, fingerprint: [u8; 32], now: DateTime<Utc>) {
        remember_until(
            &self.rejected,
            fingerprint,
            later(now, REJECTION_MEMORY),
            now,
        );
        let count = {
            let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
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
                &self.cooldown,
                id.to_owned(),
                later(now, FAILURE_COOLDOWN),
                now,
            );
        }
    }

    pub(super) fn id_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.per_id.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(locks.entry(id.to_owned()).or_default())
    }

    /// Argon2 off the async workers, never more than [`ARGON2_CONCURRENCY`] at once.
    pub(super) async fn verify_secret(&self, secret: &str, hash: &str) -> bool {
        let Ok(_permit) = self.running.acquire().await else {
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
}
