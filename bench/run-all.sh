#!/usr/bin/env bash
# Every measurement of bench/ in one run, side by side (about 40 minutes; the headline table of
# BENCHMARKS.md alone is bench/report.sh): the database ceilings (pgbench), the refresh path of
# this build and of a baseline build, exchanges, the JWKS against /healthz, verification,
# memory and start-up, and profiles. Raw results go to bench/results/<date>/ (JSON lines from
# tokenmint-bench, pgbench and wrk output, perf summaries); bench/summarize.py turns them into
# tables (its latest run's are in bench/results/2026-12-06-full/NOTES.md).
#
#   bench/run-all.sh [--baseline PATH] [--runs N] [--duration S] [--results DIR] [--quick]
#
# --baseline: a tokenmint binary to compare with (bench/results/2026-11-23/NOTES.md says how
# the reference build 49e5219 was built). --results: where to write (default bench/results/<date>; an existing directory's
# files are appended to, so name a new one for a second run on the same day). --quick: one short run of everything, to check the script. Needs: a release build of
# this workspace (`cargo build --release --locked -p tokenmint -p tokenmint-bench`), pgbench,
# wrk, perf, and PostgreSQL on 127.0.0.1:5432 (trust auth, as in ci-notes). Loopback only. Run it
# on an otherwise idle machine: it measures CPU time, and two cores are shared by everything.
set -euo pipefail
cd "$(dirname "$0")/.."

baseline="" runs=3 duration=20 pgbench_duration=30 rows=1000000 quick=false results=""
while [ $# -gt 0 ]; do
    case "$1" in
        --baseline) baseline=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --results) results=$2; shift 2 ;;
        --quick) quick=true; runs=1; duration=3; pgbench_duration=3; rows=20000; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
server=target/release/tokenmint
driver=target/release/tokenmint-bench
if [ -z "$results" ]; then
    results=bench/results/$(date +%Y-%m-%d)
    $quick && results=$results-quick
fi
mkdir -p "$results"
log() { printf '\n== %s\n' "$*" | tee -a "$results/run.log"; }

log "machine"
{
    nproc; grep -m1 'model name' /proc/cpuinfo; free -g | head -2; uname -r
    psql -h 127.0.0.1 -U postgres -Atc 'select version()'
    psql -h 127.0.0.1 -U postgres -Atc "select name || '=' || setting from pg_settings where name in
        ('fsync','synchronous_commit','shared_buffers','ssl','max_connections')"
    git rev-parse HEAD
} > "$results/machine.txt" 2>&1

# One driver run, appended to $results/$1.jsonl; the rest of the arguments go to the driver.
drive() {
    local name=$1; shift
    "$driver" --json --duration "${duration}s" "$@" >> "$results/$name.jsonl"
}

log "database ceilings (pgbench, $rows sessions, 32 clients)"
# tokenmint_batch16: the same statement carrying 16 rotations, as under load (group rotation).
bench/pgbench/run.sh --rows "$rows" --clients 32 --duration "$pgbench_duration" --runs "$runs" \
    --scripts "naive one_statement tokenmint tokenmint_batch16" | tee "$results/pgbench.txt"

log "refresh, 32 chains, PostgreSQL and SQLite: this build and the baseline, interleaved"
for _ in $(seq 1 "$runs"); do
    for database in postgres sqlite; do
        drive "refresh-$database" --workload refresh --concurrency 32 --database "$database"
        if [ -n "$baseline" ]; then
            drive "refresh-$database-baseline" --server-bin "$baseline" --workload refresh \
                --concurrency 32 --database "$database"
        fi
    done
done

log "refresh on PostgreSQL: TLS off, and a Unix socket (the default above: TCP with sslmode=prefer)"
for _ in $(seq 1 "$runs"); do
    drive refresh-postgres-notls --workload refresh --concurrency 32 --database postgres \
        --postgres-admin-url 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
    drive refresh-postgres-socket --workload refresh --concurrency 32 --database postgres \
        --postgres-admin-url 'postgres://postgres@localhost/postgres?host=/var/run/postgresql'
    drive refresh-sqlite-full --workload refresh --concurrency 32 --database sqlite \
        --server-env TOKENMINT_SQLITE_SYNCHRONOUS=full
done

