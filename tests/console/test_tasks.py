"""The worker keeps the rollups current: a beat task every minute, quiet when idle."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings

import console.tasks
from config.celery import app
from config.logfilters import QuietPeriodicTasks
from console.models import PurposeDay, RollupWatermark
from tests.console.conftest import decide

pytestmark = pytest.mark.django_db(transaction=True)


def test_beat_runs_it_every_minute():
    assert settings.CELERY_BEAT_SCHEDULE["rollups-refresh"] == {
        "task": "console.tasks.rollups_refresh",
        "schedule": 60.0,
        "options": {"expires": 60},
    }
    assert app.tasks["console.tasks.rollups_refresh"].run.__module__ == console.tasks.__name__


def test_it_counts_every_brand_and_says_so_only_when_it_did(brand, other_brand, purpose, contacts, caplog):
    contacts(1)
    decide(brand, "cust-1", purpose, "granted")
    caplog.set_level(logging.INFO)
    handler_filter = QuietPeriodicTasks()

    assert app.tasks["console.tasks.rollups_refresh"].apply().get() == 1
    assert [(r.name, r.getMessage()) for r in caplog.records if r.name == "console.tasks"] == [
        ("console.tasks", "dashboard rollups: 1 feed events counted")
    ]
    assert [(row.grants, row.active_change) for row in PurposeDay.objects.filter(brand=brand)] == [(1, 1)]
    assert set(RollupWatermark.objects.values_list("brand_id", flat=True)) == {brand.pk, other_brand.pk}

    caplog.clear()
    assert app.tasks["console.tasks.rollups_refresh"].apply().get() == 0
    # Idle: nothing of its own, and Celery's own lines about it are filtered.
    assert [r for r in caplog.records if r.name == "console.tasks"] == []
    assert all(not handler_filter.filter(r) for r in caplog.records if r.name.startswith("celery"))
