"""BENCH_ONLY=connectors: issue 14's speed targets for the connectors, per vendor, on a fresh database.

One code path, run for each vendor (`BENCH_CONNECTOR_VENDORS`, default all four) against the
tests' fake of that vendor (each adds 50 ms of latency per call); a `Vendor` says only what
differs: how the fake is made and timed, the connector's credentials and mapping, how the
vendor signs its webhook calls, and what the fake must hold first.

- `inbound_ingest` (the vendors whose inbound is a webhook: Klaviyo, Mailchimp, HubSpot): the
  vendor's own unsubscribe calls, one contact each, signed the vendor's way (Klaviyo's HMAC of
  body and timestamp, Mailchimp's secret in the URL on a form body, HubSpot's v3 signature of
  method, URL, body and timestamp), POSTed by wrk to /hooks/{vendor}/{connector}, against
  `ceiling_insert` (a DRF view inserting one row) measured just before and again just after on
  the same server (`ceiling_after`), so each vendor's ratio is of its own same-run ceiling, the
  mean of the two (on a shared machine either alone may catch a moment the calls did not have).
  Each call finds the connector, decrypts its credentials, verifies the call and keeps the
  signal (one INSERT, deduplicated by the vendor's event id; HubSpot's also reads its contact id
  back to the contact, as its events name no one else: the ids are seeded as its pushes would
  have kept them), and is answered; the ledger write follows in the worker
  (sync.delivery.connectors.inbound). No worker runs during the measurement; afterwards the
  harness applies the backlog and checks every signal landed. The hooks' per-connector rate
  limit is raised for the run (CONNECTOR_HOOK_RATE): it guards a real vendor, and here it would
  measure itself.
- `commit_to_vendor` (all four): the time from a consent write's answer (committed) to the fake
  holding the change, through the real path: the outbox, a real Celery worker (one, solo pool)
  on a Redis broker, the connector's push with the fake's 50 ms latency per call; writes spaced
  out with an idle queue. Target: median under 2 s. Salesforce's inbound is polling (no
  webhook), so only this is measured for it; its org holds a Contact for each contact written
  (Candor never creates them), and its first push of a contact makes the Individual, the
  address and both consents (about eight calls).

Each phase uses connectors of its own, created at the end of the feed and disabled when it ends,
so one vendor's traffic never queues behind another's; the commit writes of each vendor go to
contacts no other vendor's writes touched.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bench import webhooks as bench_webhooks

INGEST_RATIO_TARGET = 0.30
COMMIT_MEDIAN_TARGET_S = 2.0
VENDOR_LATENCY_S = 0.05
INGEST_CONTACTS = int(os.environ.get("BENCH_INGEST_CONTACTS", "25000"))
VENDORS = [
    v.strip()
    for v in os.environ.get("BENCH_CONNECTOR_VENDORS", "klaviyo,mailchimp,hubspot,salesforce").split(",")
    if v.strip()
]
WARMUP_CALLS = 4000
IDLE_WRITES = 30
IDLE_SPACING = 0.3
WRITES_PER_VENDOR = IDLE_WRITES + 3  # the first three warm the worker's connections
SECRET = "bench-webhook-secret-0123456789"


def _timed(cls: type, record: Callable[[Any, Any, Any], None], method: str) -> type:
    """A subclass of the fake `cls` whose `method` also calls `record(self, args, result)` with
    the time: when the fake applied a change, for commit_to_vendor."""

    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = getattr(super(timed, self), method)(*args, **kwargs)
        record(self, args, result)
        return result

    timed = type(f"Timed{cls.__name__}", (cls,), {method: wrapped})
    return timed


def _stamp(fake: Any, key: str) -> None:
    fake.applied.setdefault(key, []).append(time.time())


class Vendor:
    """What one vendor's phase needs; the measurements themselves are the same for all."""

    name = ""
    webhook = True
    content_type = "application/json"

    def __init__(self) -> None:
        self.fake: Any = None
        self.base_url = ""

    def make_fake(self) -> Any:
        raise NotImplementedError

    def connector_fields(self, seeded: Any) -> dict[str, Any]:
        """credentials and mapping for connector_create."""
        raise NotImplementedError

    def signed(self, *, path: str, url: str, number: int, serial: str) -> tuple[dict[str, str], str]:
        """(headers, body) of the vendor's unsubscribe call about person{number}, signed now."""
        raise NotImplementedError

    def hook_path(self, connector_public_id: str) -> str:
        return f"/hooks/{self.name}/{connector_public_id}"

    def before_ingest(self, *, connector: Any, seeded: Any) -> None:
        """What the vendor's state must hold before its calls can name a contact."""

    def before_commit(self, *, contacts: list[tuple[str, str]]) -> None:
        """What the org must hold before the writes to these (external id, email) reach it."""

    def applied(self, email: str) -> list[float]:
        """When the fake applied a change of this address."""
        return list(self.fake.applied.get(email.lower(), []))


