"""Thin Celery tasks of the console: each calls one service and is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from console import rollups
from console.sessions import sessions_clear_expired

# Periodic: a line when it did something, nothing when idle (config.logfilters.QuietPeriodicTasks
# drops Celery's own per-run lines).
logger = logging.getLogger(__name__)


@shared_task(name="console.tasks.rollups_refresh")
def rollups_refresh() -> int:
    """Beat, every minute: count every brand's changes since its watermark, and webhook health."""
    read = rollups.rollups_refresh_all()
    if read:
        logger.info("dashboard rollups: %d feed events counted", read)
    return read


@shared_task(name="console.tasks.sessions_clear_expired")
def staff_sessions_clear_expired() -> int:
    """Beat, every hour: delete staff sessions past their end (Django reads none of them)."""
    deleted = sessions_clear_expired()
    if deleted:
        logger.info("staff sessions: %d expired deleted", deleted)
    return deleted
