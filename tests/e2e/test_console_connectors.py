"""The owners' connector pages in Chromium, in English, German and French: axe on the list, on a
Klaviyo connector's page (inbound URL, delivery log, the vendor's opt-outs), on the answer to
"Test the connection" (the fake Klaviyo's lists) and on the page after disabling it; and no page
holds the connector's credentials."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from brands.demo import demo_owner_ensure
from sync.delivery.connectors.services import connector_create
from sync.models import Attempt, Delivery, Endpoint, InboundSignal
from tests.actors import TEST_ACTOR
from tests.e2e.test_console_sign_in import accessible, sign_in
from tests.fakes.klaviyo import FakeKlaviyo

pytestmark = pytest.mark.e2e

KEY = "pk_test_0123456789abcdef"
SECRET = "whsecret-e2e-0123456789"


@pytest.fixture
def klaviyo(settings: Any) -> Iterator[str]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    fake = FakeKlaviyo()
    yield fake.start()
    fake.stop()


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_the_connector_pages_pass_axe(new_page, server, demo, customer, klaviyo, language):
    owner = demo_owner_ensure(brand=demo)
    connector = connector_create(
        brand=demo,
        actor=TEST_ACTOR,
        vendor="klaviyo",
        name="Main account",
        credentials={"api_key": KEY, "webhook_secret": SECRET},
        mapping={"lists": [{"list": "LstNews", "topic": "newsletter", "channels": ["email"]}]},
        api_base_url=klaviyo,
    )
    for n, (status, code) in enumerate([("succeeded", 202), ("failed", 429), ("pending", None)]):
        delivery = Delivery.objects.create(
            endpoint=connector.endpoint,
            msg_id=f"msg_{n}",
            type="consent.withdrawn",
            body="{}",
            status=status,
            attempt_count=0 if code is None else 1,
            next_attempt_at=timezone.now(),
        )
        if code is not None:
            Attempt.objects.create(
                delivery=delivery,
                number=1,
                started_at=timezone.now() - timedelta(minutes=5),
                duration_ms=87,
                status_code=code,
                outcome=status,
            )
    for n, (kind, outcome, contact) in enumerate(
        [("unsubscribed", "recorded", customer), ("bounced", "unknown_contact", None)]
    ):
        InboundSignal.objects.create(
            connector=connector,
            event_id=f"evt-{n}",
            kind=kind,
            channel="email",
            outcome=outcome,
            contact_ref=contact.pk if contact else None,
            received_at=timezone.now() - timedelta(minutes=n),
        )

    page = new_page()
    page.context.add_cookies([{"name": "django_language", "value": language, "url": server}])
    sign_in(page, server, owner.email, password=owner.password, secret=owner.totp_secret)

    page.goto(server + "/console/demo/connectors/")
    assert page.evaluate("document.documentElement.lang") == language
    accessible(page)
    page.locator(f'a[href="/console/demo/connectors/{connector.public_id}/"]').click()
    page.wait_for_url(f"**/console/demo/connectors/{connector.public_id}/")
    accessible(page)
    assert page.locator("#deliveries tbody tr").count() == 3
    assert page.locator("#signals tbody tr").count() == 2
    assert page.locator("#inbound-url").inner_text() == f"{server}/hooks/klaviyo/{connector.public_id}"

    page.locator('#actions form:has(input[value="test"]) button').click()
    page.wait_for_load_state()
    assert page.locator("#tested tbody tr").count() == 2  # the fake's two lists
    accessible(page)
    assert KEY not in page.content()
    assert SECRET not in page.content()

    page.locator('#actions form:has(input[value="disable"]) button').click()
    page.wait_for_url(f"**/console/demo/connectors/{connector.public_id}/")
    assert page.locator("#status .status__message").count() == 1
    accessible(page)
    assert Endpoint.objects.get(pk=connector.endpoint_id).status == "disabled"
