//! Rate limiting over governor (GCRA): keyed limiters by client IP (the OAuth endpoints; the
//! webhook), by Appwrite user (token exchanges, through the domain's [`UserRateLimit`] port)
//! and by admin key (the admin API), and the count of refusals of each kind. The HTTP layer
//! decides where each limit applies and how a refusal looks; this module only counts.
//!
//! **Cost on the hot path** (every refresh passes the IP limit): one lookup in a sharded map
//! (DashMap: a read lock on one of its shards) and an atomic update of the key's state; no
//! lock shared by all requests. IP and admin-key keys are small `Copy` values, so a check
//! allocates only when it meets a new key. Per-user keys are the user id, one `String` per
//! exchange (exchanges call Appwrite anyway).
//!
//! **Memory is bounded.** A key's entry says nothing once its bucket has refilled, and
//! [`RateLimits::sweep`] drops such entries every [`SWEEP_INTERVAL`]: an entry lives at most
//! one period of its limit (a minute for the IP limits) plus that interval. If a limiter still
//! holds more than [`MAX_KEYS`] keys after a sweep (a flood from more addresses than that in a
//! minute), it is emptied, with a warning: its limits fail open for a moment rather than memory
//! growing without bound. IPv6 clients are keyed by their /64 network (what one subscriber is
//! usually given whole), so one host cannot escape its limit by rotating through its own
//! addresses.
//!
//! Not to be confused with the per-key-id Argon2 throttle of `domain::admin_keys`: that one
//! bounds hashing of *wrong* secrets (a flood against a known key id); the admin-key limit here
//! counts requests made with a *valid* key, after authentication.

use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::{Quota, RateLimiter};

use crate::config::{Rate, RateLimitSettings};
use crate::domain::rate_limit::{Limited, UserRateLimit};

/// How often idle keys are dropped from the limiters.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(10);
/// Keys one limiter may hold after a sweep; beyond it the limiter is emptied (about 5 MB for
/// an IP limiter).
pub const MAX_KEYS: usize = 100_000;

/// Which limit refused a request: the label of the rejection counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// A per-client-IP limit (OAuth endpoints or webhook).
    Ip,
    /// The per-Appwrite-user exchange limit.
    User,
    /// The per-admin-key limit.
    AdminKey,
}

impl LimitKind {
    /// Every kind, for exporters.
    pub const ALL: [Self; 3] = [Self::Ip, Self::User, Self::AdminKey];

    /// `ip`, `user` or `admin_key`: the value of a metric's `limit` label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::User => "user",
            Self::AdminKey => "admin_key",
        }
    }
}

/// Requests refused by each kind of limit since start-up (monotonic; relaxed atomics).
#[derive(Debug, Default)]
pub struct RateLimitCounters {
    ip: AtomicU64,
    user: AtomicU64,
    admin_key: AtomicU64,
}

impl RateLimitCounters {
    /// Refusals by `kind` so far: what `tokenmint_rate_limited_total{limit="<label>"}` exports.
    pub fn rejected(&self, kind: LimitKind) -> u64 {
        self.counter(kind).load(Ordering::Relaxed)
    }

    fn counter(&self, kind: LimitKind) -> &AtomicU64 {
        match kind {
            LimitKind::Ip => &self.ip,
            LimitKind::User => &self.user,
            LimitKind::AdminKey => &self.admin_key,
        }
    }
}

/// Which per-IP bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpScope {
    /// `/oauth/token`, `/oauth/revoke`, `/oauth/introspect` (one bucket per client).
    OAuth,
    /// `/webhooks/appwrite`.
    Webhook,
}

/// Every limit of the process, each `None` when disabled.
pub struct RateLimits {
    ip: Option<KeyedLimiter<IpAddr>>,
    webhook_ip: Option<KeyedLimiter<IpAddr>>,
    user: Option<KeyedLimiter<String>>,
    admin_key: Option<KeyedLimiter<u64>>,
    counters: RateLimitCounters,
}