class Klaviyo(Vendor):
    name = "klaviyo"
    API_KEY = "pk_bench_0123456789abcdef"
    WEBHOOK_ID = "01BENCHWEBHOOK000000000000"

    def make_fake(self) -> Any:
        from tests.fakes.klaviyo import FakeKlaviyo

        def record(fake: Any, args: Any, _result: Any) -> None:
            for identifier, _channel, _at in args[0][1]:
                _stamp(fake, str(identifier).lower())

        return _timed(FakeKlaviyo, record, "_apply")(api_keys={self.API_KEY}, latency=VENDOR_LATENCY_S)

    def before_commit(self, *, contacts: list[tuple[str, str]]) -> None:
        """The list holds them, as a connected account does after its backfill: a withdrawal is
        then an unsubscribe from the list (sent only to the list's members)."""
        for _external, email in contacts:
            self.fake.drift_subscribe("LstNews", email)

    def connector_fields(self, seeded: Any) -> dict[str, Any]:
        return {
            "credentials": {"api_key": self.API_KEY, "webhook_secret": SECRET},
            "mapping": {
                "lists": [{"list": "LstNews", "purpose": seeded.purpose_slug, "channels": ["email"]}]
            },
        }

    def signed(self, *, path: str, url: str, number: int, serial: str) -> tuple[dict[str, str], str]:
        from tests.fakes.klaviyo_webhooks import klaviyo_event, klaviyo_webhook

        event = klaviyo_event(
            topic="event:klaviyo.unsubscribed_from_email_marketing",
            email=f"person{number}@example.com",
            event_id=f"bench-{serial}-{number}",
            at=datetime.now(UTC).isoformat(),
        )
        headers, body = klaviyo_webhook(secret=SECRET, events=[event], webhook_id=self.WEBHOOK_ID)
        return headers, body.decode()


class Mailchimp(Vendor):
    name = "mailchimp"
    content_type = "application/x-www-form-urlencoded"
    LIST = "a1b2c3d4e5"

    def make_fake(self) -> Any:
        from tests.fakes.mailchimp import FakeMailchimp

        def record(fake: Any, args: Any, result: Any) -> None:
            if isinstance(result, str):  # "created" / "updated"; a refusal is a dict
                _stamp(fake, str(args[1]["email_address"]).lower())

        return _timed(FakeMailchimp, record, "_upsert")(latency=VENDOR_LATENCY_S)

    def connector_fields(self, seeded: Any) -> dict[str, Any]:
        from tests.fakes.mailchimp import KEY

        return {
            "credentials": {"api_key": KEY, "webhook_secret": SECRET},
            "mapping": {"lists": [{"list": self.LIST, "purpose": seeded.purpose_slug}]},
        }

    def hook_path(self, connector_public_id: str) -> str:
        return f"/hooks/mailchimp/{connector_public_id}?secret={SECRET}"  # Mailchimp's only proof

    def signed(self, *, path: str, url: str, number: int, serial: str) -> tuple[dict[str, str], str]:
        from tests.fakes.mailchimp import webhook_body, webhook_form

        form = webhook_form(
            "unsubscribe",
            list_id=self.LIST,
            email=f"person{number}@example.com",
            extra={"action": "unsub", "reason": "manual", "campaign_id": f"b{serial[-9:]}"},
        )
        headers = {"Content-Type": self.content_type, "User-Agent": "MailChimp"}
        return headers, webhook_body(form).decode()


