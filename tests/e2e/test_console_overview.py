"""The Overview, the rows behind its figures and the audit log in Chromium: a viewer opens the
dashboards and can change nothing; axe finds nothing on any of these pages in English, German
or French (an owner signs in with their authenticator app's code, computed per RFC 6238)."""

from __future__ import annotations

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from playwright.sync_api import expect

from brands.models import Membership
from console.rollups import rollups_rebuild
from tests.console.conftest import PASSWORD, make_person
from tests.e2e.test_accessibility import axe_report
from tests.e2e.test_console import sign_in_by_keyboard
from tests.e2e.test_console_sign_in import fresh_code

pytestmark = pytest.mark.e2e

# Every action the console's pages declare, with the page that takes it: a viewer's POST of any
# of them is refused.
ACTIONS = {
    "/console/demo/members/": ["invite", "change_role", "remove", "revoke"],
}


@pytest.fixture
def figures(demo):
    rollups_rebuild(brand=demo)
    return demo


@pytest.fixture
def viewer(figures):
    person = make_person("viewer@demo.example")
    Membership.objects.create(user=person, brand=figures, role="viewer")
    return person


@pytest.fixture
def owner_secret(figures):
    person = make_person("owner-two@demo.example")
    secret = generate_totp_secret()
    TOTP.activate(person, secret)
    Membership.objects.create(user=person, brand=figures, role="owner")
    return secret


def test_a_viewer_opens_the_dashboards_and_can_change_nothing(new_page, server, viewer):
    page = new_page()
    sign_in_by_keyboard(page, server, "viewer@demo.example")
    page.wait_for_url(server + "/console/demo/")

    expect(page.locator("svg#chart-optin")).to_have_count(1)
    expect(page.locator("#dashboard a[href*='/rows/']")).to_have_count(0)  # figures only
    # The only forms that POST are the language and signing out; the period is a GET.
    posting = page.locator("form[method='post']")
    assert sorted(posting.evaluate_all("forms => forms.map(f => f.getAttribute('action'))")) == [
        "/console/account/logout/",
        "/console/language/",
    ]
    page.select_option("#period-days", "7")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/console/demo/?days=7")
    expect(page.locator("#period-days")).to_have_value("7")

    token = page.locator("input[name='csrfmiddlewaretoken']").first.get_attribute("value")
    for url, actions in ACTIONS.items():
        for action in actions:
            response = page.request.post(
                server + url, form={"csrfmiddlewaretoken": token, "action": action}, max_redirects=0
            )
            assert response.status == 403, (url, action)
    for url in ("/console/demo/rows/contacts/", "/console/demo/rows/consent-events/", "/console/demo/audit/"):
        assert page.goto(server + url).status == 403, url


def sign_in_with_code(page, server: str, email: str, secret: str) -> None:
    page.goto(server + "/console/account/login/")
    page.fill("#id_login", email)
    page.fill("#id_password", PASSWORD)
    page.locator("#id_password").press("Enter")
    page.wait_for_url("**/2fa/authenticate/**")
    page.fill("#id_code", fresh_code(secret))
    page.locator("#id_code").press("Enter")
    page.wait_for_url(server + "/console/demo/")


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_the_overview_its_rows_and_the_audit_log_pass_axe(new_page, server, owner_secret, language):
    page = new_page()
    page.context.add_cookies([{"name": "django_language", "value": language, "url": server}])
    sign_in_with_code(page, server, "owner-two@demo.example", owner_secret)

    links = page.locator("#dashboard a[href*='/rows/']")
    assert links.count() > 0  # an owner may follow every figure
    rows = {links.nth(n).get_attribute("href").split("?")[0] for n in range(links.count())}
    assert rows == {
        "/console/demo/rows/contacts/",
        "/console/demo/rows/consent-events/",
        "/console/demo/rows/deliveries/",
    }
    contacts = next(
        links.nth(n).get_attribute("href")
        for n in range(links.count())
        if "/rows/contacts/" in links.nth(n).get_attribute("href")
    )
    for url in (
        "/console/demo/",
        contacts,
        "/console/demo/rows/consent-events/",
        "/console/demo/rows/deliveries/?figure=failed-24h",
        "/console/demo/rows/deliveries/?figure=nope",  # with its error summary
        "/console/demo/audit/",
        "/console/demo/audit/?action=brand.exploded",  # with its error summary
    ):
        page.goto(server + url)
        assert page.evaluate("document.documentElement.lang") == language, url
        expect(page.locator("h1")).to_have_count(1)
        report = axe_report(page)
        assert not report, f"{url}: {report}"
