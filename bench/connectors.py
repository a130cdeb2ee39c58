"""BENCH_ONLY=connectors: issue 14's speed targets for the connectors, on a fresh database.

- `inbound_ingest`: Klaviyo's signed webhook calls (one unsubscribe each, a different contact
  each, every signature and timestamp real) POSTed by wrk to /hooks/klaviyo/{connector}, against
  `ceiling_insert` (a DRF view inserting one row) measured in the same run on the same server.
  Each call finds the connector, decrypts its credentials, verifies the signature and keeps the
  signal (one INSERT, deduplicated by the vendor's event id), and is answered; the ledger write
  follows in the worker (sync.delivery.connectors.inbound). No worker runs during the
  measurement; afterwards the harness applies the backlog and checks every signal landed.
  The hooks' per-connector rate limit is raised for the run (CONNECTOR_HOOK_RATE): it guards a
  real vendor, and here it would measure itself.
- `commit_to_vendor`: the time from a consent write's answer (committed) to the Klaviyo fake
  holding the change, through the real path: the outbox, a real Celery worker (one, solo pool)
  on a Redis broker, the connector's push with the fake's 50 ms latency per call; writes spaced
  out with an idle queue. Target: median under 2 s.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bench import webhooks as bench_webhooks

INGEST_RATIO_TARGET = 0.30
COMMIT_MEDIAN_TARGET_S = 2.0
VENDOR_LATENCY_S = 0.05
INGEST_CONTACTS = int(os.environ.get("BENCH_INGEST_CONTACTS", "25000"))
WARMUP_CALLS = 4000
IDLE_WRITES = 30
IDLE_SPACING = 0.3
SECRET = "bench-webhook-secret-0123456789"
API_KEY = "pk_bench_0123456789abcdef"
WEBHOOK_ID = "01BENCHWEBHOOK000000000000"


def _fake() -> Any:
    """The Klaviyo fake of the tests, recording when each profile's change was applied."""
    from tests.fakes.klaviyo import FakeKlaviyo

    class TimedKlaviyo(FakeKlaviyo):
        applied: dict[str, list[float]]

        def _apply(self, plan: Any, *, subscribe: bool) -> None:
            super()._apply(plan, subscribe=subscribe)
            now = time.time()
            for identifier, _channel, _at in plan[1]:
                self.applied.setdefault(identifier, []).append(now)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per fake call otherwise
    fake = TimedKlaviyo(api_keys={API_KEY}, latency=VENDOR_LATENCY_S)
    fake.applied = {}
    return fake


def _connector(*, brand_id: int, purpose_slug: str, base_url: str) -> Any:
    from brands.audit import Actor
    from brands.models import Brand
    from sync.delivery.connectors.services import connector_create

    return connector_create(
        brand=Brand.objects.get(pk=brand_id),
        actor=Actor.system("bench"),
        vendor="klaviyo",
        name="bench",
        credentials={"api_key": API_KEY, "webhook_secret": SECRET},
        mapping={"lists": [{"list": "LstNews", "purpose": purpose_slug, "channels": ["email"]}]},
        api_base_url=base_url,
    )


def _signed_line(path: str, number: int, serial: str) -> tuple[str, dict[str, str], str]:
    """One Klaviyo call: an email-marketing unsubscribe of person{number}, signed now."""
    from tests.fakes.klaviyo_webhooks import klaviyo_event, klaviyo_webhook

    event = klaviyo_event(
        topic="event:klaviyo.unsubscribed_from_email_marketing",
        email=f"person{number}@example.com",
        event_id=f"bench-{serial}-{number}",
        at=datetime.now(UTC).isoformat(),
    )
    headers, body = klaviyo_webhook(secret=SECRET, events=[event], webhook_id=WEBHOOK_ID)
    headers.pop("Content-Type")
    return path, headers, body.decode()


