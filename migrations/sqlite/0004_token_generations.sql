-- Refresh-token generations (see migrations/postgres/0004 for the design).
alter table sessions add column generation integer;
