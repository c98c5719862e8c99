//! Handing out sessions for their periodic check against Appwrite, on either backend.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::backend::{Backend, on_connection};
use crate::domain::ports::{ReconcileClaim, ReconcileStore, StoreError};
use crate::store::dialect::Dialect;
use crate::store::rows::{ReconcileRow, records};

#[async_trait]
impl<S: Backend> ReconcileStore for S {
    async fn claim_reconciliation(
        &self,
        now: DateTime<Utc>,
        due_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ReconcileClaim>, StoreError> {
        let query = S::Db::query(S::Db::SQL.claim_reconciliation)
            .bind(now.timestamp())
            .bind(due_before.timestamp())
            .bind(i64::from(limit));
        records(on_connection!(self.pool(), conn => query.fetch_all::<ReconcileRow>(conn).await)?)
    }

    async fn postpone_reconciliation(
        &self,
        sessions: &[Uuid],
        checked_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if sessions.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = sessions.iter().map(Uuid::to_string).collect();
        let ids = serde_json::to_string(&ids)
            .map_err(|err| StoreError::Corrupt(format!("session ids: {err}")))?;
        let query = S::Db::query(S::Db::SQL.postpone_reconciliation)
            .bind(checked_at.timestamp())
            .bind(ids);
        on_connection!(self.pool(), conn => query.execute(conn).await)?;
        Ok(())
    }
}
