#!/usr/bin/env bash
# Runs the gateway's tests against the real tokenmint.
#   TOKENMINT_BIN      the tokenmint binary (default /tmp/tokenmint-debug; CI: target/debug/tokenmint)
#   TOKENMINT_GATEWAY  "required": a missing binary fails the run instead of skipping its tests
# Extra arguments go to pytest (e.g. -k revoked, -x).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# Reinstall only when requirements.txt changed since the last install.
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
    echo "$want" > "$stamp"
fi
exec .venv/bin/python -m pytest "$@"
