//! The SQL of the SQLite store: the statements whose texts differ from PostgreSQL's (those
//! that do not are in `shared_sql`).

use crate::store::dialect::Statements;

/// The columns of a session, in `SessionRow` order. Unqualified: SQLite's `RETURNING`
/// cannot name a table alias.
macro_rules! session_columns {
    () => {
        "session_id, user_id, client_id, appwrite_session_id, audience, scope, auth_time, \
         created_at, last_used_at, absolute_expires_at, idle_expires_at, revoked_at, \
         revoked_reason, device_name, user_agent, ip, claims, claims_updated_at_ms, impersonator"
    };
}

/// What an access token is made from, in `GrantRow` order.
macro_rules! grant_columns {
    () => {
        "session_id, user_id, client_id, audience, scope, auth_time, absolute_expires_at, claims, \
         impersonator"
    };
}

/// A session's columns and its refresh-token state, in `TokenFamilyRow` order.
macro_rules! token_family_columns {
    () => {
        concat!(
            session_columns!(),
            ", family_hash is not null as has_family, token_hash, previous_token_hash, \
             previous_used_at_ms, successor_sealed, generation"
        )
    };
}

pub const INSERT_SESSION: &str = "\
insert into sessions
    (session_id, user_id, client_id, appwrite_session_id, audience, scope, auth_time, created_at,
     last_used_at, absolute_expires_at, idle_expires_at, device_name, user_agent, ip, claims,
     claims_updated_at_ms, family_hash, token_hash, generation, impersonator)
select ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20
where not exists (select 1 from user_not_before where user_id = ?2 and not_before > ?21)
    and not exists (select 1 from appwrite_session_revocations where appwrite_session_id = ?4)";

/// `BEGIN IMMEDIATE` already serialises writers; nothing more to take (the parameter is
/// read so that the statement accepts it).
pub const LOCK_USER: &str = "select ?1 is null";

pub const INSERT_AUDIT_EVENT: &str = "\
insert into audit_events
    (occurred_at, event, actor, user_id, session_id, subject, reason, request_id, ip)
values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

pub const FIND_TOKEN_FAMILY: &str = concat!(
    "select ",
    token_family_columns!(),
    " from sessions where family_hash = ?1 union all select ",
    token_family_columns!(),
    " from sessions where family_hash is null and session_id = \
     (select session_id from unmigrated_refresh_tokens where token_hash = ?2) limit 1"
);

/// On the right of `set`, columns hold their old values (as in PostgreSQL).
pub const ROTATE: &str = concat!(
    "update sessions set token_hash = ?3, previous_token_hash = token_hash, \
     previous_used_at_ms = ?4, successor_sealed = null, generation = ?5, last_used_at = ?6, \
     idle_expires_at = min(?7, absolute_expires_at) \
     where family_hash = ?1 and token_hash = ?2 and revoked_at is null \
     and absolute_expires_at > ?6 and idle_expires_at > ?6 \
     and (client_id is null or client_id = ?8) returning ",
    grant_columns!()
);

pub const ROTATE_UNMIGRATED: &str = concat!(
    "update sessions set family_hash = ?1, token_hash = ?3, \
     previous_token_hash = token_hash, previous_used_at_ms = ?4, successor_sealed = null, \
     generation = ?5, last_used_at = ?6, idle_expires_at = min(?7, absolute_expires_at) \
     where session_id = (select session_id from unmigrated_refresh_tokens \
     where token_hash = ?2) and family_hash is null and token_hash = ?2 \
     and revoked_at is null \
     and absolute_expires_at > ?6 and idle_expires_at > ?6 \
     and (client_id is null or client_id = ?8) returning ",
    grant_columns!()
);

pub const ROLL_FORWARD: &str = concat!(
    "update sessions set token_hash = ?3, previous_token_hash = ?2, \
     previous_used_at_ms = ?4, successor_sealed = null, generation = ?5, last_used_at = ?6, \
     idle_expires_at = min(?7, absolute_expires_at) \
     where family_hash = ?1 and generation is ?9 \
     and revoked_at is null and absolute_expires_at > ?6 and idle_expires_at > ?6 \
     and (client_id is null or client_id = ?8) returning ",
    grant_columns!()
);

pub const REVOKE_SESSION: &str = "\
update sessions set revoked_at = ?2, revoked_reason = ?3
where session_id = ?1 and revoked_at is null";

pub const FIND_SESSION: &str = concat!(
    "select ",
    session_columns!(),
    " from sessions where session_id = ?1"
);

