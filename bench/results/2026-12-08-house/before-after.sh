#!/usr/bin/env bash
# The store split by concern and implemented once as generic code (instead of a macro), the
# domain records moved out of the port files, against 9ec9cf8, the build before: refresh on
# PostgreSQL at 32 chains (ABBA order, 2 pairs), alone (1 chain) and on SQLite, side by side in
# one run. `../2026-12-07/summarize.py DIR` prints the medians.
#
#   bench/results/2026-12-08-house/before-after.sh BEFORE_BINARY AFTER_BINARY [OUTPUT_DIR]
# The load driver is $CARGO_TARGET_DIR/release/tokenmint-bench (default target/).
set -euo pipefail
before=$1 after=$2
out=${3:-$(dirname "$0")}
cd "$(dirname "$0")/../../.."
drv=${CARGO_TARGET_DIR:-target}/release/tokenmint-bench
{ nproc; grep -m1 'model name' /proc/cpuinfo; git rev-parse HEAD; uptime; } > "$out/machine.txt"
run() { # NAME BINARY ARGS...
    local name=$1 bin=$2
    shift 2
    "$drv" --json --server-bin "$bin" "$@" | jq -c --arg name "$name" '{name: $name, d: .}' >> "$out/$run_file"
}
pick() { if [ "$1" = after ]; then echo "$after"; else echo "$before"; fi; }
run_file=refresh-postgres-32.jsonl
for which in before after after before; do
    run "$which" "$(pick $which)" --workload refresh --concurrency 32 --duration 15s --database postgres
done
run_file=refresh-postgres-1.jsonl
for which in before after after before; do
    run "$which" "$(pick $which)" --workload refresh --concurrency 1 --duration 10s --database postgres
done
run_file=refresh-sqlite-32.jsonl
for which in before after after before; do
    run "$which" "$(pick $which)" --workload refresh --concurrency 32 --duration 15s --database sqlite
done
