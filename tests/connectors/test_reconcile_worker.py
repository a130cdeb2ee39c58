"""The reconciler with real processes: `POST …/reconcile` hands the run to a Celery worker (a
separate process, on the test database and a redis-server of the test's own), which reads the
Klaviyo fake, repairs the injected drift by the rule and keeps the report `GET …/reconcile` shows."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from consent.models import ConsentEvent
from consent.services import contact_upsert
from sync.models import Connector, Event, EventType, ReconcileRun
from tests.connectors.support import grant
from tests.connectors.test_klaviyo_connector import KEY, admin_api, fake
from tests.sync.test_webhooks_faults import WAIT, broker, workers
from tests.sync.worker_support import wait_until

__all__ = ["admin_api", "broker", "fake", "workers"]

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_drift_injected_into_klaviyo_is_repaired_by_the_worker(
    brand, purpose, admin_api, fake, workers, settings
):
    key = Fernet.generate_key().decode()
    settings.CONNECTOR_KEYS = [key]
    worker = workers(CONNECTOR_KEYS=key, WEBHOOK_ALLOW_PRIVATE="true")
    for name in ("ada", "bob", "cat"):
        contact_upsert(brand=brand, external_id=f"cust-{name}", email=f"{name}@example.com")
    grant(brand, purpose, "cust-ada")
    grant(brand, purpose, "cust-bob")
    reply = admin_api.post(
        "/api/v1/connectors",
        {
            "vendor": "klaviyo",
            "name": "Main account",
            "credentials": {"api_key": KEY},
            "mapping": {"lists": [{"list": "LstNews", "purpose": purpose.slug}]},
            "api_base_url": fake.base_url,
        },
        format="json",
    )
    assert reply.status_code == 201, reply.content
    connector = Connector.objects.get(public_id=reply.json()["id"])
    # ada is missing in Klaviyo; bob unsubscribed there; cat was imported as subscribed.
    fake.drift_subscribe("LstNews", "bob@example.com")
    fake.drift_unsubscribe("bob@example.com", "email", list_id="LstNews")
    fake.drift_subscribe("LstNews", "cat@example.com")
    path = f"/api/v1/connectors/{connector.public_id}/reconcile"

    started = admin_api.post(path)
    assert started.status_code == 202, started.content

    wait_until(
        lambda: ReconcileRun.objects.get().status != "running",
        what="the worker reconciles",
        timeout=WAIT,
        worker=worker,
    )
    report = admin_api.get(path).json()
    assert report["status"] == "succeeded", report
    expected = {
        "vendor_subscribed_without_consent": 1,
        "vendor_unsubscribed_candor_subscribed": 1,
        "unknown_in_vendor": 1,
    }
    assert report["drift"] == expected
    assert report["repaired"] == expected
    assert fake.subscribed("LstNews") == {"ada@example.com"}
    withdrawn = ConsentEvent.objects.filter(decision="withdrawn")
    assert [(e.contact.external_id, e.method) for e in withdrawn] == [("cust-bob", "connector")]
    assert Event.objects.filter(type=EventType.CONNECTOR_DRIFT_REPAIRED).count() == 1
    assert all(KEY not in line for line in worker.tail().splitlines())
