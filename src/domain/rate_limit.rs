//! The per-user exchange limit as the domain sees it: a port the token exchange asks, once
//! Appwrite has vouched for the proof (only then is the user known), before anything is
//! written. Any valid Appwrite JWT could otherwise create sessions without end. The adapter
//! (`crate::limiter`, over governor) decides; [`Unlimited`] is for callers that want none.

/// A refusal: the caller may try again after `retry_after` seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Whole seconds before a retry can succeed; never 0.
    pub retry_after: u64,
}

/// Counts a user's token exchanges.
pub trait UserRateLimit: Send + Sync + 'static {
    /// Records one exchange by `user_id` (an Appwrite user `$id`), or refuses it.
    fn check_user(&self, user_id: &str) -> Result<(), Limited>;
}

/// No limit: every exchange is allowed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

impl UserRateLimit for Unlimited {
    fn check_user(&self, _user_id: &str) -> Result<(), Limited> {
        Ok(())
    }
}
