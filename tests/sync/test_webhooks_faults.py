"""Webhook delivery under faults, end to end with real processes: PostgreSQL, a redis-server of
the test's own, a Celery worker started as a separate process on the test database, and real
local receivers that verify every signature (standardwebhooks) and deduplicate on webhook-id.

Data must be committed for the worker to see it (transactional tests). The test process does
beat's job: it runs the sweeper every half second while it waits. The worker's retry schedule,
lease and requeue interval are seconds (tests/sync/worker_settings.py); everything else is the
production code path, including the after-commit nudge of each write.

HTTP-level duplicates (allowed: delivery is at least once) are counted and listed at the end of
the run; the receiver's set of distinct webhook-ids must equal the expected one exactly.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

from brands.models import Brand
from consent.models import Purpose
from consent.services import contact_upsert
from sync.models import Attempt, Delivery, Endpoint, Event
from tests.conftest import current_version
from tests.sync.webhook_support import Receiver, make_endpoint, write_event
from tests.sync.worker_support import (
    DUPLICATE_REPORT,
    ConnectionCounter,
    Gate,
    RedisServer,
    Worker,
    publishing_to,
    redis_server,
    wait_until,
    webhook_ids,
)

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

# The worker's settings (tests/sync/worker_settings.py): three retries half a second apart (four
# attempts in all), the sweeper hands a delivery over again after a second, answers within 5 s.
WORKER_ENV = {
    "TEST_WEBHOOK_RETRY_DELAYS": "0.5,0.5,0.5",
    "TEST_WEBHOOK_REQUEUE_SECONDS": "1",
    "WEBHOOK_TIMEOUT_SECONDS": "5",
}
WAIT = 40  # seconds, for anything a test waits on; each test takes a few seconds when all is well


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, and this process publishing to it."""
    with redis_server(tmp_path) as server, publishing_to(server.url()):
        yield server


@pytest.fixture
def workers(broker: RedisServer, tmp_path: Path, settings: Any) -> Iterator[Callable[..., Worker]]:
    """Start a worker (settings as keyword arguments, added to WORKER_ENV); all stop afterwards."""
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receivers are on 127.0.0.1
    settings.WEBHOOK_REQUEUE_SECONDS = 1  # the sweeper in this process
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        worker = Worker(broker_url=broker.url(), directory=tmp_path, env={**WORKER_ENV, **env})
        started.append(worker)
        return worker.start()

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


def msg_id(event: Event) -> str:
    return f"msg_{event.public_id.hex}"


def statuses(endpoint: Endpoint) -> list[str]:
    return list(Delivery.objects.filter(endpoint=endpoint).order_by("id").values_list("status", flat=True))


def all_finished(endpoint: Endpoint, count: int) -> Callable[[], bool]:
    def check() -> bool:
        found = statuses(endpoint)
        return len(found) == count and "pending" not in found

    return check


def report_duplicates(request: pytest.FixtureRequest, receiver: Receiver) -> int:
    ids = webhook_ids(receiver.received)
    duplicates = sum(count - 1 for count in ids.values())
    DUPLICATE_REPORT.append(
        f"{request.node.name}: {len(receiver.received)} requests, {len(ids)} distinct webhook-ids, "
        f"{duplicates} HTTP-level duplicate(s)"
    )
    return duplicates


def test_500_twice_then_200_is_delivered_under_one_webhook_id_in_three_attempts(brand, receiver, workers):
    worker = workers()
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    receiver.answers = [(500, {}, "boom"), (500, {}, "boom again"), (200, {}, "thanks")]

    event = write_event(brand, 1, 1)  # nudges the worker after COMMIT, through Redis
    wait_until(all_finished(endpoint, 1), what="the delivery finishes", timeout=WAIT, worker=worker)

    [delivery] = Delivery.objects.filter(endpoint=endpoint)
    assert (delivery.status, delivery.attempt_count, delivery.msg_id) == ("succeeded", 3, msg_id(event))
    assert [r.headers["Webhook-Id"] for r in receiver.received] == [msg_id(event)] * 3
    assert len({r.body for r in receiver.received}) == 1
    assert all(r.payload["data"]["contact"] == "cust-1" for r in receiver.received)  # verified
    attempts = Attempt.objects.filter(delivery=delivery).order_by("number")
    assert [(a.number, a.status_code, a.outcome, a.response_excerpt) for a in attempts] == [
        (1, 500, "failed", "boom"),
        (2, 500, "failed", "boom again"),
        (3, 200, "succeeded", "thanks"),
    ]
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert all(gap >= 0.5 * 0.85 for gap in gaps), gaps  # the schedule was kept, not hammered


def test_a_worker_killed_mid_delivery_is_replaced_and_each_event_arrives_once(
    brand, receiver, workers, request
):
    lease = {"TEST_WEBHOOK_LEASE_SECONDS": "3"}
    first = workers(**lease)
    gate = Gate()

    def stuck(_request: Request) -> Response:
        gate.wait()  # the receiver takes the event in, then hangs until the worker is dead
        return Response("too late", status=200)

    receiver.answers = [stuck, (200, {}, "ok")]
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    events = [write_event(brand, contact_ref, 1) for contact_ref in (1, 2, 3)]

    wait_until(gate.arrived.is_set, what="the first request arrives", timeout=WAIT, worker=first)
    first.kill()
    gate.opened.set()
    assert not first.alive
    # The dead worker's claim is still on its rows (the delivery it was sending, and any others
    # of its batch, all under one lease), with no attempt recorded.
    [held_msg_id] = {r.headers["Webhook-Id"] for r in receiver.received}
    held, leased_until = Delivery.objects.filter(endpoint=endpoint, msg_id=held_msg_id).values_list(
        "pk", "leased_until"
    )[0]
    leases = Delivery.objects.filter(endpoint=endpoint, leased_until__isnull=False).values_list(
        "leased_until", flat=True
    )
    assert leased_until is not None
    assert set(leases) == {leased_until}
    assert not Attempt.objects.filter(delivery__endpoint=endpoint).exists()

    second = workers(**lease)
    took = wait_until(all_finished(endpoint, 3), what="every delivery finishes", timeout=WAIT, worker=second)

    assert statuses(endpoint) == ["succeeded"] * 3
    assert set(webhook_ids(receiver.received)) == {msg_id(e) for e in events}  # none lost, none extra
    duplicates = report_duplicates(request, receiver)
    assert duplicates == 1  # the held event: taken in once before the kill, once after the lease
    redone = Attempt.objects.get(delivery_id=held)  # the killed attempt left no row
    assert (redone.number, redone.outcome) == (1, "succeeded")
    assert redone.started_at >= leased_until  # only once the lease had run out
    assert took < 30


