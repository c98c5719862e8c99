//! The revocation-feed follower: polls `GET {issuer}/v1/revocations?since=CURSOR` and keeps
//! the revoked session ids and user not-befores that still matter.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use crate::{Claims, VerifyError};

/// How long a user entry without `exp` (from a server that does not send it) is kept after its
/// `not_before`: tokenmint's access tokens are meant to live at most this long.
pub const USER_ENTRY_FALLBACK_LIFETIME: i64 = 24 * 3600;

/// What [`Verifier::verify`](crate::Verifier::verify) does while the revocation feed cannot be
/// polled; set with [`feed_failure_policy`](crate::VerifierBuilder::feed_failure_policy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FeedFailurePolicy {
    /// Accept tokens whatever the feed's state (the default): a tokenmint outage does not take
    /// the services down with it, and access tokens are short-lived. A revocation made while the
    /// feed cannot be polled takes effect at the next successful poll, or at the token's `exp`.
    /// Watch [`Verifier::feed_failures`](crate::Verifier::feed_failures) and
    /// [`Verifier::revocations_synced_at`](crate::Verifier::revocations_synced_at).
    #[default]
    Open,
    /// Reject every token with [`VerifyError::RevocationsUnavailable`] before the first
    /// successful poll and whenever the last one is older than `max_staleness`, which must be
    /// longer than the poll interval (allow for a few failed polls and the HTTP timeout).
    Closed {
        /// The oldest acceptable last successful poll.
        max_staleness: Duration,
    },
}

/// The credential sent on feed polls; `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct FeedKey(pub(crate) String);

impl std::fmt::Debug for FeedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FeedKey([redacted])")
    }
}

/// One page of the feed.
#[derive(Deserialize)]
pub struct Page {
    cursor: String,
    #[serde(default)]
    sessions: Vec<RevokedSession>,
    #[serde(default)]
    users: Vec<UserNotBefore>,
    /// Whether more entries follow right away.
    #[serde(default)]
    pub more: bool,
}

#[derive(Deserialize)]
struct RevokedSession {
    sid: String,
    exp: i64,
}

#[derive(Deserialize)]
struct UserNotBefore {
    sub: String,
    not_before: i64,
    /// When every access token the entry could affect has expired (unix seconds); sent by
    /// newer servers only.
    #[serde(default)]
    exp: Option<i64>,
}

/// A user's not-before, and until when it matters.
#[derive(Debug, Clone, Copy)]
struct UserEntry {
    not_before: i64,
    exp: i64,
}

/// What the feed has said so far.
#[derive(Debug, Default)]
pub struct Revocations {
    cursor: Option<String>,
    sessions: HashMap<String, i64>,
    users: HashMap<String, UserEntry>,
}

impl Revocations {
    /// Whether a token of session `sid` for user `sub` issued at `iat` is revoked.
    pub fn revokes(&self, sid: &str, sub: &str, iat: i64) -> bool {
        self.sessions.contains_key(sid)
            || self
                .users
                .get(sub)
                .is_some_and(|user| iat < user.not_before)
    }

    /// The URL of the next poll.
    pub fn next_url(&self, feed_url: &str) -> String {
        match &self.cursor {
            Some(cursor) => format!("{feed_url}?since={cursor}"),
            None => feed_url.to_owned(),
        }
    }

    /// Records a page. A user keeps the latest `not_before` and the latest `exp` of its
    /// entries: together they cover every token any of them revokes.
    pub fn apply(&mut self, page: Page) {
        for session in page.sessions {
            let exp = self.sessions.entry(session.sid).or_insert(session.exp);
            *exp = (*exp).max(session.exp);
        }
        for user in page.users {
            let exp = user
                .exp
                .unwrap_or_else(|| user.not_before.saturating_add(USER_ENTRY_FALLBACK_LIFETIME));
            let entry = self.users.entry(user.sub).or_insert(UserEntry {
                not_before: user.not_before,
                exp,
            });
            entry.not_before = entry.not_before.max(user.not_before);
            entry.exp = entry.exp.max(exp);
        }
        self.cursor = Some(page.cursor);
    }

    /// Forgets the entries whose tokens all expired before `oldest_accepted_exp` (now minus the
    /// verifier's leeway: a token whose `exp` is earlier is rejected as expired anyway).
    ///
    /// Pruning re-admits nothing: a token a session entry revokes has `exp` ≤ the entry's
    /// `exp`. A token a user entry revokes has `iat < not_before`, so its `exp` ≤ `iat + ttl`
    /// < `not_before + ttl`, which the entry's `exp` covers: the server's `exp` is exactly that
    /// bound, and without it `not_before + 24 h` is, as access tokens live at most 24 h.
    pub fn prune(&mut self, oldest_accepted_exp: i64) {
        self.sessions.retain(|_, exp| *exp >= oldest_accepted_exp);
        self.users.retain(|_, user| user.exp >= oldest_accepted_exp);
    }
}

