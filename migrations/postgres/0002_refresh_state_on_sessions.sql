-- Refresh tokens move onto their session: constant storage per session, whatever the number of
-- rotations, and reuse detection for the session's whole life.
--
-- A refresh token is `tmr_` + base64url(selector ‖ validator), 16 random bytes each. The
-- selector is fixed for the session (its refresh-token family); the validator changes on every
-- rotation. The session stores SHA-256 of the selector (`family_hash`, the lookup key), SHA-256
-- of the current token, and for the grace window SHA-256 of the previous token, when it was used
-- (milliseconds: the window is compared at that precision) and the successor sealed under a key
-- derived from it. A token of the family that is neither current nor previous-within-the-window
-- is a replay, however long ago it was used.

alter table sessions
    add column family_hash          bytea,
    add column token_hash           bytea,
    add column previous_token_hash  bytea,
    add column previous_used_at_ms  bigint,
    add column successor_sealed     bytea;
create unique index sessions_by_family on sessions (family_hash);

-- Sessions from before this migration keep working: their one unused refresh token becomes
-- the current token, found through the small table below until their first rotation gives
-- them a family (from that token's first 16 bytes). Replays of tokens used before the upgrade
-- are no longer recognised as reuse (they were purged after the idle lifetime anyway).
update sessions s set token_hash = t.token_hash
from refresh_tokens t
where t.session_id = s.session_id and t.used_at is null;
create table unmigrated_refresh_tokens (
    token_hash  bytea primary key,
    session_id  uuid not null references sessions (session_id) on delete cascade
);
insert into unmigrated_refresh_tokens (token_hash, session_id)
select token_hash, session_id from refresh_tokens where used_at is null;
drop table refresh_tokens;

-- A rotation rewrites only columns that no index covers (the token state, `last_used_at`,
-- `idle_expires_at`), so PostgreSQL can update the row in place (a HOT update: no index
-- entry is written). The pages keep room for that.
alter table sessions set (fillfactor = 80);

-- Appwrite sessions deleted recently (webhook `users.*.sessions.*.delete`), remembered long
-- enough to refuse an exchange of that Appwrite session that was already in flight.
create table appwrite_session_revocations (
    appwrite_session_id  text primary key,
    user_id              text not null,
    revoked_at           bigint not null,
    expires_at           bigint not null
);
create index appwrite_session_revocations_by_expiry on appwrite_session_revocations (expires_at);
