//! The SQL of the PostgreSQL store: the statements whose texts differ from SQLite's (those
//! that do not are in `shared_sql`), and those only PostgreSQL runs.

use crate::store::dialect::Statements;

/// The columns of a session, in `SessionRow` order.
macro_rules! session_columns {
    () => {
        "s.session_id::text as session_id, s.user_id, s.client_id, s.appwrite_session_id, \
         s.audience, s.scope, s.auth_time, s.created_at, s.last_used_at, \
         s.absolute_expires_at, s.idle_expires_at, s.revoked_at, s.revoked_reason, \
         s.device_name, s.user_agent, s.ip, s.claims::text as claims, s.claims_updated_at_ms, \
         s.impersonator"
    };
}

/// What an access token is made from, in `GrantRow` order.
macro_rules! grant_columns {
    () => {
        "s.session_id::text as session_id, s.user_id, s.client_id, s.audience, s.scope, \
         s.auth_time, s.absolute_expires_at, s.claims::text as claims, s.impersonator"
    };
}

/// A session's columns and its refresh-token state, in `TokenFamilyRow` order.
macro_rules! token_family_columns {
    () => {
        concat!(
            session_columns!(),
            ", s.family_hash is not null as has_family, s.token_hash, s.previous_token_hash, \
             s.previous_used_at_ms, s.successor_sealed, s.generation"
        )
    };
}

/// Inserts the session unless, at `$21` (when Appwrite vouched), the user's not-before
/// was later or the Appwrite session `$4` was deleted: then nothing is inserted.
pub const INSERT_SESSION: &str = "\
insert into sessions
    (session_id, user_id, client_id, appwrite_session_id, audience, scope, auth_time, created_at,
     last_used_at, absolute_expires_at, idle_expires_at, device_name, user_agent, ip, claims,
     claims_updated_at_ms, family_hash, token_hash, generation, impersonator)
select $1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16, $17, $18,
    $19, $20
where not exists (select 1 from user_not_before where user_id = $2 and not_before > $21)
    and not exists (select 1 from appwrite_session_revocations where appwrite_session_id = $4)";

/// Serialises a user's exchanges and revocations (`lock_user`). The two-key form keeps
/// these locks apart from the one-key locks of the feed and the keys.
pub const LOCK_USER: &str = "select pg_advisory_xact_lock(1953066349, hashtext($1))";

pub const INSERT_AUDIT_EVENT: &str = "\
insert into audit_events
    (occurred_at, event, actor, user_id, session_id, subject, reason, request_id, ip)
values ($1, $2, $3, $4, $5::uuid, $6, $7, $8, $9)";

pub const FIND_TOKEN_FAMILY: &str = concat!(
    "select ",
    token_family_columns!(),
    " from sessions s where s.family_hash = $1 union all select ",
    token_family_columns!(),
    " from sessions s join unmigrated_refresh_tokens u on u.session_id = s.session_id \
     where u.token_hash = $2 and s.family_hash is null limit 1"
);

/// The rotations of a batch (see `Rotations`): the one statement of a refresh, shared by
/// the refreshes that wait together. Parameters, one array element per rotation: family,
/// presented hash, successor hash, now (ms), successor's generation, now (s), idle end (s),
/// client id, and the rotation's index in its batch, which each updated row returns.
/// Each row's conditions are those of a single rotation: the current token, a live session
/// within both lifetimes, bound to no other client.
pub const ROTATE: &str = concat!(
    "update sessions s set token_hash = r.successor, previous_token_hash = s.token_hash, \
     previous_used_at_ms = r.used_at_ms, successor_sealed = null, generation = r.generation, \
     last_used_at = r.now, idle_expires_at = least(r.idle_end, s.absolute_expires_at) \
     from unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::int8[], $5::int8[], $6::int8[], \
     $7::int8[], $8::text[], $9::int4[]) \
     as r(family_hash, presented, successor, used_at_ms, generation, now, idle_end, client_id, ord) \
     where s.family_hash = r.family_hash and s.token_hash = r.presented \
     and s.revoked_at is null and s.absolute_expires_at > r.now and s.idle_expires_at > r.now \
     and (s.client_id is null or s.client_id = r.client_id) returning r.ord, ",
    grant_columns!()
);

