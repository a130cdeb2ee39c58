"""A contact's address changed in Candor: Klaviyo keeps consent by address, so the change leaves
each Klaviyo connector a sealed notice of the address the contact left, and the push of its
contact.updated turns off the "yes" Klaviyo holds there (a list-less unsubscribe job) while the
new address is subscribed as the contact's state says; the notice goes once Klaviyo took it."""

from __future__ import annotations

from typing import Any

import pytest

from consent.erasure import contact_erase
from consent.models import Contact
from consent.services import contact_upsert
from sync.delivery.connectors.crypto import credentials_decrypt
from sync.delivery.fanout import endpoint_fanout
from sync.models import Connector, Delivery, ErasureNotice
from tests.connectors.support import drain, grant
from tests.connectors.test_klaviyo_connector import admin_api, body, fake
from tests.fakes.klaviyo import FakeKlaviyo
from tests.sync.webhook_support import published

__all__ = ["admin_api", "fake", "published"]

pytestmark = pytest.mark.django_db(transaction=True)
OLD, NEW, OTHER = "ada@example.com", "ada@new.example", "ada@third.example"
JOBS = "/api/profile-subscription-bulk-delete-jobs"


@pytest.fixture
def connector(admin_api, fake, purpose) -> Connector:
    reply = admin_api.post("/api/v1/connectors", body(fake), format="json")
    assert reply.status_code == 201, reply.content
    return Connector.objects.select_related("endpoint").get(public_id=reply.json()["id"])


@pytest.fixture
def pushed(connector: Connector, brand: Any, purpose: Any, fake: FakeKlaviyo) -> Contact:
    contact, _ = contact_upsert(brand=brand, external_id="cust-1", email=OLD)
    grant(brand, purpose)
    push(connector)
    assert fake.subscribed("LstNews") == {OLD}
    return contact


def push(connector: Connector) -> None:
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)


def unsubscribe_jobs(fake: FakeKlaviyo, since: int = 0) -> list[dict[str, Any]]:
    return [r["body"] for r in fake.requests[since:] if r["path"] == JOBS]


def former(*emails: str) -> dict[str, Any]:
    return {
        "data": {
            "type": "profile-subscription-bulk-delete-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": email,
                                "subscriptions": {"email": {"marketing": {"consent": "UNSUBSCRIBED"}}},
                            },
                        }
                        for email in emails
                    ]
                }
            },
        }
    }


def test_the_address_left_is_unsubscribed_and_the_new_one_subscribed(
    connector, brand, pushed, fake, published
):
    before = len(fake.requests)

    contact_upsert(brand=brand, external_id="cust-1", email=NEW)
    [notice] = ErasureNotice.objects.all()
    assert (notice.kind, notice.connector_id, notice.contact_ref) == ("moved", connector.pk, pushed.pk)
    assert OLD not in notice.sealed
    assert credentials_decrypt(notice.sealed) == {"emails": [OLD], "phones": []}

    push(connector)

    assert unsubscribe_jobs(fake, before) == [former(OLD)]
    assert fake.consent[(OLD, "email")] == "UNSUBSCRIBED"
    assert fake.consent[(NEW, "email")] == "SUBSCRIBED"
    assert NEW in fake.subscribed("LstNews")
    assert ErasureNotice.objects.count() == 0
    assert list(Delivery.objects.filter(endpoint=connector.endpoint).values_list("type", "status")) == [
        ("consent.granted", "succeeded"),
        ("contact.updated", "succeeded"),
    ]


def test_no_change_of_address_sends_no_unsubscribe_and_keeps_no_notice(
    connector, brand, pushed, fake, published
):
    before = len(fake.requests)

    contact_upsert(brand=brand, external_id="cust-1", email=OLD.upper(), locale="de")
    contact_upsert(brand=brand, external_id="cust-2", email=NEW)  # a new contact: no move
    push(connector)

    assert unsubscribe_jobs(fake, before) == []
    assert ErasureNotice.objects.count() == 0


def test_two_changes_before_a_push_unsubscribe_both_addresses_left(connector, brand, pushed, fake, published):
    contact_upsert(brand=brand, external_id="cust-1", email=NEW)
    contact_upsert(brand=brand, external_id="cust-1", email=OTHER)
    [notice] = ErasureNotice.objects.all()
    assert credentials_decrypt(notice.sealed) == {"emails": [OLD, NEW], "phones": []}
    before = len(fake.requests)

    push(connector)

    assert unsubscribe_jobs(fake, before) == [former(OLD, NEW)]  # once, for both
    assert fake.consent[(OLD, "email")] == fake.consent[(NEW, "email")] == "UNSUBSCRIBED"
    assert fake.consent[(OTHER, "email")] == "SUBSCRIBED"
    assert ErasureNotice.objects.count() == 0


