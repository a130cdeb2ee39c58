"""Matching by Email, a contact whose address changed in Candor is still found in the org: the CRM
keeps the address it had (Candor never writes a Contact's Email), so the push and the reconciler go
back to the records the contact was matched to before, by the ids kept when it was pushed. A "no"
given in Candor after the change reaches the org at once, not once the CRM has the new address; a
"no" given in the org on such a record reaches the contact, where no one gives its address now."""

from __future__ import annotations

from typing import Any

import pytest

from brands.models import Brand
from consent.erasure import contact_erase
from consent.models import ConsentEvent, Contact, Purpose
from consent.services import contact_upsert
from preferences.models import ChannelOptOut
from sync.delivery.connectors.polling import connector_poll
from sync.delivery.connectors.salesforce import HANDED_OVER, NOT_IN_ORG, NOTHING_KEPT, SalesforceAdapter
from sync.delivery.connectors.vendors import Item, Target
from sync.delivery.fanout import endpoint_fanout
from sync.delivery.sending import http_client
from sync.models import Attempt, Connector, Delivery, InboundSignal, VendorContact
from sync.outbox.contact_state import contacts_state
from tests.connectors.salesforce_support import CREDENTIALS, connect, mapping, person, sf
from tests.connectors.support import drain, grant, withdraw
from tests.connectors.test_salesforce_erasure import everything
from tests.fakes.salesforce import FakeSalesforce
from tests.sync.webhook_support import published

__all__ = ["published", "sf"]

pytestmark = pytest.mark.django_db(transaction=True)


def send(connector: Connector) -> None:
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)


def by_email(make_client: Any, brand: Brand, purpose: Purpose, fake: FakeSalesforce) -> tuple[Connector, str]:
    """Ada's Contact in the org (Email ada@example.com), matched by Email, granted and pushed."""
    record = person(fake)
    connector = connect(make_client, brand, fake, mapping=mapping(fake, match_field="Email"))
    grant(brand, purpose)
    send(connector)
    assert statuses(fake) == {"ContactPointTypeConsent": {"OptIn"}, "ContactPointConsent": {"OptIn"}}
    fake.requests.clear()
    return connector, record


def statuses(fake: FakeSalesforce) -> dict[str, set[str]]:
    return {
        sobject: {row["PrivacyConsentStatus"] for row in fake.find(sobject)}
        for sobject in ("ContactPointTypeConsent", "ContactPointConsent")
    }


def kept(connector: Connector) -> dict[str, int]:
    return dict(VendorContact.objects.filter(connector=connector).values_list("vendor_id", "contact_ref"))


def target_of(connector: Connector, fake: FakeSalesforce) -> Target:
    return Target(
        public_id=connector.public_id,
        base_url=fake.base_url,
        credentials=CREDENTIALS,
        mapping=connector.mapping,
    )


def test_the_record_a_contact_was_matched_to_by_email_is_kept(
    make_client, brand, purpose, contact, sf, published
):
    connector, record = by_email(make_client, brand, purpose, sf)
    assert kept(connector)[f"Contact/{record}"] == contact.pk


def test_matching_by_an_external_id_keeps_no_record_of_the_crms(
    make_client, brand, purpose, contact, sf, published
):
    person(sf)
    connector = connect(make_client, brand, sf)
    grant(brand, purpose)
    send(connector)
    assert statuses(sf)["ContactPointTypeConsent"] == {"OptIn"}
    assert not [vendor_id for vendor_id in kept(connector) if vendor_id.startswith("Contact/")]


