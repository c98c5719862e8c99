-- Remembered webhook deliveries (see migrations/postgres/0005 for the design).
create table webhook_deliveries (
    body_digest    blob primary key,
    events         text not null,
    first_seen_at  integer not null,
    expires_at     integer not null
);
create index webhook_deliveries_by_expiry on webhook_deliveries (expires_at);
