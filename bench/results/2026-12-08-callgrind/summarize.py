#!/usr/bin/env python3
"""The table of one of instructions.sh's runs-N-chains.jsonl: instructions per refresh of each
run, the median per build and backend, and after / before."""
import json
import statistics
import sys
from collections import defaultdict

path = sys.argv[1] if len(sys.argv) > 1 else "runs-1-chains.jsonl"
per = defaultdict(list)
for line in open(path):
    if not line.strip():
        continue
    run = json.loads(line)
    assert not run["driver_errors"], "a run had failed requests"
    per[(run["database"], run["which"])].append(run["instructions"] / run["refreshes"])

print("| backend | build | instructions per refresh (each run) | median | after / before |")
print("|---|---|---|---|---|")
for database in sorted({d for d, _ in per}):
    before = statistics.median(per[(database, "before")])
    for which in ("before", "after"):
        costs = per[(database, which)]
        median = statistics.median(costs)
        ratio = f"{median / before:.3f}" if which == "after" else ""
        each = " / ".join(f"{c / 1000:,.1f} k" for c in costs)
        print(f"| {database} | {which} | {each} | {median / 1000:,.1f} k | {ratio} |")
