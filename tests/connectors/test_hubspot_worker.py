"""The HubSpot connector end to end with real processes: PostgreSQL, a redis-server of the test's
own, a Celery worker started as a separate process on the test database, the HubSpot fake on a
local port and the live test server for HubSpot's webhook.

A consent written through the API reaches HubSpot's subscription status (with its legal basis)
through the after-commit nudge, the broker and the worker, a 429 storm in the middle losing
nothing; an unsubscribe the fake posts, signed, to /hooks/hubspot/{id} is applied by the worker to
the ledger and not pushed back to HubSpot, while Candor's own next change still is."""

from __future__ import annotations

import pytest

from consent.models import ConsentEvent
from consent.services import contact_upsert
from sync.models import Connector, Delivery, InboundSignal
from tests.connectors.test_hubspot_connector import UPSERT, WRITE, admin_api, body, fake, written
from tests.connectors.test_klaviyo_worker import grant_through_the_api
from tests.fakes.hubspot import TOKEN
from tests.sync.test_webhooks_faults import WAIT, all_finished, broker, statuses, workers
from tests.sync.worker_support import wait_until

__all__ = ["admin_api", "broker", "fake", "workers"]

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_consent_written_through_the_api_reaches_hubspot_through_the_worker_despite_429s(
    brand, purpose, api, admin_api, fake, workers, connector_key
):
    worker = workers(CONNECTOR_KEYS=connector_key, WEBHOOK_ALLOW_PRIVATE="true")
    created = admin_api.post("/api/v1/connectors", body(fake), format="json")
    assert created.status_code == 201, created.content
    connector = Connector.objects.get(public_id=created.json()["id"])
    people = {f"cust-{n}": f"p{n}@example.com" for n in range(3)}
    for external_id, email in people.items():
        contact_upsert(brand=brand, external_id=external_id, email=email)

    fake.throttle(2)  # the next two calls are answered 429 (HubSpot's body and headers)
    for external_id in people:
        grant_through_the_api(api, purpose, external_id)

    wait_until(
        all_finished(connector.endpoint, len(people)),
        what="every grant reaches HubSpot",
        timeout=WAIT,
        worker=worker,
    )
    assert statuses(connector.endpoint) == ["succeeded"] * len(people)
    for email in people.values():
        assert fake.status(email, "101") == "SUBSCRIBED"
        assert fake.statuses[(email, "101")]["legalBasis"] == "CONSENT_WITH_NOTICE"
    assert sorted(r["subscriberIdString"] for r in written(fake)) == sorted(people.values())  # each once
    assert Delivery.objects.filter(endpoint=connector.endpoint, attempt_count__gt=1).exists()
    assert all(TOKEN not in line for line in worker.tail().splitlines())


def test_an_unsubscribe_in_hubspot_reaches_the_ledger_through_the_worker_and_is_not_echoed(
    brand, purpose, api, admin_api, fake, workers, connector_key, live_server, settings
):
    settings.INBOUND_NUDGE_SECONDS = 0
    settings.PUBLIC_BASE_URL = live_server.url  # the URL HubSpot signs is the one it was given
    worker = workers(CONNECTOR_KEYS=connector_key, WEBHOOK_ALLOW_PRIVATE="true")
    created = admin_api.post("/api/v1/connectors", body(fake), format="json")
    connector = Connector.objects.get(public_id=created.json()["id"])
    contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com")
    grant_through_the_api(api, purpose, "cust-1")
    wait_until(
        all_finished(connector.endpoint, 1), what="the grant reaches HubSpot", timeout=WAIT, worker=worker
    )
    assert fake.paths() == [UPSERT, WRITE]
    calls = len(fake.requests)

    status = fake.unsubscribe_all(
        "ada@example.com", url=f"{live_server.url}/hooks/hubspot/{connector.public_id}", event_id=4242
    )

    assert status == 200
    wait_until(
        lambda: InboundSignal.objects.filter(outcome="recorded").exists(),
        what="the worker applies HubSpot's unsubscribe",
        timeout=WAIT,
        worker=worker,
    )
    signal = InboundSignal.objects.get()
    assert (signal.event_id, signal.kind, signal.payload) == ("4242", "unsubscribed", None)
    event = ConsentEvent.objects.filter(method="connector").order_by("sequence").last()
    assert event is not None
    assert event.recorded_by == f"connector:{connector.public_id}"
    assert event.evidence.message["event_id"] == "4242"
    assert event.evidence.message["vendor"] == "hubspot"
    wait_until(
        lambda: len(statuses(connector.endpoint)) > 1 and "pending" not in statuses(connector.endpoint),
        what="the connector's deliveries of the unsubscribe finish",
        timeout=WAIT,
        worker=worker,
    )
    assert set(statuses(connector.endpoint)) == {"succeeded"}
    # Nothing echoed back to HubSpot: the deliveries read the contact's statuses, and write none.
    assert all(r["path"].endswith("/read") for r in fake.requests[calls:])
    assert fake.unsubscribed_all == {"ada@example.com"}

    # Candor's own later change is pushed (and HubSpot's "no" holds: the channel stays off).
    grant_through_the_api(api, purpose, "cust-1")
    wait_until(
        lambda: len(fake.requests) > calls,
        what="Candor's next change reaches HubSpot",
        timeout=WAIT,
        worker=worker,
    )
    assert fake.status("ada@example.com", "101") == "UNSUBSCRIBED"
    assert "SUBSCRIBED" not in [r["statusState"] for r in written(fake)[1:]]
