//! Group rotation: the rotations of concurrent refreshes, one statement per batch.

use sqlx::postgres::PgConnection;

use super::sql;
use crate::domain::ports::{Rotation, StoreError};
use crate::store::batch::BatchRunner;
use crate::store::error::store_error;
use crate::store::pool::Connections;
use crate::store::rows::GrantRow;
use crate::store::shared::{on_connection, optional_text};

/// Runs batches of rotations as one [`sql::ROTATE`] statement.
#[derive(Debug)]
pub(super) struct Rotations {
    /// The batches' own connections.
    pub(super) pool: Connections<PgConnection>,
}

/// What became of one rotation of a batch.
pub(super) enum BatchedRotation {
    /// Rotated: what the access token needs.
    Rotated(GrantRow),
    /// Not rotated: its conditions failed (not the current token, an ended session, another
    /// client), or a concurrent rotation won; nothing written.
    NotRotated,
    /// Its batch waited too long for a row lock (this rotation's or another's) and was rolled
    /// back; nothing written.
    Locked,
}

/// A row a batched rotation updated: which rotation of the batch, and its grant.
#[derive(sqlx::FromRow)]
struct RotatedRow {
    ord: i32,
    #[sqlx(flatten)]
    grant: GrantRow,
}

impl BatchRunner for Rotations {
    type Item = Rotation;
    type Output = BatchedRotation;

    /// Two rotations of one family would update one row twice in a statement, where
    /// PostgreSQL applies only one of them, unpredictably; apart, the second sees the first.
    fn same_target(a: &Rotation, b: &Rotation) -> bool {
        a.family.0 == b.family.0
    }

    async fn run(&self, rotations: Vec<Rotation>) -> Result<Vec<BatchedRotation>, StoreError> {
        // Rows are locked in the order of the arrays (a nested loop over them, each row found
        // by its family's unique index): sorted by family, two batches (from two replicas) that
        // share rows lock them in one order and cannot deadlock.
        let mut order: Vec<usize> = (0..rotations.len()).collect();
        order.sort_unstable_by(|&a, &b| rotations[a].family.0.cmp(&rotations[b].family.0));
        let column = |value: fn(&Rotation) -> Vec<u8>| -> Vec<Vec<u8>> {
            order.iter().map(|&i| value(&rotations[i])).collect()
        };
        let families = column(|r| r.family.0.to_vec());
        let presented = column(|r| r.presented.0.to_vec());
        let successors = column(|r| r.successor.0.to_vec());

        let numbers = |value: fn(&Rotation) -> i64| -> Vec<i64> {
            order.iter().map(|&i| value(&rotations[i])).collect()
        };
        let used_at_ms = numbers(|r| r.now.timestamp_millis());
        let generations = numbers(|r| r.generation);
        let now = numbers(|r| r.now.timestamp());
        let idle_end = numbers(|r| r.idle_expires_at.timestamp());
        let clients: Vec<Option<String>> = order
            .iter()
            .map(|&i| optional_text(rotations[i].client_id.as_deref()).map(Into::into))
            .collect();
        let indices: Vec<i32> = order
            .iter()
            .map(|&i| i32::try_from(i).unwrap_or(i32::MAX))
            .collect();
        let query = sqlx::query_as::<_, RotatedRow>(sql::ROTATE)
            .bind(families)
            .bind(presented)
            .bind(successors)
            .bind(used_at_ms)
            .bind(generations)
            .bind(now)
            .bind(idle_end)
            .bind(clients)
            .bind(indices);
        let mut outcomes: Vec<BatchedRotation> = rotations
            .iter()
            .map(|_| BatchedRotation::NotRotated)
            .collect();
        let rows = match on_connection!(&self.pool, conn => {
            query.fetch_all(conn).await.map_err(store_error)
        }) {
            Ok(rows) => rows,
            // A concurrent transaction won (a serialization failure under a stricter default
            // isolation): nothing of this batch was written; each rotation lost its race, and
            // the domain looks at why.
            Err(StoreError::Conflict(_)) => return Ok(outcomes),
            // A row stayed locked past `BATCH_LOCK_TIMEOUT`: rolled back; each rotation of the
            // batch is tried alone.
            Err(StoreError::Busy(_)) => {
                return Ok(rotations.iter().map(|_| BatchedRotation::Locked).collect());
            }
            Err(err) => return Err(err),
        };
        for row in rows {
            let slot = usize::try_from(row.ord)
                .ok()
                .and_then(|i| outcomes.get_mut(i))
                .ok_or_else(|| StoreError::Corrupt(format!("rotation index {}", row.ord)))?;
            *slot = BatchedRotation::Rotated(row.grant);
        }
        Ok(outcomes)
    }
}
