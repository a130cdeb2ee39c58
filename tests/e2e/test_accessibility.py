"""axe-core (bundled with axe-playwright-python, nothing fetched) finds no WCAG 2.0/2.1/2.2 A or
AA violation on the hosted pages in English, German and French (the contact's locale), and each
page reflows at 320 CSS px without horizontal scrolling (WCAG 1.4.10)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from consent.services import contact_upsert
from preferences.services import hold_start
from preferences.tokens import LinkKind
from tests.e2e.conftest import HOME, link, open_centre, subscribe

pytestmark = pytest.mark.e2e

WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE = Axe()
NARROW = {"width": 320, "height": 640}


def axe_report(page) -> str:
    """axe-core's readable report of the page's WCAG A/AA violations, or "" when there are none.

    Only once the page has loaded: after a click that submits a form, an element the caller
    waited for can be on screen while the rest of the document is still being parsed (a
    section whose heading is not there yet has no name, which axe reports)."""
    page.wait_for_load_state("load")
    options = {"runOnly": {"type": "tag", "values": WCAG_AA}, "resultTypes": ["violations"]}
    results = AXE.run(page, options=options)
    return results.generate_report() if results.violations_count else ""


def assert_accessible(page, language: str) -> None:
    """In `language`, no axe violation, and no horizontal scroll at 320px."""
    assert page.evaluate("document.documentElement.lang") == language
    report = axe_report(page)
    assert not report, report
    page.set_viewport_size(NARROW)
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= NARROW["width"], f"{page.url} scrolls sideways at 320px: it is {width}px wide"


@pytest.fixture(params=["en", "de", "fr"])
def language(request, demo, customer) -> str:
    contact_upsert(brand=demo, external_id=customer.external_id, locale=request.param)
    return str(request.param)


def test_the_centre(new_page, server, demo, customer, language):
    """With something of everything: subscriptions, a pause, a channel unsubscribed from (and
    its undo button), the "Saved" message."""
    subscribe(demo, customer, ("newsletter", "email"), ("offers", "sms"))
    hold_start(
        brand=demo, external_id=customer.external_id, started_by="customer", weeks=2, recorded_by="test"
    )
    page = new_page()
    open_centre(page, server, demo, customer)
    page.locator("a[href$='/unsubscribe-all/sms']").click()
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(server + HOME + "#unsubscribe-all")
    expect(page.locator("#opted-out-note form")).to_have_count(1)

    # Every demo notice exists in the contact's language: nothing on the page is in another one.
    expect(page.locator("main [lang]")).to_have_count(0)
    assert_accessible(page, language)


def test_the_centre_with_an_error_summary(new_page, server, demo, customer, language):
    page = new_page()
    open_centre(page, server, demo, customer)
    page.locator("#pause button[type=submit]").click()  # no length chosen
    expect(page.locator("#error-summary")).to_be_focused()

    assert_accessible(page, language)


def test_the_one_click_unsubscribe_page(new_page, server, demo, customer, language):
    subscribe(demo, customer, ("newsletter", "email"))
    newsletter = demo.topics.get(slug="newsletter")
    page = new_page()
    page.goto(server + link(LinkKind.UNSUBSCRIBE, demo, customer, topic=newsletter, channel="email"))

    assert_accessible(page, language)


def test_the_unsubscribed_page_and_its_offer(new_page, server, demo, customer, language):
    subscribe(demo, customer, ("newsletter", "email"))
    newsletter = demo.topics.get(slug="newsletter")
    page = new_page()
    page.goto(server + link(LinkKind.UNSUBSCRIBE, demo, customer, topic=newsletter, channel="email"))
    page.locator("main form button[type=submit]").first.click()
    expect(page.locator("#offer-title")).to_be_visible()

    assert_accessible(page, language)


def test_the_unsubscribe_from_all_confirm_page(new_page, server, demo, customer, language):
    subscribe(demo, customer, ("newsletter", "email"), ("offers", "email"))
    page = new_page()
    open_centre(page, server, demo, customer)
    page.goto(server + HOME + "unsubscribe-all/email")

    assert_accessible(page, language)


def test_the_expired_link_page(new_page, server, demo, customer, language):
    page = new_page()
    response = page.goto(server + link(LinkKind.MANAGE, demo, customer, age=timedelta(days=31)))

    assert response.status == 410
    assert_accessible(page, language)


@pytest.mark.parametrize("path", ["delete", "about-you/phone", "about-you/locale"])
def test_the_other_pages_of_the_centre(new_page, server, demo, customer, language, path):
    page = new_page()
    open_centre(page, server, demo, customer)
    page.goto(server + HOME + path)

    assert_accessible(page, language)
