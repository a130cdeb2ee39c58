"""An erasure in Candor reaches Salesforce: the Individual of the record Candor pushed to is marked
"Forget this Individual" (ShouldForget) and the consent records and contact points Candor created
are deleted, by the ids kept at push time (Candor no longer holds the address); the Contact and
what the org made itself stay, and nothing of anyone else is touched."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from django.utils import timezone

from brands.models import Brand
from consent.erasure import contact_erase
from consent.models import Contact, Purpose
from consent.services import consent_record, contact_upsert
from sync.delivery.connectors.salesforce import SalesforceAdapter
from sync.delivery.connectors.vendors import Item, Target
from sync.delivery.fanout import endpoint_fanout
from sync.delivery.sending import http_client
from sync.models import Attempt, Connector, Delivery, VendorContact
from sync.outbox.contact_state import ContactState, contacts_state
from tests.conftest import current_version
from tests.connectors.salesforce_support import CREDENTIALS, connect, mapping, person, sf
from tests.connectors.support import drain
from tests.fakes.salesforce import FakeSalesforce
from tests.sync.webhook_support import published

__all__ = ["published", "sf"]

pytestmark = pytest.mark.django_db(transaction=True)


def grant(brand: Brand, purpose: Purpose, external_id: str) -> None:
    consent_record(
        brand=brand,
        external_id=external_id,
        purpose_slug=purpose.slug,
        decision="granted",
        notice_version_id=current_version(purpose).public_id,
        method="api",
        recorded_by="test",
    )


def send(connector: Connector) -> None:
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)


def everything(fake: FakeSalesforce) -> dict[str, dict[str, dict[str, Any]]]:
    """The org's live records, by type and id (a deep copy)."""
    return {sobject: {i: dict(row) for i, row in rows.items()} for sobject, rows in fake.records.items()}


def pushed_pair(make_client: Any, brand: Brand, purpose: Purpose, fake: FakeSalesforce) -> Connector:
    """Ada (cust-1) and Bob (cust-2) in the org, both granted and pushed."""
    person(fake)
    person(fake, external_id="cust-2", email="bob@example.com")
    contact_upsert(brand=brand, external_id="cust-2", email="bob@example.com")
    connector = connect(make_client, brand, fake)
    grant(brand, purpose, "cust-1")
    grant(brand, purpose, "cust-2")
    send(connector)
    return connector


def ids_of(fake: FakeSalesforce, sobject: str, **where: Any) -> list[str]:
    return sorted(row["Id"] for row in fake.find(sobject, **where))


