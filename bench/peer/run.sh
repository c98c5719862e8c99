#!/usr/bin/env bash
# The benchmark peer, measured with tokenmint's own load driver: starts node-oidc-provider as
# set up in bench/peer/oidc-provider (in memory, rotating refresh tokens, ES256 JWT access
# tokens), runs `tokenmint-bench --target oidc-provider` against it once, and stops it. Each
# run starts a fresh provider, as each tokenmint run starts on a fresh database.
#
#   bench/peer/run.sh [tokenmint-bench arguments, e.g. --concurrency 32 --duration 15s --json]
#
# Installs the peer from its lockfile (`npm ci`) when bench/peer/oidc-provider/node_modules is
# missing. Needs Node.js and npm, and a release build of the driver (`cargo build --release
# --locked -p tokenmint-bench`; $CARGO_TARGET_DIR is honoured; TOKENMINT_BENCH overrides the
# path). Loopback only. Exit status: the driver's (0 = every request succeeded).
set -euo pipefail
cd "$(dirname "$0")/../.."

driver=${TOKENMINT_BENCH:-${CARGO_TARGET_DIR:-target}/release/tokenmint-bench}
peer=bench/peer/oidc-provider
if [ ! -d "$peer/node_modules/oidc-provider" ]; then
    npm ci --prefix "$peer" --no-audit --no-fund --silent
fi

log=$(mktemp)
PORT=0 node "$peer/server.mjs" > "$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
url=""
for _ in $(seq 1 100); do
    url=$(sed -n 's/^listening on //p' "$log")
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "bench/peer/run.sh: the peer did not start:" >&2
    cat "$log" >&2
    exit 2
fi

status=0
"$driver" --target oidc-provider --server-url "$url" --server-pid "$pid" "$@" || status=$?
exit "$status"
