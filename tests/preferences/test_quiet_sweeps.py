"""An idle `make run` is quiet: the periodic sweeps that find nothing to do log nothing at INFO
(Celery's own per-run lines for them are filtered by config.logfilters.QuietPeriodicTasks), and
a sweep that does something still says so, as does every other task."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

import consent.tasks
import console.tasks
import preferences.tasks
import quizzes.tasks
import sync.tasks
from config.celery import app
from config.logfilters import QuietPeriodicTasks
from preferences import services

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, level: int = logging.INFO) -> list[str]:
        return [f"{r.name} {r.getMessage()}" for r in self.records if r.levelno >= level]


@pytest.fixture
def logged() -> Iterator[tuple[Collect, Collect]]:
    """(what the project's console handler lets through, everything) for the root logger at INFO."""
    quiet, everything = Collect(), Collect()
    quiet.addFilter(QuietPeriodicTasks())
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(quiet)
    root.addHandler(everything)
    try:
        yield quiet, everything
    finally:
        root.removeHandler(quiet)
        root.removeHandler(everything)
        root.setLevel(level)


# Registered by importing them, as the worker's autodiscovery does.
TASK_MODULES = (consent.tasks, console.tasks, preferences.tasks, quizzes.tasks, sync.tasks)
PERIODIC = sorted({entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()})


def test_the_console_handler_filters_them():
    assert "quiet_periodic" in settings.LOGGING["handlers"]["console"]["filters"]
    assert len(PERIODIC) == 17


@pytest.mark.django_db(transaction=True)
def test_idle_sweeps_log_nothing_at_info(logged):
    quiet, everything = logged
    for name in PERIODIC:
        result = app.tasks[name].apply()
        assert result.successful(), (name, result.traceback)

    assert quiet.lines() == []
    # What they would have said: Celery's "succeeded" line for each (the test fails without the filter).
    succeeded = [line for line in everything.lines() if line.startswith("celery.app.trace Task ")]
    assert len(succeeded) == len(PERIODIC)


def test_celerys_lines_pass_for_other_tasks_and_for_failures(logged):
    quiet, _ = logged
    trace = logging.getLogger("celery.app.trace")
    received = logging.getLogger("celery.worker.strategy")
    beat = logging.getLogger("celery.beat")

    received.info("Task %(name)s[%(id)s] received", {"name": "sync.tasks.deliveries_sweep", "id": "1"})
    received.info("Task %(name)s[%(id)s] received", {"name": "sync.tasks.delivery_send", "id": "2"})
    trace.info("Task %(name)s[%(id)s] succeeded", {"name": "sync.tasks.delivery_send", "id": "2"})
    trace.error("Task %(name)s[%(id)s] raised", {"name": "sync.tasks.deliveries_sweep", "id": "3"})
    beat.info("Scheduler: Sending due task %s (%s)", "deliveries-sweep", "sync.tasks.deliveries_sweep")
    beat.info("beat: Starting...")

    assert quiet.lines() == [
        "celery.worker.strategy Task sync.tasks.delivery_send[2] received",
        "celery.app.trace Task sync.tasks.delivery_send[2] succeeded",
        "celery.app.trace Task sync.tasks.deliveries_sweep[3] raised",
        "celery.beat beat: Starting...",
    ]


def test_log_level_debug_shows_them_again(logged):
    quiet, _ = logged
    logging.getLogger().setLevel(logging.DEBUG)
    logging.getLogger("celery.beat").info("Scheduler: Sending due task %s (%s)", "x", "y")
    assert quiet.lines() == ["celery.beat Scheduler: Sending due task x (y)"]


def test_a_sweep_that_did_something_says_so(logged, brand, contact, topics):
    quiet, _ = logged
    with time_machine.travel(NOW, tick=False):
        services.hold_start(
            brand=brand, external_id="cust-1", started_by="customer", weeks=1, recorded_by="p"
        )

    with time_machine.travel(NOW + timedelta(weeks=2), tick=False):
        app.tasks["preferences.tasks.holds_end_expired"].apply()

    assert quiet.lines() == ["preferences.tasks expired holds ended: 1"]
