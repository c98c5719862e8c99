//! What the store remembers of webhook deliveries.

use chrono::{DateTime, Utc};

/// How a webhook body was first received: what
/// [`WebhookStore::remember_webhook_delivery`](super::stores::WebhookStore::remember_webhook_delivery)
/// returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstSighting {
    /// The normalised event set it was first received under.
    pub events: String,
    /// When it was first received (whole seconds).
    pub at: DateTime<Utc>,
}
