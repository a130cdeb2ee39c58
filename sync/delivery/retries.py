"""When a failed delivery is tried again: the schedule, its jitter, and the receiver's
Retry-After."""

from __future__ import annotations

import random
from datetime import datetime
from email.utils import parsedate_to_datetime

from django.conf import settings

# Seconds to wait after failed attempt 1, 2, … (Svix's schedule: 0 s, 5 s, 5 min, 30 min, 2 h,
# 5 h, 10 h, 10 h); eight attempts in all, about 27.5 hours, each delay ±15 %. A setting
# WEBHOOK_RETRY_DELAYS replaces it (the fault tests' worker uses a schedule of seconds).
RETRY_DELAYS: tuple[float, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.15
# A receiver's Retry-After is honoured when longer than the schedule, up to this.
RETRY_AFTER_MAX = 24 * 3600


def _retry_delays() -> tuple[float, ...]:
    return tuple(getattr(settings, "WEBHOOK_RETRY_DELAYS", None) or RETRY_DELAYS)


def retry_after_seconds(raw: str | None, now: datetime) -> float | None:
    """Retry-After in seconds (RFC 9110: delay-seconds or an HTTP date), capped; None if absent
    or unreadable."""
    if not raw:
        return None
    raw = raw.strip()
    if raw.isascii() and raw.isdigit():
        seconds = float(raw)
    else:
        try:
            seconds = (parsedate_to_datetime(raw) - now).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def retry_delay(*, attempt: int, retry_after: float | None = None) -> float | None:
    """Seconds before the next attempt after failed attempt number `attempt` of a round (1-based),
    with jitter, or at least what Retry-After asked; None when the round is exhausted."""
    delays = _retry_delays()
    if attempt > len(delays):  # MAX_ATTEMPTS with the default schedule
        return None
    delay = delays[attempt - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return delay
