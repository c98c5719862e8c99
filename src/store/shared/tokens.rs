//! Refresh-token families, on either backend: read, rotated, rolled forward. The refresh path.

use async_trait::async_trait;

use super::backend::{Backend, on_connection, optional_text};
use crate::domain::model::sessions::Grant;
use crate::domain::model::tokens::{FamilyHash, TokenHash};
use crate::domain::ports::{RefreshTokenStore, Rotation, StoreError, TokenFamily};
use crate::store::availability::Cause;
use crate::store::dialect::Dialect;
use crate::store::rows::{GrantRow, TokenFamilyRow};

#[async_trait]
impl<S: Backend> RefreshTokenStore for S {
    async fn token_family(
        &self,
        family: &FamilyHash,
        token: &TokenHash,
    ) -> Result<Option<TokenFamily>, StoreError> {
        let query = S::Db::query(S::Db::SQL.find_token_family)
            .bind(family.0.to_vec())
            .bind(token.0.to_vec());
        let row = on_connection!(self.pool(), conn => query.fetch_optional::<TokenFamilyRow>(conn).await)?;
        row.map(TokenFamily::try_from).transpose()
    }

    async fn rotate_refresh_token(&self, rotation: &Rotation) -> Result<Option<Grant>, StoreError> {
        let result = if rotation.unmigrated {
            // Boxed: this rare path's statement future is large, and inline it would make
            // every refresh's future as large (async_trait moves it to the heap).
            Box::pin(rotate_alone(
                self,
                S::Db::SQL.rotate_unmigrated,
                rotation,
                None,
            ))
            .await
        } else {
            self.rotate_current(rotation).await
        };
        if let Err(err @ StoreError::Unavailable(_)) = &result {
            // The rotation may have committed, its answer lost: the outage began no later
            // than the time the rotation is stamped with, so the client's retry is judged
            // against a window that outlasts it (`domain::grace`).
            self.pool().observer().failed(rotation.now, &Cause(err));
        }
        result
    }

    async fn roll_forward(
        &self,
        rotation: &Rotation,
        from: Option<i64>,
    ) -> Result<Option<Grant>, StoreError> {
        rotate_alone(self, S::Db::SQL.roll_forward, rotation, Some(from)).await
    }
}

/// Runs one rotation as its own statement (`rotate_unmigrated`, `roll_forward`, PostgreSQL's
/// `ROTATE_ONE` or SQLite's `ROTATE`): family, presented, successor, now (ms), generation,
/// now (s), idle end (s), client id, and for `roll_forward` (`rolling_from` set) the
/// generation the family must still be at.
pub(crate) async fn rotate_alone<S: Backend>(
    store: &S,
    statement: &'static str,
    rotation: &Rotation,
    rolling_from: Option<Option<i64>>,
) -> Result<Option<Grant>, StoreError> {
    // One statement: concurrent rotations of one token queue on its row lock; after the
    // winner commits, the others re-evaluate `token_hash = presented`, find it false, and
    // change nothing.
    let query = S::Db::query(statement)
        .bind(rotation.family.0.to_vec())
        .bind(rotation.presented.0.to_vec())
        .bind(rotation.successor.0.to_vec())
        .bind(rotation.now.timestamp_millis())
        .bind(rotation.generation)
        .bind(rotation.now.timestamp())
        .bind(rotation.idle_expires_at.timestamp())
        .bind(optional_text(rotation.client_id.as_deref()));
    let query = match rolling_from {
        Some(from) => query.bind(from),
        None => query,
    };
    // `fetch_all`, not `fetch_optional`: the statement must run to its end. SQLite commits an
    // `update … returning` left at its row when it is reset, but runs its automatic WAL
    // checkpoint only after a statement that ran to completion — without it the WAL grows
    // without bound.
    match on_connection!(store.pool(), conn => query.fetch_all::<GrantRow>(conn).await) {
        Ok(rows) => rows.into_iter().next().map(Grant::try_from).transpose(),
        // Under a `repeatable read` or `serializable` default isolation the losers of the
        // race fail instead of re-checking: they lost, nothing was written.
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(err) => Err(err),
    }
}
