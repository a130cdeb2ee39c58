"""A form posted by htmx that the server refuses (400, 409) shows its errors in Chromium: the
console's htmx config swaps those answers in (htmx swaps no 4xx by default), and without
JavaScript the same form answers with the whole page and its errors, as before
(tests/console/test_service_messages.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from brands.demo import demo_owner_ensure
from brands.models import Invitation, Membership
from tests.e2e.test_console_sign_in import accessible, sign_in

pytestmark = pytest.mark.e2e


def test_a_refused_invitation_shows_its_error_in_place_with_htmx(new_page, server, demo):
    owner = demo_owner_ensure(brand=demo)
    page = new_page()
    sign_in(page, server, owner.email, password=owner.password, secret=owner.totp_secret)
    page.goto(server + "/console/demo/members/")
    loads = []
    page.on("load", lambda _page: loads.append(1))

    with page.expect_response("**/console/demo/members/") as answered:
        page.locator("#invite-email").fill("not-an-address")
        page.get_by_role("button", name="Send invitation").click()
    assert answered.value.status == 400
    summary = page.locator("#members .error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("Enter a valid email address.")
    expect(page.locator("#invite-email")).to_have_attribute("aria-invalid", "true")
    assert loads == []  # swapped in place, not a page load
    assert Invitation.objects.filter(brand=demo).count() == 0
    accessible(page)


def test_the_last_owners_refusal_shows_in_place_with_htmx(new_page, server, demo):
    owner = demo_owner_ensure(brand=demo)
    page = new_page()
    sign_in(page, server, owner.email, password=owner.password, secret=owner.totp_secret)
    page.goto(server + "/console/demo/members/")
    mine = Membership.objects.get(brand=demo, user__email=owner.email)

    with page.expect_response("**/console/demo/members/") as answered:
        page.locator(f"#role-{mine.pk}").select_option("viewer")
        page.locator(f"#role-{mine.pk}").locator("xpath=..").get_by_role("button").click()
    assert answered.value.status == 409
    expect(page.locator("#members .error-summary")).to_contain_text("A brand needs at least one owner")
    assert Membership.objects.get(pk=mine.pk).role == "owner"
