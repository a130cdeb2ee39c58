"""The console's Overview (issue 12): the server's work for one view of the dashboard.

`BENCH_ONLY=overview python -m bench.run` (the second step of `make bench`): on a fresh bench
database, 100,000 contacts with a granted consent and a subscription (bench.seed.seed_base and
seed_pages), the ledger topped up to 1,000,000 events (bench.seed.fill_ledger), two webhook
endpoints with deliveries; then, timed:

- `rebuild`: console.rollups.rollups_rebuild over all of it (the repair command's work);
- `refresh`: the worker's incremental refresh after `REFRESH_WRITES` consent writes through the
  real service (what it reads is only what is new);
- `overview`: console.dashboard.dashboard_overview (90 days) plus rendering every dashboard
  partial (console.charts.dashboard_render), in-process, `ITERATIONS` times after a warm-up:
  p50 and p99 against the target of 300 ms at p99. No HTTP: the Overview page belongs to the
  console shell, and this is the part of its server time that depends on the data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

OVERVIEW_P99_MS = 300.0
ITERATIONS = 200
WARMUP = 20
REFRESH_WRITES = 1000
DAYS = 90


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _endpoints(brand_id: int) -> int:
    """Two endpoints, one of them failing, with a day of deliveries and attempts: the health
    query has rows to read."""
    from django.utils import timezone

    from sync.models import Attempt, Delivery, Endpoint

    now = timezone.now()
    made = 0
    for n, failing in enumerate((False, True)):
        endpoint = Endpoint.objects.create(brand_id=brand_id, url=f"https://hooks.example/{n}")
        deliveries = Delivery.objects.bulk_create(
            [
                Delivery(
                    endpoint=endpoint,
                    msg_id=f"bench-{n}-{i}",
                    type="consent.granted",
                    body="{}",
                    status="failed" if failing and i % 2 else "succeeded",
                    next_attempt_at=now,
                )
                for i in range(2000)
            ]
        )
        Attempt.objects.bulk_create(
            [
                Attempt(
                    delivery=delivery,
                    number=1,
                    started_at=now - timedelta(seconds=40 * i),
                    duration_ms=50 + i % 200,
                    outcome=delivery.status,
                )
                for i, delivery in enumerate(deliveries)
            ]
        )
        made += len(deliveries)
    return made


def run_phase(*, brand_id: int, purpose_slug: str, log: Callable[[str], None]) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import translation

    from brands.models import Brand
    from consent.models import ConsentEvent, Contact, Decision, Method
    from consent.services import consent_record
    from console.charts import dashboard_render
    from console.dashboard import dashboard_overview
    from console.rollups import rollups_rebuild, rollups_refresh

    brand = Brand.objects.get(pk=brand_id)
    deliveries = _endpoints(brand_id)
    contacts = Contact.objects.filter(brand=brand).count()
    ledger = ConsentEvent.objects.filter(brand=brand).count()

    step = time.monotonic()
    rebuilt = rollups_rebuild(brand=brand)
    rebuild_seconds = round(time.monotonic() - step, 2)
    log(
        f"bench: rollups rebuilt from {ledger:,} ledger events ({rebuilt['ledger_events']:,} changes of "
        f"state) and {rebuilt['subscriptions']:,} subscriptions in {rebuild_seconds} s"
    )

    for number in range(1, REFRESH_WRITES + 1):
        consent_record(
            brand=brand,
            external_id=f"c{number}",
            purpose_slug=purpose_slug,
            decision=Decision.WITHDRAWN,
            notice_version_id=None,
            method=Method.ONE_CLICK,
            recorded_by="bench",
        )
    step = time.monotonic()
    read = rollups_refresh(brand=brand)
    refresh_seconds = round(time.monotonic() - step, 3)
    log(
        f"bench: refresh after {REFRESH_WRITES:,} withdrawals: {read:,} feed events read "
        f"in {refresh_seconds} s"
    )

    def once() -> tuple[float, float, int]:
        started = time.perf_counter()
        overview = dashboard_overview(brand=brand, days=DAYS)
        selected = time.perf_counter()
        html = dashboard_render(overview)
        return (selected - started) * 1000, (time.perf_counter() - selected) * 1000, len(html)

    with translation.override("en"):
        for _ in range(WARMUP):
            once()
        with CaptureQueriesContext(connection) as queries:
            once()
        timings = [once() for _ in range(ITERATIONS)]
    totals = [select + render for select, render, _ in timings]
    overview = {
        "iterations": ITERATIONS,
        "days": DAYS,
        "queries": len(queries.captured_queries),
        "html_bytes": timings[-1][2],
        "p50_ms": round(_percentile(totals, 0.50), 2),
        "p99_ms": round(_percentile(totals, 0.99), 2),
        "selectors_p50_ms": round(_percentile([t[0] for t in timings], 0.50), 2),
        "selectors_p99_ms": round(_percentile([t[0] for t in timings], 0.99), 2),
        "render_p50_ms": round(_percentile([t[1] for t in timings], 0.50), 2),
        "render_p99_ms": round(_percentile([t[1] for t in timings], 0.99), 2),
        "target_p99_ms": OVERVIEW_P99_MS,
    }
    overview["passed"] = overview["p99_ms"] < OVERVIEW_P99_MS
    log(
        f"bench: overview ({DAYS} days, {overview['queries']} queries, {overview['html_bytes']:,} bytes) "
        f"p50 {overview['p50_ms']} ms, p99 {overview['p99_ms']} ms "
        f"(selectors {overview['selectors_p99_ms']}, render {overview['render_p99_ms']}) "
        f"over {ITERATIONS} runs"
    )
    return {
        "contacts": contacts,
        "ledger_events": ledger,
        "deliveries": deliveries,
        "rebuild": {**rebuilt, "seconds": rebuild_seconds},
        "refresh": {"writes": REFRESH_WRITES, "feed_events_read": read, "seconds": refresh_seconds},
        "overview": overview,
    }


def table(result: dict[str, Any]) -> list[str]:
    o, rebuilt = result["overview"], result["rebuild"]
    rows = [
        ("scenario", "data", "measured", "target", "result"),
        (
            "overview",
            f"{result['contacts']:,} contacts, {result['ledger_events']:,} ledger events",
            f"p50 {o['p50_ms']} ms, p99 {o['p99_ms']} ms ({o['queries']} queries)",
            f"p99 < {o['target_p99_ms']:.0f} ms",
            "PASS" if o["passed"] else "FAIL",
        ),
        (
            "rollups_rebuild",
            f"{rebuilt['ledger_events']:,} changes, {rebuilt['subscriptions']:,} subscriptions",
            f"{rebuilt['seconds']} s",
            "-",
            "-",
        ),
        (
            "rollups_refresh",
            f"{result['refresh']['writes']:,} new withdrawals",
            f"{result['refresh']['seconds']} s ({result['refresh']['feed_events_read']:,} feed events read)",
            "-",
            "-",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines
