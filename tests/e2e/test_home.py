"""The root page in Chromium: no WCAG A/AA violation (axe-core) in English, German and French,
no sideways scroll at 320 px, and without JavaScript its demo link opens the demo centre."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import HOME
from tests.e2e.test_accessibility import assert_accessible

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_the_root_page_is_accessible(browser: Any, server: str, demo: Any, settings: Any, language: str):
    settings.DEBUG = True
    # The browser's language picks the page's; axe-core runs as a script (the page needs none).
    context = browser.new_context(locale=language, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(server + "/")
        assert_accessible(page, language)
    finally:
        context.close()


def test_without_javascript_the_demo_link_opens_the_demo_centre(
    new_page: Any, server: str, demo: Any, settings: Any
):
    settings.DEBUG = True
    page = new_page(javascript=False)
    page.goto(server + "/")
    page.get_by_role("link", name="Open the demo customer’s preference centre").click()
    page.wait_for_url(server + HOME)
    assert page.locator("h1").count() == 1
