-- The data the pgbench scripts run on: :rows sessions in tokenmint's own schema (applied from
-- migrations/postgres before this file), and, in schema `naive`, the per-token table of the
-- design before token families (one row per refresh token), with one live token per session.
--
-- Keys are derived so the scripts can follow chains without state in the database: session i
-- has family sha256(int8send(i::bigint)) and first token sha256(int8send(i * 1e9)); the n-th rotation
-- of chain i presents token i * 1e9 + n - 1 and installs i * 1e9 + n.

insert into sessions
    (session_id, user_id, client_id, appwrite_session_id, audience, scope, auth_time, created_at,
     last_used_at, absolute_expires_at, idle_expires_at, device_name, user_agent, ip, claims,
     claims_updated_at_ms, family_hash, token_hash)
select
    gen_random_uuid(), 'user' || i, 'mobile', 'as' || i, 'api', null,
    extract(epoch from now())::bigint, extract(epoch from now())::bigint,
    extract(epoch from now())::bigint, extract(epoch from now())::bigint + 30 * 86400,
    extract(epoch from now())::bigint + 7 * 86400, 'Pixel 8',
    'okhttp/4.12.0 Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36', '203.0.113.7',
    jsonb_build_object('email', 'user' || i || '@example.com', 'email_verified', true,
                       'name', 'User ' || i, 'labels', jsonb_build_array('beta')),
    0, sha256(int8send(i::bigint)), sha256(int8send(i::bigint * 1000000000))
from generate_series(1, :rows) as i;

create schema naive;
create table naive.refresh_tokens (
    token_hash        bytea primary key,
    session_id        uuid not null,
    created_at        bigint not null,
    expires_at        bigint not null,
    used_at           bigint,
    successor_sealed  bytea
);
create index on naive.refresh_tokens (session_id);
create index on naive.refresh_tokens (expires_at);
insert into naive.refresh_tokens (token_hash, session_id, created_at, expires_at)
select sha256(int8send(i::bigint * 1000000000)), gen_random_uuid(),
       extract(epoch from now())::bigint, extract(epoch from now())::bigint + 30 * 86400
from generate_series(1, :rows) as i;

vacuum analyze;