def test_an_erasure_forgets_the_individual_and_deletes_what_candor_created(
    make_client, brand, purpose, contact, sf, published
):
    connector = pushed_pair(make_client, brand, purpose, sf)
    [ada] = sf.find("Contact", Candor_Id__c="cust-1")
    [bob] = sf.find("Contact", Candor_Id__c="cust-2")
    ada_party, bob_party = ada["IndividualId"], bob["IndividualId"]
    [ada_type] = ids_of(sf, "ContactPointTypeConsent", PartyId=ada_party)
    [ada_point] = ids_of(sf, "ContactPointEmail", ParentId=ada_party)
    [ada_point_consent] = ids_of(sf, "ContactPointConsent", ContactPointId=ada_point)
    ada_contact = dict(ada)
    before = everything(sf)
    # Kept at push time: Ada's Individual and the three records Candor created for her.
    assert sorted(
        VendorContact.objects.filter(contact_ref=contact.pk).values_list("vendor_id", flat=True)
    ) == sorted(
        [
            f"Individual/{ada_party}",
            f"ContactPointTypeConsent/{ada_type}",
            f"ContactPointEmail/{ada_point}",
            f"ContactPointConsent/{ada_point_consent}",
        ]
    )
    sf.requests.clear()

    contact_erase(brand=brand, contact=contact, requested_via="api")
    send(connector)

    # Exactly three calls, by id: the flag, the consents, then the address they hung on.
    assert [(r["method"], r.get("ids"), r.get("body")) for r in sf.requests] == [
        (
            "PATCH",
            None,
            {
                "allOrNone": False,
                "records": [{"attributes": {"type": "Individual"}, "id": ada_party, "ShouldForget": True}],
            },
        ),
        ("DELETE", [ada_point_consent, ada_type], None),
        ("DELETE", [ada_point], None),
    ]
    assert all(r["allOrNone"] is False for r in sf.requests if r["method"] == "DELETE")
    assert "ada@example.com" not in json.dumps(sf.requests)
    after = everything(sf)
    # Ada's Individual stays, marked; her Contact is the brand's and is exactly as it was.
    assert after["Individual"][ada_party]["ShouldForget"] is True
    assert after["Contact"][ada["Id"]] == ada_contact
    assert set(sf.deleted) == {"ContactPointTypeConsent", "ContactPointEmail", "ContactPointConsent"}
    assert set(sf.deleted["ContactPointTypeConsent"]) == {ada_type}
    assert set(sf.deleted["ContactPointEmail"]) == {ada_point}
    assert set(sf.deleted["ContactPointConsent"]) == {ada_point_consent}
    # Nothing else changed: every other record (Bob's included) is as it was.
    del before["Individual"][ada_party]
    del after["Individual"][ada_party]
    for sobject, gone in sf.deleted.items():
        for record_id in gone:
            del before[sobject][record_id]
    assert after == before
    assert after["Individual"][bob_party]["ShouldForget"] is False
    # Ada's kept ids are dropped; Bob's stay for his own erasure.
    assert not VendorContact.objects.filter(contact_ref=contact.pk).exists()
    assert VendorContact.objects.filter(connector=connector).count() == 4
    statuses = set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True))
    assert statuses == {"succeeded"}
    erased = Attempt.objects.filter(
        delivery__endpoint=connector.endpoint, response_excerpt__startswith="Erased in Salesforce"
    )
    assert [a.response_excerpt for a in erased] == [
        "Erased in Salesforce: 1 Individual(s) marked Forget this Individual; 2 consent record(s) and "
        "1 contact point(s) Candor created deleted."
    ]


def test_a_second_push_of_the_same_erasure_calls_nothing(make_client, brand, purpose, contact, sf, published):
    connector = pushed_pair(make_client, brand, purpose, sf)
    contact_erase(brand=brand, contact=contact, requested_via="api")
    send(connector)
    state = contacts_state(brand_id=brand.pk, contact_refs=[contact.pk])[contact.pk]
    assert state.erased
    assert state.email is None
    before = everything(sf)
    sf.requests.clear()
    target = Target(
        public_id=connector.public_id, base_url=sf.base_url, credentials=CREDENTIALS, mapping=mapping(sf)
    )
    [again] = SalesforceAdapter().push(
        target,
        [Item(delivery_id=1, type="contact.erased", contact_ref=contact.pk, state=state)],
        client=http_client(),
    )
    assert again.succeeded
    assert again.excerpt.startswith("Nothing to erase in Salesforce")
    assert sf.requests == []
    assert everything(sf) == before


def test_the_orgs_own_consent_stays_and_its_individual_is_marked(
    make_client, brand, purpose, contact, sf, published
):
    party = sf.insert("Individual", LastName="Lovelace", FirstName="Ada")
    person(sf, IndividualId=party)
    own = sf.insert(
        "ContactPointTypeConsent",
        Name="Web form",
        PartyId=party,
        DataUsePurposeId=sf.dup,  # type: ignore[attr-defined]
        ContactPointType="Email",
        PrivacyConsentStatus="OptOut",
        CaptureSource="Web form",
    )
    connector = connect(make_client, brand, sf)
    grant(brand, purpose, "cust-1")
    send(connector)
    # Candor found the Individual and wrote over the org's consent: neither is Candor's to delete.
    kept = set(VendorContact.objects.filter(contact_ref=contact.pk).values_list("vendor_id", flat=True))
    assert f"Individual/{party}" in kept
    assert f"ContactPointTypeConsent/{own}" not in kept
    contact_erase(brand=brand, contact=contact, requested_via="api")
    send(connector)
    [individual] = sf.find("Individual", Id=party)
    assert individual["ShouldForget"] is True
    assert [row["Id"] for row in sf.find("ContactPointTypeConsent")] == [own]
    assert sf.find("ContactPointEmail") == sf.find("ContactPointConsent") == []  # Candor's, gone


