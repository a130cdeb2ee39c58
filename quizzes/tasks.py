"""Thin Celery tasks of the quizzes: each calls one service and is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from quizzes.responses import funnel_steps_forget

# Periodic: a line when it did something, nothing when idle (config.logfilters.QuietPeriodicTasks
# drops Celery's own per-run lines).
logger = logging.getLogger(__name__)


@shared_task(name="quizzes.tasks.funnel_steps_forget")
def funnel_steps_forget_task() -> int:
    """Beat, every hour: forget the runs' counted steps that no valid state token can send again."""
    forgotten = funnel_steps_forget()
    if forgotten:
        logger.info("quiz funnel: %d counted steps of past runs forgotten", forgotten)
    return forgotten
