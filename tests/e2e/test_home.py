"""The root page in Chromium: no WCAG A/AA violation (axe-core) in English, German and French,
no sideways scroll at 320 px, and without JavaScript its demo link opens the demo centre."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import HOME
from tests.e2e.test_accessibility import assert_accessible


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_the_root_page_is_accessible(new_page: Any, server: str, demo: Any, settings: Any, language: str):
    settings.DEBUG = True
    page = new_page(javascript=False)
    page.set_extra_http_headers({"Accept-Language": language})
    page.goto(server + "/")

    assert_accessible(page, language)


def test_without_javascript_the_demo_link_opens_the_demo_centre(
    new_page: Any, server: str, demo: Any, settings: Any
):
    settings.DEBUG = True
    page = new_page(javascript=False)
    page.goto(server + "/")
    page.get_by_role("link", name="Open the demo customer’s preference centre").click()
    page.wait_for_url(server + HOME)
    assert page.locator("h1").count() == 1
