#!/usr/bin/env bash
# The third part of the group-rotation run: one more interleaved set of this build and the
# reference build (49e5219) on PostgreSQL (the CPU-per-refresh ratio is the figure closest to its
# target), then the JWKS against /healthz under wrk and start-to-ready on an existing SQLite
# database, for this build.
#
#   bench/results/2026-12-02-group-rotation/compare-third-set.sh REFERENCE [OUTPUT_DIR]
set -euo pipefail
orig=$1
cd "$(dirname "$0")/../../.."
out=${2:-$PWD/bench/results/2026-12-02-group-rotation}
cur=$PWD/target/release/tokenmint
drv=target/release/tokenmint-bench
# SKIP_REFRESH=1 runs only the wrk and start-to-ready part.
for _ in $([ "${SKIP_REFRESH:-}" = 1 ] || echo 1 2 3); do
    for which in cur orig; do
        bin=$cur; [ "$which" = orig ] && bin=$orig
        "$drv" --json --duration 15s --workload refresh --concurrency 32 --database postgres \
            --server-bin "$bin" >> "$out/refresh-postgres-$which-third.jsonl"
    done
done
dir=$(mktemp -d)
TOKENMINT_LISTEN=127.0.0.1:18080 DATABASE_URL="sqlite://$dir/tokenmint.db" RUST_LOG=warn "$cur" \
    > "$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:18080/readyz > /dev/null && break; sleep 0.1; done
: > "$out/wrk.txt"
for _ in 1 2 3; do
    for path in /.well-known/jwks.json /healthz; do
        echo "$path" >> "$out/wrk.txt"
        wrk -t2 -c64 -d10s "http://127.0.0.1:18080$path" | grep -E "Requests/sec" >> "$out/wrk.txt"
    done
done
kill "$pid"; wait "$pid" || true
# Start to ready on the database just created (it exists, with its key): 7 starts.
: > "$out/ready.txt"
for _ in 1 2 3 4 5 6 7; do
    start=$(date +%s%N)
    TOKENMINT_LISTEN=127.0.0.1:18080 DATABASE_URL="sqlite://$dir/tokenmint.db" RUST_LOG=warn "$cur" \
        > "$dir/log" 2>&1 &
    pid=$!
    until curl -sf http://127.0.0.1:18080/readyz > /dev/null; do sleep 0.005; done
    echo "$(( ($(date +%s%N) - start) / 1000000 )) ms" >> "$out/ready.txt"
    kill "$pid"; wait "$pid" || true
done
rm -rf "$dir"
