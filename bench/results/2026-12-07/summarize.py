#!/usr/bin/env python3
"""Per file, per build: each run's refreshes/s, p99, tokenmint and PostgreSQL CPU per refresh,
and the medians (bench/results/2026-12-07/*.jsonl, written by before-after.sh)."""
import json, statistics, sys, pathlib

for path in sorted(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").glob("refresh-*.jsonl")):
    runs = {}
    for line in path.read_text().splitlines():
        run = json.loads(line)
        d = run["d"]
        usage = d["usage"]
        runs.setdefault(run["name"], []).append((
            d["requests_per_second"],
            d["latency_us"]["p99"],
            usage["server_cpu_ms_per_request"] * 1000,
            (usage.get("database_cpu_ms_per_request") or 0) * 1000,
            sum(d["errors"].values()) if d["errors"] else 0,
        ))
    print(path.name)
    for name, rows in runs.items():
        cells = ", ".join(f"{r:,.0f}/s p99 {p} µs cpu {c:.1f}+{db:.1f} µs err {e}" for r, p, c, db, e in rows)
        med = lambda i: statistics.median(row[i] for row in rows)
        print(f"  {name:6} median {med(0):,.0f}/s, p99 {med(1):,.0f} µs, tokenmint {med(2):.1f} µs, "
              f"PostgreSQL {med(3):.1f} µs per refresh | {cells}")
