//! The audit log, on either backend.

use async_trait::async_trait;
use sqlx::Transaction;

use super::backend::{Backend, on_connection, optional_text, text};
use crate::domain::model::audit::{AuditEvent, AuditQuery, AuditRecord};
use crate::domain::ports::{AuditStore, StoreError};
use crate::store::dialect::Dialect;
use crate::store::error::store_error;
use crate::store::rows::{AuditRow, records};

#[async_trait]
impl<S: Backend> AuditStore for S {
    async fn record_audit(&self, audit: &AuditEvent) -> Result<(), StoreError> {
        on_connection!(self.pool(), conn => {
            let mut tx = S::Db::begin_write(conn).await?;
            insert_audit(&mut tx, audit).await?;
            tx.commit().await.map_err(store_error)
        })
    }

    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let statement = S::Db::query(S::Db::SQL.audit_events)
            .bind(optional_text(query.user_id.as_deref()))
            .bind(query.session_id.map(|id| id.to_string()))
            .bind(query.before)
            .bind(i64::from(query.limit));
        records(on_connection!(self.pool(), conn => statement.fetch_all::<AuditRow>(conn).await)?)
    }
}

/// Records an audit event inside a transaction.
pub(super) async fn insert_audit<D: Dialect>(
    tx: &mut Transaction<'_, D>,
    audit: &AuditEvent,
) -> Result<(), StoreError> {
    D::query(D::SQL.insert_audit_event)
        .bind(audit.occurred_at.timestamp())
        .bind(audit.event)
        .bind(text(&audit.actor.as_string()))
        .bind(optional_text(audit.user_id.as_deref()))
        .bind(audit.session_id.map(|id| id.to_string()))
        .bind(optional_text(audit.subject.as_deref()))
        .bind(optional_text(audit.reason.as_deref()))
        .bind(optional_text(audit.request_id.as_deref()))
        .bind(optional_text(audit.ip.as_deref()))
        .execute(&mut **tx)
        .await
        .map(drop)
}
