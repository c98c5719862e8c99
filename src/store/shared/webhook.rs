//! The memory of webhook deliveries, on either backend.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::backend::{Backend, on_connection, text};
use crate::domain::ports::{FirstSighting, StoreError, WebhookStore};
use crate::store::dialect::Dialect;
use crate::store::rows::time;
use crate::store::shared_sql as sql;

#[async_trait]
impl<S: Backend> WebhookStore for S {
    async fn remember_webhook_delivery(
        &self,
        body_digest: &[u8; 32],
        events: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<FirstSighting, StoreError> {
        let query = S::Db::query(sql::REMEMBER_WEBHOOK_DELIVERY)
            .bind(body_digest.to_vec())
            .bind(text(events))
            .bind(now.timestamp())
            .bind(expires_at.timestamp());
        // The upsert always returns its row; `None` would be a backend bug.
        let (events, first_seen_at) = on_connection!(self.pool(), conn => {
            query.fetch_optional::<(String, i64)>(conn).await
        })?
        .ok_or_else(|| StoreError::Corrupt("the delivery upsert returned no row".into()))?;
        Ok(FirstSighting {
            events,
            at: time(first_seen_at)?,
        })
    }
}
