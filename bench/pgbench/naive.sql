-- The naive rotation of the issue: four round trips (BEGIN; mark used; insert successor;
-- COMMIT) on the per-token table. Chain: this client's session is :client_id + 1.
\set n :n + 1
\set chain :client_id + 1
\set presented :chain * 1000000000 + :n - 1
\set successor :chain * 1000000000 + :n
begin;
update naive.refresh_tokens set used_at = :now,
    successor_sealed = '\x01a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedee'
where token_hash = sha256(int8send(:presented)) and used_at is null
returning session_id \gset
insert into naive.refresh_tokens (token_hash, session_id, created_at, expires_at)
values (sha256(int8send(:successor)), cast(:session_id as uuid), :now + 1, :now + 2592000);
commit;