class HubSpot(Vendor):
    name = "hubspot"

    def make_fake(self) -> Any:
        from tests.fakes.hubspot import FakeHubSpot

        def record(fake: Any, args: Any, _result: Any) -> None:
            for row in args[0]["inputs"]:
                _stamp(fake, str(row["subscriberIdString"] if isinstance(row, dict) else row).lower())

        timed = _timed(FakeHubSpot, record, "_write")
        # An unsubscribe from all in Candor is HubSpot's unsubscribe-all call instead.
        timed = _timed(timed, record, "_unsubscribe_all")
        # The fake's own limits are HubSpot's (190 calls / 10 s): one bench write makes at most two.
        return timed(latency=VENDOR_LATENCY_S)

    def connector_fields(self, seeded: Any) -> dict[str, Any]:
        from tests.fakes.hubspot import CLIENT_SECRET, TOKEN

        return {
            "credentials": {"access_token": TOKEN, "client_secret": CLIENT_SECRET},
            "mapping": {"subscriptions": [{"subscription_id": "101", "purpose": seeded.purpose_slug}]},
        }

    def signed(self, *, path: str, url: str, number: int, serial: str) -> tuple[dict[str, str], str]:
        event = self.fake.event(
            email=f"person{number}@example.com",
            property_name="hs_email_optout",
            value="true",
            event_id=int(serial) * 100_000 + number,
        )
        headers, body = self.fake.signed(url, [event])
        return headers, body.decode()

    def before_ingest(self, *, connector: Any, seeded: Any) -> None:
        """HubSpot's events name a contact by HubSpot's id only: the ids Candor's pushes would
        have kept (sync.models.VendorContact) for every seeded contact."""
        from consent.models import Contact
        from sync.delivery.connectors.vendor_contacts import vendor_contacts_keep

        pks = dict(Contact.objects.filter(brand_id=seeded.brand_id).values_list("email", "pk"))
        with self.fake._lock:
            for email in pks:
                self.fake.contacts.setdefault(email, str(next(self.fake._ids)))
            ids = {self.fake.contacts[email]: pk for email, pk in pks.items()}
        vendor_contacts_keep(connector_public_id=connector.public_id, ids=ids)


class Salesforce(Vendor):
    name = "salesforce"
    webhook = False  # polled: commit_to_vendor only

    def make_fake(self) -> Any:
        from tests.fakes.salesforce import FakeSalesforce

        def record(fake: Any, args: Any, result: Any) -> None:
            staged, row = args[0], args[1]
            if row["attributes"]["type"] == "ContactPointTypeConsent" and result["success"]:
                party = row.get("PartyId") or staged["ContactPointTypeConsent"][result["id"]]["PartyId"]
                _stamp(fake, party)

        fake = _timed(FakeSalesforce, record, "_save")(latency=VENDOR_LATENCY_S)
        fake.add_custom_field("Contact", "Candor_Id__c")
        fake.dup = fake.insert("DataUsePurpose", Name="Bench purpose")
        return fake

    def connector_fields(self, seeded: Any) -> dict[str, Any]:
        client_id, secret = next(iter(self.fake.clients.items()))
        return {
            "credentials": {"client_id": client_id, "client_secret": secret},
            "mapping": {
                "object": "Contact",
                "match_field": "Candor_Id__c",
                "purposes": [
                    {"purpose": seeded.purpose_slug, "data_use_purpose": self.fake.dup, "channels": ["email"]}
                ],
            },
        }

    def before_commit(self, *, contacts: list[tuple[str, str]]) -> None:
        for external, email in contacts:
            self.fake.insert("Contact", LastName="Bench", Email=email, Candor_Id__c=external)

    def applied(self, email: str) -> list[float]:
        """A ContactPointTypeConsent written on the Individual of the Contact with this address."""
        parties = {
            row["IndividualId"] for row in self.fake.find("Contact", Email=email) if row["IndividualId"]
        }
        return [at for party in parties for at in self.fake.applied.get(party, [])]


