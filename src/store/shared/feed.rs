//! The revocation feed and the purge of what no longer matters, on either backend.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::backend::{Backend, on_connection};
use crate::domain::ports::{FeedEntry, FeedStore, PurgeCutoffs, StoreError};
use crate::store::dialect::Dialect;
use crate::store::rows::{FeedRow, records};
use crate::store::shared_sql as sql;

#[async_trait]
impl<S: Backend> FeedStore for S {
    async fn revocations_since(
        &self,
        after: i64,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<FeedEntry>, StoreError> {
        let query = S::Db::query(S::Db::SQL.revocations_since)
            .bind(after)
            .bind(now.timestamp())
            .bind(i64::from(limit));
        records(on_connection!(self.pool(), conn => query.fetch_all::<FeedRow>(conn).await)?)
    }

    async fn purge_expired(&self, cutoffs: &PurgeCutoffs, batch: u32) -> Result<u64, StoreError> {
        let mut purged = 0;
        let statements = [
            (sql::PURGE_REVOCATIONS, cutoffs.feed),
            (sql::PURGE_SESSIONS, cutoffs.sessions),
            (
                sql::PURGE_APPWRITE_SESSION_REVOCATIONS,
                cutoffs.appwrite_sessions,
            ),
            (sql::PURGE_OUTAGES, cutoffs.outages),
            (sql::PURGE_REPLICAS, cutoffs.heartbeats),
            (sql::PURGE_WEBHOOK_DELIVERIES, cutoffs.webhook_deliveries),
        ];
        for (statement, cutoff) in statements {
            let query = S::Db::query(statement)
                .bind(cutoff.timestamp())
                .bind(i64::from(batch));
            purged += on_connection!(self.pool(), conn => query.execute(conn).await)?;
        }
        Ok(purged)
    }
}
