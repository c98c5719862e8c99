#!/usr/bin/env bash
# Instructions per refresh of two tokenmint builds, counted by callgrind: a count that does not
# depend on the machine's load, where CPU time on a shared 2-core VM moves by ±10 % between
# runs. Each server runs under valgrind while the driver refreshes one chain; once refreshes
# flow, callgrind's counters are zeroed, the server's own refresh counter is read, and 15 s
# later both are read again: instructions in the window / refreshes in the window. Start-up,
# seeding and warm-up fall outside the window. ABBA order per backend.
#
#   bench/results/2026-12-08-callgrind/instructions.sh BEFORE_BINARY AFTER_BINARY [OUTPUT_DIR]
#   CHAINS=16 DATABASES=postgres bench/results/2026-12-08-callgrind/instructions.sh ...
#
# CHAINS (default 1) refreshes at once; DATABASES (default "sqlite postgres") the backends.
# Under valgrind the server's threads take turns, so with more than one chain PostgreSQL's
# group rotation batches differently than natively: compare builds within a run only.
#
# The load driver is $CARGO_TARGET_DIR/release/tokenmint-bench (default target/). Appends one
# JSON line per run to OUTPUT_DIR/runs-CHAINS-chains.jsonl; summarize.py turns one into a table.
set -euo pipefail
before=$(realpath "$1") after=$(realpath "$2")
out=$(realpath -m "${3:-$(dirname "$0")}")
cd "$(dirname "$0")/../../.."
drv=$(realpath "${CARGO_TARGET_DIR:-target}/release/tokenmint-bench")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$out"
{ nproc; grep -m1 'model name' /proc/cpuinfo; valgrind --version; git rev-parse HEAD; } > "$out/machine.txt"
metrics_port=19391
window=15
chains=${CHAINS:-1}

# One wrapper per build: the driver spawns it as the server binary.
for which in before after; do
    bin=$before; [ "$which" = after ] && bin=$after
    cat > "$scratch/$which" <<WRAP
#!/bin/sh
echo \$\$ > $scratch/pid
exec valgrind --tool=callgrind --callgrind-out-file=$scratch/callgrind.%p \
    --log-file=$scratch/valgrind.%p --dump-instr=no --collect-jumps=no "$bin" "\$@"
WRAP
    chmod +x "$scratch/$which"
done

refreshes() { # the server's count of refresh-token grants answered with tokens
    curl -fsS "http://127.0.0.1:$metrics_port/metrics" \
        | sed -n 's/^tokenmint_token_requests_total{grant="refresh_token",outcome="issued"} //p'
}

measure() { # WHICH DATABASE
    local which=$1 database=$2 pid first last dump
    rm -f "$scratch/pid" "$scratch"/callgrind.*
    "$drv" --json --server-bin "$scratch/$which" --workload refresh --concurrency "$chains" \
        --warmup 5s --duration 40s --database "$database" \
        --server-env "TOKENMINT_METRICS_LISTEN=127.0.0.1:$metrics_port" > "$scratch/driver.json" &
    local driver=$!
    until [ -s "$scratch/pid" ] && [ -n "$(refreshes 2>/dev/null)" ] && [ "$(refreshes)" -gt 0 ]; do
        sleep 0.5
    done
    pid=$(cat "$scratch/pid")
    callgrind_control -z "$pid" >/dev/null
    first=$(refreshes)
    sleep "$window"
    last=$(refreshes)
    callgrind_control -d window "$pid" >/dev/null
    wait "$driver"
    local dumps=("$scratch"/callgrind."$pid".*)
    dump=${dumps[0]}
    jq -c --arg which "$which" --arg database "$database" --argjson first "$first" \
        --argjson last "$last" --argjson ir "$(sed -n 's/^summary: //p' "$dump")" \
        '{which: $which, database: $database, chains: .concurrency, refreshes: ($last - $first), instructions: $ir,
          driver_errors: .errors}' "$scratch/driver.json" | tee -a "$out/runs-$chains-chains.jsonl"
}

for database in ${DATABASES:-sqlite postgres}; do
    for which in before after after before; do
        measure "$which" "$database"
    done
done
