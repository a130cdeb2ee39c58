"""A contact's address changed in Candor: the HubSpot contact Candor pushed under the former
address takes the new one (contacts batch/update by the id kept) before the statuses are written
for it, or, where another HubSpot contact has the new address, the old address is written
UNSUBSCRIBED for every mapped type, so no "yes" stays behind under an address the contact left.
HubSpot keeps statuses by address, so after a move the address left is written UNSUBSCRIBED too
(from the sealed `moved` notice, which goes once HubSpot took it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from brands.models import Brand
from consent.erasure import contact_erase
from consent.models import ConsentEvent, Contact, Purpose
from consent.services import contact_upsert
from sync.delivery import batches
from sync.delivery.connectors import erasure_notices
from sync.delivery.connectors.crypto import credentials_decrypt
from sync.delivery.connectors.erasure_notices import moved_notices_held, moved_notices_read
from sync.delivery.connectors.hubspot import HubSpotAdapter
from sync.delivery.connectors.hubspot_moves import Move, address_mark, contacts_move
from sync.delivery.connectors.registry import adapter_for
from sync.delivery.connectors.vendor_contacts import vendor_contacts_keep
from sync.delivery.connectors.vendors import Item, Target
from sync.delivery.fanout import endpoint_fanout
from sync.delivery.sending import http_client
from sync.models import Attempt, Connector, Delivery, ErasureNotice, InboundSignal, VendorContact
from sync.outbox.contact_state import ContactState, contacts_state
from tests.connectors.support import drain, grant, withdraw
from tests.connectors.test_hubspot_connector import UPSERT, WRITE, admin_api, connect, fake, written
from tests.connectors.test_hubspot_inbound import hook
from tests.fakes.hubspot import TOKEN, FakeHubSpot
from tests.sync.webhook_support import published

__all__ = ["admin_api", "fake", "published"]

pytestmark = pytest.mark.django_db(transaction=True)
UPDATE = "/crm/v3/objects/contacts/batch/update"
GDPR_DELETE = "/crm/v3/objects/contacts/gdpr-delete"
TWO_TYPES = {
    "subscriptions": [
        {"subscription_id": "101", "purpose": "email-marketing"},
        {"subscription_id": "102", "purpose": "email-marketing"},
    ]
}


def pushed(admin_api: Any, brand: Brand, purpose: Purpose, fake: FakeHubSpot) -> Connector:
    connector = connect(admin_api, fake, mapping=TWO_TYPES)
    grant(brand, purpose)
    push(connector)
    assert fake.status("ada@example.com", "101") == fake.status("ada@example.com", "102") == "SUBSCRIBED"
    fake.requests.clear()
    return connector


def push(connector: Connector) -> None:
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)


def kept(connector: Connector) -> dict[str, int]:
    return dict(VendorContact.objects.filter(connector=connector).values_list("vendor_id", "contact_ref"))


def statuses(fake: FakeHubSpot, email: str) -> tuple[str, str]:
    return fake.status(email, "101"), fake.status(email, "102")


def moved_to_new_address(brand: Brand) -> None:
    contact_upsert(brand=brand, external_id="cust-1", email="Ada@New.Example")


def test_an_address_change_alone_moves_the_contact_and_its_statuses_land_on_it(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    hubspot_id = fake.contacts["ada@example.com"]
    assert kept(connector) == {
        hubspot_id: contact.pk,
        address_mark(contact_ref=contact.pk, email="ada@example.com"): contact.pk,
    }

    moved_to_new_address(brand)  # contact.updated alone
    push(connector)

    # The same HubSpot record, now under the new address, with the statuses written for it; the
    # address left says "no" to each mapped type, in the same write (no extra call).
    assert fake.contacts == {"ada@new.example": hubspot_id}
    assert fake.paths() == [UPDATE, WRITE]
    assert fake.requests[0]["body"] == {
        "inputs": [{"id": hubspot_id, "properties": {"email": "ada@new.example"}}]
    }
    assert statuses(fake, "ada@new.example") == ("SUBSCRIBED", "SUBSCRIBED")
    assert statuses(fake, "ada@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    assert ErasureNotice.objects.count() == 0
    assert kept(connector) == {
        hubspot_id: contact.pk,
        address_mark(contact_ref=contact.pk, email="ada@new.example"): contact.pk,
    }
    assert list(
        Delivery.objects.filter(endpoint=connector.endpoint).order_by("id").values_list("type", "status")
    ) == [("consent.granted", "succeeded"), ("contact.updated", "succeeded")]

    # A later "no" reaches the moved contact, with no second move.
    fake.requests.clear()
    withdraw(brand, purpose)
    push(connector)
    assert fake.paths() == [WRITE]
    assert statuses(fake, "ada@new.example") == ("UNSUBSCRIBED", "UNSUBSCRIBED")


def test_a_contact_whose_address_did_not_change_makes_no_extra_call(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    withdraw(brand, purpose)
    contact_upsert(brand=brand, external_id="cust-1", phone="+4915112345678")  # contact.updated, no new email
    push(connector)
    assert list(
        Delivery.objects.filter(endpoint=connector.endpoint).order_by("id").values_list("type", flat=True)
    ) == ["consent.granted", "consent.withdrawn", "contact.updated"]
    assert fake.paths() == [WRITE, WRITE]  # a write per batch, no move, no read
    assert statuses(fake, "ada@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")


def test_a_contact_pushed_before_marks_moves_on_its_contact_updated(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    VendorContact.objects.filter(vendor_id__startswith="address:").delete()  # as before this change
    hubspot_id = fake.contacts["ada@example.com"]

    withdraw(brand, purpose)
    push(connector)
    assert fake.paths() == [WRITE]  # no mark, no contact.updated: nothing to move

    moved_to_new_address(brand)
    push(connector)
    assert fake.contacts == {"ada@new.example": hubspot_id}
    assert kept(connector)[address_mark(contact_ref=contact.pk, email="ada@new.example")] == contact.pk
    # Which address it left was not marked: every address of its notice says "no".
    assert statuses(fake, "ada@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    assert not [v for v in kept(connector) if v.startswith("left:")]
    assert ErasureNotice.objects.count() == 0


def test_where_another_hubspot_contact_has_the_new_address_the_old_one_says_no(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    hubspot_id = fake.contacts["ada@example.com"]
    fake.contacts["ada@new.example"] = "777"  # someone (or she) is in HubSpot under it already
    moved_to_new_address(brand)

    grant(brand, purpose)  # a "yes" again, so the push itself subscribes the new address
    push(connector)

    assert fake.contacts == {"ada@example.com": hubspot_id, "ada@new.example": "777"}
    # The move refused (409: the fake keeps no refused call), the old record read once, its
    # address turned off; then the push's own write.
    paths = fake.paths()
    assert paths[:2] == [f"/crm/v3/objects/contacts/{hubspot_id}", WRITE]
    assert set(paths[2:]) == {WRITE}  # the pair is settled: no second move, read or turn-off
    assert fake.requests[1]["body"]["inputs"] == [
        {
            "subscriberIdString": "ada@example.com",
            "subscriptionId": sid,
            "channel": "EMAIL",
            "statusState": "UNSUBSCRIBED",
        }
        for sid in (101, 102)
    ]
    assert statuses(fake, "ada@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    assert statuses(fake, "ada@new.example") == ("SUBSCRIBED", "SUBSCRIBED")
    # The old record is still Candor's to erase; the pair is settled (the new address's mark).
    assert kept(connector) == {
        hubspot_id: contact.pk,
        address_mark(contact_ref=contact.pk, email="ada@new.example"): contact.pk,
    }
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }
    assert ErasureNotice.objects.count() == 0  # the old address's "no" was taken

    # An erasure deletes the record Candor created; the other one is not Candor's.
    contact_erase(brand=brand, contact=Contact.objects.get(pk=contact.pk), requested_via="api")
    push(connector)
    deletes = [r["body"] for r in fake.requests if r["path"] == "/crm/v3/objects/contacts/gdpr-delete"]
    assert deletes == [{"objectId": hubspot_id}]
    assert fake.contacts == {"ada@new.example": "777"}
    assert kept(connector) == {}


def test_a_token_that_may_not_read_contacts_holds_the_refused_move_back_until_it_may(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    fake.contacts["ada@new.example"] = "777"
    fake.scopes.discard("crm.objects.contacts.read")
    moved_to_new_address(brand)
    endpoint_fanout(endpoint_id=connector.endpoint_id)

    [attempt] = Attempt.objects.filter(
        delivery__endpoint=connector.endpoint, delivery__type="contact.updated"
    )
    assert (attempt.status_code, attempt.outcome) == (403, "failed")
    assert "MISSING_SCOPES" in attempt.response_excerpt
    assert Delivery.objects.get(pk=attempt.delivery_id).status == "pending"  # retried, not given up
    assert fake.paths() == []  # nothing written for either address
    assert statuses(fake, "ada@example.com") == ("SUBSCRIBED", "SUBSCRIBED")
    assert ErasureNotice.objects.filter(kind="moved").count() == 1

    fake.scopes.add("crm.objects.contacts.read")
    drain(connector.endpoint)
    assert statuses(fake, "ada@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    assert statuses(fake, "ada@new.example") == ("SUBSCRIBED", "SUBSCRIBED")
    assert ErasureNotice.objects.count() == 0


def test_the_conflict_of_one_contact_does_not_hold_back_the_others_move(
    admin_api, brand, purpose, contact, fake, published
):
    connector = connect(admin_api, fake, mapping=TWO_TYPES)
    contact_upsert(brand=brand, external_id="cust-2", email="bob@example.com")
    grant(brand, purpose)
    grant(brand, purpose, external_id="cust-2")
    push(connector)
    fake.contacts["ada@new.example"] = "777"
    moved_to_new_address(brand)
    contact_upsert(brand=brand, external_id="cust-2", email="bob@new.example")
    fake.requests.clear()

    push(connector)

    # Both refused together (409), then each alone: Bob's moves, Ada's is refused again.
    assert [r["body"]["inputs"] for r in fake.requests if r["path"] == UPDATE] == [
        [{"id": fake.contacts["bob@new.example"], "properties": {"email": "bob@new.example"}}]
    ]
    assert set(fake.contacts) == {"ada@example.com", "ada@new.example", "bob@new.example"}
    assert statuses(fake, "ada@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    assert statuses(fake, "bob@new.example") == ("SUBSCRIBED", "SUBSCRIBED")


def test_a_record_gone_from_hubspot_is_forgotten_and_upserted_under_the_new_address(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    old_id = fake.contacts.pop("ada@example.com")  # deleted inside HubSpot
    moved_to_new_address(brand)
    push(connector)

    assert fake.paths() == [UPDATE, UPSERT, WRITE]
    new_id = fake.contacts["ada@new.example"]
    assert new_id != old_id
    assert kept(connector) == {
        new_id: contact.pk,
        address_mark(contact_ref=contact.pk, email="ada@new.example"): contact.pk,
    }
    # The record went, its address's statuses did not (HubSpot keeps them by address).
    assert statuses(fake, "ada@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    assert ErasureNotice.objects.count() == 0


@pytest.mark.parametrize("fault", ["down", "throttled", "throttled on the write"])
def test_hubspot_down_or_throttled_loses_nothing_and_duplicates_nothing(
    admin_api, brand, purpose, contact, fake, published, fault
):
    connector = pushed(admin_api, brand, purpose, fake)
    hubspot_id = fake.contacts["ada@example.com"]
    moved_to_new_address(brand)
    withdraw(brand, purpose)
    if fault == "down":
        fake.down = True
    elif fault == "throttled":
        fake.throttle(1)
    else:
        fake.window_max = 1  # the move spends the window: stopped before the write
        fake._calls.clear()
    endpoint_fanout(endpoint_id=connector.endpoint_id)

    # The address change's delivery comes first, and stops at the move: retried whole later.
    attempts = Attempt.objects.filter(delivery__endpoint=connector.endpoint, delivery__type="contact.updated")
    [attempt] = attempts
    assert attempt.outcome == "failed"
    assert (attempt.status_code, attempt.error) == {
        "down": (503, "HubSpot answered 503 to batch/update."),
        "throttled": (429, "HubSpot answered 429 to batch/update."),
        "throttled on the write": (200, "Not sent yet: HubSpot's rate-limit window is spent."),
    }[fault]
    assert all(TOKEN not in a.response_excerpt + a.error for a in attempts)
    # Nothing half-done: the old record still has its address and nothing was written yet.
    assert WRITE not in fake.paths()
    if fault == "throttled on the write":
        assert fake.contacts == {"ada@new.example": hubspot_id}
    else:
        assert fake.contacts == {"ada@example.com": hubspot_id}
    assert statuses(fake, "ada@example.com") == ("SUBSCRIBED", "SUBSCRIBED")
    assert ErasureNotice.objects.filter(kind="moved").count() == 1  # kept for the retry

    fake.down = False
    fake.window_max = 190
    drain(connector.endpoint)

    assert fake.contacts == {"ada@new.example": hubspot_id}  # moved once, no second record
    assert [r["body"]["inputs"][0]["id"] for r in fake.requests if r["path"] == UPDATE] == [hubspot_id]
    assert UPSERT not in fake.paths()
    assert statuses(fake, "ada@new.example") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    assert statuses(fake, "ada@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    assert ErasureNotice.objects.count() == 0
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }


def test_moves_keep_to_hubspots_limit_of_100_inputs_a_call(admin_api, purpose, fake):
    connector = connect(admin_api, fake, mapping=TWO_TYPES)
    fake.contacts.update({f"p{i}@example.com": str(1000 + i) for i in range(150)})
    target = Target(
        public_id=connector.public_id,
        base_url=fake.base_url,
        credentials={"access_token": TOKEN},
        mapping=TWO_TYPES,
    )
    moves = [Move(contact_ref=i, hubspot_id=str(1000 + i), email=f"p{i}@new.example") for i in range(150)]
    assert contacts_move(adapter=HubSpotAdapter(), target=target, moves=moves, client=http_client()) is None
    assert [len(r["body"]["inputs"]) for r in fake.requests if r["path"] == UPDATE] == [100, 50]
    assert fake.contacts == {f"p{i}@new.example": str(1000 + i) for i in range(150)}
    # Moves made without a mark of the address left (pushed before marks): every address of the
    # notice is turned off at the push (`left:any`).
    assert kept(connector) == {
        address_mark(contact_ref=i, email=f"p{i}@new.example"): i for i in range(150)
    } | {f"left:any:{i}": i for i in range(150)}


def test_an_address_hubspot_refuses_fails_that_contact_for_good_and_only_holds_the_others_back(
    admin_api, purpose, fake
):
    connector = connect(admin_api, fake, mapping=TWO_TYPES)
    fake.contacts.update({"ada@example.com": "501", "bob@example.com": "502"})
    vendor_contacts_keep(
        connector_public_id=connector.public_id,
        ids={
            "501": 1,
            address_mark(contact_ref=1, email="ada@example.com"): 1,
            "502": 2,
            address_mark(contact_ref=2, email="bob@example.com"): 2,
        },
    )
    target = Target(
        public_id=connector.public_id,
        base_url=fake.base_url,
        credentials={"access_token": TOKEN},
        mapping=TWO_TYPES,
    )
    granted = {"email-marketing": "granted"}
    items = [
        # An address HubSpot will not take (no dot in its domain): a 400 for the move.
        Item(
            delivery_id=1,
            type="contact.updated",
            contact_ref=1,
            state=ContactState(
                contact_ref=1, external_id="a", email="ada@nodot", phone=None, consents=granted
            ),
        ),
        Item(
            delivery_id=2,
            type="consent.granted",
            contact_ref=2,
            state=ContactState(
                contact_ref=2, external_id="b", email="bob@example.com", phone=None, consents=granted
            ),
        ),
    ]
    results = HubSpotAdapter().push(target, items, client=http_client())

    assert [(r.succeeded, r.status_code, r.permanent) for r in results] == [
        (False, 400, True),
        (False, 400, False),  # Bob's own push was not tried: retried, not failed for good
    ]
    assert results[1].error == "Not sent: an earlier call of the batch failed."
    assert fake.paths() == []
    assert fake.contacts == {"ada@example.com": "501", "bob@example.com": "502"}


# --- the statuses left under the former address --------------------------------------------------


def notices() -> list[tuple[str, dict[str, Any]]]:
    return [(n.kind, credentials_decrypt(n.sealed)) for n in ErasureNotice.objects.order_by("id")]


def send_once(connector: Connector) -> None:
    """One round of the worker over what is pending (drain does up to twenty)."""
    pending = Delivery.objects.filter(endpoint=connector.endpoint, status="pending").order_by("id")
    Delivery.objects.filter(pk__in=[d.pk for d in pending]).update(next_attempt_at=timezone.now())
    for delivery in list(pending):
        batches.delivery_send(delivery_id=delivery.pk)


def test_hubspot_and_klaviyo_keep_consent_by_address_mailchimp_and_salesforce_do_not():
    assert {
        vendor: adapter.keeps_consent_by_address
        for vendor in ("klaviyo", "hubspot", "mailchimp", "salesforce")
        if (adapter := adapter_for(vendor)) is not None
    } == {"klaviyo": True, "hubspot": True, "mailchimp": False, "salesforce": False}


def test_the_address_left_says_no_to_each_mapped_type_once_the_move_is_made(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    moved_to_new_address(brand)
    # The change sealed the address left for this connector (HubSpot erases by id, but keeps
    # statuses by address).
    assert notices() == [("moved", {"emails": ["ada@example.com"], "phones": []})]

    push(connector)

    [write] = [r["body"]["inputs"] for r in fake.requests if r["path"] == WRITE]
    assert sorted((r["subscriberIdString"], r["subscriptionId"], r["statusState"]) for r in write) == [
        ("ada@example.com", 101, "UNSUBSCRIBED"),
        ("ada@example.com", 102, "UNSUBSCRIBED"),
        ("ada@new.example", 101, "SUBSCRIBED"),
        ("ada@new.example", 102, "SUBSCRIBED"),
    ]
    assert all("legalBasis" not in r for r in write if r["statusState"] == "UNSUBSCRIBED")
    assert statuses(fake, "ada@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    assert statuses(fake, "ada@new.example") == ("SUBSCRIBED", "SUBSCRIBED")
    assert notices() == []

    # A HubSpot contact made later with the old address (a colleague's form) inherits no "yes".
    fake.contacts["ada@example.com"] = "888"
    assert statuses(fake, "ada@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")

    # Later pushes of the moved contact write nothing more there, and read no notice.
    fake.requests.clear()
    withdraw(brand, purpose)
    push(connector)
    assert [r["subscriberIdString"] for r in written(fake)] == ["ada@new.example", "ada@new.example"]


def test_an_address_left_and_taken_back_later_is_subscribed_again_with_its_legal_basis(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    hubspot_id = fake.contacts["ada@example.com"]
    moved_to_new_address(brand)
    push(connector)
    assert statuses(fake, "ada@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")

    contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com")  # back again
    push(connector)

    # UNSUBSCRIBED does not block her: v4 writes SUBSCRIBED over it with a legal basis.
    assert fake.contacts == {"ada@example.com": hubspot_id}
    assert statuses(fake, "ada@example.com") == ("SUBSCRIBED", "SUBSCRIBED")
    assert fake.statuses[("ada@example.com", "101")]["legalBasis"] == "CONSENT_WITH_NOTICE"
    assert statuses(fake, "ada@new.example") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    assert notices() == []


def test_a_contact_whose_address_did_not_change_reads_no_notice_and_makes_no_extra_call(
    admin_api, purpose, fake, django_assert_num_queries
):
    connector = connect(admin_api, fake, mapping=TWO_TYPES)
    fake.contacts["ada@example.com"] = "501"
    vendor_contacts_keep(
        connector_public_id=connector.public_id,
        ids={"501": 1, address_mark(contact_ref=1, email="ada@example.com"): 1},
    )
    target = Target(
        public_id=connector.public_id,
        base_url=fake.base_url,
        credentials={"access_token": TOKEN},
        mapping=TWO_TYPES,
    )
    state = ContactState(
        contact_ref=1,
        external_id="a",
        email="ada@example.com",
        phone=None,
        consents={"email-marketing": "granted"},
    )
    items = [Item(delivery_id=1, type="consent.granted", contact_ref=1, state=state)]
    # The kept ids, read once for the move and the plan: no notice, no other query.
    with django_assert_num_queries(1) as queries:
        [result] = HubSpotAdapter().push(target, items, client=http_client())
    assert result.succeeded
    assert not any("erasurenotice" in q["sql"] for q in queries.captured_queries)
    assert fake.paths() == [WRITE]


def test_an_address_another_live_contact_gives_now_is_not_written(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    moved_to_new_address(brand)
    contact_upsert(brand=brand, external_id="cust-2", email="ada@example.com")  # a colleague has it now
    push(connector)

    assert {r["subscriberIdString"] for r in written(fake)} == {"ada@new.example"}
    # The record under that address is the colleague's to push now: not moved; Ada gets her own.
    assert UPDATE not in fake.paths()
    assert set(fake.contacts) == {"ada@example.com", "ada@new.example"}
    assert statuses(fake, "ada@new.example") == ("SUBSCRIBED", "SUBSCRIBED")
    # Not Candor's to turn off: that contact's own state is its to push (none here yet).
    assert statuses(fake, "ada@example.com") == ("SUBSCRIBED", "SUBSCRIBED")
    assert notices() == []  # told: nothing left to write


# --- a record two contacts share (one HubSpot contact per address) -------------------------------


def shared_with_cust_2(admin_api: Any, brand: Brand, purpose: Purpose, fake: FakeHubSpot) -> Connector:
    """Ada pushed, then a second Candor contact with her address (a duplicate, a household) says
    yes too: HubSpot has one record for both, its id kept for Ada only (the first to push)."""
    connector = pushed(admin_api, brand, purpose, fake)
    contact_upsert(brand=brand, external_id="cust-2", email="ada@example.com")
    grant(brand, purpose, external_id="cust-2")
    push(connector)
    fake.requests.clear()
    return connector


def test_a_record_another_contact_still_gives_the_address_of_stays_theirs_and_the_mover_gets_its_own(
    admin_api, brand, purpose, contact, fake, published, settings
):
    connector = shared_with_cust_2(admin_api, brand, purpose, fake)
    hubspot_id = fake.contacts["ada@example.com"]
    other = Contact.objects.get(brand=brand, external_id="cust-2")
    assert kept(connector) == {
        hubspot_id: contact.pk,
        address_mark(contact_ref=contact.pk, email="ada@example.com"): contact.pk,
        address_mark(contact_ref=other.pk, email="ada@example.com"): other.pk,
    }

    moved_to_new_address(brand)
    withdraw(brand, purpose)  # Ada's "no", at her new address only: cust-2's "yes" stands
    push(connector)

    # Not moved: the record stays under the address cust-2 gives, with cust-2's statuses; Ada
    # has a record of her own under the new one; nothing is written at the old address.
    assert UPDATE not in fake.paths()
    assert fake.paths().count(UPSERT) == 1
    new_id = fake.contacts["ada@new.example"]
    assert fake.contacts == {"ada@example.com": hubspot_id, "ada@new.example": new_id}
    assert new_id != hubspot_id
    assert {r["subscriberIdString"] for r in written(fake)} == {"ada@new.example"}
    assert statuses(fake, "ada@example.com") == ("SUBSCRIBED", "SUBSCRIBED")
    assert statuses(fake, "ada@new.example") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    # Ada's id, mark (and no left mark) for the shared record are gone; its id is cust-2's now,
    # beside cust-2's mark of the address.
    assert kept(connector) == {
        new_id: contact.pk,
        address_mark(contact_ref=contact.pk, email="ada@new.example"): contact.pk,
        hubspot_id: other.pk,
        address_mark(contact_ref=other.pk, email="ada@example.com"): other.pk,
    }
    assert notices() == []
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }

    # A "no" given in HubSpot on that record reaches cust-2 at once, before any push of theirs.
    fake.set_status("ada@example.com", "101", "UNSUBSCRIBED", source="Subscription preferences page")
    event = fake.event(
        email="ada@example.com", property_name="hs_email_optout_101", value="true", event_id=901
    )
    assert hook(connector, fake, [event], settings).status_code == 200
    signal = InboundSignal.objects.get(event_id="901")
    assert (signal.outcome, signal.contact_ref) == ("recorded", other.pk)
    assert contacts_state(brand_id=brand.pk, contact_refs=[other.pk])[other.pk].consents == {
        "email-marketing": "withdrawn"
    }
    assert contacts_state(brand_id=brand.pk, contact_refs=[contact.pk])[contact.pk].consents == {
        "email-marketing": "withdrawn"  # Ada's own "no", above: the signal did not reach her
    }
    assert ConsentEvent.objects.filter(contact=other, decision="withdrawn").count() == 1

    # cust-2's next change (a yes again) is pushed with nothing to move and no one to upsert:
    # the record is theirs, its statuses written by address.
    fake.requests.clear()
    grant(brand, purpose, external_id="cust-2")
    push(connector)
    assert UPDATE not in fake.paths()
    assert UPSERT not in fake.paths()
    assert WRITE in fake.paths()
    assert fake.contacts == {"ada@example.com": hubspot_id, "ada@new.example": new_id}
    assert statuses(fake, "ada@example.com") == ("SUBSCRIBED", "SUBSCRIBED")
    assert kept(connector)[hubspot_id] == other.pk


def test_hubspot_down_after_a_shared_record_is_left_to_the_other_contact_loses_nothing(
    admin_api, brand, purpose, contact, fake, published
):
    connector = shared_with_cust_2(admin_api, brand, purpose, fake)
    hubspot_id = fake.contacts["ada@example.com"]
    other = Contact.objects.get(brand=brand, external_id="cust-2")
    moved_to_new_address(brand)
    fake.down = True
    endpoint_fanout(endpoint_id=connector.endpoint_id)

    [attempt] = Attempt.objects.filter(
        delivery__endpoint=connector.endpoint, delivery__type="contact.updated"
    )
    assert (attempt.outcome, attempt.status_code) == ("failed", 503)
    assert fake.contacts == {"ada@example.com": hubspot_id}
    assert statuses(fake, "ada@example.com") == ("SUBSCRIBED", "SUBSCRIBED")
    # Nothing is owed at the address cust-2 gives: the notice goes at once (as for a phone).
    assert notices() == []

    # The record went to cust-2 before any call: HubSpot being down did not hold that back.
    assert kept(connector) == {
        hubspot_id: other.pk,
        address_mark(contact_ref=other.pk, email="ada@example.com"): other.pk,
    }

    fake.down = False
    drain(connector.endpoint)

    # The retry, with no id or mark of Ada's left, makes no move: it upserts her new address.
    assert UPDATE not in fake.paths()
    new_id = fake.contacts["ada@new.example"]
    assert fake.contacts == {"ada@example.com": hubspot_id, "ada@new.example": new_id}
    assert statuses(fake, "ada@example.com") == ("SUBSCRIBED", "SUBSCRIBED")
    assert statuses(fake, "ada@new.example") == ("SUBSCRIBED", "SUBSCRIBED")
    assert kept(connector) == {
        new_id: contact.pk,
        address_mark(contact_ref=contact.pk, email="ada@new.example"): contact.pk,
        hubspot_id: other.pk,
        address_mark(contact_ref=other.pk, email="ada@example.com"): other.pk,
    }
    assert notices() == []
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }


def test_a_shared_record_goes_to_the_contact_who_gave_hubspot_its_address_not_the_first_holder(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    hubspot_id = fake.contacts["ada@example.com"]
    # cust-2 gives Ada's address but has said nothing HubSpot is mapped to: never upserted, no
    # mark. cust-3 gives it too and says yes: its upsert found Ada's record (its mark is kept).
    quiet, _ = contact_upsert(brand=brand, external_id="cust-2", email="ada@example.com")
    contact_upsert(brand=brand, external_id="cust-3", email="ada@example.com")
    grant(brand, purpose, external_id="cust-3")
    push(connector)
    third = Contact.objects.get(brand=brand, external_id="cust-3")
    assert quiet.pk < third.pk
    assert kept(connector)[address_mark(contact_ref=third.pk, email="ada@example.com")] == third.pk
    assert address_mark(contact_ref=quiet.pk, email="ada@example.com") not in kept(connector)

    moved_to_new_address(brand)
    push(connector)

    assert kept(connector)[hubspot_id] == third.pk
    assert quiet.pk not in kept(connector).values()
    assert fake.contacts["ada@example.com"] == hubspot_id


def test_a_holder_with_a_hubspot_record_of_its_own_is_not_given_a_second(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    ada_id = fake.contacts["ada@example.com"]
    contact_upsert(brand=brand, external_id="cust-2", email="bob@example.com")
    grant(brand, purpose, external_id="cust-2")
    push(connector)
    bob = Contact.objects.get(brand=brand, external_id="cust-2")
    bob_id = fake.contacts["bob@example.com"]
    # Bob takes Ada's address: HubSpot refuses to give his record an address Ada's has (409);
    # his record keeps his old address, turned off, and stays his, marked with the new one.
    contact_upsert(brand=brand, external_id="cust-2", email="ada@example.com")
    push(connector)
    assert kept(connector)[bob_id] == bob.pk

    moved_to_new_address(brand)
    push(connector)

    # Ada lets go of her record (Bob gives its address), but Bob keeps his one record only.
    assert ada_id not in kept(connector)
    assert [v for v, ref in kept(connector).items() if ref == bob.pk and not v.startswith("address:")] == [
        bob_id
    ]
    assert fake.contacts["ada@example.com"] == ada_id


@pytest.mark.parametrize("unknown", ["no notice", "no mark"])
def test_a_shared_record_is_moved_as_before_where_its_address_cannot_be_known(
    admin_api, brand, purpose, contact, fake, published, unknown
):
    connector = shared_with_cust_2(admin_api, brand, purpose, fake)
    hubspot_id = fake.contacts["ada@example.com"]
    moved_to_new_address(brand)
    if unknown == "no notice":  # no CONNECTOR_KEYS at the change, or purged
        ErasureNotice.objects.all().delete()
    else:  # pushed before marks were kept
        VendorContact.objects.filter(vendor_id__startswith="address:").delete()

    push(connector)

    # Which address HubSpot has for Ada is not known: her record moves, as before this check.
    assert [r["body"]["inputs"] for r in fake.requests if r["path"] == UPDATE] == [
        [{"id": hubspot_id, "properties": {"email": "ada@new.example"}}]
    ]
    assert fake.contacts == {"ada@new.example": hubspot_id}
    # The address cust-2 gives is still not turned off (its own statuses stay).
    assert statuses(fake, "ada@example.com") == ("SUBSCRIBED", "SUBSCRIBED")
    assert statuses(fake, "ada@new.example") == ("SUBSCRIBED", "SUBSCRIBED")
    assert kept(connector)[hubspot_id] == contact.pk
    assert notices() == []


def test_a_shared_record_seen_only_by_the_conflicts_read_is_let_go_not_turned_off(
    admin_api, brand, purpose, contact, fake, published
):
    connector = shared_with_cust_2(admin_api, brand, purpose, fake)
    hubspot_id = fake.contacts["ada@example.com"]
    fake.contacts["ada@new.example"] = "777"  # another HubSpot contact has her new address
    moved_to_new_address(brand)
    ErasureNotice.objects.all().delete()  # no notice: which address the record has is not known

    grant(brand, purpose)
    push(connector)

    # The move refused (409), the old record read: cust-2 gives its address, so nothing is
    # written there; Ada lets go of it and her upsert finds the HubSpot contact at her address.
    paths = fake.paths()
    assert paths[0] == f"/crm/v3/objects/contacts/{hubspot_id}"
    assert statuses(fake, "ada@example.com") == ("SUBSCRIBED", "SUBSCRIBED")
    assert statuses(fake, "ada@new.example") == ("SUBSCRIBED", "SUBSCRIBED")
    assert fake.contacts == {"ada@example.com": hubspot_id, "ada@new.example": "777"}
    other = Contact.objects.get(brand=brand, external_id="cust-2")
    assert kept(connector) == {
        "777": contact.pk,
        address_mark(contact_ref=contact.pk, email="ada@new.example"): contact.pk,
        hubspot_id: other.pk,  # the record Ada let go is cust-2's
        address_mark(contact_ref=other.pk, email="ada@example.com"): other.pk,
    }
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }


def test_a_batch_with_moves_reads_the_notices_once_and_asks_once_which_addresses_are_held(
    admin_api, brand, purpose, contact, fake, published, monkeypatch
):
    connector = shared_with_cust_2(admin_api, brand, purpose, fake)
    contact_upsert(brand=brand, external_id="cust-3", email="bob@example.com")
    grant(brand, purpose, external_id="cust-3")
    push(connector)
    bob = Contact.objects.get(brand=brand, external_id="cust-3")
    ada_id, bob_id = fake.contacts["ada@example.com"], fake.contacts["bob@example.com"]
    moved_to_new_address(brand)  # shared: not moved
    contact_upsert(brand=brand, external_id="cust-3", email="bob@new.example")  # moved
    fake.requests.clear()
    held_calls: list[list[str]] = []
    holders = erasure_notices.address_holders

    def counted(*, brand_id: int, emails: Sequence[str], phones: Sequence[str]) -> dict[str, list[int]]:
        held_calls.append(list(emails))
        return holders(brand_id=brand_id, emails=emails, phones=phones)

    monkeypatch.setattr(erasure_notices, "address_holders", counted)
    states = contacts_state(brand_id=brand.pk, contact_refs=[contact.pk, bob.pk])
    items = [
        Item(delivery_id=i, type="contact.updated", contact_ref=ref, state=states[ref])
        for i, ref in enumerate([contact.pk, bob.pk], start=1)
    ]
    with CaptureQueriesContext(connection) as queries:
        results = HubSpotAdapter().push(
            Target(
                public_id=connector.public_id,
                base_url=fake.base_url,
                credentials={"access_token": TOKEN},
                mapping=TWO_TYPES,
            ),
            items,
            client=http_client(),
        )

    assert all(r.succeeded for r in results)
    notice_reads = [
        q for q in queries.captured_queries if q["sql"].startswith("SELECT") and "erasurenotice" in q["sql"]
    ]
    assert len(notice_reads) == 1
    assert held_calls == [["ada@example.com", "bob@example.com"]]
    assert [r["body"]["inputs"] for r in fake.requests if r["path"] == UPDATE] == [
        [{"id": bob_id, "properties": {"email": "bob@new.example"}}]
    ]
    assert fake.contacts["ada@example.com"] == ada_id
    assert fake.contacts["bob@new.example"] == bob_id
    assert statuses(fake, "bob@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    assert statuses(fake, "ada@example.com") == ("SUBSCRIBED", "SUBSCRIBED")


def test_klaviyos_reader_still_leaves_out_held_addresses_the_unfiltered_one_names_them(
    admin_api, brand, purpose, contact, fake, published
):
    connector = shared_with_cust_2(admin_api, brand, purpose, fake)
    contact_upsert(brand=brand, external_id="cust-1", email="ada@between.example")
    moved_to_new_address(brand)
    everything = {"emails": ["ada@example.com", "ada@between.example"], "phones": []}
    other = Contact.objects.get(brand=brand, external_id="cust-2")
    assert moved_notices_held(connector_public_id=connector.public_id, contact_refs=[contact.pk]) == (
        {contact.pk: everything},
        {"ada@example.com": [other.pk]},
    )
    assert moved_notices_read(connector_public_id=connector.public_id, contact_refs=[contact.pk]) == {
        contact.pk: {"emails": ["ada@between.example"], "phones": []}
    }


def test_an_address_left_before_the_first_push_is_not_written(
    admin_api, brand, purpose, contact, fake, published
):
    connector = connect(admin_api, fake, mapping=TWO_TYPES)
    grant(brand, purpose)
    moved_to_new_address(brand)  # before anything reached HubSpot: nothing Candor pushed is there
    push(connector)

    assert UPDATE not in fake.paths()
    assert {r["subscriberIdString"] for r in written(fake)} == {"ada@new.example"}
    assert statuses(fake, "ada@example.com") == ("NOT_SPECIFIED", "NOT_SPECIFIED")
    assert [v for v in kept(connector) if v.startswith("left:")] == []
    assert notices() == []


def test_hubspot_throttling_the_write_keeps_the_notice_until_the_retry_succeeds(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    hubspot_id = fake.contacts["ada@example.com"]
    moved_to_new_address(brand)
    fake.window_max = 1  # the move spends the window: the batch stops before the write
    fake._calls.clear()
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    assert fake.contacts == {"ada@new.example": hubspot_id}
    assert statuses(fake, "ada@example.com") == ("SUBSCRIBED", "SUBSCRIBED")
    assert [kind for kind, _ in notices()] == ["moved"]

    fake.requests.clear()
    fake.window_max = 190
    fake.throttle(1)  # the retry's write (no second move: its mark matches) meets a 429
    send_once(connector)
    [attempt] = Attempt.objects.filter(delivery__endpoint=connector.endpoint, status_code=429)
    assert attempt.outcome == "failed"
    assert UPDATE not in fake.paths()
    assert WRITE not in fake.paths()
    assert statuses(fake, "ada@example.com") == ("SUBSCRIBED", "SUBSCRIBED")
    assert [kind for kind, _ in notices()] == ["moved"]

    drain(connector.endpoint)
    assert fake.paths() == [WRITE]
    assert statuses(fake, "ada@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    assert statuses(fake, "ada@new.example") == ("SUBSCRIBED", "SUBSCRIBED")
    assert notices() == []


def test_an_erasure_pushed_before_the_move_deletes_the_record_and_drops_the_notice(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    hubspot_id = fake.contacts["ada@example.com"]
    moved_to_new_address(brand)
    contact_erase(brand=brand, contact=Contact.objects.get(pk=contact.pk), requested_via="api")

    fake.down = True
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    assert [kind for kind, _ in notices()] == ["moved"]  # kept while HubSpot has not taken it

    fake.down = False
    drain(connector.endpoint)
    # The record (still under the old address: no move for an erased contact) is deleted by id,
    # and its address's statuses with it; the notice goes with the erasure.
    assert [r["body"] for r in fake.requests if r["path"] == GDPR_DELETE] == [{"objectId": hubspot_id}]
    assert UPDATE not in fake.paths()
    assert WRITE not in fake.paths()
    assert fake.contacts == {}
    assert statuses(fake, "ada@example.com") == ("NOT_SPECIFIED", "NOT_SPECIFIED")
    assert notices() == []
    assert kept(connector) == {}


def test_of_two_addresses_left_before_a_push_only_the_one_hubspot_had_is_written(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    contact_upsert(brand=brand, external_id="cust-1", email="ada@between.example")
    moved_to_new_address(brand)
    assert notices() == [("moved", {"emails": ["ada@example.com", "ada@between.example"], "phones": []})]
    push(connector)

    assert {r["subscriberIdString"] for r in written(fake)} == {"ada@example.com", "ada@new.example"}
    assert statuses(fake, "ada@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    assert statuses(fake, "ada@between.example") == ("NOT_SPECIFIED", "NOT_SPECIFIED")
    assert notices() == []


def test_an_erasure_forgets_the_left_marks_of_a_record_hubspot_no_longer_had(admin_api, purpose, fake):
    connector = connect(admin_api, fake, mapping=TWO_TYPES)
    left = "left:" + address_mark(contact_ref=1, email="ada@example.com").removeprefix("address:")
    vendor_contacts_keep(connector_public_id=connector.public_id, ids={left: 1})
    target = Target(
        public_id=connector.public_id,
        base_url=fake.base_url,
        credentials={"access_token": TOKEN},
        mapping=TWO_TYPES,
    )
    erased = ContactState(contact_ref=1, external_id="x", email=None, phone=None, erased=True)
    [result] = HubSpotAdapter().push(
        target,
        [Item(delivery_id=1, type="contact.erased", contact_ref=1, state=erased)],
        client=http_client(),
    )
    assert result.succeeded
    assert fake.paths() == []  # no HubSpot id: nothing to delete there
    assert kept(connector) == {}


# --- the fake's endpoints ----------------------------------------------------------------------


def call(fake: FakeHubSpot, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(
        method,
        f"{fake.base_url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
        params={"properties": "email"} if method == "GET" else None,
    )


def test_the_fakes_batch_update_moves_refuses_a_taken_address_and_names_missing_ids(fake):
    fake.contacts.update({"a@example.com": "1", "b@example.com": "2"})
    moved = call(fake, "POST", UPDATE, {"inputs": [{"id": "1", "properties": {"email": "c@example.com"}}]})
    assert moved.status_code == 200
    assert moved.json()["results"][0]["properties"]["email"] == "c@example.com"
    assert fake.contacts == {"c@example.com": "1", "b@example.com": "2"}

    taken = call(fake, "POST", UPDATE, {"inputs": [{"id": "1", "properties": {"email": "B@example.com"}}]})
    assert taken.status_code == 409
    assert taken.json()["category"] == "CONFLICT"
    assert taken.json()["message"] == "Contact already exists. Existing ID: 2"
    assert fake.contacts == {"c@example.com": "1", "b@example.com": "2"}

    partly = call(
        fake,
        "POST",
        UPDATE,
        {"inputs": [{"id": "9", "properties": {"email": "x@example.com"}}, {"id": "2", "properties": {}}]},
    )
    assert partly.status_code == 207
    assert partly.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert partly.json()["errors"][0]["context"] == {"ids": ["9"]}
    assert [r["id"] for r in partly.json()["results"]] == ["2"]


@pytest.mark.parametrize(
    "inputs",
    [
        [{"id": "1"}],
        [{"id": "1", "properties": {"email": "not an address"}}],
        [{"id": "a@example.com", "idProperty": "email", "properties": {"email": "c@example.com"}}],
        [{"id": "1", "properties": {"email": "c@example.com"}}, {"id": "1", "properties": {}}],
        [{"id": str(i), "properties": {}} for i in range(101)],
    ],
)
def test_the_fakes_batch_update_refuses_what_hubspot_refuses(fake, inputs):
    fake.contacts["a@example.com"] = "1"
    answer = call(fake, "POST", UPDATE, {"inputs": inputs})
    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"
    assert fake.contacts == {"a@example.com": "1"}


def test_the_fakes_contact_read_by_id(fake):
    fake.contacts["a@example.com"] = "1"
    found = call(fake, "GET", "/crm/v3/objects/contacts/1")
    assert found.status_code == 200
    assert found.json()["properties"] == {"email": "a@example.com", "hs_object_id": "1"}
    assert call(fake, "GET", "/crm/v3/objects/contacts/2").status_code == 404
    fake.scopes.discard("crm.objects.contacts.read")
    assert call(fake, "GET", "/crm/v3/objects/contacts/1").json()["category"] == "MISSING_SCOPES"


def test_the_fakes_batch_write_refuses_v3s_not_subscribed_and_resubscribes_only_with_a_legal_basis(fake):
    def write(state: str, **extra: str) -> httpx.Response:
        row = {"subscriberIdString": "a@example.com", "subscriptionId": 101, "channel": "EMAIL"}
        return call(fake, "POST", WRITE, {"inputs": [row | {"statusState": state} | extra]})

    # NOT_SUBSCRIBED is v3's read-only status, not one of v4's statusState values.
    refused = write("NOT_SUBSCRIBED")
    assert refused.status_code == 400
    assert refused.json()["category"] == "VALIDATION_ERROR"
    assert fake.status("a@example.com", "101") == "NOT_SPECIFIED"

    # An address no contact has can hold a status (HubSpot ties it to the address).
    assert write("UNSUBSCRIBED").json()["results"][0]["setStatusSuccessReason"] == "REQUESTED_CHANGE_OCCURRED"
    assert fake.contacts == {}
    assert fake.status("a@example.com", "101") == "UNSUBSCRIBED"
    # Subscribing it again needs a legal basis (GDPR tools on), and then v4 resubscribes.
    assert write("SUBSCRIBED").status_code == 400
    assert fake.status("a@example.com", "101") == "UNSUBSCRIBED"
    again = write("SUBSCRIBED", legalBasis="CONSENT_WITH_NOTICE", legalBasisExplanation="Asked again.")
    assert again.json()["results"][0]["setStatusSuccessReason"] == "RESUBSCRIBE_OCCURRED"
    assert fake.status("a@example.com", "101") == "SUBSCRIBED"


def test_an_erasure_leaves_a_record_another_contact_gives_the_address_of_to_them(
    admin_api, brand, purpose, contact, fake, published
):
    connector = shared_with_cust_2(admin_api, brand, purpose, fake)
    hubspot_id = fake.contacts["ada@example.com"]
    other = Contact.objects.get(brand=brand, external_id="cust-2")

    contact_erase(brand=brand, contact=Contact.objects.get(pk=contact.pk), requested_via="api")
    push(connector)

    # The record is cust-2's too: read (Candor no longer holds Ada's address), not deleted, and
    # its address not blocklisted; it is cust-2's alone now, and nothing of Ada's is kept. The
    # erasure put the address on the suppression list: cust-2 reads suppressed, is announced
    # (contact.updated), and its push says "no" on the record at once.
    assert fake.paths() == [
        f"/crm/v3/objects/contacts/{hubspot_id}",
        "/communication-preferences/v4/statuses/batch/write",
    ]
    assert fake.contacts == {"ada@example.com": hubspot_id}
    assert fake.blocklist == set()
    assert statuses(fake, "ada@example.com") == ("UNSUBSCRIBED", "UNSUBSCRIBED")
    assert kept(connector) == {
        hubspot_id: other.pk,
        address_mark(contact_ref=other.pk, email="ada@example.com"): other.pk,
    }
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }

    # cust-2 erased in turn: no one gives the address any more, so the record is deleted.
    fake.requests.clear()
    contact_erase(brand=brand, contact=other, requested_via="api")
    push(connector)
    assert [r["body"] for r in fake.requests if r["path"] == GDPR_DELETE] == [{"objectId": hubspot_id}]
    assert fake.contacts == {}
    assert fake.blocklist == {"ada@example.com"}
    assert kept(connector) == {}


def test_hubspot_down_while_an_erasure_reads_its_record_deletes_nothing_until_it_answers(
    admin_api, brand, purpose, contact, fake, published
):
    connector = pushed(admin_api, brand, purpose, fake)
    hubspot_id = fake.contacts["ada@example.com"]
    contact_erase(brand=brand, contact=Contact.objects.get(pk=contact.pk), requested_via="api")
    fake.down = True
    endpoint_fanout(endpoint_id=connector.endpoint_id)

    # The erasure's delivery (its state read at send time says erased) reads the record first.
    [attempt] = Attempt.objects.filter(delivery__endpoint=connector.endpoint, outcome="failed")
    assert attempt.status_code == 503
    assert fake.contacts == {"ada@example.com": hubspot_id}

    fake.down = False
    drain(connector.endpoint)
    assert [r["body"] for r in fake.requests if r["path"] == GDPR_DELETE] == [{"objectId": hubspot_id}]
    assert fake.contacts == {}
    assert kept(connector) == {}
