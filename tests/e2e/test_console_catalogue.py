"""The catalogue in Chromium: an editor changes a topic's cadence options (confirming what happens
to the contact who chose the one taken away) and the hosted centre offers the new ones; axe on
every catalogue page in English, German and French."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from brands.models import Membership
from preferences.models import Subscription, Topic
from tests.console.conftest import make_person
from tests.e2e.conftest import open_centre
from tests.e2e.test_accessibility import axe_report
from tests.e2e.test_console import sign_in_by_keyboard

pytestmark = pytest.mark.e2e


@pytest.fixture
def editor(demo):
    person = make_person("editor@demo.example")
    Membership.objects.create(user=person, brand=demo, role="editor")
    return person


def test_an_editor_changes_a_topics_cadences_and_the_centre_offers_them(
    new_page, server, demo, customer, editor
):
    page = new_page()
    sign_in_by_keyboard(page, server, "editor@demo.example")
    page.wait_for_url(server + "/console/demo/")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Topics", exact=True).click()
    page.get_by_role("link", name="Newsletter", exact=True).click()
    page.wait_for_url(server + "/console/demo/topics/newsletter/")

    offered = page.get_by_role("group", name="Cadences offered")
    offered.get_by_label("Daily digest").check()
    offered.get_by_label("Monthly digest").uncheck()
    page.get_by_role("group", name="Default cadence").get_by_label("Daily digest").check()
    page.get_by_role("button", name="Save topic").click()

    # Not saved yet: the German customer and some of the demo's crowd chose the monthly digest.
    monthly = Subscription.objects.filter(
        topic__brand=demo, topic__slug="newsletter", cadence="monthly", status__in=["subscribed", "pending"]
    ).count()
    assert monthly > 1
    expect(
        page.get_by_role("heading", level=2, name="Before you save: what happens to contacts' choices")
    ).to_be_visible()
    chose_monthly = page.get_by_role("row", name="Monthly digest").get_by_role("cell").first
    expect(chose_monthly).to_have_text(str(monthly))
    assert Topic.objects.get(brand=demo, slug="newsletter").cadence_options == ["weekly", "monthly"]
    page.get_by_role("button", name="Confirm and save").click()
    expect(page.get_by_role("status")).to_have_text("Topic saved.")
    assert Topic.objects.get(brand=demo, slug="newsletter").cadence_options == ["daily", "weekly"]

    centre = new_page()
    open_centre(centre, server, demo, customer)
    cadence = centre.locator("#sub-newsletter-email-cadence option")
    expect(cadence).to_have_text(["Daily digest", "Weekly digest"])
    expect(centre.locator("#sub-newsletter-email-cadence")).to_have_value("daily")


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_the_catalogue_pages_are_accessible(new_page, server, demo, editor, language):
    page = new_page()
    page.context.add_cookies([{"name": "django_language", "value": language, "url": server}])
    sign_in_by_keyboard(page, server, "editor@demo.example")
    page.wait_for_url(server + "/console/demo/")
    for path in [
        "/console/demo/topics/",
        "/console/demo/topics/newsletter/",
        "/console/demo/purposes/",
        "/console/demo/purposes/email-marketing/",
        "/console/demo/purposes/email-marketing/notices/en/",
        "/console/demo/theme/",
    ]:
        response = page.goto(server + path)
        assert response.status == 200, path
        assert page.evaluate("document.documentElement.lang") == language
        report = axe_report(page)
        assert not report, f"{path}: {report}"
    # The confirmation of a removed cadence, and a refused colour with its error summary.
    page.goto(server + "/console/demo/topics/newsletter/")
    page.locator("#topic-cadence_options_3").uncheck()  # monthly
    page.locator("form[novalidate] button[value=save]").click()
    expect(page.locator("#impact-title")).to_be_visible()
    report = axe_report(page)
    assert not report, report
    page.goto(server + "/console/demo/theme/")
    page.locator("#theme-primary_colour").fill("#ffcc00")
    page.locator("button[value=save]").click()
    expect(page.locator("#error-summary")).to_be_visible()
    report = axe_report(page)
    assert not report, report
