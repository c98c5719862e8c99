-- When the reconciler last checked the session against Appwrite (unix seconds); null: never,
-- and it is due a period after its creation. The partial index serves the claim of due
-- sessions (`coalesce(reconciled_at, created_at)` oldest first among live ones); refreshes
-- change none of its columns.
alter table sessions add column reconciled_at bigint;
create index sessions_reconcile_due on sessions ((coalesce(reconciled_at, created_at)))
    where revoked_at is null;
