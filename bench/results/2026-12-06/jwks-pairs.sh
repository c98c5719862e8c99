#!/usr/bin/env bash
# JWKS against /healthz of the same server, pairs of wrk runs back to back (2 threads, 64
# connections), alternating which goes first. Prints each run's requests/s and the server's
# CPU time per request (utime + stime from /proc), and each pair's ratio of requests/s.
# usage: jwks-pairs.sh SERVER_BIN PAIRS SECONDS
set -euo pipefail
bin=$1; pairs=$2; secs=$3
dir=$(mktemp -d)
TOKENMINT_LISTEN=127.0.0.1:18090 DATABASE_URL="sqlite://$dir/tokenmint.db" RUST_LOG=warn "$bin" > "$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:18090/readyz > /dev/null && break; sleep 0.1; done
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
# "requests/s µs-per-request"
run() {
    local before after out requests
    before=$(ticks)
    out=$(wrk -t2 -c64 -d"${secs}s" "http://127.0.0.1:18090$1")
    after=$(ticks)
    requests=$(awk '/requests in/ {print $1}' <<< "$out")
    awk -v r="$requests" -v t=$((after - before)) -v hz="$hz" -v s="$(awk '/Requests\/sec/ {print $2}' <<< "$out")" \
        'BEGIN {printf "%s %.2f", s, t / hz * 1e6 / r}'
}
for i in $(seq 1 "$pairs"); do
    if (( i % 2 )); then j=$(run /.well-known/jwks.json); h=$(run /healthz)
    else h=$(run /healthz); j=$(run /.well-known/jwks.json); fi
    read -r jr jc <<< "$j"; read -r hr hc <<< "$h"
    python3 -c "print(f'pair $i: jwks {$jr:9.0f}/s {$jc:5.2f} us/req  healthz {$hr:9.0f}/s {$hc:5.2f} us/req  ratio {$jr/$hr:.3f}')"
done