pub const REVOKE_USER_SESSIONS: &str = "\
update sessions set revoked_at = ?2, revoked_reason = ?3
where user_id = ?1 and revoked_at is null and created_at < ?4
returning session_id";

pub const REVOKE_APPWRITE_SESSION: &str = "\
update sessions set revoked_at = ?2, revoked_reason = ?3
where user_id = ?1 and appwrite_session_id = ?4 and revoked_at is null
returning session_id";

pub const UPDATE_USER_SNAPSHOT: &str = "\
update sessions set claims = ?2, claims_updated_at_ms = ?3
where user_id = ?1 and revoked_at is null and claims_updated_at_ms < ?3";

/// Claims due sessions (`BEGIN IMMEDIATE` is not needed: one statement, and SQLite has
/// one writer).
pub const CLAIM_RECONCILIATION: &str = "\
update sessions set reconciled_at = ?1
where session_id in (
    select session_id from sessions
    where revoked_at is null and coalesce(reconciled_at, created_at) <= ?2
        and absolute_expires_at > ?1 and idle_expires_at > ?1
    order by coalesce(reconciled_at, created_at)
    limit ?3)
returning session_id, user_id, appwrite_session_id";

pub const POSTPONE_RECONCILIATION: &str = "\
update sessions set reconciled_at = ?1
where session_id in (select value from json_each(?2))";

pub const USER_SESSIONS: &str = concat!(
    "select ",
    session_columns!(),
    " from sessions where user_id = ?1 \
     and (?2 is null or (revoked_at is null and absolute_expires_at > ?2 \
     and idle_expires_at > ?2)) \
     and (?3 is null or session_id < ?3) \
     order by session_id desc limit ?4"
);

pub const AUDIT_EVENTS: &str = "\
select audit_event_id, occurred_at, event, actor, user_id, session_id, subject,
    reason, request_id, ip
from audit_events
where (?1 is null or user_id = ?1) and (?2 is null or session_id = ?2)
    and (?3 is null or audit_event_id < ?3)
order by audit_event_id desc
limit ?4";

/// `BEGIN IMMEDIATE` already serialises writers; nothing more to take.
pub const LOCK_FEED: &str = "select 1";

pub const INSERT_SESSION_REVOCATION: &str = "\
insert into revocations (kind, session_id, created_at, expires_at) values ('session', ?1, ?2, ?3)";

pub const REVOCATIONS_SINCE: &str = "\
select revocation_id, kind, session_id, user_id, not_before, expires_at
from revocations
where revocation_id > ?1 and expires_at > ?2
order by revocation_id
limit ?3";

/// `BEGIN IMMEDIATE` already serialises writers; nothing more to take.
pub const LOCK_KEYS: &str = "select 1";

pub const NOTIFY_KEYS: &str = "select 1";

pub const HEARTBEAT: &str = "\
insert into replicas (replica_id, started_at_ms, seen_at_ms, stopped) values (?1, ?2, ?3, 0)
on conflict (replica_id) do update set seen_at_ms = excluded.seen_at_ms, stopped = 0";

pub const NEWEST_HEARTBEAT: &str = "\
select seen_at_ms, stopped from replicas where replica_id <> ?1
order by seen_at_ms desc limit 1";

pub const MARK_STOPPED: &str = "update replicas set stopped = 1 where replica_id = ?1";

/// This backend's texts of the statements that differ between backends.
pub(crate) const STATEMENTS: Statements = Statements {
    lock_user: LOCK_USER,
    lock_feed: LOCK_FEED,
    lock_keys: LOCK_KEYS,
    notify_keys: NOTIFY_KEYS,
    insert_session: INSERT_SESSION,
    insert_audit_event: INSERT_AUDIT_EVENT,
    find_token_family: FIND_TOKEN_FAMILY,
    rotate_unmigrated: ROTATE_UNMIGRATED,
    roll_forward: ROLL_FORWARD,
    revoke_session: REVOKE_SESSION,
    find_session: FIND_SESSION,
    revoke_user_sessions: REVOKE_USER_SESSIONS,
    revoke_appwrite_session: REVOKE_APPWRITE_SESSION,
    update_user_snapshot: UPDATE_USER_SNAPSHOT,
    user_sessions: USER_SESSIONS,
    audit_events: AUDIT_EVENTS,
    claim_reconciliation: CLAIM_RECONCILIATION,
    postpone_reconciliation: POSTPONE_RECONCILIATION,
    insert_session_revocation: INSERT_SESSION_REVOCATION,
    revocations_since: REVOCATIONS_SINCE,
    heartbeat: HEARTBEAT,
    newest_heartbeat: NEWEST_HEARTBEAT,
    mark_stopped: MARK_STOPPED,
};
