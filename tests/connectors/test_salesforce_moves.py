"""A contact's address changed in Candor: the ContactPointEmail Candor created under the former
address follows it (its EmailAddress updated, its ContactPointConsent with it), before the push
writes the contact's consent; where the Individual holds the new address already, the records
Candor created for the former one are deleted instead, so no "yes" stays behind under an address
the contact left, and no "no" is written that the poll would read back as the contact's."""

from __future__ import annotations

from typing import Any

import pytest

from brands.models import Brand
from consent.erasure import contact_erase
from consent.models import Contact, Purpose
from consent.services import contact_upsert
from sync.delivery.connectors.salesforce import SalesforceAdapter
from sync.delivery.connectors.vendors import Item, Target
from sync.delivery.fanout import endpoint_fanout
from sync.delivery.sending import http_client
from sync.models import Connector, Delivery, VendorContact
from sync.outbox.contact_state import contacts_state
from tests.connectors.salesforce_support import CREDENTIALS, connect, mapping, person, sf
from tests.connectors.support import drain, grant, withdraw
from tests.fakes.salesforce import FakeSalesforce
from tests.sync.webhook_support import published

__all__ = ["published", "sf"]

pytestmark = pytest.mark.django_db(transaction=True)


def send(connector: Connector) -> None:
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)


def pushed(make_client: Any, brand: Brand, purpose: Purpose, fake: FakeSalesforce) -> Connector:
    """Ada in the org, granted and pushed: one Individual, one ContactPointTypeConsent, one
    ContactPointEmail at ada@example.com with its ContactPointConsent, all OptIn."""
    person(fake)
    connector = connect(make_client, brand, fake)
    grant(brand, purpose)
    send(connector)
    assert addresses(fake) == {"ada@example.com": "OptIn"}
    fake.requests.clear()
    return connector


def moved_to_new_address(brand: Brand) -> None:
    contact_upsert(brand=brand, external_id="cust-1", email="Ada@New.Example")


def addresses(fake: FakeSalesforce) -> dict[str, str | None]:
    """Each live ContactPointEmail's address and the status of its ContactPointConsent."""
    found: dict[str, str | None] = {}
    for point in fake.find("ContactPointEmail"):
        consents = fake.find("ContactPointConsent", ContactPointId=point["Id"])
        found[point["EmailAddress"].casefold()] = (
            ",".join(c["PrivacyConsentStatus"] for c in consents) or None
        )
    return found


def writes(fake: FakeSalesforce) -> list[tuple[str, list[tuple[str, ...]]]]:
    """The calls that changed something: method and, per record, its type and the fields written."""
    out = []
    for request in fake.requests:
        if request["method"] == "GET":
            continue
        if request["method"] == "DELETE":
            out.append(("DELETE", [(i,) for i in request["ids"]]))
            continue
        rows = [
            (row["attributes"]["type"], *sorted(k for k in row if k not in ("attributes", "id")))
            for row in request["body"]["records"]
        ]
        out.append((request["method"], rows))
    return out


def kept(connector: Connector) -> set[str]:
    return set(VendorContact.objects.filter(connector=connector).values_list("vendor_id", flat=True))


def test_an_address_change_alone_moves_the_contact_point_with_its_consent(
    make_client, brand, purpose, contact, sf, published
):
    connector = pushed(make_client, brand, purpose, sf)
    [point] = sf.find("ContactPointEmail")
    [point_consent] = sf.find("ContactPointConsent")
    [type_consent] = sf.find("ContactPointTypeConsent")

    moved_to_new_address(brand)
    send(connector)

    # One contact point, the same record, now at the new address; its consent is the same record
    # too, untouched (captured when Ada said yes); nothing is left under the old address.
    assert addresses(sf) == {"ada@new.example": "OptIn"}
    [moved] = sf.find("ContactPointEmail")
    assert moved["Id"] == point["Id"]
    assert sf.find("ContactPointConsent") == [point_consent]
    assert sf.find("ContactPointTypeConsent") == [type_consent]
    assert writes(sf) == [("PATCH", [("ContactPointEmail", "EmailAddress")])]
    assert sf.deleted == {}
    assert kept(connector) == {
        f"Individual/{moved['ParentId']}",
        f"ContactPointTypeConsent/{type_consent['Id']}",
        f"ContactPointEmail/{point['Id']}",
        f"ContactPointConsent/{point_consent['Id']}",
    }
    assert list(
        Delivery.objects.filter(endpoint=connector.endpoint).order_by("id").values_list("type", "status")
    ) == [("consent.granted", "succeeded"), ("contact.updated", "succeeded")]