def test_a_refused_record_fails_the_delivery_and_is_the_only_thing_left(
    make_client, brand, purpose, contact, sf, published
):
    connector = pushed_pair(make_client, brand, purpose, sf)
    [ada] = sf.find("Contact", Candor_Id__c="cust-1")
    [point] = ids_of(sf, "ContactPointEmail", ParentId=ada["IndividualId"])
    [point_consent] = ids_of(sf, "ContactPointConsent", ContactPointId=point)
    sf.delete_refusals[point_consent] = (
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "insufficient access rights on object id",
    )
    contact_erase(brand=brand, contact=contact, requested_via="api")
    send(connector)
    # The erasure's own deliveries (the withdrawal it recorded, then contact.erased) each try
    # what is left and fail for good on the refused record: the same request would be refused
    # again (a redelivery is the operator's). Bob's delivery is untouched.
    failed = Delivery.objects.filter(endpoint=connector.endpoint, status="failed").order_by("id")
    assert [(d.type, d.contact_ref, d.attempt_count) for d in failed] == [
        ("consent.withdrawn", contact.pk, 1),
        ("contact.erased", contact.pk, 1),
    ]
    for attempt in Attempt.objects.filter(delivery__in=failed):
        assert "INSUFFICIENT_ACCESS_OR_READONLY" in attempt.error
        assert "insufficient access rights" in attempt.response_excerpt
    assert not Delivery.objects.filter(endpoint=connector.endpoint, status="pending").exists()
    # The rest went: the Individual is marked and the type consent deleted; the refused consent
    # and its address (which Salesforce will not delete under it) stay, and so do their ids.
    assert sf.find("Individual", Id=ada["IndividualId"])[0]["ShouldForget"] is True
    assert sf.find("ContactPointTypeConsent", PartyId=ada["IndividualId"]) == []
    assert ids_of(sf, "ContactPointConsent", ContactPointId=point) == [point_consent]
    assert ids_of(sf, "ContactPointEmail", Id=point) == [point]
    assert sorted(
        VendorContact.objects.filter(contact_ref=contact.pk).values_list("vendor_id", flat=True)
    ) == [f"ContactPointConsent/{point_consent}", f"ContactPointEmail/{point}"]

    # Once the org lets it, a redelivery deletes only what is left.
    del sf.delete_refusals[point_consent]
    sf.requests.clear()
    state = contacts_state(brand_id=brand.pk, contact_refs=[contact.pk])[contact.pk]
    target = Target(
        public_id=connector.public_id, base_url=sf.base_url, credentials=CREDENTIALS, mapping=mapping(sf)
    )
    [done] = SalesforceAdapter().push(
        target,
        [Item(delivery_id=1, type="contact.erased", contact_ref=contact.pk, state=state)],
        client=http_client(),
    )
    assert done.succeeded
    assert [(r["method"], r.get("ids")) for r in sf.requests] == [
        ("DELETE", [point_consent]),
        ("DELETE", [point]),
    ]
    assert not VendorContact.objects.filter(contact_ref=contact.pk).exists()


