"""Compliance #16/#17, the hosted half: a one-click unsubscribe accepted and not yet applied reads
`pending` in the preferences API (in the same number of queries), and an alert goes out once
when accepted unsubscribes wait longer than UNSUBSCRIBE_DELAY_ALERT_SECONDS, and clears."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from preferences.models import PendingUnsubscribe, UnsubscribeDelayAlert
from preferences.one_click import UnsubscribeBacklog, unsubscribe_delay_check
from preferences.selectors import preferences_get
from preferences.services import SubscriptionChange, preferences_update
from preferences.tasks import one_click_apply
from preferences.tasks import unsubscribe_delay_check as unsubscribe_delay_check_task
from tests.preferences.pages import link
from tests.preferences.test_preferences_api import URL

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


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
                    topic=slug, channel="email", status="subscribed", notice_version=notice_version.public_id
                )
                for slug in ("newsletter", "offers")
            ],
        )
    return contact


def _statuses(pref_api) -> dict[tuple[str, str], str]:
    response = pref_api.get(URL.format("cust-1"))
    assert response.status_code == 200
    return {(row["topic"], row["channel"]): row["status"] for row in response.json()["subscriptions"]}


BEFORE = {
    ("orders", "email"): "subscribed",
    ("orders", "sms"): "subscribed",
    ("newsletter", "email"): "subscribed",
    ("newsletter", "sms"): "not_set",
    ("offers", "email"): "subscribed",
    ("launches", "email"): "not_set",
}


def test_an_accepted_one_click_unsubscribe_reads_pending_until_the_worker_applies_it(
    brand, subscribed, newsletter, pref_api
):
    assert _statuses(pref_api) == BEFORE
    with time_machine.travel(NOW, tick=False):
        response = Client().post(
            link("unsubscribe", brand, subscribed, newsletter, "email"),
            "List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
    assert response.status_code == 200

    assert _statuses(pref_api) == {**BEFORE, ("newsletter", "email"): "pending"}  # only that row

    assert one_click_apply() == 1
    assert _statuses(pref_api) == {**BEFORE, ("newsletter", "email"): "unsubscribed"}


def test_an_accepted_unsubscribe_from_all_reads_pending_on_every_topic_it_covers(brand, subscribed, pref_api):
    PendingUnsubscribe.objects.create(
        brand=brand, contact=subscribed, topic=None, channel="email", requested_at=NOW
    )

    assert _statuses(pref_api) == {
        **BEFORE,
        ("newsletter", "email"): "pending",
        ("offers", "email"): "pending",
        ("launches", "email"): "pending",  # not_set now, unsubscribed once applied
        # orders is transactional: an unsubscribe from all leaves it.
    }


def test_another_contacts_pending_unsubscribe_changes_nothing(
    brand, other_brand, subscribed, newsletter, pref_api, make_client
):
    from consent.services import contact_upsert

    other, _ = contact_upsert(brand=brand, external_id="cust-2", email="bob@example.com")
    PendingUnsubscribe.objects.create(
        brand=brand, contact=other, topic=newsletter, channel="email", requested_at=NOW
    )
    assert _statuses(pref_api) == BEFORE


def test_pending_rows_are_read_in_the_same_queries(brand, subscribed, newsletter):
    with CaptureQueriesContext(connection) as without:
        preferences_get(brand=brand, contact=subscribed)
    PendingUnsubscribe.objects.create(
        brand=brand, contact=subscribed, topic=newsletter, channel="email", requested_at=NOW
    )
    with CaptureQueriesContext(connection) as with_pending:
        rows = preferences_get(brand=brand, contact=subscribed).subscriptions
    assert len(with_pending.captured_queries) == len(without.captured_queries) == 2  # config remembered
    assert [(row.topic.slug, row.channel, row.status) for row in rows if row.status == "pending"] == [
        ("newsletter", "email", "pending")
    ]


def test_the_schema_documents_pending(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    status = schema["components"]["schemas"]["SubscriptionRowOut"]["properties"]["status"]
    assert "accepted and not yet applied" in status["description"]


# --- The alert -----------------------------------------------------------------------------------


@pytest.fixture
def alerting(settings):
    settings.UNSUBSCRIBE_DELAY_ALERT_SECONDS = 900
    settings.OPS_ALERT_EMAIL = ["ops@candor.example"]
    return settings


def _accept(brand, contact, topic, at):
    PendingUnsubscribe.objects.create(
        brand=brand, contact=contact, topic=topic, channel="email", requested_at=at
    )


def test_no_alert_while_unsubscribes_wait_less_than_the_limit(
    alerting, brand, subscribed, newsletter, caplog
):
    _accept(brand, subscribed, newsletter, NOW)
    with caplog.at_level(logging.INFO, logger="preferences.one_click"):
        backlog = unsubscribe_delay_check(now=NOW + timedelta(seconds=900))
    assert backlog == UnsubscribeBacklog(waiting=1, oldest_seconds=900, delayed=False)
    assert mail.outbox == []
    assert caplog.records == []
    assert not UnsubscribeDelayAlert.objects.filter(raised_at__isnull=False).exists()


def test_the_alert_goes_out_once_per_incident_and_clears_when_drained(
    alerting, brand, subscribed, newsletter, caplog
):
    _accept(brand, subscribed, newsletter, NOW)
    _accept(brand, subscribed, None, NOW + timedelta(minutes=5))
    late = NOW + timedelta(seconds=901)
    with caplog.at_level(logging.INFO, logger="preferences.one_click"):
        assert unsubscribe_delay_check(now=late) == UnsubscribeBacklog(
            waiting=2, oldest_seconds=901, delayed=True
        )
        # Later checks (beat and /readyz) while it lasts repeat nothing.
        assert unsubscribe_delay_check(now=late + timedelta(minutes=1)).delayed
        assert unsubscribe_delay_check(now=late + timedelta(minutes=2)).delayed

    [record] = caplog.records
    assert (record.levelname, record.getMessage()) == (
        "ERROR",
        "Unsubscribe delay: 2 accepted one-click unsubscribe(s) wait to be applied; the oldest for "
        "901 s (limit 900 s). Is the Celery worker running?",
    )
    [message] = mail.outbox
    assert (message.to, message.subject) == (
        ["ops@candor.example"],
        "[Candor] One-click unsubscribes are delayed",
    )
    assert message.body == (
        "2 accepted one-click unsubscribe(s) wait to be applied; the oldest for 901 s (limit 900 s). "
        "Is the Celery worker running?\n\nThis alert goes out once; /readyz shows when it clears."
    )
    for text in (record.getMessage(), message.body):
        assert "ada@example.com" not in text.lower()
    assert UnsubscribeDelayAlert.objects.get().raised_at == late

    # The worker is back and drains the backlog: the alert clears.
    assert one_click_apply() == 2
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="preferences.one_click"):
        assert unsubscribe_delay_check(now=late + timedelta(minutes=3)) == UnsubscribeBacklog(0, 0, False)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "One-click unsubscribes are applied again: the delay alert is cleared.")
    ]
    assert UnsubscribeDelayAlert.objects.get().raised_at is None

    # A new incident alerts again, once.
    _accept(brand, subscribed, newsletter, late + timedelta(minutes=4))
    assert unsubscribe_delay_check(now=late + timedelta(minutes=20)).delayed
    assert unsubscribe_delay_check(now=late + timedelta(minutes=21)).delayed
    assert len(mail.outbox) == 2


def test_without_an_ops_address_the_alert_is_logged_only(alerting, brand, subscribed, newsletter, caplog):
    alerting.OPS_ALERT_EMAIL = []
    _accept(brand, subscribed, newsletter, NOW)
    with caplog.at_level(logging.ERROR, logger="preferences.one_click"):
        assert unsubscribe_delay_check(now=NOW + timedelta(hours=1)).delayed
    assert len(caplog.records) == 1
    assert mail.outbox == []


def test_the_beat_task_checks(alerting, brand, subscribed, newsletter):
    _accept(brand, subscribed, newsletter, NOW)
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        assert unsubscribe_delay_check_task() is True
    assert len(mail.outbox) == 1
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULE["unsubscribe-delay-check"]["task"] == (
        "preferences.tasks.unsubscribe_delay_check"
    )


def test_readyz_reports_delayed_unsubscribes_and_alerts_while_no_worker_runs(
    alerting, client, brand, subscribed, newsletter
):
    _accept(brand, subscribed, newsletter, NOW)
    with time_machine.travel(NOW + timedelta(minutes=10), tick=False):
        response = client.get("/readyz")
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ok", "checks": {"database": "ok", "broker": "ok"}, "unsubscribes": "ok"},
    )
    assert mail.outbox == []

    with time_machine.travel(NOW + timedelta(minutes=16), tick=False):
        response = client.get("/readyz")
        again = client.get("/readyz")
    # Still ready: refusing traffic would refuse the unsubscribes themselves.
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ok", "checks": {"database": "ok", "broker": "ok"}, "unsubscribes": "delayed"},
    )
    assert again.json()["unsubscribes"] == "delayed"
    assert len(mail.outbox) == 1  # once per incident

    PendingUnsubscribe.objects.all().delete()
    assert client.get("/readyz").json()["unsubscribes"] == "ok"
    assert UnsubscribeDelayAlert.objects.get().raised_at is None