def test_a_later_withdrawal_reaches_the_moved_contact_point(
    make_client, brand, purpose, contact, sf, published
):
    connector = pushed(make_client, brand, purpose, sf)
    moved_to_new_address(brand)
    send(connector)

    withdraw(brand, purpose)
    send(connector)

    assert addresses(sf) == {"ada@new.example": "OptOut"}
    assert {c["PrivacyConsentStatus"] for c in sf.find("ContactPointTypeConsent")} == {"OptOut"}
    assert not [
        row
        for sobject in ("ContactPointConsent", "ContactPointTypeConsent")
        for row in sf.find(sobject, PrivacyConsentStatus="OptIn")
    ]
    statuses = set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True))
    assert statuses == {"succeeded"}


def test_a_contact_whose_address_did_not_change_costs_no_extra_call(
    make_client, brand, purpose, contact, sf, published
):
    connector = pushed(make_client, brand, purpose, sf)

    withdraw(brand, purpose)
    send(connector)

    # The push's own reads and its one PATCH: no contact point written, nothing deleted.
    assert [r["method"] for r in sf.requests] == ["GET", "GET", "GET", "GET", "PATCH"]
    assert writes(sf) == [
        (
            "PATCH",
            [
                (
                    "ContactPointConsent",
                    "CaptureDate",
                    "CaptureSource",
                    "EffectiveFrom",
                    "PrivacyConsentStatus",
                ),
                (
                    "ContactPointTypeConsent",
                    "CaptureDate",
                    "CaptureSource",
                    "EffectiveFrom",
                    "PrivacyConsentStatus",
                ),
            ],
        )
    ]
    assert addresses(sf) == {"ada@example.com": "OptOut"}


def test_where_the_individual_holds_the_new_address_candors_records_for_the_old_one_are_deleted(
    make_client, brand, purpose, contact, sf, published
):
    connector = pushed(make_client, brand, purpose, sf)
    [point] = sf.find("ContactPointEmail")
    [point_consent] = sf.find("ContactPointConsent")
    party = point["ParentId"]
    org_point = sf.insert("ContactPointEmail", ParentId=party, EmailAddress="ada@new.example")

    moved_to_new_address(brand)
    send(connector)

    # Candor's consent and point for the old address are gone; the org's point at the new address
    # carries the contact's consent now, in a record Candor made (and keeps for the erasure).
    assert addresses(sf) == {"ada@new.example": "OptIn"}
    assert set(sf.deleted) == {"ContactPointConsent", "ContactPointEmail"}
    assert set(sf.deleted["ContactPointConsent"]) == {point_consent["Id"]}
    assert set(sf.deleted["ContactPointEmail"]) == {point["Id"]}
    [new_consent] = sf.find("ContactPointConsent", ContactPointId=org_point)
    assert writes(sf) == [
        ("DELETE", [(point_consent["Id"],)]),
        ("DELETE", [(point["Id"],)]),
        (
            "POST",
            [
                (
                    "ContactPointConsent",
                    "CaptureContactPointType",
                    "CaptureDate",
                    "CaptureSource",
                    "ContactPointId",
                    "DataUsePurposeId",
                    "EffectiveFrom",
                    "Name",
                    "PrivacyConsentStatus",
                )
            ],
        ),
    ]
    assert f"ContactPointConsent/{new_consent['Id']}" in kept(connector)
    assert f"ContactPointEmail/{point['Id']}" not in kept(connector)
    assert f"ContactPointConsent/{point_consent['Id']}" not in kept(connector)
    assert f"ContactPointEmail/{org_point}" not in kept(connector)  # the org's


def test_the_orgs_own_point_at_the_old_address_keeps_nothing_of_candors(
    make_client, brand, purpose, contact, sf, published
):
    # The org made Ada's Individual and her ContactPointEmail; Candor only added its consent.
    party = sf.insert("Individual", LastName="Lovelace")
    org_point = sf.insert("ContactPointEmail", ParentId=party, EmailAddress="ada@example.com")
    person(sf, IndividualId=party)
    connector = connect(make_client, brand, sf)
    grant(brand, purpose)
    send(connector)
    [candor_consent] = sf.find("ContactPointConsent", ContactPointId=org_point)
    sf.requests.clear()

    moved_to_new_address(brand)
    send(connector)

    # The org's point stays as it was, without Candor's "yes"; a new point carries it.
    assert sf.find("ContactPointEmail", Id=org_point)[0]["EmailAddress"] == "ada@example.com"
    assert addresses(sf) == {"ada@example.com": None, "ada@new.example": "OptIn"}
    assert set(sf.deleted) == {"ContactPointConsent"}
    assert set(sf.deleted["ContactPointConsent"]) == {candor_consent["Id"]}
    assert f"ContactPointConsent/{candor_consent['Id']}" not in kept(connector)


