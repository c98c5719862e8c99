//! The revocation-feed follower: polls `GET {issuer}/v1/revocations?since=CURSOR` and keeps
//! the revoked session ids and user not-befores that still matter.

use std::collections::HashMap;

use serde::Deserialize;

use crate::VerifyError;

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
}

/// What the feed has said so far.
#[derive(Debug, Default)]
pub struct Revocations {
    cursor: Option<String>,
    sessions: HashMap<String, i64>,
    users: HashMap<String, i64>,
}

impl Revocations {
    /// Whether a token of session `sid` for user `sub` issued at `iat` is revoked.
    pub fn revokes(&self, sid: &str, sub: &str, iat: i64) -> bool {
        self.sessions.contains_key(sid) || self.users.get(sub).is_some_and(|nb| iat < *nb)
    }

    /// The URL of the next poll.
    pub fn next_url(&self, feed_url: &str) -> String {
        match &self.cursor {
            Some(cursor) => format!("{feed_url}?since={cursor}"),
            None => feed_url.to_owned(),
        }
    }

    /// Records a page.
    pub fn apply(&mut self, page: Page) {
        for session in page.sessions {
            self.sessions.insert(session.sid, session.exp);
        }
        for user in page.users {
            let entry = self.users.entry(user.sub).or_insert(user.not_before);
            *entry = (*entry).max(user.not_before);
        }
        self.cursor = Some(page.cursor);
    }

    /// Forgets session entries whose tokens have all expired.
    pub fn prune(&mut self, now: i64) {
        self.sessions.retain(|_, exp| *exp > now);
    }
}

/// Fetches one page.
pub async fn fetch_page(http: &reqwest::Client, url: &str) -> Result<Page, VerifyError> {
    let unavailable =
        |err: reqwest::Error| VerifyError::KeysUnavailable(err.without_url().to_string());
    http.get(url)
        .send()
        .await
        .map_err(unavailable)?
        .error_for_status()
        .map_err(unavailable)?
        .json()
        .await
        .map_err(unavailable)
}
