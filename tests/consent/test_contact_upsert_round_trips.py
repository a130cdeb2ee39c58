"""`PUT /contacts/{id}` costs one database round trip: the upsert is one statement (with the
suppression check as a subquery), atomic by itself, with the same checks as before. A change of
an existing contact's address costs five: that statement (which leaves the address alone and
shows it differs), the contact's lock with the change, its `contact.updated` event, the
connectors that must hear of the addresses left, the COMMIT (four inside a test's transaction).

Counted once the connection has prepared the statements: a single statement prepares in a round
trip of its own the first time, and again after a ROLLBACK (config.db._run), so each count here
follows the same call made once for another contact."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.errors import Conflict
from consent.identifiers import email_hmac
from consent.models import Contact, Suppression, SuppressionReason
from consent.services import contact_upsert
from tests.roundtrips import round_trips

pytestmark = pytest.mark.django_db


def suppress(brand, address: str) -> None:
    Suppression.objects.create(
        brand=brand,
        email_hmac=email_hmac(address),
        reason=SuppressionReason.ERASED,
        created_at=timezone.now(),
    )


def test_create_update_and_unchanged_each_take_one_round_trip(brand):
    contact_upsert(brand=brand, external_id="warm-up", email="Bea@Example.com")
    contact_upsert(brand=brand, external_id="warm-up", locale="de_DE")
    contact_upsert(brand=brand, external_id="warm-up", email="bea@example.com", locale="de-DE")
    with round_trips() as trips, CaptureQueriesContext(connection) as queries:
        contact, created = contact_upsert(brand=brand, external_id="cust-9", email="Ada@Example.com")
    assert (trips.count, len(queries), created) == (1, 1, True)
    assert (contact.email, contact.email_hmac, contact.suppressed) == (
        "ada@example.com",
        email_hmac("ada@example.com"),
        False,
    )
    with round_trips() as trips:
        changed, created = contact_upsert(brand=brand, external_id="cust-9", locale="de_DE")
    assert (trips.count, created, changed.pk, changed.locale, changed.email) == (
        1,
        False,
        contact.pk,
        "de-DE",
        "ada@example.com",
    )
    with round_trips() as trips:
        same, created = contact_upsert(
            brand=brand, external_id="cust-9", email="ada@example.com", locale="de-DE"
        )
    assert (trips.count, created, same.pk) == (1, False, contact.pk)


def test_updated_at_moves_only_when_a_value_changes(brand):
    with time_machine.travel(timezone.now() - timedelta(hours=2), tick=False):
        contact, _ = contact_upsert(brand=brand, external_id="cust-9", email="ada@example.com", locale="en")
    before = Contact.objects.get(pk=contact.pk).updated_at
    same, _ = contact_upsert(brand=brand, external_id="cust-9", email="ADA@example.com", locale="en")
    assert same.updated_at == before == Contact.objects.get(pk=contact.pk).updated_at
    moved, _ = contact_upsert(brand=brand, external_id="cust-9", locale="fr")
    assert moved.updated_at > before
    assert Contact.objects.get(pk=contact.pk).updated_at == moved.updated_at
    assert Contact.objects.get(pk=contact.pk).created_at == contact.created_at


def test_null_clears_and_omitted_fields_keep_their_value(brand):
    contact_upsert(
        brand=brand, external_id="cust-9", email="ada@example.com", phone="+4915123456789", locale="de"
    )
    contact, _ = contact_upsert(brand=brand, external_id="cust-9", email=None)
    stored = Contact.objects.values("email", "email_hmac", "phone", "locale").get(pk=contact.pk)
    assert stored == {"email": None, "email_hmac": None, "phone": "+4915123456789", "locale": "de"}


def test_a_suppressed_address_makes_the_contact_suppressed_on_create_and_on_change(brand, other_brand):
    suppress(brand, "gone@example.com")
    suppress(other_brand, "ada@example.com")  # another brand's list does not count
    created, _ = contact_upsert(brand=brand, external_id="cust-1", email="Gone@Example.com")
    assert created.suppressed is True
    clean, _ = contact_upsert(brand=brand, external_id="cust-2", email="ada@example.com")
    assert clean.suppressed is False
    contact_upsert(brand=brand, external_id="cust-3", email="bea@example.com")
    contact_upsert(brand=brand, external_id="cust-3", email="gone@example.com")
    with round_trips() as trips:
        changed, _ = contact_upsert(brand=brand, external_id="cust-2", email="gone@example.com")
    assert (trips.count, changed.suppressed) == (4, True), trips
    # The list is consulted only when the address changes: the same address keeps the flag.
    Contact.objects.filter(pk=changed.pk).update(suppressed=False)
    same, _ = contact_upsert(brand=brand, external_id="cust-2", email="gone@example.com")
    assert same.suppressed is False
    moved_away, _ = contact_upsert(brand=brand, external_id="cust-1", email="new@example.com")
    assert moved_away.suppressed is False
    assert Contact.objects.get(pk=moved_away.pk).suppressed is False


def test_an_erased_contact_is_refused_and_not_written(brand):
    contact, _ = contact_upsert(brand=brand, external_id="cust-9", locale="en")
    Contact.objects.filter(pk=contact.pk).update(erased_at=timezone.now(), email=None)
    before = Contact.objects.values().get(pk=contact.pk)
    for fields in ({"email": "ada@example.com"}, {}):
        # The refusal rolls back, and the statement must be prepared again (see above).
        contact_upsert(brand=brand, external_id="warm-up", **fields)
        with round_trips() as trips, pytest.raises(Conflict):
            contact_upsert(brand=brand, external_id="cust-9", **fields)
        assert trips.count == 1
    assert Contact.objects.values().get(pk=contact.pk) == before


def test_put_is_one_round_trip_for_the_whole_request(api, brand):
    # The key's cache entry and last_used_at, and the statements prepared.
    api.put("/api/v1/contacts/warm-up", {"email": "bea@example.com"}, format="json")
    api.put("/api/v1/contacts/warm-up", {"locale": "fr"}, format="json")
    with round_trips() as trips:
        created = api.put("/api/v1/contacts/cust-9", {"email": "ada@example.com"}, format="json")
    assert (created.status_code, trips.count) == (201, 1), trips
    with round_trips() as trips:
        updated = api.put("/api/v1/contacts/cust-9", {"locale": "de"}, format="json")
    assert (updated.status_code, updated.json()["locale"], trips.count) == (200, "de", 1), trips
