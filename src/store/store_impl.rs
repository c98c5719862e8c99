//! The one implementation of the [`Store`](crate::domain::ports::Store) port, shared by both
//! backends: the transactions and their decisions are written once; each backend supplies only
//! its SQL text (a `sql` module with the same constant names) and how a write transaction
//! begins. Rows are read into the shared structs of `rows.rs`.
//!
//! Every text that came from outside is bound through [`text`], which replaces U+0000 (that
//! PostgreSQL cannot store in `text` or `jsonb`) with U+FFFD; the domain already did so, this
//! is the last line of defence.

use std::borrow::Cow;

/// A text as it may be stored: U+0000 replaced by U+FFFD.
pub(super) fn text(value: &str) -> Cow<'_, str> {
    crate::domain::text::storable(value)
}

/// An optional text as it may be stored.
pub(super) fn optional_text(value: Option<&str>) -> Option<Cow<'_, str>> {
    value.map(text)
}

/// Runs `$op`, an expression with `$conn` bound to a `&mut` connection from `$store.pool`,
/// within the pool's operation deadline, and returns its result; the connection goes back to
/// the pool unless the result says it is broken (see `pool`).
macro_rules! on_connection {
    ($store:expr, $conn:ident => $op:expr) => {{
        let mut pooled = $store.pool.get().await?;
        let deadline = $store.pool.deadline();
        let result = {
            let $conn = &mut *pooled;
            super::pool::within(deadline, async { $op }).await
        };
        pooled.finish(result)
    }};
}

pub(super) use on_connection;

