//! Revocations, on either backend: of a session, of a user's sessions (raising their
//! not-before), of the sessions of an Appwrite session; each written with its audit rows and
//! its feed entries in one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Transaction;
use uuid::Uuid;

use super::audit::insert_audit;
use super::backend::{Backend, on_connection, text};
use crate::domain::model::audit::AuditEvent;
use crate::domain::ports::{Revocation, RevocationStore, RevokedUser, StoreError, UserRevocation};
use crate::store::dialect::Dialect;
use crate::store::error::store_error;
use crate::store::rows::{optional_time, time, uuids};
use crate::store::shared_sql as sql;

#[async_trait]
impl<S: Backend> RevocationStore for S {
    async fn revoke_session(
        &self,
        id: Uuid,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        on_connection!(self.pool(), conn => {
            let mut tx = S::Db::begin_write(conn).await?;
            let revoked = S::Db::query(S::Db::SQL.revoke_session)
                .bind(id.to_string())
                .bind(revocation.at.timestamp())
                .bind(revocation.reason.as_str())
                .execute(&mut *tx)
                .await?;
            if revoked == 0 {
                return Ok(false);
            }
            record_revoked(&mut tx, &[id], audit, revocation).await?;
            tx.commit().await.map_err(store_error)?;
            Ok(true)
        })
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        revocation: &UserRevocation,
        audit: &AuditEvent,
    ) -> Result<RevokedUser, StoreError> {
        let at = &revocation.revocation;
        on_connection!(self.pool(), conn => {
            let mut tx = S::Db::begin_write(conn).await?;
            lock_user(&mut tx, user_id).await?;
            let previous = S::Db::query(sql::NOT_BEFORE)
                .bind(text(user_id))
                .fetch_column::<i64>(&mut *tx)
                .await?
                .into_iter()
                .next();
            let not_before = revocation.not_before.timestamp();
            let raised = previous.is_none_or(|previous| previous < not_before);
            if raised {
                S::Db::query(sql::SET_NOT_BEFORE)
                    .bind(text(user_id))
                    .bind(not_before)
                    .execute(&mut *tx)
                    .await?;
            }
            let revoked = S::Db::query(S::Db::SQL.revoke_user_sessions)
                .bind(text(user_id))
                .bind(at.at.timestamp())
                .bind(at.reason.as_str())
                .bind(revocation.created_before.map_or(i64::MAX, |t| t.timestamp()))
                .fetch_column::<String>(&mut *tx)
                .await?;
            let ids = uuids(revoked)?;
            record_revoked(&mut tx, &ids, audit, at).await?;
            if raised {
                lock_feed(&mut tx).await?;
                S::Db::query(sql::INSERT_USER_REVOCATION)
                    .bind(text(user_id))
                    .bind(not_before)
                    .bind(at.at.timestamp())
                    .bind(at.feed_until.timestamp().max(not_before) + 1)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await.map_err(store_error)?;
            let effective = previous.map_or(not_before, |p| p.max(not_before));
            Ok(RevokedUser {
                sessions: ids,
                not_before: time(effective)?,
                not_before_raised: raised,
            })
        })
    }

    async fn revoke_appwrite_session(
        &self,
        user_id: &str,
        appwrite_session_id: &str,
        revocation: &Revocation,
        remember_until: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<Vec<Uuid>, StoreError> {
        on_connection!(self.pool(), conn => {
            let mut tx = S::Db::begin_write(conn).await?;
            lock_user(&mut tx, user_id).await?;
            S::Db::query(sql::REMEMBER_APPWRITE_SESSION_REVOCATION)
                .bind(text(appwrite_session_id))
                .bind(text(user_id))
                .bind(revocation.at.timestamp())
                .bind(remember_until.timestamp())
                .execute(&mut *tx)
                .await?;
            let revoked = S::Db::query(S::Db::SQL.revoke_appwrite_session)
                .bind(text(user_id))
                .bind(revocation.at.timestamp())
                .bind(revocation.reason.as_str())
                .bind(text(appwrite_session_id))
                .fetch_column::<String>(&mut *tx)
                .await?;
            let ids = uuids(revoked)?;
            record_revoked(&mut tx, &ids, audit, revocation).await?;
            tx.commit().await.map_err(store_error)?;
            Ok(ids)
        })
    }

    async fn user_not_before(&self, user_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let query = S::Db::query(sql::NOT_BEFORE).bind(text(user_id));
        let seconds = on_connection!(self.pool(), conn => query.fetch_column::<i64>(conn).await)?
            .into_iter()
            .next();
        optional_time(seconds)
    }
}

/// Records each revoked session: its audit row (from `audit`, with the session id filled in)
/// and its feed entry.
async fn record_revoked<D: Dialect>(
    tx: &mut Transaction<'_, D>,
    ids: &[Uuid],
    audit: &AuditEvent,
    revocation: &Revocation,
) -> Result<(), StoreError> {
    for id in ids {
        let mut event = audit.clone();
        event.session_id = Some(*id);
        insert_audit(tx, &event).await?;
    }
    if ids.is_empty() {
        return Ok(());
    }
    lock_feed(tx).await?;
    for id in ids {
        D::query(D::SQL.insert_session_revocation)
            .bind(id.to_string())
            .bind(revocation.at.timestamp())
            .bind(revocation.feed_until.timestamp())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Serialises feed writers for the rest of the transaction, so that entry ids become visible
/// in id order and a reader's cursor never skips one.
async fn lock_feed<D: Dialect>(tx: &mut Transaction<'_, D>) -> Result<(), StoreError> {
    D::query(D::SQL.lock_feed)
        .execute(&mut **tx)
        .await
        .map(drop)
}

/// Serialises, for the rest of the transaction, everything that creates or revokes sessions
/// of `user_id`: an exchange checking the user's not-before and a revocation raising it
/// cannot interleave.
pub(super) async fn lock_user<D: Dialect>(
    tx: &mut Transaction<'_, D>,
    user_id: &str,
) -> Result<(), StoreError> {
    D::query(D::SQL.lock_user)
        .bind(text(user_id))
        .execute(&mut **tx)
        .await
        .map(drop)
}
