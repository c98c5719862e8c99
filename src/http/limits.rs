//! The bounds every request is held to, shared by the envelope and the body readers.

use std::time::Duration;

/// Largest request body accepted. Token requests are a few hundred bytes and Appwrite's
/// webhook payloads a few kilobytes; anything near this limit is not a legitimate request.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A request taking longer than this is answered 503: a safety net behind the tighter
/// timeouts on the database (3 s to get a connection) and Appwrite (5 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
