//! The PostgreSQL store: production, any number of replicas on one database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::DatabaseTimeouts;
use super::availability::{Cause, Observer};
use super::batch::{BatchRunner, Batcher};
use super::error::store_error;
use super::pool::{Checked, Connections};
use super::rows::{
    AdminKeyRow, AuditRow, FeedRow, GrantRow, ReconcileRow, SessionRow, SigningKeyRow,
    TokenFamilyRow, records, snapshot_json, uuids,
};
use super::store_impl::on_connection;
use super::store_impl::{optional_text, text};
use crate::domain::model::admin_keys::AdminKeyRecord;
use crate::domain::model::audit::{AuditEvent, AuditQuery, AuditRecord};
use crate::domain::model::keys::SigningKeyRecord;
use crate::domain::model::sessions::{Grant, Session, UserSnapshot};
use crate::domain::model::tokens::{FamilyHash, TokenHash};
use crate::domain::ports::{
    FeedEntry, FirstSighting, NewSession, Outage, PurgeCutoffs, ReconcileClaim, Revocation,
    RevokedUser, Rotation, SessionQuery, StoreError, TokenFamily, UserRevocation,
};

/// The embedded PostgreSQL migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory-lock key that serialises revocation-feed writers (see `sql::LOCK_FEED`).
pub const FEED_LOCK_KEY: i64 = 7_305_135_110_520_627_025;

/// The `NOTIFY` channel announcing key changes (see `sql::NOTIFY_KEYS`).
pub const KEYS_CHANNEL: &str = "tokenmint_keys";

/// How long a request waits for a pooled connection before the database counts as
/// unavailable: short, so clients get a quick 503 instead of a hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// How many rotation batches may run at once: half the connections (they get a pool of their
/// own), so exchanges and admin requests still find connections under refresh load. A second
/// batch starts only when more rotations wait than the running batches can take (see
/// `batch`): on the benchmark machine one batch at a time, as large as the queue, did the most
/// refreshes per second for the least CPU on both sides (BENCHMARKS.md, "Group rotation").
fn rotation_workers(pool_size: usize) -> usize {
    pool_size.div_ceil(2)
}

/// The longest a batch of rotations waits for a row lock. A row is locked for longer only by a
/// stalled or slow transaction (another rotation of the same token commits in milliseconds);
/// the batch then gives up, nothing of it written, and each of its rotations runs alone
/// (`ROTATE_ONE`, with the usual lock timeout), so the locked row delays the others by this
/// much and then only its own refresh. (Skipping locked rows inside the statement would spare
/// the others even that, but taking the rows' locks first cost every rotation 15–50 % more
/// database CPU and 8–10 % more WAL on the benchmark machine: docs/reliability.md.)
const BATCH_LOCK_TIMEOUT: Duration = Duration::from_millis(200);

/// At most this many refreshes share one statement.
const ROTATION_BATCH: usize = 64;

/// [`Store`](crate::domain::ports::Store) on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    /// Connections for everything but the batched rotations.
    pool: Connections<PgConnection>,
    rotations: Batcher<Rotations>,
}