def test_a_locked_row_or_an_outage_is_retried_and_what_was_done_is_not_redone(
    make_client, brand, purpose, contact, sf, published
):
    connector = pushed_pair(make_client, brand, purpose, sf)
    [ada] = sf.find("Contact", Candor_Id__c="cust-1")
    [ada_type] = ids_of(sf, "ContactPointTypeConsent", PartyId=ada["IndividualId"])
    contact_erase(brand=brand, contact=contact, requested_via="api")
    state = contacts_state(brand_id=brand.pk, contact_refs=[contact.pk])[contact.pk]
    target = Target(
        public_id=connector.public_id, base_url=sf.base_url, credentials=CREDENTIALS, mapping=mapping(sf)
    )
    item = Item(delivery_id=1, type="contact.erased", contact_ref=contact.pk, state=state)
    sf.outage(1)
    [down] = SalesforceAdapter().push(target, [item], client=http_client())
    assert (down.succeeded, down.status_code, down.permanent) == (False, 503, False)
    assert sf.find("Individual", Id=ada["IndividualId"])[0]["ShouldForget"] is False
    assert VendorContact.objects.filter(contact_ref=contact.pk).count() == 4
    # Another transaction holds the type consent: that record alone is left, to retry.
    sf.delete_refusals[ada_type] = ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
    [locked] = SalesforceAdapter().push(target, [item], client=http_client())
    assert (locked.succeeded, locked.permanent) == (False, False)
    assert "UNABLE_TO_LOCK_ROW" in locked.error
    assert sf.find("Individual", Id=ada["IndividualId"])[0]["ShouldForget"] is True
    assert sf.find("ContactPointEmail", ParentId=ada["IndividualId"]) == []
    assert list(VendorContact.objects.filter(contact_ref=contact.pk).values_list("vendor_id", flat=True)) == [
        f"ContactPointTypeConsent/{ada_type}"
    ]
    del sf.delete_refusals[ada_type]
    sf.requests.clear()
    [done] = SalesforceAdapter().push(target, [item], client=http_client())
    assert done.succeeded
    assert [(r["method"], r.get("ids")) for r in sf.requests] == [("DELETE", [ada_type])]
    assert len(sf.find("ContactPointTypeConsent")) == 1  # Bob's


def test_many_erasures_delete_at_most_200_ids_a_call(make_client, brand, purpose, sf):
    connector = connect(make_client, brand, sf)
    target = Target(
        public_id=connector.public_id, base_url=sf.base_url, credentials=CREDENTIALS, mapping=mapping(sf)
    )
    at = timezone.now()
    states = [
        ContactState(
            contact_ref=1000 + i,
            external_id=f"c{i}",
            email=f"p{i}@example.com",
            phone=None,
            consents={"email-marketing": "granted"},
            consented_at={"email-marketing": at},
        )
        for i in range(101)
    ]
    for state in states:
        person(sf, external_id=state.external_id, email=state.email)
    pushed = SalesforceAdapter().push(
        target,
        [Item(delivery_id=i, type="x", contact_ref=s.contact_ref, state=s) for i, s in enumerate(states)],
        client=http_client(),
    )
    assert all(r.succeeded for r in pushed)
    assert VendorContact.objects.filter(connector=connector).count() == 404
    sf.requests.clear()
    erased = [replace(s, erased=True, email=None, external_id=f"erased-{s.contact_ref}") for s in states]
    results = SalesforceAdapter().push(
        target,
        [
            Item(delivery_id=i, type="contact.erased", contact_ref=s.contact_ref, state=s)
            for i, s in enumerate(erased)
        ],
        client=http_client(),
    )
    assert all(r.succeeded for r in results)
    calls = [(r["method"], len(r["ids"]) if "ids" in r else len(r["body"]["records"])) for r in sf.requests]
    # 101 flags in one PATCH; 202 consents in two deletes; 101 addresses in one.
    assert calls == [("PATCH", 101), ("DELETE", 200), ("DELETE", 2), ("DELETE", 101)]
    assert sf.find("ContactPointTypeConsent") == sf.find("ContactPointConsent") == []
    assert sf.find("ContactPointEmail") == []
    assert all(row["ShouldForget"] for row in sf.find("Individual"))
    assert len(sf.find("Contact")) == 101
    assert not VendorContact.objects.filter(connector=connector).exists()


def test_an_erased_contact_candor_never_pushed_calls_nothing(
    make_client, brand, purpose, contact, sf, published
):
    person(sf)
    connector = connect(make_client, brand, sf)
    sf.requests.clear()
    contact_erase(brand=brand, contact=Contact.objects.get(pk=contact.pk), requested_via="api")
    send(connector)
    assert sf.requests == []
    assert sf.deleted == {}
