"""bench.settings plus CELERY_DB_REUSE_MAX: for the delivery_rate variant that shows what the
worker gains by keeping its database connection across tasks.

Celery's Django fixup (celery 5.7) closes every database connection before and after each task
unless CELERY_DB_REUSE_MAX is set, so without it every delivery opens a new PostgreSQL
connection (CONN_MAX_AGE does not apply). The project's settings do not set it (yet); the
delivery_rate check measures the project's settings, this variant is reported beside it.
"""

from __future__ import annotations

from bench.settings import *  # noqa: F403

CELERY_DB_REUSE_MAX = 1000  # close (and reopen) the connection every 1,000 tasks
