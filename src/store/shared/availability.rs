//! The database's availability as the replicas see it, on either backend: heartbeats, and the
//! outages each replica saw.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::backend::{Backend, on_connection};
use crate::domain::ports::{Availability, Outage, StoreError};
use crate::store::availability::Cause;
use crate::store::dialect::Dialect;
use crate::store::error::store_error;
use crate::store::rows::time_ms;
use crate::store::shared_sql as sql;

#[async_trait]
impl<S: Backend> Availability for S {
    fn writable(&self) -> bool {
        self.pool().observer().writable()
    }

    async fn heartbeat(
        &self,
        replica: Uuid,
        started_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let observer = self.pool().observer();
        let query = S::Db::query(S::Db::SQL.heartbeat)
            .bind(replica.to_string())
            .bind(started_at.timestamp_millis())
            .bind(now.timestamp_millis());
        match on_connection!(self.pool(), conn => query.execute(conn).await) {
            Ok(_) => {
                observer.heartbeat_succeeded();
                Ok(())
            }
            // A heartbeat that cannot get its write done in time means the database cannot
            // take writes: as good as down (an operation cancelled so does not open an
            // outage by itself).
            Err(err) => {
                if matches!(err, StoreError::Busy(_)) {
                    observer.failed(now, &Cause(&err));
                }
                Err(err)
            }
        }
    }

    async fn newest_heartbeat(
        &self,
        replica: Uuid,
    ) -> Result<Option<(DateTime<Utc>, bool)>, StoreError> {
        let query = S::Db::query(S::Db::SQL.newest_heartbeat).bind(replica.to_string());
        let row = on_connection!(self.pool(), conn => {
            query.fetch_optional::<(i64, bool)>(conn).await
        })?;
        row.map(|(seen_at_ms, stopped)| time_ms(seen_at_ms).map(|seen| (seen, stopped)))
            .transpose()
    }

    async fn mark_stopped(&self, replica: Uuid) -> Result<(), StoreError> {
        let query = S::Db::query(S::Db::SQL.mark_stopped).bind(replica.to_string());
        on_connection!(self.pool(), conn => query.execute(conn).await).map(drop)
    }

    async fn record_outages(&self, extra: Option<Outage>) -> Result<usize, StoreError> {
        let observer = self.pool().observer();
        if let Some(extra) = extra {
            observer.remember(extra);
        }
        // Read, not taken: they stay visible to `outages_between` until committed.
        let outages = observer.unrecorded();
        if outages.is_empty() {
            return Ok(0);
        }
        let written = on_connection!(self.pool(), conn => {
            let mut tx = S::Db::begin_write(conn).await?;
            for outage in &outages {
                S::Db::query(sql::INSERT_OUTAGE)
                    .bind(outage.start.timestamp_millis())
                    .bind(outage.end.timestamp_millis())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await.map_err(store_error)
        });
        match written {
            Ok(()) => {
                observer.forget_recorded(&outages);
                Ok(outages.len())
            }
            // They stay in memory for the next attempt.
            Err(err) => Err(err),
        }
    }

    async fn outages_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Outage>, StoreError> {
        // Memory first: an outage leaves it only once its row is committed, so a row committed
        // after this read is seen by the query below.
        let unrecorded = self.pool().observer().unrecorded_between(from, to);
        let query = S::Db::query(sql::OUTAGES_BETWEEN)
            .bind(from.timestamp_millis())
            .bind(to.timestamp_millis());
        let rows = on_connection!(self.pool(), conn => query.fetch_all::<(i64, i64)>(conn).await)?;
        let mut outages = rows
            .into_iter()
            .map(|(start, end)| {
                Ok(Outage {
                    start: time_ms(start)?,
                    end: time_ms(end)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        outages.extend(unrecorded);
        Ok(outages)
    }
}
