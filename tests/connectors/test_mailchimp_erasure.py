"""An erasure in Candor reaches Mailchimp as a permanent delete of the member in every audience
Candor pushed them to, by the `<list>:<subscriber hash>` kept at push time (Candor no longer
holds the address), and the ids are forgotten once Mailchimp took it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from brands.models import Brand
from consent.erasure import contact_erase
from consent.models import Contact, Purpose
from sync.delivery.connectors.mailchimp import MailchimpAdapter
from sync.delivery.connectors.mailchimp_api import subscriber_hash
from sync.delivery.connectors.vendors import Item, Target
from sync.delivery.fanout import endpoint_fanout
from sync.models import Attempt, Connector, Delivery, VendorContact
from sync.outbox.contact_state import ContactState
from tests.connectors.support import drain, grant
from tests.connectors.test_mailchimp_connector import LIST, OTHER_LIST, admin_api, connect, fake
from tests.fakes.mailchimp import KEY, FakeMailchimp
from tests.sync.webhook_support import published

__all__ = ["admin_api", "fake", "published"]

pytestmark = pytest.mark.django_db(transaction=True)
ADA = subscriber_hash("ada@example.com")
TWO_LISTS = {
    "lists": [
        {"list": LIST, "purpose": "email-marketing"},
        {"list": OTHER_LIST, "purpose": "email-marketing"},
    ]
}


def pushed(admin_api: Any, brand: Brand, purpose: Purpose, fake: FakeMailchimp) -> Connector:
    connector = connect(admin_api, fake, mapping=TWO_LISTS)
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    assert fake.statuses(LIST) == fake.statuses(OTHER_LIST) == {"ada@example.com": "subscribed"}
    return connector


def kept(connector: Connector) -> dict[str, int]:
    return dict(VendorContact.objects.filter(connector=connector).values_list("vendor_id", "contact_ref"))


def erase(brand: Brand, contact: Contact, connector: Connector) -> None:
    contact_erase(brand=brand, contact=contact, requested_via="api")
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)


def test_an_erasure_deletes_the_member_permanently_in_every_audience_pushed(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    assert kept(connector) == {f"{LIST}:{ADA}": contact.pk, f"{OTHER_LIST}:{ADA}": contact.pk}
    fake.put(LIST, "bob@example.com", "subscribed")  # someone else: untouched
    before = len(fake.writes)

    erase(brand, contact, connector)

    assert fake.writes[before:] == [
        ("delete-permanent", LIST, ADA),
        ("delete-permanent", OTHER_LIST, ADA),
    ]
    assert fake.statuses(LIST) == {"bob@example.com": "subscribed"}
    assert fake.statuses(OTHER_LIST) == {}
    assert fake.forgotten == {(LIST, ADA), (OTHER_LIST, ADA)}
    assert kept(connector) == {}
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }
    excerpts = list(
        Attempt.objects.filter(delivery__endpoint=connector.endpoint).values_list(
            "response_excerpt", flat=True
        )
    )
    assert sum("deleted permanently in 2 audience(s)" in e for e in excerpts) == 1
    assert "ada@example.com" not in json.dumps(list(Attempt.objects.values_list("response_excerpt", "error")))


def test_a_member_mailchimp_no_longer_has_is_erased_already(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    del fake.members[(LIST, ADA)]  # deleted in Mailchimp meanwhile: its delete answers 404

    erase(brand, contact, connector)

    assert [w for w in fake.writes if w[0] == "delete-permanent"] == [("delete-permanent", OTHER_LIST, ADA)]
    assert fake.members == {}
    assert kept(connector) == {}
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }


def test_a_throttled_delete_is_retried_and_forgets_only_what_mailchimp_took(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    contact_erase(brand=brand, contact=contact, requested_via="api")
    fake.throttle(1)
    endpoint_fanout(endpoint_id=connector.endpoint_id)

    # The erasure's first delivery (its consent withdrawal) already reads the contact erased.
    [attempt] = Attempt.objects.filter(
        delivery__endpoint=connector.endpoint, delivery__type="consent.withdrawn"
    )
    assert (attempt.status_code, attempt.outcome) == (429, "failed")
    assert "Too Many Requests" in attempt.response_excerpt
    assert Delivery.objects.filter(endpoint=connector.endpoint, status="pending").count() == 2
    assert kept(connector) == {f"{LIST}:{ADA}": contact.pk, f"{OTHER_LIST}:{ADA}": contact.pk}
    assert fake.statuses(LIST) == fake.statuses(OTHER_LIST) == {"ada@example.com": "subscribed"}

    drain(connector.endpoint)

    assert fake.members == {}
    assert fake.forgotten == {(LIST, ADA), (OTHER_LIST, ADA)}
    assert kept(connector) == {}
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }


def test_an_erased_contact_candor_never_pushed_calls_nothing(
    admin_api, brand, purpose, contact, fake, published
):
    connector = connect(admin_api, fake, mapping=TWO_LISTS)
    fake.put(LIST, "ada@example.com", "subscribed")  # there from elsewhere: not Candor's to delete
    erase(brand, contact, connector)
    assert fake.writes == []
    assert fake.statuses(LIST) == {"ada@example.com": "subscribed"}
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }


def test_an_address_mailchimp_deleted_for_good_is_not_imported_again(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    erase(brand, contact, connector)
    # Candor suppresses an erased address; were it pushed again (another contact, a later
    # confirmed opt-in), Mailchimp refuses to import it: only the person can sign up there.
    again = ContactState(
        contact_ref=contact.pk + 1,
        external_id="cust-2",
        email="ada@example.com",
        phone=None,
        consents={"email-marketing": "granted"},
    )
    target = Target(
        public_id=connector.public_id,
        base_url=fake.base_url,
        credentials={"api_key": KEY},
        mapping=TWO_LISTS,
    )
    [result] = MailchimpAdapter().push(
        target,
        [Item(delivery_id=1, type="consent.granted", contact_ref=again.contact_ref, state=again)],
        client=httpx.Client(),
    )
    assert (result.succeeded, result.permanent) == (True, False)
    assert "deleted this address permanently" in result.excerpt
    assert fake.members == {}
