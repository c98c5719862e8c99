//! Sessions, on either backend: created by an exchange, read, their claims kept current.

use async_trait::async_trait;
use uuid::Uuid;

use super::audit::insert_audit;
use super::backend::{Backend, on_connection, optional_text, text};
use super::revocations::lock_user;
use crate::domain::model::audit::AuditEvent;
use crate::domain::model::sessions::{Session, UserSnapshot};
use crate::domain::ports::{NewSession, SessionQuery, SessionStore, StoreError};
use crate::store::dialect::{Dialect, Sql};
use crate::store::error::store_error;
use crate::store::rows::{SessionRow, records, snapshot_json};

#[async_trait]
impl<S: Backend> SessionStore for S {
    async fn create_session(
        &self,
        new: &NewSession,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        on_connection!(self.pool(), conn => {
            let mut tx = S::Db::begin_write(conn).await?;
            lock_user(&mut tx, &new.session.user_id).await?;
            let insert = bind_session(S::Db::query(S::Db::SQL.insert_session), new)?
                .bind(new.verified_at.timestamp());
            if insert.execute(&mut *tx).await? == 0 {
                return Ok(false);
            }
            insert_audit(&mut tx, audit).await?;
            tx.commit().await.map_err(store_error)?;
            Ok(true)
        })
    }

    async fn find_session(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
        let query = S::Db::query(S::Db::SQL.find_session).bind(id.to_string());
        let row =
            on_connection!(self.pool(), conn => query.fetch_optional::<SessionRow>(conn).await)?;
        row.map(Session::try_from).transpose()
    }

    async fn user_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>, StoreError> {
        let statement = S::Db::query(S::Db::SQL.user_sessions)
            .bind(text(&query.user_id))
            .bind(query.active_at.map(|t| t.timestamp()))
            .bind(query.before.map(|id| id.to_string()))
            .bind(i64::from(query.limit));
        records(on_connection!(self.pool(), conn => statement.fetch_all::<SessionRow>(conn).await)?)
    }

    async fn update_user_snapshot(
        &self,
        user_id: &str,
        snapshot: &UserSnapshot,
        updated_at_ms: i64,
    ) -> Result<u64, StoreError> {
        let query = S::Db::query(S::Db::SQL.update_user_snapshot)
            .bind(text(user_id))
            .bind(snapshot_json(snapshot)?)
            .bind(updated_at_ms);
        on_connection!(self.pool(), conn => query.execute(conn).await)
    }
}

/// Binds a new session's columns, in `insert_session` order.
fn bind_session<D: Dialect>(query: Sql<D>, new: &NewSession) -> Result<Sql<D>, StoreError> {
    let session = &new.session;
    Ok(query
        .bind(session.id.to_string())
        .bind(text(&session.user_id))
        .bind(optional_text(session.client_id.as_deref()))
        .bind(text(&session.appwrite_session_id))
        .bind(text(&session.audience))
        .bind(optional_text(session.scope.as_deref()))
        .bind(session.auth_time.timestamp())
        .bind(session.created_at.timestamp())
        .bind(session.last_used_at.timestamp())
        .bind(session.absolute_expires_at.timestamp())
        .bind(session.idle_expires_at.timestamp())
        .bind(optional_text(session.device_name.as_deref()))
        .bind(optional_text(session.user_agent.as_deref()))
        .bind(optional_text(session.ip.as_deref()))
        .bind(snapshot_json(&session.claims)?)
        .bind(session.claims_updated_at_ms)
        .bind(new.family.0.to_vec())
        .bind(new.token.0.to_vec())
        .bind(new.generation)
        .bind(optional_text(session.impersonator.as_deref())))
}
