"""BENCH_ONLY=backfill: a backfill of BENCH_BACKFILL_CONTACTS (100,000 by default) into a vendor's
fake (BENCH_VENDOR: klaviyo, the default, mailchimp, hubspot, salesforce, or all), against the
two bounds that can apply:

- the vendor's ceiling: contacts a call (measured in the CPU-bound run: the connector's own
  batches, calls per batch as its mapping needs) times the calls a second the vendor documents
  for these endpoints, in contacts/s: Klaviyo 750 a minute (burst 75/s), HubSpot 19 a second
  (190 per ten seconds for a private app); Mailchimp documents no rate for batch operations
  and Salesforce only a daily allocation (which a backfill of this size stays inside), so for
  those two no rate applies;
- one worker's CPU-bound rate, measured in the same run: the same backfill into a fake with no
  latency and no limit (what reading the contacts' state, building the calls and recording
  progress cost).

The measured run is the fake with 50 ms per call and the vendor's limits enforced (429 and
Retry-After beyond them, waited out by the backfill). The backfill runs in this process, as the
worker's task does (backfill_chunk; a chunk longer than the run, so no broker hop is measured).
Target: at least 50% of the lower bound, and every contact in the vendor, each sent once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

CONTACTS = int(os.environ.get("BENCH_BACKFILL_CONTACTS", "100000"))
VENDORS = ("klaviyo", "mailchimp", "hubspot", "salesforce")
VENDOR_LATENCY_S = 0.05
TARGET = 0.50
KLAVIYO_KEY = "pk_bench_0123456789abcdef"
KLAVIYO_LIST = "LstNews"
MAILCHIMP_LIST = "a1b2c3d4e5"  # the Mailchimp fake's audience
HUBSPOT_TYPE = "101"
UNLIMITED = 10**9


@dataclass(frozen=True)
class Vendor:
    """What the bench needs of one vendor: its connector, its fake (with `latency` seconds a call,
    its limits enforced or lifted), what the org must hold first, and what the fake then holds."""

    name: str
    calls_per_second: float | None  # the documented rate for these endpoints; None: none applies
    rate_note: str
    connector: Callable[[Any], dict[str, Any]]
    fake: Callable[[float, bool], Any]
    seed: Callable[[Any, int], None]
    sent: Callable[[Any], int]  # contacts written, a contact written twice counting twice
    held: Callable[[Any], int]  # contacts the vendor holds subscribed


def _klaviyo_fake(latency: float, limited: bool) -> Any:
    from tests.fakes.klaviyo import FakeKlaviyo

    return FakeKlaviyo(
        api_keys={KLAVIYO_KEY},
        latency=latency,
        burst_per_second=75 if limited else UNLIMITED,
        steady_per_minute=750 if limited else UNLIMITED,
    )


def _mailchimp_fake(latency: float, limited: bool) -> Any:
    from tests.fakes.mailchimp import FakeMailchimp

    return FakeMailchimp(latency=latency)  # its limit is 10 connections a key, always enforced


def _hubspot_fake(latency: float, limited: bool) -> Any:
    from tests.fakes.hubspot import FakeHubSpot

    if limited:
        return FakeHubSpot(latency=latency)  # 190 per 10 s, 19 a second: a private app's
    return FakeHubSpot(latency=latency, window_max=UNLIMITED, per_second=UNLIMITED, daily_max=UNLIMITED)


def _salesforce_fake(latency: float, limited: bool) -> Any:
    from tests.fakes.salesforce import FakeSalesforce

    # An Enterprise org's daily allocation: 100,000 calls plus 1,000 a user licence (here 50).
    fake = FakeSalesforce(latency=latency, api_max=150_000 if limited else UNLIMITED)
    fake.add_custom_field("Contact", "Candor_Id__c")
    fake.dup = fake.insert("DataUsePurpose", Name="News")  # type: ignore[attr-defined]
    return fake


def _salesforce_seed(fake: Any, count: int) -> None:
    """The org's Contacts, one per Candor contact (Candor never creates them), straight into its
    store: the CRM had them before the connector."""
    from bench.seed import external_id

    for n in range(1, count + 1):
        fake.insert("Contact", LastName=f"P{n}", Email=f"person{n}@example.com", Candor_Id__c=external_id(n))


def _klaviyo_sent(fake: Any) -> int:
    jobs = [r for r in fake.requests if r["path"].endswith("bulk-create-jobs")]
    return sum(len(r["body"]["data"]["attributes"]["profiles"]["data"]) for r in jobs)


def _hubspot_sent(fake: Any) -> int:
    path = "/communication-preferences/v4/statuses/batch/write"
    return sum(len(r["body"]["inputs"]) for r in fake.requests if r["path"] == path)


def _salesforce_sent(fake: Any) -> int:
    return sum(
        1
        for r in fake.requests
        if r.get("path") == "/composite/sobjects" and r.get("method") == "POST"
        for record in r["body"]["records"]
        if record.get("attributes", {}).get("type") == "ContactPointTypeConsent"
    )


def _salesforce_held(fake: Any) -> int:
    return len(fake.find("ContactPointTypeConsent", PrivacyConsentStatus="OptIn"))


def _purpose() -> str:
    from bench.seed import PURPOSE_SLUG

    return PURPOSE_SLUG


SPECS = {
    "klaviyo": Vendor(
        name="klaviyo",
        calls_per_second=750 / 60,
        rate_note="750 calls a minute (burst 75/s)",
        connector=lambda fake: {
            "credentials": {"api_key": KLAVIYO_KEY},
            "mapping": {"lists": [{"list": KLAVIYO_LIST, "purpose": _purpose(), "channels": ["email"]}]},
        },
        fake=_klaviyo_fake,
        seed=lambda fake, count: None,
        sent=_klaviyo_sent,
        held=lambda fake: len(fake.subscribed(KLAVIYO_LIST)),
    ),
    "mailchimp": Vendor(
        name="mailchimp",
        calls_per_second=None,
        rate_note="none documented for batch operations (10 connections a key)",
        connector=lambda fake: {
            "credentials": {"api_key": __import__("tests.fakes.mailchimp", fromlist=["KEY"]).KEY},
            "mapping": {"lists": [{"list": MAILCHIMP_LIST, "purpose": _purpose()}]},
        },
        fake=_mailchimp_fake,
        seed=lambda fake, count: None,
        sent=lambda fake: len(fake.writes),
        held=lambda fake: sum(1 for v in fake.statuses(MAILCHIMP_LIST).values() if v == "subscribed"),
    ),
    "hubspot": Vendor(
        name="hubspot",
        calls_per_second=19.0,
        rate_note="19 calls a second, 190 per ten seconds (a private app)",
        connector=lambda fake: {
            "credentials": {"access_token": __import__("tests.fakes.hubspot", fromlist=["TOKEN"]).TOKEN},
            "mapping": {"subscriptions": [{"subscription_id": HUBSPOT_TYPE, "purpose": _purpose()}]},
        },
        fake=_hubspot_fake,
        seed=lambda fake, count: None,
        sent=_hubspot_sent,
        held=lambda fake: sum(
            1
            for (_email, sid), row in fake.statuses.items()
            if sid == HUBSPOT_TYPE and row["status"] == "SUBSCRIBED"
        ),
    ),
    "salesforce": Vendor(
        name="salesforce",
        calls_per_second=None,
        rate_note="a daily allocation only (150,000 calls here), which the backfill stays inside",
        connector=lambda fake: {
            "credentials": {"client_id": "3MVG9.candor.client", "client_secret": "s3cret-client-secret"},
            "mapping": {
                "object": "Contact",
                "match_field": "Candor_Id__c",
                "purposes": [{"purpose": _purpose(), "data_use_purpose": fake.dup, "channels": ["email"]}],
            },
        },
        fake=_salesforce_fake,
        seed=_salesforce_seed,
        sent=_salesforce_sent,
        held=_salesforce_held,
    ),
}


def _counting(fake: Any) -> Any:
    """Count every call the fake answers, and its 429s, at the WSGI layer (the same for all)."""
    inner = fake.wsgi
    fake.bench_calls, fake.bench_throttled = 0, 0

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: Any, *args: Any) -> Any:
            fake.bench_calls += 1
            fake.bench_throttled += status.startswith("429")
            return start_response(status, headers, *args)

        return inner(environ, start)

    fake.wsgi = wsgi
    return fake


def _backfill(*, spec: Vendor, brand_id: int, fake: Any, base_url: str) -> dict[str, Any]:
    from brands.audit import Actor
    from brands.models import Brand
    from sync.delivery.connectors.backfill import backfill_chunk, backfill_start
    from sync.delivery.connectors.services import connector_create
    from sync.models import BackfillRun

    connector = connector_create(
        brand=Brand.objects.get(pk=brand_id),
        actor=Actor.system("bench"),
        name=f"bench {base_url}",
        vendor=spec.name,
        api_base_url=base_url,
        **spec.connector(fake),
    )
    run = backfill_start(connector=connector, actor=Actor.system("bench"))
    calls_before = fake.bench_calls
    started = time.monotonic()
    outcome = backfill_chunk(run_id=run.pk, budget=10**6)
    seconds = time.monotonic() - started
    run = BackfillRun.objects.get(pk=run.pk)
    return {
        "outcome": outcome,
        "status": run.status,
        "done": run.done,
        "failed": run.failed,
        "seconds": round(seconds, 2),
        "contacts_per_s": round(run.done / seconds, 1) if seconds else None,
        "calls": fake.bench_calls - calls_before,
        "throttled": fake.bench_throttled,
        "subscribed": spec.held(fake),
        "sent": spec.sent(fake),
    }


def _vendor_run(*, spec: Vendor, brand_id: int, harness: Any) -> tuple[dict[str, Any], list[Any], list[str]]:
    """Both runs for one vendor; its results, checks and report lines."""
    from sync.delivery.connectors.registry import adapter_for

    results: dict[str, dict[str, Any]] = {}
    for name, latency, limited in (("cpu_bound", 0.0, False), ("vendor_limited", VENDOR_LATENCY_S, True)):
        fake = _counting(spec.fake(latency, limited))
        spec.seed(fake, CONTACTS)
        base_url = fake.start()
        try:
            harness.log(f"bench: {spec.name} backfill {name} ({CONTACTS:,} contacts) …")
            results[name] = _backfill(spec=spec, brand_id=brand_id, fake=fake, base_url=base_url)
        finally:
            fake.stop()
        harness.log(f"bench: {spec.name} {name}: {results[name]}")
    adapter = adapter_for(spec.name)
    assert adapter is not None
    batch = int(getattr(adapter, "bulk_batch", adapter.max_batch))
    cpu_run = results["cpu_bound"]
    per_call = cpu_run["done"] / cpu_run["calls"] if cpu_run["calls"] else 0.0
    ceiling = spec.calls_per_second * per_call if spec.calls_per_second is not None else float("inf")
    cpu = cpu_run["contacts_per_s"] or 0.0
    bound, bound_name = min((ceiling, "vendor"), (cpu, "cpu"))
    measured = results["vendor_limited"]["contacts_per_s"] or 0.0
    ratio = measured / bound if bound else 0.0
    exact = all(
        r["subscribed"] == CONTACTS and r["sent"] == CONTACTS and r["done"] == CONTACTS
        for r in results.values()
    )
    slow = results["vendor_limited"]
    checks = [
        harness.Check(
            f"backfill_{spec.name}",
            f">= {TARGET:.0%} of the lower bound ({bound_name}: {bound:.0f} contacts/s)",
            f"{measured:.0f} contacts/s, {ratio:.0%}",
            ratio >= TARGET,
        ),
        harness.Check(
            f"backfill_{spec.name}_exact",
            "every contact in the vendor, each sent once",
            f"{slow['subscribed']:,} held, {slow['sent']:,} sent",
            exact,
        ),
    ]
    lines = [
        f"{spec.name}: backfill of {CONTACTS:,} contacts, batches of {batch}, {per_call:.0f} contacts a call",
        (
            f"  vendor ceiling: {spec.rate_note}: {ceiling:.0f} contacts/s"
            if spec.calls_per_second is not None
            else f"  vendor ceiling: {spec.rate_note}: none"
        ),
        f"  one worker, CPU-bound (no latency, no limit): {cpu:.0f} contacts/s in {cpu_run['seconds']} s",
        f"  measured (50 ms a call, limits enforced): {measured:.0f} contacts/s in "
        f"{slow['seconds']} s, {slow['calls']} calls, {slow['throttled']} answered 429",
        f"  the lower bound is the {bound_name}'s: {ratio:.0%} of it",
    ]
    summary = {
        "runs": results,
        "batch": batch,
        "vendor_ceiling": ceiling if ceiling != float("inf") else None,
        "bound": bound_name,
        "ratio": round(ratio, 3),
    }
    return summary, checks, lines


def run(database_url: str, harness: Any) -> dict[str, Any]:
    started = time.monotonic()
    chosen = os.environ.get("BENCH_VENDOR", "klaviyo")
    names = VENDORS if chosen == "all" else (chosen,)
    if any(name not in SPECS for name in names):
        raise SystemExit(f"BENCH_VENDOR is one of {', '.join(VENDORS)} or all, not {chosen!r}")
    port = harness.free_port()
    env = harness.bench_environment(port, database_url)
    from cryptography.fernet import Fernet

    env.update(CONNECTOR_KEYS=Fernet.generate_key().decode())
    os.environ.update(env)
    database = harness.fresh_database(env)

    import django

    django.setup()
    from bench.seed import seed_base

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    harness.migrate()
    # Each contact with an address and the newsletter purpose granted, as consent_record leaves it.
    seeded = seed_base(contacts=CONTACTS, ceiling_rows=0, log=harness.log)
    harness.log(f"bench: seeded {CONTACTS:,} contacts in {seeded.seconds:.1f} s")

    vendors: dict[str, Any] = {}
    checks: list[Any] = []
    lines: list[str] = []
    for name in names:
        vendors[name], vendor_checks, vendor_lines = _vendor_run(
            spec=SPECS[name], brand_id=seeded.brand_id, harness=harness
        )
        checks += vendor_checks
        lines += [*vendor_lines, ""]
    lines += [
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
        "backfill": vendors,
        "checks": [asdict(check) for check in checks],
        "notes": [],
        "table": "\n".join(lines),
    }
