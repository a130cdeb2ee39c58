"""A change of a contact's address (email or phone) is announced downstream: one `contact.updated`
outbox event in the change's own transaction, naming which fields changed and never their
values; a webhook carries it signed, and a connector brings the vendor in step at once (a
Mailchimp member moves to the new address without waiting for the contact's next decision)."""

from __future__ import annotations

import json

import pytest
from standardwebhooks import Webhook

from config.errors import Conflict, Unprocessable
from consent.identifiers import email_hmac
from consent.models import Contact
from consent.services import ConsentDecision, contact_upsert, contact_upsert_and_decide
from sync.models import Event
from tests.conftest import current_version
from tests.sync.webhook_support import deliveries, fanout, make_endpoint, published, receiver, send

__all__ = ["published", "receiver"]

pytestmark = pytest.mark.django_db


def announced(contact: Contact) -> list[tuple[str, int, dict]]:
    return [
        (e.type, e.sequence, e.data)
        for e in Event.objects.filter(contact_ref=contact.pk).order_by("sequence")
    ]


def test_a_new_address_is_announced_once_naming_the_field_not_the_value(brand, contact):
    changed, created = contact_upsert(brand=brand, external_id="cust-1", email="Ada@New.Example")

    assert created is False
    stored = Contact.objects.get(pk=contact.pk)
    assert (stored.email, stored.email_hmac, stored.event_sequence) == (
        "ada@new.example",
        email_hmac("ada@new.example"),
        1,
    )
    assert (changed.email, changed.event_sequence) == ("ada@new.example", 1)
    assert announced(contact) == [
        ("contact.updated", 1, {"contact": "cust-1", "sequence": 1, "changed": ["email"]})
    ]
    assert "example" not in json.dumps(announced(contact))


def test_the_same_address_or_another_field_announces_nothing(brand, contact):
    contact_upsert(brand=brand, external_id="cust-1", email="ADA@example.com", locale="de")
    contact_upsert(brand=brand, external_id="cust-1", timezone_name="Europe/Berlin")
    contact_upsert(brand=brand, external_id="cust-2", email="grace@example.com", phone="+4915123456789")

    assert Event.objects.count() == 0  # creating a contact is not an update either
    assert Contact.objects.get(pk=contact.pk).locale == "de"


def test_a_phone_added_an_email_cleared_and_both_at_once(brand, contact):
    contact_upsert(brand=brand, external_id="cust-1", phone="+4915123456789")
    contact_upsert(brand=brand, external_id="cust-1", email=None)
    contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com", phone="+4915199999999")
    contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com", phone="+4915199999999")

    assert [(seq, data["changed"]) for _, seq, data in announced(contact)] == [
        (1, ["phone"]),
        (2, ["email"]),
        (3, ["email", "phone"]),
    ]
    stored = Contact.objects.get(pk=contact.pk)
    assert (stored.email, stored.phone, stored.event_sequence) == ("ada@example.com", "+4915199999999", 3)


def test_the_other_fields_given_with_a_new_address_change_with_it(brand, contact):
    contact_upsert(brand=brand, external_id="cust-1", email="ada@new.example", locale="fr", jurisdiction="FR")

    stored = Contact.objects.get(pk=contact.pk)
    assert (stored.email, stored.locale, stored.jurisdiction) == ("ada@new.example", "fr", "FR")


def test_an_erased_contact_is_refused_and_announces_nothing(brand, contact):
    Contact.objects.filter(pk=contact.pk).update(erased_at="2026-11-22T10:00:00Z", email=None)

    with pytest.raises(Conflict):
        contact_upsert(brand=brand, external_id="cust-1", email="ada@new.example")

    assert Event.objects.count() == 0
    assert Contact.objects.get(pk=contact.pk).email is None


def test_a_sign_up_that_moves_the_address_announces_it_before_its_decisions(brand, contact, purpose):
    _, created, _ = contact_upsert_and_decide(
        brand=brand,
        external_id="cust-1",
        email="ada@new.example",
        decisions=[
            ConsentDecision(
                purpose=purpose.slug,
                decision="granted",
                notice_version=current_version(purpose).public_id,
            )
        ],
        method="api",
        recorded_by="test",
        occurred_at=contact.created_at,
        now=contact.created_at,
    )

    assert created is False
    assert [(kind, seq) for kind, seq, _ in announced(contact)] == [
        ("contact.updated", 1),
        ("consent.granted", 2),
    ]
    assert Contact.objects.get(pk=contact.pk).email == "ada@new.example"


def test_a_bad_address_changes_nothing(brand, contact):
    with pytest.raises(Unprocessable):
        contact_upsert(brand=brand, external_id="cust-1", email="not an address")

    assert Event.objects.count() == 0
    assert Contact.objects.get(pk=contact.pk).email == "ada@example.com"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("published")
def test_a_webhook_carries_it_signed_with_the_exact_body(brand, contact, api, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)

    reply = api.put("/api/v1/contacts/cust-1", {"email": "ada@new.example"}, format="json")
    assert reply.status_code == 200

    assert fanout(endpoint) == 1
    [delivery] = deliveries(endpoint)
    assert send(delivery).outcome == "succeeded"
    [got] = receiver.received
    payload = Webhook(endpoint.secret).verify(got.body, dict(got.headers))
    assert (payload["type"], payload["data"]) == (
        "contact.updated",
        {"contact": "cust-1", "sequence": 1, "changed": ["email"]},
    )
    assert "new.example" not in got.body
