-- Appwrite signs a webhook delivery's URL and body, not its `X-Appwrite-Webhook-Events`
-- header, which names the action. So tokenmint remembers each signed body (by its SHA-256)
-- with the event set it was first received under, and refuses the same body under other
-- events: a captured delivery cannot be replayed as, say, a user deletion. Shared by every
-- replica; a row goes once `expires_at` (unix seconds) has passed (see
-- src/domain/webhook.rs, `DELIVERY_MEMORY`), so the table holds at most that many days of
-- deliveries.
create table webhook_deliveries (
    body_digest    bytea primary key,
    events         text not null,
    first_seen_at  bigint not null,
    expires_at     bigint not null
);
create index webhook_deliveries_by_expiry on webhook_deliveries (expires_at);
