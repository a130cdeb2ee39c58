"""A "no" given in Mailchimp is honoured in Candor: the list webhooks' calls read by the adapter
(secret in the URL, the GET check, each event type), and end to end through
/hooks/mailchimp/{connector}: the ledger row with its evidence, once, and no echo."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from brands.models import Brand
from consent.models import ConsentEvent, Contact, Purpose
from preferences.models import ChannelOptOut, Subscription, Topic
from preferences.services import SubscriptionChange, preferences_update
from sync.delivery.connectors.inbound import signals_apply_pending
from sync.delivery.connectors.mailchimp import MailchimpAdapter
from sync.delivery.connectors.mailchimp_inbound import mailchimp_event_id
from sync.delivery.connectors.vendors import InboundRequest, Target
from sync.delivery.fanout import endpoint_fanout
from sync.models import Connector, ConnectorEcho, Delivery, Event, InboundSignal
from tests.actors import TEST_ACTOR
from tests.conftest import current_version
from tests.connectors.support import drain, grant
from tests.connectors.test_mailchimp_connector import LIST, OTHER_LIST, admin_api, body, fake
from tests.fakes.mailchimp import FakeMailchimp, webhook_body, webhook_form, webhook_post
from tests.sync.webhook_support import published

__all__ = ["admin_api", "fake", "published"]

SECRET = "s3cret-0123456789abcdef"
pytestmark = pytest.mark.django_db(transaction=True)
MAPPING = {
    "lists": [
        {"list": LIST, "purpose": "email-marketing"},
        {"list": LIST, "topic": "newsletter", "interest": "int111"},
        {"list": OTHER_LIST},
    ]
}


def call(form: dict[str, str] | None, *, method: str = "POST", secret: str | None = SECRET) -> InboundRequest:
    query = {"secret": secret} if secret is not None else {}
    return InboundRequest(
        method=method,
        url=f"https://candor.example/hooks/mailchimp/con_x?{urlencode(query)}",
        headers={"content-type": "application/x-www-form-urlencoded", "user-agent": "MailChimp"},
        query=query,
        body=webhook_body(form) if form is not None else b"",
        received_at=datetime.now(UTC),
    )


TARGET = Target(
    public_id="con_x", base_url="", credentials={"api_key": "k", "webhook_secret": SECRET}, mapping=MAPPING
)


def test_the_get_check_answers_200_with_the_secret_and_403_without():
    adapter = MailchimpAdapter()
    assert adapter.inbound(TARGET, call(None, method="GET")).status == 200
    assert adapter.inbound(TARGET, call(None, method="GET", secret="wrong-secret-0123456")).status == 403
    assert adapter.inbound(TARGET, call(None, method="GET", secret=None)).status == 403
    unsecured = Target(public_id="con_x", base_url="", credentials={"api_key": "k"}, mapping=MAPPING)
    assert adapter.inbound(unsecured, call(None, method="GET", secret="")).status == 403


def test_a_bad_secret_is_403_and_reads_nothing():
    form = webhook_form("unsubscribe", list_id=LIST, email="ada@example.com", extra={"reason": "manual"})
    answer = MailchimpAdapter().inbound(TARGET, call(form, secret=SECRET[:-1] + "X"))
    assert (answer.status, answer.signals) == (403, [])


def test_an_unsubscribe_withdraws_what_the_mapping_ties_to_that_list():
    form = webhook_form(
        "unsubscribe",
        list_id=LIST,
        email="Ada@Example.com",
        extra={"action": "unsub", "reason": "manual", "campaign_id": "cb398d21d2"},
        fired_at="2026-12-04 10:00:00",
    )
    answer = MailchimpAdapter().inbound(TARGET, call(form))
    assert answer.status == 200
    [signal] = answer.signals
    assert signal.event_id == mailchimp_event_id(
        type="unsubscribe", list_id=LIST, email="ada@example.com", fired_at="2026-12-04 10:00:00"
    )
    assert (
        signal.kind,
        signal.channel,
        signal.email,
        signal.topics,
        signal.purposes,
        signal.whole_channel,
    ) == (
        "unsubscribed",
        "email",
        "Ada@Example.com",
        ("newsletter",),
        ("email-marketing",),
        False,
    )
    # Whole seconds: the end of that second, so a "no" wins a tie with a "yes" given in Candor.
    assert signal.occurred_at == datetime(2026, 12, 4, 10, 0, 0, 999999, tzinfo=UTC)
    assert signal.detail == {
        "type": "unsubscribe",
        "fired_at": "2026-12-04 10:00:00",
        "list": LIST,
        "reason": "manual",
        "campaign_id": "cb398d21d2",
        "action": "unsub",
    }
    # A retry of the same call is the same event; a later one is another.
    assert MailchimpAdapter().inbound(TARGET, call(form)).signals[0].event_id == signal.event_id
    later = {**form, "fired_at": "2026-12-04 10:00:01"}
    assert MailchimpAdapter().inbound(TARGET, call(later)).signals[0].event_id != signal.event_id


@pytest.mark.parametrize(
    ("type", "list_id", "reason", "kind", "whole"),
    [
        ("unsubscribe", LIST, "abuse", "complained", True),
        ("unsubscribe", OTHER_LIST, "manual", "unsubscribed", True),  # the list stands for the channel
        ("cleaned", LIST, "hard", "bounced", True),
        ("cleaned", LIST, "abuse", "complained", True),
    ],
)
def test_each_kind_of_no(type, list_id, reason, kind, whole):
    form = webhook_form(type, list_id=list_id, email="ada@example.com", extra={"reason": reason})
    [signal] = MailchimpAdapter().inbound(TARGET, call(form)).signals
    assert (signal.kind, signal.whole_channel) == (kind, whole)


@pytest.mark.parametrize("type", ["subscribe", "profile", "upemail", "campaign"])
def test_other_types_are_answered_200_with_no_signal(type):
    form = webhook_form(type, list_id=LIST, email="ada@example.com")
    answer = MailchimpAdapter().inbound(TARGET, call(form))
    assert (answer.status, answer.signals) == (200, [])


def test_an_unmapped_list_and_malformed_calls():
    unmapped = webhook_form("unsubscribe", list_id="zzzzzzzzzz", email="ada@example.com")
    assert MailchimpAdapter().inbound(TARGET, call(unmapped)).signals == []
    no_type = {"fired_at": "2026-12-04 10:00:00", "data[email]": "ada@example.com"}
    assert MailchimpAdapter().inbound(TARGET, call(no_type)).status == 400
    bad_time = webhook_form("unsubscribe", list_id=LIST, email="ada@example.com", fired_at="yesterday")
    assert MailchimpAdapter().inbound(TARGET, call(bad_time)).status == 400
    no_email = {**webhook_form("cleaned", list_id=LIST, email="x@example.com"), "data[email]": ""}
    assert MailchimpAdapter().inbound(TARGET, call(no_email)).status == 400
    latin1 = call(None)
    assert (
        MailchimpAdapter().inbound(TARGET, InboundRequest(**{**latin1.__dict__, "body": b"type=\xff"})).status
        == 400
    )


# --- End to end through /hooks/mailchimp/{connector} ---------------------------------------------


@pytest.fixture
def topics(brand: Brand, purpose: Purpose) -> list[Topic]:
    from preferences.topics import topic_create

    return [
        topic_create(actor=TEST_ACTOR, brand=brand, slug=slug, name=slug, purpose=purpose, channels=["email"])
        for slug in ("newsletter", "offers")
    ]


@pytest.fixture
def connector(admin_api: Any, topics: list[Topic], fake: FakeMailchimp) -> Connector:
    reply = admin_api.post("/api/v1/connectors", body(fake, mapping=MAPPING), format="json")
    assert reply.status_code == 201, reply.content
    return Connector.objects.select_related("endpoint", "brand").get(public_id=reply.json()["id"])


@pytest.fixture
def subscribed(
    brand: Brand, purpose: Purpose, topics: list[Topic], contact: Contact, published: Any
) -> Contact:
    """Ada, granted email marketing and subscribed to the newsletter before the connector."""
    grant(brand, purpose)
    preferences_update(
        brand=brand,
        external_id=contact.external_id,
        method="api",
        recorded_by="test",
        subscriptions=[
            SubscriptionChange(
                topic="newsletter",
                channel="email",
                status="subscribed",
                notice_version=current_version(purpose).public_id,
            )
        ],
    )
    return contact


def hook(connector: Connector, secret: str = SECRET) -> str:
    return f"/hooks/mailchimp/{connector.public_id}?{urlencode({'secret': secret})}"


def test_an_unsubscribe_sent_by_the_fake_lands_in_the_ledger_and_is_not_echoed(
    subscribed, connector, purpose, fake, live_server
):
    before = ConsentEvent.objects.count()
    form = fake.person_unsubscribes(LIST, "ada@example.com")
    calls = len(fake.requests)
    response = webhook_post(live_server.url + hook(connector), form)
    assert response.status_code == 200, response.text
    # Kept at once, applied by the worker's job (run here as the worker would).
    assert InboundSignal.objects.get().outcome == "pending"
    assert ConsentEvent.objects.count() == before
    assert signals_apply_pending() == 1
    rows = list(ConsentEvent.objects.order_by("sequence")[before:])
    assert [(r.purpose_id, r.decision, r.method, r.recorded_by) for r in rows] == [
        (purpose.pk, "withdrawn", "connector", f"connector:{connector.public_id}")
    ]
    event_id = mailchimp_event_id(
        type="unsubscribe", list_id=LIST, email="ada@example.com", fired_at=form["fired_at"]
    )
    message = rows[0].evidence.message
    assert {k: message[k] for k in ("vendor", "connector", "event_id", "kind", "channel")} == {
        "vendor": "mailchimp",
        "connector": connector.public_id,
        "event_id": event_id,
        "kind": "unsubscribed",
        "channel": "email",
    }
    assert (message["vendor_type"], message["vendor_list"], message["vendor_reason"]) == (
        "unsubscribe",
        LIST,
        "manual",
    )
    assert datetime.fromisoformat(message["received_at"]) <= datetime.now(UTC)
    newsletter = Subscription.objects.get(contact=subscribed, topic__slug="newsletter", channel="email")
    assert newsletter.status == "unsubscribed"
    signal = InboundSignal.objects.get()
    assert (signal.event_id, signal.kind, signal.outcome, signal.contact_ref) == (
        event_id,
        "unsubscribed",
        "recorded",
        subscribed.pk,
    )
    # Mailchimp retries the same call: nothing changes the second time.
    events = Event.objects.count()
    assert webhook_post(live_server.url + hook(connector), form).status_code == 200
    assert signals_apply_pending() == 0
    assert (ConsentEvent.objects.count(), Event.objects.count(), InboundSignal.objects.count()) == (
        before + 1,
        events,
        1,
    )
    # Not echoed: the changes it caused reach the connector's deliveries without a call.
    echoed = set(ConnectorEcho.objects.filter(connector=connector).values_list("event_id", flat=True))
    assert echoed
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    assert len(fake.requests) == calls
    deliveries = Delivery.objects.filter(endpoint=connector.endpoint)
    assert {d.event_id for d in deliveries} == echoed
    assert {a.response_excerpt for d in deliveries for a in d.attempts.all()} == {
        "Not pushed: this change came from this vendor."
    }
    assert fake.member(LIST, "ada@example.com").status == "unsubscribed"


def test_a_cleaned_address_opts_the_channel_out(subscribed, connector, fake):
    form = fake.bounces(LIST, "ada@example.com")
    response = Client().post(
        hook(connector), webhook_body(form), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert signals_apply_pending() == 1
    assert ChannelOptOut.objects.get(contact=subscribed, channel="email").opted_out is True
    assert InboundSignal.objects.get().kind == "bounced"


def test_the_hook_answers_mailchimps_check_and_refuses_a_bad_secret(subscribed, connector, fake):
    assert Client().get(hook(connector)).status_code == 200
    assert Client().get(hook(connector, secret="nope-0123456789abcdef")).status_code == 403
    form = fake.person_unsubscribes(LIST, "ada@example.com")
    refused = Client().post(
        hook(connector, secret="nope-0123456789abcdef"),
        webhook_body(form),
        content_type="application/x-www-form-urlencoded",
    )
    assert refused.status_code == 403
    assert not InboundSignal.objects.exists()
    assert not ConsentEvent.objects.filter(method="connector").exists()