/// One rotation on its own, waiting for its row's lock (at most `lock_timeout`): for the
/// rotations of a batch that found a row locked. Parameters as SQLite's `ROTATE`: family,
/// presented hash, successor hash, now (ms), successor's generation, now (s), idle end (s),
/// client id.
pub const ROTATE_ONE: &str = concat!(
    "update sessions s set token_hash = $3, previous_token_hash = s.token_hash, \
     previous_used_at_ms = $4, successor_sealed = null, generation = $5, last_used_at = $6, \
     idle_expires_at = least($7, s.absolute_expires_at) \
     where s.family_hash = $1 and s.token_hash = $2 and s.revoked_at is null \
     and s.absolute_expires_at > $6 and s.idle_expires_at > $6 \
     and (s.client_id is null or s.client_id = $8) returning ",
    grant_columns!()
);

/// Whether the server takes no writes: a standby (in recovery), or a primary whose
/// sessions default to read-only (`default_transaction_read_only`, as some failover tools
/// set on a node being demoted).
pub const READ_ONLY: &str =
    "select pg_is_in_recovery() or current_setting('transaction_read_only') = 'on'";

/// This replica's heartbeat: `$1` replica, `$2` started (ms), `$3` now (ms).
pub const HEARTBEAT: &str = "\
insert into replicas (replica_id, started_at_ms, seen_at_ms, stopped) values ($1::uuid, $2, $3, false)
on conflict (replica_id) do update set seen_at_ms = excluded.seen_at_ms, stopped = false";

/// The newest heartbeat of a replica other than `$1`.
pub const NEWEST_HEARTBEAT: &str = "\
select seen_at_ms, stopped from replicas where replica_id <> $1::uuid
order by seen_at_ms desc limit 1";

pub const MARK_STOPPED: &str = "update replicas set stopped = true where replica_id = $1::uuid";

/// The rotation of a session that has no family yet: found by its current token, it gets
/// the family `$1`.
pub const ROTATE_UNMIGRATED: &str = concat!(
    "update sessions s set family_hash = $1, token_hash = $3, previous_token_hash = s.token_hash, \
     previous_used_at_ms = $4, successor_sealed = null, generation = $5, last_used_at = $6, \
     idle_expires_at = least($7, s.absolute_expires_at) \
     where s.session_id = (select u.session_id from unmigrated_refresh_tokens u \
     where u.token_hash = $2) and s.family_hash is null and s.token_hash = $2 \
     and s.revoked_at is null \
     and s.absolute_expires_at > $6 and s.idle_expires_at > $6 \
     and (s.client_id is null or s.client_id = $8) returning ",
    grant_columns!()
);

/// A family still at generation `$9` (null: a token from before generations) moves to the
/// presented token `$2` of a later generation, which becomes the previous one, and its
/// successor `$3` (generation `$5`); parameters otherwise as [`ROTATE_ONE`].
pub const ROLL_FORWARD: &str = concat!(
    "update sessions s set token_hash = $3, previous_token_hash = $2, \
     previous_used_at_ms = $4, successor_sealed = null, generation = $5, last_used_at = $6, \
     idle_expires_at = least($7, s.absolute_expires_at) \
     where s.family_hash = $1 and s.generation is not distinct from $9 \
     and s.revoked_at is null and s.absolute_expires_at > $6 and s.idle_expires_at > $6 \
     and (s.client_id is null or s.client_id = $8) returning ",
    grant_columns!()
);

pub const REVOKE_SESSION: &str = "\
update sessions set revoked_at = $2, revoked_reason = $3
where session_id = $1::uuid and revoked_at is null";

pub const FIND_SESSION: &str = concat!(
    "select ",
    session_columns!(),
    " from sessions s where s.session_id = $1::uuid"
);

/// Revokes the live sessions of `$1` created before `$4`.
pub const REVOKE_USER_SESSIONS: &str = "\
update sessions set revoked_at = $2, revoked_reason = $3
where user_id = $1 and revoked_at is null and created_at < $4
returning session_id::text";

