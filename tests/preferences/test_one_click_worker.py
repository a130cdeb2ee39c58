"""The two steps of a one-click unsubscribe: the provider's POST is accepted durably at once
(one statement), and the worker applies it dated when the person clicked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from consent.erasure import contact_erase
from preferences import one_click
from preferences.models import PendingUnsubscribe
from preferences.one_click import one_click_apply_pending
from preferences.services import SubscriptionChange, preferences_update
from preferences.tasks import one_click_apply
from tests.preferences.conftest import counts, ledger, stored
from tests.preferences.pages import link

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
BODY = "List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def mailbox():
    return Client(enforce_csrf_checks=True, HTTP_USER_AGENT="MailProvider/1")


@pytest.fixture
def subscribed(brand, contact, topics, notice_version):
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
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


def _post(client, url):
    return client.post(url, BODY, content_type=FORM)


def test_the_post_is_accepted_as_one_pending_row_and_changes_nothing_yet(
    mailbox, brand, subscribed, newsletter
):
    before = counts()

    with time_machine.travel(NOW, tick=False):
        response = _post(mailbox, link("unsubscribe", brand, subscribed, newsletter, "email"))

    assert (response.status_code, response.content) == (200, b"You are unsubscribed.")
    assert counts() == before  # the ledger, subscriptions and outbox wait for the worker
    assert stored(subscribed) == {("newsletter", "email"): ("subscribed", "weekly")}
    pending = PendingUnsubscribe.objects.get()
    assert (pending.brand_id, pending.contact_id, pending.topic_id, pending.channel) == (
        brand.pk,
        subscribed.pk,
        newsletter.pk,
        "email",
    )
    assert pending.requested_at == NOW
    assert (pending.ip, pending.user_agent, pending.page_url) == (
        "127.0.0.0",
        "MailProvider/1",
        "http://127.0.0.1:8000/p/acme/u/",  # never the token
    )


def test_the_worker_applies_it_dated_when_the_person_clicked_and_removes_the_row(
    mailbox, brand, subscribed, newsletter, notice_version
):
    with time_machine.travel(NOW, tick=False):
        _post(mailbox, link("unsubscribe", brand, subscribed, newsletter, "email"))

    with time_machine.travel(NOW + timedelta(seconds=3), tick=False):
        assert one_click_apply() == 1

    assert stored(subscribed) == {("newsletter", "email"): ("unsubscribed", "weekly")}
    assert ledger(subscribed) == [
        (1, "email-marketing", "granted", "api", notice_version.public_id),
        (2, "email-marketing", "withdrawn", "one_click", None),
    ]
    withdrawal = subscribed.consent_events.get(sequence=2)
    assert withdrawal.occurred_at == NOW
    assert withdrawal.recorded_at == NOW + timedelta(seconds=3)
    assert (withdrawal.evidence.ip, withdrawal.evidence.user_agent) == ("127.0.0.0", "MailProvider/1")
    assert not PendingUnsubscribe.objects.exists()
    assert one_click_apply_pending() == 0  # nothing left: running again changes nothing


def test_a_provider_retrying_adds_rows_that_apply_once(mailbox, brand, subscribed, newsletter):
    url = link("unsubscribe", brand, subscribed, newsletter, "email")
    for _ in range(3):
        assert _post(mailbox, url).status_code == 200

    assert one_click_apply_pending() == 3

    assert [decision for _, _, decision, _, _ in ledger(subscribed)] == ["granted", "withdrawn"]
    assert not PendingUnsubscribe.objects.exists()


def test_a_newer_choice_made_before_the_worker_ran_still_wins(
    mailbox, brand, subscribed, newsletter, notice_version
):
    with time_machine.travel(NOW, tick=False):
        _post(mailbox, link("unsubscribe", brand, subscribed, newsletter, "email"))
    with time_machine.travel(NOW + timedelta(seconds=1), tick=False):
        preferences_update(  # they changed their mind on the page a second later
            brand=brand,
            external_id="cust-1",
            method="preference_centre",
            recorded_by="test",
            subscriptions=[
                SubscriptionChange(
                    topic="newsletter",
                    channel="email",
                    status="subscribed",
                    cadence="monthly",
                    notice_version=notice_version.public_id,
                )
            ],
        )

    with time_machine.travel(NOW + timedelta(seconds=2), tick=False):
        one_click_apply_pending()

    assert stored(subscribed) == {("newsletter", "email"): ("subscribed", "monthly")}
    assert not PendingUnsubscribe.objects.exists()


def test_a_contact_erased_before_the_worker_ran_leaves_nothing_behind(mailbox, brand, subscribed, newsletter):
    _post(mailbox, link("unsubscribe", brand, subscribed, newsletter, "email"))
    assert PendingUnsubscribe.objects.count() == 1

    contact_erase(brand=brand, contact=subscribed, requested_via="api")

    assert not PendingUnsubscribe.objects.exists()  # its IP and user agent went with the contact
    assert one_click_apply_pending() == 0


def test_a_topic_changed_before_the_worker_ran_drops_the_request(mailbox, brand, subscribed, newsletter):
    _post(mailbox, link("unsubscribe", brand, subscribed, newsletter, "email"))
    type(newsletter).objects.filter(pk=newsletter.pk).update(channels=["sms"])
    before = counts()

    assert one_click_apply_pending() == 1

    assert counts() == before
    assert not PendingUnsubscribe.objects.exists()


def test_nothing_is_accepted_for_a_link_that_no_longer_holds(mailbox, brand, subscribed, newsletter):
    url = link("unsubscribe", brand, subscribed, newsletter, "email")
    type(newsletter).objects.filter(pk=newsletter.pk).update(channels=["sms"])

    assert _post(mailbox, url).status_code == 404
    assert not PendingUnsubscribe.objects.exists()


def test_accepting_is_one_statement_on_postgresql(mailbox, brand, subscribed, newsletter):
    url = link("unsubscribe", brand, subscribed, newsletter, "email")
    _post(mailbox, url)  # warm

    with CaptureQueriesContext(connection) as queries:
        assert _post(mailbox, url).status_code == 200

    statements = [
        q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert len(statements) == 1


def test_the_worker_is_nudged_after_commit_at_most_once_a_second(
    mailbox, brand, subscribed, newsletter, monkeypatch, django_capture_on_commit_callbacks, settings
):
    settings.ONE_CLICK_NUDGE_SECONDS = 1
    monkeypatch.setattr(one_click, "_last_nudge", 0.0)
    sent = []
    monkeypatch.setattr(one_click_apply, "delay", lambda: sent.append("nudge"))
    clock = iter([1000.0, 1000.5, 1001.2])
    monkeypatch.setattr(one_click, "monotonic", lambda: next(clock))
    url = link("unsubscribe", brand, subscribed, newsletter, "email")

    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            _post(mailbox, url)

    assert sent == ["nudge", "nudge"]  # at 1000.0 and 1001.2, not at 1000.5


def test_a_broker_that_is_down_does_not_fail_the_request(
    mailbox, brand, subscribed, newsletter, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(one_click, "_last_nudge", 0.0)

    def down():
        raise ConnectionError("broker down")

    monkeypatch.setattr(one_click_apply, "delay", down)

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(mailbox, link("unsubscribe", brand, subscribed, newsletter, "email"))

    assert response.status_code == 200
    assert PendingUnsubscribe.objects.count() == 1  # accepted; beat's sweep applies it
