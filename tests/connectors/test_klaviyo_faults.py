"""Klaviyo down for ten minutes (simulated time, the real retry schedule) and a worker killed in
the middle of a batch (real processes): nothing is lost, and Klaviyo ends up holding each
profile's state once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from werkzeug import Request, Response

from brands.models import Brand, Scope
from consent.services import consent_record, contact_upsert
from sync.delivery import batches
from sync.delivery.fanout import endpoint_fanout
from sync.models import Attempt, Connector, Delivery
from tests.conftest import current_version
from tests.connectors.test_klaviyo_connector import body
from tests.connectors.test_klaviyo_worker import grant_through_the_api
from tests.fakes.klaviyo import FakeKlaviyo
from tests.sync.test_webhooks_faults import WAIT, all_finished, broker, statuses, workers
from tests.sync.webhook_support import published
from tests.sync.worker_support import Gate, wait_until

__all__ = ["broker", "published", "workers"]

pytestmark = pytest.mark.django_db(transaction=True)
PEOPLE = {f"cust-{n}": f"p{n}@example.com" for n in range(5)}


class UnreliableKlaviyo(FakeKlaviyo):
    """The fake, switched off (503, as Klaviyo's load balancer answers while it is down) or held
    (the next job call waits at the gate: taken in, answered only once the gate opens)."""

    down = False
    gate: Gate | None = None

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.down:
            return Response("Service Unavailable", status=503)(environ, start_response)
        gate, self.gate = self.gate, None
        if gate is not None and Request(environ).method == "POST":
            super().wsgi(environ, lambda *a: None)  # taken in and applied, then held
            gate.wait()
            return Response(b"", status=202)(environ, start_response)
        return super().wsgi(environ, start_response)


@pytest.fixture
def fake(settings: Any) -> Iterator[UnreliableKlaviyo]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    fake = UnreliableKlaviyo()
    fake.base_url = fake.start()  # type: ignore[attr-defined]
    yield fake
    fake.stop()


def connect(make_client: Any, brand: Brand, fake: FakeKlaviyo) -> Connector:
    reply = make_client(brand, [Scope.ADMIN]).post("/api/v1/connectors", body(fake), format="json")
    assert reply.status_code == 201, reply.content
    return Connector.objects.select_related("endpoint").get(public_id=reply.json()["id"])


def subscribed_calls(fake: FakeKlaviyo) -> list[str]:
    return [
        row["attributes"]["email"]
        for request in fake.requests
        if request["path"] == "/api/profile-subscription-bulk-create-jobs"
        for row in request["body"]["data"]["attributes"]["profiles"]["data"]
    ]


def send_due(connector: Connector) -> None:
    for delivery_id in Delivery.objects.filter(
        endpoint=connector.endpoint, status="pending", next_attempt_at__lte=timezone.now()
    ).values_list("pk", flat=True):
        batches.delivery_send(delivery_id=delivery_id)


def test_klaviyo_down_for_ten_minutes_loses_nothing(brand, purpose, make_client, fake, published):
    connector = connect(make_client, brand, fake)
    for external_id, email in PEOPLE.items():
        contact_upsert(brand=brand, external_id=external_id, email=email)
    fake.down = True
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        for external_id in PEOPLE:
            consent_record(
                brand=brand,
                external_id=external_id,
                purpose_slug=purpose.slug,
                decision="granted",
                notice_version_id=current_version(purpose).public_id,
                method="api",
                recorded_by="test",
            )
        endpoint_fanout(endpoint_id=connector.endpoint_id)
        # Ten minutes of an outage, a look every minute: every attempt fails and is rescheduled.
        for _ in range(10):
            clock.shift(timedelta(minutes=1))
            send_due(connector)
        failed = Attempt.objects.filter(delivery__endpoint=connector.endpoint)
        assert failed.exists()
        assert set(failed.values_list("status_code", flat=True)) == {503}
        assert set(statuses(connector.endpoint)) == {"pending"}  # none given up, none lost
        assert fake.requests == []
        # Back up: the next retry (the schedule's 30 minutes) sends everything.
        fake.down = False
        for _ in range(40):
            clock.shift(timedelta(minutes=1))
            send_due(connector)
    assert statuses(connector.endpoint) == ["succeeded"] * len(PEOPLE)
    assert fake.subscribed("LstNews") == set(PEOPLE.values())
    assert sorted(subscribed_calls(fake)) == sorted(PEOPLE.values())  # each once


@pytest.mark.worker
def test_a_worker_killed_mid_batch_is_replaced_and_klaviyo_holds_each_profile_once(
    brand, purpose, api, make_client, fake, workers
):
    lease = {"TEST_WEBHOOK_LEASE_SECONDS": "3", "WEBHOOK_ALLOW_PRIVATE": "true"}
    first = workers(**lease)
    connector = connect(make_client, brand, fake)
    for external_id, email in PEOPLE.items():
        contact_upsert(brand=brand, external_id=external_id, email=email)
    gate = Gate()
    fake.gate = gate
    for external_id in PEOPLE:
        grant_through_the_api(api, purpose, external_id)

    wait_until(gate.arrived.is_set, what="the first job call arrives", timeout=WAIT, worker=first)
    first.kill()
    gate.opened.set()
    assert not Attempt.objects.filter(delivery__endpoint=connector.endpoint).exists()

    second = workers(**lease)
    wait_until(
        all_finished(connector.endpoint, len(PEOPLE)),
        what="every grant reaches Klaviyo",
        timeout=WAIT,
        worker=second,
    )
    assert statuses(connector.endpoint) == ["succeeded"] * len(PEOPLE)
    assert fake.subscribed("LstNews") == set(PEOPLE.values())
    assert {fake.consent[(email, "email")] for email in PEOPLE.values()} == {"SUBSCRIBED"}
    # The held call was applied before the worker died, and sent again after its lease: the same
    # state pushed twice, so Klaviyo's membership holds each profile once.
    calls = subscribed_calls(fake)
    assert set(calls) == set(PEOPLE.values())
    assert len(calls) > len(PEOPLE)
