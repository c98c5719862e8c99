#!/usr/bin/env bash
# Refresh tokens with generations under a KEK-derived tag (c1b0ce0, as built at 6775197: a
# refresh computes two HMACs instead of deriving a key and sealing the successor, and stores
# no successor) against b8c10c8, the build before them. The same runs as
# ../2026-12-07/before-after.sh (32 chains ABBA, alone, SQLite, the day's pgbench ceilings),
# written here. BENCHMARKS.md quotes the summary (`../2026-12-07/summarize.py DIR`).
#
#   bench/results/2026-12-07-generations/before-after.sh BEFORE_BINARY AFTER_BINARY [OUTPUT_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../2026-12-07/before-after.sh" "$1" "$2" "${3:-$here}"