impl PgStore {
    /// Connects to `url` with at most `max_connections` (half of them for batched rotations,
    /// at least one for everything else), opening one connection now so that a wrong URL or a
    /// database that is down (or only a standby) is reported at once.
    ///
    /// Every connection carries the server-side limits of `timeouts` (`statement_timeout`,
    /// `lock_timeout`, `idle_in_transaction_session_timeout`, sent with the start-up packet:
    /// no extra round trip), so a stalled statement or a row locked by a stuck transaction
    /// costs its request a 503 within the limit, never the request timeout. The batches'
    /// connections wait for a lock at most [`BATCH_LOCK_TIMEOUT`].
    pub(crate) async fn connect(
        url: &str,
        max_connections: u32,
        timeouts: DatabaseTimeouts,
        observer: Observer,
    ) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(store_error)?;
        let size = usize::try_from(max_connections).unwrap_or(usize::MAX);
        let workers = rotation_workers(size);
        let pool: Connections<PgConnection> = Connections::new(
            options
                .clone()
                .options(timeouts.postgres_settings(timeouts.lock())),
            size.saturating_sub(workers).max(1),
            ACQUIRE_TIMEOUT,
            timeouts.operation_deadline(),
            observer,
        )?;
        let probe = pool.get().await?;
        probe.finish(Ok(()))?;
        let batch_lock = BATCH_LOCK_TIMEOUT.min(timeouts.lock());
        let batch_pool = pool.sibling(
            options.options(timeouts.postgres_settings(batch_lock)),
            workers,
        )?;
        let rotations = Batcher::new(Rotations { pool: batch_pool }, workers, ROTATION_BATCH);
        Ok(Self { pool, rotations })
    }

    /// Rotates a session's current token: in a batch with the rotations waiting beside it;
    /// alone when the batch found a row locked by another transaction.
    async fn rotate_current(&self, rotation: &Rotation) -> Result<Option<Grant>, StoreError> {
        let deadline = self.pool.deadline();
        let submitted = tokio::time::timeout(deadline, self.rotations.submit(rotation.clone()));
        let outcome = match submitted.await {
            Ok(outcome) => outcome?,
            // Dropping the submission withdraws the rotation if no batch has taken it yet;
            // if one has, it may still commit — the outage this reports covers the retry.
            Err(_) => {
                return Err(StoreError::Unavailable(
                    format!(
                        "no answer from the database within {} ms",
                        deadline.as_millis()
                    )
                    .into(),
                ));
            }
        };
        match outcome {
            BatchedRotation::Rotated(row) => Grant::try_from(row).map(Some),
            BatchedRotation::NotRotated => Ok(None),
            // Its batch gave up on a locked row; this rotation alone waits for its own (for at
            // most `lock_timeout`). Boxed: this rare path's future is large.
            BatchedRotation::Locked => {
                Box::pin(rotate_alone(self, sql::ROTATE_ONE, rotation, None)).await
            }
        }
    }

    /// The rotation statements sent so far, and the rotations they carried.
    pub(super) fn rotation_counts(&self) -> super::BatchCounts {
        self.rotations.counts()
    }

    /// The connection pool.
    pub(super) fn pool(&self) -> &Connections<PgConnection> {
        &self.pool
    }
}

impl Checked for PgConnection {
    /// A standby (or a primary set read-only) is no use to tokenmint: every refresh writes.
    async fn is_writable(&mut self) -> Result<bool, StoreError> {
        let read_only: bool = sqlx::query_scalar(sql::READ_ONLY)
            .fetch_one(&mut *self)
            .await
            .map_err(store_error)?;
        Ok(!read_only)
    }
}

/// Runs batches of rotations as one [`sql::ROTATE`] statement.
#[derive(Debug)]
struct Rotations {
    pool: Connections<PgConnection>,
}

/// What became of one rotation of a batch.
enum BatchedRotation {
    /// Rotated: what the access token needs.
    Rotated(GrantRow),
    /// Not rotated: its conditions failed (not the current token, an ended session, another
    /// client), or a concurrent rotation won; nothing written.
    NotRotated,
    /// Its batch waited too long for a row lock (this rotation's or another's) and was rolled
    /// back; nothing written.
    Locked,
}

/// A row a batched rotation updated: which rotation of the batch, and its grant.
#[derive(sqlx::FromRow)]
struct RotatedRow {
    ord: i32,
    #[sqlx(flatten)]
    grant: GrantRow,
}

impl BatchRunner for Rotations {
    type Item = Rotation;
    type Output = BatchedRotation;

    /// Two rotations of one family would update one row twice in a statement, where
    /// PostgreSQL applies only one of them, unpredictably; apart, the second sees the first.
    fn same_target(a: &Rotation, b: &Rotation) -> bool {
        a.family.0 == b.family.0
    }

