"""A Klaviyo connector end to end with real processes: PostgreSQL, a redis-server of the test's
own, a Celery worker started as a separate process on the test database (as the webhook fault
tests run it, tests/sync/test_webhooks_faults.py), and the Klaviyo fake on a local port.

A consent written through the API reaches the fake's list through the after-commit nudge, the
broker and the worker; a 429 storm in the middle loses nothing and subscribes no one twice."""

from __future__ import annotations

from typing import Any

import pytest

from consent.services import contact_upsert
from sync.models import Connector, Delivery
from tests.conftest import current_version
from tests.connectors.test_klaviyo_connector import KEY, admin_api, body, fake
from tests.sync.test_webhooks_faults import WAIT, all_finished, broker, statuses, workers
from tests.sync.worker_support import wait_until

__all__ = ["admin_api", "broker", "fake", "workers"]

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def grant_through_the_api(api: Any, purpose: Any, external_id: str) -> None:
    version = current_version(purpose).public_id
    reply = api.post(
        f"/api/v1/contacts/{external_id}/consents",
        {"purpose": purpose.slug, "decision": "granted", "notice_version": version},
        format="json",
    )
    assert reply.status_code == 201, reply.content


def test_a_consent_written_through_the_api_reaches_klaviyo_through_the_worker(
    brand, purpose, api, admin_api, fake, workers, connector_key
):
    worker = workers(CONNECTOR_KEYS=connector_key, WEBHOOK_ALLOW_PRIVATE="true")
    created = admin_api.post("/api/v1/connectors", body(fake), format="json")
    assert created.status_code == 201, created.content
    connector = Connector.objects.get(public_id=created.json()["id"])
    contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com")

    grant_through_the_api(api, purpose, "cust-1")

    wait_until(
        all_finished(connector.endpoint, 1), what="the grant reaches Klaviyo", timeout=WAIT, worker=worker
    )
    assert statuses(connector.endpoint) == ["succeeded"]
    assert fake.subscribed("LstNews") == {"ada@example.com"}
    assert fake.consent[("ada@example.com", "email")] == "SUBSCRIBED"
    assert all(KEY not in line for line in worker.tail().splitlines())


def test_a_429_storm_under_the_worker_loses_nothing_and_subscribes_no_one_twice(
    brand, purpose, api, admin_api, fake, workers, connector_key
):
    worker = workers(CONNECTOR_KEYS=connector_key, WEBHOOK_ALLOW_PRIVATE="true")
    created = admin_api.post("/api/v1/connectors", body(fake), format="json")
    connector = Connector.objects.get(public_id=created.json()["id"])
    people = {f"cust-{n}": f"p{n}@example.com" for n in range(4)}
    for external_id, email in people.items():
        contact_upsert(brand=brand, external_id=external_id, email=email)

    fake.throttle(3)  # the next three calls are answered 429 with Retry-After
    for external_id in people:
        grant_through_the_api(api, purpose, external_id)

    wait_until(
        all_finished(connector.endpoint, len(people)),
        what="every grant reaches Klaviyo",
        timeout=WAIT,
        worker=worker,
    )
    assert statuses(connector.endpoint) == ["succeeded"] * len(people)
    assert fake.subscribed("LstNews") == set(people.values())
    subscribed = [  # the fake keeps the calls it accepted; the refused ones changed nothing
        row["attributes"]["email"]
        for request in fake.requests
        if request["path"] == "/api/profile-subscription-bulk-create-jobs"
        for row in request["body"]["data"]["attributes"]["profiles"]["data"]
    ]
    assert sorted(subscribed) == sorted(people.values())  # each once, none lost
    assert Delivery.objects.filter(endpoint=connector.endpoint, attempt_count__gt=1).exists()
