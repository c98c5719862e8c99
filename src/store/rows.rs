//! Row structs shared by both backends, and their conversion to domain types. Both dialects
//! store the same column types (text, bytes, 64-bit integers), so one struct serves both.

use chrono::{DateTime, Utc};

use crate::domain::keys::SigningAlgorithm;
use crate::domain::model::admin_keys::AdminKeyRecord;
use crate::domain::model::audit::AuditRecord;
use crate::domain::model::keys::SigningKeyRecord;
use crate::domain::model::sessions::{Grant, Session, UserSnapshot};
use crate::domain::model::tokens::TokenHash;
use crate::domain::ports::{FeedEntry, PreviousToken, ReconcileClaim, StoreError, TokenFamily};

/// A unix-seconds column as a time.
pub(crate) fn time(seconds: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {seconds} is out of range")))
}

/// A unix-milliseconds column as a time.
pub(crate) fn time_ms(milliseconds: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(milliseconds)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {milliseconds} ms is out of range")))
}

/// An optional unix-seconds column as a time.
pub(crate) fn optional_time(seconds: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    seconds.map(time).transpose()
}

/// One row of `signing_keys`.
#[derive(sqlx::FromRow)]
pub(crate) struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub public_jwk: String,
    pub private_key_sealed: Vec<u8>,
    pub created_at: i64,
    pub activates_at: Option<i64>,
    pub retired_at: Option<i64>,
    pub publish_until: Option<i64>,
}

impl TryFrom<SigningKeyRow> for SigningKeyRecord {
    type Error = StoreError;

    fn try_from(row: SigningKeyRow) -> Result<Self, Self::Error> {
        Ok(Self {
            algorithm: row.alg.parse::<SigningAlgorithm>().map_err(|_| {
                StoreError::Corrupt(format!("key {} has algorithm {:?}", row.kid, row.alg))
            })?,
            state: row.state.parse()?,
            created_at: time(row.created_at)?,
            activates_at: optional_time(row.activates_at)?,
            retired_at: optional_time(row.retired_at)?,
            publish_until: optional_time(row.publish_until)?,
            kid: row.kid,
            public_jwk: row.public_jwk,
            private_key_sealed: row.private_key_sealed,
        })
    }
}

/// Rows into domain records, failing on the first bad one.
pub(crate) fn records<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

/// One row of `sessions` (ids and json read as text in both dialects).
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub session_id: String,
    pub user_id: String,
    pub client_id: Option<String>,
    pub appwrite_session_id: Option<String>,
    pub audience: String,
    pub scope: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub last_used_at: i64,
    pub absolute_expires_at: i64,
    pub idle_expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
    pub device_name: Option<String>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub claims: String,
    pub claims_updated_at_ms: i64,
    pub impersonator: Option<String>,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;

    fn try_from(row: SessionRow) -> Result<Self, Self::Error> {
        Ok(Self {
            id: row
                .session_id
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("session id {:?}", row.session_id)))?,
            claims: serde_json::from_str(&row.claims).map_err(|_| {
                StoreError::Corrupt(format!("claims of session {}", row.session_id))
            })?,
            revoked_reason: row.revoked_reason.as_deref().map(str::parse).transpose()?,
            auth_time: time(row.auth_time)?,
            created_at: time(row.created_at)?,
            last_used_at: time(row.last_used_at)?,
            absolute_expires_at: time(row.absolute_expires_at)?,
            idle_expires_at: time(row.idle_expires_at)?,
            revoked_at: optional_time(row.revoked_at)?,
            user_id: row.user_id,
            client_id: row.client_id,
            appwrite_session_id: row.appwrite_session_id.unwrap_or_default(),
            audience: row.audience,
            scope: row.scope,
            device_name: row.device_name,
            user_agent: row.user_agent,
            ip: row.ip,
            claims_updated_at_ms: row.claims_updated_at_ms,
            impersonator: row.impersonator,
        })
    }
}

/// What a rotation returns: the columns an access token is made from.
#[derive(sqlx::FromRow)]
pub(crate) struct GrantRow {
    pub session_id: String,
    pub user_id: String,
    pub client_id: Option<String>,
    pub audience: String,
    pub scope: Option<String>,
    pub auth_time: i64,
    pub absolute_expires_at: i64,
    pub claims: String,
    pub impersonator: Option<String>,
}

impl TryFrom<GrantRow> for Grant {
    type Error = StoreError;

    fn try_from(row: GrantRow) -> Result<Self, Self::Error> {
        Ok(Self {
            id: row
                .session_id
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("session id {:?}", row.session_id)))?,
            claims: serde_json::from_str(&row.claims).map_err(|_| {
                StoreError::Corrupt(format!("claims of session {}", row.session_id))
            })?,
            auth_time: time(row.auth_time)?,
            absolute_expires_at: time(row.absolute_expires_at)?,
            user_id: row.user_id,
            client_id: row.client_id,
            audience: row.audience,
            scope: row.scope,
            impersonator: row.impersonator,
        })
    }
}