    async fn run(&self, rotations: Vec<Rotation>) -> Result<Vec<BatchedRotation>, StoreError> {
        // Rows are locked in the order of the arrays (a nested loop over them, each row found
        // by its family's unique index): sorted by family, two batches (from two replicas) that
        // share rows lock them in one order and cannot deadlock.
        let mut order: Vec<usize> = (0..rotations.len()).collect();
        order.sort_unstable_by(|&a, &b| rotations[a].family.0.cmp(&rotations[b].family.0));
        let column = |value: fn(&Rotation) -> Vec<u8>| -> Vec<Vec<u8>> {
            order.iter().map(|&i| value(&rotations[i])).collect()
        };
        let families = column(|r| r.family.0.to_vec());
        let presented = column(|r| r.presented.0.to_vec());
        let successors = column(|r| r.successor.0.to_vec());

        let numbers = |value: fn(&Rotation) -> i64| -> Vec<i64> {
            order.iter().map(|&i| value(&rotations[i])).collect()
        };
        let used_at_ms = numbers(|r| r.now.timestamp_millis());
        let generations = numbers(|r| r.generation);
        let now = numbers(|r| r.now.timestamp());
        let idle_end = numbers(|r| r.idle_expires_at.timestamp());
        let clients: Vec<Option<String>> = order
            .iter()
            .map(|&i| optional_text(rotations[i].client_id.as_deref()).map(Into::into))
            .collect();
        let indices: Vec<i32> = order
            .iter()
            .map(|&i| i32::try_from(i).unwrap_or(i32::MAX))
            .collect();
        let query = sqlx::query_as::<_, RotatedRow>(sql::ROTATE)
            .bind(families)
            .bind(presented)
            .bind(successors)
            .bind(used_at_ms)
            .bind(generations)
            .bind(now)
            .bind(idle_end)
            .bind(clients)
            .bind(indices);
        let mut outcomes: Vec<BatchedRotation> = rotations
            .iter()
            .map(|_| BatchedRotation::NotRotated)
            .collect();
        let rows = match on_connection!(self, conn => fetch_all(conn, query).await) {
            Ok(rows) => rows,
            // A concurrent transaction won (a serialization failure under a stricter default
            // isolation): nothing of this batch was written; each rotation lost its race, and
            // the domain looks at why.
            Err(StoreError::Conflict(_)) => return Ok(outcomes),
            // A row stayed locked past `BATCH_LOCK_TIMEOUT`: rolled back; each rotation of the
            // batch is tried alone.
            Err(StoreError::Busy(_)) => {
                return Ok(rotations.iter().map(|_| BatchedRotation::Locked).collect());
            }
            Err(err) => return Err(err),
        };
        for row in rows {
            let slot = usize::try_from(row.ord)
                .ok()
                .and_then(|i| outcomes.get_mut(i))
                .ok_or_else(|| StoreError::Corrupt(format!("rotation index {}", row.ord)))?;
            *slot = BatchedRotation::Rotated(row.grant);
        }
        Ok(outcomes)
    }
}

/// Begins a write transaction, READ COMMITTED whatever the database's default: each statement
/// then sees what committed before it, so a conditional update waits for a concurrent writer of
/// the same row and re-evaluates its condition, and a read after a lock sees what the lock's
/// previous holder wrote.
async fn begin_write(
    connection: &mut PgConnection,
) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, StoreError> {
    connection
        .begin_with("begin isolation level read committed")
        .await
        .map_err(store_error)
}

/// The SQL of this backend, one constant per statement of the shared implementation.
mod sql {
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

    pub const INSERT_SIGNING_KEY: &str = "\
insert into signing_keys
    (kid, alg, state, public_jwk, private_key_sealed, created_at, activates_at, retired_at, publish_until)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
on conflict do nothing";

    pub const SELECT_SIGNING_KEYS: &str = "\
select kid, alg, state, public_jwk, private_key_sealed, created_at, activates_at, retired_at, publish_until
from signing_keys
order by created_at, kid";

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

