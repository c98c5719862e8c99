-- Outages and replica heartbeats (see migrations/postgres/0003 for the design).
create table outages (
    outage_id      integer primary key autoincrement,
    started_at_ms  integer not null,
    ended_at_ms    integer not null
);
create index outages_by_end on outages (ended_at_ms);

create table replicas (
    replica_id     text primary key,
    started_at_ms  integer not null,
    seen_at_ms     integer not null,
    stopped        integer not null default 0
);
create index replicas_by_seen on replicas (seen_at_ms);
