"""HubSpot's side of the loop: its webhooks v3 (signed by the fake as HubSpot signs them) read into
opt-out signals and, through /hooks/hubspot/{connector}, into the ledger without an echo; and the
reconciler's view of HubSpot (expected vs vendor state per subscription type, turning a slot off)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from consent.models import ConsentEvent
from preferences.models import ChannelOptOut
from sync.delivery.connectors.hubspot import HubSpotAdapter
from sync.delivery.connectors.inbound import signals_apply_pending
from sync.delivery.connectors.vendors import InboundRequest, Target
from sync.delivery.fanout import endpoint_fanout
from sync.delivery.sending import http_client
from sync.models import Connector, Delivery, InboundSignal
from sync.outbox.contact_state import ContactState
from tests.connectors.support import grant
from tests.connectors.test_hubspot_connector import admin_api, connect, fake, written
from tests.fakes.hubspot import CLIENT_SECRET, TOKEN, FakeHubSpot
from tests.sync.webhook_support import published

__all__ = ["admin_api", "fake", "published"]

pytestmark = pytest.mark.django_db(transaction=True)
ADAPTER = HubSpotAdapter()
MAPPING = {
    "subscriptions": [
        {"subscription_id": "101", "purpose": "email-marketing"},
        {"subscription_id": "102", "topic": "newsletter"},
    ]
}
HOOK = "https://candor.example/hooks/hubspot/con_x"


def target(fake: FakeHubSpot, public_id: str = "con_x", mapping: dict[str, Any] | None = None) -> Target:
    return Target(
        public_id=public_id,
        base_url=fake.base_url,
        credentials={"access_token": TOKEN, "client_secret": CLIENT_SECRET},
        mapping=mapping or MAPPING,
    )


def request(headers: dict[str, str], body: bytes, *, url: str = HOOK, method: str = "POST") -> InboundRequest:
    return InboundRequest(
        method=method,
        url=url,
        headers={k.lower(): v for k, v in headers.items()},
        query={},
        body=body,
        received_at=datetime.now(UTC),
    )


# --- inbound, read by the adapter ----------------------------------------------------------------


def test_each_kind_of_hubspot_no_becomes_a_signal(fake):
    events = [
        fake.event(email="a@example.com", property_name="hs_email_optout", value="true", event_id=1),
        fake.event(email="b@example.com", property_name="hs_email_optout_102", value="true", event_id=2),
        fake.event(email="c@example.com", property_name="hs_email_optout_101", value="true", event_id=3),
        fake.event(
            email="d@example.com",
            property_name="hs_email_hard_bounce_reason_enum",
            value="MAILBOX_FULL",
            event_id=4,
        ),
        # Not a "no": a resubscribe, a type Candor does not map, another property, another event.
        fake.event(email="e@example.com", property_name="hs_email_optout", value="false", event_id=5),
        fake.event(email="f@example.com", property_name="hs_email_optout_999", value="true", event_id=6),
        fake.event(email="g@example.com", property_name="firstname", value="Grace", event_id=7),
        {
            **fake.event(email="h@example.com", property_name="x", value="y", event_id=8),
            "subscriptionType": "contact.creation",
        },
    ]
    answer = ADAPTER.inbound(target(fake), request(*fake.signed(HOOK, events)))
    assert answer.status == 200
    read = [(s.event_id, s.kind, s.channel, s.whole_channel, s.topics, s.purposes) for s in answer.signals]
    assert read == [
        ("1", "unsubscribed", "email", True, ("newsletter",), ("email-marketing",)),
        ("2", "unsubscribed", "email", False, ("newsletter",), ()),
        ("3", "unsubscribed", "email", False, (), ("email-marketing",)),
        ("4", "bounced", "email", True, ("newsletter",), ("email-marketing",)),
    ]
    first = answer.signals[0]
    assert first.detail["hubspot_contact_id"] == fake.contacts["a@example.com"]
    assert first.detail["property"] == "hs_email_optout"
    assert first.detail["change_source"] == "EMAIL_UNSUBSCRIBE"
    assert first.occurred_at is not None
    assert abs((datetime.now(UTC) - first.occurred_at).total_seconds()) < 60
    # No contact Candor pushed: no identifier (kept as unknown by the core).
    assert (first.external_id, first.email) == (None, None)


def test_the_newer_object_property_change_on_contacts_is_read_too(fake):
    event = fake.event(email="a@example.com", property_name="hs_email_optout", value="true", event_id=9)
    company = {**event, "subscriptionType": "object.propertyChange", "objectTypeId": "0-2", "eventId": 10}
    contact = {**event, "subscriptionType": "object.propertyChange", "objectTypeId": "0-1"}
    answer = ADAPTER.inbound(target(fake), request(*fake.signed(HOOK, [company, contact])))
    assert [s.event_id for s in answer.signals] == ["9"]


MINUTE_MS = 60 * 1000


@pytest.mark.parametrize(
    ("secret", "offset_ms"),
    [
        ("another-apps-secret-0000", 0),  # another app's secret
        (CLIENT_SECRET, -6 * MINUTE_MS),  # older than five minutes
        (CLIENT_SECRET, 6 * MINUTE_MS),  # from the future
    ],
)
def test_a_wrong_signature_or_a_stale_timestamp_is_refused(fake, secret, offset_ms):
    event = fake.event(email="a@example.com", property_name="hs_email_optout", value="true")
    stamp = int(time.time() * 1000) + offset_ms  # now, not when the tests were collected
    answer = ADAPTER.inbound(
        target(fake), request(*fake.signed(HOOK, [event], secret=secret, timestamp=stamp))
    )
    assert (answer.status, answer.signals) == (401, [])


def test_four_minutes_old_is_still_inside_the_window(fake):
    event = fake.event(email="a@example.com", property_name="hs_email_optout", value="true")
    stamp = int(time.time() * 1000) - 4 * MINUTE_MS
    answer = ADAPTER.inbound(target(fake), request(*fake.signed(HOOK, [event], timestamp=stamp)))
    assert answer.status == 200
    assert len(answer.signals) == 1


def test_the_signature_covers_method_uri_and_body(fake):
    event = fake.event(email="a@example.com", property_name="hs_email_optout", value="true")
    headers, body = fake.signed(HOOK, [event])
    assert ADAPTER.inbound(target(fake), request(headers, body)).status == 200
    assert ADAPTER.inbound(target(fake), request(headers, body, url=HOOK + "x")).status == 401
    # HubSpot decodes some percent-encoded characters of the URI before signing, not others.
    odd = HOOK + "?a=b%3Ac%2Cd%20e"
    odd_headers, _ = fake.signed(odd, [event])
    assert ADAPTER.inbound(target(fake), request(odd_headers, body, url=odd)).status == 200
    same = HOOK + "?a=b:c,d%20e"  # the listed characters decoded, the space still encoded
    assert ADAPTER.inbound(target(fake), request(odd_headers, body, url=same)).status == 200
    space = HOOK + "?a=b:c,d e"
    assert ADAPTER.inbound(target(fake), request(odd_headers, body, url=space)).status == 401
    assert ADAPTER.inbound(target(fake), request(headers, body.replace(b"true", b"TRUE"))).status == 401
    assert ADAPTER.inbound(target(fake), request(headers, body, method="GET")).status == 405
    assert ADAPTER.inbound(target(fake), request({}, body)).status == 401
    no_secret = Target(public_id="con_x", base_url="", credentials={"access_token": TOKEN}, mapping=MAPPING)
    assert ADAPTER.inbound(no_secret, request(headers, body)).status == 403
    malformed_headers, malformed = fake.signed(HOOK, {"not": "a list"})  # type: ignore[arg-type]
    assert ADAPTER.inbound(target(fake), request(malformed_headers, malformed)).status == 400


# --- end to end through /hooks/hubspot/{connector} ------------------------------------------------


def hook(connector: Connector, fake: FakeHubSpot, events: list[dict[str, Any]], settings: Any) -> Any:
    url = f"{settings.PUBLIC_BASE_URL}/hooks/hubspot/{connector.public_id}"
    headers, body = fake.signed(url, events)
    response = Client().post(
        f"/hooks/hubspot/{connector.public_id}",
        body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )
    signals_apply_pending()
    return response


def test_an_unsubscribe_in_hubspot_reaches_the_ledger_with_its_evidence_and_is_not_echoed(
    admin_api, brand, purpose, contact, fake, published, settings
):
    connector = connect(admin_api, fake)
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)  # pushed: HubSpot's id for Ada is kept
    calls = len(fake.requests)
    fake.set_status("ada@example.com", "101", "UNSUBSCRIBED", source="Subscription preferences page")
    event = fake.event(
        email="ada@example.com", property_name="hs_email_optout_101", value="true", event_id=777
    )

    response = hook(connector, fake, [event], settings)

    assert response.status_code == 200, response.content
    withdrawal = ConsentEvent.objects.get(decision="withdrawn")
    assert (withdrawal.method, withdrawal.recorded_by) == ("connector", f"connector:{connector.public_id}")
    message = withdrawal.evidence.message
    assert message["vendor"] == "hubspot"
    assert message["event_id"] == "777"
    assert message["kind"] == "unsubscribed"
    assert message["vendor_hubspot_contact_id"] == fake.contacts["ada@example.com"]
    assert message["vendor_property"] == "hs_email_optout_101"
    assert datetime.fromisoformat(message["received_at"]) <= datetime.now(UTC)
    signal = InboundSignal.objects.get()
    assert (signal.event_id, signal.outcome, signal.contact_ref) == ("777", "recorded", contact.pk)
    # The withdrawal's delivery to HubSpot writes nothing back (HubSpot told Candor): it reads
    # the contact's statuses and finds every mapped type in step.
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    back = [r["path"] for r in fake.requests[calls:]]
    assert back
    assert all(path.endswith("/read") for path in back), back
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }
    # HubSpot retries the same event: nothing changes.
    assert hook(connector, fake, [event], settings).status_code == 200
    assert ConsentEvent.objects.filter(decision="withdrawn").count() == 1
    assert InboundSignal.objects.count() == 1


def test_unsubscribe_from_all_in_hubspot_opts_out_the_email_channel(
    admin_api, brand, purpose, contact, fake, published, settings
):
    connector = connect(admin_api, fake)
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    event = fake.event(email="ada@example.com", property_name="hs_email_optout", value="true", event_id=778)
    assert hook(connector, fake, [event], settings).status_code == 200
    assert ChannelOptOut.objects.get(contact=contact, channel="email").opted_out is True
    assert InboundSignal.objects.get().outcome == "recorded"


def test_a_contact_candor_never_pushed_is_kept_as_unknown(
    admin_api, brand, purpose, contact, fake, published, settings
):
    connector = connect(admin_api, fake)
    event = fake.event(email="ada@example.com", property_name="hs_email_optout", value="true", event_id=779)
    assert hook(connector, fake, [event], settings).status_code == 200
    assert InboundSignal.objects.get().outcome == "unknown_contact"
    assert not ConsentEvent.objects.filter(decision="withdrawn").exists()


def test_the_ids_kept_read_back_to_live_contacts_in_two_queries(
    admin_api, brand, purpose, contact, fake, published, django_assert_num_queries
):
    from consent.erasure import contact_erase
    from consent.services import contact_upsert
    from sync.delivery.connectors.vendor_contacts import vendor_contacts_external_ids, vendor_contacts_keep

    connector = connect(admin_api, fake)
    bob, _ = contact_upsert(brand=brand, external_id="cust-2", email="bob@example.com")
    vendor_contacts_keep(connector_public_id=connector.public_id, ids={"501": contact.pk, "502": bob.pk})
    with django_assert_num_queries(2):  # a webhook call waits on it: no contact state is read
        found = vendor_contacts_external_ids(
            connector_public_id=connector.public_id, vendor_ids=["501", "502", "503"]
        )
    assert found == {"501": "cust-1", "502": "cust-2"}
    contact_erase(brand=brand, contact=bob, requested_via="api")
    # An erased contact is no one any more: its id reads as unknown.
    assert vendor_contacts_external_ids(
        connector_public_id=connector.public_id, vendor_ids=["501", "502"]
    ) == {"501": "cust-1"}


def test_a_forged_call_writes_nothing(admin_api, brand, purpose, contact, fake, published, settings):
    connector = connect(admin_api, fake)
    event = fake.event(email="ada@example.com", property_name="hs_email_optout", value="true", event_id=780)
    url = f"{settings.PUBLIC_BASE_URL}/hooks/hubspot/{connector.public_id}"
    headers, body = fake.signed(url, [event], secret="not-the-apps-secret-0000")
    response = Client().post(
        f"/hooks/hubspot/{connector.public_id}",
        body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )
    assert response.status_code == 401
    assert not InboundSignal.objects.exists()


# --- the reconciler's view -------------------------------------------------------------------------


def state(email: str = "ada@example.com", **overrides: Any) -> ContactState:
    return ContactState(
        contact_ref=overrides.pop("contact_ref", 1),
        external_id="cust-1",
        email=email,
        phone=None,
        **overrides,
    )


def test_expected_is_pushs_own_rule():
    granted = state(
        consents={"email-marketing": "granted"}, subscriptions={("newsletter", "email"): "subscribed"}
    )
    assert ADAPTER.expected(MAPPING, granted) == {
        "subscription:101:email": "subscribed",
        "subscription:102:email": "subscribed",
    }
    withdrawn = state(
        consents={"email-marketing": "withdrawn"}, subscriptions={("newsletter", "email"): "not_set"}
    )
    assert ADAPTER.expected(MAPPING, withdrawn) == {
        "subscription:101:email": "unsubscribed",
        "subscription:102:email": None,
    }
    everything_off = state(consents={"email-marketing": "granted"}, unsubscribed_all={"email": True})
    assert set(ADAPTER.expected(MAPPING, everything_off).values()) == {"unsubscribed"}
    assert set(ADAPTER.expected(MAPPING, state(email=None)).values()) == {None}  # type: ignore[arg-type]


def test_vendor_read_finds_drift_injected_into_hubspot(admin_api, brand, purpose, contact, fake, published):
    connector = connect(
        admin_api, fake, mapping={"subscriptions": [{"subscription_id": "101", "purpose": "email-marketing"}]}
    )
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    mapping = connector.mapping
    ada = state(contact_ref=contact.pk, consents={"email-marketing": "granted"})
    stranger = state(email="nobody@example.com", contact_ref=99)
    t = target(fake, connector.public_id, mapping)
    assert ADAPTER.vendor_read(t, [ada, stranger], client=http_client()) == {
        contact.pk: {"subscription:101:email": "subscribed"},
        99: {"subscription:101:email": "unknown"},
    }
    assert ADAPTER.expected(mapping, ada) == {"subscription:101:email": "subscribed"}

    fake.set_status("ada@example.com", "101", "UNSUBSCRIBED")  # someone unsubscribed her in HubSpot
    assert ADAPTER.vendor_read(t, [ada], client=http_client()) == {
        contact.pk: {"subscription:101:email": "unsubscribed"}
    }
    fake.set_status("ada@example.com", "101", "SUBSCRIBED")
    fake.unsubscribed_all.add("ada@example.com")  # …or from everything
    assert ADAPTER.vendor_read(t, [ada], client=http_client()) == {
        contact.pk: {"subscription:101:email": "unsubscribed"}
    }
    assert [r["path"].rsplit("/", 2)[-2:] for r in fake.requests[-2:]] == [
        ["batch", "read"],
        ["unsubscribe-all", "read"],
    ]

    signal = ADAPTER.slot_signal(mapping, "subscription:101:email", ada, event_id="reconcile-1")
    assert (signal.kind, signal.channel, signal.external_id, signal.purposes, signal.topics) == (
        "unsubscribed",
        "email",
        "cust-1",
        ("email-marketing",),
        (),
    )


def test_slots_turn_off_changes_exactly_those_slots(admin_api, brand, purpose, contact, fake, published):
    connector = connect(admin_api, fake)
    fake.set_status("ada@example.com", "101", "SUBSCRIBED")  # subscribed in HubSpot, no consent in Candor
    fake.set_status("ada@example.com", "102", "SUBSCRIBED")
    fake.set_status("bob@example.com", "101", "SUBSCRIBED")
    ada = state(contact_ref=contact.pk)
    results = ADAPTER.slots_turn_off(
        target(fake, connector.public_id), [(ada, "subscription:101:email")], client=http_client()
    )
    assert [r.succeeded for r in results] == [True]
    assert written(fake) == [
        {
            "subscriberIdString": "ada@example.com",
            "subscriptionId": 101,
            "channel": "EMAIL",
            "statusState": "UNSUBSCRIBED",
        }
    ]
    assert fake.status("ada@example.com", "101") == "UNSUBSCRIBED"
    assert fake.status("ada@example.com", "102") == "SUBSCRIBED"
    assert fake.status("bob@example.com", "101") == "SUBSCRIBED"
    assert fake.unsubscribed_all == set()


def test_a_throttled_read_is_a_vendor_error_naming_the_wait(fake):
    fake.throttle(1)
    with pytest.raises(Exception, match="429") as caught:
        ADAPTER.vendor_read(target(fake), [state()], client=http_client())
    assert "Retry after 10 s" in str(caught.value)
    assert TOKEN not in str(caught.value)
