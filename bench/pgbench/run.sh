#!/usr/bin/env bash
# The database ceiling of a refresh, in one command: seeds ROWS sessions (and, for comparison,
# ROWS tokens in the per-token table of the naive design) in a fresh database, then runs each
# pgbench script CLIENTS-wide for DURATION seconds, RUNS times, printing tps, average latency and
# the database's CPU time per transaction (all `postgres` processes, from /proc).
#
#   bench/pgbench/run.sh [--rows N] [--clients N] [--duration S] [--runs N] [--keep]
#                        [--scripts "naive one_statement tokenmint tokenmint_batch16"]
#
# tokenmint_batch16 is tokenmint's statement carrying 16 rotations (as under load): its tps and
# CPU are per transaction of 16 refreshes.
#
# Needs pgbench and a PostgreSQL the current user can create databases on (PGHOST, PGPORT,
# PGUSER as for psql; defaults 127.0.0.1, 5432, postgres). Loopback only; it drops its database.
set -euo pipefail
cd "$(dirname "$0")"

rows=1000000 clients=32 duration=30 runs=3 keep=false
scripts="naive one_statement tokenmint"
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) rows=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --scripts) scripts=$2; shift 2 ;;
        --keep) keep=true; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
db=tokenmint_pgbench_$$
migrations=../../migrations/postgres

cleanup() { $keep || psql -qAt -d postgres -c "drop database if exists $db with (force)" >/dev/null; }
trap cleanup EXIT

# CPU ticks of PostgreSQL: utime + stime of every live postgres process, plus cutime + cstime
# (the CPU of backends that exited, which the postmaster reaped: pgbench's connections end
# with the run).
postgres_ticks() {
    local total=0 pid comm
    for stat in /proc/[0-9]*/stat; do
        pid=${stat#/proc/}; pid=${pid%/stat}
        comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
        [ "$comm" = postgres ] || continue
        total=$((total + $(awk '{print $14 + $15 + $16 + $17}' "$stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

echo "== seeding $rows sessions in $db"
psql -qAt -d postgres -c "create database $db"
for migration in "$migrations"/*.sql; do psql -qAt -d "$db" -v ON_ERROR_STOP=1 -f "$migration"; done
psql -qAt -d "$db" -v ON_ERROR_STOP=1 -v rows="$rows" -f seed.sql
ticks_per_second=$(getconf CLK_TCK)
now=$(date +%s)

for script in $scripts; do
    for run in $(seq 1 "$runs"); do
        # Chains restart from their seed tokens: reset the state the previous run left.
        psql -qAt -d "$db" -v ON_ERROR_STOP=1 -c "
            update sessions set token_hash = sha256(int8send(substr(user_id, 5)::bigint * 1000000000)),
                previous_token_hash = null, previous_used_at_ms = null
                where user_id in (select 'user' || i from generate_series(1, $clients * 16) i);
            delete from naive.refresh_tokens where created_at > $now;
            update naive.refresh_tokens set used_at = null, successor_sealed = null where used_at is not null;
            checkpoint;" >/dev/null
        lsn_before=$(psql -qAt -d postgres -c "select pg_current_wal_lsn()")
        before=$(postgres_ticks)
        output=$(pgbench -n -M prepared -c "$clients" -j 2 -T "$duration" -D n=0 -D now="$now" \
            -f "$script.sql" "$db" 2>&1)
        # A backend's CPU time reaches the postmaster's cutime only once it has been reaped:
        # give the postmaster a moment after pgbench's connections close.
        sleep 1
        after=$(postgres_ticks)
        transactions=$(echo "$output" | awk '/number of transactions actually processed/ {print $6}' | cut -d/ -f1)
        failed=$(echo "$output" | awk '/number of failed transactions/ {print $5}')
        tps=$(echo "$output" | awk '/^tps = / {printf "%.0f", $3}')
        latency=$(echo "$output" | awk '/^latency average/ {print $4}')
        cpu_us=$(( (after - before) * 1000000 / ticks_per_second / (transactions > 0 ? transactions : 1) ))
        # WAL written per transaction, full-page images included (each run starts after a
        # checkpoint, so a page's first change in a run logs the whole page).
        wal_bytes=$(psql -qAt -d postgres -c "
            select pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn_before')::bigint / greatest($transactions, 1)")
        # Every transaction must have rotated a token (tokenmint_batchB: B tokens): count what the
        # database holds.
        case "$script" in
            tokenmint*) rotated=$(psql -qAt -d "$db" -c "
                select coalesce(sum(previous_used_at_ms - $now::bigint * 1000), 0) from sessions
                where previous_used_at_ms is not null") ;;
            *) rotated=$(psql -qAt -d "$db" -c "
                select count(*) from naive.refresh_tokens where used_at is not null") ;;
        esac
        case "$script" in
            tokenmint_batch*) rotated=$((rotated / ${script#tokenmint_batch})) ;;
        esac
        if [ "$rotated" != "$transactions" ]; then
            echo "$script run $run: $transactions transactions but $rotated rotations in the database" >&2
            exit 1
        fi
        printf '%-14s run %d: %6s tps, latency %s ms, %s failed, database CPU %s µs/transaction, WAL %s B/transaction\n' \
            "$script" "$run" "$tps" "$latency" "${failed:-0}" "$cpu_us" "$wal_bytes"
    done
done
