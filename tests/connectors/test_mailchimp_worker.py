"""A Mailchimp connector end to end with real processes: PostgreSQL, a redis-server of the test's
own, a Celery worker started as a separate process on the test database (as
test_klaviyo_worker.py runs it), and the Mailchimp fake on a local port.

A consent written through the API reaches the fake's audience through the after-commit nudge,
the broker and the worker; a storm of 429s (Mailchimp sends no Retry-After: the adapter's own
delay applies) loses nothing and sends no one twice."""

from __future__ import annotations

import pytest

from consent.services import contact_upsert
from sync.models import Attempt, Connector, Delivery
from tests.connectors.test_klaviyo_worker import grant_through_the_api
from tests.connectors.test_mailchimp_connector import LIST, admin_api, body, fake
from tests.fakes.mailchimp import KEY
from tests.sync.test_webhooks_faults import WAIT, all_finished, broker, statuses, workers
from tests.sync.worker_support import wait_until

__all__ = ["admin_api", "broker", "fake", "workers"]

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_consent_written_through_the_api_reaches_mailchimp_through_the_worker(
    brand, purpose, api, admin_api, fake, workers, connector_key
):
    worker = workers(CONNECTOR_KEYS=connector_key, WEBHOOK_ALLOW_PRIVATE="true")
    created = admin_api.post("/api/v1/connectors", body(fake), format="json")
    assert created.status_code == 201, created.content
    connector = Connector.objects.get(public_id=created.json()["id"])
    contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com")

    grant_through_the_api(api, purpose, "cust-1")

    wait_until(
        all_finished(connector.endpoint, 1), what="the grant reaches Mailchimp", timeout=WAIT, worker=worker
    )
    assert statuses(connector.endpoint) == ["succeeded"]
    assert fake.statuses(LIST) == {"ada@example.com": "subscribed"}
    assert all(KEY not in line for line in worker.tail().splitlines())


def test_a_429_storm_under_the_worker_loses_nothing_and_sends_no_one_twice(
    brand, purpose, api, admin_api, fake, workers, connector_key
):
    worker = workers(CONNECTOR_KEYS=connector_key, WEBHOOK_ALLOW_PRIVATE="true")
    created = admin_api.post("/api/v1/connectors", body(fake), format="json")
    connector = Connector.objects.get(public_id=created.json()["id"])
    people = {f"cust-{n}": f"p{n}@example.com" for n in range(4)}
    for external_id, email in people.items():
        contact_upsert(brand=brand, external_id=external_id, email=email)

    fake.throttle(3)  # the next three batch calls are answered 429, without Retry-After
    for external_id in people:
        grant_through_the_api(api, purpose, external_id)

    wait_until(
        all_finished(connector.endpoint, len(people)),
        what="every grant reaches Mailchimp",
        timeout=WAIT,
        worker=worker,
    )
    assert statuses(connector.endpoint) == ["succeeded"] * len(people)
    assert fake.statuses(LIST) == dict.fromkeys(people.values(), "subscribed")
    sent = [member["email_address"] for request in fake.requests for member in request["body"]["members"]]
    assert sorted(sent) == sorted(people.values())  # each once: the refused calls changed nothing
    throttled = Attempt.objects.filter(delivery__endpoint=connector.endpoint, status_code=429)
    assert throttled.exists()
    assert Delivery.objects.filter(endpoint=connector.endpoint, attempt_count__gt=1).exists()
    assert fake.refused == 3
