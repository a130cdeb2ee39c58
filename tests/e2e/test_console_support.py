"""The support desk in Chromium: a support agent finds the demo's customer by email, pauses
their marketing for 14 days with a reason, and the preferences API shows the hold; axe on the
desk's pages in English, German and French."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from brands.models import Membership
from brands.services import api_key_create
from consent.models import ConsentEvent
from preferences.models import Hold
from preferences.services import hold_start
from tests.actors import TEST_ACTOR
from tests.console.conftest import make_person
from tests.e2e.conftest import subscribe
from tests.e2e.test_accessibility import axe_report
from tests.e2e.test_console import sign_in_by_keyboard

pytestmark = pytest.mark.e2e


@pytest.fixture
def agent(demo):
    person = make_person("agent@demo.example")
    Membership.objects.create(user=person, brand=demo, role="support")
    return person


def test_support_finds_a_customer_by_email_and_pauses_their_marketing_for_14_days(
    new_page, server, demo, customer, agent
):
    page = new_page()
    sign_in_by_keyboard(page, server, "agent@demo.example")
    page.wait_for_url(server + "/console/demo/")
    page.locator("nav a[href='/console/demo/contacts/']").click()
    page.wait_for_url(server + "/console/demo/contacts/")
    page.get_by_label("Exact email address").check()
    page.get_by_label("External id or email address").fill("ada@example.com")
    page.get_by_role("button", name="Find").click()
    page.wait_for_url(f"{server}/console/demo/contacts/{customer.pk}/")
    expect(page.locator("h1")).to_have_text("Contact cust-42")

    page.get_by_label("Pause for how many days").fill("14")
    page.get_by_label("Reason").fill("Complaint resolved: no upsell now")
    started = timezone.now()
    page.get_by_role("button", name="Pause marketing").click()
    expect(page.locator("#status")).to_have_text("Marketing paused.")
    expect(page.locator("#holds")).to_contain_text("Complaint resolved: no upsell now")

    hold = Hold.objects.get(contact=customer)
    assert started + timedelta(days=14) <= hold.until <= timezone.now() + timedelta(days=14)
    key = api_key_create(actor=TEST_ACTOR, brand=demo, scopes=["preferences:read"]).raw_key
    response = page.request.get(
        f"{server}/api/v1/contacts/cust-42/preferences", headers={"Authorization": f"Bearer {key}"}
    )
    holds = response.json()["holds"]
    assert [(h["id"], h["started_by"], h["reason"], h["topics"], h["channels"]) for h in holds] == [
        (hold.public_id, "agent", "Complaint resolved: no upsell now", [], [])
    ]


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_the_support_desk_passes_axe(new_page, server, demo, customer, agent, language):
    page = new_page()
    page.context.add_cookies([{"name": "django_language", "value": language, "url": server}])
    sign_in_by_keyboard(page, server, "agent@demo.example")
    page.wait_for_url(server + "/console/demo/")
    # A file with something in every part: a grant in the ledger, a subscription, a pause.
    subscribe(demo, customer, ("newsletter", "email"))
    hold_start(
        brand=demo,
        external_id="cust-42",
        started_by="agent",
        until=timezone.now() + timedelta(days=14),
        reason="Complaint",
        recorded_by="test",
    )
    event = ConsentEvent.objects.filter(contact=customer).order_by("-sequence").first()
    assert event is not None
    for path in [
        "/console/demo/contacts/",
        f"/console/demo/contacts/{customer.pk}/",
        f"/console/demo/contacts/{customer.pk}/receipts/{event.pk}/",
    ]:
        response = page.goto(server + path)
        assert response is not None, path
        assert response.status == 200, path
        assert page.evaluate("document.documentElement.lang") == language
        report = axe_report(page)
        assert not report, f"{path}: {report}"
    # A refused lookup shows its errors, accessibly too.
    page.goto(server + "/console/demo/contacts/")
    page.locator("form.lookup button[type=submit]").click()
    expect(page.locator("#error-summary")).to_be_visible()
    report = axe_report(page)
    assert not report, report
