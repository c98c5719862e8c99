//! The revocation feed read by verifiers: revoked session ids and user not-befores, each kept
//! while an access token it could affect may still be live, behind an opaque cursor.
//!
//! Feed entries are written in the same transaction as the revocation, with writers
//! serialised, so ids become visible in order: a reader that passes back the cursor it was
//! given never skips an entry, however many replicas write at once.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::ports::{FeedEntry, PurgeCutoffs, Store, StoreError};
use crate::clock::Clock;

/// Entries per page.
pub const FEED_PAGE: u32 = 1000;
/// Rows deleted per statement by one purge pass.
pub const PURGE_BATCH: u32 = 1000;

/// A position in the feed. Opaque to clients: `v1.<base64url of the last entry id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedCursor(i64);

impl FeedCursor {
    /// Parses a cursor given back by a client.
    pub fn parse(text: &str) -> Option<Self> {
        let encoded = text.strip_prefix("v1.")?;
        let bytes: [u8; 8] = URL_SAFE_NO_PAD.decode(encoded).ok()?.try_into().ok()?;
        let id = i64::from_be_bytes(bytes);
        (id >= 0).then_some(Self(id))
    }

    /// The text handed to clients.
    pub fn encode(self) -> String {
        format!("v1.{}", URL_SAFE_NO_PAD.encode(self.0.to_be_bytes()))
    }
}

/// One page of the feed.
#[derive(Debug, Clone)]
pub struct FeedPage {
    /// Pass back to get what follows.
    pub cursor: FeedCursor,
    /// The entries, oldest first.
    pub entries: Vec<FeedEntry>,
    /// Whether more entries follow right away.
    pub more: bool,
}

/// How long recorded outages are kept unless told otherwise: the longest session lifetime
/// the configuration accepts.
const DEFAULT_OUTAGE_RETENTION: chrono::Duration = chrono::Duration::days(400);

/// How long the heartbeat of a replica no longer running is kept.
const HEARTBEAT_RETENTION: chrono::Duration = chrono::Duration::days(1);

/// Reads and purges the feed.
#[derive(Clone)]
pub struct RevocationFeed {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    outage_retention: chrono::Duration,
}

impl RevocationFeed {
    /// The feed over `store`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            outage_retention: DEFAULT_OUTAGE_RETENTION,
        }
    }

    /// Keeps recorded outages for `retention`: the absolute session lifetime (a rotation, and
    /// so a retry of it, is never older than its session).
    pub fn with_outage_retention(mut self, retention: chrono::Duration) -> Self {
        self.outage_retention = retention;
        self
    }

    /// What was revoked after `since` and still matters.
    pub async fn since(&self, since: FeedCursor) -> Result<FeedPage, StoreError> {
        let entries = self
            .store
            .revocations_since(since.0, self.clock.now(), FEED_PAGE)
            .await?;
        let cursor = entries.last().map_or(since, |e| FeedCursor(e.id()));
        Ok(FeedPage {
            more: entries.len() == FEED_PAGE as usize,
            cursor,
            entries,
        })
    }

    /// One bounded purge pass: expired feed entries, sessions ended a day ago (kept that long
    /// so operators can still look at them; their refresh-token state goes with them),
    /// remembered Appwrite-session revocations that stopped mattering, outages older than any
    /// session, heartbeats of replicas gone a day, and remembered webhook deliveries past their
    /// memory (`domain::webhook::DELIVERY_MEMORY`). Returns how many rows went.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let cutoffs = PurgeCutoffs {
            feed: now,
            sessions: crate::clock::earlier(now, chrono::Duration::days(1)),
            appwrite_sessions: now,
            outages: crate::clock::earlier(now, self.outage_retention),
            heartbeats: crate::clock::earlier(now, HEARTBEAT_RETENTION),
            webhook_deliveries: now,
        };
        self.store.purge_expired(&cutoffs, PURGE_BATCH).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for id in [0, 1, 42, i64::MAX] {
            assert_eq!(
                FeedCursor::parse(&FeedCursor(id).encode()),
                Some(FeedCursor(id))
            );
        }
        for bad in ["", "v1.", "v2.AAAAAAAAAAE", "v1.!!", "v1.AAAA", "42"] {
            assert_eq!(FeedCursor::parse(bad), None, "{bad}");
        }
        assert_eq!(
            FeedCursor::parse(&format!(
                "v1.{}",
                URL_SAFE_NO_PAD.encode((-5i64).to_be_bytes())
            )),
            None
        );
    }
}
