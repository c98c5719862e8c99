#!/usr/bin/env bash
# Interleaved refresh runs (32 chains, PostgreSQL, 15 s after a 2 s warm-up), one JSON line each.
# usage: set.sh /absolute/OUT.jsonl ROUNDS name=/path/to/tokenmint[:ENV=V,...] ...
# summary: python3 show.py OUT.jsonl
out=$1; rounds=$2; shift 2
cd "$(dirname "$0")/../../.."
for r in $(seq 1 $rounds); do
  for spec in "$@"; do
    name=${spec%%=*}; rest=${spec#*=}; bin=${rest%%:*}; envs=""
    [[ "$rest" == *:* ]] && envs=${rest#*:}
    args=()
    IFS=',' read -ra kv <<< "$envs"
    for e in "${kv[@]}"; do [ -n "$e" ] && args+=(--server-env "$e"); done
    target/release/tokenmint-bench --json --duration 15s --workload refresh --concurrency 32 --database postgres --server-bin "$bin" "${args[@]}" | sed "s/^/{\"name\":\"$name\",\"r\":$r,\"d\":/; s/\$/}/" >> $out
  done
done
