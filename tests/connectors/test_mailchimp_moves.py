"""A contact's address changed in Candor: the member Candor pushed under the former address moves
to the new one before the push (PATCH with `email_address`), or, where the list already has the
new address, is unsubscribed, so no "yes" stays behind under an address the contact left."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from brands.models import Brand
from consent.erasure import contact_erase
from consent.models import Contact, Purpose
from consent.services import contact_upsert
from sync.delivery.connectors import mailchimp_batches
from sync.delivery.connectors.mailchimp import MailchimpAdapter
from sync.delivery.connectors.mailchimp_api import subscriber_hash
from sync.delivery.connectors.vendors import Item, Target
from sync.delivery.fanout import endpoint_fanout
from sync.models import Attempt, Connector, Delivery, VendorContact
from tests.connectors.support import drain, grant, withdraw
from tests.connectors.test_mailchimp_connector import LIST, OTHER_LIST, admin_api, basic, connect, fake, state
from tests.fakes.mailchimp import KEY, FakeMailchimp
from tests.sync.webhook_support import published

__all__ = ["admin_api", "fake", "published"]

pytestmark = pytest.mark.django_db(transaction=True)
ADA = subscriber_hash("ada@example.com")
NEW = subscriber_hash("ada@new.example")
TWO_LISTS = {
    "lists": [
        {"list": LIST, "purpose": "email-marketing"},
        {"list": OTHER_LIST, "purpose": "email-marketing"},
    ]
}


def pushed(admin_api: Any, brand: Brand, purpose: Purpose, fake: FakeMailchimp) -> Connector:
    connector = connect(admin_api, fake, mapping=TWO_LISTS)
    grant(brand, purpose)
    push(connector)
    assert fake.statuses(LIST) == fake.statuses(OTHER_LIST) == {"ada@example.com": "subscribed"}
    return connector


def push(connector: Connector) -> None:
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)


def kept(connector: Connector) -> dict[str, int]:
    return dict(VendorContact.objects.filter(connector=connector).values_list("vendor_id", "contact_ref"))


def moved_to_new_address(brand: Brand) -> None:
    contact_upsert(brand=brand, external_id="cust-1", email="Ada@New.Example")


def test_a_later_no_reaches_the_member_that_moved(admin_api, brand, purpose, contact, fake, published):
    connector = pushed(admin_api, brand, purpose, fake)
    member = fake.members[(LIST, ADA)]
    moved_to_new_address(brand)
    push(connector)
    before = len(fake.writes)

    withdraw(brand, purpose)
    push(connector)

    # One member per list, under the new address, unsubscribed by the "no"; none left behind.
    assert fake.statuses(LIST) == fake.statuses(OTHER_LIST) == {"ada@new.example": "unsubscribed"}
    assert fake.members[(LIST, NEW)] is member  # the same member: its history stays with it
    assert fake.writes[before:] == [("batch", LIST, NEW), ("batch", OTHER_LIST, NEW)]  # no move again
    assert kept(connector) == {f"{LIST}:{NEW}": contact.pk, f"{OTHER_LIST}:{NEW}": contact.pk}
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }


def test_an_address_change_alone_moves_the_member_at_once(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    member = fake.members[(LIST, ADA)]
    before = len(fake.writes)

    moved_to_new_address(brand)  # contact.updated: no decision needed for the vendor to follow
    push(connector)

    assert fake.statuses(LIST) == fake.statuses(OTHER_LIST) == {"ada@new.example": "subscribed"}
    assert fake.members[(LIST, NEW)] is member
    assert fake.writes[before:] == [
        ("patch", LIST, ADA),
        ("patch", OTHER_LIST, ADA),
        ("batch", LIST, NEW),
        ("batch", OTHER_LIST, NEW),
    ]
    assert list(
        Delivery.objects.filter(endpoint=connector.endpoint).order_by("id").values_list("type", "status")
    ) == [("consent.granted", "succeeded"), ("contact.updated", "succeeded")]


def test_a_member_another_contact_still_gives_stays_theirs_and_the_mover_gets_its_own(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    member = fake.members[(LIST, ADA)]
    # A second record with the same address (a duplicate, a household), which says yes too.
    contact_upsert(brand=brand, external_id="cust-2", email="ada@example.com")
    grant(brand, purpose, external_id="cust-2")
    push(connector)
    before = len(fake.writes)

    moved_to_new_address(brand)
    push(connector)

    # Nothing moved or turned off: the old member is cust-2's, as it was; Ada has a new one.
    assert [w for w in fake.writes[before:] if w[0] == "patch"] == []
    assert fake.members[(LIST, ADA)] is member
    assert fake.statuses(LIST) == {"ada@example.com": "subscribed", "ada@new.example": "subscribed"}
    assert fake.members[(LIST, NEW)] is not member
    assert {k for k, v in kept(connector).items() if v == contact.pk} == {
        f"{LIST}:{NEW}",
        f"{OTHER_LIST}:{NEW}",
    }
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }


def test_a_contact_whose_address_did_not_change_is_only_pushed(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    before = len(fake.writes)

    withdraw(brand, purpose)
    push(connector)

    assert fake.writes[before:] == [("batch", LIST, ADA), ("batch", OTHER_LIST, ADA)]
    assert fake.statuses(LIST) == {"ada@example.com": "unsubscribed"}


def test_where_the_list_has_the_new_address_already_the_old_member_is_unsubscribed(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    fake.put(LIST, "ada@new.example", "subscribed")  # signed up in Mailchimp under the new address
    before = len(fake.writes)

    moved_to_new_address(brand)
    push(connector)

    assert fake.statuses(LIST) == {"ada@example.com": "unsubscribed", "ada@new.example": "subscribed"}
    assert fake.statuses(OTHER_LIST) == {"ada@new.example": "subscribed"}
    assert fake.writes[before:] == [
        ("patch", LIST, ADA),  # the refused move is not a write; the unsubscribe is
        ("patch", OTHER_LIST, ADA),
        ("batch", LIST, NEW),
        ("batch", OTHER_LIST, NEW),
    ]
    # The old member is no longer the contact's, but still Candor's to erase: kept as retired.
    assert kept(connector) == {
        f"{LIST}!{ADA}": contact.pk,
        f"{LIST}:{NEW}": contact.pk,
        f"{OTHER_LIST}:{NEW}": contact.pk,
    }

    grant(brand, purpose)  # a later push of the contact leaves the retired member alone
    before = len(fake.writes)
    push(connector)
    assert fake.writes[before:] == [("batch", LIST, NEW), ("batch", OTHER_LIST, NEW)]

    contact_erase(brand=brand, contact=Contact.objects.get(pk=contact.pk), requested_via="api")
    push(connector)

    assert fake.members == {}
    assert fake.forgotten == {(LIST, ADA), (LIST, NEW), (OTHER_LIST, NEW)}
    assert kept(connector) == {}


def test_a_member_gone_from_mailchimp_has_nothing_to_move(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    del fake.members[(LIST, ADA)]
    moved_to_new_address(brand)

    withdraw(brand, purpose)
    push(connector)

    assert fake.statuses(LIST) == fake.statuses(OTHER_LIST) == {"ada@new.example": "unsubscribed"}
    assert kept(connector) == {f"{LIST}:{NEW}": contact.pk, f"{OTHER_LIST}:{NEW}": contact.pk}


def test_mailchimp_down_stops_the_push_before_the_new_address_is_sent_and_the_retry_moves(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    fake.down = True
    moved_to_new_address(brand)
    endpoint_fanout(endpoint_id=connector.endpoint_id)

    [attempt] = Attempt.objects.filter(
        delivery__endpoint=connector.endpoint, delivery__type="contact.updated"
    )
    assert (attempt.status_code, attempt.outcome) == (503, "failed")
    assert fake.statuses(LIST) == {"ada@example.com": "subscribed"}  # nothing half-done
    assert kept(connector)[f"{LIST}:{ADA}"] == contact.pk

    fake.down = False
    drain(connector.endpoint)

    assert fake.statuses(LIST) == fake.statuses(OTHER_LIST) == {"ada@new.example": "subscribed"}
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }


def test_a_backfills_batch_operations_move_a_member_first(admin_api, purpose, fake, published, monkeypatch):
    mapping = {"lists": [{"list": LIST, "purpose": "email-marketing"}]}
    connector = connect(admin_api, fake, mapping=mapping)
    monkeypatch.setattr(mailchimp_batches, "_pause", lambda seconds: None)
    old = subscriber_hash("old0@example.com")
    member = fake.put(LIST, "old0@example.com", "subscribed")
    VendorContact.objects.create(connector=connector, vendor_id=f"{LIST}:{old}", contact_ref=0)
    items = [Item(delivery_id=n, type="backfill", contact_ref=n, state=state(n)) for n in range(600)]
    target = Target(
        public_id=connector.public_id, base_url=fake.base_url, credentials={"api_key": KEY}, mapping=mapping
    )

    results = MailchimpAdapter().push_bulk(target, items, client=httpx.Client(), heartbeat=lambda: True)

    assert all(r.succeeded for r in results)
    assert fake.writes[0] == ("patch", LIST, old)
    assert fake.member(LIST, "p0@example.com") is member
    assert fake.member(LIST, "old0@example.com") is None
    assert fake.statuses(LIST) == {f"p{n}@example.com": "subscribed" for n in range(600)}
    assert kept(connector)[f"{LIST}:{subscriber_hash('p0@example.com')}"] == 0
    assert f"{LIST}:{old}" not in kept(connector)


# --- The fake's PATCH, as Mailchimp answers it ------------------------------------------------------


def patch(fake: FakeMailchimp, email: str, body: Any) -> httpx.Response:
    return httpx.patch(
        f"{fake.base_url}/3.0/lists/{LIST}/members/{subscriber_hash(email)}", json=body, headers=basic(KEY)
    )


def test_the_fakes_patch_moves_a_member_to_a_new_address(fake):
    member = fake.put(LIST, "ada@example.com", "subscribed")
    answer = patch(fake, "ada@example.com", {"email_address": "Ada@New.Example"})
    assert answer.status_code == 200
    assert (answer.json()["id"], answer.json()["email_address"]) == (NEW, "Ada@New.Example")
    assert fake.member(LIST, "ada@new.example") is member
    assert member.status == "subscribed"  # only what the body names changes
    assert fake.member(LIST, "ada@example.com") is None


def test_the_fakes_patch_refuses_an_address_the_list_has_and_one_it_forgot(fake):
    fake.put(LIST, "ada@example.com", "subscribed")
    fake.put(LIST, "ada@new.example", "unsubscribed")
    taken = patch(fake, "ada@example.com", {"email_address": "ada@new.example"})
    assert taken.status_code == 400
    assert (taken.json()["title"], taken.json()["detail"]) == (
        "Member Exists",
        "ada@new.example is already a list member. Use PUT to insert or update list members.",
    )
    httpx.post(f"{fake.base_url}/3.0/lists/{LIST}/members/{NEW}/actions/delete-permanent", headers=basic(KEY))
    forgotten = patch(fake, "ada@example.com", {"email_address": "ada@new.example"})
    assert (forgotten.status_code, forgotten.json()["title"]) == (400, "Forgotten Email Not Subscribed")
    assert fake.statuses(LIST) == {"ada@example.com": "subscribed"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "gone"}, "status"),
        ({"email_address": 7}, "email_address"),
        ({"interests": {"abc": "yes"}}, "interests"),
    ],
)
def test_the_fakes_patch_refuses_a_body_mailchimp_would_not_take(fake, body, field):
    fake.put(LIST, "ada@example.com", "subscribed")
    answer = patch(fake, "ada@example.com", body)
    assert answer.status_code == 400
    assert answer.json()["title"] == "Invalid Resource"
    assert [e["field"] for e in answer.json()["errors"]] == [field]
    assert fake.statuses(LIST) == {"ada@example.com": "subscribed"}


def test_the_fakes_patch_answers_404_for_a_member_the_list_lacks_and_keeps_compliance(fake):
    assert patch(fake, "ada@example.com", {"status": "unsubscribed"}).status_code == 404
    fake.put(LIST, "bob@example.com", "unsubscribed", compliance=True)
    refused = patch(fake, "bob@example.com", {"status": "subscribed"})
    assert (refused.status_code, refused.json()["title"]) == (400, "Member In Compliance State")
    assert patch(fake, "bob@example.com", {"status": "unsubscribed"}).status_code == 200
    assert httpx.patch(f"{fake.base_url}/3.0/lists/{LIST}/members/{ADA}", json={}).status_code == 401
