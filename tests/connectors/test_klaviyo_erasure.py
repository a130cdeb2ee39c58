"""An erasure reaches Klaviyo: Klaviyo deletes a profile only by its address, which Candor no
longer holds once the contact is erased, so the erasure leaves a sealed notice of the addresses
for each Klaviyo connector, the push of contact.erased asks Klaviyo to delete by it, and the
notice goes once Klaviyo accepted (Art. 17(2), 19)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.utils import timezone

from consent.erasure import contact_erase
from consent.models import Contact
from consent.services import contact_upsert
from sync.delivery.connectors.crypto import credentials_decrypt
from sync.delivery.connectors.erasure_notices import erasure_notices_purge
from sync.delivery.fanout import endpoint_fanout
from sync.models import Connector, Delivery, ErasureNotice
from tests.connectors.support import drain, grant
from tests.connectors.test_klaviyo_connector import admin_api, body, fake
from tests.sync.webhook_support import published

__all__ = ["admin_api", "fake", "published"]

pytestmark = pytest.mark.django_db(transaction=True)
ADA, PHONE = "ada@example.com", "+4915112345678"


@pytest.fixture
def connector(admin_api, fake, purpose) -> Connector:
    reply = admin_api.post("/api/v1/connectors", body(fake), format="json")
    assert reply.status_code == 201, reply.content
    return Connector.objects.select_related("endpoint").get(public_id=reply.json()["id"])


@pytest.fixture
def ada(brand) -> Contact:
    contact, _ = contact_upsert(brand=brand, external_id="cust-1", email=ADA, phone=PHONE)
    return contact


def erase(brand: Any, contact: Contact) -> None:
    contact_erase(brand=brand, contact=contact, requested_via="api")


def test_an_erasure_deletes_the_profile_in_klaviyo_and_keeps_nothing(
    connector, brand, purpose, ada, fake, published
):
    contact_upsert(brand=brand, external_id="cust-2", email="bob@example.com")
    grant(brand, purpose)
    grant(brand, purpose, "cust-2")
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    assert fake.subscribed("LstNews") == {ADA, "bob@example.com"}

    erase(brand, ada)
    [notice] = ErasureNotice.objects.all()
    assert (notice.connector_id, notice.contact_ref) == (connector.pk, ada.pk)
    assert ADA not in notice.sealed
    assert PHONE not in notice.sealed
    assert credentials_decrypt(notice.sealed) == {"email": ADA, "phone": PHONE}

    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)

    deletions = [r["body"] for r in fake.requests if r["path"] == "/api/data-privacy-deletion-jobs"]
    assert deletions == [
        {
            "data": {
                "type": "data-privacy-deletion-job",
                "attributes": {"profile": {"data": {"type": "profile", "attributes": {attr: value}}}},
            }
        }
        for attr, value in (("email", ADA), ("phone_number", PHONE))
    ]
    assert ADA not in fake.profiles
    assert fake.subscribed("LstNews") == {"bob@example.com"}  # nobody else touched
    assert ErasureNotice.objects.count() == 0
    erased = Delivery.objects.get(endpoint=connector.endpoint, event__type="contact.erased")
    assert erased.status == "succeeded"
    # Sent again (a redelivery), it has nothing left to delete by, and deletes nothing.
    before = len(fake.requests)
    Delivery.objects.filter(pk=erased.pk).update(status="pending", next_attempt_at=timezone.now())
    drain(connector.endpoint)
    assert fake.requests[before:] == []


def test_a_refused_deletion_keeps_the_notice_until_klaviyo_takes_it(
    connector, brand, purpose, ada, fake, published
):
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    erase(brand, ada)
    fake.api_keys.clear()  # every call 403 for now
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    erased = Delivery.objects.get(endpoint=connector.endpoint, event__type="contact.erased")
    assert erased.status == "pending"
    assert ErasureNotice.objects.filter(contact_ref=ada.pk).exists()

    fake.api_keys.add("pk_test_0123456789abcdef")
    drain(connector.endpoint)
    assert ADA not in fake.profiles
    assert not ErasureNotice.objects.exists()


def test_only_the_brands_own_connectors_get_a_notice(
    connector, make_client, make_purpose, other_brand, brand, ada, fake
):
    from brands.models import Scope

    make_purpose(other_brand, "email-marketing")  # for the other brand's mapping to name
    other = make_client(other_brand, [Scope.ADMIN])
    assert other.post("/api/v1/connectors", body(fake), format="json").status_code == 201

    erase(brand, ada)

    assert list(ErasureNotice.objects.values_list("connector_id", flat=True)) == [connector.pk]


def test_a_contact_without_an_address_leaves_no_notice(connector, brand):
    nobody, _ = contact_upsert(brand=brand, external_id="cust-9")
    erase(brand, nobody)
    assert not ErasureNotice.objects.exists()


def test_without_keys_the_erasure_still_happens(connector, brand, ada, settings):
    settings.CONNECTOR_KEYS = []
    settings.CONNECTOR_DERIVED_KEY = False
    erase(brand, ada)
    ada.refresh_from_db()
    assert ada.erased_at is not None
    assert not ErasureNotice.objects.exists()


def test_notices_never_pushed_go_after_their_days(connector, brand, ada, settings):
    settings.ERASURE_NOTICE_DAYS = 30
    erase(brand, ada)
    ErasureNotice.objects.update(created_at=timezone.now() - timedelta(days=29))
    assert erasure_notices_purge() == 0
    ErasureNotice.objects.update(created_at=timezone.now() - timedelta(days=31))
    assert erasure_notices_purge() == 1
    assert not ErasureNotice.objects.exists()


def test_key_rotation_reseals_the_notices(connector, brand, ada, settings):
    from sync.delivery.connectors import crypto

    erase(brand, ada)
    derived = crypto._keys()[0].decode()
    new_key = Fernet.generate_key().decode()
    settings.CONNECTOR_KEYS = [new_key, derived]
    call_command("rotate_connector_keys")
    settings.CONNECTOR_KEYS = [new_key]  # the old key dropped
    assert credentials_decrypt(ErasureNotice.objects.get().sealed) == {"email": ADA, "phone": PHONE}


def test_an_erasure_does_not_delete_a_profile_whose_address_another_contact_gives(
    connector, brand, purpose, ada, fake, published
):
    """Klaviyo keeps one profile per address: a household's shared email is the other person's
    profile too, with their "yes"; only the erased person's own phone is deleted."""
    contact_upsert(brand=brand, external_id="cust-2", email=ADA.upper())  # the same address
    grant(brand, purpose)
    grant(brand, purpose, "cust-2")
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    assert ADA in fake.subscribed("LstNews")

    erase(brand, ada)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)

    deletions = [
        r["body"]["data"]["attributes"]["profile"]["data"]["attributes"]
        for r in fake.requests
        if r["path"] == "/api/data-privacy-deletion-jobs"
    ]
    assert deletions == [{"phone_number": PHONE}]
    assert ADA in fake.subscribed("LstNews")  # cust-2's "yes" stays
    assert ErasureNotice.objects.count() == 0  # nothing left to delete by: the notice goes
    erased = Delivery.objects.get(endpoint=connector.endpoint, event__type="contact.erased")
    assert erased.status == "succeeded"
