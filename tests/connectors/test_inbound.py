"""A "no" given in a vendor is honoured in Candor: Klaviyo's signed webhooks through
/hooks/klaviyo/{connector} become ledger rows with method `connector` and the vendor's evidence,
once per vendor event, and are not pushed back to the vendor that sent them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from brands.models import Brand, Scope
from consent.models import ConsentEvent, Contact, Purpose
from consent.services import contact_upsert
from preferences.models import ChannelOptOut, Subscription, Topic
from preferences.services import SubscriptionChange, preferences_update
from sync.delivery.connectors.inbound import signals_apply_pending, signals_record
from sync.delivery.connectors.vendors import VendorSignal
from sync.delivery.fanout import endpoint_fanout
from sync.models import Connector, ConnectorEcho, Delivery, Event, InboundSignal
from tests.actors import TEST_ACTOR
from tests.conftest import current_version
from tests.connectors.support import drain
from tests.fakes.klaviyo import FakeKlaviyo
from tests.fakes.klaviyo_webhooks import klaviyo_event, klaviyo_webhook
from tests.sync.webhook_support import published

__all__ = ["published"]

KEY = "pk_test_0123456789abcdef"
SECRET = "whsecret-0123456789abcdef"
UNSUBSCRIBED_EMAIL = "event:klaviyo.unsubscribed_from_email_marketing"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeKlaviyo]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    fake = FakeKlaviyo()
    fake.base_url = fake.start()  # type: ignore[attr-defined]
    yield fake
    fake.stop()


def connect(make_client: Any, brand: Brand, fake: FakeKlaviyo, **credentials: str) -> Connector:
    api = make_client(brand, [Scope.ADMIN])
    reply = api.post(
        "/api/v1/connectors",
        {
            "vendor": "klaviyo",
            "name": "Main account",
            "credentials": {"api_key": KEY, **credentials},
            "mapping": {"lists": [{"list": "LstNews", "purpose": "email-marketing"}]},
            "api_base_url": fake.base_url,  # type: ignore[attr-defined]
        },
        format="json",
    )
    assert reply.status_code == 201, reply.content
    return Connector.objects.select_related("endpoint", "brand").get(public_id=reply.json()["id"])


@pytest.fixture
def connector(make_client: Any, brand: Brand, purpose: Purpose, fake: FakeKlaviyo) -> Connector:
    return connect(make_client, brand, fake, webhook_secret=SECRET)


@pytest.fixture
def subscribed(brand: Brand, purpose: Purpose, contact: Contact, published: Any) -> Contact:
    """Ada, granted email marketing through the API (before the connector: nothing is pushed)."""
    from consent.services import consent_record

    consent_record(
        brand=brand,
        external_id=contact.external_id,
        purpose_slug=purpose.slug,
        decision="granted",
        notice_version_id=current_version(purpose).public_id,
        method="api",
        recorded_by="test",
    )
    return contact


def post(connector: Connector, events: list[dict[str, Any]], **overrides: Any) -> Any:
    """The vendor's call, then the worker's pass over what it accepted."""
    response = call(connector, events, **overrides)
    signals_apply_pending()
    return response


def call(connector: Connector, events: list[dict[str, Any]], **overrides: Any) -> Any:
    headers, body = klaviyo_webhook(secret=overrides.pop("secret", SECRET), events=events, **overrides)
    return Client().post(
        f"/hooks/klaviyo/{connector.public_id}",
        body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )


def test_an_unsubscribe_in_klaviyo_is_a_withdrawal_with_the_vendors_evidence(
    connector, subscribed, purpose, make_client
):
    before = ConsentEvent.objects.count()
    event = klaviyo_event(topic=UNSUBSCRIBED_EMAIL, email="ADA@example.com", event_id="evt-1")
    response = post(connector, [event])
    assert response.status_code == 200, response.content
    rows = list(ConsentEvent.objects.order_by("sequence")[before:])
    assert [(r.purpose_id, r.decision, r.method, r.recorded_by) for r in rows] == [
        (purpose.pk, "withdrawn", "connector", f"connector:{connector.public_id}")
    ]
    assert rows[0].occurred_at == datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    message = rows[0].evidence.message
    assert message["vendor"] == "klaviyo"
    assert message["connector"] == connector.public_id
    assert message["event_id"] == "evt-1"
    assert message["kind"] == "unsubscribed"
    assert message["vendor_topic"] == UNSUBSCRIBED_EMAIL
    assert datetime.fromisoformat(message["received_at"]) <= datetime.now(UTC)
    assert ChannelOptOut.objects.get(contact=subscribed, channel="email").opted_out is True
    # The brand reads the same evidence in the contact's history.
    history = make_client(connector.brand, [Scope.CONSENT_READ]).get(
        f"/api/v1/contacts/{subscribed.external_id}/consents/history"
    )
    assert history.json()["events"][-1]["evidence"]["message"] == message
    signal = InboundSignal.objects.get()
    assert (signal.event_id, signal.kind, signal.channel, signal.outcome, signal.contact_ref) == (
        "evt-1",
        "unsubscribed",
        "email",
        "recorded",
        subscribed.pk,
    )


def test_the_call_is_accepted_at_once_and_applied_by_the_worker(connector, subscribed, monkeypatch):
    from sync.delivery.connectors import hooks

    nudges: list[str] = []
    monkeypatch.setattr(hooks, "publish", lambda name, *args: nudges.append(name))
    monkeypatch.setattr("sync.delivery.connectors.inbound._last_nudge", 0.0)
    rows = ConsentEvent.objects.count()
    event = klaviyo_event(topic=UNSUBSCRIBED_EMAIL, email="ada@example.com", event_id="evt-1")
    assert call(connector, [event]).status_code == 200
    # Answered with the "no" kept, not yet in the ledger; the worker was nudged after commit.
    assert ConsentEvent.objects.count() == rows
    pending = InboundSignal.objects.get()
    assert pending.outcome == "pending"
    assert pending.payload["email"] == "ada@example.com"
    assert nudges == ["inbound_signals_apply"]
    assert signals_apply_pending() == 1
    applied = InboundSignal.objects.get()
    assert applied.outcome == "recorded"
    assert applied.payload is None  # the address is not kept once applied
    assert applied.applied_at is not None
    assert ConsentEvent.objects.count() == rows + 1
    assert signals_apply_pending() == 0


def test_a_call_accepted_with_the_broker_down_is_applied_by_the_sweep(connector, subscribed, monkeypatch):
    from sync import tasks
    from sync.delivery import broker

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.inbound_signals_apply, "apply_async", down)
    monkeypatch.setattr("sync.delivery.connectors.inbound._last_nudge", 0.0)
    assert broker.publish("inbound_signals_apply") is False
    monkeypatch.setattr("sync.delivery.connectors.inbound._last_nudge", 0.0)
    event = klaviyo_event(topic=UNSUBSCRIBED_EMAIL, email="ada@example.com", event_id="evt-1")
    assert call(connector, [event]).status_code == 200  # the vendor is answered all the same
    assert InboundSignal.objects.get().outcome == "pending"
    assert tasks.inbound_signals_apply() == 1  # beat's sweep, once the worker runs
    assert InboundSignal.objects.get().outcome == "recorded"
    assert ChannelOptOut.objects.get(contact=subscribed, channel="email").opted_out is True


def test_a_retried_call_changes_nothing_the_second_time(connector, subscribed):
    event = klaviyo_event(topic=UNSUBSCRIBED_EMAIL, email="ada@example.com", event_id="evt-1")
    assert post(connector, [event]).status_code == 200
    rows, events = ConsentEvent.objects.count(), Event.objects.count()
    assert post(connector, [event]).status_code == 200
    assert (ConsentEvent.objects.count(), Event.objects.count()) == (rows, events)
    assert InboundSignal.objects.count() == 1
    assert signals_record(
        connector=connector,
        signals=[
            VendorSignal(event_id="evt-1", kind="unsubscribed", channel="email", email="ada@example.com")
        ],
    ) == ["duplicate"]


def test_the_change_is_not_echoed_to_its_vendor_but_reaches_the_others(
    make_client, brand, subscribed, connector, fake, settings
):
    second_fake = FakeKlaviyo()
    second_fake.base_url = second_fake.start()  # type: ignore[attr-defined]
    try:
        other = connect(make_client, brand, second_fake)
        assert (
            post(connector, [klaviyo_event(topic=UNSUBSCRIBED_EMAIL, email="ada@example.com")]).status_code
            == 200
        )
        caused = set(Event.objects.filter(contact_ref=subscribed.pk).values_list("pk", flat=True))
        echoed = set(ConnectorEcho.objects.filter(connector=connector).values_list("event_id", flat=True))
        assert echoed
        assert echoed <= caused
        fake.requests.clear()
        for endpoint in (connector.endpoint, other.endpoint):
            endpoint_fanout(endpoint_id=endpoint.pk)
            drain(endpoint)
        # Klaviyo, which said "no", hears nothing back; the other account is told.
        assert [r["path"] for r in fake.requests] == []
        deliveries = Delivery.objects.filter(endpoint=connector.endpoint)
        assert deliveries.count() == len(echoed)
        assert {d.status for d in deliveries} == {"succeeded"}
        excerpts = {a.response_excerpt for d in deliveries for a in d.attempts.all()}
        assert excerpts == {"Not pushed: this change came from this vendor."}
        assert "/api/profile-subscription-bulk-delete-jobs" in [r["path"] for r in second_fake.requests]
    finally:
        second_fake.stop()


def test_a_later_change_of_the_same_contact_is_pushed_to_that_vendor(subscribed, connector, brand, fake):
    assert (
        post(connector, [klaviyo_event(topic=UNSUBSCRIBED_EMAIL, email="ada@example.com")]).status_code == 200
    )
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    fake.requests.clear()
    from consent.services import consent_record

    consent_record(
        brand=brand,
        external_id=subscribed.external_id,
        purpose_slug="email-marketing",
        decision="withdrawn",
        notice_version_id=None,
        method="api",
        recorded_by="test",
    )
    # A change made in Candor afterwards is Candor's own: pushed, as the current state.
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    assert [r["path"] for r in fake.requests] == ["/api/profile-subscription-bulk-delete-jobs"]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"secret": "another-secret-0123456789"}, 401),
        ({"timestamp": -600}, 401),  # seconds from now, when the test runs
        ({"timestamp": +600}, 401),
        ({"timestamp": "yesterday"}, 401),
    ],
)
def test_an_unverified_call_is_refused_and_writes_nothing(connector, subscribed, change, status):
    if isinstance(change.get("timestamp"), int):
        change = {"timestamp": str(int(time.time()) + change["timestamp"])}
    rows = ConsentEvent.objects.count()
    response = post(connector, [klaviyo_event(topic=UNSUBSCRIBED_EMAIL, email="ada@example.com")], **change)
    assert response.status_code == status
    assert ConsentEvent.objects.count() == rows
    assert not InboundSignal.objects.exists()


def test_malformed_and_misaddressed_calls(connector, make_client, brand, fake, subscribed):
    path = f"/hooks/klaviyo/{connector.public_id}"
    headers, _ = klaviyo_webhook(secret=SECRET, events=[])
    import hashlib
    import hmac

    stamp = headers["Klaviyo-Timestamp"]
    body = b"{not json"
    signature = hmac.new(SECRET.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
    signed = {**headers, "Klaviyo-Signature": signature}
    signed.pop("Content-Type")
    assert Client().post(path, body, content_type="application/json", headers=signed).status_code == 400
    # The header and the body disagree on the webhook: Klaviyo says not to process it.
    headers, body = klaviyo_webhook(secret=SECRET, events=[], webhook_id="01OTHER")
    headers["Klaviyo-Webhook-Id"] = "01JWEBHOOK0000000000000000"
    signature = hmac.new(SECRET.encode(), body + headers["Klaviyo-Timestamp"].encode(), hashlib.sha256)
    headers["Klaviyo-Signature"] = signature.hexdigest()
    headers.pop("Content-Type")
    assert Client().post(path, body, content_type="application/json", headers=headers).status_code == 400
    assert Client().get(path).status_code == 405
    assert Client().post("/hooks/klaviyo/con_nope", b"{}", content_type="application/json").status_code == 404
    assert (
        Client()
        .post(f"/hooks/hubspot/{connector.public_id}", b"{}", content_type="application/json")
        .status_code
        == 404
    )
    # A connector without a webhook secret hears nothing.
    unsigned = connect(make_client, brand, fake)
    response = post(unsigned, [klaviyo_event(topic=UNSUBSCRIBED_EMAIL, email="ada@example.com")])
    assert response.status_code == 403
    assert not InboundSignal.objects.exists()
    assert ChannelOptOut.objects.filter(opted_out=True).count() == 0


def test_an_unknown_address_is_kept_as_such_and_changes_nothing(connector, subscribed):
    rows = ConsentEvent.objects.count()
    assert (
        post(connector, [klaviyo_event(topic=UNSUBSCRIBED_EMAIL, email="nobody@example.com")]).status_code
        == 200
    )
    assert ConsentEvent.objects.count() == rows
    assert InboundSignal.objects.get().outcome == "unknown_contact"
    assert InboundSignal.objects.get().contact_ref is None


def test_a_hard_bounce_opts_out_and_a_soft_one_does_not(connector, subscribed):
    soft = klaviyo_event(
        topic="event:klaviyo.bounced_email", email="ada@example.com", properties={"Bounce Type": "soft"}
    )
    other = klaviyo_event(topic="event:klaviyo.opened_email", email="ada@example.com")
    assert post(connector, [soft, other]).status_code == 200
    assert not InboundSignal.objects.exists()
    hard = klaviyo_event(
        topic="event:klaviyo.bounced_email", email="ada@example.com", properties={"Bounce Type": "hard"}
    )
    spam = klaviyo_event(topic="event:klaviyo.marked_email_as_spam", email="ada@example.com")
    assert post(connector, [hard, spam]).status_code == 200
    assert sorted(InboundSignal.objects.values_list("kind", "outcome")) == [
        ("bounced", "recorded"),
        ("complained", "unchanged"),
    ]
    assert ChannelOptOut.objects.get(contact=subscribed, channel="email").opted_out is True


# --- The domain's recording, for signals naming topics or purposes ------------------------------


@pytest.fixture
def topics(brand: Brand, purpose: Purpose) -> list[Topic]:
    from preferences.topics import topic_create

    return [
        topic_create(
            actor=TEST_ACTOR, brand=brand, slug=slug, name=slug, purpose=purpose, channels=["email", "sms"]
        )
        for slug in ("newsletter", "offers")
    ]


def subscribe_both(brand: Brand, purpose: Purpose, at: datetime | None = None) -> None:
    preferences_update(
        brand=brand,
        external_id="cust-1",
        method="api",
        recorded_by="test",
        subscriptions=[
            SubscriptionChange(
                topic=slug,
                channel="email",
                status="subscribed",
                notice_version=current_version(purpose).public_id,
            )
            for slug in ("newsletter", "offers")
        ],
        occurred_at=at,
    )


def test_a_signal_for_one_topic_unsubscribes_that_topic_only(connector, contact, brand, purpose, topics):
    subscribe_both(brand, purpose)
    signal = VendorSignal(
        event_id="list-1",
        kind="unsubscribed",
        channel="email",
        email="ada@example.com",
        topics=("newsletter",),
    )
    assert signals_record(connector=connector, signals=[signal]) == ["recorded"]
    statuses = dict(
        Subscription.objects.filter(contact=contact, channel="email").values_list("topic__slug", "status")
    )
    assert statuses == {"newsletter": "unsubscribed", "offers": "subscribed"}
    # The purpose stays granted while a topic under it is subscribed.
    assert not ConsentEvent.objects.filter(decision="withdrawn").exists()


def test_a_signal_for_a_purpose_withdraws_it_once(connector, contact, brand, purpose, topics):
    subscribe_both(brand, purpose)
    signal = VendorSignal(
        event_id="p-1",
        kind="unsubscribed",
        channel="email",
        external_id="cust-1",
        purposes=("email-marketing",),
    )
    again = VendorSignal(
        event_id="p-2",
        kind="unsubscribed",
        channel="email",
        external_id="cust-1",
        purposes=("email-marketing",),
    )
    assert signals_record(connector=connector, signals=[signal, again]) == ["recorded", "unchanged"]
    withdrawn = ConsentEvent.objects.filter(decision="withdrawn")
    assert [(e.purpose_id, e.method) for e in withdrawn] == [(purpose.pk, "connector")]


def test_an_older_vendor_no_does_not_undo_a_later_yes_in_candor(connector, contact, brand, purpose, topics):
    subscribe_both(brand, purpose)
    rows = ConsentEvent.objects.count()
    signal = VendorSignal(
        event_id="old",
        kind="unsubscribed",
        channel="email",
        email="ada@example.com",
        topics=("newsletter",),
        occurred_at=datetime.now(UTC) - timedelta(days=1),
    )
    assert signals_record(connector=connector, signals=[signal]) == ["unchanged"]
    assert (
        Subscription.objects.get(contact=contact, topic__slug="newsletter", channel="email").status
        == "subscribed"
    )
    assert ConsentEvent.objects.count() == rows


def test_an_erased_or_other_brands_contact_is_not_found(connector, other_brand, contact, brand):
    contact_upsert(brand=other_brand, external_id="cust-9", email="eve@example.com")
    signal = VendorSignal(event_id="x", kind="unsubscribed", channel="email", email="eve@example.com")
    assert signals_record(connector=connector, signals=[signal]) == ["unknown_contact"]
    assert not ChannelOptOut.objects.exists()
