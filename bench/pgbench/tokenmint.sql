-- Exactly the statement tokenmint issues per refresh (`sql::ROTATE` in src/store/postgres.rs,
-- checked by a unit test there), with the bound values written as pgbench expressions:
-- $1 family, $2 presented token, $3 successor (SHA-256 of chain keys, computed here in the
-- database: three SHA-256 per statement that tokenmint computes itself), $4 now in ms,
-- $5 the sealed successor (76 bytes), $6 now, $7 the idle end, $8 the client id.
\set n :n + 1
\set chain :client_id + 1
\set presented :chain * 1000000000 + :n - 1
\set successor :chain * 1000000000 + :n
\set now_ms :now * 1000 + :n
\set idle_end :now + 604800
update sessions s set token_hash = sha256(int8send(:successor)), previous_token_hash = s.token_hash, previous_used_at_ms = :now_ms, successor_sealed = '\x01a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedee'::bytea, last_used_at = :now, idle_expires_at = least(:idle_end, s.absolute_expires_at) where s.family_hash = sha256(int8send(:chain)) and s.token_hash = sha256(int8send(:presented)) and s.revoked_at is null and s.absolute_expires_at > :now and s.idle_expires_at > :now and (s.client_id is null or s.client_id = 'mobile') returning s.session_id::text as session_id, s.user_id, s.client_id, s.audience, s.scope, s.auth_time, s.absolute_expires_at, s.claims::text as claims;
