-- What keeps an outage from looking like an attack (src/domain/grace.rs): the grace window of
-- a rotated refresh token does not run out while tokenmint could not answer.
--
-- `outages`: spans in which a replica could not use the database (recorded by that replica
-- once the database took writes again) or no replica ran at all (recorded by the first one to
-- start). Unix milliseconds, like `previous_used_at_ms`, which they are compared with.
create table outages (
    outage_id      bigint generated always as identity primary key,
    started_at_ms  bigint not null,
    ended_at_ms    bigint not null
);
create index outages_by_end on outages (ended_at_ms);

-- `replicas`: each running tokenmint writes its heartbeat here every second (the write that
-- proves the database takes writes); a graceful shutdown marks it stopped. A replica starting
-- after every other one stopped without saying so records the gap as an outage.
create table replicas (
    replica_id     uuid primary key,
    started_at_ms  bigint not null,
    seen_at_ms     bigint not null,
    stopped        boolean not null default false
);
create index replicas_by_seen on replicas (seen_at_ms);