VENDOR_CLASSES: dict[str, type[Vendor]] = {cls.name: cls for cls in (Klaviyo, Mailchimp, HubSpot, Salesforce)}


def _connector(vendor: Vendor, *, seeded: Any, base_url: str) -> Any:
    from brands.audit import Actor
    from brands.models import Brand
    from sync.delivery.connectors.services import connector_create

    return connector_create(
        brand=Brand.objects.get(pk=seeded.brand_id),
        actor=Actor.system("bench"),
        vendor=vendor.name,
        name=f"bench {vendor.name}",
        api_base_url=base_url,
        **vendor.connector_fields(seeded),
    )


def _disable(connector: Any) -> None:
    from brands.audit import Actor
    from sync.delivery.connectors.services import connector_update

    connector_update(connector=connector, actor=Actor.system("bench"), status="disabled")


def ingest_scenarios(
    scenario_class: Any, vendor: Vendor, *, connector_public_id: str, contacts: int, port: int, turn: int
) -> list[Any]:
    path = vendor.hook_path(connector_public_id)
    url = f"http://127.0.0.1:{port}{path}"  # PUBLIC_BASE_URL + path: what HubSpot signs
    serial = str(int(time.time()))
    numbers = list(range(1, contacts + 1))
    random.Random(14).shuffle(numbers)
    # Each vendor starts a third of the way further: its calls are about people the others' were
    # not, so each vendor's signals change the ledger (recorded, not "already so").
    start = turn * (contacts // 3)
    numbers = numbers[start:] + numbers[:start]

    def line(number: int) -> str:
        headers, body = vendor.signed(path=path, url=url, number=number, serial=serial)
        headers.pop("Content-Type", None)  # the scenario's content type
        return "\t".join([path, *(f"{name}: {value}" for name, value in headers.items()), body])

    warm, measured = numbers[:WARMUP_CALLS], numbers[WARMUP_CALLS:]
    check_headers, check_body = vendor.signed(path=path, url=url, number=0, serial=serial)

    def ceiling(name: str) -> Any:
        return scenario_class(
            name,
            "DRF view inserting one row",
            "POST",
            "/api/v1/bench/insert",
            1,
            body='{"value":"bench"}',
            expected_status=201,
        )

    # The ceiling before and after the calls: on a shared machine one of them alone may catch a
    # quiet or a busy moment the calls did not have; the ratio is of their mean.
    return [
        ceiling("ceiling_insert"),
        scenario_class(
            "inbound_ingest",
            f"{vendor.name}'s signed unsubscribe webhook, one contact each",
            "POST",
            path,
            1,
            content_type=vendor.content_type,
            requests=[line(n) for n in measured],
            warmup_requests=[line(n) for n in warm],
            # person0 does not exist: recorded as unknown
            check_whole=(path, check_headers, check_body),
        ),
        ceiling("ceiling_after"),
    ]


def inbound_ingest(
    vendor: Vendor, *, seeded: Any, harness: Any, port: int, env: dict[str, str], turn: int
) -> dict[str, Any]:
    """The ceiling and the vendor's webhook calls on one server; then the backlog applied."""
    from django.db import connection
    from django.db.models import Count

    from sync.delivery.connectors.inbound import signals_apply_pending
    from sync.models import InboundSignal

    connector = _connector(vendor, seeded=seeded, base_url=vendor.base_url)
    vendor.before_ingest(connector=connector, seeded=seeded)
    scenarios = ingest_scenarios(
        harness.Scenario,
        vendor,
        connector_public_id=connector.public_id,
        contacts=INGEST_CONTACTS,
        port=port,
        turn=turn,
    )
    connection.close()
    server = harness.Server(port, env)
    harness.log(f"bench: {vendor.name}: starting {server.description} on 127.0.0.1:{port}")
    server.start()
    try:
        for scenario in scenarios:
            harness.measure(port, scenario)
    finally:
        server.stop()
    accepted = InboundSignal.objects.filter(connector=connector).count()
    step = time.monotonic()
    applied = signals_apply_pending(limit=10**9)
    apply_seconds = time.monotonic() - step
    outcomes = dict(
        InboundSignal.objects.filter(connector=connector)
        .values_list("outcome")
        .annotate(n=Count("id"))
        .values_list("outcome", "n")
    )
    recorded, unchanged = outcomes.get("recorded", 0), outcomes.get("unchanged", 0)
    # Every signal applied: all but the check call's unknown person0 recorded, or already so in
    # Candor (an earlier vendor's calls unsubscribed the same person).
    if recorded + unchanged != accepted - 1 or outcomes.get("unknown_contact", 0) != 1:
        raise harness.HarnessError(f"{vendor.name}: {accepted} signals accepted, then {outcomes}")
    # The ingest's own events are not the latency's queue: this connector stops here.
    _disable(connector)
    connection.close()
    by_name = {s.name: s for s in scenarios}
    return {
        "scenarios": by_name,
        "accepted": accepted,
        "recorded": recorded,
        "unchanged": unchanged,
        "apply_rate": round(applied / apply_seconds, 1) if apply_seconds else None,
    }


def commit_to_vendor(
    vendor: Vendor,
    *,
    port: int,
    seeded: Any,
    env: dict[str, str],
    server_factory: Any,
    first_write: int,
) -> dict[str, Any]:
    """Idle writes through the API; each one's time until the fake applied its contact's change.
    A connector of its own (at the feed's end), disabled afterwards."""
    from django.db import connection

    connector = _connector(vendor, seeded=seeded, base_url=vendor.base_url)
    writer = bench_webhooks.Writer(port=port, seeded=seeded)
    writer.next = first_write  # contacts no other vendor's writes touched
    chosen = writer.contacts[first_write : first_write + WRITES_PER_VENDOR]
    vendor.before_commit(contacts=[(external, _email_of(seeded, external)) for external, _ in chosen])
    connection.close()
    server = server_factory(port, env, log_name=f"bench-gunicorn-connectors-{vendor.name}.log")
    processes = [bench_webhooks.worker(env)]
    try:
        server.start()
        for process in processes:
            process.start()
        client = writer.connection()
        results: list[tuple[float, str]] = []
        for index in range(WRITES_PER_VENDOR):
            _sent, arrived, _event = writer.write(client)
            external = writer.contacts[writer.next - 1][0]
            if index >= WRITES_PER_VENDOR - IDLE_WRITES:
                results.append((arrived, external))
            time.sleep(IDLE_SPACING)
        client.close()
        deadline = time.monotonic() + 60
        latencies: list[float] = []
        missing = 0
        for arrived, external in results:
            email = _email_of(seeded, external)
            while True:
                times = [t for t in vendor.applied(email) if t >= arrived]
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
    _disable(connector)
    connection.close()
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
    unknown = [name for name in VENDORS if name not in VENDOR_CLASSES]
    if unknown or not VENDORS:
        raise harness.HarnessError(
            f"BENCH_CONNECTOR_VENDORS names {', '.join(unknown) or 'nothing'}; "
            f"known: {', '.join(VENDOR_CLASSES)}"
        )
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

    from bench import seed

    harness.migrate()
    step = time.monotonic()
    seeded = seed.seed_base(contacts=INGEST_CONTACTS, ceiling_rows=1, log=harness.log)
    harness.log(f"bench: seeded {INGEST_CONTACTS:,} contacts in {time.monotonic() - step:.1f} s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per fake call otherwise
    vendors = [VENDOR_CLASSES[name]() for name in VENDORS]
    ingests: dict[str, dict[str, Any]] = {}
    latencies: dict[str, dict[str, Any]] = {}
    for index, vendor in enumerate(vendors):
        vendor.fake = vendor.make_fake()
        vendor.fake.applied = {}
        vendor.base_url = vendor.fake.start()
        try:
            if vendor.webhook:
                ingests[vendor.name] = inbound_ingest(
                    vendor, seeded=seeded, harness=harness, port=port, env=env, turn=len(ingests)
                )
            # The latency on a broker of its own, as the webhook phase does.
            saved = os.environ.get("CELERY_BROKER_URL")
            with bench_webhooks.broker() as url:
                os.environ["CELERY_BROKER_URL"] = url
                try:
                    latencies[vendor.name] = commit_to_vendor(
                        vendor,
                        port=port,
                        seeded=seeded,
                        env={**env, "CELERY_BROKER_URL": url},
                        server_factory=harness.Server,
                        first_write=index * WRITES_PER_VENDOR,
                    )
                finally:
                    if saved is not None:
                        os.environ["CELERY_BROKER_URL"] = saved
            harness.log(
                f"bench: {vendor.name}: commit_to_vendor median {latencies[vendor.name]['median_s']} s"
            )
        finally:
            vendor.fake.stop()
    checks = []
    rows = [f"{'vendor':<11} {'scenario':<17} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs ceiling':>10}"]
    notes = []
    for vendor in vendors:
        ingest = ingests.get(vendor.name)
        if ingest is not None:
            by_name = ingest["scenarios"]
            measured, before, after = (
                by_name["inbound_ingest"],
                by_name["ceiling_insert"],
                by_name["ceiling_after"],
            )
            ratio = measured.rps / ((before.rps + after.rps) / 2)
            for s in (before, measured, after):
                rows.append(
                    f"{vendor.name:<11} {s.name:<17} {s.rps:9.1f} "
                    f"{s.result['latency_us']['p50'] / 1000:8.2f} "
                    f"{s.result['latency_us']['p99'] / 1000:8.2f} "
                    f"{f'{ratio:.1%}' if s is measured else '':>10}"
                )
            checks.append(
                harness.Check(
                    f"{vendor.name} inbound_ingest",
                    f">= {INGEST_RATIO_TARGET:.0%} of ceiling_insert req/s (the mean of before and after)",
                    f"{ratio:.1%}",
                    ratio >= INGEST_RATIO_TARGET,
                )
            )
            notes.append(
                f"{vendor.name} inbound_ingest: {ingest['accepted']:,} calls accepted over warm-up and run; "
                f"applied to the ledger afterwards by one process, {ingest['apply_rate']}/s, "
                f"{ingest['recorded']:,} recorded, {ingest['unchanged']:,} already so"
            )
        else:
            notes.append(f"{vendor.name}: inbound is polling, not a webhook: commit_to_vendor only")
        latency = latencies[vendor.name]
        rows.append(
            f"{vendor.name:<11} {'commit_to_vendor':<17} median {latency['median_s']:.3f} s, "
            f"max {latency['max_s']} s "
            f"({latency['applied']}/{latency['writes']} applied)"
        )
        checks.append(
            harness.Check(
                f"{vendor.name} commit_to_vendor",
                f"median < {COMMIT_MEDIAN_TARGET_S:.0f} s with an idle queue, none missing",
                f"{latency['median_s']:.3f} s ({latency['applied']}/{latency['writes']} applied)",
                latency["median_s"] < COMMIT_MEDIAN_TARGET_S and latency["missing"] == 0,
            )
        )
    lines = [
        *rows,
        *(f"({note})" for note in notes),
        f"commit_to_vendor: {IDLE_WRITES} writes {IDLE_SPACING * 1000:.0f} ms apart per vendor; "
        "each fake adds "
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
        "vendors": VENDORS,
        "scenarios": {
            f"{name}/{s.name}": {key: value for key, value in s.result.items() if key != "wrk_output"}
            for name, ingest in ingests.items()
            for s in ingest["scenarios"].values()
        },
        "commit_to_vendor": latencies,
        "checks": [asdict(check) for check in checks],
        "notes": notes,
        "table": "\n".join(lines),
    }
