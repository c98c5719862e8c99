#!/usr/bin/env python3
"""Turns raw benchmark results into Markdown tables.

Every figure is the median of the runs; every ratio is computed from figures of the same run.
Usage:
  bench/summarize.py --headline bench/results/<date>-report   the headline table of BENCHMARKS.md
                                                              (from bench/report.sh)
  bench/summarize.py bench/results/<date>                     every table of bench/run-all.sh
"""

import json
import re
import statistics
import sys
from pathlib import Path


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def driver_runs(directory, name):
    path = directory / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def driver_summary(runs):
    if not runs:
        return None
    usage = [r["usage"] for r in runs]
    return {
        "runs": len(runs),
        "rps": median([r["requests_per_second"] for r in runs]),
        "p50": median([r["latency_us"]["p50"] / 1000 for r in runs]),
        "p99": median([r["latency_us"]["p99"] / 1000 for r in runs]),
        "errors": sum(sum(r["errors"].values()) for r in runs),
        "server_us": median([u["server_cpu_ms_per_request"] * 1000 for u in usage]),
        "db_us": median(
            [u["database_cpu_ms_per_request"] * 1000
             for u in usage if u["database_cpu_ms_per_request"] is not None]),
        "driver_us": median([u["driver_cpu_ms_per_request"] * 1000 for u in usage]),
        "rss_mib": median([u["server_memory"]["rss_kib"] / 1024 for u in usage]),
        "ready_ms": median([r["server"]["start_to_ready_ms"] for r in runs]),
    }


def pgbench(directory, name="pgbench.txt"):
    figures = {}
    if not (directory / name).exists():
        return figures
    pattern = re.compile(r"^(\S+)\s+run \d+:\s+(\d+) tps.*database CPU (\d+)(?:.*WAL (\d+))?")
    for line in (directory / name).read_text().splitlines():
        match = pattern.match(line)
        if match:
            script, tps, cpu = match.group(1), int(match.group(2)), int(match.group(3))
            figures.setdefault(script, {"tps": [], "cpu": [], "wal": []})
            figures[script]["tps"].append(tps)
            figures[script]["cpu"].append(cpu)
            figures[script]["wal"].append(int(match.group(4)) if match.group(4) else None)
    return {k: {"tps": median(v["tps"]), "cpu": median(v["cpu"]), "wal": median(v["wal"]),
                "runs": len(v["tps"])}
            for k, v in figures.items()}


def wrk(directory):
    path = directory / "wrk.txt"
    figures = {}
    current = None
    for line in path.read_text().splitlines() if path.exists() else []:
        if line.startswith("/"):
            current = line.strip()
        elif line.startswith("Requests/sec:") and current:
            figures.setdefault(current, []).append(float(line.split()[1]))
    return figures


def criterion(directory):
    path = directory / "verify.txt"
    times = {}
    name = None
    units = {"ns": 0.001, "µs": 1.0, "us": 1.0, "ms": 1000.0}
    for line in path.read_text().splitlines() if path.exists() else []:
        head = line.split("time:")[0].strip()
        if head:
            name = head
        match = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+)", line)
        if match and name:
            times[name] = float(match.group(1)) * units.get(match.group(2), 1.0)
    return times


def fmt(value, digits=0):
    return "—" if value is None else f"{value:,.{digits}f}"


def ratio(a, b):
    return "—" if not a or not b else f"{a / b:.2f}×"


def machine(directory):
    """machine.txt of bench/report.sh as a dict of its first word to the rest of the line."""
    path = directory / "machine.txt"
    info = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        key, _, value = line.partition(" ")
        info.setdefault(key, value.strip())
    return info