def test_a_no_after_an_address_change_reaches_the_record_the_crm_still_has_under_the_old_one(
    make_client, brand, purpose, contact, sf, published
):
    connector, record = by_email(make_client, brand, purpose, sf)
    contact_upsert(brand=brand, external_id="cust-1", email="ada@new.example")
    withdraw(brand, purpose)
    send(connector)

    # The CRM's Contact still has the old address (Candor does not write it): found by its id
    # all the same: its Individual's consent and the moved point's say OptOut.
    [row] = sf.find("Contact", Id=record)
    assert row["Email"] == "ada@example.com"
    assert statuses(sf) == {"ContactPointTypeConsent": {"OptOut"}, "ContactPointConsent": {"OptOut"}}
    assert [p["EmailAddress"] for p in sf.find("ContactPointEmail")] == ["ada@new.example"]
    attempts = Attempt.objects.filter(delivery__endpoint=connector.endpoint).exclude(
        delivery__type="consent.granted"
    )
    assert NOT_IN_ORG.excerpt not in {a.response_excerpt for a in attempts}
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }

    # The reconciler reads the same record: Candor's "no" and the org's agree, nothing unknown.
    state = contacts_state(brand_id=brand.pk, contact_refs=[contact.pk])[contact.pk]
    adapter = SalesforceAdapter()
    read = adapter.vendor_read(target_of(connector, sf), [state], client=http_client())
    expected = adapter.expected(connector.mapping, state)
    assert "unsubscribed" in expected.values()
    assert read[contact.pk] == expected


def test_once_the_crm_has_the_new_address_the_contact_is_matched_by_it_as_before(
    make_client, brand, purpose, contact, sf, published
):
    connector, record = by_email(make_client, brand, purpose, sf)
    contact_upsert(brand=brand, external_id="cust-1", email="ada@new.example")
    sf.edit("Contact", record, Email="ada@new.example")  # the CRM catches up
    withdraw(brand, purpose)
    send(connector)

    assert statuses(sf) == {"ContactPointTypeConsent": {"OptOut"}, "ContactPointConsent": {"OptOut"}}
    queries = [r["q"] for r in sf.requests if " FROM Contact WHERE " in r.get("q", "")]
    assert queries
    assert {q.split(" WHERE ")[1].split(" IN ")[0] for q in queries} == {"Email"}  # no second look


def test_a_record_whose_address_another_contact_gives_now_is_theirs_not_the_movers(
    make_client, brand, purpose, contact, sf, published
):
    connector, _ = by_email(make_client, brand, purpose, sf)
    contact_upsert(brand=brand, external_id="cust-2", email="ada@example.com")  # a household
    grant(brand, purpose, external_id="cust-2")
    contact_upsert(brand=brand, external_id="cust-1", email="ada@new.example")
    withdraw(brand, purpose)
    send(connector)

    # The record under the address cust-2 gives is cust-2's: Ada's "no" is not written there.
    assert statuses(sf)["ContactPointTypeConsent"] == {"OptIn"}
    ada = Attempt.objects.filter(
        delivery__endpoint=connector.endpoint, delivery__type="consent.withdrawn"
    ).get()
    assert ada.response_excerpt == NOT_IN_ORG.excerpt


def test_an_erasure_forgets_the_crms_record_and_leaves_it_alone(
    make_client, brand, purpose, contact, sf, published
):
    connector, record = by_email(make_client, brand, purpose, sf)
    contact_erase(brand=brand, contact=Contact.objects.get(pk=contact.pk), requested_via="api")
    send(connector)

    assert sf.find("Contact", Id=record)[0]["Email"] == "ada@example.com"  # the CRM's own
    assert "Contact" not in sf.deleted
    assert kept(connector) == {}
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }


# What every write stamps (and the consents' dates of capture): left out where records are compared.
STAMPS = {"SystemModstamp", "LastModifiedDate", "CaptureDate", "EffectiveFrom"}


def unstamped(records: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        sobject: {i: {f: v for f, v in row.items() if f not in STAMPS} for i, row in rows.items()}
        for sobject, rows in records.items()
    }


def household(
    make_client: Any, brand: Brand, purpose: Purpose, fake: FakeSalesforce
) -> tuple[Connector, str]:
    """Ada pushed (by_email), then Ann (cust-2), who gives the same address, granted and pushed:
    the same Contact, Individual and consent records are theirs, kept for Ada, who came first."""
    connector, record = by_email(make_client, brand, purpose, fake)
    contact_upsert(brand=brand, external_id="cust-2", email="ada@example.com")
    grant(brand, purpose, external_id="cust-2")
    send(connector)
    fake.requests.clear()
    return connector, record


