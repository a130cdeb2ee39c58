"""Klaviyo's lists and its per-channel consent: a "no" to one list reaches only that list.

Klaviyo unsubscribes a profile globally when a bulk unsubscribe job names a list the profile is
not in, so the adapter asks who is in the list first; SMS consent is per account there, so an SMS
list's "no" removes the member from the list instead; a "no" to a whole channel (everything off,
the address suppressed) is one list-less unsubscribe job. Pushed straight through the adapter to
the fake, then read back the way the reconciler reads it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sync.delivery.connectors.klaviyo import KlaviyoAdapter
from sync.delivery.connectors.vendors import Item, Target
from sync.outbox.contact_state import ContactState
from tests.fakes.klaviyo import FakeKlaviyo

KEY = "pk_test_0123456789abcdef"
AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
MAPPING = {
    "lists": [
        {"list": "LstNews", "topic": "newsletter", "channels": ["email"]},
        {"list": "LstOffers", "topic": "offers", "channels": ["email", "sms"]},
    ]
}
ADA, PHONE = "ada@example.com", "+4915112345678"
DELETE_JOB = ("POST", "/api/profile-subscription-bulk-delete-jobs")
CREATE_JOB = ("POST", "/api/profile-subscription-bulk-create-jobs")


@pytest.fixture
def fake() -> Iterator[FakeKlaviyo]:
    fake = FakeKlaviyo(lists={"LstNews": "Newsletter", "LstOffers": "Offers"})
    fake.base_url = fake.start()  # type: ignore[attr-defined]
    yield fake
    fake.stop()


@pytest.fixture
def target(fake: FakeKlaviyo) -> Target:
    return Target(
        public_id="con_x",
        base_url=fake.base_url,  # type: ignore[attr-defined]
        credentials={"api_key": KEY},
        mapping=MAPPING,
    )


def ada(**overrides: Any) -> ContactState:
    values: dict[str, Any] = {
        "contact_ref": 1,
        "external_id": "cust-ada",
        "email": ADA,
        "phone": PHONE,
        "subscriptions": {
            ("newsletter", "email"): "subscribed",
            ("offers", "email"): "unsubscribed",
            ("offers", "sms"): "subscribed",
        },
        "subscribed_at": {("newsletter", "email"): AT, ("offers", "sms"): AT},
    }
    values.update(overrides)
    return ContactState(**values)


def push(target: Target, *states: ContactState) -> list[Any]:
    items = [Item(delivery_id=n, type="x", contact_ref=s.contact_ref, state=s) for n, s in enumerate(states)]
    return KlaviyoAdapter().push(target, items, client=httpx.Client())


def writes(fake: FakeKlaviyo) -> list[tuple[str, str]]:
    return [call for call in fake.calls if call[0] != "GET"]


def test_a_no_to_a_list_she_is_not_in_unsubscribes_nothing(fake, target):
    results = push(target, ada())

    assert [r.succeeded for r in results] == [True]
    # Subscribed to the newsletter and to SMS offers; her email "no" to offers sent nothing, as
    # she is not in that list: Klaviyo would have turned off all her email marketing.
    assert writes(fake) == [CREATE_JOB, CREATE_JOB]
    assert fake.subscribed("LstNews") == {ADA}
    assert fake.subscribed("LstOffers", "sms") == {PHONE}
    assert fake.consent[(ADA, "email")] == "SUBSCRIBED"
    assert fake.list_suppressions == {}


def test_a_no_to_a_list_she_is_in_unsubscribes_her_from_that_list_only(fake, target):
    fake.drift_subscribe("LstNews", ADA)
    fake.drift_subscribe("LstOffers", ADA)
    push(target, ada())

    assert fake.subscribed("LstNews") == {ADA}
    assert fake.subscribed("LstOffers") == set()
    assert set(fake.list_suppressions[ADA]) == {"LstOffers"}
    assert fake.consent[(ADA, "email")] == "SUBSCRIBED"  # still reachable for the newsletter
    [unsubscribe] = [r["body"] for r in fake.requests if r["path"].endswith("delete-jobs")]
    assert unsubscribe["data"]["relationships"] == {"list": {"data": {"type": "list", "id": "LstOffers"}}}
    assert [row["attributes"]["email"] for row in unsubscribe["data"]["attributes"]["profiles"]["data"]] == [
        ADA
    ]


def test_an_sms_no_removes_the_member_from_the_list_and_keeps_her_sms_consent(fake, target):
    fake.drift_subscribe("LstOffers", PHONE, "sms")
    fake.drift_subscribe("LstNews", ADA)
    state = ada(subscriptions={("newsletter", "email"): "subscribed", ("offers", "sms"): "unsubscribed"})

    push(target, state)

    assert fake.subscribed("LstOffers", "sms") == set()
    assert fake.consent[(PHONE, "sms")] == "SUBSCRIBED"  # Klaviyo's SMS consent is the account's
    [removal] = [r for r in fake.requests if r.get("method") == "DELETE"]
    assert removal["path"] == "/api/lists/LstOffers/relationships/profiles"
    assert removal["body"] == {"data": [{"type": "profile", "id": fake.profiles[PHONE]}]}
    assert DELETE_JOB not in writes(fake)


def test_a_no_to_the_whole_channel_is_one_listless_unsubscribe(fake, target):
    fake.drift_subscribe("LstNews", ADA)
    state = ada(
        subscriptions={("newsletter", "email"): "unsubscribed", ("offers", "email"): "unsubscribed"},
        unsubscribed_all={"email": True},
    )
    bob = ada(
        contact_ref=2,
        external_id="cust-bob",
        email="bob@example.com",
        phone=None,
        suppressed=True,
        subscriptions={("newsletter", "email"): "subscribed"},
    )

    results = push(target, state, bob)

    assert [r.succeeded for r in results] == [True, True]
    assert writes(fake) == [DELETE_JOB]  # no list read: a channel's "no" needs no membership
    [job] = fake.requests
    assert "relationships" not in job["body"]["data"]
    emails = [row["attributes"]["email"] for row in job["body"]["data"]["attributes"]["profiles"]["data"]]
    assert emails == [ADA, "bob@example.com"]
    assert fake.consent[(ADA, "email")] == "UNSUBSCRIBED"
    assert fake.consent[("bob@example.com", "email")] == "UNSUBSCRIBED"


def test_two_entries_on_one_list_send_only_the_no(fake):
    mapping = {"lists": [{"list": "LstNews", "topic": "newsletter"}, {"list": "LstNews", "topic": "offers"}]}
    target = Target(public_id="con_x", base_url=fake.base_url, credentials={"api_key": KEY}, mapping=mapping)  # type: ignore[attr-defined]
    fake.drift_subscribe("LstNews", ADA)

    push(target, ada())

    assert writes(fake) == [DELETE_JOB]
    assert fake.subscribed("LstNews") == set()
    assert set(fake.list_suppressions[ADA]) == {"LstNews"}


def test_a_failed_membership_read_fails_only_the_deliveries_that_needed_it(fake, target):
    fake.api_keys.clear()  # every call now 403
    nothing = ada(contact_ref=2, subscriptions={})
    results = push(target, ada(), nothing)

    assert results[0].succeeded is False
    assert results[0].status_code == 403
    assert results[1].succeeded is True  # nothing to push for her
    assert fake.requests == []


def test_the_reconciler_reads_a_global_unsubscribe_as_the_channel(fake, target):
    adapter = KlaviyoAdapter()
    state = ada()
    fake.drift_subscribe("LstNews", ADA)
    fake.drift_unsubscribe(ADA)  # everything off in Klaviyo's preference page

    read = adapter.vendor_read(target, [state], client=httpx.Client())
    expected = adapter.expected(MAPPING, state)

    assert read[1] == {"channel:email": "unsubscribed", "list:LstOffers:sms": "unknown"}
    assert expected["channel:email"] == "subscribed"
    signal = adapter.slot_signal(MAPPING, "channel:email", state, event_id="e1")
    assert (signal.channel, signal.whole_channel, signal.topics, signal.email) == (
        "email",
        True,
        ("newsletter", "offers"),
        ADA,
    )
    assert signal.detail == {"found_by": "reconciler"}


def test_the_fake_refuses_a_removal_klaviyo_refuses(fake, target):
    client = httpx.Client()
    headers = KlaviyoAdapter()._headers(target)
    url = f"{target.base_url}/api/lists/LstOffers/relationships/profiles"
    assert client.request("DELETE", url, content=b'{"data": []}', headers=headers).status_code == 400
    too_many = b'{"data": [' + b",".join(b'{"type":"profile","id":"x%d"}' % i for i in range(1001)) + b"]}"
    assert client.request("DELETE", url, content=too_many, headers=headers).status_code == 400
    nowhere = f"{target.base_url}/api/lists/LstNope/relationships/profiles"
    body = b'{"data": [{"type": "profile", "id": "x"}]}'
    assert client.request("DELETE", nowhere, content=body, headers=headers).status_code == 404
