"""The demo's crowd (preferences.demo_crowd): what a newcomer's console shows after `make run`,
written through the services as real choices are, once."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from consent.models import ConsentEvent, Contact
from consent.verification import ledger_verify
from console.models import PurposeDay, SubscriptionCount, UnsubscribeDay, UnsubscribeSource
from preferences.demo_crowd import CROWD
from preferences.models import Hold
from quizzes.demo import FUNNEL_DAYS, seed_demo
from quizzes.models import FunnelCount
from sync.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_crowd_fills_every_figure_of_the_overview_once(capsys):
    brand, _, quiz = seed_demo()
    events, outbox = ConsentEvent.objects.count(), Event.objects.count()
    seed_demo()  # once: a second run adds nothing
    assert (ConsentEvent.objects.count(), Event.objects.count()) == (events, outbox)
    assert Contact.objects.filter(brand=brand, external_id__startswith="shopper-").count() == CROWD

    call_command("rebuild_rollups", "--brand", "demo")

    # A "no" from every place the Overview names but a connector (the demo has none pushing back).
    sources = dict(UnsubscribeDay.objects.filter(brand=brand).values_list("source", "count"))
    assert set(sources) == set(UnsubscribeSource.values) - {UnsubscribeSource.CONNECTOR}
    assert all(count > 0 for count in sources.values())
    grants = dict(PurposeDay.objects.filter(brand=brand).values_list("purpose__slug", "grants"))
    assert grants["email-marketing"] > CROWD / 2
    assert grants["sms-marketing"] > CROWD / 4
    counted = SubscriptionCount.objects.filter(brand=brand, count__gt=0)
    assert counted.filter(state="pending").exists()  # double opt-ins waiting
    assert len(set(counted.filter(topic__slug="offers").values_list("cadence", flat=True))) >= 3
    assert (
        Hold.objects.filter(contact__brand=brand, started_by="agent", ended_at__isnull=True).count() == 3
    )  # one in 16
    assert ledger_verify(brand=brand).ok

    # The quiz's funnel has the thirty days before today, each step within the one before it.
    rows = FunnelCount.objects.filter(version_id=quiz.live_version_id)
    assert len(set(rows.values_list("day", flat=True))) == FUNNEL_DAYS
    for day in set(rows.values_list("day", flat=True)):
        counts = dict(rows.filter(day=day).values_list("step", "count"))
        assert counts["viewed"] >= counts["started"] >= counts["answered:goal"] >= counts["completed"] > 0
        outcomes = sum(n for step, n in counts.items() if step.startswith("outcome:"))
        assert outcomes == counts["completed"]
