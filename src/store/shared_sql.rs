//! The statements both backends run as written: those whose PostgreSQL and SQLite texts differ
//! in nothing but how parameters are written. They use PostgreSQL's `$n`; sqlx binds a `$n`
//! on SQLite by its number too, wherever it stands and however often it repeats (SQLite gives
//! each distinct `$n` one slot, and sqlx fills that slot with argument `n`), so one text
//! serves both. Statements that differ in more (casts, functions, locks, `RETURNING`) stay
//! in each backend's `sql` module.

// Signing keys.

pub const INSERT_SIGNING_KEY: &str = "\
insert into signing_keys
    (kid, alg, state, public_jwk, private_key_sealed, created_at, activates_at, retired_at, publish_until)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
on conflict do nothing";

pub const SELECT_SIGNING_KEYS: &str = "\
select kid, alg, state, public_jwk, private_key_sealed, created_at, activates_at, retired_at, publish_until
from signing_keys
order by created_at, kid";

pub const DUE_NEXT_KEY: &str = "\
select kid from signing_keys where state = 'next' and activates_at <= $1";

pub const NEXT_KEY: &str = "select kid from signing_keys where state = 'next'";

pub const RETIRE_ACTIVE_KEY: &str = "\
update signing_keys set state = 'retired', retired_at = $1, publish_until = $2 where state = 'active'";

pub const ACTIVATE_KEY: &str = "\
update signing_keys set state = 'active', activates_at = $2 where kid = $1";

pub const REMOVE_RETIRED_KEYS: &str = "\
delete from signing_keys where state = 'retired' and publish_until <= $1 returning kid";

pub const DELETE_KEY: &str = "delete from signing_keys where kid = $1 returning state";

// Admin keys.

pub const INSERT_ADMIN_KEY: &str = "\
insert into admin_keys (admin_key_id, name, role, secret_hash, created_at) values ($1, $2, $3, $4, $5)";

pub const FIND_ADMIN_KEY: &str = "\
select admin_key_id, name, role, secret_hash, created_at, revoked_at, last_used_at
from admin_keys where admin_key_id = $1";

pub const ADMIN_KEYS: &str = "\
select admin_key_id, name, role, secret_hash, created_at, revoked_at, last_used_at
from admin_keys order by created_at, admin_key_id";

pub const REVOKE_ADMIN_KEY: &str = "\
update admin_keys set revoked_at = $2 where admin_key_id = $1 and revoked_at is null";

// Revocations: users' not-befores, revoked Appwrite sessions, the feed.

pub const NOT_BEFORE: &str = "select not_before from user_not_before where user_id = $1";

pub const SET_NOT_BEFORE: &str = "\
insert into user_not_before (user_id, not_before) values ($1, $2)
on conflict (user_id) do update set not_before = excluded.not_before";

pub const REMEMBER_APPWRITE_SESSION_REVOCATION: &str = "\
insert into appwrite_session_revocations (appwrite_session_id, user_id, revoked_at, expires_at)
values ($1, $2, $3, $4)
on conflict (appwrite_session_id) do update set expires_at = excluded.expires_at";

pub const INSERT_USER_REVOCATION: &str = "\
insert into revocations (kind, user_id, not_before, created_at, expires_at) values ('user', $1, $2, $3, $4)";

// Webhook deliveries.

/// Remembers a webhook body (`$1` digest, `$2` events, `$3` now, `$4` expiry, in
/// seconds) and returns its first sighting. A row already expired counts as absent and is
/// replaced; otherwise the row stays as it was (the no-op update only makes `returning`
/// yield it).
pub const REMEMBER_WEBHOOK_DELIVERY: &str = "\
insert into webhook_deliveries (body_digest, events, first_seen_at, expires_at)
values ($1, $2, $3, $4)
on conflict (body_digest) do update set
    events = case when webhook_deliveries.expires_at <= excluded.first_seen_at
        then excluded.events else webhook_deliveries.events end,
    first_seen_at = case when webhook_deliveries.expires_at <= excluded.first_seen_at
        then excluded.first_seen_at else webhook_deliveries.first_seen_at end,
    expires_at = case when webhook_deliveries.expires_at <= excluded.first_seen_at
        then excluded.expires_at else webhook_deliveries.expires_at end
returning events, first_seen_at";

// Outages.

pub const INSERT_OUTAGE: &str = "insert into outages (started_at_ms, ended_at_ms) values ($1, $2)";

/// Recorded outages overlapping `$1..=$2` (ms), oldest first.
pub const OUTAGES_BETWEEN: &str = "\
select started_at_ms, ended_at_ms from outages where ended_at_ms >= $1 and started_at_ms <= $2
order by started_at_ms limit 10000";

// The purge: each deletes up to `$2` rows past the cutoff `$1` (seconds).

pub const PURGE_REVOCATIONS: &str = "\
delete from revocations where revocation_id in
    (select revocation_id from revocations where expires_at <= $1 limit $2)";

/// Sessions past their absolute end. (Idle-expired sessions wait for it too: indexing the
/// idle end would cost every rotation its in-place update.)
pub const PURGE_SESSIONS: &str = "\
delete from sessions where session_id in
    (select session_id from sessions where absolute_expires_at <= $1 limit $2)";

pub const PURGE_APPWRITE_SESSION_REVOCATIONS: &str = "\
delete from appwrite_session_revocations where appwrite_session_id in
    (select appwrite_session_id from appwrite_session_revocations where expires_at <= $1 limit $2)";

/// Outages that ended before `$1` (seconds).
pub const PURGE_OUTAGES: &str = "\
delete from outages where outage_id in
    (select outage_id from outages where ended_at_ms < $1 * 1000 limit $2)";

/// Heartbeats of replicas last seen before `$1` (seconds).
pub const PURGE_REPLICAS: &str = "\
delete from replicas where replica_id in
    (select replica_id from replicas where seen_at_ms < $1 * 1000 limit $2)";

/// Remembered webhook deliveries expired at `$1` (seconds).
pub const PURGE_WEBHOOK_DELIVERIES: &str = "\
delete from webhook_deliveries where body_digest in
    (select body_digest from webhook_deliveries where expires_at <= $1 limit $2)";

#[cfg(test)]
mod tests {
    use sqlx::{Connection, SqliteConnection};

    /// What the texts above rely on: on SQLite, sqlx binds `$n` to argument `n`, whatever
    /// order the parameters appear in and however often one repeats.
    #[tokio::test]
    async fn sqlite_binds_dollar_parameters_by_their_number() {
        let mut connection = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let row: (String, String, String, i64) = sqlx::query_as("select $2, $1, $2, $3 * 1000")
            .bind("first")
            .bind("second")
            .bind(7_i64)
            .fetch_one(&mut connection)
            .await
            .unwrap();
        assert_eq!(
            row,
            ("second".into(), "first".into(), "second".into(), 7000)
        );
    }
}
