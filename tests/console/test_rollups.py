"""The dashboard's rollups: exact rows from known histories, incremental refreshes, rebuild,
late commits, erasure and tenant isolation."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, transaction

from consent.erasure import contact_erase
from consent.models import Contact
from console import rollups
from console.models import CountedConsent, PurposeDay, RollupWatermark, SubscriptionCount, UnsubscribeDay
from console.rollups import rollups_rebuild, rollups_refresh, unsubscribe_source
from preferences.services import SubscriptionChange, hold_end, hold_start, preferences_update
from sync.models import Event
from tests.conftest import current_version
from tests.console.conftest import (
    counted_consents,
    counted_subscriptions,
    decide,
    purpose_days,
    snapshot,
    subscription_counts,
    unsubscribe_days,
)

# The feed holds back events of transactions still open, and a test's own would be one.
pytestmark = pytest.mark.django_db(transaction=True)

DAY1 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def test_consent_changes_are_counted_per_purpose_and_day(brand, purpose, news_purpose, contacts):
    contacts(4)
    with time_machine.travel(DAY1, tick=False):
        decide(brand, "cust-1", purpose, "granted")
        decide(brand, "cust-2", purpose, "granted", method="preference_centre")
        decide(brand, "cust-3", purpose, "granted")
        decide(brand, "cust-3", news_purpose, "granted")

    assert rollups_refresh(brand=brand, now=DAY1) == 4

    assert purpose_days(brand) == [
        ("email-marketing", "2026-11-20", 3, 0, 0, 3, 3),
        ("product-news", "2026-11-20", 1, 0, 0, 1, 1),
    ]
    assert counted_consents(brand) == {
        ("cust-1", "email-marketing"): True,
        ("cust-2", "email-marketing"): True,
        ("cust-3", "email-marketing"): True,
        ("cust-3", "product-news"): True,
    }
    assert unsubscribe_days(brand) == []

    with time_machine.travel(DAY2, tick=False):
        decide(brand, "cust-1", purpose, "withdrawn", method="one_click")
        decide(brand, "cust-2", purpose, "withdrawn", gpc=True)  # the evidence names GPC
        decide(brand, "cust-3", purpose, "granted")  # renewed: a grant, no more active contacts
        decide(brand, "cust-4", purpose, "withdrawn", method="sms")  # decided, never active
        # A late, older grant: kept as evidence, changes nothing, counts nothing.
        decide(brand, "cust-1", purpose, "granted", occurred_at=DAY1)

    assert rollups_refresh(brand=brand, now=DAY2) == 4

    assert purpose_days(brand) == [
        ("email-marketing", "2026-11-20", 3, 0, 0, 3, 3),
        ("product-news", "2026-11-20", 1, 0, 0, 1, 1),
        ("email-marketing", "2026-11-21", 1, 3, 0, -2, 1),
    ]
    # Only withdrawals that ended an active consent are unsubscribes.
    assert unsubscribe_days(brand) == [("2026-11-21", "gpc", 1), ("2026-11-21", "one_click", 1)]
    assert counted_consents(brand)[("cust-1", "email-marketing")] is False
    assert counted_consents(brand)[("cust-4", "email-marketing")] is False

    # Nothing new: nothing read, nothing changed.
    before = snapshot(brand)
    assert rollups_refresh(brand=brand, now=DAY2) == 0
    assert snapshot(brand) == before


def test_a_rebuild_gives_what_the_refreshes_gave(brand, purpose, news_purpose, contacts, topics):
    contacts(3)
    with time_machine.travel(DAY1, tick=False):
        decide(brand, "cust-1", purpose, "granted")
        preferences_update(
            brand=brand,
            external_id="cust-2",
            method="preference_centre",
            recorded_by="page",
            subscriptions=[
                SubscriptionChange(
                    "newsletter",
                    "email",
                    "subscribed",
                    "daily",
                    notice_version=current_version(purpose).public_id,
                )
            ],
        )
    rollups_refresh(brand=brand, now=DAY1)
    with time_machine.travel(DAY2, tick=False):
        preferences_update(
            brand=brand,
            external_id="cust-2",
            method="one_click",
            recorded_by="link",
            subscriptions=[SubscriptionChange("newsletter", "email", "unsubscribed")],
        )
        decide(brand, "cust-3", news_purpose, "granted")
        decide(brand, "cust-1", purpose, "withdrawn", method="agent")
    rollups_refresh(brand=brand, now=DAY2)
    refreshed = snapshot(brand)

    with time_machine.travel(DAY2, tick=False):
        assert rollups_rebuild(brand=brand, now=DAY2) == {"ledger_events": 5, "subscriptions": 1}

    assert snapshot(brand) == refreshed
    assert refreshed[0] == [
        ("email-marketing", "2026-11-20", 2, 0, 0, 2, 2),
        ("email-marketing", "2026-11-21", 0, 2, 0, -2, 0),
        ("product-news", "2026-11-21", 1, 0, 0, 1, 1),
    ]
    assert refreshed[1] == [("2026-11-21", "one_click", 1), ("2026-11-21", "support", 1)]
    assert refreshed[2] == {("newsletter", "email", "unsubscribed", "daily"): 1}
    # The watermark stands at the feed's end: the next refresh reads nothing twice.
    assert rollups_refresh(brand=brand, now=DAY2) == 0
    assert snapshot(brand) == refreshed


def test_the_rebuild_command(brand, purpose, contacts, capsys):
    contacts(1)
    decide(brand, "cust-1", purpose, "granted")
    call_command("rebuild_rollups", "--brand", "acme")
    assert capsys.readouterr().out == "acme: 1 consent changes and 0 subscriptions counted.\n"
    assert [(r.grants, r.active_change) for r in PurposeDay.objects.filter(brand=brand)] == [(1, 1)]
    with pytest.raises(Exception, match="No brand 'nobody'"):
        call_command("rebuild_rollups", "--brand", "nobody")


def test_a_rebuild_refuses_to_run_inside_another_transaction(brand):
    with transaction.atomic(), pytest.raises(RuntimeError):
        rollups_rebuild(brand=brand)


def test_subscriptions_are_counted_by_topic_channel_state_and_cadence(
    brand, purpose, news_purpose, topics, contacts
):
    contacts(3)
    nv = current_version(purpose).public_id
    now = datetime.now(UTC)
    preferences_update(
        brand=brand,
        external_id="cust-1",
        method="api",
        recorded_by="test",
        subscriptions=[
            SubscriptionChange("newsletter", "email", "subscribed", "weekly", notice_version=nv),
            SubscriptionChange("newsletter", "sms", "subscribed", "daily", notice_version=nv),
            SubscriptionChange("offers", "email", "subscribed", notice_version=nv),
        ],
    )
    preferences_update(
        brand=brand,
        external_id="cust-2",
        method="api",
        recorded_by="test",
        subscriptions=[SubscriptionChange("newsletter", "email", "subscribed", "monthly", notice_version=nv)],
    )
    preferences_update(
        brand=brand,
        external_id="cust-3",
        method="preference_centre",
        recorded_by="page",
        subscriptions=[
            SubscriptionChange(
                "launches", "email", "subscribed", notice_version=current_version(news_purpose).public_id
            )
        ],
    )
    rollups_refresh(brand=brand, now=now)
    # A double opt-in waits for its confirmation.
    assert counted_subscriptions(brand)[("cust-3", "launches", "email")] == ("pending", "immediate")
    assert subscription_counts(brand) == {
        ("newsletter", "email", "active", "weekly"): 1,
        ("newsletter", "email", "active", "monthly"): 1,
        ("newsletter", "sms", "active", "daily"): 1,
        ("offers", "email", "active", "immediate"): 1,
        ("launches", "email", "pending", "immediate"): 1,
    }

    # An agent pauses cust-1's newsletter: paused while the hold is open, active again after.
    hold = hold_start(
        brand=brand,
        external_id="cust-1",
        started_by="agent",
        recorded_by="console",
        until=now + timedelta(days=14),
        reason="complaint",
        topics=["newsletter"],
    )
    rollups_refresh(brand=brand)
    assert subscription_counts(brand) == {
        ("newsletter", "email", "paused", "weekly"): 1,
        ("newsletter", "email", "active", "monthly"): 1,
        ("newsletter", "sms", "paused", "daily"): 1,
        ("offers", "email", "active", "immediate"): 1,
        ("launches", "email", "pending", "immediate"): 1,
    }
    hold_end(brand=brand, external_id="cust-1", hold_id=hold.public_id)
    rollups_refresh(brand=brand)
    assert subscription_counts(brand)[("newsletter", "email", "active", "weekly")] == 1
    assert ("newsletter", "email", "paused", "weekly") not in subscription_counts(brand)

    refreshed = snapshot(brand)
    rollups_rebuild(brand=brand)
    assert snapshot(brand) == refreshed


def test_erasure_keeps_the_figures_whole(brand, purpose, topics, contacts):
    contacts(2)
    nv = current_version(purpose).public_id
    with time_machine.travel(DAY1, tick=False):
        for external_id in ("cust-1", "cust-2"):
            preferences_update(
                brand=brand,
                external_id=external_id,
                method="api",
                recorded_by="test",
                subscriptions=[SubscriptionChange("newsletter", "email", "subscribed", notice_version=nv)],
            )
    rollups_refresh(brand=brand, now=DAY1)
    with time_machine.travel(DAY2, tick=False):
        contact_erase(brand=brand, contact=Contact.objects.get(external_id="cust-1"), requested_via="api")
    rollups_refresh(brand=brand, now=DAY2)

    # The erasure's withdrawal ended a consent (source: the API), its subscriptions are gone.
    assert purpose_days(brand) == [
        ("email-marketing", "2026-11-20", 2, 0, 0, 2, 2),
        ("email-marketing", "2026-11-21", 0, 1, 0, -1, 0),
    ]
    assert unsubscribe_days(brand) == [("2026-11-21", "api", 1)]
    assert subscription_counts(brand) == {("newsletter", "email", "active", "weekly"): 1}
    assert counted_subscriptions(brand) == {("cust-2", "newsletter", "email"): ("active", "weekly")}
    erased = Contact.objects.exclude(external_id="cust-2").get()  # renamed by the erasure
    assert CountedConsent.objects.get(contact=erased).granted is False
    refreshed = snapshot(brand)
    rollups_rebuild(brand=brand, now=DAY2)
    assert snapshot(brand) == refreshed


def test_a_transaction_that_commits_late_is_counted_once(brand, purpose, contacts):
    """The first writer takes the lower outbox id and commits after the second: the refresh in
    between must neither skip it nor count the second early and then lose the first."""
    contacts(2)
    written, release, done = threading.Event(), threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                decide(brand, "cust-1", purpose, "granted")
                written.set()
                release.wait(10)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert written.wait(10)
    decide(brand, "cust-2", purpose, "granted")  # commits first, with the higher id

    assert rollups_refresh(brand=brand) == 0  # held back behind the open transaction
    assert PurposeDay.objects.filter(brand=brand).count() == 0

    release.set()
    assert done.wait(10)
    thread.join()
    assert not failures
    first, second = Event.objects.order_by("id").values_list("contact_ref", flat=True)
    assert rollups_refresh(brand=brand) == 2
    assert [
        (row.grants, row.active_change, row.decided_change) for row in PurposeDay.objects.filter(brand=brand)
    ] == [(2, 2, 2)]
    assert rollups_refresh(brand=brand) == 0
    assert CountedConsent.objects.filter(brand=brand, granted=True).count() == 2
    assert first == Contact.objects.get(external_id="cust-1").pk  # the late one had the lower id
    assert second == Contact.objects.get(external_id="cust-2").pk


def test_each_brand_counts_only_its_own(brand, other_brand, purpose, make_purpose, contacts):
    theirs = make_purpose(other_brand, "email-marketing")
    contacts(2)
    contacts(3, brand_=other_brand)
    decide(brand, "cust-1", purpose, "granted")
    for n in (1, 2, 3):
        decide(other_brand, f"cust-{n}", theirs, "granted", method="one_click")
    decide(other_brand, "cust-1", theirs, "withdrawn", method="one_click")

    rollups_refresh(brand=brand)

    assert [(r.purpose_id, r.grants) for r in PurposeDay.objects.all()] == [(purpose.pk, 1)]
    assert not UnsubscribeDay.objects.exists()
    assert list(RollupWatermark.objects.values_list("brand_id", flat=True)) == [brand.pk]
    rollups_refresh(brand=other_brand)
    assert [(r.grants, r.withdrawals) for r in PurposeDay.objects.filter(brand=other_brand)] == [(3, 1)]
    assert [(r.grants, r.withdrawals) for r in PurposeDay.objects.filter(brand=brand)] == [(1, 0)]
    assert SubscriptionCount.objects.count() == 0


@pytest.mark.parametrize(
    ("method", "recorded_by", "gpc", "source"),
    [
        ("preference_centre", "page", None, "hosted_page"),
        ("quiz", "quiz", None, "hosted_page"),
        ("one_click", "link", None, "one_click"),
        ("api", "cnd_1", None, "api"),
        ("import", "cnd_1", None, "api"),
        ("gpc", "page", True, "gpc"),
        ("preference_centre", "page", True, "gpc"),
        ("sms", "twilio", None, "sms"),
        ("agent", "admin:ada", None, "support"),
        ("api", "connector:hubspot", None, "connector"),
    ],
)
def test_unsubscribe_sources(method, recorded_by, gpc, source):
    assert unsubscribe_source(method=method, recorded_by=recorded_by, gpc=gpc) == source


def test_a_rebuild_that_races_a_refresh_starts_again_from_a_new_snapshot(
    brand, purpose, contacts, monkeypatch
):
    contacts(1)
    decide(brand, "cust-1", purpose, "granted")
    rollups_refresh(brand=brand)
    decide(brand, "cust-1", purpose, "withdrawn", method="one_click")
    real_lock = rollups._watermark_lock
    main = threading.current_thread()
    rebuilds: list[int] = []

    def lock_after_a_refresh(brand_):
        if threading.current_thread() is main:
            rebuilds.append(1)
            if len(rebuilds) == 1:  # the rebuild's snapshot is taken; a refresh commits now
                RollupWatermark.objects.filter(brand=brand_).values_list("pk").first()

                def refresh() -> None:
                    try:
                        rollups_refresh(brand=brand_)
                    finally:
                        connection.close()

                worker = threading.Thread(target=refresh)
                worker.start()
                worker.join()
        return real_lock(brand_)

    monkeypatch.setattr(rollups, "_watermark_lock", lock_after_a_refresh)
    assert rollups_rebuild(brand=brand) == {"ledger_events": 2, "subscriptions": 0}

    assert len(rebuilds) == 2
    assert purpose_days(brand)[0][2:] == (1, 1, 0, 0, 1)
    assert unsubscribe_days(brand)[0][1:] == ("one_click", 1)
    assert rollups_refresh(brand=brand) == 0
