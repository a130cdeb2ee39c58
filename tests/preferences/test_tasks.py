"""preferences.tasks: what beat runs, called directly (no eager mode, no broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from django.conf import settings

from consent.services import contact_upsert
from preferences import services, tasks
from preferences.models import Hold
from tests.preferences.conftest import outbox

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_holds_end_expired_task_ends_due_holds_once(brand, contact, topics):
    contact_upsert(brand=brand, external_id="cust-2")
    with time_machine.travel(NOW, tick=False):
        due = services.hold_start(
            brand=brand, external_id="cust-1", started_by="customer", weeks=1, recorded_by="p"
        )
        later = services.hold_start(
            brand=brand, external_id="cust-2", started_by="customer", weeks=4, recorded_by="p"
        )

    with time_machine.travel(NOW + timedelta(weeks=2), tick=False):
        assert tasks.holds_end_expired() == 1
        assert tasks.holds_end_expired() == 0  # idempotent: a second run (or a retry) adds nothing

    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.ended_at, due.end_reason) == (NOW + timedelta(weeks=1), "expired")
    assert later.ended_at is None
    assert [kind for _, kind, _ in outbox(contact)] == ["hold.started", "hold.ended"]
    assert Hold.objects.filter(ended_at__isnull=True).count() == 1


def test_beat_sends_each_periodic_task_by_its_registered_name():
    assert tasks.holds_end_expired.name == "preferences.tasks.holds_end_expired"
    schedule = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert set(schedule) == {
        "consent.tasks.consents_expire",
        "consent.tasks.evidence_retention_purge",
        "consent.tasks.ledger_checkpoints",
        "console.tasks.rollups_refresh",
        "console.tasks.sessions_clear_expired",
        "preferences.tasks.confirmation_requests_forget",
        "preferences.tasks.holds_end_expired",
        "preferences.tasks.one_click_apply",
        "preferences.tasks.unsubscribe_delay_check",
        "quizzes.tasks.funnel_steps_forget",
        "sync.tasks.connector_runs_resume",
        "sync.tasks.connectors_poll",
        "sync.tasks.connectors_reconcile",
        "sync.tasks.deliveries_sweep",
        "sync.tasks.events_prune",
        "sync.tasks.inbound_signals_apply",
        "sync.tasks.opt_outs_overdue_notify",
    }
    assert schedule["preferences.tasks.holds_end_expired"]["schedule"] == 60.0
    assert schedule["sync.tasks.deliveries_sweep"]["schedule"] == 2.0
    assert schedule["preferences.tasks.one_click_apply"]["schedule"] == 5.0
    assert schedule["preferences.tasks.unsubscribe_delay_check"]["schedule"] == 60.0
    assert schedule["sync.tasks.events_prune"]["schedule"] == 3600.0
    assert schedule["consent.tasks.ledger_checkpoints"]["schedule"] == 3600.0
    assert schedule["consent.tasks.evidence_retention_purge"]["schedule"] == 3600.0
    assert schedule["sync.tasks.opt_outs_overdue_notify"]["schedule"] == 3600.0
    assert schedule["console.tasks.rollups_refresh"]["schedule"] == 60.0
    assert schedule["sync.tasks.inbound_signals_apply"]["schedule"] == 5.0
    assert schedule["quizzes.tasks.funnel_steps_forget"]["schedule"] == 3600.0
    assert schedule["sync.tasks.connectors_poll"]["schedule"] == 300.0
    assert schedule["sync.tasks.connectors_reconcile"]["schedule"] == 86400.0
    assert schedule["sync.tasks.connector_runs_resume"]["schedule"] == 30.0