/// Implements `Store` for `$store` (with a `pool` field of `pool::Connections`) over the
/// database `$db`, with the SQL of module `$sql` and the backend's `begin_write(connection)`.
macro_rules! impl_store {
    ($store:ty, $db:ty, $sql:ident) => {
        type Sql = sqlx::query::Query<'static, $db, <$db as sqlx::Database>::Arguments>;
        type SqlAs<'q, R> = sqlx::query::QueryAs<'q, $db, R, <$db as sqlx::Database>::Arguments>;
        type SqlScalar<'q, T> =
            sqlx::query::QueryScalar<'q, $db, T, <$db as sqlx::Database>::Arguments>;
        type Row = <$db as sqlx::Database>::Row;

        /// Runs a statement; returns how many rows it changed.
        async fn execute<'c>(
            executor: impl sqlx::Executor<'c, Database = $db>,
            query: Sql,
        ) -> Result<u64, StoreError> {
            let done = query.execute(executor).await.map_err(store_error)?;
            Ok(done.rows_affected())
        }

        /// Runs a query for at most one row.
        async fn fetch_optional<'q, 'c, R>(
            executor: impl sqlx::Executor<'c, Database = $db>,
            query: SqlAs<'q, R>,
        ) -> Result<Option<R>, StoreError>
        where
            R: for<'r> sqlx::FromRow<'r, Row> + Send + Unpin,
        {
            query.fetch_optional(executor).await.map_err(store_error)
        }

        /// Runs a query for all its rows.
        async fn fetch_all<'q, 'c, R>(
            executor: impl sqlx::Executor<'c, Database = $db>,
            query: SqlAs<'q, R>,
        ) -> Result<Vec<R>, StoreError>
        where
            R: for<'r> sqlx::FromRow<'r, Row> + Send + Unpin,
        {
            query.fetch_all(executor).await.map_err(store_error)
        }

        /// Runs a query for the first column of all its rows.
        async fn fetch_column<'q, 'c, T>(
            executor: impl sqlx::Executor<'c, Database = $db>,
            query: SqlScalar<'q, T>,
        ) -> Result<Vec<T>, StoreError>
        where
            T: Send + Unpin,
            (T,): for<'r> sqlx::FromRow<'r, Row>,
        {
            query.fetch_all(executor).await.map_err(store_error)
        }

        /// Records an audit event inside a transaction.
        async fn insert_audit(
            tx: &mut sqlx::Transaction<'_, $db>,
            audit: &AuditEvent,
        ) -> Result<(), StoreError> {
            let query = sqlx::query($sql::INSERT_AUDIT_EVENT)
                .bind(audit.occurred_at.timestamp())
                .bind(audit.event)
                .bind(text(&audit.actor.as_string()))
                .bind(optional_text(audit.user_id.as_deref()))
                .bind(audit.session_id.map(|id| id.to_string()))
                .bind(optional_text(audit.subject.as_deref()))
                .bind(optional_text(audit.reason.as_deref()))
                .bind(optional_text(audit.request_id.as_deref()))
                .bind(optional_text(audit.ip.as_deref()));
            execute(&mut **tx, query).await.map(drop)
        }

        /// `audit` about the key `kid`.
        fn about_key(audit: &AuditEvent, kid: &str) -> AuditEvent {
            let mut event = audit.clone();
            event.subject = Some(kid.to_owned());
            event
        }

        /// Records each revoked session: its audit row (from `audit`, with the session id filled
        /// in) and its feed entry.
        async fn record_revoked(
            tx: &mut sqlx::Transaction<'_, $db>,
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
                let query = sqlx::query($sql::INSERT_SESSION_REVOCATION)
                    .bind(id.to_string())
                    .bind(revocation.at.timestamp())
                    .bind(revocation.feed_until.timestamp());
                execute(&mut **tx, query).await?;
            }
            Ok(())
        }

        /// Serialises feed writers for the rest of the transaction, so that entry ids become
        /// visible in id order and a reader's cursor never skips one.
        async fn lock_feed(tx: &mut sqlx::Transaction<'_, $db>) -> Result<(), StoreError> {
            execute(&mut **tx, sqlx::query($sql::LOCK_FEED))
                .await
                .map(drop)
        }

        /// Serialises, for the rest of the transaction, everything that creates or revokes
        /// sessions of `user_id`: an exchange checking the user's not-before and a revocation
        /// raising it cannot interleave.
        async fn lock_user(
            tx: &mut sqlx::Transaction<'_, $db>,
            user_id: &str,
        ) -> Result<(), StoreError> {
            let query = sqlx::query($sql::LOCK_USER).bind(text(user_id));
            execute(&mut **tx, query).await.map(drop)
        }

        /// Binds a signing key's columns, in `INSERT_SIGNING_KEY` order.
        fn bind_key(query: Sql, key: &SigningKeyRecord) -> Sql {
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

        /// Binds a new session's columns, in `INSERT_SESSION` order.
        fn bind_session(query: Sql, new: &NewSession) -> Result<Sql, StoreError> {
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

        /// Runs one rotation as its own statement (`ROTATE_UNMIGRATED`, `ROTATE_ONE`,
        /// `ROLL_FORWARD` or SQLite's `ROTATE`): family, presented, successor, now (ms),
        /// generation, now (s), idle end (s), client id, and for `ROLL_FORWARD` (`rolling_from`
        /// set) the generation the family must still be at.
        async fn rotate_alone(
            store: &$store,
            statement: &'static str,
            rotation: &Rotation,
            rolling_from: Option<Option<i64>>,
        ) -> Result<Option<Grant>, StoreError> {
            // One statement: concurrent rotations of one token queue on its row lock; after
            // the winner commits, the others re-evaluate `token_hash = presented`, find it
            // false, and change nothing.
            let query = sqlx::query_as::<_, GrantRow>(statement)
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
            // `fetch_all`, not `fetch_optional`: the statement must run to its end. SQLite
            // commits an `update … returning` left at its row when it is reset, but runs its
            // automatic WAL checkpoint only after a statement that ran to completion — without
            // it the WAL grows without bound.
            match on_connection!(store, conn => fetch_all(conn, query).await) {
                Ok(rows) => rows.into_iter().next().map(Grant::try_from).transpose(),
                // Under a `repeatable read` or `serializable` default isolation the losers
                // of the race fail instead of re-checking: they lost, nothing was written.
                Err(StoreError::Conflict(_)) => Ok(None),
                Err(err) => Err(err),
            }
        }

        #[async_trait::async_trait]
        impl crate::domain::ports::KeyStore for $store {
            async fn insert_signing_key(
                &self,
                key: &SigningKeyRecord,
                audit: &AuditEvent,
            ) -> Result<bool, StoreError> {
                on_connection!(self, conn => async {
                    let mut tx = begin_write(conn).await?;
                    let insert = bind_key(sqlx::query($sql::INSERT_SIGNING_KEY), key);
                    if execute(&mut *tx, insert).await? == 0 {
                        return Ok(false);
                    }
                    insert_audit(&mut tx, audit).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }.await)
            }

            async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
                let query = sqlx::query_as::<_, SigningKeyRow>($sql::SELECT_SIGNING_KEYS);
                records(on_connection!(self, conn => fetch_all(conn, query).await)?)
            }

            async fn promote_next_key(
                &self,
                now: DateTime<Utc>,
                publish_until: DateTime<Utc>,
                audit: &AuditEvent,
            ) -> Result<Option<String>, StoreError> {
                on_connection!(self, conn => async {
                    let mut tx = begin_write(conn).await?;
                    execute(&mut *tx, sqlx::query($sql::LOCK_KEYS)).await?;
                    // Re-read under the lock: another replica may have promoted a moment ago.
                    let query =
                        sqlx::query_scalar::<_, String>($sql::DUE_NEXT_KEY).bind(now.timestamp());
                    let Some(kid) = fetch_column(&mut *tx, query).await?.into_iter().next() else {
                        return Ok(None);
                    };
                    let retire = sqlx::query($sql::RETIRE_ACTIVE_KEY)
                        .bind(now.timestamp())
                        .bind(publish_until.timestamp());
                    execute(&mut *tx, retire).await?;
                    let activate = sqlx::query($sql::ACTIVATE_KEY)
                        .bind(kid.clone())
                        .bind(now.timestamp());
                    execute(&mut *tx, activate).await?;
                    insert_audit(&mut tx, &about_key(audit, &kid)).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(Some(kid))
                }.await)
            }

            async fn remove_retired_keys(
                &self,
                now: DateTime<Utc>,
                audit: &AuditEvent,
            ) -> Result<Vec<String>, StoreError> {
                on_connection!(self, conn => async {
                    let mut tx = begin_write(conn).await?;
                    let query = sqlx::query_scalar::<_, String>($sql::REMOVE_RETIRED_KEYS)
                        .bind(now.timestamp());
                    let removed = fetch_column(&mut *tx, query).await?;
                    for kid in &removed {
                        insert_audit(&mut tx, &about_key(audit, kid)).await?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(removed)
                }.await)
            }

            async fn revoke_signing_key(
                &self,
                kid: &str,
                now: DateTime<Utc>,
                replacement: &SigningKeyRecord,
                audit: &AuditEvent,
            ) -> Result<bool, StoreError> {
                on_connection!(self, conn => async {
                    let mut tx = begin_write(conn).await?;
                    execute(&mut *tx, sqlx::query($sql::LOCK_KEYS)).await?;
                    let query = sqlx::query_scalar::<_, String>($sql::DELETE_KEY).bind(text(kid));
                    let Some(state) = fetch_column(&mut *tx, query).await?.into_iter().next() else {
                        return Ok(false);
                    };
                    if state == "active" {
                        let query = sqlx::query_scalar::<_, String>($sql::NEXT_KEY);
                        match fetch_column(&mut *tx, query).await?.into_iter().next() {
                            Some(next) => {
                                let activate = sqlx::query($sql::ACTIVATE_KEY)
                                    .bind(next)
                                    .bind(now.timestamp());
                                execute(&mut *tx, activate).await?;
                            }
                            None => {
                                let insert =
                                    bind_key(sqlx::query($sql::INSERT_SIGNING_KEY), replacement);
                                execute(&mut *tx, insert).await?;
                            }
                        }
                    }
                    insert_audit(&mut tx, audit).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }.await)
            }

            async fn notify_keys_changed(&self) -> Result<(), StoreError> {
                on_connection!(self, conn => execute(conn, sqlx::query($sql::NOTIFY_KEYS)).await)
                    .map(drop)
            }

        }

        #[async_trait::async_trait]
        impl crate::domain::ports::SessionStore for $store {
            async fn create_session(
                &self,
                new: &NewSession,
                audit: &AuditEvent,
            ) -> Result<bool, StoreError> {
                on_connection!(self, conn => async {
                    let mut tx = begin_write(conn).await?;
                    lock_user(&mut tx, &new.session.user_id).await?;
                    let insert = bind_session(sqlx::query($sql::INSERT_SESSION), new)?
                        .bind(new.verified_at.timestamp());
                    if execute(&mut *tx, insert).await? == 0 {
                        return Ok(false);
                    }
                    insert_audit(&mut tx, audit).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }.await)
            }

            async fn find_session(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
                let query =
                    sqlx::query_as::<_, SessionRow>($sql::FIND_SESSION).bind(id.to_string());
                let row = on_connection!(self, conn => fetch_optional(conn, query).await)?;
                row.map(Session::try_from).transpose()
            }

            async fn user_sessions(
                &self,
                query: &SessionQuery,
            ) -> Result<Vec<Session>, StoreError> {
                let statement = sqlx::query_as::<_, SessionRow>($sql::USER_SESSIONS)
                    .bind(text(&query.user_id))
                    .bind(query.active_at.map(|t| t.timestamp()))
                    .bind(query.before.map(|id| id.to_string()))
                    .bind(i64::from(query.limit));
                records(on_connection!(self, conn => fetch_all(conn, statement).await)?)
            }

            async fn update_user_snapshot(
                &self,
                user_id: &str,
                snapshot: &UserSnapshot,
                updated_at_ms: i64,
            ) -> Result<u64, StoreError> {
                let query = sqlx::query($sql::UPDATE_USER_SNAPSHOT)
                    .bind(text(user_id))
                    .bind(snapshot_json(snapshot)?)
                    .bind(updated_at_ms);
                on_connection!(self, conn => execute(conn, query).await)
            }
        }

        #[async_trait::async_trait]
        impl crate::domain::ports::RefreshTokenStore for $store {
            async fn token_family(
                &self,
                family: &FamilyHash,
                token: &TokenHash,
            ) -> Result<Option<TokenFamily>, StoreError> {
                let query = sqlx::query_as::<_, TokenFamilyRow>($sql::FIND_TOKEN_FAMILY)
                    .bind(family.0.to_vec())
                    .bind(token.0.to_vec());
                let row = on_connection!(self, conn => fetch_optional(conn, query).await)?;
                row.map(TokenFamily::try_from).transpose()
            }

            async fn rotate_refresh_token(
                &self,
                rotation: &Rotation,
            ) -> Result<Option<Grant>, StoreError> {
                let result = if rotation.unmigrated {
                    // Boxed: this rare path's statement future is large, and inline it would
                    // make every refresh's future as large (async_trait moves it to the heap).
                    Box::pin(rotate_alone(self, $sql::ROTATE_UNMIGRATED, rotation, None)).await
                } else {
                    self.rotate_current(rotation).await
                };
                if let Err(err @ StoreError::Unavailable(_)) = &result {
                    // The rotation may have committed, its answer lost: the outage began no
                    // later than the time the rotation is stamped with, so the client's retry
                    // is judged against a window that outlasts it (`domain::grace`).
                    self.pool.observer().failed(rotation.now, &Cause(err));
                }
                result
            }

            async fn roll_forward(
                &self,
                rotation: &Rotation,
                from: Option<i64>,
            ) -> Result<Option<Grant>, StoreError> {
                rotate_alone(self, $sql::ROLL_FORWARD, rotation, Some(from)).await
            }
        }

        #[async_trait::async_trait]
        impl crate::domain::ports::RevocationStore for $store {
            async fn revoke_session(
                &self,
                id: Uuid,
                revocation: &Revocation,
                audit: &AuditEvent,
            ) -> Result<bool, StoreError> {
                on_connection!(self, conn => async {
                    let mut tx = begin_write(conn).await?;
                    let query = sqlx::query($sql::REVOKE_SESSION)
                        .bind(id.to_string())
                        .bind(revocation.at.timestamp())
                        .bind(revocation.reason.as_str());
                    if execute(&mut *tx, query).await? == 0 {
                        return Ok(false);
                    }
                    record_revoked(&mut tx, &[id], audit, revocation).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }.await)
            }

            async fn revoke_user_sessions(
                &self,
                user_id: &str,
                revocation: &UserRevocation,
                audit: &AuditEvent,
            ) -> Result<RevokedUser, StoreError> {
                let at = &revocation.revocation;
                on_connection!(self, conn => async {
                    let mut tx = begin_write(conn).await?;
                    lock_user(&mut tx, user_id).await?;
                    let query = sqlx::query_scalar::<_, i64>($sql::NOT_BEFORE).bind(text(user_id));
                    let previous = fetch_column(&mut *tx, query).await?.into_iter().next();
                    let not_before = revocation.not_before.timestamp();
                    let raised = previous.is_none_or(|previous| previous < not_before);
                    if raised {
                        let query = sqlx::query($sql::SET_NOT_BEFORE)
                            .bind(text(user_id))
                            .bind(not_before);
                        execute(&mut *tx, query).await?;
                    }
                    let query = sqlx::query_scalar::<_, String>($sql::REVOKE_USER_SESSIONS)
                        .bind(text(user_id))
                        .bind(at.at.timestamp())
                        .bind(at.reason.as_str())
                        .bind(
                            revocation
                                .created_before
                                .map_or(i64::MAX, |t| t.timestamp()),
                        );
                    let ids = uuids(fetch_column(&mut *tx, query).await?)?;
                    record_revoked(&mut tx, &ids, audit, at).await?;
                    if raised {
                        lock_feed(&mut tx).await?;
                        let query = sqlx::query($sql::INSERT_USER_REVOCATION)
                            .bind(text(user_id))
                            .bind(not_before)
                            .bind(at.at.timestamp())
                            .bind(at.feed_until.timestamp().max(not_before) + 1);
                        execute(&mut *tx, query).await?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    let effective = previous.map_or(not_before, |p| p.max(not_before));
                    Ok(RevokedUser {
                        sessions: ids,
                        not_before: super::rows::time(effective)?,
                        not_before_raised: raised,
                    })
                }.await)
            }

            async fn revoke_appwrite_session(
                &self,
                user_id: &str,
                appwrite_session_id: &str,
                revocation: &Revocation,
                remember_until: DateTime<Utc>,
                audit: &AuditEvent,
            ) -> Result<Vec<Uuid>, StoreError> {
                on_connection!(self, conn => async {
                    let mut tx = begin_write(conn).await?;
                    lock_user(&mut tx, user_id).await?;
                    let query = sqlx::query($sql::REMEMBER_APPWRITE_SESSION_REVOCATION)
                        .bind(text(appwrite_session_id))
                        .bind(text(user_id))
                        .bind(revocation.at.timestamp())
                        .bind(remember_until.timestamp());
                    execute(&mut *tx, query).await?;
                    let query = sqlx::query_scalar::<_, String>($sql::REVOKE_APPWRITE_SESSION)
                        .bind(text(user_id))
                        .bind(revocation.at.timestamp())
                        .bind(revocation.reason.as_str())
                        .bind(text(appwrite_session_id));
                    let ids = uuids(fetch_column(&mut *tx, query).await?)?;
                    record_revoked(&mut tx, &ids, audit, revocation).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(ids)
                }.await)
            }

            async fn user_not_before(
                &self,
                user_id: &str,
            ) -> Result<Option<DateTime<Utc>>, StoreError> {
                let query = sqlx::query_scalar::<_, i64>($sql::NOT_BEFORE).bind(text(user_id));
                let seconds = on_connection!(self, conn => fetch_column(conn, query).await)?.into_iter().next();
                super::rows::optional_time(seconds)
            }
        }

        #[async_trait::async_trait]
        impl crate::domain::ports::ReconcileStore for $store {
            async fn claim_reconciliation(
                &self,
                now: DateTime<Utc>,
                due_before: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<ReconcileClaim>, StoreError> {
                let query = sqlx::query_as::<_, ReconcileRow>($sql::CLAIM_RECONCILIATION)
                    .bind(now.timestamp())
                    .bind(due_before.timestamp())
                    .bind(i64::from(limit));
                records(on_connection!(self, conn => fetch_all(conn, query).await)?)
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
                let query = sqlx::query($sql::POSTPONE_RECONCILIATION)
                    .bind(checked_at.timestamp())
                    .bind(ids);
                on_connection!(self, conn => execute(conn, query).await)?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::domain::ports::FeedStore for $store {
            async fn revocations_since(
                &self,
                after: i64,
                now: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<FeedEntry>, StoreError> {
                let query = sqlx::query_as::<_, FeedRow>($sql::REVOCATIONS_SINCE)
                    .bind(after)
                    .bind(now.timestamp())
                    .bind(i64::from(limit));
                records(on_connection!(self, conn => fetch_all(conn, query).await)?)
            }

            async fn purge_expired(
                &self,
                cutoffs: &PurgeCutoffs,
                batch: u32,
            ) -> Result<u64, StoreError> {
                let mut purged = 0;
                let statements = [
                    ($sql::PURGE_REVOCATIONS, cutoffs.feed),
                    ($sql::PURGE_SESSIONS, cutoffs.sessions),
                    (
                        $sql::PURGE_APPWRITE_SESSION_REVOCATIONS,
                        cutoffs.appwrite_sessions,
                    ),
                    ($sql::PURGE_OUTAGES, cutoffs.outages),
                    ($sql::PURGE_REPLICAS, cutoffs.heartbeats),
                    ($sql::PURGE_WEBHOOK_DELIVERIES, cutoffs.webhook_deliveries),
                ];
                for (statement, cutoff) in statements {
                    let query = sqlx::query(statement)
                        .bind(cutoff.timestamp())
                        .bind(i64::from(batch));
                    purged += on_connection!(self, conn => execute(conn, query).await)?;
                }
                Ok(purged)
            }
        }

        #[async_trait::async_trait]
        impl crate::domain::ports::WebhookStore for $store {
            async fn remember_webhook_delivery(
                &self,
                body_digest: &[u8; 32],
                events: &str,
                now: DateTime<Utc>,
                expires_at: DateTime<Utc>,
            ) -> Result<FirstSighting, StoreError> {
                let query = sqlx::query_as::<_, (String, i64)>($sql::REMEMBER_WEBHOOK_DELIVERY)
                    .bind(body_digest.to_vec())
                    .bind(text(events))
                    .bind(now.timestamp())
                    .bind(expires_at.timestamp());
                // The upsert always returns its row; `None` would be a backend bug.
                let (events, first_seen_at) =
                    on_connection!(self, conn => fetch_optional(conn, query).await)?.ok_or_else(
                        || StoreError::Corrupt("the delivery upsert returned no row".into()),
                    )?;
                Ok(FirstSighting {
                    events,
                    at: super::rows::time(first_seen_at)?,
                })
            }
        }

        #[async_trait::async_trait]
        impl crate::domain::ports::AuditStore for $store {
            async fn record_audit(&self, audit: &AuditEvent) -> Result<(), StoreError> {
                on_connection!(self, conn => async {
                    let mut tx = begin_write(conn).await?;
                    insert_audit(&mut tx, audit).await?;
                    tx.commit().await.map_err(store_error)
                }.await)
            }

            async fn audit_events(
                &self,
                query: &AuditQuery,
            ) -> Result<Vec<AuditRecord>, StoreError> {
                let statement = sqlx::query_as::<_, AuditRow>($sql::AUDIT_EVENTS)
                    .bind(optional_text(query.user_id.as_deref()))
                    .bind(query.session_id.map(|id| id.to_string()))
                    .bind(query.before)
                    .bind(i64::from(query.limit));
                records(on_connection!(self, conn => fetch_all(conn, statement).await)?)
            }
        }

        #[async_trait::async_trait]
        impl crate::domain::ports::AdminKeyStore for $store {
            async fn insert_admin_key(
                &self,
                key: &AdminKeyRecord,
                audit: &AuditEvent,
            ) -> Result<(), StoreError> {
                on_connection!(self, conn => async {
                    let mut tx = begin_write(conn).await?;
                    let query = sqlx::query($sql::INSERT_ADMIN_KEY)
                        .bind(key.id.clone())
                        .bind(text(&key.name))
                        .bind(key.role.as_str())
                        .bind(key.secret_hash.clone())
                        .bind(key.created_at.timestamp());
                    execute(&mut *tx, query).await?;
                    insert_audit(&mut tx, audit).await?;
                    tx.commit().await.map_err(store_error)
                }.await)
            }

            async fn find_admin_key(&self, id: &str) -> Result<Option<AdminKeyRecord>, StoreError> {
                let query = sqlx::query_as::<_, AdminKeyRow>($sql::FIND_ADMIN_KEY).bind(text(id));
                let row = on_connection!(self, conn => fetch_optional(conn, query).await)?;
                row.map(AdminKeyRecord::try_from).transpose()
            }

            async fn admin_keys(&self) -> Result<Vec<AdminKeyRecord>, StoreError> {
                let query = sqlx::query_as::<_, AdminKeyRow>($sql::ADMIN_KEYS);
                records(on_connection!(self, conn => fetch_all(conn, query).await)?)
            }

            async fn revoke_admin_key(
                &self,
                id: &str,
                now: DateTime<Utc>,
                audit: &AuditEvent,
            ) -> Result<bool, StoreError> {
                on_connection!(self, conn => async {
                    let mut tx = begin_write(conn).await?;
                    let query = sqlx::query($sql::REVOKE_ADMIN_KEY)
                        .bind(text(id))
                        .bind(now.timestamp());
                    if execute(&mut *tx, query).await? == 0 {
                        return Ok(false);
                    }
                    insert_audit(&mut tx, audit).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }.await)
            }
        }

        #[async_trait::async_trait]
        impl crate::domain::ports::Availability for $store {
            fn writable(&self) -> bool {
                self.pool.observer().writable()
            }

            async fn heartbeat(
                &self,
                replica: Uuid,
                started_at: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let observer = self.pool.observer();
                let query = sqlx::query($sql::HEARTBEAT)
                    .bind(replica.to_string())
                    .bind(started_at.timestamp_millis())
                    .bind(now.timestamp_millis());
                match on_connection!(self, conn => execute(conn, query).await) {
                    Ok(_) => {
                        observer.heartbeat_succeeded();
                        Ok(())
                    }
                    // A heartbeat that cannot get its write done in time means the database
                    // cannot take writes: as good as down (an operation cancelled so does
                    // not open an outage by itself).
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
                let query = sqlx::query_as::<_, (i64, bool)>($sql::NEWEST_HEARTBEAT)
                    .bind(replica.to_string());
                let row = on_connection!(self, conn => fetch_optional(conn, query).await)?;
                row.map(|(seen_at_ms, stopped)| {
                    super::rows::time_ms(seen_at_ms).map(|seen| (seen, stopped))
                })
                .transpose()
            }

            async fn mark_stopped(&self, replica: Uuid) -> Result<(), StoreError> {
                let query = sqlx::query($sql::MARK_STOPPED).bind(replica.to_string());
                on_connection!(self, conn => execute(conn, query).await).map(drop)
            }

            async fn record_outages(&self, extra: Option<Outage>) -> Result<usize, StoreError> {
                let observer = self.pool.observer();
                if let Some(extra) = extra {
                    observer.remember(extra);
                }
                // Read, not taken: they stay visible to `outages_between` until committed.
                let outages = observer.unrecorded();
                if outages.is_empty() {
                    return Ok(0);
                }
                let written = on_connection!(self, conn => async {
                    let mut tx = begin_write(conn).await?;
                    for outage in &outages {
                        let query = sqlx::query($sql::INSERT_OUTAGE)
                            .bind(outage.start.timestamp_millis())
                            .bind(outage.end.timestamp_millis());
                        execute(&mut *tx, query).await?;
                    }
                    tx.commit().await.map_err(store_error)
                }.await);
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
                // Memory first: an outage leaves it only once its row is committed, so a row
                // committed after this read is seen by the query below.
                let unrecorded = self.pool.observer().unrecorded_between(from, to);
                let query = sqlx::query_as::<_, (i64, i64)>($sql::OUTAGES_BETWEEN)
                    .bind(from.timestamp_millis())
                    .bind(to.timestamp_millis());
                let rows = on_connection!(self, conn => fetch_all(conn, query).await)?;
                let mut outages = rows
                    .into_iter()
                    .map(|(start, end)| {
                        Ok(Outage {
                            start: super::rows::time_ms(start)?,
                            end: super::rows::time_ms(end)?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                outages.extend(unrecorded);
                Ok(outages)
            }
        }
    };
}

pub(super) use impl_store;
