"""The preference centre's screenshots in docs/screenshots/ (linked from the README): the demo's
customer, full page, at 1280 and 375 CSS px, in English, German and French.

Run by `make screenshots`, with the end-to-end setup (tests/e2e/conftest.py: the live server, the
demo brand `make run` seeds, Debian's Chromium), which docs/conftest.py brings here: this module
is not part of the test suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from consent.services import contact_upsert
from preferences.services import hold_start
from tests.e2e.conftest import HOME, open_centre, subscribe

OUT = Path(__file__).parent / "screenshots"
WIDTHS = {"1280": (1280, 900), "375": (375, 812)}


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_screenshot(new_page, server, demo, customer, language, width):
    """What a customer sees after following a link from an email and saving a change: some
    subscriptions, a pause, the "Saved" confirmation."""
    contact_upsert(brand=demo, external_id=customer.external_id, locale=language)
    subscribe(demo, customer, ("newsletter", "email"), ("offers", "email"), ("offers", "sms"))
    hold_start(
        brand=demo, external_id=customer.external_id, started_by="customer", weeks=2, recorded_by="docs"
    )
    view_width, view_height = WIDTHS[width]
    page = new_page(width=view_width, height=view_height)
    open_centre(page, server, demo, customer)
    page.locator("#subscriptions button[type=submit]").last.click()  # "Save my choices"
    page.wait_for_url(server + HOME)
    page.wait_for_timeout(500)  # candor.js puts "Saved" back into its live region after 250 ms
    page.locator("#status .status__message").wait_for()
    page.evaluate("window.scrollTo(0, 0)")
    OUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUT / f"centre-{language}-{width}.png"), full_page=True)
