"""The console in Chromium: keyboard-only sign-in, a viewer's overview and their refused members
page, and axe on the console's pages in English, German and French."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from brands.models import Membership
from tests.console.conftest import PASSWORD, make_person
from tests.e2e.test_accessibility import axe_report

pytestmark = pytest.mark.e2e


@pytest.fixture
def viewer(demo):
    person = make_person("viewer@demo.example")
    Membership.objects.create(user=person, brand=demo, role="viewer")
    return person


def sign_in_by_keyboard(page, server: str, email: str) -> None:
    page.goto(server + "/console/")
    page.wait_for_url("**/console/account/login/**")
    page.locator("#id_login").focus()
    page.keyboard.type(email)
    # Past the password's hint (its "forgotten your password?" link) to the field itself.
    for _ in range(3):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "id_password":
            break
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_a_viewer_signs_in_by_keyboard_sees_the_overview_and_not_the_members(
    new_page, server, demo, viewer, language
):
    page = new_page()
    page.context.add_cookies([{"name": "django_language", "value": language, "url": server}])
    page.goto(server + "/console/account/login/")
    assert page.evaluate("document.documentElement.lang") == language
    report = axe_report(page)
    assert not report, report

    sign_in_by_keyboard(page, server, "viewer@demo.example")
    page.wait_for_url(server + "/console/demo/")
    expect(page.locator("h1")).to_have_count(1)
    assert page.evaluate("document.documentElement.lang") == language
    report = axe_report(page)
    assert not report, report
    expect(page.locator("nav a[href='/console/demo/members/']")).to_have_count(0)

    response = page.goto(server + "/console/demo/members/")
    assert response.status == 403
    report = axe_report(page)
    assert not report, report
