"""RFC 8058 one-click unsubscribe as a mail provider sends it: a cookieless POST of
`List-Unsubscribe=One-Click` (urlencoded or multipart) from Playwright's request API, straight
at the live server. 200 and no redirect, idempotent; a GET of the same URL changes nothing."""

from __future__ import annotations

import pytest

from preferences.one_click import one_click_apply_pending
from preferences.tokens import LinkKind
from tests.conftest import current_version
from tests.e2e.conftest import ledger, link, stored, subscribe

pytestmark = pytest.mark.e2e

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def provider(playwright, server):
    """A mail provider's HTTP client: no cookies, no redirects followed."""
    context = playwright.request.new_context(
        base_url=server, extra_http_headers={"User-Agent": "MailProvider/1"}
    )
    yield context
    context.dispose()


@pytest.mark.parametrize("encoding", ["form", "multipart"])
def test_a_cookieless_one_click_post_unsubscribes_with_200_and_no_redirect(
    provider, demo, customer, encoding
):
    subscribe(demo, customer, ("newsletter", "email"), ("offers", "email"))
    newsletter = demo.topics.get(slug="newsletter")
    notice = current_version(demo.purposes.get(slug="email-marketing"), "en")
    url = link(LinkKind.UNSUBSCRIBE, demo, customer, topic=newsletter, channel="email")
    assert provider.storage_state()["cookies"] == []

    scanned = provider.get(url, max_redirects=0)  # a link scanner: looks, changes nothing

    assert scanned.status == 200
    assert stored(customer)[("newsletter", "email")] == ("subscribed", "weekly")

    response = provider.post(url, **{encoding: ONE_CLICK}, max_redirects=0)
    one_click_apply_pending()  # the worker's turn: it applies what the POST accepted

    assert response.status == 200
    assert "location" not in response.headers
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text() == "You are unsubscribed."
    assert "set-cookie" not in response.headers
    assert stored(customer) == {
        ("newsletter", "email"): ("unsubscribed", "weekly"),
        ("offers", "email"): ("subscribed", "immediate"),
    }
    # Offers still need the purpose: unsubscribing from one topic withdraws no consent.
    assert ledger(customer) == [(1, "email-marketing", "granted", "api", notice.public_id)]

    again = provider.post(url, **{encoding: ONE_CLICK}, max_redirects=0)
    one_click_apply_pending()

    assert (again.status, again.text()) == (200, "You are unsubscribed.")
    assert stored(customer)[("newsletter", "email")] == ("unsubscribed", "weekly")
    assert len(ledger(customer)) == 1


def test_a_one_click_post_for_all_emails_withdraws_the_consent_it_ends(provider, demo, customer):
    subscribe(demo, customer, ("newsletter", "email"))
    notice = current_version(demo.purposes.get(slug="email-marketing"), "en")
    url = link(LinkKind.UNSUBSCRIBE, demo, customer, channel="email")

    response = provider.post(url, form=ONE_CLICK, max_redirects=0)
    one_click_apply_pending()

    assert (response.status, response.text()) == (200, "You are unsubscribed.")
    assert stored(customer) == {
        ("newsletter", "email"): ("unsubscribed", "weekly"),
        ("offers", "email"): ("unsubscribed", "immediate"),
        ("restock-alerts", "email"): ("unsubscribed", "immediate"),
    }
    assert ledger(customer) == [
        (1, "email-marketing", "granted", "api", notice.public_id),
        (2, "email-marketing", "withdrawn", "one_click", None),
    ]
    assert customer.channel_opt_outs.get(channel="email").opted_out is True


def test_a_forged_token_gets_the_ordinary_404(provider, demo, customer):
    subscribe(demo, customer, ("newsletter", "email"))
    url = link(LinkKind.UNSUBSCRIBE, demo, customer, channel="email")

    forged = url[:-1] + ("A" if url[-1] != "A" else "B")

    response = provider.post(forged, form=ONE_CLICK, max_redirects=0)

    assert response.status == 404
    assert stored(customer) == {("newsletter", "email"): ("subscribed", "weekly")}