log "split cores: PostgreSQL pinned to CPU 0; pgbench, or the driver and tokenmint, on CPU 1"
# Above, everything shares both cores, so tokenmint's own CPU competes with the database's:
# a ceiling no deployment has. Here the database gets one core of its own, as it would on its
# own host, and each client side gets the other: tokenmint ÷ pgbench then says how close the
# service brings the database to what it can do. Affinity is restored on exit.
pin_postgres() {
    local pid
    for pid in $(pgrep -x postgres); do taskset -a -p -c "$1" "$pid" > /dev/null 2>&1 || true; done
}
trap 'pin_postgres 0-$(( $(nproc) - 1 ))' EXIT
pin_postgres 0
taskset -c 1 bench/pgbench/run.sh --rows "$rows" --clients 32 --duration "$pgbench_duration" \
    --runs "$runs" --scripts "naive tokenmint" | tee "$results/pgbench-split.txt"
for _ in $(seq 1 "$runs"); do
    taskset -c 1 "$driver" --json --duration "${duration}s" --workload refresh --concurrency 32 \
        --database postgres >> "$results/refresh-postgres-split.jsonl"
done
pin_postgres 0-$(( $(nproc) - 1 ))
trap - EXIT

log "database ceiling over the Unix socket, for the socket row above"
PGHOST=/var/run/postgresql bench/pgbench/run.sh --rows "$rows" --clients 32 \
    --duration "$pgbench_duration" --runs "$runs" --scripts "naive tokenmint" \
    | tee "$results/pgbench-socket.txt"

log "exchange, 32 workers, PostgreSQL, fake Appwrite answering in 0 ms and 20 ms"
for _ in $(seq 1 "$runs"); do
    for latency in 0ms 20ms; do
        drive "exchange-$latency" --workload exchange --concurrency 32 --database postgres \
            --appwrite-latency "$latency" --sessions 1
    done
done

log "JWKS against /healthz on the same server (wrk, 2 threads, 64 connections)"
jwks_dir=$(mktemp -d)
TOKENMINT_LISTEN=127.0.0.1:18080 DATABASE_URL="sqlite://$jwks_dir/tokenmint.db" \
    RUST_LOG=warn "$server" > "$jwks_dir/server.log" 2>&1 &
jwks_pid=$!
trap 'kill $jwks_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.1; done
for _ in $(seq 1 "$runs"); do
    for path in /.well-known/jwks.json /healthz; do
        echo "$path" >> "$results/wrk.txt"
        wrk -t2 -c64 -d"${duration}s" --latency "http://127.0.0.1:18080$path" >> "$results/wrk.txt"
    done
done
kill "$jwks_pid"; wait "$jwks_pid" 2>/dev/null || true; trap - EXIT

log "memory after 60 s at 64 chains"
"$driver" --json --duration "$($quick && echo 3 || echo 60)s" --workload refresh --concurrency 64 \
    --database postgres > "$results/rss-64-chains.json"

log "start to ready on an existing SQLite database"
ready_dir=$(mktemp -d)
DATABASE_URL="sqlite://$ready_dir/tokenmint.db" "$server" migrate > /dev/null
for _ in $(seq 1 10); do
    start=$(date +%s%N)
    TOKENMINT_LISTEN=127.0.0.1:18081 DATABASE_URL="sqlite://$ready_dir/tokenmint.db" \
        RUST_LOG=warn "$server" > /dev/null 2>&1 &
    pid=$!
    until curl -sf http://127.0.0.1:18081/readyz > /dev/null; do sleep 0.002; done
    echo $(( ($(date +%s%N) - start) / 1000000 )) >> "$results/ready-ms.txt"
    kill "$pid"; wait "$pid" 2>/dev/null || true
done

log "verification: tokenmint-verify against raw jsonwebtoken::decode (criterion)"
cargo bench --locked -p tokenmint-verify --bench verify 2>&1 | grep -E 'time:|^[a-z]' \
    | tee "$results/verify.txt"

log "profiles of the server under refresh load (perf, cpu-clock), this build and the baseline"
profile() {
    local name=$1 bin=$2
    "$driver" --json --duration 20s --workload refresh --concurrency 32 --database postgres \
        --server-bin "$bin" > "$results/profile-$name.json" &
    local driver_pid=$!
    sleep 8
    local pid
    pid=$(pgrep -f "^$bin\$" | head -1)
    perf record -q -e cpu-clock -F 999 -p "$pid" -o "$results/perf-$name.data" -- sleep 8
    wait "$driver_pid"
    perf report -i "$results/perf-$name.data" --no-children --sort sym -q 2>/dev/null \
        | awk -f bench/perf-categories.awk | sort -rn > "$results/profile-$name.txt"
    rm -f "$results/perf-$name.data"
}
profile current "$PWD/$server"
[ -n "$baseline" ] && profile baseline "$baseline"

log "summary"
python3 bench/summarize.py "$results" | tee "$results/summary.md"
