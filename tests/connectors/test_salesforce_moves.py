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
from sync.delivery.fanout import endpoint_fanout
from sync.models import Connector, Delivery, VendorContact
from tests.connectors.salesforce_support import connect, person, sf
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
        found[point["EmailAddress"].casefold()] = ",".join(c["PrivacyConsentStatus"] for c in consents) or None
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