def test_an_erasure_after_a_move_still_removes_what_candor_created(
    make_client, brand, purpose, contact, sf, published
):
    connector = pushed(make_client, brand, purpose, sf)
    [point] = sf.find("ContactPointEmail")
    [point_consent] = sf.find("ContactPointConsent")
    [type_consent] = sf.find("ContactPointTypeConsent")
    moved_to_new_address(brand)
    send(connector)

    contact_erase(brand=brand, contact=Contact.objects.get(pk=contact.pk), requested_via="api")
    send(connector)

    assert sf.find("ContactPointEmail") == []
    assert sf.find("ContactPointConsent") == []
    assert sf.find("ContactPointTypeConsent") == []
    assert set(sf.deleted["ContactPointEmail"]) == {point["Id"]}
    assert set(sf.deleted["ContactPointConsent"]) == {point_consent["Id"]}
    assert set(sf.deleted["ContactPointTypeConsent"]) == {type_consent["Id"]}
    assert sf.find("Individual", Id=point["ParentId"])[0]["ShouldForget"] is True
    assert kept(connector) == set()
    statuses = set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True))
    assert statuses == {"succeeded"}


def test_salesforce_down_after_the_move_loses_nothing_and_the_retry_finishes(
    make_client, brand, purpose, contact, sf, published, monkeypatch
):
    connector = pushed(make_client, brand, purpose, sf)
    [point] = sf.find("ContactPointEmail")
    moved_to_new_address(brand)
    withdraw(brand, purpose)
    collections = sf._collections

    def then_down(request: Any) -> Any:
        answer = collections(request)
        if "ContactPointEmail" in request.get_data(as_text=True):
            sf.outage(100)  # the org goes down right after the move
        return answer

    monkeypatch.setattr(sf, "_collections", then_down)
    endpoint_fanout(endpoint_id=connector.endpoint_id)

    # The move is done and whole: one point, at the new address, its consent as it was; nothing
    # was made beside it, and the deliveries wait for a retry.
    assert addresses(sf) == {"ada@new.example": "OptIn"}
    assert sf.find("ContactPointEmail")[0]["Id"] == point["Id"]
    assert "succeeded" not in set(
        Delivery.objects.filter(
            endpoint=connector.endpoint, type__in=["contact.updated", "consent.withdrawn"]
        ).values_list("status", flat=True)
    )

    sf.outage(0)
    drain(connector.endpoint)

    assert addresses(sf) == {"ada@new.example": "OptOut"}
    assert sf.find("ContactPointEmail")[0]["Id"] == point["Id"]
    statuses = set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True))
    assert statuses == {"succeeded"}


def test_salesforce_down_before_the_move_changes_nothing(make_client, brand, purpose, contact, sf, published):
    connector = pushed(make_client, brand, purpose, sf)
    moved_to_new_address(brand)
    sf.outage(100)
    endpoint_fanout(endpoint_id=connector.endpoint_id)

    assert addresses(sf) == {"ada@example.com": "OptIn"}
    assert writes(sf) == []

    sf.outage(0)
    drain(connector.endpoint)

    assert addresses(sf) == {"ada@new.example": "OptIn"}


def test_a_move_salesforce_refuses_for_good_deletes_candors_old_records_instead(
    make_client, brand, purpose, contact, sf, published
):
    connector = pushed(make_client, brand, purpose, sf)
    [point] = sf.find("ContactPointEmail")
    [point_consent] = sf.find("ContactPointConsent")
    sf.validation_rules[point["Id"]] = "Contact point addresses are managed by the data team."

    moved_to_new_address(brand)
    send(connector)

    assert addresses(sf) == {"ada@new.example": "OptIn"}
    assert set(sf.deleted["ContactPointEmail"]) == {point["Id"]}
    assert set(sf.deleted["ContactPointConsent"]) == {point_consent["Id"]}
    [new_point] = sf.find("ContactPointEmail")
    assert f"ContactPointEmail/{new_point['Id']}" in kept(connector)
    assert f"ContactPointEmail/{point['Id']}" not in kept(connector)
    statuses = set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True))
    assert statuses == {"succeeded"}