    pub const INSERT_OUTAGE: &str =
        "insert into outages (started_at_ms, ended_at_ms) values ($1, $2)";

    /// Recorded outages overlapping `$1..=$2` (ms), oldest first.
    pub const OUTAGES_BETWEEN: &str = "\
select started_at_ms, ended_at_ms from outages where ended_at_ms >= $1 and started_at_ms <= $2
order by started_at_ms limit 10000";

    /// Outages that ended before `$1` (seconds).
    pub const PURGE_OUTAGES: &str = "\
delete from outages where outage_id in
    (select outage_id from outages where ended_at_ms < $1 * 1000 limit $2)";

    /// Heartbeats of replicas last seen before `$1` (seconds).
    pub const PURGE_REPLICAS: &str = "\
delete from replicas where replica_id in
    (select replica_id from replicas where seen_at_ms < $1 * 1000 limit $2)";

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

    pub const NOT_BEFORE: &str = "select not_before from user_not_before where user_id = $1";

    pub const SET_NOT_BEFORE: &str = "\
insert into user_not_before (user_id, not_before) values ($1, $2)
on conflict (user_id) do update set not_before = excluded.not_before";

    pub const REMEMBER_APPWRITE_SESSION_REVOCATION: &str = "\
insert into appwrite_session_revocations (appwrite_session_id, user_id, revoked_at, expires_at)
values ($1, $2, $3, $4)
on conflict (appwrite_session_id) do update set expires_at = excluded.expires_at";

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

    /// Serialises feed writers for the rest of the transaction (see `lock_feed`).
    pub const LOCK_FEED: &str = "select pg_advisory_xact_lock(7305135110520627025)";

    /// `bench/pgbench/tokenmint.sql` measures the database ceiling of a refresh: it must run
    /// exactly [`ROTATE`] (a batch of one), with pgbench expressions in place of the bound
    /// arrays.
    #[test]
    fn the_pgbench_script_runs_exactly_the_rotation() {
        let script = include_str!("../../bench/pgbench/tokenmint.sql");
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

    #[test]
    fn the_feed_lock_uses_the_published_key() {
        assert!(LOCK_FEED.contains(&super::FEED_LOCK_KEY.to_string()));
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

    pub const INSERT_USER_REVOCATION: &str = "\
insert into revocations (kind, user_id, not_before, created_at, expires_at) values ('user', $1, $2, $3, $4)";

    pub const REVOCATIONS_SINCE: &str = "\
select revocation_id, kind, session_id::text as session_id, user_id, not_before, expires_at
from revocations
where revocation_id > $1 and expires_at > $2
order by revocation_id
limit $3";

    pub const PURGE_REVOCATIONS: &str = "\
delete from revocations where revocation_id in
    (select revocation_id from revocations where expires_at <= $1 limit $2)";

    /// Sessions past their absolute end. (Idle-expired sessions wait for it too: indexing the
    /// idle end would cost every rotation its in-place update.)
    pub const PURGE_SESSIONS: &str = "\
delete from sessions where session_id in
    (select session_id from sessions where absolute_expires_at <= $1 limit $2)";

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

    /// Remembered webhook deliveries expired at `$1` (seconds).
    pub const PURGE_WEBHOOK_DELIVERIES: &str = "\
delete from webhook_deliveries where body_digest in
    (select body_digest from webhook_deliveries where expires_at <= $1 limit $2)";

    pub const PURGE_APPWRITE_SESSION_REVOCATIONS: &str = "\
delete from appwrite_session_revocations where appwrite_session_id in
    (select appwrite_session_id from appwrite_session_revocations where expires_at <= $1 limit $2)";

    /// Serialises key-lifecycle changes across replicas for the rest of the transaction.
    pub const LOCK_KEYS: &str = "select pg_advisory_xact_lock(7305135110520627026)";

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

    pub const NOTIFY_KEYS: &str = "select pg_notify('tokenmint_keys', '')";
}

super::store_impl::impl_store!(PgStore, sqlx::Postgres, sql);
