"""The owners' integration pages in Chromium, in English, German and French: axe on the API keys
page (with a refused form), the page that shows a new key once, the Webhooks page, the page that
shows a new endpoint's secret, and an endpoint's page with its delivery log; and the key shown
once is gone on the next load."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from brands.demo import demo_owner_ensure
from brands.models import ApiKey
from brands.services import api_key_create
from sync.delivery.endpoints import endpoint_create
from sync.models import Attempt, Delivery
from tests.actors import TEST_ACTOR
from tests.e2e.test_console_sign_in import accessible, sign_in

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_the_integration_pages_pass_axe(new_page, server, demo, language):
    owner = demo_owner_ensure(brand=demo)
    revoked = api_key_create(brand=demo, actor=TEST_ACTOR, name="Old shop", scopes=["consent:read"]).api_key
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    hook = endpoint_create(brand=demo, actor=TEST_ACTOR, url="https://hooks.demo.example/in")
    for n, (status, code) in enumerate([("succeeded", 200), ("failed", 503), ("pending", None)]):
        delivery = Delivery.objects.create(
            endpoint=hook,
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

    page = new_page()
    page.context.add_cookies([{"name": "django_language", "value": language, "url": server}])
    sign_in(page, server, owner.email, password=owner.password, secret=owner.totp_secret)

    page.goto(server + "/console/demo/api-keys/")
    assert page.evaluate("document.documentElement.lang") == language
    accessible(page)
    page.locator("#key-name").fill("CRM sync")
    page.locator("main form button[type=submit]").last.click()  # no scope chosen: refused
    page.wait_for_load_state()
    assert page.locator("#error-summary").is_visible()
    accessible(page)
    page.locator("#key-name").fill("CRM sync")
    page.locator("#key-scopes_0").check()
    page.locator("main form button[type=submit]").last.click()
    key = page.locator("#new-key").inner_text()
    assert key.startswith("cnd_")
    accessible(page)
    page.goto(server + "/console/demo/api-keys/")
    assert key not in page.content()

    page.goto(server + "/console/demo/endpoints/")
    accessible(page)
    page.locator("#endpoint-url").fill("https://hooks.demo.example/second")
    page.locator("main form button[type=submit]").last.click()
    assert page.locator("#new-secret").inner_text().startswith("whsec_")
    accessible(page)

    page.goto(f"{server}/console/demo/endpoints/{hook.public_id}/")
    accessible(page)
    assert page.locator("#deliveries tbody tr").count() == 3
