//! The signing keys, on either backend.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::audit::insert_audit;
use super::backend::{Backend, on_connection, text};
use crate::domain::model::audit::AuditEvent;
use crate::domain::model::keys::SigningKeyRecord;
use crate::domain::ports::{KeyStore, StoreError};
use crate::store::dialect::{Dialect, Sql};
use crate::store::error::store_error;
use crate::store::rows::{SigningKeyRow, records};
use crate::store::shared_sql as sql;

#[async_trait]
impl<S: Backend> KeyStore for S {
    async fn insert_signing_key(
        &self,
        key: &SigningKeyRecord,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        on_connection!(self.pool(), conn => {
            let mut tx = S::Db::begin_write(conn).await?;
            let insert = bind_key(S::Db::query(sql::INSERT_SIGNING_KEY), key);
            if insert.execute(&mut *tx).await? == 0 {
                return Ok(false);
            }
            insert_audit(&mut tx, audit).await?;
            tx.commit().await.map_err(store_error)?;
            Ok(true)
        })
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let query = S::Db::query(sql::SELECT_SIGNING_KEYS);
        records(on_connection!(self.pool(), conn => query.fetch_all::<SigningKeyRow>(conn).await)?)
    }

    async fn promote_next_key(
        &self,
        now: DateTime<Utc>,
        publish_until: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<Option<String>, StoreError> {
        on_connection!(self.pool(), conn => {
            let mut tx = S::Db::begin_write(conn).await?;
            S::Db::query(S::Db::SQL.lock_keys).execute(&mut *tx).await?;
            // Re-read under the lock: another replica may have promoted a moment ago.
            let due = S::Db::query(sql::DUE_NEXT_KEY).bind(now.timestamp());
            let Some(kid) = due.fetch_column::<String>(&mut *tx).await?.into_iter().next() else {
                return Ok(None);
            };
            S::Db::query(sql::RETIRE_ACTIVE_KEY)
                .bind(now.timestamp())
                .bind(publish_until.timestamp())
                .execute(&mut *tx)
                .await?;
            S::Db::query(sql::ACTIVATE_KEY)
                .bind(kid.clone())
                .bind(now.timestamp())
                .execute(&mut *tx)
                .await?;
            insert_audit(&mut tx, &about_key(audit, &kid)).await?;
            tx.commit().await.map_err(store_error)?;
            Ok(Some(kid))
        })
    }

    async fn remove_retired_keys(
        &self,
        now: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<Vec<String>, StoreError> {
        on_connection!(self.pool(), conn => {
            let mut tx = S::Db::begin_write(conn).await?;
            let removed = S::Db::query(sql::REMOVE_RETIRED_KEYS)
                .bind(now.timestamp())
                .fetch_column::<String>(&mut *tx)
                .await?;
            for kid in &removed {
                insert_audit(&mut tx, &about_key(audit, kid)).await?;
            }
            tx.commit().await.map_err(store_error)?;
            Ok(removed)
        })
    }

    async fn revoke_signing_key(
        &self,
        kid: &str,
        now: DateTime<Utc>,
        replacement: &SigningKeyRecord,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        on_connection!(self.pool(), conn => {
            let mut tx = S::Db::begin_write(conn).await?;
            S::Db::query(S::Db::SQL.lock_keys).execute(&mut *tx).await?;
            let deleted = S::Db::query(sql::DELETE_KEY).bind(text(kid));
            let Some(state) = deleted.fetch_column::<String>(&mut *tx).await?.into_iter().next()
            else {
                return Ok(false);
            };
            if state == "active" {
                let next = S::Db::query(sql::NEXT_KEY);
                match next.fetch_column::<String>(&mut *tx).await?.into_iter().next() {
                    Some(next) => {
                        S::Db::query(sql::ACTIVATE_KEY)
                            .bind(next)
                            .bind(now.timestamp())
                            .execute(&mut *tx)
                            .await?;
                    }
                    None => {
                        bind_key(S::Db::query(sql::INSERT_SIGNING_KEY), replacement)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            insert_audit(&mut tx, audit).await?;
            tx.commit().await.map_err(store_error)?;
            Ok(true)
        })
    }

    async fn notify_keys_changed(&self) -> Result<(), StoreError> {
        let notify = S::Db::query(S::Db::SQL.notify_keys);
        on_connection!(self.pool(), conn => notify.execute(conn).await).map(drop)
    }
}

/// Binds a signing key's columns, in `INSERT_SIGNING_KEY` order.
fn bind_key<D: Dialect>(query: Sql<D>, key: &SigningKeyRecord) -> Sql<D> {
    query
        .bind(key.kid.clone())
        .bind(key.algorithm.as_str())
        .bind(key.state.as_str())
        .bind(key.public_jwk.clone())
        .bind(key.private_key_sealed.clone())
        .bind(key.created_at.timestamp())
        .bind(key.activates_at.map(|t| t.timestamp()))
        .bind(key.retired_at.map(|t| t.timestamp()))
        .bind(key.publish_until.map(|t| t.timestamp()))
}

/// `audit` about the key `kid`.
fn about_key(audit: &AuditEvent, kid: &str) -> AuditEvent {
    let mut event = audit.clone();
    event.subject = Some(kid.to_owned());
    event
}
