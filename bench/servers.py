"""`make bench-servers`: the whole of `make bench` once per WSGI server, side by side.

Runs `python -m bench.run` with BENCH_SERVER=granian, then gunicorn (each writes
bench/results/server-<name>.json and .md), and writes bench/results/servers.md: every wrk
scenario's req/s and p99 under each server, and each server's ratio to its own ceilings, so the
choice in deploy/Procfile rests on a measurement. Extra environment (BENCH_CONTACTS, ...) passes
through to both runs; BENCH_SERVERS picks and orders the servers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.run import RESULTS_DIR, SERVERS


def _run(server: str) -> dict[str, Any]:
    name = f"server-{server}"
    env = {**os.environ, "BENCH_SERVER": server, "BENCH_RESULTS_NAME": name}
    print(f"bench-servers: make bench under {server}", flush=True)
    completed = subprocess.run([sys.executable, "-m", "bench.run"], env=env, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"bench-servers: the {server} run failed (exit {completed.returncode})")
    result: dict[str, Any] = json.loads((RESULTS_DIR / f"{name}.json").read_text())
    return result


def _feed_rate(report: dict[str, Any]) -> str:
    feed = report.get("feed") or {}
    rate = feed.get("events_per_second")
    return f"{rate:,.0f} ev/s" if rate else "-"


def comparison(reports: dict[str, dict[str, Any]]) -> str:
    """The markdown table: one row per scenario, req/s (p99 ms) and ratio per server."""
    names = list(reports)
    first = reports[names[0]]
    header = ["scenario", *(f"{n} req/s (p99 ms)" for n in names), *(f"{n} vs ceiling" for n in names)]
    if len(names) == 2:
        header.append(f"{names[0]} / {names[1]}")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    by_server = {n: {s["name"]: s for s in r["scenarios"]} for n, r in reports.items()}
    for scenario in first["scenarios"]:
        row = [scenario["name"]]
        measured = [by_server[n].get(scenario["name"]) for n in names]
        row += [f"{m['rps']:,.1f} ({m['latency_us']['p99'] / 1000:.1f})" if m else "-" for m in measured]
        row += [f"{m['ratio_to_ceiling']:.1%}" if m and m.get("ratio_to_ceiling") else "-" for m in measured]
        if len(names) == 2:
            a, b = measured
            row.append(f"{a['rps'] / b['rps']:.2f}×" if a and b else "-")
        lines.append("| " + " | ".join(row) + " |")
    feed_row = ["feed_1m (events/s)", *(_feed_rate(reports[n]) for n in names), *("-" for _ in names)]
    if len(names) == 2:
        feed_row.append("-")
    lines.append("| " + " | ".join(feed_row) + " |")
    verdicts = []
    for name, report in reports.items():
        failed = [c["scenario"] for c in report["checks"] if not c["passed"]]
        verdicts.append(
            f"- {name} ({report['server']['description']}): "
            + (f"targets failed: {', '.join(failed)}" if failed else "every target passes")
        )
    machine = first["machine"]
    head = (
        f"Runs at {first['git']}, {machine['nproc']} × {machine['cpu_model']}; "
        + "; ".join(f"{n} finished {r['finished_at']}" for n, r in reports.items())
        + ".\n"
    )
    return head + "\n" + "\n".join(lines) + "\n\n" + "\n".join(verdicts) + "\n"


def main() -> int:
    chosen = [s.strip() for s in os.environ.get("BENCH_SERVERS", ",".join(SERVERS)).split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SERVERS]
    if unknown or not chosen:
        print(f"bench-servers: BENCH_SERVERS names {unknown or 'nothing'}; known: {', '.join(SERVERS)}")
        return 2
    reports = {server: _run(server) for server in chosen}
    text = comparison(reports)
    Path(RESULTS_DIR / "servers.md").write_text(text)
    print("\n" + text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