def headline(directory):
    """The headline table: tokenmint beside its ceiling and the peer, all from one run."""
    pg = pgbench(directory)
    runs = {n: driver_summary(driver_runs(directory, f"refresh-{n}"))
            for n in ["postgres", "sqlite", "peer"]}
    tm, lite, peer = runs["postgres"], runs["sqlite"], runs["peer"]
    alone, batch, naive = pg.get("tokenmint", {}), pg.get("tokenmint_batch16", {}), pg.get("naive", {})
    info = machine(directory)
    counts = [s["runs"] for s in runs.values() if s]
    duration = info.get("runs", "").split("duration ")[-1].split()[0] if "duration" in info.get("runs", "") else "?"
    cpu = info.get("model", "").split(":", 1)[-1].strip()
    out = [f"Measured {info.get('date', '?')} at {info.get('commit', '?')}: {info.get('cpus', '?')} × "
           f"{cpu}, PostgreSQL {info.get('postgresql', '?')}, Node.js {info.get('node', '?')}, "
           f"oidc-provider {info.get('oidc-provider', '?')}. Refresh, 32 chains each always sending "
           f"its newest token; medians of {min(counts) if counts else 0} interleaved runs of {duration}; "
           f"everything on the same cores.", ""]

    def us(value):
        return "—" if value is None else f"{value:,.0f} µs"

    def cell(s, key, digits=0, unit=""):
        return "—" if not s or s.get(key) is None else f"{s[key]:,.{digits}f}{unit}"

    batch_rotations = batch.get("tps") and batch["tps"] * 16
    batch_cpu = batch.get("cpu") and batch["cpu"] / 16
    out.append("| | tokenmint, PostgreSQL | its ceiling: pgbench, tokenmint's statement | "
               "tokenmint, SQLite | peer: node-oidc-provider, in memory |")
    out.append("|---|---|---|---|---|")
    out.append(f"| refreshes/s | **{cell(tm, 'rps')}** | {fmt(alone.get('tps'))} sent alone; "
               f"{fmt(batch_rotations)} carrying 16 | **{cell(lite, 'rps')}** | **{cell(peer, 'rps')}** |")
    out.append(f"| p50 / p99 | {cell(tm, 'p50', 2)} / {cell(tm, 'p99', 2)} ms | — | "
               f"{cell(lite, 'p50', 2)} / {cell(lite, 'p99', 2)} ms | "
               f"{cell(peer, 'p50', 2)} / {cell(peer, 'p99', 2)} ms |")
    out.append(f"| server CPU per refresh | **{us(tm and tm['server_us'])}** | — | "
               f"{us(lite and lite['server_us'])} | {us(peer and peer['server_us'])} |")
    out.append(f"| database CPU per refresh | {us(tm and tm['db_us'])} | {us(alone.get('cpu'))} alone; "
               f"{us(batch_cpu)} in a batch of 16 | in the process | in the process (memory) |")
    out.append(f"| load driver CPU per refresh | {us(tm and tm['driver_us'])} | — | "
               f"{us(lite and lite['driver_us'])} | {us(peer and peer['driver_us'])} |")
    out.append(f"| failed requests | {tm['errors'] if tm else '—'} | — | "
               f"{lite['errors'] if lite else '—'} | {peer['errors'] if peer else '—'} |")
    out.append("")
    out.append("Ratios within the run:")
    if tm:
        out.append(f"- tokenmint on PostgreSQL ÷ its statement sent alone: "
                   f"{ratio(tm['rps'], alone.get('tps'))}; ÷ the statement carrying 16: "
                   f"{ratio(tm['rps'], batch_rotations)}; ÷ the naive 4-round-trip rotation "
                   f"({fmt(naive.get('tps'))} tps): {ratio(tm['rps'], naive.get('tps'))}")
    if peer and tm:
        out.append(f"- refreshes/s, tokenmint ÷ peer: {ratio(tm['rps'], peer['rps'])} on PostgreSQL, "
                   f"{ratio(lite and lite['rps'], peer['rps'])} on SQLite")
        out.append(f"- server CPU per refresh, peer ÷ tokenmint: {ratio(peer['server_us'], tm['server_us'])} "
                   f"(PostgreSQL), {ratio(peer['server_us'], lite and lite['server_us'])} (SQLite)")
    return "\n".join(out)