def test_an_erasure_leaves_records_another_contact_gives_the_address_of_to_them(
    make_client, brand, purpose, contact, sf, published
):
    connector, record = household(make_client, brand, purpose, sf)
    ann = Contact.objects.get(external_id="cust-2")
    shared = kept(connector)
    assert set(shared.values()) == {contact.pk}
    assert len(shared) == 5  # the record, its Individual and the three Candor created
    [party] = {row["IndividualId"] for row in sf.find("Contact", Id=record)}
    before = everything(sf)

    contact_erase(brand=brand, contact=Contact.objects.get(pk=contact.pk), requested_via="api")
    send(connector)

    # The erasure put the address on the suppression list, so Ann reads suppressed: her push (her
    # contact.updated, and again before the records go to her) writes her "no" on the records
    # they share, once. Candor no longer holds Ada's address: the records kept for her are read.
    # Nothing marked, nothing deleted: they go to Ann.
    read = f"SELECT Id, Email FROM Contact WHERE Id IN ('{record}')"  # noqa: S608
    assert [r.get("q") for r in sf.requests].count(read) == 1
    assert [r["method"] for r in sf.requests if r["method"] != "GET"] == ["PATCH"]
    assert statuses(sf) == {"ContactPointTypeConsent": {"OptOut"}, "ContactPointConsent": {"OptOut"}}
    for sobject in ("ContactPointTypeConsent", "ContactPointConsent"):
        for row in sf.find(sobject):
            before[sobject][row["Id"]]["PrivacyConsentStatus"] = "OptOut"
    before["Contact"][record]["HasOptedOutOfEmail"] = True  # the flag says so too
    assert unstamped(everything(sf)) == unstamped(before)
    assert sf.deleted == {}
    assert sf.find("Individual", Id=party)[0]["ShouldForget"] is False
    assert kept(connector) == dict.fromkeys(shared, ann.pk)
    # Ann's announcement wrote her "no"; Ada's erasure's first delivery hands the ids over, and
    # the next finds none kept for her.
    erasure = Attempt.objects.filter(delivery__endpoint=connector.endpoint).order_by("delivery_id")
    assert [(a.delivery.type, a.delivery.status, a.response_excerpt) for a in erasure][-3:] == [
        ("consent.withdrawn", "succeeded", HANDED_OVER.excerpt),
        ("contact.updated", "succeeded", "3 record(s) written."),
        ("contact.erased", "succeeded", NOTHING_KEPT.excerpt),
    ]

    # Ann's own erasure, later, is the one that marks and deletes them.
    contact_erase(brand=brand, contact=ann, requested_via="api")
    send(connector)

    assert sf.find("Individual", Id=party)[0]["ShouldForget"] is True
    assert statuses(sf) == {"ContactPointTypeConsent": set(), "ContactPointConsent": set()}
    assert sf.find("Contact", Id=record)[0]["Email"] == "ada@example.com"  # the CRM's own
    assert kept(connector) == {}


def test_a_heirs_push_refused_fails_the_erasure_which_hands_nothing_over(
    make_client, brand, purpose, contact, sf, published
):
    connector, _ = household(make_client, brand, purpose, sf)
    shared = kept(connector)
    # Ann's push (her "no" once the address is suppressed) is refused on the type consent.
    [type_consent] = sf.find("ContactPointTypeConsent")
    sf.validation_rules[type_consent["Id"]] = "Consents are managed by the data team."
    contact_erase(brand=brand, contact=Contact.objects.get(pk=contact.pk), requested_via="api")
    state = contacts_state(brand_id=brand.pk, contact_refs=[contact.pk])[contact.pk]
    item = Item(delivery_id=1, type="contact.erased", contact_ref=contact.pk, state=state)

    [refused] = SalesforceAdapter().push(target_of(connector, sf), [item], client=http_client())

    assert not refused.succeeded
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in refused.error
    assert kept(connector) == shared
    assert sf.deleted == {}
    del sf.validation_rules[type_consent["Id"]]
    [retried] = SalesforceAdapter().push(target_of(connector, sf), [item], client=http_client())
    assert retried == HANDED_OVER
    assert statuses(sf)["ContactPointTypeConsent"] == {"OptOut"}


