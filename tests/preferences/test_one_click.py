"""One-click unsubscribe (RFC 8058) on the unsubscribe link, its GET confirm page, the honest
offer afterwards, and double opt-in confirmation links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from preferences.models import Hold
from preferences.one_click import one_click_apply_pending
from preferences.services import SubscriptionChange, preferences_update
from tests.preferences.conftest import counts, ledger, outbox, stored
from tests.preferences.pages import assert_hosted_headers, link

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def mailbox():
    """What a mail provider is: no cookies, no CSRF token, checks enforced."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def subscribed(brand, contact, topics, notice_version):
    preferences_update(
        brand=brand,
        external_id="cust-1",
        method="api",
        recorded_by="test",
        subscriptions=[
            SubscriptionChange(
                topic="newsletter",
                channel="email",
                status="subscribed",
                notice_version=notice_version.public_id,
            ),
        ],
    )
    return contact


def _post_multipart(client, url):
    """A provider's POST, then the worker's turn (preferences.one_click)."""
    response = client.post(url, ONE_CLICK)  # the test client encodes dicts as multipart/form-data
    one_click_apply_pending()
    return response


def _post_urlencoded(client, url):
    response = client.post(
        url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    one_click_apply_pending()
    return response


@pytest.mark.parametrize("send", [_post_urlencoded, _post_multipart], ids=["urlencoded", "multipart"])
def test_one_click_post_unsubscribes_with_200_no_redirect_and_is_idempotent(
    mailbox, brand, subscribed, newsletter, notice_version, send
):
    url = link("unsubscribe", brand, subscribed, newsletter, "email")

    first = send(mailbox, url)

    assert first.status_code == 200
    assert "Location" not in first
    assert first["Content-Type"] == "text/plain; charset=utf-8"
    assert first.cookies == {} or all(not m.value for m in first.cookies.values())
    assert stored(subscribed) == {("newsletter", "email"): ("unsubscribed", "weekly")}
    assert ledger(subscribed) == [
        (1, "email-marketing", "granted", "api", notice_version.public_id),
        (2, "email-marketing", "withdrawn", "one_click", None),
    ]
    assert [(seq, kind) for seq, kind, _ in outbox(subscribed)] == [
        (1, "consent.granted"),
        (2, "preferences.updated"),
        (3, "consent.withdrawn"),
        (4, "preferences.updated"),
    ]
    evidence = subscribed.consent_events.get(sequence=2).evidence
    assert evidence.page_url == "http://127.0.0.1:8000/p/acme/u/"  # never the token
    assert evidence.ip == "127.0.0.0"
    before = counts()

    again = send(mailbox, url)

    assert again.status_code == 200
    assert counts() == before  # no second ledger row, no second outbox event
    assert_hosted_headers(again)


def test_one_click_removes_only_the_list_in_its_token(mailbox, brand, contact, topics, notice_version):
    version = notice_version.public_id
    preferences_update(
        brand=brand,
        external_id="cust-1",
        method="api",
        recorded_by="test",
        subscriptions=[
            SubscriptionChange(
                topic="newsletter", channel="email", status="subscribed", notice_version=version
            ),
            SubscriptionChange(topic="offers", channel="email", status="subscribed"),
        ],
    )

    _post_urlencoded(mailbox, link("unsubscribe", brand, contact, topics[0], "email"))

    assert stored(contact) == {
        ("newsletter", "email"): ("unsubscribed", "weekly"),
        ("offers", "email"): ("subscribed", "immediate"),
    }
    assert [row[2] for row in ledger(contact)] == ["granted"]  # the purpose is still needed


def test_a_channel_token_unsubscribes_from_all_of_the_channel(mailbox, brand, subscribed):
    _post_urlencoded(mailbox, link("unsubscribe", brand, subscribed, None, "email"))

    assert subscribed.channel_opt_outs.get(channel="email").opted_out is True
    assert [kind for _, kind, _ in outbox(subscribed)][-1] == "contact.unsubscribed"


def test_a_forged_one_click_gets_the_same_404_as_an_unknown_url(mailbox, brand, subscribed, newsletter):
    url = link("unsubscribe", brand, subscribed, newsletter, "email")
    unknown = mailbox.get("/p/acme/there-is-nothing-here")
    before = counts()

    for forged in ("/p/acme/u/forged", url[:-3] + "abc", url.replace("/acme/", "/outsider/")):
        response = _post_urlencoded(mailbox, forged)
        assert response.status_code == 404
        assert response.content == unknown.content
    assert counts() == before


def test_the_bad_link_limit_never_refuses_a_good_link(client, mailbox, brand, subscribed, newsletter):
    """Mailbox providers send one-click POSTs from shared IPs: someone else's bad links from the
    same address must not block a real unsubscribe or a manage link; only bad ones count."""
    for _ in range(10):
        assert client.get("/p/acme/t/forged").status_code == 404
    assert client.get("/p/acme/t/forged").status_code == 429
    url = link("unsubscribe", brand, subscribed, newsletter, "email")

    one_click = _post_urlencoded(mailbox, url)
    manage = client.get(link("manage", brand, subscribed))
    page = client.get(url)

    assert one_click.status_code == 200
    assert one_click.content == b"You are unsubscribed."
    assert stored(subscribed)[("newsletter", "email")][0] == "unsubscribed"
    assert manage.status_code == 303
    assert page.status_code == 200
    assert client.get("/p/acme/t/forged").status_code == 429  # bad ones are still limited
    assert mailbox.post("/p/acme/u/forged", ONE_CLICK).status_code == 429


def test_an_unsubscribe_link_for_a_topic_that_became_transactional_is_a_404(
    mailbox, brand, subscribed, newsletter
):
    url = link("unsubscribe", brand, subscribed, newsletter, "email")
    type(newsletter).objects.filter(pk=newsletter.pk).update(transactional=True)

    assert _post_urlencoded(mailbox, url).status_code == 404


@pytest.mark.parametrize("age", [timedelta(days=61), timedelta(days=179)])
def test_an_unsubscribe_link_works_for_months(mailbox, brand, subscribed, newsletter, age):
    url = link("unsubscribe", brand, subscribed, newsletter, "email")

    with time_machine.travel(NOW + age, tick=False):
        assert _post_urlencoded(mailbox, url).status_code == 200
    assert stored(subscribed)[("newsletter", "email")][0] == "unsubscribed"


def test_an_expired_unsubscribe_link_changes_nothing_by_itself(mailbox, brand, subscribed, newsletter):
    url = link("unsubscribe", brand, subscribed, newsletter, "email")
    before = counts()

    with time_machine.travel(NOW + timedelta(days=181), tick=False):
        response = _post_urlencoded(mailbox, url)
        page = mailbox.get(url)

    assert response.status_code == 410
    assert counts() == before
    assert page.status_code == 410
    assert b"This link has expired" in page.content
    assert b'name="action" value="unsubscribe"' in page.content  # a person can still stop it


# --- The GET confirm page, the form POST and the offer -------------------------------------------


def test_get_changes_nothing_and_shows_a_confirm_button_and_a_preferences_link(
    mailbox, brand, subscribed, newsletter
):
    url = link("unsubscribe", brand, subscribed, newsletter, "email")
    before = counts()

    response = mailbox.get(url)
    mailbox.head(url)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Unsubscribe from “Newsletter” (Email)?" in html
    assert f'<form method="post" action="{url}">' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'href="/p/acme/"' in html
    assert "Unsubscribe from all emails" in html
    assert counts() == before
    assert_hosted_headers(response)


def test_the_confirm_button_needs_its_csrf_token(mailbox, brand, subscribed, newsletter):
    url = link("unsubscribe", brand, subscribed, newsletter, "email")
    before = counts()

    assert mailbox.post(url, {"action": "unsubscribe"}).status_code == 403
    assert counts() == before


def _confirm(client, url, **data):
    page = client.get(url).content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    return client.post(
        url, {"csrfmiddlewaretoken": token, "action": "unsubscribe", **data}, HTTP_ORIGIN="null"
    )


def test_the_confirm_button_unsubscribes_and_offers_a_digest_or_a_pause_once(
    mailbox, brand, subscribed, newsletter, notice_version
):
    url = link("unsubscribe", brand, subscribed, newsletter, "email")

    response = _confirm(mailbox, url)

    assert response.status_code == 200
    html = response.content.decode()
    assert "You're unsubscribed" in html
    assert stored(subscribed) == {("newsletter", "email"): ("unsubscribed", "weekly")}
    assert ledger(subscribed)[-1] == (2, "email-marketing", "withdrawn", "one_click", None)
    # the offer: a monthly digest, a pause, or staying unsubscribed, all alike
    assert "Get a monthly digest instead" in html
    assert "Pause for 4 weeks instead" in html
    assert "Stay unsubscribed" in html
    assert html.count('class="button button--secondary"') >= 3
    assert notice_version.text in html
    assert "Unsubscribe from all emails" in html

    second = _confirm(mailbox, url)
    assert "Get a monthly digest instead" not in second.content.decode()  # once only


def test_taking_the_digest_instead(mailbox, brand, subscribed, newsletter, notice_version, clock):
    url = link("unsubscribe", brand, subscribed, newsletter, "email")
    _confirm(mailbox, url)
    clock.shift(timedelta(seconds=20))
    token = mailbox.cookies["csrftoken"].value

    response = mailbox.post(
        url, {"csrfmiddlewaretoken": token, "action": "digest", "notice": notice_version.public_id}
    )

    assert response.status_code == 200
    assert stored(subscribed) == {("newsletter", "email"): ("subscribed", "monthly")}
    assert ledger(subscribed)[-1] == (
        3,
        "email-marketing",
        "granted",
        "preference_centre",
        notice_version.public_id,
    )


def test_taking_the_pause_instead(mailbox, brand, subscribed, newsletter, notice_version, clock):
    url = link("unsubscribe", brand, subscribed, newsletter, "email")
    _confirm(mailbox, url)
    clock.shift(timedelta(seconds=20))
    token = mailbox.cookies["csrftoken"].value

    mailbox.post(url, {"csrfmiddlewaretoken": token, "action": "pause", "notice": notice_version.public_id})

    assert stored(subscribed) == {("newsletter", "email"): ("subscribed", "weekly")}
    hold = Hold.objects.get(contact=subscribed)
    assert (hold.until, list(hold.channels), [t.slug for t in hold.topics.all()]) == (
        NOW + timedelta(seconds=20, weeks=4),
        ["email"],
        ["newsletter"],
    )


def test_staying_unsubscribed_changes_nothing(mailbox, brand, subscribed, newsletter):
    url = link("unsubscribe", brand, subscribed, newsletter, "email")
    _confirm(mailbox, url)
    before = counts()
    token = mailbox.cookies["csrftoken"].value

    response = mailbox.post(url, {"csrfmiddlewaretoken": token, "action": "stay"})

    assert b"still unsubscribed" in response.content
    assert counts() == before


def test_the_unsubscribe_page_speaks_the_contacts_language(mailbox, brand, subscribed, newsletter):
    from consent.services import contact_upsert

    contact_upsert(brand=brand, external_id="cust-1", locale="fr")

    html = mailbox.get(link("unsubscribe", brand, subscribed, newsletter, "email")).content.decode()

    assert '<html lang="fr">' in html
    assert "Se désabonner" in html


# --- Confirmation links (double opt-in) ------------------------------------------------------------


@pytest.fixture
def pending(brand, contact, launches, news_version):
    change = SubscriptionChange(
        topic="launches", channel="email", status="subscribed", notice_version=news_version.public_id
    )
    preferences_update(
        brand=brand, external_id="cust-1", method="api", recorded_by="test", subscriptions=[change]
    )
    return contact


def test_a_confirm_link_needs_a_post_and_works_once(client, brand, pending, launches, news_version):
    with time_machine.travel(NOW + timedelta(seconds=5), tick=False):
        url = link("confirm", brand, pending, launches, "email")
    before = counts()

    page = client.get(url)
    assert page.status_code == 200
    assert b"Yes, subscribe me" in page.content
    assert counts() == before

    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        done = client.post(url)
        again = client.post(url)

    assert done.status_code == 200
    assert b"Thank you" in done.content
    assert stored(pending) == {("launches", "email"): ("subscribed", "immediate")}
    assert ledger(pending) == [(1, "product-news", "granted", "preference_centre", news_version.public_id)]
    assert again.status_code == 410
    assert b"Nothing to confirm" in again.content
    assert len(ledger(pending)) == 1


def test_a_confirm_link_expires_after_72_hours(client, brand, pending, launches):
    url = link("confirm", brand, pending, launches, "email")

    with time_machine.travel(NOW + timedelta(hours=72, seconds=1), tick=False):
        response = client.post(url)

    assert response.status_code == 410
    assert stored(pending) == {("launches", "email"): ("pending", "immediate")}


def test_an_old_confirm_link_cannot_confirm_a_newer_request(client, brand, pending, launches, news_version):
    url = link("confirm", brand, pending, launches, "email", now=NOW - timedelta(hours=1))

    client.post(url)

    assert stored(pending) == {("launches", "email"): ("pending", "immediate")}
