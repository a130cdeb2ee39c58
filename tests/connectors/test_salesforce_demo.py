"""`make fakes` with Salesforce: the demo brand connected to the fake org, a preference change
reaching it, and an opt-out ticked in the org coming back into Candor's ledger."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from consent.models import ConsentEvent, Contact
from consent.services import consent_record
from preferences.models import ChannelOptOut
from quizzes.demo import seed_demo
from sync.delivery.fanout import endpoint_fanout
from tests.conftest import current_version
from tests.connectors.support import drain
from tests.fakes.demo import VENDORS, connect_demo
from tests.sync.webhook_support import published
from tests.sync.worker_support import free_port

__all__ = ["published"]

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_demo_brand_reaches_the_salesforce_fake_and_hears_back(settings: Any, published: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    brand, _key, _quiz = seed_demo()
    port = free_port()
    [vendor] = [replace(v, port=port) for v in VENDORS if v.name == "salesforce"]
    fake = vendor.start(port)
    try:
        connector = connect_demo(vendor, fake)
        ada = Contact.objects.get(brand=brand, email="ada@example.com")
        purpose = brand.purposes.get(slug="email-marketing")
        consent_record(
            brand=brand,
            external_id=ada.external_id,
            purpose_slug=purpose.slug,
            decision="granted",
            notice_version_id=current_version(purpose).public_id,
            method="api",
            recorded_by="test",
        )
        endpoint_fanout(endpoint_id=connector.endpoint_id)
        drain(connector.endpoint)
        assert vendor.state(fake, ["ada@example.com"]) == {
            "ada@example.com": {"HasOptedOutOfEmail": False, "consents": {"email-marketing Email": "OptIn"}}
        }
        hook = f"http://candor/hooks/salesforce/{connector.public_id}"
        assert vendor.unsubscribe(fake, "ada@example.com", hook, "demo-1") == 200
        assert ChannelOptOut.objects.get(contact=ada, channel="email").opted_out is True
        [row] = ConsentEvent.objects.filter(contact=ada, method="connector")
        assert (row.purpose_id, row.decision, row.evidence.message["vendor"]) == (
            purpose.pk,
            "withdrawn",
            "salesforce",
        )
    finally:
        fake._server.shutdown()
