"""A vendor's "no" reaches further in Candor than what the vendor said (one HubSpot subscription
type's "no" withdraws its purpose, which a second type carries too). The change is not pushed back
to that vendor as a change, but the contact's other slots there are brought in step at once: read,
and each still "subscribed" where Candor now says "unsubscribed" is turned off. The slot the
vendor told Candor about is not written."""

from __future__ import annotations

from typing import Any

import pytest

from brands.models import Brand
from consent.models import Purpose
from sync.delivery.fanout import endpoint_fanout
from sync.models import Attempt, Connector, Delivery
from tests.connectors.support import drain, grant
from tests.connectors.test_hubspot_connector import WRITE, admin_api, connect, fake
from tests.connectors.test_hubspot_inbound import hook
from tests.fakes.hubspot import FakeHubSpot
from tests.sync.webhook_support import published

__all__ = ["admin_api", "fake", "published"]

pytestmark = pytest.mark.django_db(transaction=True)
TWO_TYPES = {
    "subscriptions": [
        {"subscription_id": "101", "purpose": "email-marketing"},
        {"subscription_id": "102", "purpose": "email-marketing"},
    ]
}
TURNED = (
    "Not pushed back: this change came from this vendor. "
    "Its other slots for this contact were turned off to match."
)


def subscribed_to_both(admin_api: Any, brand: Brand, purpose: Purpose, fake: FakeHubSpot) -> Connector:
    connector = connect(admin_api, fake, mapping=TWO_TYPES)
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    assert (fake.status("ada@example.com", "101"), fake.status("ada@example.com", "102")) == (
        "SUBSCRIBED",
        "SUBSCRIBED",
    )
    return connector


def unsubscribed_in_hubspot_from_101(connector: Connector, fake: FakeHubSpot, settings: Any) -> None:
    """Ada leaves type 101 on HubSpot's preferences page; HubSpot calls Candor's hook."""
    fake.set_status("ada@example.com", "101", "UNSUBSCRIBED", source="Subscription preferences page")
    event = fake.event(
        email="ada@example.com", property_name="hs_email_optout_101", value="true", event_id=31
    )
    assert hook(connector, fake, [event], settings).status_code == 200


def writes(fake: FakeHubSpot) -> list[dict[str, Any]]:
    return [row for r in fake.requests if r["path"] == WRITE for row in r["body"]["inputs"]]


def test_the_other_type_of_a_withdrawn_purpose_is_turned_off_and_the_told_one_not_written(
    admin_api, brand, purpose, contact, fake, published, settings
):
    connector = subscribed_to_both(admin_api, brand, purpose, fake)
    unsubscribed_in_hubspot_from_101(connector, fake, settings)
    fake.requests.clear()

    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)

    assert (fake.status("ada@example.com", "101"), fake.status("ada@example.com", "102")) == (
        "UNSUBSCRIBED",
        "UNSUBSCRIBED",
    )
    assert [(row["subscriptionId"], row["statusState"]) for row in writes(fake)] == [(102, "UNSUBSCRIBED")]
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }
    [settled] = Attempt.objects.filter(
        delivery__endpoint=connector.endpoint, delivery__type="consent.withdrawn"
    )
    assert settled.response_excerpt == TURNED

    # In step now: a redelivery reads and writes nothing.
    fake.requests.clear()
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    assert writes(fake) == []


def test_hubspot_down_holds_the_settling_back_until_it_answers(
    admin_api, brand, purpose, contact, fake, published, settings
):
    connector = subscribed_to_both(admin_api, brand, purpose, fake)
    unsubscribed_in_hubspot_from_101(connector, fake, settings)
    fake.down = True
    endpoint_fanout(endpoint_id=connector.endpoint_id)

    failed = Attempt.objects.filter(delivery__endpoint=connector.endpoint, delivery__type="consent.withdrawn")
    assert [(a.outcome, a.status_code) for a in failed] == [("failed", 503)]
    assert fake.status("ada@example.com", "102") == "SUBSCRIBED"

    fake.down = False
    drain(connector.endpoint)
    assert fake.status("ada@example.com", "102") == "UNSUBSCRIBED"
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }
