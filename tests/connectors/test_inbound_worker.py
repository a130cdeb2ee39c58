"""A "no" given in Klaviyo, end to end with real processes: the fake sends its signed webhook to
the live server, the Celery worker (a separate process, on a redis-server of the test's own)
applies it to the ledger, and the change is not pushed back to Klaviyo, while Candor's own later
changes still are."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from consent.models import ConsentEvent
from consent.services import contact_upsert
from sync.models import Connector, InboundSignal
from tests.connectors.test_klaviyo_connector import admin_api, body, fake
from tests.connectors.test_klaviyo_worker import grant_through_the_api
from tests.fakes.klaviyo_webhooks import klaviyo_unsubscribe
from tests.sync.test_webhooks_faults import WAIT, all_finished, broker, statuses, workers
from tests.sync.worker_support import wait_until

__all__ = ["admin_api", "broker", "fake", "workers"]

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SECRET = "klaviyo-webhook-secret-0123"


def test_an_unsubscribe_in_klaviyo_reaches_the_ledger_through_the_worker_and_is_not_echoed(
    brand, purpose, api, admin_api, fake, workers, live_server, settings
):
    key = Fernet.generate_key().decode()
    settings.CONNECTOR_KEYS = [key]
    settings.INBOUND_NUDGE_SECONDS = 0
    worker = workers(CONNECTOR_KEYS=key, WEBHOOK_ALLOW_PRIVATE="true")
    created = admin_api.post(
        "/api/v1/connectors",
        body(fake, credentials={"api_key": "pk_test_0123456789abcdef", "webhook_secret": SECRET}),
        format="json",
    )
    assert created.status_code == 201, created.content
    connector = Connector.objects.get(public_id=created.json()["id"])
    contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com")
    grant_through_the_api(api, purpose, "cust-1")
    wait_until(
        all_finished(connector.endpoint, 1), what="the grant reaches Klaviyo", timeout=WAIT, worker=worker
    )
    assert fake.subscribed("LstNews") == {"ada@example.com"}
    calls = len(fake.requests)

    status = klaviyo_unsubscribe(
        fake,
        email="ada@example.com",
        hook_url=f"{live_server.url}/hooks/klaviyo/{connector.public_id}",
        secret=SECRET,
        event_id="01KLAVIYOEVENT",
    )

    assert status == 200

    def applied() -> bool:
        return InboundSignal.objects.filter(outcome="recorded").exists()

    wait_until(applied, what="the worker applies Klaviyo's unsubscribe", timeout=WAIT, worker=worker)
    withdrawal = ConsentEvent.objects.get(decision="withdrawn")
    assert (withdrawal.method, withdrawal.recorded_by) == ("connector", f"connector:{connector.public_id}")
    assert withdrawal.evidence.message["event_id"] == "01KLAVIYOEVENT"
    signal = InboundSignal.objects.get()
    assert (signal.event_id, signal.kind, signal.payload) == ("01KLAVIYOEVENT", "unsubscribed", None)
    assert ConsentEvent.objects.count() == 2  # the grant and the withdrawal
    # The changes it caused reach the connector's log, and none is sent back to Klaviyo.
    wait_until(
        lambda: len(statuses(connector.endpoint)) > 1 and "pending" not in statuses(connector.endpoint),
        what="the connector's deliveries of the unsubscribe finish",
        timeout=WAIT,
        worker=worker,
    )
    assert set(statuses(connector.endpoint)) == {"succeeded"}
    assert len(fake.requests) == calls
    assert fake.consent[("ada@example.com", "email")] == "UNSUBSCRIBED"

    # A later change made in Candor is Candor's own: it reaches Klaviyo (unsubscribe: the channel
    # stays opted out whatever the purpose says).
    grant_through_the_api(api, purpose, "cust-1")
    wait_until(
        lambda: len(fake.requests) > calls,
        what="Candor's next change reaches Klaviyo",
        timeout=WAIT,
        worker=worker,
    )
    assert fake.requests[-1]["path"] == "/api/profile-subscription-bulk-delete-jobs"
    assert fake.subscribed("LstNews") == set()


def test_a_forged_call_is_refused_and_nothing_reaches_the_worker(
    brand, purpose, admin_api, fake, live_server, settings
):
    settings.CONNECTOR_KEYS = [Fernet.generate_key().decode()]
    created = admin_api.post(
        "/api/v1/connectors",
        body(fake, credentials={"api_key": "pk_test_0123456789abcdef", "webhook_secret": SECRET}),
        format="json",
    )
    connector = Connector.objects.get(public_id=created.json()["id"])
    contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com")
    status = klaviyo_unsubscribe(
        fake,
        email="ada@example.com",
        hook_url=f"{live_server.url}/hooks/klaviyo/{connector.public_id}",
        secret="not-the-secret-0123456789",
        event_id="forged",
    )
    assert status == 401
    assert not InboundSignal.objects.exists()
    assert not ConsentEvent.objects.exists()
