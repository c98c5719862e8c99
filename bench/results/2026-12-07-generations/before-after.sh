#!/usr/bin/env bash
# Refresh tokens with generations under a KEK-derived tag (c1b0ce0, with the outage fix of
# 6775197: a refresh computes two HMACs instead of deriving a key and sealing the successor,
# and no longer stores it) against b8c10c8, the build before them: refresh on PostgreSQL at
# 32 chains (ABBA order, 3 pairs), alone (1 chain), on SQLite, and the pgbench ceilings of the
# same run. BENCHMARKS.md quotes the summary (`../2026-12-07/summarize.py DIR`).
#
#   bench/results/2026-12-07-generations/before-after.sh BEFORE_BINARY AFTER_BINARY [OUTPUT_DIR]
set -euo pipefail
before=$1 after=$2
out=${3:-$(dirname "$0")}
cd "$(dirname "$0")/../../.."
drv=target/release/tokenmint-bench
{ nproc; grep -m1 'model name' /proc/cpuinfo; git rev-parse HEAD; uptime; } > "$out/machine.txt"
run() { # NAME BINARY ARGS...
    local name=$1 bin=$2
    shift 2
    "$drv" --json --server-bin "$bin" "$@" | jq -c --arg name "$name" '{name: $name, d: .}' >> "$out/$run_file"
}
run_file=refresh-postgres-32.jsonl
for order in "before after" "after before" "before after"; do
    for which in $order; do
        bin=$before; [ "$which" = after ] && bin=$after
        run "$which" "$bin" --workload refresh --concurrency 32 --duration 15s --database postgres
    done
done
run_file=refresh-postgres-1.jsonl
for which in before after after before; do
    bin=$before; [ "$which" = after ] && bin=$after
    run "$which" "$bin" --workload refresh --concurrency 1 --duration 10s --database postgres
done
run_file=refresh-sqlite-32.jsonl
for which in before after after before; do
    bin=$before; [ "$which" = after ] && bin=$after
    run "$which" "$bin" --workload refresh --concurrency 32 --duration 15s --database sqlite
done
bench/pgbench/run.sh --rows 1000000 --clients 32 --duration 20 --runs 1 --scripts "naive tokenmint" \
    | tee "$out/pgbench.txt"
