-- tokenmint schema, SQLite dialect: the same tables and columns as migrations/postgres.
-- Timestamps are unix seconds; uuids are hyphenated text; json is text.

create table signing_keys (
    kid                text primary key,
    alg                text not null check (alg in ('ES256', 'EdDSA', 'RS256')),
    state              text not null check (state in ('next', 'active', 'retired')),
    public_jwk         text not null,
    private_key_sealed blob not null,
    created_at         integer not null,
    activates_at       integer,
    retired_at         integer,
    publish_until      integer
);
create unique index signing_keys_one_active on signing_keys (state) where state = 'active';
create unique index signing_keys_one_next on signing_keys (state) where state = 'next';

create table sessions (
    session_id             text primary key,
    user_id                text not null,
    client_id              text,
    appwrite_session_id    text,
    audience               text not null,
    scope                  text,
    auth_time              integer not null,
    created_at             integer not null,
    last_used_at           integer not null,
    absolute_expires_at    integer not null,
    idle_expires_at        integer not null,
    revoked_at             integer,
    revoked_reason         text,
    device_name            text,
    user_agent             text,
    ip                     text,
    claims                 text not null default '{}',
    claims_updated_at_ms   integer not null default 0
);
create index sessions_by_user on sessions (user_id, created_at);
create index sessions_by_appwrite_session on sessions (appwrite_session_id);
create index sessions_by_expiry on sessions (absolute_expires_at);

create table refresh_tokens (
    token_hash        blob primary key,
    session_id        text not null references sessions (session_id) on delete cascade,
    created_at        integer not null,
    expires_at        integer not null,
    used_at           integer,
    successor_sealed  blob
);
create index refresh_tokens_by_session on refresh_tokens (session_id);
create index refresh_tokens_by_expiry on refresh_tokens (expires_at);

create table admin_keys (
    admin_key_id  text primary key,
    name          text not null,
    role          text not null check (role in ('admin', 'introspect')),
    secret_hash   text not null,
    created_at    integer not null,
    revoked_at    integer,
    last_used_at  integer
);

create table audit_events (
    audit_event_id  integer primary key autoincrement,
    occurred_at     integer not null,
    event           text not null,
    actor           text not null,
    user_id         text,
    session_id      text,
    subject         text,
    reason          text,
    request_id      text,
    ip              text,
    details         text not null default '{}'
);
create index audit_events_by_user on audit_events (user_id, audit_event_id);
create index audit_events_by_session on audit_events (session_id, audit_event_id);

create table revocations (
    revocation_id  integer primary key autoincrement,
    kind           text not null check (kind in ('session', 'user')),
    session_id     text,
    user_id        text,
    not_before     integer,
    created_at     integer not null,
    expires_at     integer not null
);
create index revocations_by_expiry on revocations (expires_at);

create table user_not_before (
    user_id     text primary key,
    not_before  integer not null
);