def consent_write(api: Any, purpose: Purpose, external_id: str) -> tuple[int, float]:
    start = time.monotonic()
    version = current_version(purpose).public_id
    body = {"purpose": purpose.slug, "decision": "granted", "notice_version": version}
    response = api.post(f"/api/v1/contacts/{external_id}/consents", body, format="json")
    return response.status_code, time.monotonic() - start


def test_redis_stopped_while_consents_are_written_then_restarted_loses_and_doubles_nothing(
    brand: Brand, purpose, api, receiver, broker, workers, request
):
    refs = [f"cust-{n}" for n in range(1, 5)]
    for ref in refs:
        contact_upsert(brand=brand, external_id=ref)
    before = set(Event.objects.filter(brand=brand).values_list("pk", flat=True))
    worker = workers()
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)

    assert consent_write(api, purpose, refs[0])[0] == 201
    wait_until(all_finished(endpoint, 1), what="the first delivery", timeout=WAIT, worker=worker)

    broker.stop()
    during = [consent_write(api, purpose, ref) for ref in refs[1:]]
    assert [status for status, _ in during] == [201] * len(during)  # writes never wait for the broker
    broker.start()  # empty: whatever was queued in it is gone

    expected = {msg_id(e) for e in Event.objects.filter(brand=brand).exclude(pk__in=before)}
    assert len(expected) == len(refs)
    took = wait_until(
        all_finished(endpoint, len(refs)), what="every delivery finishes", timeout=WAIT, worker=worker
    )

    assert statuses(endpoint) == ["succeeded"] * len(refs)
    assert set(webhook_ids(receiver.received)) == expected
    assert report_duplicates(request, receiver) == 0
    assert list(Delivery.objects.filter(endpoint=endpoint).values_list("attempt_count", flat=True)) == [1] * 4
    slowest = max(seconds for _, seconds in during)
    DUPLICATE_REPORT.append(
        f"{request.node.name}: slowest write while Redis was down {slowest:.2f} s; "
        f"all delivered {took:.1f} s after the restart"
    )


def test_a_redirect_is_refused_and_not_followed(brand, receiver, workers):
    worker = workers()
    elsewhere: list[Request] = []
    receiver.server.expect_request("/elsewhere").respond_with_handler(
        lambda r: elsewhere.append(r) or Response("followed", status=200)
    )
    receiver.answers = [(302, {"Location": receiver.url("/elsewhere")}, "")]
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)

    write_event(brand, 1, 1)
    wait_until(all_finished(endpoint, 1), what="the delivery gives up", timeout=WAIT, worker=worker)

    [delivery] = Delivery.objects.filter(endpoint=endpoint)
    assert (delivery.status, delivery.attempt_count) == ("failed", 4)
    attempts = Attempt.objects.filter(delivery=delivery).order_by("number")
    assert {(a.status_code, a.outcome, a.error) for a in attempts} == {
        (302, "failed", "Redirects are not followed (302).")
    }
    assert len(receiver.received) == 4  # each signed and verified
    assert elsewhere == []


def test_a_receiver_on_a_private_address_is_refused_without_a_connection(brand, workers):
    worker = workers(WEBHOOK_ALLOW_PRIVATE="false")  # production: only public receivers
    listener = ConnectionCounter()
    try:
        # Allowed at creation in this process (its setting allows private addresses), refused by
        # the worker at send time, by its check of the stored URL before any connection: a
        # literal loopback and a private address.
        loopback = make_endpoint(brand, f"https://127.0.0.1:{listener.port}/hook")
        private = make_endpoint(brand, "https://10.255.255.1/hook")
        write_event(brand, 1, 1)
        for endpoint in (loopback, private):
            wait_until(all_finished(endpoint, 1), what="the delivery gives up", timeout=WAIT, worker=worker)
        time.sleep(0.2)
        assert listener.connections == 0
    finally:
        listener.close()

    for endpoint, reason in ((loopback, "a loopback address"), (private, "a private address")):
        [delivery] = Delivery.objects.filter(endpoint=endpoint)
        assert (delivery.status, delivery.attempt_count) == ("failed", 4)
        attempts = Attempt.objects.filter(delivery=delivery)
        assert {(a.status_code, a.outcome, a.error) for a in attempts} == {
            (None, "refused", f"The URL is not allowed: Webhooks cannot be sent to {reason}.")
        }


def test_a_write_does_not_wait_for_a_broker_that_is_down(brand, purpose, api, receiver, broker):
    contact_upsert(brand=brand, external_id="cust-1")
    make_endpoint(brand, receiver.url())  # so the write nudges the broker after COMMIT
    broker.stop()

    status, seconds = consent_write(api, purpose, "cust-1")

    assert status == 201
    assert seconds < 1, f"the write took {seconds:.1f} s"