pub const REVOKE_APPWRITE_SESSION: &str = "\
update sessions set revoked_at = $2, revoked_reason = $3
where user_id = $1 and appwrite_session_id = $4 and revoked_at is null
returning session_id::text";

pub const UPDATE_USER_SNAPSHOT: &str = "\
update sessions set claims = $2::jsonb, claims_updated_at_ms = $3
where user_id = $1 and revoked_at is null and claims_updated_at_ms < $3";

/// A user's sessions, newest first; with `$2` set, only those active at `$2`.
pub const USER_SESSIONS: &str = concat!(
    "select ",
    session_columns!(),
    " from sessions s where s.user_id = $1 \
     and ($2::bigint is null or (s.revoked_at is null and s.absolute_expires_at > $2 \
     and s.idle_expires_at > $2)) \
     and ($3::uuid is null or s.session_id < $3::uuid) \
     order by s.session_id desc limit $4"
);

pub const AUDIT_EVENTS: &str = "\
select audit_event_id, occurred_at, event, actor, user_id, session_id::text as session_id, subject,
    reason, request_id, ip
from audit_events
where ($1::text is null or user_id = $1) and ($2::uuid is null or session_id = $2::uuid)
    and ($3::bigint is null or audit_event_id < $3)
order by audit_event_id desc
limit $4";

/// Serialises feed writers for the rest of the transaction (see `lock_feed`).
pub const LOCK_FEED: &str = "select pg_advisory_xact_lock(7305135110520627025)";

/// `bench/pgbench/tokenmint.sql` measures the database ceiling of a refresh: it must run
/// exactly [`ROTATE`] (a batch of one), with pgbench expressions in place of the bound
/// arrays.
#[test]
fn the_pgbench_script_runs_exactly_the_rotation() {
    let script = include_str!("../../../bench/pgbench/tokenmint.sql");
    let statement = script
        .lines()
        .find(|line| line.starts_with("update sessions"))
        .expect("the script's statement");
    let bound = statement
        .replace("array[:n + 1]", "$5")
        .replace("array[sha256(int8send(:chain))]", "$1")
        .replace("array[sha256(int8send(:presented))]", "$2")
        .replace("array[sha256(int8send(:successor))]", "$3")
        .replace("array[:now_ms]", "$4")
        .replace("array[:idle_end]", "$7")
        .replace("array[:now]", "$6")
        .replace("array['mobile']", "$8")
        .replace("array[0]", "$9");
    let words = |sql: &str| sql.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(words(&bound).trim_end_matches(';'), words(ROTATE));
}

/// Claims due sessions: those other claimers hold are skipped, and a row claimed and
/// committed meanwhile is rechecked (no longer due) rather than claimed twice.
pub const CLAIM_RECONCILIATION: &str = "\
update sessions s set reconciled_at = $1
from (select session_id from sessions
      where revoked_at is null and coalesce(reconciled_at, created_at) <= $2
          and absolute_expires_at > $1 and idle_expires_at > $1
      order by coalesce(reconciled_at, created_at)
      limit $3
      for update skip locked) due
where s.session_id = due.session_id
returning s.session_id::text as session_id, s.user_id, s.appwrite_session_id";

pub const POSTPONE_RECONCILIATION: &str = "\
update sessions set reconciled_at = $1
where session_id in (select value::uuid from json_array_elements_text($2::json))";

pub const INSERT_SESSION_REVOCATION: &str = "\
insert into revocations (kind, session_id, created_at, expires_at) values ('session', $1::uuid, $2, $3)";

pub const REVOCATIONS_SINCE: &str = "\
select revocation_id, kind, session_id::text as session_id, user_id, not_before, expires_at
from revocations
where revocation_id > $1 and expires_at > $2
order by revocation_id
limit $3";

/// Serialises key-lifecycle changes across replicas for the rest of the transaction.
pub const LOCK_KEYS: &str = "select pg_advisory_xact_lock(7305135110520627026)";

pub const NOTIFY_KEYS: &str = "select pg_notify('tokenmint_keys', '')";

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
