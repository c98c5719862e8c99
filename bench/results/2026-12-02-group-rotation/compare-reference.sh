#!/usr/bin/env bash
# The second part of the group-rotation run: this build beside the reference build
# (49e5219, before the token-family redesign) and the build before group rotation, on
# PostgreSQL (TCP + TLS) and SQLite, interleaved, three runs each; and pgbench's one-statement
# rotation on the per-token table, for the database-CPU comparison.
#
#   bench/results/2026-12-02-group-rotation/compare-reference.sh REFERENCE BEFORE [OUTPUT_DIR]
set -euo pipefail
orig=$1 before=$2
cd "$(dirname "$0")/../../.."
out=${3:-$PWD/bench/results/2026-12-02-group-rotation}
cur=$PWD/target/release/tokenmint
drv=target/release/tokenmint-bench
d=${DUR:-15}
bench/pgbench/run.sh --rows 1000000 --clients 32 --duration 20 --runs 3 --scripts "one_statement" \
    | tee "$out/pgbench-one-statement.txt"
run() { # name binary [driver args]
    local name=$1 bin=$2; shift 2
    "$drv" --json --duration "${d}s" --workload refresh --concurrency 32 --server-bin "$bin" "$@" \
        >> "$out/refresh-$name.jsonl"
}
for _ in 1 2 3; do
    for which in cur orig before; do
        case $which in cur) bin=$cur ;; orig) bin=$orig ;; before) bin=$before ;; esac
        run "postgres-$which-3way" "$bin" --database postgres
    done
    for which in cur orig; do
        case $which in cur) bin=$cur ;; orig) bin=$orig ;; esac
        run "sqlite-$which-3way" "$bin" --database sqlite
    done
done
