"""HubSpot down for ten minutes (simulated time, the real retry schedule) and a worker killed in
the middle of a batch (real processes): nothing is lost, HubSpot holds each contact once and each
status as Candor has it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from werkzeug import Request, Response

from consent.models import Contact
from consent.services import consent_record, contact_upsert
from sync.delivery import batches
from sync.delivery.fanout import endpoint_fanout
from sync.models import Attempt, Connector, Delivery, VendorContact
from tests.conftest import current_version
from tests.connectors.test_hubspot_connector import UPSERT, admin_api, connect, written
from tests.connectors.test_klaviyo_worker import grant_through_the_api
from tests.fakes.hubspot import FakeHubSpot
from tests.sync.test_webhooks_faults import WAIT, all_finished, broker, statuses, workers
from tests.sync.webhook_support import published
from tests.sync.worker_support import Gate, wait_until

__all__ = ["admin_api", "broker", "published", "workers"]

pytestmark = pytest.mark.django_db(transaction=True)
PEOPLE = {f"cust-{n}": f"p{n}@example.com" for n in range(5)}


class UnreliableHubSpot(FakeHubSpot):
    """The fake, switched off (502, as HubSpot's edge answers while it is down) or held (the next
    POST is taken in and applied, then answered only once the gate opens)."""

    down = False
    gate: Gate | None = None

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.down:
            return Response("Bad Gateway", status=502)(environ, start_response)
        gate = self.gate
        if gate is not None and Request(environ).method == "POST":
            self.gate = None
            answer: dict[str, Any] = {}

            def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                answer.update(status=status, headers=headers)
                return lambda data: None

            body = b"".join(super().wsgi(environ, keep))
            gate.wait()
            start_response(answer["status"], answer["headers"])
            return [body]
        return super().wsgi(environ, start_response)


@pytest.fixture
def fake(settings: Any) -> Iterator[UnreliableHubSpot]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    fake = UnreliableHubSpot()
    fake.start()
    yield fake
    fake.stop()


def send_due(connector: Connector) -> None:
    for delivery_id in Delivery.objects.filter(
        endpoint=connector.endpoint, status="pending", next_attempt_at__lte=timezone.now()
    ).values_list("pk", flat=True):
        batches.delivery_send(delivery_id=delivery_id)


def test_hubspot_down_for_ten_minutes_loses_nothing(brand, purpose, admin_api, fake, published):
    connector = connect(admin_api, fake)
    for external_id, email in PEOPLE.items():
        contact_upsert(brand=brand, external_id=external_id, email=email)
    fake.down = True
    with time_machine.travel(timezone.now(), tick=False) as clock:
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
        for _ in range(10):  # ten minutes of an outage, a look every minute
            clock.shift(timedelta(minutes=1))
            send_due(connector)
        failed = Attempt.objects.filter(delivery__endpoint=connector.endpoint)
        assert failed.exists()
        assert set(failed.values_list("status_code", flat=True)) == {502}
        assert set(statuses(connector.endpoint)) == {"pending"}  # none given up, none lost
        assert fake.requests == []
        fake.down = False
        for _ in range(40):  # back up: the schedule's next retry sends everything
            clock.shift(timedelta(minutes=1))
            send_due(connector)
    assert statuses(connector.endpoint) == ["succeeded"] * len(PEOPLE)
    assert {fake.status(email, "101") for email in PEOPLE.values()} == {"SUBSCRIBED"}
    assert sorted(r["subscriberIdString"] for r in written(fake)) == sorted(PEOPLE.values())  # each once
    assert sorted(fake.contacts) == sorted(PEOPLE.values())


@pytest.mark.worker
def test_a_worker_killed_mid_batch_is_replaced_and_hubspot_holds_each_contact_once(
    brand, purpose, api, admin_api, fake, workers
):
    lease = {"TEST_WEBHOOK_LEASE_SECONDS": "3", "WEBHOOK_ALLOW_PRIVATE": "true"}
    first = workers(**lease)
    connector = connect(admin_api, fake)
    for external_id, email in PEOPLE.items():
        contact_upsert(brand=brand, external_id=external_id, email=email)
    gate = Gate()
    fake.gate = gate
    for external_id in PEOPLE:
        grant_through_the_api(api, purpose, external_id)

    wait_until(gate.arrived.is_set, what="the first upsert arrives", timeout=WAIT, worker=first)
    first.kill()  # HubSpot created the contacts; the worker died before it heard their ids
    gate.opened.set()
    assert not Attempt.objects.filter(delivery__endpoint=connector.endpoint).exists()

    second = workers(**lease)
    wait_until(
        all_finished(connector.endpoint, len(PEOPLE)),
        what="every grant reaches HubSpot",
        timeout=WAIT,
        worker=second,
    )
    assert statuses(connector.endpoint) == ["succeeded"] * len(PEOPLE)
    assert {fake.status(email, "101") for email in PEOPLE.values()} == {"SUBSCRIBED"}
    # The upsert was made again after the lease: by email, so HubSpot still holds each contact
    # once, under the id Candor kept.
    upserted = [row["id"] for r in fake.requests if r["path"] == UPSERT for row in r["body"]["inputs"]]
    assert len(upserted) > len(PEOPLE)
    assert sorted(set(upserted)) == sorted(fake.contacts) == sorted(PEOPLE.values())
    kept = dict(
        VendorContact.objects.filter(connector=connector)
        .exclude(vendor_id__startswith="address:")  # the addresses' marks (hubspot_moves)
        .values_list("vendor_id", "contact_ref")
    )
    refs = dict(Contact.objects.filter(brand=brand).values_list("external_id", "pk"))
    assert kept == {fake.contacts[email]: refs[external_id] for external_id, email in PEOPLE.items()}
