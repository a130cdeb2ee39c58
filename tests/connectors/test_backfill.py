"""Backfill against the Klaviyo fake, in this process: every existing contact's state reaches the
vendor in batches, resumes at its cursor, waits out 429s without losing a batch, shows its
progress through the API; and the set-based contact state it reads costs the same number of
queries for ten contacts or three hundred."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from brands.models import AuditEntry, Brand, Scope
from consent.services import contact_upsert
from sync.delivery.connectors import backfill as backfill_module
from sync.delivery.connectors.backfill import backfill_chunk, backfill_start, backfills_resume
from sync.delivery.connectors.klaviyo import KlaviyoAdapter
from sync.models import BackfillRun, Connector
from sync.outbox.contact_state import contacts_state
from tests.actors import TEST_ACTOR
from tests.connectors.bulk import TOPIC, contacts_subscribed, news_topic
from tests.connectors.support import grant, withdraw
from tests.connectors.test_klaviyo_connector import KEY
from tests.fakes.klaviyo import FakeKlaviyo
from tests.sync.webhook_support import published

__all__ = ["published"]

pytestmark = pytest.mark.django_db(transaction=True)
LIST = "LstNews"
CREATE = "/api/profile-subscription-bulk-create-jobs"


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeKlaviyo]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    fake = FakeKlaviyo()
    fake.base_url = fake.start()  # type: ignore[attr-defined]
    yield fake
    fake.stop()


@pytest.fixture
def handed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """The chunks handed to the broker (the tests run them here)."""
    calls: list[tuple[str, tuple[Any, ...]]] = []

    def record(name: str, *args: Any, countdown: float | None = None) -> bool:
        calls.append((name, args))
        return True

    monkeypatch.setattr(backfill_module, "publish", record)
    return calls


def connect(make_client: Any, brand: Brand, fake: FakeKlaviyo, mapping: dict[str, Any]) -> Connector:
    api = make_client(brand, [Scope.ADMIN])
    reply = api.post(
        "/api/v1/connectors",
        {
            "vendor": "klaviyo",
            "name": "Main account",
            "credentials": {"api_key": KEY},
            "mapping": mapping,
            "api_base_url": fake.base_url,  # type: ignore[attr-defined]
        },
        format="json",
    )
    assert reply.status_code == 201, reply.content
    return Connector.objects.select_related("endpoint").get(public_id=reply.json()["id"])


@pytest.fixture
def connector(make_client: Any, brand: Brand, fake: FakeKlaviyo, published: Any) -> Connector:
    news_topic(brand=brand)
    return connect(make_client, brand, fake, {"lists": [{"list": LIST, "topic": TOPIC}]})


@pytest.fixture(params=[1, 3], ids=["one-in-flight", "three-in-flight"])
def depth(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Batches at the vendor at once: Klaviyo's own one, and three (as an adapter may allow)."""
    monkeypatch.setattr(KlaviyoAdapter, "backfill_in_flight", request.param)
    return request.param


def subscribed_emails(fake: FakeKlaviyo) -> Counter[str]:
    """How many times each address was sent in an accepted subscribe job."""
    return Counter(
        row["attributes"]["email"]
        for request in fake.requests
        if request["path"] == CREATE
        for row in request["body"]["data"]["attributes"]["profiles"]["data"]
    )


def test_every_existing_contact_reaches_klaviyo_once_in_batches(connector, brand, fake, handed, depth):
    contacts_subscribed(brand=brand, count=250)
    run = backfill_start(connector=connector, actor=TEST_ACTOR)
    assert handed == [("connector_backfill_chunk", (run.pk,))]
    contacts_subscribed(brand=brand, count=5, start=1000)  # after the start: the feed's, not ours

    assert backfill_chunk(run_id=run.pk) == "finished"

    run.refresh_from_db()
    assert (run.status, run.total, run.done, run.failed) == ("succeeded", 250, 250, 0)
    assert fake.subscribed(LIST) == {f"p{n}@example.com" for n in range(250)}
    assert set(subscribed_emails(fake).values()) == {1}  # each once
    sizes = sorted(len(r["body"]["data"]["attributes"]["profiles"]["data"]) for r in fake.requests)
    assert sizes == [50, 100, 100]  # the adapter's batch size


