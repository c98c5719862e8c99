#!/usr/bin/env bash
# The side-by-side run for group rotation (BENCHMARKS.md, "Group rotation"): this build
# against a baseline build (the code before it), interleaved run by run, three runs each:
# refresh on PostgreSQL over TCP + TLS and over the Unix socket, and on SQLite (32 chains);
# the pgbench ceilings (naive rotation, tokenmint's statement as a batch of one and of 16);
# RSS after 60 s at 64 chains; and a perf profile of each build under refresh load.
#
#   bench/results/2026-12-02-group-rotation/compare.sh BASELINE_BINARY [OUTPUT_DIR]
set -euo pipefail
base=$1
cd "$(dirname "$0")/../../.."
out=${2:-$PWD/bench/results/2026-12-02-group-rotation}
cur=$PWD/target/release/tokenmint
drv=target/release/tokenmint-bench
d=${DUR:-15}
socket=postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres
{ nproc; grep -m1 'model name' /proc/cpuinfo; git rev-parse HEAD; uptime; top -bn1 | sed -n 3p; } \
    > "$out/machine.txt"
bench/pgbench/run.sh --rows 1000000 --clients 32 --duration 20 --runs 3 \
    --scripts "naive tokenmint tokenmint_batch16" | tee "$out/pgbench.txt"
PGHOST=/var/run/postgresql bench/pgbench/run.sh --rows 1000000 --clients 32 --duration 20 \
    --runs 1 --scripts "naive tokenmint" | tee "$out/pgbench-socket.txt"
run() { # name binary [driver args]
    local name=$1 bin=$2; shift 2
    "$drv" --json --duration "${d}s" --workload refresh --concurrency 32 --server-bin "$bin" "$@" \
        >> "$out/refresh-$name.jsonl"
}
for _ in 1 2 3; do
    for which in cur base; do
        bin=$cur; [ "$which" = base ] && bin=$base
        run "postgres-$which" "$bin" --database postgres
        run "postgres-socket-$which" "$bin" --database postgres --postgres-admin-url "$socket"
        run "sqlite-$which" "$bin" --database sqlite
    done
done
"$drv" --json --duration 60s --workload refresh --concurrency 64 --database postgres \
    --server-bin "$cur" > "$out/rss-64-chains.json"
profile() {
    local name=$1 bin=$2
    "$drv" --json --duration 20s --workload refresh --concurrency 32 --database postgres \
        --server-bin "$bin" > "$out/profile-$name.json" &
    local driver_pid=$!
    sleep 8
    local pid
    pid=$(pgrep -f "^$bin\$" | head -1)
    perf record -q -e cpu-clock -F 999 -p "$pid" -o "/tmp/perf-$name.data" -- sleep 8
    wait "$driver_pid"
    perf report -i "/tmp/perf-$name.data" --no-children --sort sym -q 2>/dev/null \
        | awk -f bench/perf-categories.awk | sort -rn > "$out/profile-$name.txt"
    rm -f "/tmp/perf-$name.data"
}
profile current "$cur"
profile baseline "$base"