def ingest_scenarios(scenario_class: Any, *, connector_public_id: str, contacts: int) -> list[Any]:
    path = f"/hooks/klaviyo/{connector_public_id}"
    serial = str(int(time.time()))
    numbers = list(range(1, contacts + 1))
    random.Random(14).shuffle(numbers)

    def line(number: int) -> str:
        p, headers, body = _signed_line(path, number, serial)
        return "\t".join([p, *(f"{name}: {value}" for name, value in headers.items()), body])

    warm, measured = numbers[:WARMUP_CALLS], numbers[WARMUP_CALLS:]
    return [
        scenario_class(
            "ceiling_insert",
            "DRF view inserting one row",
            "POST",
            "/api/v1/bench/insert",
            1,
            body='{"value":"bench"}',
            expected_status=201,
        ),
        scenario_class(
            "inbound_ingest",
            "Klaviyo's signed unsubscribe webhook, one contact each",
            "POST",
            path,
            1,
            requests=[line(n) for n in measured],
            warmup_requests=[line(n) for n in warm],
            check_whole=_signed_line(path, 0, serial),  # person0 does not exist: recorded as unknown
        ),
    ]


def commit_to_vendor(
    *, port: int, seeded: Any, env: dict[str, str], server_factory: Any, fake: Any
) -> dict[str, Any]:
    """Idle writes through the API; each one's time until the fake applied its contact's change."""
    from django.db import connection

    writer = bench_webhooks.Writer(port=port, seeded=seeded)
    connection.close()
    server = server_factory(port, env, log_name="bench-gunicorn-connectors.log")
    processes = [bench_webhooks.worker(env)]
    try:
        server.start()
        for process in processes:
            process.start()
        client = writer.connection()
        results: list[tuple[float, str]] = []
        for index in range(IDLE_WRITES + 3):
            _sent, arrived, _event = writer.write(client)
            external = writer.contacts[writer.next - 1][0]
            if index >= 3:  # the first three warm the worker's connections
                results.append((arrived, external))
            time.sleep(IDLE_SPACING)
        client.close()
        deadline = time.monotonic() + 60
        latencies: list[float] = []
        missing = 0
        for arrived, external in results:
            email = _email_of(seeded, external)
            while True:
                times = [t for t in fake.applied.get(email, []) if t >= arrived]
                if times or time.monotonic() > deadline:
                    break
                for process in processes:
                    process.check()
                time.sleep(0.05)
            if times:
                latencies.append(min(times) - arrived)
            else:
                missing += 1
    finally:
        for process in processes:
            process.stop()
        server.stop()
    latencies.sort()
    median = latencies[len(latencies) // 2] if latencies else float("nan")
    return {
        "writes": len(results),
        "applied": len(latencies),
        "missing": missing,
        "median_s": round(median, 3),
        "max_s": round(max(latencies), 3) if latencies else None,
        "spacing_s": IDLE_SPACING,
        "vendor_latency_s": VENDOR_LATENCY_S,
        "worker": " ".join(processes[0].command[1:]),
    }


def _email_of(seeded: Any, external: str) -> str:
    from consent.models import Contact

    email = Contact.objects.filter(brand_id=seeded.brand_id, external_id=external).values_list(
        "email", flat=True
    )
    return str(email.first())


def run(database_url: str, harness: Any) -> dict[str, Any]:
    """The phase, with bench.run's helpers passed in as `harness` (it imports this module)."""
    started = time.monotonic()
    port = harness.free_port()
    env = harness.bench_environment(port, database_url)
    from cryptography.fernet import Fernet

    env.update(
        CONNECTOR_KEYS=Fernet.generate_key().decode(),
        CONNECTOR_HOOK_RATE="1000000/min",
    )
    os.environ.update(env)
    database = harness.fresh_database(env)

    import django

    django.setup()
    from django.db import connection

    from bench import seed

    harness.migrate()
    step = time.monotonic()
    seeded = seed.seed_base(contacts=INGEST_CONTACTS, ceiling_rows=1, log=harness.log)
    harness.log(f"bench: seeded {INGEST_CONTACTS:,} contacts in {time.monotonic() - step:.1f} s")
    fake = _fake()
    base_url = fake.start()
    try:
        connector = _connector(brand_id=seeded.brand_id, purpose_slug=seeded.purpose_slug, base_url=base_url)
        connection.close()
        scenarios = ingest_scenarios(
            harness.Scenario, connector_public_id=connector.public_id, contacts=INGEST_CONTACTS
        )
        server = harness.Server(port, env)
        harness.log(f"bench: starting {server.description} on 127.0.0.1:{port}")
        server.start()
        try:
            for scenario in scenarios:
                harness.measure(port, scenario)
        finally:
            server.stop()
        from sync.delivery.connectors.inbound import signals_apply_pending
        from sync.models import InboundSignal

        accepted = InboundSignal.objects.filter(connector=connector).count()
        step = time.monotonic()
        applied = signals_apply_pending(limit=10**9)
        apply_seconds = time.monotonic() - step
        recorded = InboundSignal.objects.filter(connector=connector, outcome="recorded").count()
        if recorded != accepted - 1:  # all but the check call's unknown person0
            raise harness.HarnessError(f"{accepted} signals accepted, {recorded} recorded in the ledger")
        # The ingest's own events are not the latency's queue: that connector stops here, and a
        # new one (starting at the feed's end, as every new connector does) is measured.
        from brands.audit import Actor
        from sync.delivery.connectors.services import connector_update

        connector_update(connector=connector, actor=Actor.system("bench"), status="disabled")
        _connector(brand_id=seeded.brand_id, purpose_slug=seeded.purpose_slug, base_url=base_url)
        connection.close()
        # The latency on a broker of its own, as the webhook phase does.
        saved = os.environ.get("CELERY_BROKER_URL")
        with bench_webhooks.broker() as url:
            os.environ["CELERY_BROKER_URL"] = url
            try:
                latency = commit_to_vendor(
                    port=port,
                    seeded=seeded,
                    env={**env, "CELERY_BROKER_URL": url},
                    server_factory=harness.Server,
                    fake=fake,
                )
            finally:
                if saved is not None:
                    os.environ["CELERY_BROKER_URL"] = saved
    finally:
        fake.stop()
    by_name = {s.name: s for s in scenarios}
    ingest, ceiling = by_name["inbound_ingest"], by_name["ceiling_insert"]
    ratio = ingest.rps / ceiling.rps
    checks = [
        harness.Check(
            "inbound_ingest",
            f">= {INGEST_RATIO_TARGET:.0%} of ceiling_insert req/s",
            f"{ratio:.1%}",
            ratio >= INGEST_RATIO_TARGET,
        ),
        harness.Check(
            "commit_to_vendor",
            f"median < {COMMIT_MEDIAN_TARGET_S:.0f} s with an idle queue, none missing",
            f"{latency['median_s']:.3f} s ({latency['applied']}/{latency['writes']} applied)",
            latency["median_s"] < COMMIT_MEDIAN_TARGET_S and latency["missing"] == 0,
        ),
    ]
    lines = [
        f"{'scenario':<20} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8}",
        *(
            f"{s.name:<20} {s.rps:9.1f} {s.result['latency_us']['p50'] / 1000:8.2f} "
            f"{s.result['latency_us']['p99'] / 1000:8.2f}"
            for s in scenarios
        ),
        f"(inbound_ingest: {accepted:,} calls accepted over warm-up and run; applied to the ledger "
        f"afterwards by one process, {applied / apply_seconds:.0f}/s, {recorded:,} recorded)",
        f"commit_to_vendor: median {latency['median_s']:.3f} s, max {latency['max_s']} s over "
        f"{latency['writes']} writes {IDLE_SPACING * 1000:.0f} ms apart; the fake adds "
        f"{VENDOR_LATENCY_S * 1000:.0f} ms per call",
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
        "scenarios": {
            s.name: {key: value for key, value in s.result.items() if key != "wrk_output"} for s in scenarios
        },
        "commit_to_vendor": latency,
        "checks": [asdict(check) for check in checks],
        "notes": [],
        "table": "\n".join(lines),
    }
