"""`make fakes` with Mailchimp (tests/fakes/demo.py): the demo brand connected to the fake, a
preference change reaching it and an unsubscribe made inside it coming back to Candor's ledger."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from consent.demo import DEMO_CONTACT
from consent.models import Contact
from preferences.demo import seed_demo
from preferences.models import Subscription, Topic
from preferences.services import SubscriptionChange, preferences_update
from sync.delivery.connectors.inbound import signals_apply_pending
from sync.delivery.fanout import endpoint_fanout
from sync.models import InboundSignal
from tests.conftest import current_version
from tests.connectors.support import drain
from tests.fakes import demo
from tests.fakes.mailchimp import FakeMailchimp

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeMailchimp]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    fake = FakeMailchimp()
    fake.start()
    yield fake
    fake.stop()


def test_the_demo_brand_meets_the_mailchimp_fake_both_ways(fake, live_server):
    brand, _key = seed_demo()
    [vendor] = [v for v in demo.VENDORS if v.name == "mailchimp"]
    vendor = dataclasses.replace(vendor, port=int(fake.base_url.rsplit(":", 1)[1]))
    connector = demo.connect_demo(vendor, fake)
    contact = Contact.objects.get(brand=brand, external_id=DEMO_CONTACT)
    newsletter_topic = Topic.objects.get(brand=brand, slug="newsletter")
    notice = current_version(newsletter_topic.purpose).public_id
    preferences_update(
        brand=brand,
        external_id=contact.external_id,
        method="api",
        recorded_by="test",
        subscriptions=[
            SubscriptionChange(
                topic="newsletter", channel="email", status="subscribed", notice_version=notice
            ),
            SubscriptionChange(topic="offers", channel="email", status="unsubscribed"),
        ],
    )
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    assert vendor.state(fake, [contact.email]) == {
        contact.email: {"status": "subscribed", "interests": {"int111": True, "int222": False}}
    }
    calls = len(fake.requests)

    assert (
        vendor.unsubscribe(
            fake, contact.email, f"{live_server.url}/hooks/mailchimp/{connector.public_id}", "x"
        )
        == 200
    )
    assert signals_apply_pending() == 1
    newsletter = Subscription.objects.get(contact=contact, topic__slug="newsletter", channel="email")
    assert newsletter.status == "unsubscribed"
    assert InboundSignal.objects.get(connector=connector).outcome == "recorded"
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    assert len(fake.requests) == calls  # not echoed
    assert vendor.state(fake, [contact.email])[contact.email]["status"] == "unsubscribed"