def test_a_new_phone_number_moves_the_contact_point_phone_and_leaves_the_email_alone(
    make_client, brand, purpose, sf, published
):
    contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com", phone="+4915123456789")
    person(sf)
    entries = [{"purpose": "email-marketing", "data_use_purpose": sf.dup, "channels": ["email", "phone"]}]
    connector = connect(make_client, brand, sf, mapping=mapping(sf, purposes=entries))
    grant(brand, purpose)
    send(connector)
    [phone] = sf.find("ContactPointPhone")
    [email] = sf.find("ContactPointEmail")
    assert phone["TelephoneNumber"] == "+4915123456789"
    sf.requests.clear()

    contact_upsert(brand=brand, external_id="cust-1", phone="+4915123456780")
    send(connector)

    [moved] = sf.find("ContactPointPhone")
    assert (moved["Id"], moved["TelephoneNumber"]) == (phone["Id"], "+4915123456780")
    assert sf.find("ContactPointEmail") == [email]
    assert [
        c["PrivacyConsentStatus"] for c in sf.find("ContactPointConsent", ContactPointId=phone["Id"])
    ] == ["OptIn"]
    assert writes(sf) == [("PATCH", [("ContactPointPhone", "TelephoneNumber")])]


def test_two_deliveries_of_one_contact_in_a_batch_move_its_point_once(
    make_client, brand, purpose, contact, sf, published
):
    connector = pushed(make_client, brand, purpose, sf)
    [point] = sf.find("ContactPointEmail")
    moved_to_new_address(brand)
    state = contacts_state(brand_id=brand.pk, contact_refs=[contact.pk])[contact.pk]
    target = Target(
        public_id=connector.public_id, base_url=sf.base_url, credentials=CREDENTIALS, mapping=mapping(sf)
    )

    results = SalesforceAdapter().push(
        target,
        [
            Item(delivery_id=1, type="contact.updated", contact_ref=contact.pk, state=state),
            Item(delivery_id=2, type="consent.granted", contact_ref=contact.pk, state=state),
        ],
        client=http_client(),
    )

    assert [r.succeeded for r in results] == [True, True]
    assert writes(sf) == [("PATCH", [("ContactPointEmail", "EmailAddress")])]
    assert addresses(sf) == {"ada@new.example": "OptIn"}
    assert sf.find("ContactPointEmail")[0]["Id"] == point["Id"]


def test_a_locked_contact_point_is_retried_and_nothing_is_made_beside_it(
    make_client, brand, purpose, contact, sf, published, monkeypatch
):
    connector = pushed(make_client, brand, purpose, sf)
    [point] = sf.find("ContactPointEmail")
    save = sf._save

    def locked(staged: Any, record: dict[str, Any], *, create: bool) -> Any:
        if record.get("id") == point["Id"]:
            message = "unable to obtain exclusive access to this record"
            return {
                "id": point["Id"],
                "success": False,
                "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": message, "fields": []}],
            }
        return save(staged, record, create=create)

    monkeypatch.setattr(sf, "_save", locked)
    moved_to_new_address(brand)
    endpoint_fanout(endpoint_id=connector.endpoint_id)

    # The move waits for a retry, and so does the rest of the contact's push: no second point.
    assert addresses(sf) == {"ada@example.com": "OptIn"}
    assert [r["method"] for r in sf.requests if r["method"] != "GET"] == ["PATCH"]
    [waiting] = Delivery.objects.filter(endpoint=connector.endpoint, type="contact.updated")
    assert waiting.status == "pending"

    monkeypatch.setattr(sf, "_save", save)
    drain(connector.endpoint)

    assert addresses(sf) == {"ada@new.example": "OptIn"}
    assert sf.find("ContactPointEmail")[0]["Id"] == point["Id"]


def test_a_point_the_org_hung_its_own_consent_on_loses_candors_consent_and_stays_kept(
    make_client, brand, purpose, contact, sf, published
):
    connector = pushed(make_client, brand, purpose, sf)
    [point] = sf.find("ContactPointEmail")
    [point_consent] = sf.find("ContactPointConsent")
    party = point["ParentId"]
    sf.insert("ContactPointEmail", ParentId=party, EmailAddress="ada@new.example")
    other = sf.insert("DataUsePurpose", Name="Service messages")
    org_consent = sf.insert(
        "ContactPointConsent",
        Name="Service",
        ContactPointId=point["Id"],
        DataUsePurposeId=other,
        PrivacyConsentStatus="OptIn",
    )

    moved_to_new_address(brand)
    send(connector)

    # Candor's "yes" under the old address is gone; the org's record (another purpose) and the
    # point it hangs on stay, and the point is still Candor's to erase.
    assert set(sf.deleted) == {"ContactPointConsent"}
    assert set(sf.deleted["ContactPointConsent"]) == {point_consent["Id"]}
    assert [c["Id"] for c in sf.find("ContactPointConsent", ContactPointId=point["Id"])] == [org_consent]
    assert f"ContactPointEmail/{point['Id']}" in kept(connector)
    assert addresses(sf)["ada@new.example"] == "OptIn"
    statuses = set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True))
    assert statuses == {"succeeded"}
