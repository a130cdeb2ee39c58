"""Settings of the Celery worker that the fault tests start (tests/sync/worker_support.py): the
project's settings, plus a retry schedule, lease and requeue interval of seconds, so a fault test
sees retries and a dead worker's lease run out in well under a minute. Production has no such
settings and keeps the defaults in sync/delivery/ (retries, claims, dispatch)."""

import os

from config.settings import *  # noqa: F403

_delays = os.environ.get("TEST_WEBHOOK_RETRY_DELAYS", "")
WEBHOOK_RETRY_DELAYS = tuple(float(d) for d in _delays.split(",") if d)
WEBHOOK_LEASE_SECONDS = float(os.environ.get("TEST_WEBHOOK_LEASE_SECONDS", "0")) or None
WEBHOOK_REQUEUE_SECONDS = float(os.environ.get("TEST_WEBHOOK_REQUEUE_SECONDS", "0")) or None