def main():
    if sys.argv[1] == "--headline":
        print(headline(Path(sys.argv[2])))
        return
    directory = Path(sys.argv[1])
    pg = pgbench(directory)
    out = []
    refresh = {n: driver_summary(driver_runs(directory, n)) for n in [
        "refresh-postgres", "refresh-postgres-baseline", "refresh-postgres-notls",
        "refresh-postgres-socket", "refresh-sqlite", "refresh-sqlite-baseline",
        "refresh-sqlite-full", "refresh-postgres-split", "exchange-0ms", "exchange-20ms"]}
    out.append("| run | req/s | p50 ms | p99 ms | tokenmint CPU µs/req | PostgreSQL CPU µs/req "
               "| driver CPU µs/req | errors | runs |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for name, s in refresh.items():
        if s:
            out.append(f"| {name} | {fmt(s['rps'])} | {fmt(s['p50'], 2)} | {fmt(s['p99'], 2)} | "
                       f"{fmt(s['server_us'])} | {fmt(s['db_us'])} | {fmt(s['driver_us'])} | {s['errors']} "
                       f"| {s['runs']} |")
    out.append("")
    out.append("| pgbench script | tps | PostgreSQL CPU µs/transaction | WAL B/transaction | runs |")
    out.append("|---|---|---|---|---|")
    for name, f in pg.items():
        out.append(f"| {name} | {fmt(f['tps'])} | {fmt(f['cpu'])} | {fmt(f['wal'])} | {f['runs']} |")
    out.append("")
    current = refresh.get("refresh-postgres")
    if current and pg:
        out.append("Ratios (same run):")
        out.append(f"- refresh on PostgreSQL ÷ naive 4-round-trip rotation: "
                   f"{ratio(current['rps'], pg.get('naive', {}).get('tps'))}")
        out.append(f"- refresh on PostgreSQL ÷ pgbench of tokenmint's own refresh SQL: "
                   f"{ratio(current['rps'], pg.get('tokenmint', {}).get('tps'))}")
        out.append(f"- PostgreSQL CPU per refresh ÷ per one-statement rotation: "
                   f"{ratio(current['db_us'], pg.get('one_statement', {}).get('cpu'))}")
        base = refresh.get("refresh-postgres-baseline")
        if base:
            out.append(f"- refresh on PostgreSQL ÷ baseline build: {ratio(current['rps'], base['rps'])}")
    socket, pg_socket = refresh.get("refresh-postgres-socket"), pgbench(directory, "pgbench-socket.txt")
    if socket and pg_socket:
        out.append("- over the Unix socket (refresh and pgbench alike):")
        for script in ["naive", "tokenmint"]:
            tps = pg_socket.get(script, {}).get("tps")
            out.append(f"  - refresh {fmt(socket['rps'])}/s ÷ pgbench {script} {fmt(tps)} tps: "
                       f"{ratio(socket['rps'], tps)}")
    split, pg_split = refresh.get("refresh-postgres-split"), pgbench(directory, "pgbench-split.txt")
    if split and pg_split:
        out.append("- split cores (PostgreSQL on CPU 0, the client side on CPU 1):")
        for script in ["naive", "tokenmint"]:
            tps = pg_split.get(script, {}).get("tps")
            out.append(f"  - refresh {fmt(split['rps'])}/s ÷ pgbench {script} {fmt(tps)} tps: "
                       f"{ratio(split['rps'], tps)}")
    sqlite, sqlite_base = refresh.get("refresh-sqlite"), refresh.get("refresh-sqlite-baseline")
    if sqlite and sqlite_base:
        out.append(f"- refresh on SQLite ÷ baseline build: {ratio(sqlite['rps'], sqlite_base['rps'])}")
    jwks = wrk(directory)
    if jwks:
        js, hs = jwks.get("/.well-known/jwks.json", []), jwks.get("/healthz", [])
        j, h = (median(js) if js else None), (median(hs) if hs else None)
        # Each JWKS run is paired with the /healthz run right after it: a slow minute of the
        # machine hits both, where medians taken apart can pair a fast run with a slow one.
        pairs = [a / b for a, b in zip(js, hs)]
        out.append(f"- JWKS {fmt(j)} req/s ÷ /healthz {fmt(h)} req/s (wrk, medians): {ratio(j, h)}; "
                   f"each pair's ratio: {', '.join(f'{r:.2f}' for r in pairs)} "
                   f"(median {median(pairs):.2f}×)" if pairs else "")
    times = criterion(directory)
    for alg in ["ES256", "EdDSA", "RS256"]:
        ours, raw = times.get(f"tokenmint-verify {alg}"), times.get(f"jsonwebtoken::decode {alg}")
        if ours and raw:
            out.append(f"- verification {alg}: {ours:.1f} µs against raw decode {raw:.1f} µs "
                       f"(raw ÷ ours = {raw / ours:.2f})")
    rss = directory / "rss-64-chains.json"
    if rss.exists():
        run = json.loads(rss.read_text())
        memory = run["usage"]["server_memory"]
        out.append(f"- RSS after {run['duration_s']:.0f} s at 64 chains: "
                   f"{memory['rss_kib'] / 1024:.1f} MiB (peak {memory['peak_rss_kib'] / 1024:.1f} MiB)")
    ready = directory / "ready-ms.txt"
    if ready.exists():
        values = [int(v) for v in ready.read_text().split()]
        later = values[1:] or values
        out.append(f"- start to ready on an existing SQLite database: median {median(later):.0f} ms "
                   f"over {len(later)} starts (the first start, which also created the signing key: "
                   f"{values[0]} ms)")
    for profile in sorted(directory.glob("profile-*.txt")):
        out.append("")
        out.append(f"Profile {profile.stem.removeprefix('profile-')} (share of the server's CPU samples):")
        out.append("```")
        out.append(profile.read_text().rstrip())
        out.append("```")
    print("\n".join(out))


if __name__ == "__main__":
    main()
