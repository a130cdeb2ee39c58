"""The Salesforce connector end to end with real processes: PostgreSQL, a redis-server of the test's
own, a Celery worker as a separate process on the test database (tests/sync/worker_support.py),
and the fake org on a local port.

A consent written through the API reaches the org's consent records through the after-commit
nudge, the broker and the worker; an outage of the org (503s) in the middle loses nothing and
writes nothing twice once it recovers."""

from __future__ import annotations

from typing import Any

import pytest

from consent.services import contact_upsert
from sync.models import Connector, Delivery
from tests.connectors.salesforce_support import CLIENT_SECRET, body, person, sf
from tests.connectors.test_klaviyo_connector import admin_api
from tests.connectors.test_klaviyo_worker import grant_through_the_api
from tests.sync.test_webhooks_faults import WAIT, all_finished, broker, statuses, workers
from tests.sync.worker_support import wait_until

__all__ = ["admin_api", "broker", "sf", "workers"]

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def opt_ins_written(fake: Any, sobject: str, parent: str) -> list[str]:
    """The `parent` (PartyId, ContactPointId) of every OptIn of `sobject` the org accepted a write
    of (refused calls are not kept)."""
    return [
        row[parent]
        for request in fake.requests
        if request["path"] == "/composite/sobjects"
        for row in request["body"]["records"]
        if row["attributes"]["type"] == sobject and row.get("PrivacyConsentStatus") == "OptIn"
    ]


def test_a_consent_written_through_the_api_reaches_salesforce_through_the_worker(
    brand, purpose, api, admin_api, sf, workers, connector_key
):
    worker = workers(CONNECTOR_KEYS=connector_key, WEBHOOK_ALLOW_PRIVATE="true")
    person(sf)
    created = admin_api.post("/api/v1/connectors", body(sf), format="json")
    assert created.status_code == 201, created.content
    connector = Connector.objects.get(public_id=created.json()["id"])
    contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com")

    grant_through_the_api(api, purpose, "cust-1")

    wait_until(
        all_finished(connector.endpoint, 1), what="the grant reaches Salesforce", timeout=WAIT, worker=worker
    )
    assert statuses(connector.endpoint) == ["succeeded"]
    [individual] = sf.find("Individual")
    [consent] = sf.find("ContactPointTypeConsent")
    assert (consent["PartyId"], consent["DataUsePurposeId"], consent["PrivacyConsentStatus"]) == (
        individual["Id"],
        sf.dup,
        "OptIn",
    )
    assert all(CLIENT_SECRET not in line for line in worker.tail().splitlines())


def test_an_outage_of_the_org_loses_nothing_and_writes_nothing_twice(
    brand, purpose, api, admin_api, sf, workers, connector_key
):
    worker = workers(
        CONNECTOR_KEYS=connector_key,
        WEBHOOK_ALLOW_PRIVATE="true",
        TEST_WEBHOOK_RETRY_DELAYS="1,1,1,1,1,1,1,1",
    )
    people = {f"cust-{n}": f"p{n}@example.com" for n in range(4)}
    for external_id, email in people.items():
        person(sf, external_id=external_id, email=email)
        contact_upsert(brand=brand, external_id=external_id, email=email)
    created = admin_api.post("/api/v1/connectors", body(sf), format="json")
    connector = Connector.objects.get(public_id=created.json()["id"])

    sf.outage(6)  # the next six API calls answer 503
    for external_id in people:
        grant_through_the_api(api, purpose, external_id)

    wait_until(
        all_finished(connector.endpoint, len(people)),
        what="every grant reaches Salesforce",
        timeout=WAIT,
        worker=worker,
    )
    assert statuses(connector.endpoint) == ["succeeded"] * len(people)
    assert Delivery.objects.filter(endpoint=connector.endpoint, attempt_count__gt=1).exists()
    individuals = sf.find("Individual")
    assert len(individuals) == len(people)  # one each, none orphaned by a retry
    consents = sf.find("ContactPointTypeConsent")
    assert sorted(c["PartyId"] for c in consents) == sorted(i["Id"] for i in individuals)
    assert {c["PrivacyConsentStatus"] for c in consents} == {"OptIn"}
    written = opt_ins_written(sf, "ContactPointTypeConsent", "PartyId")
    assert sorted(written) == sorted(i["Id"] for i in individuals)  # each written once
    points = sf.find("ContactPointEmail")  # one address each, none made twice by a retry
    assert sorted((p["ParentId"], p["EmailAddress"]) for p in points) == sorted(
        (c["IndividualId"], c["Email"]) for c in sf.find("Contact")
    )
    on_points = sf.find("ContactPointConsent")
    assert sorted(c["ContactPointId"] for c in on_points) == sorted(p["Id"] for p in points)
    assert {c["PrivacyConsentStatus"] for c in on_points} == {"OptIn"}
    written = opt_ins_written(sf, "ContactPointConsent", "ContactPointId")
    assert sorted(written) == sorted(p["Id"] for p in points)  # each written once
    contacts = sf.find("Contact")
    assert sorted(c["IndividualId"] for c in contacts) == sorted(i["Id"] for i in individuals)


def test_an_opt_out_ticked_in_salesforce_is_polled_by_the_worker_and_not_echoed(
    brand, purpose, api, admin_api, sf, workers, connector_key
):
    from consent.models import ConsentEvent, Contact
    from sync import tasks

    worker = workers(CONNECTOR_KEYS=connector_key, WEBHOOK_ALLOW_PRIVATE="true")
    contact_id = person(sf)
    created = admin_api.post("/api/v1/connectors", body(sf), format="json")
    connector = Connector.objects.get(public_id=created.json()["id"])
    contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com")
    grant_through_the_api(api, purpose, "cust-1")
    wait_until(
        all_finished(connector.endpoint, 1), what="the grant reaches Salesforce", timeout=WAIT, worker=worker
    )

    # Beat's job: the worker runs connectors_poll (a first poll sets the watermark).
    tasks.connectors_poll.delay()
    wait_until(
        lambda: Connector.objects.get(pk=connector.pk).polled_at is not None,
        what="the first poll",
        timeout=WAIT,
        worker=worker,
    )
    sf.edit("Contact", contact_id, HasOptedOutOfEmail=True)  # ticked by a user in Salesforce
    writes = len(sf.api_calls("/composite/sobjects"))
    tasks.connectors_poll.delay()
    ada = Contact.objects.get(brand=brand, external_id="cust-1")
    wait_until(
        lambda: ConsentEvent.objects.filter(contact=ada, method="connector").exists(),
        what="the opt-out polled into the ledger",
        timeout=WAIT,
        worker=worker,
    )
    [row] = ConsentEvent.objects.filter(contact=ada, method="connector")
    assert (row.decision, row.evidence.message["vendor"]) == ("withdrawn", "salesforce")
    # What it caused is not written back as a change of the flag; the purpose's consent the
    # flag withdrew in Candor is turned OptOut in the org to match, within seconds.
    wait_until(
        lambda: (
            Delivery.objects.filter(endpoint=connector.endpoint).count() > 1
            and "pending" not in statuses(connector.endpoint)
        ),
        what="the withdrawal's deliveries finish",
        timeout=WAIT,
        worker=worker,
    )
    written = {
        row["attributes"]["type"]
        for r in sf.api_calls("/composite/sobjects")[writes:]
        for row in r["body"]["records"]
    }
    assert "Contact" not in written
    assert sf.find("ContactPointTypeConsent")[0]["PrivacyConsentStatus"] == "OptOut"
