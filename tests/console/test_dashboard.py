"""The Overview's selectors: exact figures from the rollups, a fixed number of queries whatever
the data's size, webhook health, and nothing of another brand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from console.dashboard import RowsBehind, dashboard_overview
from console.models import EndpointHealth
from console.rollups import endpoints_health_refresh, rollups_refresh
from preferences.services import SubscriptionChange, preferences_update
from sync.models import Attempt, Delivery, Endpoint, Event
from tests.conftest import current_version
from tests.console.conftest import decide

pytestmark = pytest.mark.django_db(transaction=True)

DAY1 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DAY3 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def history(brand, purpose, news_purpose, topics, contacts):
    """Three customers over three days: two grants, a withdrawal by one-click, subscriptions."""
    contacts(3)
    nv = current_version(purpose).public_id
    with time_machine.travel(DAY1, tick=False):
        decide(brand, "cust-1", purpose, "granted")
        preferences_update(
            brand=brand,
            external_id="cust-2",
            method="preference_centre",
            recorded_by="page",
            subscriptions=[
                SubscriptionChange("newsletter", "email", "subscribed", "daily", notice_version=nv)
            ],
        )
    with time_machine.travel(DAY3, tick=False):
        decide(brand, "cust-1", purpose, "withdrawn", method="one_click")
        decide(brand, "cust-3", purpose, "withdrawn")
    rollups_refresh(brand=brand, now=DAY3)


def test_the_overview_reads_the_rollups_exactly(brand, history, purpose):
    overview = dashboard_overview(brand=brand, days=3, now=DAY3, language="de")

    assert (overview.start, overview.end, overview.refreshed_at) == (
        date(2026, 11, 20),
        date(2026, 11, 22),
        DAY3,
    )
    marketing, news = overview.consent
    assert (marketing.slug, news.slug) == ("email-marketing", "product-news")
    assert [(p.day.day, p.grants, p.withdrawals, p.active, p.decided, p.rate) for p in marketing.points] == [
        (20, 2, 0, 2, 2, 1.0),
        (21, 0, 0, 2, 2, 1.0),
        (22, 0, 2, 1, 3, 1 / 3),
    ]
    assert [(p.active, p.decided, p.rate) for p in news.points] == [(0, 0, None)] * 3
    assert marketing.rows == RowsBehind("contacts", (("purpose", "email-marketing"), ("consent", "granted")))
    assert marketing.points[0].rows.query == "purpose=email-marketing&day=2026-11-20"

    [cell] = overview.subscriptions
    assert (cell.topic, cell.topic_name, cell.channel, cell.counts, cell.total) == (
        "newsletter",
        "Rundbrief",  # the topic's name in the page's language
        "email",
        {"active": 1, "paused": 0, "pending": 0, "unsubscribed": 0},
        1,
    )
    assert cell.rows["active"].query == "topic=newsletter&channel=email&subscription=active"
    assert [(c.cadence, c.count) for c in overview.cadences] == [("daily", 1)]
    assert (overview.pending.total, overview.pending.by_topic) == (0, [])

    assert [(d.day.day, d.total) for d in overview.unsubscribes.days] == [(20, 0), (21, 0), (22, 1)]
    assert overview.unsubscribes.totals == {
        "hosted_page": 0,
        "one_click": 1,
        "api": 0,
        "gpc": 0,
        "sms": 0,
        "support": 0,
        "connector": 0,
    }
    assert overview.unsubscribes.rows["one_click"].query == (
        "decision=withdrawn&source=one_click&from=2026-11-20&to=2026-11-22"
    )
    assert overview.webhooks.endpoints == []


def test_the_window_starts_from_what_came_before_it(brand, history):
    overview = dashboard_overview(brand=brand, days=1, now=DAY3)
    [point] = overview.consent[0].points
    assert (point.day, point.grants, point.withdrawals, point.active, point.decided) == (
        date(2026, 11, 22),
        0,
        2,
        1,
        3,
    )


def test_another_brand_sees_none_of_it(other_brand, history):
    overview = dashboard_overview(brand=other_brand, days=3, now=DAY3)
    assert (overview.consent, overview.subscriptions, overview.cadences, overview.refreshed_at) == (
        [],
        [],
        [],
        None,
    )
    assert overview.unsubscribes.total == 0
    assert overview.pending.total == 0


def test_the_overview_costs_the_same_queries_small_or_large(
    brand, purpose, topics, contacts, make_purpose, django_assert_num_queries
):
    contacts(2)
    decide(brand, "cust-1", purpose, "granted")
    rollups_refresh(brand=brand)
    with django_assert_num_queries(7):
        dashboard_overview(brand=brand, days=30)

    more = [make_purpose(brand, f"purpose-{n}") for n in range(4)]
    contacts(40)
    nv = current_version(purpose).public_id
    for n in range(1, 41):
        decide(brand, f"cust-{n}", more[n % 4], "granted")
        preferences_update(
            brand=brand,
            external_id=f"cust-{n}",
            method="api",
            recorded_by="test",
            subscriptions=[
                SubscriptionChange(
                    "newsletter", "sms" if n % 2 else "email", "subscribed", notice_version=nv
                ),
                SubscriptionChange(
                    "offers", "email", "subscribed" if n % 3 else "unsubscribed", notice_version=nv
                ),
            ],
        )
        if n % 5 == 0:
            decide(brand, f"cust-{n}", more[n % 4], "withdrawn", method="sms")
    Endpoint.objects.create(brand=brand, url="https://hooks.example/a")
    Endpoint.objects.create(brand=brand, url="https://hooks.example/b", status="disabled")
    # Connectors' endpoints are counted with the same query, never listed as webhooks.
    for status in ("active", "active", "disabled"):
        Endpoint.objects.create(brand=brand, url="https://a.klaviyo.com", kind="connector", status=status)
    rollups_refresh(brand=brand)
    with django_assert_num_queries(7):
        overview = dashboard_overview(brand=brand, days=90)
    assert len(overview.consent) == 6
    assert [e.url for e in overview.webhooks.endpoints] == [
        "https://hooks.example/a",
        "https://hooks.example/b",
    ]
    assert overview.webhooks.disabled == 1
    assert (overview.webhooks.connectors_active, overview.webhooks.connectors_disabled) == (2, 1)


def test_webhook_health(brand, other_brand):
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    healthy = Endpoint.objects.create(brand=brand, url="https://hooks.example/ok")
    failing = Endpoint.objects.create(brand=brand, url="https://hooks.example/down")
    gone = Endpoint.objects.create(
        brand=brand, url="https://hooks.example/gone", status="disabled", disabled_at=now - timedelta(hours=3)
    )
    theirs = Endpoint.objects.create(brand=other_brand, url="https://hooks.example/theirs")

    def event(at: datetime, n: int) -> Event:
        return Event.objects.create(
            brand=brand,
            type="consent.granted",
            contact_ref=1000,
            subject="c",
            sequence=n,
            data={},
            occurred_at=at,
        )

    def delivery(endpoint: Endpoint, ev: Event | None, status: str = "succeeded") -> Delivery:
        return Delivery.objects.create(
            endpoint=endpoint, event=ev, msg_id=f"m{Delivery.objects.count()}", type="t", body="{}",
            status=status, next_attempt_at=now,
        )  # fmt: skip

    def attempt(d: Delivery, at: datetime, ms: int, outcome: str = "succeeded") -> None:
        Attempt.objects.create(delivery=d, number=1, started_at=at, duration_ms=ms, outcome=outcome)

    # Latencies (event recorded -> attempt ended) of 1 s, 2 s, 3 s, 4 s and 10 s in the last hour.
    for n, seconds in enumerate([1, 2, 3, 4, 10], start=1):
        recorded = now - timedelta(minutes=30)
        ev = event(recorded, n)
        Event.objects.filter(pk=ev.pk).update(created_at=recorded)
        attempt(
            delivery(healthy, ev), recorded + timedelta(seconds=seconds) - timedelta(milliseconds=100), 100
        )
    # Older than an hour: no latency sample; older than a day: no failure either.
    attempt(delivery(healthy, None), now - timedelta(hours=2), 50)
    attempt(delivery(failing, None, "failed"), now - timedelta(hours=25), 50, "failed")
    # Failing now: two failed attempts today, and one pending delivery waiting for 20 minutes.
    waiting = event(now - timedelta(minutes=20), 6)
    Event.objects.filter(pk=waiting.pk).update(created_at=now - timedelta(minutes=20))
    pending = delivery(failing, waiting, "pending")
    attempt(pending, now - timedelta(minutes=19), 15000, "failed")
    attempt(pending, now - timedelta(minutes=5), 15000, "failed")
    attempt(delivery(theirs, None, "failed"), now - timedelta(minutes=1), 10, "failed")

    assert endpoints_health_refresh(brand=brand, now=now) == 3

    health = {
        row.endpoint_id: (
            row.oldest_pending_at,
            row.pending,
            row.failures_24h,
            row.delivered_1h,
            row.latency_p95_ms,
        )
        for row in EndpointHealth.objects.all()
    }
    assert health == {
        healthy.pk: (None, 0, 0, 5, 8800),  # p95 of 1, 2, 3, 4, 10 s, interpolated
        failing.pk: (now - timedelta(minutes=20), 1, 2, 0, None),
        gone.pk: (None, 0, 0, 0, None),
    }
    overview = dashboard_overview(brand=brand, now=now + timedelta(minutes=1))
    assert [(e.url, e.status, e.lag_seconds, e.failures_24h) for e in overview.webhooks.endpoints] == [
        ("https://hooks.example/ok", "active", None, 0),
        ("https://hooks.example/down", "active", 21 * 60, 2),
        ("https://hooks.example/gone", "disabled", None, 0),
    ]
    webhooks = overview.webhooks
    assert (webhooks.disabled, webhooks.failures_24h, webhooks.lag_seconds) == (1, 2, 21 * 60)
    assert {figure: rows.query for figure, rows in webhooks.endpoints[1].rows.items()} == {
        "waiting": f"figure=waiting&endpoint={failing.public_id}",
        "failed-24h": f"figure=failed-24h&endpoint={failing.public_id}",
        "delivered-1h": f"figure=delivered-1h&endpoint={failing.public_id}",
    }
    assert {figure: rows.query for figure, rows in webhooks.rows.items()} == {
        "waiting": "figure=waiting",
        "failed-24h": "figure=failed-24h",
        "delivered-1h": "figure=delivered-1h",
    }
