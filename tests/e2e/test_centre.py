"""The preference centre in Chromium, each flow once without JavaScript and once with it: open a
signed link, change a cadence, pause and resume, unsubscribe from all emails and undo, and an
invalid submit whose error summary takes focus. Each asserts the page and the exact rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation
from django.utils.formats import date_format
from playwright.sync_api import expect

from consent.models import ConsentEvent
from consent.services import notice_version_publish
from preferences.models import ChannelOptOut, Hold, Subscription
from preferences.tokens import LinkKind
from tests.actors import TEST_ACTOR
from tests.conftest import current_version
from tests.e2e.conftest import (
    HOME,
    expect_status,
    focus_is_visible,
    ledger,
    link,
    open_centre,
    stored,
    subscribe,
)

pytestmark = pytest.mark.e2e


def test_a_manage_link_opens_the_centre_and_the_token_leaves_the_url(
    new_page, server, demo, customer, javascript
):
    page = new_page(javascript=javascript)
    path = link(LinkKind.MANAGE, demo, customer)
    token = path.rsplit("/", 1)[1]
    # The demo's other customers (cust-43, the crowd) were seeded with subscriptions of their own.
    others = Subscription.objects.exclude(contact=customer).count()

    response = page.goto(server + path)

    assert page.url == server + HOME
    assert response.status == 200
    assert response.request.redirected_from.url == server + path
    assert response.request.redirected_from.response().status == 303
    assert token not in page.content()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your preferences")
    assert [cookie["name"] for cookie in page.context.cookies() if cookie["httpOnly"]] == [
        "__Host-candor-centre"
    ]
    assert page.evaluate("document.referrer") == ""
    # Looking is not deciding: nothing is written.
    assert Subscription.objects.filter(contact=customer).count() == 0
    assert Subscription.objects.exclude(contact=customer).count() == others
    assert ConsentEvent.objects.filter(contact=customer).count() == 0


def test_subscribe_with_a_cadence_then_change_the_cadence(new_page, server, demo, customer, javascript):
    page = new_page(javascript=javascript)
    open_centre(page, server, demo, customer)
    notice = current_version(demo.purposes.get(slug="email-marketing"), "en")

    page.locator("#sub-newsletter-email").check()
    page.locator("#sub-newsletter-email-cadence").select_option("monthly")
    page.get_by_role("button", name="Save my choices").click()

    assert page.url == server + HOME
    expect_status(page, "Saved. Your choices are up to date.")
    expect(page.locator("#sub-newsletter-email")).to_be_checked()
    expect(page.locator("#sub-newsletter-email-cadence")).to_have_value("monthly")
    assert stored(customer) == {("newsletter", "email"): ("subscribed", "monthly")}
    assert ledger(customer) == [(1, "email-marketing", "granted", "preference_centre", notice.public_id)]
    evidence = ConsentEvent.objects.select_related("evidence").get(contact=customer).evidence
    assert (evidence.ip, evidence.page_url) == ("127.0.0.0", server + HOME)
    assert "Chrome/" in evidence.user_agent

    page.locator("#sub-newsletter-email-cadence").select_option("weekly")
    page.get_by_role("button", name="Save my choices").click()

    expect_status(page, "Saved. Your choices are up to date.")
    expect(page.locator("#sub-newsletter-email-cadence")).to_have_value("weekly")
    assert stored(customer) == {("newsletter", "email"): ("subscribed", "weekly")}
    assert len(ledger(customer)) == 1  # a cadence is a preference, not a consent decision


def test_pause_for_two_weeks_and_resume(new_page, server, demo, customer, javascript):
    subscribe(demo, customer, ("newsletter", "email"))
    page = new_page(javascript=javascript)
    open_centre(page, server, demo, customer)
    before = timezone.now()

    page.get_by_label("2 weeks").check()
    page.get_by_role("button", name="Pause", exact=True).click()

    hold = Hold.objects.get(contact=customer)
    assert before + timedelta(weeks=2) <= hold.until <= timezone.now() + timedelta(weeks=2)
    assert (hold.started_by, hold.recorded_by, hold.channels, list(hold.topics.all())) == (
        "customer",
        "hosted:preference-centre",
        [],
        [],
    )
    assert (hold.ended_at, hold.end_reason) == (None, "")
    with translation.override("en"):
        until = date_format(timezone.localtime(hold.until), "DATE_FORMAT")
    assert page.url == server + HOME + "#pause"
    expect_status(page, f"Paused until {until}. Messages you need, like order updates, still arrive.")
    expect(page.locator("#pause")).to_contain_text(f"Paused until {until}.")
    assert stored(customer) == {("newsletter", "email"): ("subscribed", "weekly")}  # paused, not dropped

    page.get_by_role("button", name="Resume now").click()

    hold.refresh_from_db()
    assert hold.ended_at is not None
    assert hold.end_reason == "ended"
    expect_status(page, "Resumed. You'll get messages again as you chose.")
    expect(page.get_by_label("2 weeks")).not_to_be_checked()
    assert Hold.objects.filter(contact=customer).count() == 1
    assert stored(customer) == {("newsletter", "email"): ("subscribed", "weekly")}


def test_unsubscribe_from_all_emails_asks_first_and_can_be_undone(
    new_page, server, demo, customer, javascript
):
    subscribe(demo, customer, ("newsletter", "email"), ("offers", "email"), ("offers", "sms"))
    notice = current_version(demo.purposes.get(slug="email-marketing"), "en")
    texts = current_version(demo.purposes.get(slug="sms-marketing"), "en")
    granted = [
        (1, "email-marketing", "granted", "api", notice.public_id),
        (2, "sms-marketing", "granted", "api", texts.public_id),  # texts under their own notice
    ]
    before = stored(customer)
    page = new_page(javascript=javascript)
    open_centre(page, server, demo, customer)

    page.get_by_role("link", name="Unsubscribe from all emails").click()

    assert page.url == server + HOME + "unsubscribe-all/email"
    expect(page.get_by_role("heading", level=1)).to_have_text("Unsubscribe from all emails?")
    expect(page.locator("main ul").first.locator("li")).to_have_text(["Newsletter", "Offers and sales"])
    assert stored(customer) == before  # asking is not doing
    assert ledger(customer) == granted

    page.get_by_role("button", name="Yes, unsubscribe me from all emails").click()

    assert page.url == server + HOME + "#unsubscribe-all"
    expect_status(page, "You're unsubscribed from all emails. Changed your mind? Use “Undo” below.")
    expect(page.locator("#sub-newsletter-email")).not_to_be_checked()
    expect(page.locator("#sub-offers-email")).not_to_be_checked()
    expect(page.locator("#sub-offers-sms")).to_be_checked()
    assert stored(customer) == {
        ("newsletter", "email"): ("unsubscribed", "weekly"),
        ("offers", "email"): ("unsubscribed", "immediate"),
        ("restock-alerts", "email"): ("unsubscribed", "immediate"),  # never chosen; now said no to
        ("offers", "sms"): ("subscribed", "immediate"),
    }
    assert ChannelOptOut.objects.get(contact=customer, channel="email").opted_out is True
    # Email marketing lost every topic it covered, so its consent is withdrawn; texts are apart.
    withdrawn = (3, "email-marketing", "withdrawn", "preference_centre", None)
    assert ledger(customer) == [*granted, withdrawn]

    page.get_by_role("button", name="Undo: subscribe me again as before (all emails)").click()

    expect_status(page, "Undone. You're subscribed again as before.")
    expect(page.locator("#sub-newsletter-email")).to_be_checked()
    expect(page.locator("#sub-offers-email")).to_be_checked()
    expect(page.get_by_role("button", name="Undo: subscribe me again as before (all emails)")).to_have_count(
        0
    )
    assert stored(customer) == {
        ("newsletter", "email"): ("subscribed", "weekly"),
        ("offers", "email"): ("subscribed", "immediate"),
        ("restock-alerts", "email"): ("unsubscribed", "immediate"),  # was not on before, stays off
        ("offers", "sms"): ("subscribed", "immediate"),
    }
    assert ChannelOptOut.objects.get(contact=customer, channel="email").opted_out is False
    regranted = (4, "email-marketing", "granted", "preference_centre", notice.public_id)
    assert ledger(customer) == [*granted, withdrawn, regranted]


def test_a_notice_changed_meanwhile_gives_an_error_summary_that_takes_focus(
    new_page, server, demo, customer, javascript
):
    page = new_page(javascript=javascript)
    open_centre(page, server, demo, customer)
    purpose = demo.purposes.get(slug="email-marketing")
    shown = current_version(purpose, "en")
    newer = notice_version_publish(
        actor=TEST_ACTOR, purpose=purpose, language="en", title="Emails", text="New words."
    )

    page.locator("#sub-newsletter-email").check()
    page.get_by_role("button", name="Save my choices").click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    assert focus_is_visible(page)
    expect(summary).to_contain_text("There is a problem")
    expect(summary).to_contain_text("changed while you had this page open")
    expect(page.locator("#purpose-email-marketing")).to_contain_text("New words.")
    expect(page.locator("#sub-newsletter-email")).to_be_checked()  # kept as sent
    assert shown.public_id != newer.public_id
    assert (stored(customer), ledger(customer)) == ({}, [])  # nothing consented to unread text

    page.get_by_role("button", name="Save my choices").click()  # having read the new text

    expect_status(page, "Saved. Your choices are up to date.")
    assert stored(customer) == {("newsletter", "email"): ("subscribed", "weekly")}
    assert ledger(customer) == [(1, "email-marketing", "granted", "preference_centre", newer.public_id)]


def test_a_pause_without_a_length_gives_an_error_summary_linked_to_the_choice(
    new_page, server, demo, customer, javascript
):
    page = new_page(javascript=javascript)
    open_centre(page, server, demo, customer)

    page.get_by_role("button", name="Pause", exact=True).click()

    expect(page.locator("#error-summary")).to_be_focused()
    page.get_by_role("link", name="Choose how long to pause for.").click()
    expect(page.get_by_label("1 week")).to_be_focused()
    assert Hold.objects.filter(contact=customer).count() == 0