impl RateLimits {
    /// The limits of `settings`, on the monotonic clock.
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            ip: limiter(settings.ip),
            webhook_ip: limiter(settings.webhook_ip),
            user: limiter(settings.exchange_user),
            admin_key: limiter(settings.admin_key),
            counters: RateLimitCounters::default(),
        }
    }

    /// Counts one request from `client` in `scope`'s bucket, or refuses it.
    pub fn check_ip(&self, scope: IpScope, client: IpAddr) -> Result<(), Limited> {
        let limiter = match scope {
            IpScope::OAuth => &self.ip,
            IpScope::Webhook => &self.webhook_ip,
        };
        self.count(LimitKind::Ip, limiter, &ip_key(client))
    }

    /// Counts one admin-API request made with the (authenticated) key `key_id`, or refuses it.
    pub fn check_admin_key(&self, key_id: &str) -> Result<(), Limited> {
        // Key ids are 16 hex digits (see `domain::admin_keys`): a u64, no allocation.
        let key = u64::from_str_radix(key_id, 16).unwrap_or(u64::MAX);
        self.count(LimitKind::AdminKey, &self.admin_key, &key)
    }

    /// The refusal counters: what the metrics exporter reads.
    pub fn counters(&self) -> &RateLimitCounters {
        &self.counters
    }

    /// Drops idle keys from every limiter (see the module documentation).
    pub fn sweep(&self) {
        let limiters = [
            self.ip.as_ref().map(|l| l.sweep("ip")),
            self.webhook_ip.as_ref().map(|l| l.sweep("webhook_ip")),
            self.user.as_ref().map(|l| l.sweep("exchange_user")),
            self.admin_key.as_ref().map(|l| l.sweep("admin_key")),
        ];
        let kept: usize = limiters.into_iter().flatten().sum();
        tracing::trace!(kept, "rate-limit keys swept");
    }

    fn count<K: Hash + Eq + Clone>(
        &self,
        kind: LimitKind,
        limiter: &Option<KeyedLimiter<K>>,
        key: &K,
    ) -> Result<(), Limited> {
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter.check(key).inspect_err(|_| {
            self.counters.counter(kind).fetch_add(1, Ordering::Relaxed);
        })
    }
}

/// A limiter on the monotonic clock, or none for a disabled limit.
fn limiter<K: Hash + Eq + Clone>(rate: Option<Rate>) -> Option<KeyedLimiter<K>> {
    rate.map(|rate| KeyedLimiter::new(rate, DefaultClock::default()))
}

impl UserRateLimit for RateLimits {
    fn check_user(&self, user_id: &str) -> Result<(), Limited> {
        if self.user.is_none() {
            return Ok(());
        }
        self.count(LimitKind::User, &self.user, &user_id.to_owned())
    }
}

/// Sweeps `limits` every [`SWEEP_INTERVAL`], forever (start-up runs it beside the server).
pub async fn sweep_periodically(limits: Arc<RateLimits>) {
    let mut ticker = tokio::time::interval(SWEEP_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        limits.sweep();
    }
}

/// The key of a client address: IPv4 as is (an IPv4-mapped IPv6 address counts as IPv4),
/// IPv6 by its /64 network.
pub fn ip_key(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// One keyed GCRA limiter over a DashMap it shares with [`KeyedLimiter::sweep`], which may
/// empty it.
pub struct KeyedLimiter<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: RateLimiter<K, SharedStore<K>, C, NoOpMiddleware<C::Instant>>,
    store: Arc<DashMapStateStore<K>>,
    max_keys: usize,
}

impl<K: Hash + Eq + Clone, C: Clock> KeyedLimiter<K, C> {
    /// A limiter allowing `rate.count` requests per key at once, refilled one every
    /// `rate.per / rate.count`.
    pub fn new(rate: Rate, clock: C) -> Self {
        let interval = rate.per / rate.count.get();
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(rate.count))
            .allow_burst(rate.count);
        let store = Arc::new(DashMapStateStore::default());
        Self {
            limiter: RateLimiter::new(quota, SharedStore(Arc::clone(&store)), clock),
            store,
            max_keys: MAX_KEYS,
        }
    }

    /// Counts one request for `key`, or refuses it with the whole seconds (≥ 1) until the next
    /// one can pass.
    pub fn check(&self, key: &K) -> Result<(), Limited> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            Limited {
                retry_after: seconds.max(1),
            }
        })
    }

    /// Drops keys whose bucket has refilled; empties the limiter if it still holds more than
    /// its maximum. Returns the keys kept.
    pub fn sweep(&self, name: &'static str) -> usize {
        self.limiter.retain_recent();
        let kept = self.store.len();
        if kept > self.max_keys {
            tracing::warn!(
                limiter = name,
                keys = kept,
                "rate limiter over its key bound: emptied (limits restart from full buckets)"
            );
            self.store.clear();
        }
        self.store.shrink_to_fit();
        self.store.len()
    }

    #[cfg(test)]
    fn with_max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }
}

/// The limiter's state store, shared so [`KeyedLimiter::sweep`] can read its size and empty it.
struct SharedStore<K: Hash + Eq + Clone>(Arc<DashMapStateStore<K>>);

impl<K: Hash + Eq + Clone> StateStore for SharedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for SharedStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests;