/// A session with its refresh-token state.
#[derive(sqlx::FromRow)]
pub(crate) struct TokenFamilyRow {
    #[sqlx(flatten)]
    pub session: SessionRow,
    pub has_family: bool,
    pub token_hash: Option<Vec<u8>>,
    pub previous_token_hash: Option<Vec<u8>>,
    pub previous_used_at_ms: Option<i64>,
    pub successor_sealed: Option<Vec<u8>>,
    pub generation: Option<i64>,
}

impl TryFrom<TokenFamilyRow> for TokenFamily {
    type Error = StoreError;

    fn try_from(row: TokenFamilyRow) -> Result<Self, Self::Error> {
        let session: Session = row.session.try_into()?;
        let hash = |bytes: Vec<u8>| {
            <[u8; 32]>::try_from(bytes)
                .map(TokenHash)
                .map_err(|_| StoreError::Corrupt(format!("token hash of session {}", session.id)))
        };
        let previous = match (row.previous_token_hash, row.previous_used_at_ms) {
            (Some(previous), Some(used_at)) => Some(PreviousToken {
                hash: hash(previous)?,
                used_at: DateTime::from_timestamp_millis(used_at).ok_or_else(|| {
                    StoreError::Corrupt(format!("previous use of session {}", session.id))
                })?,
                successor_sealed: row.successor_sealed,
            }),
            _ => None,
        };
        Ok(Self {
            has_family: row.has_family,
            current: row.token_hash.map(hash).transpose()?,
            generation: row.generation,
            previous,
            session,
        })
    }
}

/// One row of `admin_keys`.
#[derive(sqlx::FromRow)]
pub(crate) struct AdminKeyRow {
    pub admin_key_id: String,
    pub name: String,
    pub role: String,
    pub secret_hash: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl TryFrom<AdminKeyRow> for AdminKeyRecord {
    type Error = StoreError;

    fn try_from(row: AdminKeyRow) -> Result<Self, Self::Error> {
        Ok(Self {
            role: row.role.parse()?,
            created_at: time(row.created_at)?,
            revoked_at: optional_time(row.revoked_at)?,
            last_used_at: optional_time(row.last_used_at)?,
            id: row.admin_key_id,
            name: row.name,
            secret_hash: row.secret_hash,
        })
    }
}

/// One row of `audit_events` (ids as text in both dialects).
#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub audit_event_id: i64,
    pub occurred_at: i64,
    pub event: String,
    pub actor: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub subject: Option<String>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, Self::Error> {
        Ok(Self {
            id: row.audit_event_id,
            occurred_at: time(row.occurred_at)?,
            session_id: row
                .session_id
                .map(|id| {
                    id.parse()
                        .map_err(|_| StoreError::Corrupt(format!("audit session id {id:?}")))
                })
                .transpose()?,
            event: row.event,
            actor: row.actor,
            user_id: row.user_id,
            subject: row.subject,
            reason: row.reason,
            request_id: row.request_id,
            ip: row.ip,
        })
    }
}

/// Text ids (`returning session_id`) as UUIDs.
pub(crate) fn uuids(ids: Vec<String>) -> Result<Vec<uuid::Uuid>, StoreError> {
    ids.iter()
        .map(|id| {
            id.parse()
                .map_err(|_| StoreError::Corrupt(format!("session id {id:?}")))
        })
        .collect()
}

/// A claims snapshot as stored JSON, every text in it storable (see `domain::text`).
pub(crate) fn snapshot_json(snapshot: &UserSnapshot) -> Result<String, StoreError> {
    serde_json::to_string(&snapshot.storable()).map_err(|err| StoreError::Query(Box::new(err)))
}

/// One row of `revocations`.
#[derive(sqlx::FromRow)]
pub(crate) struct FeedRow {
    pub revocation_id: i64,
    pub kind: String,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub not_before: Option<i64>,
    pub expires_at: i64,
}

impl TryFrom<FeedRow> for FeedEntry {
    type Error = StoreError;

    fn try_from(row: FeedRow) -> Result<Self, Self::Error> {
        let corrupt = || StoreError::Corrupt(format!("revocation {}", row.revocation_id));
        match (
            row.kind.as_str(),
            &row.session_id,
            &row.user_id,
            row.not_before,
        ) {
            ("session", Some(sid), _, _) => Ok(Self::Session {
                id: row.revocation_id,
                sid: sid.parse().map_err(|_| corrupt())?,
                until: time(row.expires_at)?,
            }),
            ("user", _, Some(sub), Some(not_before)) => Ok(Self::User {
                id: row.revocation_id,
                sub: sub.clone(),
                not_before: time(not_before)?,
                until: time(row.expires_at)?,
            }),
            _ => Err(corrupt()),
        }
    }
}

/// A session claimed for reconciliation.
#[derive(sqlx::FromRow)]
pub(crate) struct ReconcileRow {
    pub session_id: String,
    pub user_id: String,
    pub appwrite_session_id: Option<String>,
}

impl TryFrom<ReconcileRow> for ReconcileClaim {
    type Error = StoreError;

    fn try_from(row: ReconcileRow) -> Result<Self, Self::Error> {
        Ok(Self {
            session_id: row
                .session_id
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("session id {:?}", row.session_id)))?,
            user_id: row.user_id,
            appwrite_session_id: row.appwrite_session_id.unwrap_or_default(),
        })
    }
}
