"""BENCH_ONLY=backfill: a backfill of BENCH_BACKFILL_CONTACTS (100,000 by default) into the Klaviyo
fake, against the two bounds that can apply:

- the vendor's ceiling: the connector's batch (the adapter's max_batch, 100: Klaviyo's
  unsubscribe job takes at most 100 profiles, and one batch may need both jobs) times the
  steady rate Klaviyo allows these endpoints (750 calls a minute; burst 75/s), in contacts/s;
- one worker's CPU-bound rate, measured in the same run: the same backfill into a fake with no
  latency and no limit (what reading the contacts' state, building the jobs and recording
  progress cost).

The measured run is the fake with 50 ms per call and Klaviyo's limits enforced (429 and
Retry-After beyond them, waited out by the backfill). The backfill runs in this process, as the
worker's task does (backfill_chunk; a chunk longer than the run, so no broker hop is measured).
Target: at least 50% of the lower bound, and every contact in the fake exactly once.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

CONTACTS = int(os.environ.get("BENCH_BACKFILL_CONTACTS", "100000"))
# klaviyo (the target's) or mailchimp: its fake, batch operations for batches of 5000.
VENDOR = os.environ.get("BENCH_VENDOR", "klaviyo")
VENDOR_LATENCY_S = 0.05
STEADY_PER_MINUTE = 750
BURST_PER_SECOND = 75
TARGET = 0.50
API_KEY = "pk_bench_0123456789abcdef"
LIST = "LstNews"
MAILCHIMP_LIST = "a1b2c3d4e5"  # the Mailchimp fake's audience


def _backfill(*, brand_id: int, fake: Any, base_url: str) -> dict[str, Any]:
    from brands.audit import Actor
    from brands.models import Brand
    from sync.delivery.connectors.backfill import backfill_chunk, backfill_start
    from sync.delivery.connectors.services import connector_create
    from sync.models import BackfillRun
    from tests.connectors.bulk import TOPIC

    if VENDOR == "mailchimp":
        from tests.fakes.mailchimp import KEY

        vendor_args: dict[str, Any] = {
            "vendor": "mailchimp",
            "credentials": {"api_key": KEY},
            "mapping": {"lists": [{"list": MAILCHIMP_LIST, "topic": TOPIC}]},
        }
    else:
        vendor_args = {
            "vendor": "klaviyo",
            "credentials": {"api_key": API_KEY},
            "mapping": {"lists": [{"list": LIST, "topic": TOPIC, "channels": ["email"]}]},
        }
    connector = connector_create(
        brand=Brand.objects.get(pk=brand_id),
        actor=Actor.system("bench"),
        name=f"bench {base_url}",
        api_base_url=base_url,
        **vendor_args,
    )
    run = backfill_start(connector=connector, actor=Actor.system("bench"))
    calls_before = len(fake.calls)
    started = time.monotonic()
    outcome = backfill_chunk(run_id=run.pk, budget=10**6)
    seconds = time.monotonic() - started
    run = BackfillRun.objects.get(pk=run.pk)
    if VENDOR == "mailchimp":
        sent = len(fake.writes)
        subscribed = sum(1 for status in fake.statuses(MAILCHIMP_LIST).values() if status == "subscribed")
    else:
        jobs = [r for r in fake.requests if r["path"].endswith("bulk-create-jobs")]
        sent = sum(len(r["body"]["data"]["attributes"]["profiles"]["data"]) for r in jobs)
        subscribed = len(fake.subscribed(LIST))
    return {
        "outcome": outcome,
        "status": run.status,
        "done": run.done,
        "failed": run.failed,
        "seconds": round(seconds, 2),
        "contacts_per_s": round(run.done / seconds, 1) if seconds else None,
        "calls": len(fake.calls) - calls_before,
        "throttled": fake.throttled,
        "subscribed": subscribed,
        "sent": sent,
    }


def _fake_mailchimp(*, latency: float) -> Any:
    """Mailchimp's fake, counting its calls and 429s: 10 connections per key (its documented
    limit), `latency` seconds a call; batch operations run in the fake's own queue."""
    from tests.fakes.mailchimp import FakeMailchimp, Refusal

    class CountingMailchimp(FakeMailchimp):
        throttled = 0
        calls: list[str]

        def _connect(self, key: str, *, batch: bool, poll: bool = False) -> None:
            self.calls.append(key)
            try:
                super()._connect(key, batch=batch, poll=poll)
            except Refusal:
                self.throttled += 1
                raise

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    fake = CountingMailchimp(latency=latency)
    fake.calls = []
    return fake


def _fake(*, latency: float, limited: bool) -> Any:
    if VENDOR == "mailchimp":
        return _fake_mailchimp(latency=latency)
    from tests.fakes.klaviyo import FakeKlaviyo, Refusal

    class CountingKlaviyo(FakeKlaviyo):
        throttled = 0

        def _rate(self, job: bool) -> None:
            try:
                super()._rate(job)
            except Refusal:
                self.throttled += 1
                raise

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if limited:
        return CountingKlaviyo(
            api_keys={API_KEY},
            latency=latency,
            burst_per_second=BURST_PER_SECOND,
            steady_per_minute=STEADY_PER_MINUTE,
        )
    return CountingKlaviyo(api_keys={API_KEY}, latency=0.0, burst_per_second=10**9, steady_per_minute=10**9)


