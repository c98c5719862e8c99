#!/usr/bin/env bash
# The headline table of BENCHMARKS.md in one run: refresh through tokenmint (PostgreSQL and
# SQLite, 32 chains), the database's ceiling (pgbench: tokenmint's own refresh statement, alone
# and carrying 16 rotations, and the naive 4-round-trip rotation), and the peer
# (node-oidc-provider, bench/peer) driven by the same load driver with the same 32 chains.
# The three refresh runs are interleaved run by run, so a slow minute of the machine hits all
# of them. Raw results go to bench/results/<date>-report/; the table is printed at the end
# (bench/summarize.py --headline) and saved as headline.md.
#
#   bench/report.sh [--runs N] [--duration S] [--results DIR] [--quick]
#
# Defaults: 3 runs of 15 s (after a 2 s warm-up) each; pgbench 15 s per run on 1,000,000
# sessions. 7–9 minutes on a 2-core machine. --quick: one 3 s run of everything on 20,000
# sessions, to check the script (about a minute).
#
# Needs: a release build (`cargo build --release --locked -p tokenmint -p tokenmint-bench`;
# $CARGO_TARGET_DIR is honoured), pgbench, Node.js with npm, and PostgreSQL on 127.0.0.1:5432
# with trust auth for `postgres`. Loopback only. Run it on an otherwise idle machine: it
# measures CPU time, and on a small machine everything shares the same cores.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3 duration=15 pgbench_duration=15 rows=1000000 quick=false results=""
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --duration) duration=$2; pgbench_duration=$2; shift 2 ;;
        --results) results=$2; shift 2 ;;
        --quick) quick=true; runs=1; duration=3; pgbench_duration=3; rows=20000; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
target_dir=${CARGO_TARGET_DIR:-target}
server=$target_dir/release/tokenmint
driver=$target_dir/release/tokenmint-bench
for binary in "$server" "$driver"; do
    [ -x "$binary" ] || { echo "no $binary: cargo build --release --locked -p tokenmint -p tokenmint-bench" >&2; exit 2; }
done
if [ -z "$results" ]; then
    results=bench/results/$(date -u +%Y-%m-%d)-report
    $quick && results=$results-quick
fi
if [ -e "$results/machine.txt" ]; then
    echo "$results already holds a run: name another with --results" >&2
    exit 2
fi
mkdir -p "$results"
started=$(date +%s)
log() { printf '\n== %s\n' "$*" | tee -a "$results/run.log"; }

log "peer: node-oidc-provider from bench/peer/oidc-provider/package-lock.json"
npm ci --prefix bench/peer/oidc-provider --no-audit --no-fund --silent

log "machine"
{
    echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench/results' || echo ' (with uncommitted changes)')"
    echo "date $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "cpus $(nproc)"
    grep -m1 'model name' /proc/cpuinfo
    free -g | awk '/^Mem:/ {print "memory " $2 " GiB"}'
    echo "kernel $(uname -r)"
    echo "postgresql $(psql -h 127.0.0.1 -U postgres -Atc 'show server_version')"
    psql -h 127.0.0.1 -U postgres -Atc "select name || ' ' || setting from pg_settings where name in
        ('fsync','synchronous_commit','shared_buffers','ssl','max_connections')"
    echo "node $(node --version)"
    echo "oidc-provider $(node -p "require('./bench/peer/oidc-provider/node_modules/oidc-provider/package.json').version")"
    echo "runs $runs duration ${duration}s pgbench ${pgbench_duration}s rows $rows"
} > "$results/machine.txt" 2>&1
cat "$results/machine.txt"

log "database ceiling (pgbench, $rows sessions, 32 clients)"
bench/pgbench/run.sh --rows "$rows" --clients 32 --duration "$pgbench_duration" --runs "$runs" \
    --scripts "tokenmint tokenmint_batch16 naive" | tee "$results/pgbench.txt"

# One driver run appended to $results/$1.jsonl. A run with failed requests (exit 1) still
# writes its line, whose errors the table shows; one that could not be made (exit 2) is logged.
record() {
    local name=$1; shift
    local status=0
    "$@" --json --duration "${duration}s" --concurrency 32 >> "$results/$name.jsonl" || status=$?
    [ "$status" = 0 ] || echo "$name: exit status $status" | tee -a "$results/run.log"
}

log "refresh, 32 chains: tokenmint on PostgreSQL, on SQLite, and the peer, interleaved ($runs × ${duration}s)"
for run in $(seq 1 "$runs"); do
    echo "run $run"
    record refresh-postgres "$driver" --server-bin "$server" --workload refresh --database postgres
    record refresh-sqlite "$driver" --server-bin "$server" --workload refresh --database sqlite
    record refresh-peer bench/peer/run.sh
done

log "headline ($(( $(date +%s) - started )) s)"
python3 bench/summarize.py --headline "$results" | tee "$results/headline.md"