def test_klaviyo_throttling_keeps_the_notice_until_the_retry_succeeds(
    connector, brand, pushed, fake, published
):
    contact_upsert(brand=brand, external_id="cust-1", email=NEW)
    fake.throttle(1)
    endpoint_fanout(endpoint_id=connector.endpoint_id)

    delivery = Delivery.objects.get(endpoint=connector.endpoint, type="contact.updated")
    assert (delivery.status, delivery.attempt_count) == ("pending", 1)
    assert fake.consent[(OLD, "email")] == "SUBSCRIBED"
    assert ErasureNotice.objects.filter(kind="moved").count() == 1

    drain(connector.endpoint)

    assert fake.consent[(OLD, "email")] == "UNSUBSCRIBED"
    assert ErasureNotice.objects.count() == 0


def test_an_erasure_before_the_push_deletes_the_address_left_too(connector, brand, pushed, fake, published):
    contact_upsert(brand=brand, external_id="cust-1", email=NEW)
    contact_erase(brand=brand, contact=Contact.objects.get(pk=pushed.pk), requested_via="api")
    assert sorted(ErasureNotice.objects.values_list("kind", flat=True)) == ["erased", "moved"]

    push(connector)

    deletions = [
        r["body"]["data"]["attributes"]["profile"]["data"]["attributes"]
        for r in fake.requests
        if r["path"] == "/api/data-privacy-deletion-jobs"
    ]
    assert deletions == [{"email": NEW}, {"email": OLD}]
    assert OLD not in fake.profiles
    assert NEW not in fake.profiles
    assert ErasureNotice.objects.count() == 0


def test_an_address_another_contact_gives_now_keeps_its_yes(
    connector, brand, pushed, fake, published, purpose
):
    # Ada leaves the address; Bob, who shares it (a household), keeps giving it, and has said yes.
    contact_upsert(brand=brand, external_id="cust-2", email=OLD)
    grant(brand, purpose, external_id="cust-2")
    push(connector)
    contact_upsert(brand=brand, external_id="cust-1", email=NEW)
    before = len(fake.requests)

    push(connector)

    assert unsubscribe_jobs(fake, before) == []  # nothing turned off: Bob's "yes" stands
    assert fake.consent[(OLD, "email")] == "SUBSCRIBED"
    assert fake.consent[(NEW, "email")] == "SUBSCRIBED"
    assert ErasureNotice.objects.count() == 0  # told: nothing left for Klaviyo to take


def test_of_two_addresses_left_only_the_one_no_one_gives_is_turned_off(
    connector, brand, pushed, fake, published
):
    contact_upsert(brand=brand, external_id="cust-1", email=NEW)
    contact_upsert(brand=brand, external_id="cust-1", email=OTHER)
    contact_upsert(brand=brand, external_id="cust-3", email=NEW.upper())  # someone took NEW since
    before = len(fake.requests)

    push(connector)

    assert unsubscribe_jobs(fake, before) == [former(OLD)]
    assert fake.consent[(OLD, "email")] == "UNSUBSCRIBED"
    assert ErasureNotice.objects.count() == 0


def test_an_address_left_and_taken_back_is_not_turned_off(connector, brand, pushed, fake, published):
    contact_upsert(brand=brand, external_id="cust-1", email=NEW)
    contact_upsert(brand=brand, external_id="cust-1", email=OLD)
    before = len(fake.requests)

    push(connector)

    assert unsubscribe_jobs(fake, before) == [former(NEW)]
    assert fake.consent[(OLD, "email")] == "SUBSCRIBED"
    assert ErasureNotice.objects.count() == 0


def test_an_erasure_does_not_delete_an_address_left_that_another_contact_gives(
    connector, brand, pushed, fake, published
):
    contact_upsert(brand=brand, external_id="cust-1", email=NEW)
    contact_upsert(brand=brand, external_id="cust-2", email=OLD)
    contact_erase(brand=brand, contact=Contact.objects.get(pk=pushed.pk), requested_via="api")

    push(connector)

    deletions = [
        r["body"]["data"]["attributes"]["profile"]["data"]["attributes"]
        for r in fake.requests
        if r["path"] == "/api/data-privacy-deletion-jobs"
    ]
    assert deletions == [{"email": NEW}]  # the erased person's; OLD is cust-2's now
    assert OLD in fake.profiles
    assert ErasureNotice.objects.count() == 0


def test_without_connector_keys_the_change_still_happens(connector, brand, pushed, fake, settings, caplog):
    settings.CONNECTOR_KEYS = []
    settings.CONNECTOR_DERIVED_KEY = False

    contact, _ = contact_upsert(brand=brand, external_id="cust-1", email=NEW)

    assert contact.email == NEW
    assert ErasureNotice.objects.count() == 0
    assert "no usable CONNECTOR_KEYS" in caplog.text
    assert OLD not in caplog.text
