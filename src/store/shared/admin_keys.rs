//! The admin API keys, on either backend.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::audit::insert_audit;
use super::backend::{Backend, on_connection, text};
use crate::domain::model::admin_keys::AdminKeyRecord;
use crate::domain::model::audit::AuditEvent;
use crate::domain::ports::{AdminKeyStore, StoreError};
use crate::store::dialect::Dialect;
use crate::store::error::store_error;
use crate::store::rows::{AdminKeyRow, records};
use crate::store::shared_sql as sql;

#[async_trait]
impl<S: Backend> AdminKeyStore for S {
    async fn insert_admin_key(
        &self,
        key: &AdminKeyRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        on_connection!(self.pool(), conn => {
            let mut tx = S::Db::begin_write(conn).await?;
            S::Db::query(sql::INSERT_ADMIN_KEY)
                .bind(key.id.clone())
                .bind(text(&key.name))
                .bind(key.role.as_str())
                .bind(key.secret_hash.clone())
                .bind(key.created_at.timestamp())
                .execute(&mut *tx)
                .await?;
            insert_audit(&mut tx, audit).await?;
            tx.commit().await.map_err(store_error)
        })
    }

    async fn find_admin_key(&self, id: &str) -> Result<Option<AdminKeyRecord>, StoreError> {
        let query = S::Db::query(sql::FIND_ADMIN_KEY).bind(text(id));
        let row =
            on_connection!(self.pool(), conn => query.fetch_optional::<AdminKeyRow>(conn).await)?;
        row.map(AdminKeyRecord::try_from).transpose()
    }

    async fn admin_keys(&self) -> Result<Vec<AdminKeyRecord>, StoreError> {
        let query = S::Db::query(sql::ADMIN_KEYS);
        records(on_connection!(self.pool(), conn => query.fetch_all::<AdminKeyRow>(conn).await)?)
    }

    async fn revoke_admin_key(
        &self,
        id: &str,
        now: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        on_connection!(self.pool(), conn => {
            let mut tx = S::Db::begin_write(conn).await?;
            let revoked = S::Db::query(sql::REVOKE_ADMIN_KEY)
                .bind(text(id))
                .bind(now.timestamp())
                .execute(&mut *tx)
                .await?;
            if revoked == 0 {
                return Ok(false);
            }
            insert_audit(&mut tx, audit).await?;
            tx.commit().await.map_err(store_error)?;
            Ok(true)
        })
    }
}
