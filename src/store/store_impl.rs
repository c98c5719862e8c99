//! The one implementation of the [`Store`](crate::domain::ports::Store) port, shared by both
//! backends: the transactions and their decisions are written once; each backend supplies only
//! its SQL text (a `sql` module with the same constant names) and how a write transaction
//! begins. Rows are read into the shared structs of `rows.rs`.

/// The not-before set at `now`: the next whole second, so that tokens issued earlier in the
/// current second (`iat` has whole seconds) are covered by "`iat` before not-before".
pub(super) fn not_before_after(now: chrono::DateTime<chrono::Utc>) -> i64 {
    now.timestamp() + 1
}

/// Implements `Store` for `$store` (with a `pool` field and a `begin_write` method) over the
/// database `$db`, with the SQL of module `$sql`.
macro_rules! impl_store {
    ($store:ty, $db:ty, $sql:ident) => {
        /// Records an audit event inside a transaction.
        async fn insert_audit(
            tx: &mut sqlx::Transaction<'_, $db>,
            audit: &crate::domain::audit::AuditEvent,
        ) -> Result<(), StoreError> {
            sqlx::query($sql::INSERT_AUDIT_EVENT)
                .bind(audit.occurred_at.timestamp())
                .bind(audit.event)
                .bind(audit.actor.as_string())
                .bind(&audit.user_id)
                .bind(audit.session_id.map(|id| id.to_string()))
                .bind(&audit.subject)
                .bind(&audit.reason)
                .bind(&audit.request_id)
                .bind(&audit.ip)
                .execute(&mut **tx)
                .await
                .map_err(store_error)?;
            Ok(())
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
            publish_sessions(tx, ids, revocation).await
        }

        /// Adds revoked sessions to the feed. Feed writers are serialised (`LOCK_FEED`) so
        /// that entry ids become visible in id order and a reader's cursor never skips one.
        async fn publish_sessions(
            tx: &mut sqlx::Transaction<'_, $db>,
            ids: &[Uuid],
            revocation: &Revocation,
        ) -> Result<(), StoreError> {
            sqlx::query($sql::LOCK_FEED)
                .execute(&mut **tx)
                .await
                .map_err(store_error)?;
            for id in ids {
                sqlx::query($sql::INSERT_SESSION_REVOCATION)
                    .bind(id.to_string())
                    .bind(revocation.at.timestamp())
                    .bind(revocation.feed_until.timestamp())
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?;
            }
            Ok(())
        }

        /// Binds a signing key's columns, in `INSERT_SIGNING_KEY` order.
        fn bind_key<'q>(
            query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
            key: &'q SigningKeyRecord,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            query
                .bind(&key.kid)
                .bind(key.algorithm.as_str())
                .bind(key.state.as_str())
                .bind(&key.public_jwk)
                .bind(&key.private_key_sealed)
                .bind(key.created_at.timestamp())
                .bind(key.activates_at.map(|t| t.timestamp()))
                .bind(key.retired_at.map(|t| t.timestamp()))
                .bind(key.publish_until.map(|t| t.timestamp()))
        }

        #[async_trait::async_trait]
        impl crate::domain::ports::Store for $store {
            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("select 1")
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                Ok(())
            }

            async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<bool, StoreError> {
                let result = bind_key(sqlx::query($sql::INSERT_SIGNING_KEY), key)
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                Ok(result.rows_affected() == 1)
            }

            async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
                let rows: Vec<SigningKeyRow> = sqlx::query_as($sql::SELECT_SIGNING_KEYS)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                records(rows)
            }

            async fn create_session(
                &self,
                session: &Session,
                first_token: &TokenHash,
                audit: &AuditEvent,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await.map_err(store_error)?;
                sqlx::query($sql::INSERT_SESSION)
                    .bind(session.id.to_string())
                    .bind(&session.user_id)
                    .bind(&session.client_id)
                    .bind(&session.appwrite_session_id)
                    .bind(&session.audience)
                    .bind(&session.scope)
                    .bind(session.auth_time.timestamp())
                    .bind(session.created_at.timestamp())
                    .bind(session.last_used_at.timestamp())
                    .bind(session.absolute_expires_at.timestamp())
                    .bind(session.idle_expires_at.timestamp())
                    .bind(&session.device_name)
                    .bind(&session.user_agent)
                    .bind(&session.ip)
                    .bind(claims_json(session)?)
                    .bind(session.claims_updated_at_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                sqlx::query($sql::INSERT_REFRESH_TOKEN)
                    .bind(&first_token.0[..])
                    .bind(session.id.to_string())
                    .bind(session.created_at.timestamp())
                    .bind(session.absolute_expires_at.timestamp())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(store_error)
            }

            async fn find_session(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
                let row: Option<SessionRow> = sqlx::query_as($sql::FIND_SESSION)
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                row.map(Session::try_from).transpose()
            }

            async fn find_refresh_token(
                &self,
                hash: &TokenHash,
            ) -> Result<Option<RefreshTokenState>, StoreError> {
                let row: Option<RefreshTokenRow> = sqlx::query_as($sql::FIND_REFRESH_TOKEN)
                    .bind(&hash.0[..])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                row.map(RefreshTokenState::try_from).transpose()
            }

            async fn rotate_refresh_token(
                &self,
                rotation: &Rotation,
            ) -> Result<RotationResult, StoreError> {
                let now = rotation.now.timestamp();
                let mut tx = self.begin_write().await.map_err(store_error)?;
                // Concurrent rotations of one token queue on its row lock; after the winner commits,
                // the others re-evaluate `used_at is null`, find it false, and update nothing.
                let marked = sqlx::query($sql::MARK_TOKEN_USED)
                    .bind(&rotation.presented.0[..])
                    .bind(now)
                    .bind(&rotation.successor_sealed)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                if marked.rows_affected() == 0 {
                    return Ok(RotationResult::AlreadyUsed);
                }
                let touched = sqlx::query($sql::TOUCH_SESSION)
                    .bind(rotation.session_id.to_string())
                    .bind(now)
                    .bind(rotation.idle_expires_at.timestamp())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                if touched.rows_affected() == 0 {
                    return Ok(RotationResult::SessionEnded);
                }
                sqlx::query($sql::INSERT_REFRESH_TOKEN)
                    .bind(&rotation.successor.0[..])
                    .bind(rotation.session_id.to_string())
                    .bind(now)
                    .bind(rotation.successor_expires_at.timestamp())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                tx.commit().await.map_err(store_error)?;
                Ok(RotationResult::Rotated)
            }

            async fn revoke_session(
                &self,
                id: Uuid,
                revocation: &Revocation,
                audit: &AuditEvent,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await.map_err(store_error)?;
                let revoked = sqlx::query($sql::REVOKE_SESSION)
                    .bind(id.to_string())
                    .bind(revocation.at.timestamp())
                    .bind(revocation.reason.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                if revoked.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audit(&mut tx, audit).await?;
                publish_sessions(&mut tx, &[id], revocation).await?;
                tx.commit().await.map_err(store_error)?;
                Ok(true)
            }

            async fn revoke_user_sessions(
                &self,
                user_id: &str,
                revocation: &Revocation,
                audit: &AuditEvent,
            ) -> Result<Vec<Uuid>, StoreError> {
                let mut tx = self.begin_write().await.map_err(store_error)?;
                let ids: Vec<String> = sqlx::query_scalar($sql::REVOKE_USER_SESSIONS)
                    .bind(user_id)
                    .bind(revocation.at.timestamp())
                    .bind(revocation.reason.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                let not_before = not_before_after(revocation.at);
                sqlx::query($sql::RAISE_NOT_BEFORE)
                    .bind(user_id)
                    .bind(not_before)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                let ids = uuids(ids)?;
                record_revoked(&mut tx, &ids, audit, revocation).await?;
                sqlx::query($sql::INSERT_USER_REVOCATION)
                    .bind(user_id)
                    .bind(not_before)
                    .bind(revocation.at.timestamp())
                    .bind(revocation.feed_until.timestamp() + 1)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                tx.commit().await.map_err(store_error)?;
                Ok(ids)
            }

            async fn revoke_appwrite_session(
                &self,
                user_id: &str,
                appwrite_session_id: &str,
                revocation: &Revocation,
                audit: &AuditEvent,
            ) -> Result<Vec<Uuid>, StoreError> {
                let mut tx = self.begin_write().await.map_err(store_error)?;
                let ids: Vec<String> = sqlx::query_scalar($sql::REVOKE_APPWRITE_SESSION)
                    .bind(user_id)
                    .bind(revocation.at.timestamp())
                    .bind(revocation.reason.as_str())
                    .bind(appwrite_session_id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                let ids = uuids(ids)?;
                record_revoked(&mut tx, &ids, audit, revocation).await?;
                tx.commit().await.map_err(store_error)?;
                Ok(ids)
            }

            async fn revocations_since(
                &self,
                after: i64,
                now: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<FeedEntry>, StoreError> {
                let rows: Vec<FeedRow> = sqlx::query_as($sql::REVOCATIONS_SINCE)
                    .bind(after)
                    .bind(now.timestamp())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                records(rows)
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
                    ($sql::PURGE_USED_TOKENS, cutoffs.used_tokens),
                ];
                for (statement, cutoff) in statements {
                    let result = sqlx::query(statement)
                        .bind(cutoff.timestamp())
                        .bind(i64::from(batch))
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    purged += result.rows_affected();
                }
                Ok(purged)
            }

            async fn user_not_before(
                &self,
                user_id: &str,
            ) -> Result<Option<DateTime<Utc>>, StoreError> {
                let seconds: Option<i64> = sqlx::query_scalar($sql::USER_NOT_BEFORE)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                super::rows::optional_time(seconds)
            }

            async fn update_user_snapshot(
                &self,
                user_id: &str,
                snapshot: &UserSnapshot,
                updated_at_ms: i64,
            ) -> Result<u64, StoreError> {
                let result = sqlx::query($sql::UPDATE_USER_SNAPSHOT)
                    .bind(user_id)
                    .bind(snapshot_json(snapshot)?)
                    .bind(updated_at_ms)
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                Ok(result.rows_affected())
            }

            async fn user_sessions(
                &self,
                query: &SessionQuery,
            ) -> Result<Vec<Session>, StoreError> {
                let rows: Vec<SessionRow> = sqlx::query_as($sql::USER_SESSIONS)
                    .bind(&query.user_id)
                    .bind(query.include_revoked)
                    .bind(query.before.map(|id| id.to_string()))
                    .bind(i64::from(query.limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                records(rows)
            }

            async fn record_audit(&self, audit: &AuditEvent) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await.map_err(store_error)?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(store_error)
            }

            async fn audit_events(
                &self,
                query: &AuditQuery,
            ) -> Result<Vec<AuditRecord>, StoreError> {
                let rows: Vec<AuditRow> = sqlx::query_as($sql::AUDIT_EVENTS)
                    .bind(&query.user_id)
                    .bind(query.session_id.map(|id| id.to_string()))
                    .bind(query.before)
                    .bind(i64::from(query.limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                records(rows)
            }

            async fn insert_admin_key(
                &self,
                key: &AdminKeyRecord,
                audit: &AuditEvent,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await.map_err(store_error)?;
                sqlx::query($sql::INSERT_ADMIN_KEY)
                    .bind(&key.id)
                    .bind(&key.name)
                    .bind(key.role.as_str())
                    .bind(&key.secret_hash)
                    .bind(key.created_at.timestamp())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(store_error)
            }

            async fn find_admin_key(&self, id: &str) -> Result<Option<AdminKeyRecord>, StoreError> {
                let row: Option<AdminKeyRow> = sqlx::query_as($sql::FIND_ADMIN_KEY)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                row.map(AdminKeyRecord::try_from).transpose()
            }

            async fn admin_keys(&self) -> Result<Vec<AdminKeyRecord>, StoreError> {
                let rows: Vec<AdminKeyRow> = sqlx::query_as($sql::ADMIN_KEYS)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                records(rows)
            }

            async fn revoke_admin_key(
                &self,
                id: &str,
                now: DateTime<Utc>,
                audit: &AuditEvent,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await.map_err(store_error)?;
                let revoked = sqlx::query($sql::REVOKE_ADMIN_KEY)
                    .bind(id)
                    .bind(now.timestamp())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                if revoked.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(store_error)?;
                Ok(true)
            }

            async fn promote_next_key(
                &self,
                now: DateTime<Utc>,
                publish_until: DateTime<Utc>,
            ) -> Result<Option<String>, StoreError> {
                let mut tx = self.begin_write().await.map_err(store_error)?;
                sqlx::query($sql::LOCK_KEYS)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                // Re-read under the lock: another replica may have promoted a moment ago.
                let due: Option<String> = sqlx::query_scalar($sql::DUE_NEXT_KEY)
                    .bind(now.timestamp())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                let Some(kid) = due else {
                    return Ok(None);
                };
                sqlx::query($sql::RETIRE_ACTIVE_KEY)
                    .bind(now.timestamp())
                    .bind(publish_until.timestamp())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                sqlx::query($sql::ACTIVATE_KEY)
                    .bind(&kid)
                    .bind(now.timestamp())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                tx.commit().await.map_err(store_error)?;
                Ok(Some(kid))
            }

            async fn remove_retired_keys(
                &self,
                now: DateTime<Utc>,
            ) -> Result<Vec<String>, StoreError> {
                sqlx::query_scalar($sql::REMOVE_RETIRED_KEYS)
                    .bind(now.timestamp())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)
            }

            async fn revoke_signing_key(
                &self,
                kid: &str,
                now: DateTime<Utc>,
                replacement: &SigningKeyRecord,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await.map_err(store_error)?;
                sqlx::query($sql::LOCK_KEYS)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                let state: Option<String> = sqlx::query_scalar($sql::DELETE_KEY)
                    .bind(kid)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                let Some(state) = state else {
                    return Ok(false);
                };
                if state == "active" {
                    let next: Option<String> = sqlx::query_scalar($sql::NEXT_KEY)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    match next {
                        Some(next) => {
                            sqlx::query($sql::ACTIVATE_KEY)
                                .bind(&next)
                                .bind(now.timestamp())
                                .execute(&mut *tx)
                                .await
                                .map_err(store_error)?;
                        }
                        None => {
                            bind_key(sqlx::query($sql::INSERT_SIGNING_KEY), replacement)
                                .execute(&mut *tx)
                                .await
                                .map_err(store_error)?;
                        }
                    }
                }
                tx.commit().await.map_err(store_error)?;
                Ok(true)
            }

            async fn notify_keys_changed(&self) -> Result<(), StoreError> {
                sqlx::query($sql::NOTIFY_KEYS)
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                Ok(())
            }
        }
    };
}

pub(super) use impl_store;
