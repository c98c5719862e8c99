-- The admin-key role `feed` (see migrations/postgres/0006). SQLite cannot change a check
-- constraint in place, so the table is rebuilt with the same columns and rows.
create table admin_keys_with_feed_role (
    admin_key_id  text primary key,
    name          text not null,
    role          text not null check (role in ('admin', 'introspect', 'feed')),
    secret_hash   text not null,
    created_at    integer not null,
    revoked_at    integer,
    last_used_at  integer
);
insert into admin_keys_with_feed_role
    (admin_key_id, name, role, secret_hash, created_at, revoked_at, last_used_at)
select admin_key_id, name, role, secret_hash, created_at, revoked_at, last_used_at
from admin_keys;
drop table admin_keys;
alter table admin_keys_with_feed_role rename to admin_keys;
