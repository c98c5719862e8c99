#!/usr/bin/env bash
# The short side-by-side run of 2026-12-02 (BENCHMARKS.md, "Re-measured after the operability
# work"): this build against a baseline build, refresh on PostgreSQL and SQLite (32 chains,
# interleaved, 3 runs), the pgbench ceilings, and the JWKS against /healthz under wrk.
#
#   bench/results/2026-12-02/compare.sh BASELINE_BINARY [OUTPUT_DIR]
set -euo pipefail
base=$1
out=${2:-$(mktemp -d)}
cd "$(dirname "$0")/../../.."
cur=$PWD/target/release/tokenmint
drv=target/release/tokenmint-bench
d=${DUR:-15}
{ nproc; grep -m1 'model name' /proc/cpuinfo; git rev-parse HEAD; uptime; } > "$out/machine.txt"
bench/pgbench/run.sh --rows 1000000 --clients 32 --duration 20 --runs 3 --scripts "naive tokenmint" \
    | tee "$out/pgbench.txt"
for _ in 1 2 3; do
    for db in postgres sqlite; do
        for which in cur base; do
            bin=$cur; [ "$which" = base ] && bin=$base
            "$drv" --json --duration "${d}s" --workload refresh --concurrency 32 --database "$db" \
                --server-bin "$bin" >> "$out/refresh-$db-$which.jsonl"
        done
    done
done
# PostgreSQL again with the order reversed (baseline first): the first set always ran this
# build first, and the database's own CPU per refresh showed that order mattered.
for _ in 1 2 3; do
    for which in base cur; do
        bin=$cur; [ "$which" = base ] && bin=$base
        "$drv" --json --duration "${d}s" --workload refresh --concurrency 32 --database postgres \
            --server-bin "$bin" >> "$out/refresh-postgres-$which-rev.jsonl"
    done
done
for which in cur base; do
    bin=$cur; [ "$which" = base ] && bin=$base
    dir=$(mktemp -d)
    TOKENMINT_LISTEN=127.0.0.1:18080 DATABASE_URL="sqlite://$dir/tokenmint.db" RUST_LOG=warn \
        "$bin" > "$dir/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 50); do curl -sf http://127.0.0.1:18080/readyz > /dev/null && break; sleep 0.1; done
    for _ in 1 2 3; do
        for path in /.well-known/jwks.json /healthz; do
            echo "$which $path" >> "$out/wrk.txt"
            wrk -t2 -c64 -d10s --latency "http://127.0.0.1:18080$path" | grep -E "Requests/sec|99%" \
                >> "$out/wrk.txt"
        done
    done
    kill "$pid"; wait "$pid" || true
done
