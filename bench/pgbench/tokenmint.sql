-- Exactly the statement tokenmint issues per refresh when it runs alone (`sql::ROTATE` in
-- src/store/postgres/sql.rs, checked by a unit test there): a batch of one, each array with one
-- element, the bound values written as pgbench expressions: $1 family, $2 presented token,
-- $3 successor (SHA-256 of chain keys, computed here in the database: three SHA-256 per
-- statement that tokenmint computes itself), $4 now in ms, $5 the successor's generation,
-- $6 now, $7 the idle end, $8 the client id, $9 the index in the batch.
\set n :n + 1
\set chain :client_id + 1
\set presented :chain * 1000000000 + :n - 1
\set successor :chain * 1000000000 + :n
\set now_ms :now * 1000 + :n
\set idle_end :now + 604800
update sessions s set token_hash = r.successor, previous_token_hash = s.token_hash, previous_used_at_ms = r.used_at_ms, successor_sealed = null, generation = r.generation, last_used_at = r.now, idle_expires_at = least(r.idle_end, s.absolute_expires_at) from unnest(array[sha256(int8send(:chain))]::bytea[], array[sha256(int8send(:presented))]::bytea[], array[sha256(int8send(:successor))]::bytea[], array[:now_ms]::int8[], array[:n + 1]::int8[], array[:now]::int8[], array[:idle_end]::int8[], array['mobile']::text[], array[0]::int4[]) as r(family_hash, presented, successor, used_at_ms, generation, now, idle_end, client_id, ord) where s.family_hash = r.family_hash and s.token_hash = r.presented and s.revoked_at is null and s.absolute_expires_at > r.now and s.idle_expires_at > r.now and (s.client_id is null or s.client_id = r.client_id) returning r.ord, s.session_id::text as session_id, s.user_id, s.client_id, s.audience, s.scope, s.auth_time, s.absolute_expires_at, s.claims::text as claims, s.impersonator;