def test_a_withdrawal_is_backfilled_as_an_unsubscribe(make_client, brand, purpose, fake, published, handed):
    for name in ("ada", "bob"):
        contact_upsert(brand=brand, external_id=f"cust-{name}", email=f"{name}@example.com")
        grant(brand, purpose, f"cust-{name}")
    withdraw(brand, purpose, "cust-bob")
    fake.drift_subscribe(LIST, "bob@example.com")  # Klaviyo still has bob
    connector = connect(make_client, brand, fake, {"lists": [{"list": LIST, "purpose": purpose.slug}]})

    backfill_chunk(run_id=backfill_start(connector=connector, actor=TEST_ACTOR).pk)

    assert fake.subscribed(LIST) == {"ada@example.com"}
    assert [r["path"] for r in fake.requests] == [CREATE, "/api/profile-subscription-bulk-delete-jobs"]


def test_a_run_resumes_at_its_cursor_after_its_worker_died(connector, brand, fake, handed, settings, depth):
    contacts_subscribed(brand=brand, count=300)
    run = backfill_start(connector=connector, actor=TEST_ACTOR)
    # A worker pushes two batches (three with three in flight), then dies holding the lease
    # after Klaviyo took the second and before its cursor moved past it.
    real = backfill_module._commit
    calls = {"n": 0}

    def dies_on_the_second(*args: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("killed")
        return real(*args)

    backfill_module._commit = dies_on_the_second  # type: ignore[assignment]
    try:
        with pytest.raises(SystemExit):
            backfill_chunk(run_id=run.pk)
    finally:
        backfill_module._commit = real  # type: ignore[assignment]
    run.refresh_from_db()
    assert (run.done, run.status) == (100, "running")
    assert backfill_chunk(run_id=run.pk) == "held"  # the dead worker's lease still holds
    assert backfills_resume() == 0  # nor does the sweeper hand it on yet
    BackfillRun.objects.filter(pk=run.pk).update(
        leased_until=timezone.now() - timedelta(seconds=1),
        updated_at=timezone.now() - timedelta(seconds=settings.CONNECTOR_RUN_LEASE_SECONDS + 1),
    )
    handed.clear()
    assert backfills_resume() == 1
    assert handed == [("connector_backfill_chunk", (run.pk,))]

    assert backfill_chunk(run_id=run.pk) == "finished"

    run.refresh_from_db()
    assert (run.status, run.done, run.failed) == ("succeeded", 300, 0)
    assert fake.subscribed(LIST) == {f"p{n}@example.com" for n in range(300)}
    counts = subscribed_emails(fake)
    twice = sorted(email for email, n in counts.items() if n > 1)
    # Only the batches in flight: the second, and with three in flight the third too.
    assert twice == sorted(f"p{n}@example.com" for n in range(100, 200 if depth == 1 else 300))
    assert set(counts.values()) <= {1, 2}


def test_a_429_storm_during_a_backfill_loses_nothing(connector, brand, fake, handed, monkeypatch, depth):
    contacts_subscribed(brand=brand, count=250)
    naps: list[float] = []
    monkeypatch.setattr(backfill_module.time, "sleep", naps.append)
    fake.throttle(4)

    backfill_chunk(run_id=backfill_start(connector=connector, actor=TEST_ACTOR).pk)

    assert naps == [1.0] * 4  # Klaviyo's Retry-After, each time
    run = BackfillRun.objects.get()
    assert (run.status, run.done, run.failed) == ("succeeded", 250, 0)
    assert fake.subscribed(LIST) == {f"p{n}@example.com" for n in range(250)}
    assert set(subscribed_emails(fake).values()) == {1}  # refused calls changed nothing


def test_a_chunk_hands_the_rest_to_the_next_task(connector, brand, fake, handed, depth):
    contacts_subscribed(brand=brand, count=250)
    run = backfill_start(connector=connector, actor=TEST_ACTOR)
    handed.clear()
    assert backfill_chunk(run_id=run.pk, budget=0) == "continued"  # one batch, then hand over
    assert handed == [("connector_backfill_chunk", (run.pk,))]
    run.refresh_from_db()
    assert (run.done, run.leased_until) == (100, None)


def test_progress_through_the_api(connector, brand, fake, make_client, handed):
    api = make_client(brand, [Scope.ADMIN])
    path = f"/api/v1/connectors/{connector.public_id}/backfill"
    assert api.get(path).status_code == 404
    contacts_subscribed(brand=brand, count=150)
    started = api.post(path)
    assert started.status_code == 202, started.content
    body = started.json()
    assert (body["status"], body["total"], body["done"], body["failed"], body["eta"]) == (
        "running",
        150,
        0,
        0,
        None,
    )
    assert set(body) == {
        "id",
        "status",
        "total",
        "done",
        "failed",
        "started_at",
        "updated_at",
        "finished_at",
        "eta",
        "error",
    }
    conflict = api.post(path)
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "urn:candor:problem:connector-run-running"
    [entry] = AuditEntry.objects.filter(action="connector.backfill_started")  # the 409 wrote none
    assert (entry.target_id, entry.after) == (connector.public_id, {"run": body["id"], "total": 150})
    backfill_chunk(run_id=BackfillRun.objects.get().pk, budget=0)
    midway = api.get(path).json()
    assert (midway["status"], midway["done"]) == ("running", 100)
    assert midway["eta"] is not None
    backfill_chunk(run_id=BackfillRun.objects.get().pk)
    done = api.get(path).json()
    assert (done["status"], done["done"], done["eta"], done["id"]) == ("succeeded", 150, None, body["id"])


def test_the_command_runs_it_with_a_progress_line(connector, brand, fake, handed):
    contacts_subscribed(brand=brand, count=120)
    out = StringIO()
    call_command("connector_backfill", connector.public_id, stdout=out)
    text = out.getvalue()
    assert "120 contacts" in text
    assert "120/120" in text
    assert "Done: 120 pushed, 0 rejected by the vendor." in text
    assert fake.subscribed(LIST) == {f"p{n}@example.com" for n in range(120)}


def test_contact_state_reads_a_batch_in_a_constant_number_of_queries(brand, purpose, published):
    news_topic(brand=brand)
    small = contacts_subscribed(brand=brand, count=10)
    large = contacts_subscribed(brand=brand, count=300, start=100)
    grant(brand, purpose, small[0].external_id)
    grant(brand, purpose, large[0].external_id)
    with CaptureQueriesContext(connection) as few:
        states_few = contacts_state(brand_id=brand.pk, contact_refs=[c.pk for c in small])
    with CaptureQueriesContext(connection) as many:
        states_many = contacts_state(brand_id=brand.pk, contact_refs=[c.pk for c in large])
    assert len(few.captured_queries) == len(many.captured_queries) <= 8
    assert len(states_few) == 10
    assert len(states_many) == 300
    first = states_many[large[0].pk]
    assert first.subscriptions[(TOPIC, "email")] == "subscribed"
    assert first.consents == {purpose.slug: "granted"}
    assert states_many[large[1].pk].consents == {}


def test_contact_state_keeps_tenants_apart(brand, other_brand, published):
    news_topic(brand=brand)
    mine = contacts_subscribed(brand=brand, count=3)
    assert contacts_state(brand_id=other_brand.pk, contact_refs=[c.pk for c in mine]) == {}
