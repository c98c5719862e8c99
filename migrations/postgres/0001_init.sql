-- tokenmint schema, PostgreSQL dialect. Timestamps are unix seconds.

-- Signing keys; the private part only sealed under the KEK (AES-256-GCM, kid and alg as AAD).
create table signing_keys (
    kid                text primary key,
    alg                text not null check (alg in ('ES256', 'EdDSA', 'RS256')),
    state              text not null check (state in ('next', 'active', 'retired')),
    public_jwk         text not null,
    private_key_sealed bytea not null,
    created_at         bigint not null,
    activates_at       bigint,
    retired_at         bigint,
    publish_until      bigint
);
-- At most one signing key and one waiting key, whatever number of replicas race.
create unique index signing_keys_one_active on signing_keys (state) where state = 'active';
create unique index signing_keys_one_next on signing_keys (state) where state = 'next';

-- A session is a refresh-token family created by one token exchange.
create table sessions (
    session_id             uuid primary key,
    user_id                text not null,
    client_id              text,
    appwrite_session_id    text,
    audience               text not null,
    scope                  text,
    auth_time              bigint not null,
    created_at             bigint not null,
    last_used_at           bigint not null,
    absolute_expires_at    bigint not null,
    idle_expires_at        bigint not null,
    revoked_at             bigint,
    revoked_reason         text,
    device_name            text,
    user_agent             text,
    ip                     text,
    claims                 jsonb not null default '{}'::jsonb,
    -- Appwrite's `$updatedAt` of the user when the snapshot was taken (unix milliseconds), so
    -- webhooks only ever move the snapshot forward.
    claims_updated_at_ms   bigint not null default 0
);
create index sessions_by_user on sessions (user_id, created_at);
create index sessions_by_appwrite_session on sessions (appwrite_session_id);
create index sessions_by_expiry on sessions (absolute_expires_at);

-- Refresh tokens, stored only as SHA-256 of the token text.
create table refresh_tokens (
    token_hash        bytea primary key,
    session_id        uuid not null references sessions (session_id) on delete cascade,
    created_at        bigint not null,
    expires_at        bigint not null,
    used_at           bigint,
    -- The successor issued when this token was used, sealed under a key derived from this
    -- token (HKDF-SHA256 -> AES-256-GCM), so a retry within the grace window gets the same one.
    successor_sealed  bytea
);
create index refresh_tokens_by_session on refresh_tokens (session_id);
create index refresh_tokens_by_expiry on refresh_tokens (expires_at);

-- Operator keys for the admin API; the secret only as an Argon2id PHC string.
create table admin_keys (
    admin_key_id  text primary key,
    name          text not null,
    role          text not null check (role in ('admin', 'introspect')),
    secret_hash   text not null,
    created_at    bigint not null,
    revoked_at    bigint,
    last_used_at  bigint
);

-- Security events; never a token or secret.
create table audit_events (
    audit_event_id  bigint generated always as identity primary key,
    occurred_at     bigint not null,
    event           text not null,
    actor           text not null,
    user_id         text,
    session_id      uuid,
    subject         text,
    reason          text,
    request_id      text,
    ip              text,
    details         jsonb not null default '{}'::jsonb
);
create index audit_events_by_user on audit_events (user_id, audit_event_id);
create index audit_events_by_session on audit_events (session_id, audit_event_id);

-- The revocation feed read by verifiers; each entry lives while an access token it could
-- affect may still be valid.
create table revocations (
    revocation_id  bigint generated always as identity primary key,
    kind           text not null check (kind in ('session', 'user')),
    session_id     uuid,
    user_id        text,
    not_before     bigint,
    created_at     bigint not null,
    expires_at     bigint not null
);
create index revocations_by_expiry on revocations (expires_at);

-- Per-user not-before: access tokens issued earlier are no longer valid.
create table user_not_before (
    user_id     text primary key,
    not_before  bigint not null
);
