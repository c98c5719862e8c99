-- tokenmint's refresh statement (`sql::ROTATE`, as in tokenmint.sql) carrying a batch of 16
-- rotations, as tokenmint sends it under load: at 32 refresh chains on the 2-core benchmark
-- machine its batches averaged about 13 rotations. Each pgbench client drives 16 chains
-- (client c owns chains 16c + 1 to 16c + 16), one rotation of each per transaction, sorted by
-- chain as tokenmint sorts its batches; so a transaction here is 16 refreshes.
\set n :n + 1
\set now_ms :now * 1000 + :n
\set idle_end :now + 604800
\set c0 :client_id * 16 + 1
\set p0 :c0 * 1000000000 + :n - 1
\set s0 :c0 * 1000000000 + :n
\set c1 :client_id * 16 + 2
\set p1 :c1 * 1000000000 + :n - 1
\set s1 :c1 * 1000000000 + :n
\set c2 :client_id * 16 + 3
\set p2 :c2 * 1000000000 + :n - 1
\set s2 :c2 * 1000000000 + :n
\set c3 :client_id * 16 + 4
\set p3 :c3 * 1000000000 + :n - 1
\set s3 :c3 * 1000000000 + :n
\set c4 :client_id * 16 + 5
\set p4 :c4 * 1000000000 + :n - 1
\set s4 :c4 * 1000000000 + :n
\set c5 :client_id * 16 + 6
\set p5 :c5 * 1000000000 + :n - 1
\set s5 :c5 * 1000000000 + :n
\set c6 :client_id * 16 + 7
\set p6 :c6 * 1000000000 + :n - 1
\set s6 :c6 * 1000000000 + :n
\set c7 :client_id * 16 + 8
\set p7 :c7 * 1000000000 + :n - 1
\set s7 :c7 * 1000000000 + :n
\set c8 :client_id * 16 + 9
\set p8 :c8 * 1000000000 + :n - 1
\set s8 :c8 * 1000000000 + :n
\set c9 :client_id * 16 + 10
\set p9 :c9 * 1000000000 + :n - 1
\set s9 :c9 * 1000000000 + :n
\set c10 :client_id * 16 + 11
\set p10 :c10 * 1000000000 + :n - 1
\set s10 :c10 * 1000000000 + :n
\set c11 :client_id * 16 + 12
\set p11 :c11 * 1000000000 + :n - 1
\set s11 :c11 * 1000000000 + :n
\set c12 :client_id * 16 + 13
\set p12 :c12 * 1000000000 + :n - 1
\set s12 :c12 * 1000000000 + :n
\set c13 :client_id * 16 + 14
\set p13 :c13 * 1000000000 + :n - 1
\set s13 :c13 * 1000000000 + :n
\set c14 :client_id * 16 + 15
\set p14 :c14 * 1000000000 + :n - 1
\set s14 :c14 * 1000000000 + :n
\set c15 :client_id * 16 + 16
\set p15 :c15 * 1000000000 + :n - 1
\set s15 :c15 * 1000000000 + :n
update sessions s set token_hash = r.successor, previous_token_hash = s.token_hash, previous_used_at_ms = r.used_at_ms, successor_sealed = null, generation = r.generation, last_used_at = r.now, idle_expires_at = least(r.idle_end, s.absolute_expires_at) from unnest(array[sha256(int8send(:c0)), sha256(int8send(:c1)), sha256(int8send(:c2)), sha256(int8send(:c3)), sha256(int8send(:c4)), sha256(int8send(:c5)), sha256(int8send(:c6)), sha256(int8send(:c7)), sha256(int8send(:c8)), sha256(int8send(:c9)), sha256(int8send(:c10)), sha256(int8send(:c11)), sha256(int8send(:c12)), sha256(int8send(:c13)), sha256(int8send(:c14)), sha256(int8send(:c15))]::bytea[], array[sha256(int8send(:p0)), sha256(int8send(:p1)), sha256(int8send(:p2)), sha256(int8send(:p3)), sha256(int8send(:p4)), sha256(int8send(:p5)), sha256(int8send(:p6)), sha256(int8send(:p7)), sha256(int8send(:p8)), sha256(int8send(:p9)), sha256(int8send(:p10)), sha256(int8send(:p11)), sha256(int8send(:p12)), sha256(int8send(:p13)), sha256(int8send(:p14)), sha256(int8send(:p15))]::bytea[], array[sha256(int8send(:s0)), sha256(int8send(:s1)), sha256(int8send(:s2)), sha256(int8send(:s3)), sha256(int8send(:s4)), sha256(int8send(:s5)), sha256(int8send(:s6)), sha256(int8send(:s7)), sha256(int8send(:s8)), sha256(int8send(:s9)), sha256(int8send(:s10)), sha256(int8send(:s11)), sha256(int8send(:s12)), sha256(int8send(:s13)), sha256(int8send(:s14)), sha256(int8send(:s15))]::bytea[], array[:now_ms, :now_ms, :now_ms, :now_ms, :now_ms, :now_ms, :now_ms, :now_ms, :now_ms, :now_ms, :now_ms, :now_ms, :now_ms, :now_ms, :now_ms, :now_ms]::int8[], array[:n + 1, :n + 1, :n + 1, :n + 1, :n + 1, :n + 1, :n + 1, :n + 1, :n + 1, :n + 1, :n + 1, :n + 1, :n + 1, :n + 1, :n + 1, :n + 1]::int8[], array[:now, :now, :now, :now, :now, :now, :now, :now, :now, :now, :now, :now, :now, :now, :now, :now]::int8[], array[:idle_end, :idle_end, :idle_end, :idle_end, :idle_end, :idle_end, :idle_end, :idle_end, :idle_end, :idle_end, :idle_end, :idle_end, :idle_end, :idle_end, :idle_end, :idle_end]::int8[], array['mobile', 'mobile', 'mobile', 'mobile', 'mobile', 'mobile', 'mobile', 'mobile', 'mobile', 'mobile', 'mobile', 'mobile', 'mobile', 'mobile', 'mobile', 'mobile']::text[], array[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]::int4[]) as r(family_hash, presented, successor, used_at_ms, generation, now, idle_end, client_id, ord) where s.family_hash = r.family_hash and s.token_hash = r.presented and s.revoked_at is null and s.absolute_expires_at > r.now and s.idle_expires_at > r.now and (s.client_id is null or s.client_id = r.client_id) returning r.ord, s.session_id::text as session_id, s.user_id, s.client_id, s.audience, s.scope, s.auth_time, s.absolute_expires_at, s.claims::text as claims, s.impersonator;