def run(database_url: str, harness: Any) -> dict[str, Any]:
    started = time.monotonic()
    port = harness.free_port()
    env = harness.bench_environment(port, database_url)
    from cryptography.fernet import Fernet

    env.update(CONNECTOR_KEYS=Fernet.generate_key().decode())
    os.environ.update(env)
    database = harness.fresh_database(env)

    import django

    django.setup()
    from brands.audit import Actor
    from brands.services import brand_create
    from sync.delivery.connectors.klaviyo import KlaviyoAdapter
    from sync.delivery.connectors.mailchimp import MailchimpAdapter
    from tests.connectors.bulk import contacts_subscribed, news_topic

    harness.migrate()
    step = time.monotonic()
    brand, _ = brand_create(
        actor=Actor.system("bench"), slug="bench-backfill", name="Bench", jurisdiction="DE"
    )
    news_topic(brand=brand)
    for start in range(0, CONTACTS, 20_000):
        contacts_subscribed(brand=brand, count=min(20_000, CONTACTS - start), start=start)
    harness.log(f"bench: seeded {CONTACTS:,} contacts in {time.monotonic() - step:.1f} s")

    results = {}
    for name, latency, limited in (("cpu_bound", 0.0, False), ("vendor_limited", VENDOR_LATENCY_S, True)):
        fake = _fake(latency=latency, limited=limited)
        base_url = fake.start()
        try:
            harness.log(f"bench: backfill {name} ({CONTACTS:,} contacts) …")
            results[name] = _backfill(brand_id=brand.pk, fake=fake, base_url=base_url)
        finally:
            fake.stop()
        harness.log(f"bench: {name}: {results[name]}")
    if VENDOR == "mailchimp":
        # Mailchimp documents no rate for batch operations: the bound is the CPU-bound run's.
        batch = MailchimpAdapter.bulk_batch
        vendor_ceiling = float("inf")
    else:
        batch = KlaviyoAdapter.max_batch
        vendor_ceiling = batch * STEADY_PER_MINUTE / 60
    cpu = results["cpu_bound"]["contacts_per_s"] or 0.0
    bound, bound_name = min((vendor_ceiling, "vendor"), (cpu, "cpu"))
    measured = results["vendor_limited"]["contacts_per_s"] or 0.0
    ratio = measured / bound if bound else 0.0
    exact = all(
        r["subscribed"] == CONTACTS and r["sent"] == CONTACTS and r["done"] == CONTACTS
        for r in results.values()
    )
    limited = results["vendor_limited"]
    checks = [
        harness.Check(
            "backfill",
            f">= {TARGET:.0%} of the lower bound ({bound_name}: {bound:.0f} contacts/s)",
            f"{measured:.0f} contacts/s, {ratio:.0%}",
            ratio >= TARGET,
        ),
        harness.Check(
            "backfill_exact",
            "every contact in the fake, each sent once",
            f"{limited['subscribed']:,} subscribed, {limited['sent']:,} sent",
            exact,
        ),
    ]
    lines = [
        f"backfill of {CONTACTS:,} contacts into the {VENDOR.capitalize()} fake, batches of {batch}",
        (
            "  vendor ceiling: none documented for Mailchimp's batch operations"
            if VENDOR == "mailchimp"
            else f"  vendor ceiling: {batch} x {STEADY_PER_MINUTE}/min = {vendor_ceiling:.0f} contacts/s "
            f"(burst {BURST_PER_SECOND}/s; a subscribe-only batch could carry 1000: see bench/README.md)"
        ),
        f"  one worker, CPU-bound (no latency, no limit): {cpu:.0f} contacts/s "
        f"in {results['cpu_bound']['seconds']} s",
        f"  measured (50 ms a call, limits enforced): {measured:.0f} contacts/s in "
        f"{results['vendor_limited']['seconds']} s, {results['vendor_limited']['calls']} calls, "
        f"{results['vendor_limited']['throttled']} answered 429",
        f"  the lower bound is the {bound_name}'s: {ratio:.0%} of it",
        "",
        "Checks:",
        *(
            f"  {'PASS' if c.passed else 'FAIL'}  {c.scenario}: {c.target} (measured {c.measured})"
            for c in checks
        ),
    ]
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": harness.git_revision(),
        "seconds": round(time.monotonic() - started, 1),
        "machine": harness.machine_info(),
        "database": database,
        "backfill": results,
        "vendor": VENDOR,
        "vendor_ceiling": vendor_ceiling if vendor_ceiling != float("inf") else None,
        "checks": [asdict(check) for check in checks],
        "notes": [],
        "table": "\n".join(lines),
    }
