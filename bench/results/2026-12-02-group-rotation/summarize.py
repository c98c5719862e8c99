#!/usr/bin/env python3
"""Medians of the refresh runs of compare.sh, this build beside the baseline, per setup."""
import json
import statistics
import sys
from pathlib import Path

here = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)


def runs(name):
    path = here / f"refresh-{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def median(values):
    return statistics.median(values) if values else float("nan")


print("| setup | build | refreshes/s (runs) | p50 ms | p99 ms | tokenmint CPU µs | PostgreSQL CPU µs | driver CPU µs | errors |")
print("|---|---|---|---|---|---|---|---|---|")
NAMES = {"cur": "this build", "base": "before group rotation", "before": "before group rotation",
         "orig": "the reference build (49e5219)"}
SETS = [("postgres", ("cur", "base"), ""), ("postgres-socket", ("cur", "base"), ""),
        ("sqlite", ("cur", "base"), ""), ("postgres", ("cur", "orig", "before"), "-3way"),
        ("sqlite", ("cur", "orig"), "-3way"), ("postgres", ("cur", "orig"), "-third")]
for setup, builds, suffix in SETS:
    for build in builds:
        rs = runs(f"{setup}-{build}{suffix}")
        usage = [r["usage"] for r in rs]
        rate = [r["requests_per_second"] for r in rs]
        db = [u["database_cpu_ms_per_request"] * 1000 for u in usage if u.get("database_cpu_ms_per_request") is not None]
        errors = sum(sum(r["errors"].values()) for r in rs)
        print(
            f"| {setup}{ {'': '', '-3way': ' (second set)', '-third': ' (third set)'}[suffix] } | {NAMES[build]} "
            f"| {median(rate):,.0f} ({', '.join(f'{x:,.0f}' for x in rate)}) "
            f"| {median([r['latency_us']['p50'] for r in rs]) / 1000:.2f} "
            f"| {median([r['latency_us']['p99'] for r in rs]) / 1000:.2f} "
            f"| {median([u['server_cpu_ms_per_request'] * 1000 for u in usage]):.0f} "
            f"| {median(db):.0f} "
            f"| {median([u['driver_cpu_ms_per_request'] * 1000 for u in usage]):.0f} "
            f"| {errors} |"
        )
