"""Thin Celery tasks for preferences: each calls one service and is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from preferences import one_click, services
from preferences.one_click import one_click_apply_pending

# Periodic tasks log a line when they did something, and nothing when idle (Celery's own
# per-run lines for them are filtered: config.logfilters.QuietPeriodicTasks).
logger = logging.getLogger(__name__)


@shared_task(name="preferences.tasks.one_click_apply")
def one_click_apply() -> int:
    """Apply accepted one-click unsubscribes (nudged after each request, and swept by beat)."""
    applied = one_click_apply_pending()
    if applied:
        logger.info("one-click unsubscribes applied: %d", applied)
    return applied


@shared_task(name="preferences.tasks.unsubscribe_delay_check")
def unsubscribe_delay_check() -> bool:
    """Alert once when accepted one-click unsubscribes wait too long (beat, every minute)."""
    return one_click.unsubscribe_delay_check().delayed


@shared_task(name="preferences.tasks.holds_end_expired")
def holds_end_expired() -> int:
    """End holds whose `until` has passed (beat, every HOLDS_END_EXPIRED_SECONDS).

    One batch per run; the next run picks up the rest. Returns how many holds it ended.
    """
    ended = services.holds_end_expired()
    if ended:
        logger.info("expired holds ended: %d", ended)
    return ended


@shared_task(name="preferences.tasks.confirmation_requests_forget")
def confirmation_requests_forget() -> int:
    """Clear the sign-up IP and user agent of double opt-in requests past confirming (beat,
    hourly)."""
    forgotten = services.confirmation_requests_forget()
    if forgotten:
        logger.info("unconfirmed sign-ups forgotten (IP and user agent): %d", forgotten)
    return forgotten