/// Fetches one page, with `key` as the bearer credential when there is one. A 401 or 403 is
/// [`VerifyError::RevocationsUnauthorized`]: a missing or wrong key is a configuration error
/// to report as such, not a passing outage.
pub async fn fetch_page(
    http: &reqwest::Client,
    url: &str,
    key: Option<&FeedKey>,
) -> Result<Page, VerifyError> {
    let unavailable =
        |err: reqwest::Error| VerifyError::RevocationsUnavailable(err.without_url().to_string());
    let mut request = http.get(url);
    if let Some(key) = key {
        request = request.bearer_auth(&key.0);
    }
    let response = request.send().await.map_err(unavailable)?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        let hint = if key.is_some() {
            "the key given to revocation_feed_key is wrong, revoked or not allowed"
        } else {
            "the server requires a key: set revocation_feed_key (an admin key with the feed role)"
        };
        return Err(VerifyError::RevocationsUnauthorized(format!(
            "HTTP {}: {hint}",
            status.as_u16()
        )));
    }
    response
        .error_for_status()
        .map_err(unavailable)?
        .json()
        .await
        .map_err(unavailable)
}

/// A verifier's revocation feed: where it is, what it has read, and when it last read to the
/// end.
pub(crate) struct FeedState {
    pub(crate) url: String,
    pub(crate) key: Option<FeedKey>,
    /// Why the last poll failed; `None` once one succeeds.
    pub(crate) last_error: Mutex<Option<String>>,
    policy: FeedFailurePolicy,
    pub(crate) revocations: RwLock<Revocations>,
    /// When the feed was last read to its end: monotonic for staleness, wall clock to report.
    pub(crate) synced: Mutex<Option<(Instant, SystemTime)>>,
}

impl FeedState {
    /// A feed at `url`, polled with `key`, not read yet.
    pub(crate) fn new(url: String, key: Option<FeedKey>, policy: FeedFailurePolicy) -> Self {
        Self {
            url,
            key,
            last_error: Mutex::default(),
            policy,
            revocations: RwLock::default(),
            synced: Mutex::default(),
        }
    }

    /// Rejects a revoked token, and under a fail-closed policy any token while the feed is not
    /// synced recently enough.
    pub(crate) fn check(&self, claims: &Claims) -> Result<(), VerifyError> {
        let revocations = self
            .revocations
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if revocations.revokes(&claims.sid, &claims.sub, claims.iat) {
            return Err(VerifyError::Revoked);
        }
        let FeedFailurePolicy::Closed { max_staleness } = self.policy else {
            return Ok(());
        };
        let synced = *self.synced.lock().unwrap_or_else(PoisonError::into_inner);
        let why = || {
            self.last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .map(|error| format!(" (last poll: {error})"))
                .unwrap_or_default()
        };
        match synced.map(|(at, _)| at.elapsed()) {
            None => Err(VerifyError::RevocationsUnavailable(format!(
                "no successful poll of the revocation feed yet{}",
                why()
            ))),
            Some(age) if age > max_staleness => Err(VerifyError::RevocationsUnavailable(format!(
                "the revocation feed was last synced {} s ago{}",
                age.as_secs(),
                why()
            ))),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 24 * 3600;

    fn users(users: serde_json::Value) -> Revocations {
        let page = json!({ "cursor": "c", "users": users });
        let mut revocations = Revocations::default();
        revocations.apply(serde_json::from_value(page).unwrap());
        revocations
    }

    #[test]
    fn user_entries_whose_exp_has_passed_are_pruned() {
        let mut revocations = users(json!([
            { "sub": "gone", "not_before": NOW - 700, "exp": NOW - 100 },
            { "sub": "live", "not_before": NOW - 700, "exp": NOW + 200 },
        ]));
        revocations.prune(NOW);
        assert_eq!(revocations.users.len(), 1);
        assert!(
            revocations.revokes("s1", "live", NOW - 701),
            "a live entry still revokes"
        );
        assert!(!revocations.revokes("s1", "live", NOW - 700));
    }

    #[test]
    fn user_entries_without_exp_are_pruned_a_day_after_not_before() {
        let mut revocations = users(json!([
            { "sub": "old", "not_before": NOW - DAY - 1 },
            { "sub": "recent", "not_before": NOW - DAY + 60 },
        ]));
        revocations.prune(NOW);
        assert_eq!(revocations.users.len(), 1);
        assert!(revocations.revokes("s1", "recent", NOW - DAY));
    }

    #[test]
    fn the_latest_exp_of_a_user_is_kept() {
        let mut revocations = users(json!([
            { "sub": "u", "not_before": NOW - 50, "exp": NOW + 500 },
            { "sub": "u", "not_before": NOW - 40, "exp": NOW - 10 },
        ]));
        revocations.prune(NOW);
        assert!(revocations.revokes("s1", "u", NOW - 45));
        assert!(
            revocations.revokes("s1", "u", NOW - 41),
            "the latest not-before is kept"
        );
    }

    #[test]
    fn session_entries_are_pruned_after_their_exp() {
        let page = json!({ "cursor": "c", "sessions": [
            { "sid": "gone", "exp": NOW - 1 }, { "sid": "live", "exp": NOW },
        ] });
        let mut revocations = Revocations::default();
        revocations.apply(serde_json::from_value(page).unwrap());
        revocations.prune(NOW);
        assert!(!revocations.revokes("gone", "u", NOW));
        assert!(revocations.revokes("live", "u", NOW));
    }
}
