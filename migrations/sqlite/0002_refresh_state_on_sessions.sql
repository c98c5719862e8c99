-- Refresh tokens move onto their session (see migrations/postgres/0002 for the design).

alter table sessions add column family_hash blob;
alter table sessions add column token_hash blob;
alter table sessions add column previous_token_hash blob;
alter table sessions add column previous_used_at_ms integer;
alter table sessions add column successor_sealed blob;
create unique index sessions_by_family on sessions (family_hash);

update sessions set token_hash = (
    select t.token_hash from refresh_tokens t
    where t.session_id = sessions.session_id and t.used_at is null
);
create table unmigrated_refresh_tokens (
    token_hash  blob primary key,
    session_id  text not null references sessions (session_id) on delete cascade
);
insert into unmigrated_refresh_tokens (token_hash, session_id)
select token_hash, session_id from refresh_tokens where used_at is null;
drop table refresh_tokens;

create table appwrite_session_revocations (
    appwrite_session_id  text primary key,
    user_id              text not null,
    revoked_at           integer not null,
    expires_at           integer not null
);
create index appwrite_session_revocations_by_expiry on appwrite_session_revocations (expires_at);