def test_a_shared_record_read_refused_fails_the_erasure_and_changes_nothing(
    make_client, brand, purpose, contact, sf, published
):
    connector, _record = household(make_client, brand, purpose, sf)
    shared = kept(connector)
    contact_erase(brand=brand, contact=Contact.objects.get(pk=contact.pk), requested_via="api")
    state = contacts_state(brand_id=brand.pk, contact_refs=[contact.pk])[contact.pk]
    item = Item(delivery_id=1, type="contact.erased", contact_ref=contact.pk, state=state)
    sf.outage(1)

    [down] = SalesforceAdapter().push(target_of(connector, sf), [item], client=http_client())

    assert (down.succeeded, down.status_code, down.permanent) == (False, 503, False)
    assert kept(connector) == shared
    assert sf.deleted == {}
    [retried] = SalesforceAdapter().push(target_of(connector, sf), [item], client=http_client())
    assert retried == HANDED_OVER
    assert set(kept(connector).values()) == {Contact.objects.get(external_id="cust-2").pk}


def test_an_erased_contact_whose_address_no_one_gives_is_erased_as_before(
    make_client, brand, purpose, contact, sf, published
):
    connector, record = household(make_client, brand, purpose, sf)
    contact_upsert(brand=brand, external_id="cust-2", email="ann@elsewhere.example")  # Ann moved
    send(connector)
    [party] = {row["IndividualId"] for row in sf.find("Contact", Id=record)}

    contact_erase(brand=brand, contact=Contact.objects.get(pk=contact.pk), requested_via="api")
    send(connector)

    assert sf.find("Individual", Id=party)[0]["ShouldForget"] is True
    assert set(sf.deleted) == {"ContactPointTypeConsent", "ContactPointEmail", "ContactPointConsent"}
    assert kept(connector) == {}


# --- the org's "no", polled ---------------------------------------------------------------------


def polled(connector: Connector) -> None:
    """The connector polled once, as beat does (the first poll only sets the watermark)."""
    connector_poll(connector=Connector.objects.select_related("endpoint", "brand").get(pk=connector.pk))


def test_a_no_in_the_org_on_the_record_of_a_contact_that_moved_reaches_that_contact(
    make_client, brand, purpose, contact, sf, published
):
    connector, record = by_email(make_client, brand, purpose, sf)
    polled(connector)
    contact_upsert(brand=brand, external_id="cust-1", email="ada@new.example")
    send(connector)
    sf.edit("Contact", record, HasOptedOutOfEmail=True)  # the org, under the address it still has

    polled(connector)

    [signal] = InboundSignal.objects.all()
    assert (signal.outcome, signal.contact_ref) == ("recorded", contact.pk)
    assert ChannelOptOut.objects.get(contact=contact, channel="email").opted_out is True
    [withdrawal] = ConsentEvent.objects.filter(decision="withdrawn")
    assert (withdrawal.contact_id, withdrawal.method) == (contact.pk, "connector")


def test_a_no_on_a_record_whose_address_another_contact_gives_now_is_theirs(
    make_client, brand, purpose, contact, sf, published
):
    connector, record = by_email(make_client, brand, purpose, sf)
    polled(connector)
    contact_upsert(brand=brand, external_id="cust-1", email="ada@new.example")
    other, _ = contact_upsert(brand=brand, external_id="cust-2", email="ada@example.com")
    sf.edit("Contact", record, HasOptedOutOfEmail=True)

    polled(connector)

    [signal] = InboundSignal.objects.all()
    assert (signal.outcome, signal.contact_ref) == ("recorded", other.pk)
    assert ChannelOptOut.objects.get(contact=other, channel="email").opted_out is True
    assert not ChannelOptOut.objects.filter(contact=contact).exists()


def test_a_no_on_a_record_no_contact_gives_or_was_found_in_stays_unknown(
    make_client, brand, purpose, contact, sf, published
):
    connector, _ = by_email(make_client, brand, purpose, sf)
    polled(connector)
    stranger = person(sf, external_id="x", email="nobody@example.com")
    sf.edit("Contact", stranger, HasOptedOutOfEmail=True)

    polled(connector)

    [signal] = InboundSignal.objects.all()
    assert (signal.outcome, signal.contact_ref) == ("unknown_contact", None)
    assert not ChannelOptOut.objects.exists()
